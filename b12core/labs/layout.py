"""Lab printouts to one plain layout before tokenizing: columns as tabs, numbers as typed.

Patients paste reports from many labs: tab- or space-aligned tables, CSV exports, pipe
tables, dot leaders ("VITAMIN B12 ....... 156"), leading dots (".38"), "1500+" for an
open upper bound, ISO dates. Each becomes the shape the parser already reads, without
changing any digit: a column separator becomes a tab, ".38" becomes "0.38", "1500+"
becomes ">1500" (what the lab means), "2023-03-01" and "12-06-2024" become dates with
slashes (one date token, never three numbers), "->" an arrow, and in a report that writes
decimal commas ("6,4") a dot between thousands is dropped ("1.023" is 1023).
"""

from __future__ import annotations

import csv
import re

_PIPE = re.compile(r"[ \t]*\|[ \t]*")
_DOT_LEADER = re.compile(r"[ \t]*\.{3,}[ \t]*")
_LEADING_DOT = re.compile(r"(?<![\w.,])\.(\d)")
_OPEN_UPPER = re.compile(r"(?<![\w.,])(\d[\d.,]*)\+(?![\w+])")
_ISO_DATE = re.compile(r"\b((?:19|20)\d\d)-(\d\d?)-(\d\d?)\b")
_DASH_DATE = re.compile(r"\b(\d\d?)-(\d\d?)-((?:19|20)?\d\d)\b")
_ARROW = re.compile(r"-+>")
_DAY_MONTH_YEAR = re.compile(r"\b(\d\d?)-([A-Za-z]{3,9})-((?:19|20)?\d\d)\b")
_EURO_THOUSANDS = re.compile(r"(?<![\d.,])([1-9]\d{0,2})\.(\d{3})(?![\d.,])")
_DECIMAL_COMMA_USED = re.compile(r"(?<![\d.,])\d+,\d{1,2}(?![\d,])")
_CJK_BOUNDS = (
    (re.compile(r"(\d[\d.,]*)\s*以上"), r">=\1"),  # "4.0以上": 4.0 or more
    (re.compile(r"(\d[\d.,]*)\s*以下"), r"<=\1"),
    (re.compile(r"(\d[\d.,]*)\s*未満"), r"<\1"),
)
_APPROX = re.compile(r"(?i)(?<!\w)(?:approx\.?|approximately|circa|ca\.|~)[ \t]*(?=[<>]?\d)")


def _csv_to_tabs(lines: list[str]) -> list[str]:
    """A CSV export (a header row of names, rows with as many cells) as tab columns; the
    separator is a comma, or a semicolon as European spreadsheets write it, and a quoted
    cell may hold the separator ("1,056")."""
    if len(lines) < 2:
        return lines
    header = lines[0]
    if any(ch.isdigit() for ch in header):
        return lines
    for separator in (",", ";"):
        if header.count(separator) < 2:
            continue
        rows = list(csv.reader(lines, delimiter=separator))
        width = len(rows[0])
        filled = [row for row, line in zip(rows, lines, strict=True) if line.strip()]
        if all(len(row) == width for row in filled):
            return ["\t".join(row) for row in rows]
    return lines


def normalise_layout(text: str) -> str:
    """The same message with its layout made regular; numbers and words unchanged."""
    if "-" in text:
        text = _ISO_DATE.sub(r"\1/\2/\3", text)
        text = _DASH_DATE.sub(r"\1/\2/\3", text)
        text = _DAY_MONTH_YEAR.sub(r"\1 \2 \3", text)  # "18-Jan-2024"
        if ">" in text:
            text = _ARROW.sub(" → ", text)
    if "," in text and "." in text and _DECIMAL_COMMA_USED.search(text):
        # A report that writes "6,4" uses the dot for thousands: "1.023" is 1023.
        text = _EURO_THOUSANDS.sub(r"\1\2", text)
    if "\n" in text and ("," in text or ";" in text):
        text = "\n".join(_csv_to_tabs(text.split("\n")))
    if "|" in text:
        text = _PIPE.sub("\t", text)
    if "..." in text:
        text = _DOT_LEADER.sub("\t", text)
    if "~" in text or "ca" in text or "pprox" in text:
        text = _APPROX.sub("", text)
    if "." in text:
        text = _LEADING_DOT.sub(r"0.\1", text)
    if "+" in text:
        text = _OPEN_UPPER.sub(r">\1", text)
    if any(ch in text for ch in "≥≤≧≦"):
        # "≧4.0" / "≦15" as Japanese reports print them
        text = text.replace("≥", ">=").replace("≤", "<=").replace("≧", ">=").replace("≦", "<=")
    if "以" in text or "未満" in text:
        for pattern, bound in _CJK_BOUNDS:
            text = pattern.sub(bound, text)
    return text
