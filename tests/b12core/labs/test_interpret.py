"""interpret(): statuses, the missing-unit policy, the finding rules, errors, properties."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from b12core.labs import (
    ERROR_CODES,
    FINDING_IDS,
    LabInput,
    LabPanel,
    LabResult,
    evaluate,
    interpret,
    interpret_text,
    parse,
)
from b12core.labs.reference import reference_table


def _panel(*values: tuple, condition: str = "unknown") -> LabPanel:
    items = []
    for analyte, value, *unit in values:
        number = None if value is None else Decimal(value)
        items.append(LabInput(analyte, number, unit[0] if unit else None, text=str(value)))
    return LabPanel(values=tuple(items), condition=condition)


def _ids(panel: LabPanel) -> set[str]:
    return set(interpret(panel).finding_ids)


def _codes(panel: LabPanel) -> list[tuple[str, str | None]]:
    return [(e.code, e.analyte) for e in interpret(panel).errors]


# --- missing units -----------------------------------------------------------------


def test_missing_unit_with_one_status_is_assumed_and_marked():
    (result,) = interpret(_panel(("b12", "1100"))).values
    assert (result.status, result.unit, result.assumed_unit) == ("high", "pmol/L", True)
    (result,) = interpret(_panel(("mma", "0.36"))).values  # nmol/L would be implausible
    assert (result.status, result.unit, result.assumed_unit) == ("normal", "µmol/L", True)
    (result,) = interpret(_panel(("mma", "360"))).values  # µmol/L would be implausible
    assert (result.status, result.unit, result.assumed_unit) == ("normal", "nmol/L", True)
    (result,) = interpret(_panel(("homocysteine", "17.2"))).values
    assert (result.status, result.band, result.assumed_unit) == ("elevated", "moderate", True)


def test_missing_unit_that_changes_the_status_asks_for_it():
    interpretation = interpret(_panel(("b12", "300")))  # normal in pmol/L, borderline in pg/mL
    assert interpretation.values == ()
    (error,) = interpretation.errors
    assert error.code == "unit_needed" and error.analyte == "b12"
    assert error.units == ("pmol/L", "pg/mL", "ng/L")
    assert "pmol/L" in error.message and "pg/mL" in error.message
    (error,) = interpret(_panel(("folate", "5"))).errors  # deficient nmol/L, normal ng/mL
    assert (error.code, error.units) == ("unit_needed", ("nmol/L", "ng/mL", "µg/L"))


def test_missing_unit_and_no_plausible_unit_is_implausible():
    assert _codes(_panel(("b12", "5"))) == [("implausible_value", "b12")]
    assert _codes(_panel(("mma", "0.01"))) == [("implausible_value", "mma")]


def test_given_unit_is_never_second_guessed():
    (result,) = interpret(_panel(("b12", "300", "pg/mL"))).values
    assert (result.status, result.assumed_unit) == ("borderline", False)
    assert result.canonical_value == Decimal("221.400")


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((), [("no_values", None)]),
        ((("b12", "480", "mg/dL"),), [("unknown_unit", "b12")]),
        ((("b12", "0"),), [("invalid_value", "b12")]),
        ((("homocysteine", "-5"),), [("invalid_value", "homocysteine")]),
        ((("mma", None),), [("invalid_value", "mma")]),
        ((("b12", "99999", "pmol/L"),), [("implausible_value", "b12")]),
        ((("b12", "300"),), [("unit_needed", "b12")]),
    ],
)
def test_each_error_code(values, expected):
    assert _codes(_panel(*values)) == expected


def test_every_error_code_is_documented():
    assert set(ERROR_CODES) == {
        "no_values",
        "unknown_unit",
        "unit_needed",
        "invalid_value",
        "implausible_value",
    }


def test_unknown_unit_lists_the_accepted_units():
    (error,) = interpret(_panel(("folate", "5", "mg/dL"))).errors
    assert error.units == ("nmol/L", "ng/mL", "µg/L")
    for unit in error.units:
        assert unit in error.message


def test_an_error_never_hides_the_other_values():
    interpretation = interpret(
        _panel(
            ("b12", "1100", "pg/mL"), ("mma", "0"), ("folate", "5", "mg/dL"), ("homocysteine", "22")
        )
    )
    assert [r.analyte for r in interpretation.values] == ["b12", "homocysteine"]
    assert [e.code for e in interpretation.errors] == ["invalid_value", "unknown_unit"]
    assert "functional_deficiency_possible" in interpretation.finding_ids


def test_open_bound_that_spans_bands_is_not_guessed():
    panel = LabPanel((LabInput("b12", Decimal("150"), "pmol/L", "<", "<150 pmol/L"),))
    (error,) = interpret(panel).errors
    assert error.code == "invalid_value" and "<150" in error.message
    panel = LabPanel((LabInput("b12", Decimal("1476"), "pmol/L", ">", ">1476 pmol/L"),))
    (result,) = interpret(panel).values
    assert (result.status, result.comparator) == ("high", ">")


@pytest.mark.parametrize(
    "text",
    ["", "hello", "b12 " * 3000, "\x00\x01", "\udcff"],
    ids=["empty", "hello", "long", "ctrl", "surrogate"],
)
def test_no_values_has_a_kind_message(text):
    (error,) = interpret(parse(text)).errors
    assert error.code == "no_values"
    assert "please" in error.message.lower()


# --- findings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "condition", "expected"),
    [
        ((("b12", "900", "pmol/L"),), "nafld", {"b12_high_liver"}),
        ((("b12", "900", "pmol/L"),), "nash", {"b12_high_liver"}),
        ((("b12", "900", "pmol/L"),), "cirrhosis", {"b12_high_liver"}),
        ((("b12", "900", "pmol/L"),), "none", {"b12_high_no_liver"}),
        ((("b12", "900", "pmol/L"),), "other_liver", {"b12_high_liver"}),
        ((("b12", "900", "pmol/L"),), "unknown", {"b12_high_unexplained"}),
        (
            (("b12", "900", "pmol/L"), ("mma", "0.5", "µmol/L")),
            "nash",
            {"b12_high_liver", "functional_deficiency_possible"},
        ),
        (
            (("b12", "400", "pmol/L"), ("homocysteine", "20")),
            "unknown",
            {"functional_deficiency_possible", "homocysteine_elevated"},
        ),
        ((("b12", "200", "pmol/L"),), "unknown", {"deficiency_confirm_mma"}),
        ((("b12", "100", "pmol/L"),), "nafld", {"deficiency_confirm_mma"}),
        ((("b12", "200", "pmol/L"), ("mma", "0.6", "µmol/L")), "unknown", {"deficiency_supported"}),
        ((("b12", "200", "pmol/L"), ("mma", "0.2", "µmol/L")), "unknown", {"b12_low_mma_normal"}),
        ((("mma", "0.6", "µmol/L"),), "unknown", {"mma_elevated"}),
        ((("homocysteine", "120"),), "unknown", {"homocysteine_severe", "homocysteine_elevated"}),
        ((("homocysteine", "35"),), "unknown", {"homocysteine_elevated"}),
        ((("folate", "5", "nmol/L"),), "unknown", {"folate_low"}),
        ((("folate", "8", "nmol/L"),), "unknown", {"folate_low"}),
        (
            (
                ("b12", "400", "pmol/L"),
                ("folate", "20", "nmol/L"),
                ("mma", "0.2"),
                ("homocysteine", "9"),
            ),
            "nafld",
            {"all_normal"},
        ),
        ((("b12", "400", "pmol/L"), ("mma", "0")), "unknown", set()),  # an unread value
    ],
)
def test_finding_rules(values, condition, expected):
    assert _ids(_panel(*values, condition=condition)) == expected


def test_mma_given_but_unreadable_still_gets_the_low_b12_finding_worded_for_it():
    interpretation = interpret(_panel(("b12", "200", "pmol/L"), ("mma", "0.3", "mg/dL")))
    assert interpretation.finding_ids == ("deficiency_confirm_mma",)
    assert "given or could be read" in interpretation.findings[0].summary


def test_findings_follow_the_table_order_and_carry_quotes():
    interpretation = interpret(
        _panel(("b12", "900", "pmol/L"), ("homocysteine", "40"), condition="nash")
    )
    assert interpretation.finding_ids == (
        "b12_high_liver",
        "functional_deficiency_possible",
        "homocysteine_elevated",
    )
    for finding in interpretation.findings:
        assert finding.id in FINDING_IDS and finding.summary and 1 <= len(finding.quotes) <= 3


def test_unknown_condition_value_is_treated_as_unknown():
    interpretation = interpret(_panel(("b12", "900", "pmol/L"), condition="hepatitis"))
    assert interpretation.condition == "unknown"
    assert interpretation.finding_ids == ("b12_high_unexplained",)


def test_condition_override_and_determinism():
    text = "b12 1100 pg/ml, fatty liver"
    assert interpret_text(text).condition == "nafld"
    assert interpret_text(text, condition="none").finding_ids == ("b12_high_no_liver",)
    assert interpret_text(text) == interpret_text(text)


def test_every_interpretation_carries_the_caveat():
    assert "Laboratories set their own" in interpret(_panel(("b12", "400", "pmol/L"))).caveat


# --- properties -------------------------------------------------------------------------

CONVERTED_UNITS = [
    (spec.analyte, conversion.unit)
    for spec in reference_table().analytes
    for conversion in spec.conversions
]
decimals = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("20000"), places=3)


def _near_a_stated_cut_off(spec, unit: str, canonical: Decimal) -> bool:
    """Between a source's own cut-off in ``unit`` (converted) and its canonical cut-off:
    the one place where the two units may differ, by design (900 pg/mL is not high)."""
    factor = spec.factor(unit)
    for band in spec.bands:
        for bound, stated in ((band.lower, band.lower_in), (band.upper, band.upper_in)):
            value = dict(stated).get(unit)
            if value is not None:
                ends = sorted((bound, value * factor))
                if ends[0] <= canonical <= ends[1]:
                    return True
    return False


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CONVERTED_UNITS), decimals)
def test_status_does_not_change_under_unit_conversion_away_from_cut_offs(analyte_unit, value):
    analyte, unit = analyte_unit
    spec = reference_table().spec(analyte)
    canonical = spec.to_canonical(value, unit)
    assume(not _near_a_stated_cut_off(spec, unit, canonical))
    in_unit = evaluate(LabInput(analyte, value, unit), reference_table())
    in_canonical = evaluate(LabInput(analyte, canonical, spec.canonical_unit), reference_table())
    if isinstance(in_unit, LabResult):
        assert isinstance(in_canonical, LabResult)
        assert (in_unit.status, in_unit.band) == (in_canonical.status, in_canonical.band)
        assert in_unit.canonical_value == in_canonical.canonical_value
    else:
        assert in_unit.code == in_canonical.code == "implausible_value"


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CONVERTED_UNITS), decimals, decimals)
def test_status_is_monotone_in_the_value(analyte_unit, a, b):
    analyte, unit = analyte_unit
    spec = reference_table().spec(analyte)
    low, high = sorted((a, b))
    rank = {status: i for i, status in enumerate(spec.statuses)}
    low_status = spec.classify(spec.to_canonical(low, unit), None, (low, unit)).status
    high_status = spec.classify(spec.to_canonical(high, unit), None, (high, unit)).status
    assert rank[low_status] <= rank[high_status]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CONVERTED_UNITS), st.data())
def test_interpretation_is_monotone_in_the_value_within_each_unit(analyte_unit, data):
    """Through evaluate(), as a patient's value goes: a higher value never a lower band."""
    analyte, unit = analyte_unit
    spec = reference_table().spec(analyte)
    factor = spec.factor(unit)
    # Values inside the plausible range in this unit (outside it nothing is placed).
    low_end, high_end = spec.plausible_min / factor, spec.plausible_max / factor
    plausible = st.decimals(min_value=low_end, max_value=high_end, places=4)
    low, high = sorted((data.draw(plausible), data.draw(plausible)))
    rank = {(band.status, band.band): i for i, band in enumerate(spec.bands)}
    results = [evaluate(LabInput(analyte, v, unit), reference_table()) for v in (low, high)]
    assume(all(isinstance(r, LabResult) for r in results))
    assert rank[(results[0].status, results[0].band)] <= rank[(results[1].status,
                                                                results[1].band)]


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "status"),
    [
        ("b12", "900", "pg/mL", "normal"),  # Carmel: high is "> 900 ng/l"
        ("b12", "900", "ng/L", "normal"),
        ("b12", "901", "pg/mL", "high"),
        ("b12", "664", "pmol/L", "normal"),
        ("folate", "3", "ng/mL", "low"),  # WHO: deficient below 3 ng/mL
        ("folate", "2.99", "ng/mL", "deficient"),
        ("folate", "4", "ng/mL", "normal"),  # WHO: 4 ng/mL and above
        ("folate", "4", "µg/L", "normal"),
        ("mma", "0.40", "nmol/mL", "normal"),  # Mayo's own unit
        ("mma", "0.41", "nmol/mL", "elevated"),
    ],
)
def test_a_value_at_a_sources_own_cut_off_lands_on_the_sources_side(analyte, value, unit, status):
    result = evaluate(LabInput(analyte, Decimal(value), unit), reference_table())
    assert result.status == status


WORDS = [
    "b12",
    "B-12",
    "vitamin",
    "homocysteine",
    "hcy",
    "mma",
    "folate",
    "folic acid",
    "pmol/L",
    "pg/mL",
    "umol/L",
    "µmol/L",
    "nmol/L",
    "ng/mL",
    "mg/dL",
    "ALT",
    "ferritin",
    "for",
    "of",
    "and",
    "was",
    "is",
    "my",
    ",",
    ".",
    ";",
    ":",
    "(",
    ")",
    "-",
    "<",
    ">",
    "over",
    "ref",
    "in",
    "2021",
    "march",
    "I'm",
    "mcg",
    "weeks",
    "nash",
    "no",
    "cirrhosis",
    "fatty liver",
    "\n",
    "0",
    "-3",
    "0,45",
    "1,100",
    "17.2",
    "480",
    "1.100,5",
    "12.03.2024",
    "10:30",
    "148-664",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=6)), max_size=25),
    st.sampled_from([None, "b12", "homocysteine", "mma", "folate"]),
)
def test_interpret_never_raises_on_a_parsed_panel(words, expected_analyte):
    panel = parse(" ".join(words), expected_analyte=expected_analyte)
    interpretation = interpret(panel)
    # Something is always said: a value, why one could not be read, or a note (a dose...).
    said = len(interpretation.values) + len(interpretation.errors) + len(interpretation.notes)
    assert said >= 1
    for error in interpretation.errors:
        assert error.code in ERROR_CODES and error.message
    assert replace(panel) == panel
