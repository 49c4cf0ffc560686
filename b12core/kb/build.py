"""Split ``knowledge/article.md`` into quotable passages and write ``knowledge/kb.json``.

Each sentence of a paragraph (spaCy sentencizer), each bullet item and each table
row becomes one passage with its character offsets. The output is byte-identical
for the same article, so a test can tell when ``kb.json`` is stale.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

from b12core.kb.passages import Cell, Passage
from b12core.knowledge import KNOWLEDGE_DIR

ARTICLE_PATH = KNOWLEDGE_DIR / "article.md"
KB_PATH = KNOWLEDGE_DIR / "kb.json"
FORMAT_VERSION = 1

_HEADING = re.compile(r"^(#{1,6}) (.+)$")
_TABLE_RULE = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _lines_with_offsets(text: str) -> Iterator[tuple[int, str]]:
    offset = 0
    for line in text.split("\n"):
        yield offset, line
        offset += len(line) + 1


def _table_cells(line: str, line_start: int) -> list[tuple[str, int, int]]:
    """Cells of a ``| a | b |`` row as (verbatim text, start, end) in article offsets."""
    cells = []
    pos = line.index("|") + 1
    while True:
        bar = line.find("|", pos)
        if bar < 0:
            break
        raw = line[pos:bar]
        stripped = raw.strip()
        lead = len(raw) - len(raw.lstrip())
        start = line_start + pos + lead
        cells.append((stripped, start, start + len(stripped)))
        pos = bar + 1
    return cells


def extract_passages(article: str, nlp=None) -> list[Passage]:
    """The article's passages in document order."""
    if nlp is None:
        from b12core.spacy_model import load_pipeline

        nlp = load_pipeline()
    passages: list[Passage] = []
    section = slug = None
    counter = 0
    header: list[str] | None = None

    def add(kind: str, text: str, start: int, cells: tuple[Cell, ...] = ()) -> None:
        nonlocal counter
        if section is None:
            raise ValueError("article.md: text before the first heading")
        counter += 1
        passages.append(
            Passage(
                passage_id=f"{slug}-{counter:02d}",
                section=section,
                kind=kind,
                text=text,
                start=start,
                end=start + len(text),
                cells=cells,
            )
        )

    for line_start, line in _lines_with_offsets(article):
        heading = _HEADING.match(line)
        if heading:
            section, slug, counter, header = heading.group(2).strip(), None, 0, None
            slug = slugify(section)
            continue
        if not line.strip():
            header = None
            continue
        if line.startswith("|"):
            if _TABLE_RULE.match(line):
                continue
            cells = _table_cells(line, line_start)
            if header is None:
                header = [text for text, _, _ in cells]
                continue
            first, last = cells[0], cells[-1]
            row = tuple(
                Cell(header=h, text=t, start=s, end=e)
                for h, (t, s, e) in zip(header, cells, strict=True)
            )
            add("table_row", article[first[1] : last[2]], first[1], row)
            continue
        header = None
        if line.startswith(("- ", "* ")):
            body = line[2:].strip()
            add("bullet", body, line_start + line.index(body))
            continue
        for sent in nlp(line).sents:
            text = sent.text.strip()
            if text:
                add("sentence", text, line_start + line.index(text, sent.start_char))
    return passages


def build_kb_json(article: str, nlp=None) -> str:
    """The exact text of ``kb.json`` for this article."""
    first_heading = next(
        (m.group(2).strip() for m in map(_HEADING.match, article.split("\n")) if m), None
    )
    payload = {
        "format_version": FORMAT_VERSION,
        "source": "knowledge/article.md",
        "article_sha256": hashlib.sha256(article.encode("utf-8")).hexdigest(),
        "title": first_heading,
        "passages": [p.to_json() for p in extract_passages(article, nlp)],
    }
    return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"


def write_kb(article_path: Path = ARTICLE_PATH, kb_path: Path = KB_PATH) -> int:
    """Rebuild ``kb.json``; returns the number of passages."""
    text = build_kb_json(article_path.read_text(encoding="utf-8"))
    kb_path.write_text(text, encoding="utf-8")
    return len(json.loads(text)["passages"])
