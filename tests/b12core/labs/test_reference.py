"""The reference table: every threshold on each side, in every accepted unit; the loader."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from b12core.labs.models import ANALYTES
from b12core.labs.reference import (
    REFERENCE_RANGES_PATH,
    ReferenceTableError,
    load_reference_table,
    reference_table,
)

# (analyte, unit, value, status, band). Converted-unit values sit on both sides of each
# threshold after exact conversion (e.g. 200.542 pg/mL x 0.738 = 147.999996 pmol/L), or
# of the source's own cut-off in that unit where it states one.
BOUNDARIES = [
    # B12, pmol/L: deficient < 148 <= borderline < 258 <= normal <= 664 < high
    ("b12", "pmol/L", "147.9", "deficient", "deficient"),
    ("b12", "pmol/L", "148", "borderline", "borderline"),
    ("b12", "pmol/L", "257.9", "borderline", "borderline"),
    ("b12", "pmol/L", "258", "normal", "normal"),
    ("b12", "pmol/L", "664", "normal", "normal"),
    ("b12", "pmol/L", "664.1", "high", "high"),
    ("b12", "pg/mL", "200.542", "deficient", "deficient"),
    ("b12", "pg/mL", "200.543", "borderline", "borderline"),
    ("b12", "pg/mL", "349.593", "borderline", "borderline"),
    ("b12", "pg/mL", "349.594", "normal", "normal"),
    # Carmel states the high cut-off in both units ("> 664 pmol/l; > 900 ng/l"): a value in
    # pg/mL or ng/L is compared with 900, not with 664 / 0.738 = 899.73.
    ("b12", "pg/mL", "899.728", "normal", "normal"),
    ("b12", "pg/mL", "899.729", "normal", "normal"),
    ("b12", "pg/mL", "900", "normal", "normal"),
    ("b12", "pg/mL", "900.001", "high", "high"),
    ("b12", "ng/L", "200.542", "deficient", "deficient"),
    ("b12", "ng/L", "200.543", "borderline", "borderline"),
    ("b12", "ng/L", "349.593", "borderline", "borderline"),
    ("b12", "ng/L", "349.594", "normal", "normal"),
    ("b12", "ng/L", "900", "normal", "normal"),
    ("b12", "ng/L", "900.001", "high", "high"),
    # Homocysteine, µmol/L: normal <= 15 < moderate <= 30 < intermediate <= 100 < severe
    ("homocysteine", "µmol/L", "15", "normal", "normal"),
    ("homocysteine", "µmol/L", "15.01", "elevated", "moderate"),
    ("homocysteine", "µmol/L", "30", "elevated", "moderate"),
    ("homocysteine", "µmol/L", "30.01", "elevated", "intermediate"),
    ("homocysteine", "µmol/L", "100", "elevated", "intermediate"),
    ("homocysteine", "µmol/L", "100.01", "elevated", "severe"),
    # MMA: normal <= 0.40 µmol/L < elevated
    ("mma", "µmol/L", "0.40", "normal", "normal"),
    ("mma", "µmol/L", "0.401", "elevated", "elevated"),
    ("mma", "nmol/L", "400", "normal", "normal"),
    ("mma", "nmol/L", "400.1", "elevated", "elevated"),
    ("mma", "nmol/mL", "0.40", "normal", "normal"),  # Mayo's own unit
    ("mma", "nmol/mL", "0.401", "elevated", "elevated"),
    ("homocysteine", "nmol/mL", "15", "normal", "normal"),
    ("homocysteine", "nmol/mL", "15.01", "elevated", "moderate"),
    # Folate, nmol/L: deficient < 6.8 <= low < 10 <= normal
    ("folate", "nmol/L", "6.79", "deficient", "deficient"),
    ("folate", "nmol/L", "6.8", "low", "low"),
    ("folate", "nmol/L", "9.99", "low", "low"),
    ("folate", "nmol/L", "10", "normal", "normal"),
    # WHO states the folate cut-offs in ng/mL too (< 3 and < 4 ng/mL): compared there.
    ("folate", "ng/mL", "2.99", "deficient", "deficient"),
    ("folate", "ng/mL", "3", "low", "low"),
    ("folate", "ng/mL", "3.99", "low", "low"),
    ("folate", "ng/mL", "4", "normal", "normal"),
    ("folate", "µg/L", "2.99", "deficient", "deficient"),
    ("folate", "µg/L", "3", "low", "low"),
    ("folate", "µg/L", "3.99", "low", "low"),
    ("folate", "µg/L", "4", "normal", "normal"),
]


@pytest.mark.parametrize(("analyte", "unit", "value", "status", "band"), BOUNDARIES)
def test_every_threshold_on_each_side(analyte, unit, value, status, band):
    spec = reference_table().spec(analyte)
    number = Decimal(value)
    classification = spec.classify(spec.to_canonical(number, unit), None, (number, unit))
    assert (classification.status, classification.band) == (status, band)


def test_every_accepted_unit_has_boundary_cases():
    covered = {(a, u) for a, u, *_ in BOUNDARIES}
    for spec in reference_table().analytes:
        for unit in spec.accepted_units:
            assert (spec.analyte, unit) in covered


def test_conversion_is_exact():
    spec = reference_table().spec("b12")
    assert spec.to_canonical(Decimal("200.542"), "pg/mL") == Decimal("147.999996")
    assert reference_table().spec("mma").to_canonical(Decimal("400"), "nmol/L") == Decimal("0.400")


def test_table_facts():
    table = reference_table()
    assert [s.analyte for s in table.analytes] == list(ANALYTES)
    assert table.spec("b12").statuses == ("deficient", "borderline", "normal", "high")
    assert table.spec("homocysteine").statuses == ("normal", "elevated")
    assert table.spec("mma").statuses == ("normal", "elevated")
    assert table.spec("folate").statuses == ("deficient", "low", "normal")
    assert table.spec("b12").accepted_units == ("pmol/L", "pg/mL", "ng/L")
    assert table.spec("folate").accepted_units == ("nmol/L", "ng/mL", "µg/L")
    assert "Laboratories set their own" in table.caveat
    for spec in table.analytes:
        assert all(b.source for b in spec.bands)


@pytest.mark.parametrize(
    ("analyte", "comparator", "value", "expected"),
    [
        ("b12", ">", "1476", ("high", "high")),
        ("b12", ">", "664", ("high", "high")),
        ("b12", ">=", "664", None),  # 664 itself is normal
        ("b12", "<", "148", ("deficient", "deficient")),
        ("b12", "<=", "148", None),
        ("b12", "<", "150", None),
        ("homocysteine", ">", "50", ("elevated", None)),  # intermediate or severe
        ("homocysteine", ">", "120", ("elevated", "severe")),
        ("mma", "<", "0.10", ("normal", "normal")),
        ("mma", "<", "0.5", None),
    ],
)
def test_open_bounds_are_placed_only_when_unambiguous(analyte, comparator, value, expected):
    got = reference_table().spec(analyte).classify(Decimal(value), comparator)
    assert (None if got is None else (got.status, got.band)) == expected


def _write_table(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(REFERENCE_RANGES_PATH.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "reference_ranges.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _row(data, analyte, status):
    return next(r for r in data["ranges"] if r["analyte"] == analyte and r["status"] == status)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: _row(d, "b12", "borderline").pop("source"), r"ranges row 2 \(b12/borderline"),
        (
            lambda d: _row(d, "b12", "borderline").update(lower="abc"),
            r"row 2 .*'lower' must be a number",
        ),
        (lambda d: _row(d, "b12", "borderline").update(lower=150), r"row 2 .*no gap or overlap"),
        (
            lambda d: _row(d, "b12", "borderline").update(lower_inclusive=False),
            r"row 2 .*inclusive",
        ),
        (lambda d: _row(d, "b12", "normal").update(unit="pg/mL"), r"row 3 .*canonical unit"),
        (lambda d: _row(d, "b12", "normal").update(upper=200), r"row 3 .*must be below 'upper'"),
        (
            lambda d: _row(d, "b12", "high").update(upper=2000, upper_inclusive=True),
            r"needs upper: null",
        ),
        (
            lambda d: _row(d, "mma", "normal").update(analyte="ferritin"),
            r"unknown analyte 'ferritin'",
        ),
        (
            lambda d: _row(d, "mma", "normal").pop("upper_inclusive"),
            r"'upper_inclusive' must be true or false",
        ),
        (lambda d: d["conversions"][1].update(factor=0), r"conversions row 2 .*above zero"),
        (lambda d: d.pop("caveat"), r"'caveat' must be a non-empty text"),
        (lambda d: d["ranges"].append("oops"), r"ranges row 14 must be a mapping"),
    ],
)
def test_malformed_rows_fail_fast_naming_the_row(tmp_path, mutate, message):
    path = _write_table(tmp_path, mutate)
    with pytest.raises(ReferenceTableError, match=message):
        load_reference_table(path)


def test_unreadable_files_fail_with_a_clear_message(tmp_path):
    with pytest.raises(ReferenceTableError, match="cannot be read"):
        load_reference_table(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("ranges: [", encoding="utf-8")
    with pytest.raises(ReferenceTableError, match="not valid YAML"):
        load_reference_table(bad)


def test_the_project_table_loads_from_its_default_path():
    assert load_reference_table().analytes == reference_table().analytes
