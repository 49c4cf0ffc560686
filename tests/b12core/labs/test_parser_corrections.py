"""Corrections and plural spellings seen in patient messages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from b12core.labs import parse


@pytest.mark.parametrize(
    ("text", "analyte", "value"),
    [
        ("sorry, b12 was 540 not 450", "b12", Decimal("540")),
        ("correction, homocysteine is 31 not 13", "homocysteine", Decimal("31")),
        ("b12 is 410 pmol/L rather than 140", "b12", Decimal("410")),
        ("my b12s 275", "b12", Decimal("275")),
    ],
)
def test_the_corrected_figure_is_the_result(text, analyte, value):
    (item,) = parse(text).values
    assert (item.analyte, item.value) == (analyte, value)


def test_not_without_an_earlier_figure_excludes_nothing():
    (item,) = parse("b12 not great, 190 pmol/L").values
    assert item.value == Decimal("190")
