"""The parser: known phrasings, the ambiguity rules, a table of real-style messages."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from b12core.labs import LabInput, parse, parse_number, parse_unit

PROJECT_ROOT = Path(__file__).resolve().parents[3]
MESSAGES_PATH = PROJECT_ROOT / "tests" / "data" / "lab_messages.yml"
REQUIRED_EXACT_MATCH = 0.98


def _read(text: str, **kwargs) -> list[tuple]:
    return [(v.analyte, v.value, v.unit, v.comparator) for v in parse(text, **kwargs).values]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("480", Decimal("480")),
        ("17.2", Decimal("17.2")),
        ("0,45", Decimal("0.45")),
        ("17,2", Decimal("17.2")),
        ("1,100", Decimal("1100")),
        ("12,345.6", Decimal("12345.6")),
        ("0,450", Decimal("0.450")),
        ("1,10", Decimal("1.10")),
        ("1.100", Decimal("1.100")),
        ("1.100.000", Decimal("1100000")),
        ("1.100,5", Decimal("1100.5")),
        ("-5", Decimal("-5")),
        ("12.03.2024", None),
        ("1,2,3", None),
        ("1,1000", Decimal("1.1000")),
    ],
)
def test_parse_number_reads_separators_without_guessing(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B12 480 pmol/L", [("b12", Decimal("480"), "pmol/L", None)]),
        ("B-12 480", [("b12", Decimal("480"), None, None)]),
        ("vitamin B12 480 pg/ml", [("b12", Decimal("480"), "pg/mL", None)]),
        ("serum b12: 480 ng/l", [("b12", Decimal("480"), "ng/L", None)]),
        ("cobalamin 480 PMOL/L", [("b12", Decimal("480"), "pmol/L", None)]),
        ("homocysteine 12 µmol/L", [("homocysteine", Decimal("12"), "µmol/L", None)]),
        ("hcy 12 μmol/L", [("homocysteine", Decimal("12"), "µmol/L", None)]),
        ("tHcy 12 umol/L", [("homocysteine", Decimal("12"), "µmol/L", None)]),
        ("MMA 0.3 mcmol/L", [("mma", Decimal("0.3"), "µmol/L", None)]),
        ("methylmalonic acid 300 nmol/L", [("mma", Decimal("300"), "nmol/L", None)]),
        ("folate 5 ng/mL", [("folate", Decimal("5"), "ng/mL", None)]),
        ("serum folate 5 ug/L", [("folate", Decimal("5"), "µg/L", None)]),
        ("folic acid 5 mcg/L", [("folate", Decimal("5"), "µg/L", None)]),
        ("homocysteine 12 umol/L.", [("homocysteine", Decimal("12"), "µmol/L", None)]),
        ("b12 480 pg/mL.", [("b12", Decimal("480"), "pg/mL", None)]),
    ],
)
def test_spellings_of_analytes_and_units(text, expected):
    assert _read(text) == expected


def test_several_values_in_one_message():
    assert _read("B12 480 pmol/L; homocysteine 17.2 umol/L and MMA 0.36") == [
        ("b12", Decimal("480"), "pmol/L", None),
        ("homocysteine", Decimal("17.2"), "µmol/L", None),
        ("mma", Decimal("0.36"), None, None),
    ]


@pytest.mark.parametrize(
    "text",
    ["my b12 was 1100", "1100 for b12", "b12 level came back at 1100", "b12: 1,100"],
)
def test_value_before_after_or_away_from_the_analyte(text):
    assert _read(text) == [("b12", Decimal("1100"), None, None)]


@pytest.mark.parametrize(
    "text",
    [
        "what is a normal b12",  # the 12 of "b12" is not a value
        "b 12",
        "I'm 54 and worried about b12.",
        "I take 1000 mcg b12 daily",
        "b12 shots every 2 weeks",
        "my b12 is high. I'm 54.",
        "b12 was high but ALT 87",
        "b12 checked on 3 march",
        "b12 test in 2023",
    ],
)
def test_numbers_that_are_not_results(text):
    assert _read(text) == []


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("I have NAFLD", "nafld"),
        ("masld", "nafld"),
        ("fatty liver", "nafld"),
        ("NASH", "nash"),
        ("they found MASH on biopsy", "nash"),
        ("steatohepatitis", "nash"),
        ("cirrhosis", "cirrhosis"),
        ("fatty liver that became cirrhosis", "cirrhosis"),
        ("no cirrhosis, just fatty liver", "nafld"),
        ("I don't have cirrhosis", "unknown"),
        ("no liver disease", "none"),
        ("my liver is healthy", "none"),
        ("b12 480", "unknown"),
    ],
)
def test_condition_named_in_the_text(text, condition):
    assert parse(text).condition == condition


@pytest.mark.parametrize(
    ("text", "current", "earlier"),
    [
        ("b12 went from 200 to 350", "350", ["200"]),
        ("b12 480 pmol/L, 2 weeks later 500", "500", ["480"]),
        ("my b12 was low (150), now 400", "400", ["150"]),
        ("b12 now 420, last year 180", "420", ["180"]),
        ("B12 = 300 pg/ml (prev 290 pg/ml in 2022)", "300", ["290"]),
        ("Folate: 2.2 ng/mL (Jan) → 8.9 ng/mL (Apr) → 17.4 ng/mL (Jul)", "17.4", ["2.2", "8.9"]),
    ],
)
def test_several_results_of_one_test_are_a_history_with_the_latest_current(
    text, current, earlier
):
    panel = parse(text)
    (value,) = panel.values
    assert value.value == Decimal(current) and value.when == "current"
    assert [v.value for v in panel.earlier] == [Decimal(e) for e in earlier]
    assert all(v.when == "earlier" for v in panel.earlier)


@pytest.mark.parametrize(
    "text",
    ["b12 480 pmol/L (148-664)", "b12 480 pmol/L (ref: >258)", "b12 480 pmol/L, ref 258 to 664"],
)
def test_printed_reference_ranges_are_not_results(text):
    assert _read(text) == [("b12", Decimal("480"), "pmol/L", None)]


def test_expected_analyte_reads_a_bare_answer():
    assert _read("0,45", expected_analyte="mma") == [("mma", Decimal("0.45"), None, None)]
    assert _read("350 pg/ml", expected_analyte="b12") == [("b12", Decimal("350"), "pg/mL", None)]
    assert _read("it was 17.2", expected_analyte="homocysteine") == [
        ("homocysteine", Decimal("17.2"), None, None)
    ]


def test_expected_analyte_without_one_clear_number_gives_no_value():
    for text in ("no idea", "", "350 or 380"):
        (value,) = parse(text, expected_analyte="mma").values
        assert value.analyte == "mma" and value.value is None


def test_expected_analyte_does_not_override_named_analytes():
    assert _read("b12 480 pmol/L", expected_analyte="mma") == [
        ("b12", Decimal("480"), "pmol/L", None)
    ]


def test_unknown_expected_analyte_is_a_programming_error():
    with pytest.raises(ValueError):
        parse("480", expected_analyte="ferritin")


@pytest.mark.parametrize(
    ("text", "unit"),
    [("pg/ml", "pg/mL"), ("PMOL/L", "pmol/L"), ("it says umol/l", "µmol/L"), ("no idea", None)],
)
def test_parse_unit_for_a_unit_answer(text, unit):
    assert parse_unit(text) == unit


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\x02", "\udcff\udcfe", b"\xff\xfe\x00b12 4"])
def test_odd_input_parses_to_nothing_without_raising(text):
    assert parse(text).values in ((), (LabInput("b12", Decimal("4"), text="4"),))


def test_huge_input_is_refused_not_truncated():
    panel = parse("b12 480 pmol/L " * 10_000)
    assert panel.values == () and panel.too_long


# The parser reads back any value written in any accepted unit and phrasing.
UNIT_SPELLINGS = {
    "b12": {"pmol/L": ["pmol/L", "pmol/l"], "pg/mL": ["pg/mL", "pg/ml"], "ng/L": ["ng/L"]},
    "homocysteine": {"µmol/L": ["µmol/L", "μmol/L", "umol/L", "micromol/L", "mcmol/L"]},
    "mma": {"µmol/L": ["µmol/L", "umol/l"], "nmol/L": ["nmol/L", "nmol/l"]},
    "folate": {
        "nmol/L": ["nmol/L"],
        "ng/mL": ["ng/mL", "ng/ml"],
        "µg/L": ["µg/L", "ug/L", "mcg/L"],
    },
}
ANALYTE_SPELLINGS = {
    "b12": ["B12", "b12", "B-12", "vitamin B12", "cobalamin", "serum B12"],
    "homocysteine": ["homocysteine", "hcy", "tHcy"],
    "mma": ["MMA", "methylmalonic acid"],
    "folate": ["folate", "serum folate", "folic acid"],
}
PHRASINGS = [
    "{a} {v} {u}",
    "my {a} was {v} {u}",
    "{v} {u} for {a}",
    "{a}: {v}{u}",
    "{a} level came back at {v} {u}.",
    "hi! my {a} is {v} {u}, what does it mean",
]


@st.composite
def written_values(draw):
    analyte = draw(st.sampled_from(sorted(UNIT_SPELLINGS)))
    unit = draw(st.sampled_from(sorted(UNIT_SPELLINGS[analyte])))
    unit_text = draw(st.sampled_from(UNIT_SPELLINGS[analyte][unit]))
    whole = draw(st.integers(min_value=1, max_value=99_999))
    decimals = draw(st.sampled_from([0, 1, 2]))
    value = Decimal(whole).scaleb(-decimals)
    text = format(value, "f")
    if decimals and draw(st.booleans()):
        text = text.replace(".", ",")  # decimal comma (never three decimals: that is a separator)
    elif not decimals and whole >= 1000 and draw(st.booleans()):
        text = f"{whole:,}"
    phrasing = draw(st.sampled_from(PHRASINGS))
    name = draw(st.sampled_from(ANALYTE_SPELLINGS[analyte]))
    return phrasing.format(a=name, v=text, u=unit_text), analyte, value, unit


@settings(max_examples=150, deadline=None)
@given(written_values())
def test_parser_reads_back_any_written_value(case):
    text, analyte, value, unit = case
    assert _read(text) == [(analyte, value, unit, None)], text


def _expected(entry: dict) -> tuple:
    values = tuple(
        (
            v["analyte"],
            None if v["value"] is None else Decimal(v["value"]),
            v.get("unit"),
            v.get("comparator"),
        )
        for v in entry.get("values") or []
    )
    return values, entry.get("condition", "unknown")


def test_realistic_messages_exact_match_rate(report_figure):
    entries = yaml.safe_load(MESSAGES_PATH.read_text(encoding="utf-8"))["messages"]
    assert len(entries) >= 60
    misses = []
    for entry in entries:
        panel = parse(entry["text"])
        got = (
            tuple((v.analyte, v.value, v.unit, v.comparator) for v in panel.values),
            panel.condition,
        )
        if got != _expected(entry):
            misses.append((entry["text"], got, _expected(entry)))
    rate = 1 - len(misses) / len(entries)
    matched = len(entries) - len(misses)
    report_figure(f"lab message extraction exact match: {rate:.1%} ({matched}/{len(entries)})")
    for text, got, want in misses:
        print(f"  MISS {text!r}\n    got  {got}\n    want {want}")
    assert rate >= REQUIRED_EXACT_MATCH
