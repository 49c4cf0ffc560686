"""Reference ranges and unit conversions, read from knowledge/reference_ranges.yml.

The table is validated when it loads: a malformed row stops start-up with a message
that names the row, instead of placing a patient's value in the wrong band later.
Arithmetic is exact (Decimal with ample precision), so a value typed exactly on a
threshold lands on the side the table says.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from b12core.knowledge import knowledge_file, read_yaml
from b12core.labs.models import ANALYTES

REFERENCE_RANGES_PATH = knowledge_file("reference_ranges.yml")

# 60 digits: products of a parsed value (at most 20 digits) and a factor stay exact.
EXACT = Context(prec=60)


class ReferenceTableError(ValueError):
    """reference_ranges.yml is malformed; the message names the file and the row."""


@dataclass(frozen=True)
class Band:
    """One row of the ranges table: an interval of canonical values and its status."""

    analyte: str
    status: str
    band: str
    lower: Decimal | None
    lower_inclusive: bool
    upper: Decimal | None
    upper_inclusive: bool
    unit: str
    source: str
    # The same bounds as the source states them in other units ("> 900 pg/mL"): a value
    # given in one of these units is compared with them, not with a converted cut-off.
    lower_in: tuple[tuple[str, Decimal], ...] = ()
    upper_in: tuple[tuple[str, Decimal], ...] = ()

    def _sides(self, x: Decimal, given: tuple[Decimal, str] | None):
        """(value, lower, upper) compared in the value's own unit where the source has it."""
        lower, upper, lx, ux = self.lower, self.upper, x, x
        if given is not None:
            value, unit = given
            stated_lower = dict(self.lower_in).get(unit)
            stated_upper = dict(self.upper_in).get(unit)
            if stated_lower is not None:
                lower, lx = stated_lower, value
            if stated_upper is not None:
                upper, ux = stated_upper, value
        return lx, lower, ux, upper

    def contains(self, x: Decimal, given: tuple[Decimal, str] | None = None) -> bool:
        lx, lower, ux, upper = self._sides(x, given)
        if lower is not None and (lx < lower or (lx == lower and not self.lower_inclusive)):
            return False
        return not (
            upper is not None and (ux > upper or (ux == upper and not self.upper_inclusive))
        )

    def contains_just_above(self, x: Decimal, given: tuple[Decimal, str] | None = None) -> bool:
        """True if the values immediately above ``x`` fall in this band (for "> x")."""
        lx, lower, ux, upper = self._sides(x, given)
        return (lower is None or lx >= lower) and (upper is None or ux < upper)

    def contains_just_below(self, x: Decimal, given: tuple[Decimal, str] | None = None) -> bool:
        """True if the values immediately below ``x`` fall in this band (for "< x")."""
        lx, lower, ux, upper = self._sides(x, given)
        return (lower is None or lx > lower) and (upper is None or ux <= upper)

    def describe(self) -> str:
        """The interval as a patient reads it, e.g. "148 to under 258 pmol/L"."""
        if self.lower is None and self.upper is not None:
            word = "up to" if self.upper_inclusive else "under"
            return f"{word} {_plain(self.upper)} {self.unit}"
        if self.upper is None and self.lower is not None:
            word = "from" if self.lower_inclusive else "above"
            return f"{word} {_plain(self.lower)} {self.unit}"
        start = _plain(self.lower) if self.lower_inclusive else f"above {_plain(self.lower)}"
        end = _plain(self.upper) if self.upper_inclusive else f"under {_plain(self.upper)}"
        return f"{start} to {end} {self.unit}"


@dataclass(frozen=True)
class Conversion:
    analyte: str
    unit: str
    factor: Decimal
    source: str


@dataclass(frozen=True)
class Classification:
    """Where a value (or an open bound such as "> 1476") falls; band None if it spans bands."""

    status: str
    band: str | None


@dataclass(frozen=True)
class AnalyteSpec:
    analyte: str
    name: str
    canonical_unit: str
    plausible_min: Decimal
    plausible_max: Decimal
    conversions: tuple[Conversion, ...]
    bands: tuple[Band, ...]

    @property
    def accepted_units(self) -> tuple[str, ...]:
        return tuple(c.unit for c in self.conversions)

    @property
    def statuses(self) -> tuple[str, ...]:
        """Statuses from the lowest values to the highest (the order monotonicity uses)."""
        return tuple(dict.fromkeys(b.status for b in self.bands))

    def factor(self, unit: str) -> Decimal | None:
        for conversion in self.conversions:
            if conversion.unit == unit:
                return conversion.factor
        return None

    def to_canonical(self, value: Decimal, unit: str) -> Decimal:
        factor = self.factor(unit)
        if factor is None:
            raise KeyError(f"{unit} is not a unit for {self.analyte}")
        return EXACT.multiply(value, factor)

    def is_plausible(self, canonical_value: Decimal) -> bool:
        return self.plausible_min <= canonical_value <= self.plausible_max

    def classify(
        self,
        canonical_value: Decimal,
        comparator: str | None = None,
        given: tuple[Decimal, str] | None = None,
    ) -> Classification | None:
        """The status of a value, or of all values beyond a bound; None if not one status.

        ``given`` is the value as typed with its unit: where the source states a cut-off in
        that unit, the value is compared with it there (900 pg/mL is not "above 900 pg/mL"
        although 900 x 0.738 is a hair above 664 pmol/L).
        """
        x = canonical_value
        if comparator is None:
            hits = [b for b in self.bands if b.contains(x, given)]
        elif comparator in ("<", "<="):
            edge = band_index(self.bands, x, below=comparator == "<", given=given)
            hits = list(self.bands[: edge + 1])
        elif comparator in (">", ">="):
            edge = band_index(self.bands, x, above=comparator == ">", given=given)
            hits = list(self.bands[edge:])
        else:
            raise ValueError(f"unknown comparator {comparator!r}")
        statuses = {b.status for b in hits}
        if len(statuses) != 1:
            return None
        return Classification(hits[0].status, hits[0].band if len(hits) == 1 else None)


def band_index(
    bands: tuple[Band, ...],
    x: Decimal,
    *,
    below: bool = False,
    above: bool = False,
    given: tuple[Decimal, str] | None = None,
) -> int:
    """Index of the band holding ``x`` (or the values just below / just above it)."""
    for i, band in enumerate(bands):
        if below and band.contains_just_below(x, given):
            return i
        if above and band.contains_just_above(x, given):
            return i
        if not below and not above and band.contains(x, given):
            return i
    raise ValueError(f"{x} is outside every band")  # unreachable for a validated table


@dataclass(frozen=True)
class ReferenceTable:
    caveat: str
    analytes: tuple[AnalyteSpec, ...]
    path: Path

    def spec(self, analyte: str) -> AnalyteSpec:
        for spec in self.analytes:
            if spec.analyte == analyte:
                return spec
        raise KeyError(analyte)


def _plain(x: Decimal | None) -> str:
    """A threshold as people write it: 0.40 stays 0.40, 148 stays 148."""
    return format(x, "f") if x is not None else ""


def _decimal(value: Any, where: str, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ReferenceTableError(f"{where}: '{field}' must be a number, not {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ReferenceTableError(f"{where}: '{field}' must be a number, not {value!r}") from None
    if not number.is_finite():
        raise ReferenceTableError(f"{where}: '{field}' must be a finite number, not {value!r}")
    return number


def _text(row: dict, key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ReferenceTableError(f"{where}: '{key}' must be a non-empty text")
    return value.strip()


def _rows(data: dict, key: str, path: Path) -> list[dict]:
    rows = data.get(key)
    if not isinstance(rows, list) or not rows:
        raise ReferenceTableError(f"{path}: '{key}' must be a non-empty list of rows")
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ReferenceTableError(f"{path}: {key} row {i} must be a mapping, not {row!r}")
    return rows


def _where(path: Path, key: str, i: int, row: dict) -> str:
    label = "/".join(str(row.get(k)) for k in ("analyte", "status", "band", "unit") if row.get(k))
    return f"{path}: {key} row {i} ({label})" if label else f"{path}: {key} row {i}"


def _bound(row: dict, side: str, where: str) -> tuple[Decimal | None, bool]:
    if side not in row:
        raise ReferenceTableError(f"{where}: '{side}' is missing (write null for no bound)")
    flag = f"{side}_inclusive"
    if row[side] is None:
        if row.get(flag):
            raise ReferenceTableError(f"{where}: '{flag}' makes no sense without a {side} bound")
        return None, False
    if not isinstance(row.get(flag), bool):
        raise ReferenceTableError(f"{where}: '{flag}' must be true or false")
    return _decimal(row[side], where, side), row[flag]


def _parse_band(row: dict, where: str, specs: dict[str, dict]) -> Band:
    analyte = _text(row, "analyte", where)
    if analyte not in specs:
        raise ReferenceTableError(f"{where}: unknown analyte {analyte!r}")
    status = _text(row, "status", where)
    band = _text(row, "band", where) if "band" in row else status
    unit = _text(row, "unit", where)
    if unit != specs[analyte]["canonical_unit"]:
        raise ReferenceTableError(
            f"{where}: unit {unit!r} is not the canonical unit "
            f"{specs[analyte]['canonical_unit']!r} of {analyte}"
        )
    lower, lower_inclusive = _bound(row, "lower", where)
    upper, upper_inclusive = _bound(row, "upper", where)
    if lower is not None and upper is not None and lower >= upper:
        raise ReferenceTableError(f"{where}: 'lower' ({lower}) must be below 'upper' ({upper})")
    source = _text(row, "source", where)
    stated = {}
    for side, bound in (("lower", lower), ("upper", upper)):
        stated[side] = _stated_bounds(row, side, bound, where, specs[analyte])
    return Band(analyte, status, band, lower, lower_inclusive, upper, upper_inclusive, unit,
                source, stated["lower"], stated["upper"])


# A cut-off stated in another unit must agree with the canonical one to within this share
# (a typing check: 40 for 4 fails).
STATED_TOLERANCE = Decimal("0.1")  # sources round: WHO gives 10 nmol/L as 4 ng/mL (9.06)


def _stated_bounds(row: dict, side: str, bound: Decimal | None, where: str, spec: dict):
    key = f"{side}_in"
    stated = row.get(key)
    if stated is None:
        return ()
    if bound is None or not isinstance(stated, dict) or not stated:
        raise ReferenceTableError(f"{where}: '{key}' needs a {side} bound and a unit: value map")
    out = []
    for unit, value in stated.items():
        factor = spec["factors"].get(unit)
        if factor is None or unit == spec["canonical_unit"]:
            raise ReferenceTableError(f"{where}: '{key}' names {unit!r}, not another unit here")
        number = _decimal(value, where, f"{key}.{unit}")
        if abs(EXACT.multiply(number, factor) - bound) > bound * STATED_TOLERANCE:
            raise ReferenceTableError(
                f"{where}: '{key}' {number} {unit} does not match the {side} bound {bound}"
            )
        out.append((unit, number))
    return tuple(out)


def _check_coverage(bands: list[tuple[str, Band]], analyte: str, path: Path) -> None:
    """Each value must fall in exactly one band: no gap, no overlap, no repeated status."""
    if not bands:
        raise ReferenceTableError(f"{path}: analyte {analyte!r} has no ranges rows")
    first_where, first = bands[0]
    if first.lower is not None:
        raise ReferenceTableError(f"{first_where}: the lowest band of {analyte} needs lower: null")
    last_where, last = bands[-1]
    if last.upper is not None:
        raise ReferenceTableError(f"{last_where}: the highest band of {analyte} needs upper: null")
    seen_statuses = [first.status]
    for (_, below), (where, above) in pairwise(bands):
        if below.upper is None or above.lower != below.upper:
            raise ReferenceTableError(
                f"{where}: 'lower' must equal the previous row's upper bound "
                f"({below.upper}) so that the bands of {analyte} leave no gap or overlap"
            )
        if dict(below.upper_in) != dict(above.lower_in):
            raise ReferenceTableError(
                f"{where}: 'lower_in' must state the same units and values as the previous "
                "row's 'upper_in' (one cut-off, one set of units)"
            )
        if below.upper_inclusive == above.lower_inclusive:
            raise ReferenceTableError(
                f"{where}: exactly one of this row's lower bound and the previous row's upper "
                f"bound ({below.upper}) must be inclusive"
            )
        if above.status != seen_statuses[-1]:
            if above.status in seen_statuses:
                raise ReferenceTableError(f"{where}: status {above.status!r} appears in two places")
            seen_statuses.append(above.status)


def load_reference_table(path: Path = REFERENCE_RANGES_PATH) -> ReferenceTable:
    """Read and validate the table; raises ReferenceTableError naming the bad row."""
    path = Path(path)
    data = read_yaml(path, ReferenceTableError)
    if not isinstance(data, dict):
        raise ReferenceTableError(f"{path}: must be a mapping with analytes, conversions, ranges")
    caveat = _text(data, "caveat", str(path))

    specs: dict[str, dict] = {}
    for i, row in enumerate(_rows(data, "analytes", path), start=1):
        where = _where(path, "analytes", i, row)
        analyte = _text(row, "analyte", where)
        if analyte not in ANALYTES:
            raise ReferenceTableError(f"{where}: unknown analyte {analyte!r} (known: {ANALYTES})")
        if analyte in specs:
            raise ReferenceTableError(f"{where}: analyte {analyte!r} is listed twice")
        low = _decimal(row.get("plausible_min"), where, "plausible_min")
        high = _decimal(row.get("plausible_max"), where, "plausible_max")
        if not 0 < low < high:
            raise ReferenceTableError(f"{where}: need 0 < plausible_min < plausible_max")
        _text(row, "source", where)
        specs[analyte] = {
            "name": _text(row, "name", where),
            "canonical_unit": _text(row, "canonical_unit", where),
            "plausible": (low, high),
        }
    missing = [a for a in ANALYTES if a not in specs]
    if missing:
        raise ReferenceTableError(f"{path}: analytes is missing {missing}")

    conversions: dict[str, list[Conversion]] = {a: [] for a in specs}
    for i, row in enumerate(_rows(data, "conversions", path), start=1):
        where = _where(path, "conversions", i, row)
        analyte = _text(row, "analyte", where)
        if analyte not in specs:
            raise ReferenceTableError(f"{where}: unknown analyte {analyte!r}")
        unit = _text(row, "unit", where)
        factor = _decimal(row.get("factor"), where, "factor")
        if factor <= 0:
            raise ReferenceTableError(f"{where}: 'factor' must be above zero")
        if any(c.unit == unit for c in conversions[analyte]):
            raise ReferenceTableError(f"{where}: unit {unit!r} is listed twice for {analyte}")
        if unit == specs[analyte]["canonical_unit"] and factor != 1:
            raise ReferenceTableError(f"{where}: the canonical unit must have factor 1")
        conversions[analyte].append(Conversion(analyte, unit, factor, _text(row, "source", where)))
    for analyte, spec in specs.items():
        spec["factors"] = {c.unit: c.factor for c in conversions[analyte]}
        units = [c.unit for c in conversions[analyte]]
        if not units or units[0] != spec["canonical_unit"]:
            raise ReferenceTableError(
                f"{path}: the first conversion of {analyte} must be its canonical unit "
                f"{spec['canonical_unit']!r}"
            )

    bands: dict[str, list[tuple[str, Band]]] = {a: [] for a in specs}
    for i, row in enumerate(_rows(data, "ranges", path), start=1):
        where = _where(path, "ranges", i, row)
        band = _parse_band(row, where, specs)
        bands[band.analyte].append((where, band))
    for analyte in specs:
        _check_coverage(bands[analyte], analyte, path)

    return ReferenceTable(
        caveat=" ".join(caveat.split()),
        analytes=tuple(
            AnalyteSpec(
                analyte=analyte,
                name=spec["name"],
                canonical_unit=spec["canonical_unit"],
                plausible_min=spec["plausible"][0],
                plausible_max=spec["plausible"][1],
                conversions=tuple(conversions[analyte]),
                bands=tuple(b for _, b in bands[analyte]),
            )
            for analyte, spec in specs.items()
        ),
        path=path,
    )


@lru_cache(maxsize=1)
def reference_table() -> ReferenceTable:
    """The project's table, loaded and validated once per process."""
    return load_reference_table()
