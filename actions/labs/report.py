"""An Interpretation as JSON-ready data or as a readable report (CLI and chat replies)."""

from __future__ import annotations

from decimal import Decimal

from actions.labs.models import Interpretation, LabResult, plain_number
from actions.labs.reference import ReferenceTable, reference_table


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
            }
            for r in interpretation.values
        ],
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
    if result.band in (None, result.status):
        return result.status
    return f"{result.status}, {result.band}"


def shown_value(result: LabResult) -> str:
    return f"{result.comparator or ''}{plain_number(result.value)} {result.unit}"


def canonical_value(result: LabResult) -> str:
    bound = result.comparator or ""
    return f"{bound}{plain_number(result.canonical_value)} {result.canonical_unit}"


def describe_value(result: LabResult, table: ReferenceTable | None = None) -> str:
    """One line per value, e.g. "Vitamin B12: 480 pmol/L, normal (258 to 664 pmol/L)"."""
    spec = (table or reference_table()).spec(result.analyte)
    shown = shown_value(result)
    if result.unit != result.canonical_unit:
        shown += f" (= {canonical_value(result)})"
    span = reference_range(result, table)
    span = f" (reference table: {span})" if span else ""
    line = f"{spec.name[0].upper()}{spec.name[1:]}: {shown}: {status_text(result)}{span}"
    if result.assumed_unit:
        line += (
            f". No unit was given; I assumed {result.unit}: the band is the same in every unit"
            " I accept for this test"
        )
    return line


TABLE_COLUMNS = ("Test", "Your value", "In reference units", "Band", "Reference range")


def table_rows(interpretation: Interpretation) -> list[list[str]]:
    """The values as rows of TABLE_COLUMNS, for channels that draw a table."""
    table = reference_table()
    rows = []
    for r in interpretation.values:
        name = table.spec(r.analyte).name
        value = shown_value(r) + (" (unit assumed)" if r.assumed_unit else "")
        rows.append([name[0].upper() + name[1:], value, canonical_value(r), status_text(r),
                     reference_range(r, table)])
    return rows


def to_text(interpretation: Interpretation, disclaimer: str) -> str:
    lines = []
    if interpretation.values:
        lines.append("Your results against the reference table:")
        lines.extend(f"- {describe_value(r)}" for r in interpretation.values)
    if interpretation.errors:
        if lines:
            lines.append("")
        lines.append("What I could not read:")
        lines.extend(f"- {e.message}" for e in interpretation.errors)
    for finding in interpretation.findings:
        lines.append("")
        lines.append(finding.summary)
        for quote in finding.quotes:
            lines.append(f'  "{quote.text}" ({quote.section})')
    if interpretation.values:
        lines += ["", interpretation.caveat]
    lines += ["", disclaimer]
    return "\n".join(lines)
