"""The engine's typed inputs and outputs: frozen, so a result can be shared and cached."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ANALYTES = ("b12", "homocysteine", "mma", "folate")

LIVER_CONDITIONS = ("nafld", "nash", "cirrhosis")
CONDITIONS = (*LIVER_CONDITIONS, "none", "unknown")
UNKNOWN_CONDITION = "unknown"

FINDING_IDS = (
    "b12_high_liver",
    "b12_high_unexplained",
    "functional_deficiency_possible",
    "deficiency_confirm_mma",
    "deficiency_supported",
    "homocysteine_elevated",
    "folate_low",
    "all_normal",
)

ERROR_CODES = ("no_values", "unknown_unit", "unit_needed", "invalid_value", "implausible_value")

COMPARATORS = ("<", "<=", ">", ">=")


def plain_number(x: Decimal) -> str:
    """A number as people write it: 480, 17.2, 0.36 (no exponent, no trailing zeros)."""
    text = format(x, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class LabInput:
    """One value as read from a message, before any judgement.

    ``value`` is None when the text held no usable number for the analyte; ``unit`` is
    the canonical spelling of a recognised unit, the text as typed for an unrecognised
    one, or None when no unit was given.
    """

    analyte: str
    value: Decimal | None
    unit: str | None = None
    comparator: str | None = None
    text: str = ""


@dataclass(frozen=True)
class LabPanel:
    """Everything one message (or one form) says: the values and the liver condition."""

    values: tuple[LabInput, ...] = ()
    condition: str = UNKNOWN_CONDITION
    too_long: bool = False


@dataclass(frozen=True)
class LabResult:
    """A value placed in a band of the reference table."""

    analyte: str
    value: Decimal
    unit: str
    canonical_value: Decimal
    canonical_unit: str
    status: str
    band: str | None
    assumed_unit: bool = False
    comparator: str | None = None


@dataclass(frozen=True)
class LabError:
    """Why one value could not be interpreted; ``units`` lists choices for buttons."""

    code: str
    message: str
    analyte: str | None = None
    units: tuple[str, ...] = ()


@dataclass(frozen=True)
class Quote:
    passage_id: str
    section: str
    text: str


@dataclass(frozen=True)
class Finding:
    id: str
    summary: str
    quotes: tuple[Quote, ...]


@dataclass(frozen=True)
class Interpretation:
    values: tuple[LabResult, ...]
    condition: str
    findings: tuple[Finding, ...]
    errors: tuple[LabError, ...]
    caveat: str

    @property
    def finding_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.findings)
