"""The passage type shared by the builder, the store and the search."""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("sentence", "bullet", "table_row")


@dataclass(frozen=True)
class Cell:
    """One table cell, verbatim, with the column header it sits under."""

    header: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    """A quotable piece of the article: ``article[start:end] == text`` always holds."""

    passage_id: str
    section: str
    kind: str
    text: str
    start: int
    end: int
    cells: tuple[Cell, ...] = field(default=())

    def to_json(self) -> dict:
        data = {
            "passage_id": self.passage_id,
            "section": self.section,
            "kind": self.kind,
            "text": self.text,
            "start": self.start,
            "end": self.end,
        }
        if self.cells:
            data["cells"] = [
                {"header": c.header, "text": c.text, "start": c.start, "end": c.end}
                for c in self.cells
            ]
        return data

    @classmethod
    def from_json(cls, data: dict) -> Passage:
        cells = tuple(
            Cell(header=c["header"], text=c["text"], start=c["start"], end=c["end"])
            for c in data.get("cells", ())
        )
        return cls(
            passage_id=data["passage_id"],
            section=data["section"],
            kind=data["kind"],
            text=data["text"],
            start=data["start"],
            end=data["end"],
            cells=cells,
        )
