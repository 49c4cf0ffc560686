"""Scoring of the lab-reading sets (tests/data/lab_messages_v*.yml), as a lab scientist reads.

Not collected by pytest (no ``test_`` prefix): tests import ``score`` and print counts only,
so the held-out half is never shown case by case.

A message is read right when the engine finds exactly the expected values (test, number,
unit, comparator, the lab's printed range, the flag, current or earlier), the same liver
condition, and notes every expected test it does not interpret here (active B12, red-cell
folate, urine MMA, a dose) and no other such note. Other tests (ALT, ferritin...) are right
when they give no value.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parents[3] / "tests" / "data"
SETS = {name: DATA / f"lab_messages_{name}.yml"
        for name in ("v2", "v3", "v4", "v5", "v6", "v7", "v8")}
NOTED_KINDS = ("active_b12", "red_cell_folate", "urine_mma", "dose")


def load_cases(half: str, name: str = "v2") -> list[dict]:
    with SETS[name].open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)[half]


def _number(text) -> Decimal | None:
    return None if text is None else Decimal(str(text))


def expected_reading(case: dict) -> tuple:
    values = sorted(
        (v["analyte"], _number(v["value"]), v.get("unit"), v.get("comparator"),
         v.get("lab_range"), v.get("flag"), v.get("when", "current"))
        for v in case["values"]
    )
    notes = sorted(
        (n["kind"], _number(n.get("value")), n.get("comparator"), n.get("unit"))
        if n["kind"] != "dose" else ("dose", None, None, None)
        for n in case["not_interpreted"] if n["kind"] in NOTED_KINDS
    )
    return values, sorted(set(notes)), case["condition"]


def engine_reading(text: str) -> tuple:
    from b12core.labs import parse

    panel = parse(text)
    values = sorted(
        (v.analyte, v.value, v.unit, v.comparator,
         v.lab_range.text if v.lab_range else None, v.flag, v.when)
        for v in (*panel.values, *panel.earlier)
    )
    notes = sorted({
        (n.kind, n.value, n.comparator, n.unit) if n.kind != "dose" else ("dose", None, None, None)
        for n in panel.notes
    })
    return values, notes, panel.condition


def score(half: str, name: str = "v2") -> tuple[int, int, list[tuple[str, tuple, tuple]]]:
    """(right, total, misses as (text, expected, got))."""
    cases = load_cases(half, name)
    misses = []
    for case in cases:
        want, got = expected_reading(case), engine_reading(case["text"])
        if want != got:
            misses.append((case["text"], want, got))
    return len(cases) - len(misses), len(cases), misses
