"""An Interpretation as JSON-ready data or as a readable report (CLI and chat replies)."""

from __future__ import annotations

from decimal import Decimal

from b12core.labs.models import Interpretation, LabResult, plain_number
from b12core.labs.reference import ReferenceTable, reference_table
from b12core.texts import say


def _number(x: Decimal) -> int | float:
    """JSON has no decimals: whole values as int, others as the nearest float."""
    return int(x) if x == x.to_integral_value() else float(x)


def to_dict(interpretation: Interpretation, disclaimer: str) -> dict:
    """The CLI's --json shape; the disclaimer is passed in so this module stays pure."""
    return {
        "values": [
            {
                "analyte": r.analyte,
                "value": _number(r.value),
                "unit": r.unit,
                "canonical_value": _number(r.canonical_value),
                "canonical_unit": r.canonical_unit,
                "status": r.status,
                "band": r.band,
                "assumed_unit": r.assumed_unit,
                "comparator": r.comparator,
                "lab_range": r.lab_range.text if r.lab_range else None,
                "lab_range_unit": r.lab_range.unit if r.lab_range else None,
                "lab_position": r.lab_position,
                "flag": r.flag,
            }
            for r in interpretation.values
        ],
        "earlier": [
            {"analyte": r.analyte, "value": _number(r.value), "unit": r.unit,
             "comparator": r.comparator, "status": r.status}
            for r in interpretation.earlier
        ],
        "notes": list(interpretation.notes),
        "condition": interpretation.condition,
        "findings": [
            {
                "id": f.id,
                "summary": f.summary,
                "quotes": [
                    {"passage_id": q.passage_id, "section": q.section, "text": q.text}
                    for q in f.quotes
                ],
            }
            for f in interpretation.findings
        ],
        "errors": [
            {"code": e.code, "analyte": e.analyte, "message": e.message, "units": list(e.units)}
            for e in interpretation.errors
        ],
        "caveat": interpretation.caveat,
        "disclaimer": disclaimer,
    }


def reference_range(result: LabResult, table: ReferenceTable | None = None) -> str:
    """The reference-table range of the band a value fell in, e.g. "258 to 664 pmol/L"."""
    spec = (table or reference_table()).spec(result.analyte)
    bands = [b for b in spec.bands if b.status == result.status and result.band in (None, b.band)]
    return bands[0].describe() if len(bands) == 1 else ""


def status_text(result: LabResult) -> str:
    """The band as the table names it, quoted: a position, not a verdict."""
    if result.band in (None, result.status):
        return f'"{result.status}"'
    return f'"{result.status}" ({result.band})'


def normal_range(analyte: str, table: ReferenceTable | None = None) -> str:
    """The table's normal range, e.g. "258 to 664 pmol/L" (not the limits of a value's band)."""
    spec = (table or reference_table()).spec(analyte)
    bands = [b for b in spec.bands if b.status == "normal"]
    return bands[0].describe() if len(bands) == 1 else ""


def shown_value(result: LabResult) -> str:
    return f"{result.comparator or ''}{plain_number(result.value)} {result.unit}"


def canonical_value(result: LabResult) -> str:
    bound = result.comparator or ""
    return f"{bound}{plain_number(result.canonical_value)} {result.canonical_unit}"


def value_with_conversion(result: LabResult) -> str:
    """The value as typed, and in the reference unit when that differs: "250 pg/mL (= 184.5
    pmol/L)"."""
    shown = shown_value(result)
    if result.unit != result.canonical_unit:
        shown += f" (= {canonical_value(result)})"
    return shown


def describe_value(result: LabResult, table: ReferenceTable | None = None) -> str:
    """One line per value: the lab's own range first (when printed), the general table second.

    e.g. "Vitamin B12: 162 ng/L (= 119.556 pmol/L), flagged L by your lab. Your lab's range:
    187-883 ng/L: below it. Reference table: in the band it calls "deficient", under 148
    pmol/L; its normal range is 258 to 664 pmol/L."
    """
    from b12core.labs.notes import range_position_text

    table = table or reference_table()
    spec = table.spec(result.analyte)
    line = f"{spec.name[0].upper()}{spec.name[1:]}: {value_with_conversion(result)}"
    if result.flag:
        line += say("labs.value.flagged", flag=result.flag)
    line += "."
    if result.lab_range is not None:
        text = range_position_text(result.lab_range, result.value, result.comparator, result.unit)
        line += f" {text[0].upper()}{text[1:]}."
    normal = normal_range(result.analyte, table)
    if result.status == "normal":
        line += " " + (say("labs.value.reference_normal", normal=normal) if normal
                       else say("labs.value.reference_normal_no_range"))
    else:
        span = reference_range(result, table)
        line += " " + say(
            "labs.value.reference_band", status=status_text(result),
            span=say("labs.value.band_span", span=span) if span else "",
            normal=say("labs.value.normal_range", normal=normal) if normal else "")
    if result.assumed_unit:
        line += " " + say("labs.value.unit_assumed", unit=result.unit)
    return line


TABLE_COLUMN_KEYS = ("test", "value", "canonical", "position", "normal_range")


def table_columns() -> list[str]:
    """The headers of table_rows' columns, in order."""
    return [say(f"labs.table.columns.{key}") for key in TABLE_COLUMN_KEYS]


def lab_range_cell(result: LabResult) -> str:
    """The range printed on the patient's report and where the value sits in it ("197-771
    pg/mL: within it"); "" when the report printed none."""
    from b12core.labs.notes import range_position_text

    if result.lab_range is None:
        return ""
    text = range_position_text(result.lab_range, result.value, result.comparator, result.unit)
    prefix = say("labs.lab_range", range="")
    return text[len(prefix):] if text.startswith(prefix) else text


def range_sources(interpretation: Interpretation) -> list[str]:
    """Where each shown value's ranges come from: the sources of its normal band and of the
    band it fell in (reference_ranges.yml), one line per test."""
    table = reference_table()
    lines = []
    for r in interpretation.values:
        spec = table.spec(r.analyte)
        bands = [b for b in spec.bands if b.status == "normal"
                 or (b.status == r.status and r.band in (None, b.band))]
        sources = dict.fromkeys(" ".join(b.source.split()) for b in bands)
        lines.append(f"{spec.name[0].upper()}{spec.name[1:]}: " + " ".join(sources))
    return list(dict.fromkeys(lines))


def table_rows(interpretation: Interpretation) -> list[list[str]]:
    """The values as rows under table_columns(), for channels that draw a table."""
    table = reference_table()
    rows = []
    for r in interpretation.values:
        name = table.spec(r.analyte).name
        value = shown_value(r) + (" " + say("labs.table.unit_assumed") if r.assumed_unit else "")
        position = (say("labs.table.within_normal") if r.status == "normal"
                    else say("labs.table.band", status=status_text(r)))
        rows.append([name[0].upper() + name[1:], value, canonical_value(r), position,
                     normal_range(r.analyte, table)])
    return rows


def to_text(interpretation: Interpretation, disclaimer: str) -> str:
    lines = []
    if interpretation.values:
        lines.append(say("labs.report.values_heading"))
        lines.extend(f"- {describe_value(r)}" for r in interpretation.values)
    if interpretation.errors:
        if lines:
            lines.append("")
        lines.append(say("labs.report.errors_heading"))
        lines.extend(f"- {e.message}" for e in interpretation.errors)
    if interpretation.notes:
        if lines:
            lines.append("")
        lines.append(say("labs.report.notes_heading"))
        lines.extend(f"- {n}" for n in interpretation.notes)
    for finding in interpretation.findings:
        lines.append("")
        lines.append(finding.summary)
        for quote in finding.quotes:
            lines.append(f'  "{quote.text}" ({quote.section})')
    if interpretation.values:
        lines += ["", interpretation.caveat]
    lines += ["", disclaimer]
    return "\n".join(lines)
