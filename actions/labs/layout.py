"""Lab printouts to one plain layout before tokenizing: columns as tabs, numbers as typed.

Patients paste reports from many labs: tab- or space-aligned tables, CSV exports, pipe
tables, dot leaders ("VITAMIN B12 ....... 156"), leading dots (".38"), "1500+" for an
open upper bound, ISO dates. Each becomes the shape the parser already reads, without
changing any digit: a column separator becomes a tab, ".38" becomes "0.38", "1500+"
becomes ">1500" (what the lab means), "2023-03-01" becomes "2023/03/01" (one date token,
never three numbers).
"""

from __future__ import annotations

import re

_PIPE = re.compile(r"[ \t]*\|[ \t]*")
_DOT_LEADER = re.compile(r"[ \t]*\.{3,}[ \t]*")
_LEADING_DOT = re.compile(r"(?<![\w.,])\.(\d)")
_OPEN_UPPER = re.compile(r"(?<![\w.,])(\d[\d.,]*)\+(?![\w+])")
_ISO_DATE = re.compile(r"\b((?:19|20)\d\d)-(\d\d?)-(\d\d?)\b")
_APPROX = re.compile(r"(?i)(?<!\w)(?:approx\.?|approximately|circa|ca\.|~)[ \t]*(?=[<>]?\d)")


def _csv_to_tabs(lines: list[str]) -> list[str]:
    """A CSV export (a header row of names, rows with as many commas) as tab columns."""
    if len(lines) < 2:
        return lines
    header = lines[0]
    commas = header.count(",")
    if commas < 2 or any(ch.isdigit() for ch in header):
        return lines
    rows = [line for line in lines[1:] if line.strip()]
    if not rows or any(row.count(",") != commas for row in rows):
        return lines
    return [line.replace(",", "\t") for line in lines]


def normalise_layout(text: str) -> str:
    """The same message with its layout made regular; numbers and words unchanged."""
    text = _ISO_DATE.sub(r"\1/\2/\3", text)
    lines = _csv_to_tabs(text.split("\n"))
    text = "\n".join(lines)
    text = _PIPE.sub("\t", text)
    text = _DOT_LEADER.sub("\t", text)
    text = _APPROX.sub("", text)
    text = _LEADING_DOT.sub(r"0.\1", text)
    return _OPEN_UPPER.sub(r">\1", text)
