"""The engine's typed inputs and outputs: frozen, so a result can be shared and cached."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ANALYTES = ("b12", "homocysteine", "mma", "folate")

LIVER_CONDITIONS = ("nafld", "nash", "cirrhosis")  # fatty liver disease, least to most advanced
OTHER_LIVER = "other_liver"  # alcohol-related, viral, autoimmune, cholestatic...
CONDITIONS = (*LIVER_CONDITIONS, OTHER_LIVER, "none", "unknown")
UNKNOWN_CONDITION = "unknown"

# Tests of the same substances that this table does not cover (recognised, not judged).
SPECIMENS = ("active_b12", "red_cell_folate", "urine_mma")
NOTE_KINDS = (*SPECIMENS, "dose")
WHEN = ("current", "earlier")

FINDING_IDS = (
    "homocysteine_severe",
    "b12_high_liver",
    "b12_high_unexplained",
    "b12_high_no_liver",
    "b12_high_treatment",
    "functional_deficiency_possible",
    "deficiency_confirm_mma",
    "deficiency_supported",
    "b12_low_mma_normal",
    "mma_elevated",
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
class LabRange:
    """The range a lab printed next to a result, in the lab's own unit (None if not printed)."""

    text: str  # as the lab wrote it, tidied: "197-771", ">12.2", "<=15.0"
    lower: Decimal | None
    upper: Decimal | None
    lower_inclusive: bool = True
    upper_inclusive: bool = True
    unit: str | None = None

    def position(self, value: Decimal, comparator: str | None = None) -> str | None:
        """"below", "within" or "above" the range; None when a bound makes it unclear."""
        below = self.lower is not None and (
            value < self.lower or (value == self.lower and not self.lower_inclusive)
        )
        above = self.upper is not None and (
            value > self.upper or (value == self.upper and not self.upper_inclusive)
        )
        if comparator in ("<", "<=") and not below:
            return None if self.lower is not None else "within"
        if comparator in (">", ">=") and not above:
            return None if self.upper is not None else "within"
        return "below" if below else "above" if above else "within"


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
    lab_range: LabRange | None = None
    flag: str | None = None
    when: str = "current"


@dataclass(frozen=True)
class Note:
    """Something read but not interpreted here: another test of the same substance, a dose."""

    kind: str
    text: str
    value: Decimal | None = None
    unit: str | None = None
    comparator: str | None = None
    lab_range: LabRange | None = None


@dataclass(frozen=True)
class LabPanel:
    """Everything one message (or one form) says: the values and the liver condition.

    ``values`` holds the latest result of each test; ``earlier`` older results of the same
    tests (shown as history, never interpreted); ``notes`` what is recognised but not
    interpreted here; ``b12_treatment`` that B12 injections or supplements were mentioned.
    """

    values: tuple[LabInput, ...] = ()
    condition: str = UNKNOWN_CONDITION
    too_long: bool = False
    earlier: tuple[LabInput, ...] = ()
    notes: tuple[Note, ...] = ()
    pregnant: bool = False
    b12_treatment: bool = False


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
    lab_range: LabRange | None = None
    flag: str | None = None
    when: str = "current"

    @property
    def lab_position(self) -> str | None:
        """Where the value sits in the lab's own printed range (same unit only)."""
        if self.lab_range is None or (self.lab_range.unit not in (None, self.unit)):
            return None
        return self.lab_range.position(self.value, self.comparator)


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
    earlier: tuple[LabResult, ...] = ()
    notes: tuple[str, ...] = ()  # plain sentences: what was not interpreted and why

    @property
    def finding_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.findings)
