"""How a passage is shown to a user: its verbatim words and the section it comes from."""

from __future__ import annotations

from b12core.kb.passages import Passage
from b12core.texts import say


def quote_text(passage: Passage) -> str:
    """The quoted words; a table row keeps each cell verbatim under its column header."""
    if passage.kind == "table_row" and passage.cells:
        label, *cells = passage.cells
        parts = "; ".join(f'{c.header}: "{c.text}"' for c in cells)
        return f"{label.text}: {parts}"
    return f'"{passage.text}"'


def format_quote(passage: Passage) -> str:
    return quote_text(passage) + "\n" + say("answers.quote_source", section=passage.section)

