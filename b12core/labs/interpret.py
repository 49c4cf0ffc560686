"""``interpret(panel) -> Interpretation``: place each value in a band and raise findings.

Pure and deterministic: the same panel always gives the same answer, every threshold
comes from the reference table, and a value that cannot be placed without guessing
(unknown unit, a missing unit that matters, an implausible number) becomes an error for
that value alone while the others are still interpreted.
"""

from __future__ import annotations

from b12core.labs.findings import Facts, finding_catalogue, matching_finding_ids
from b12core.labs.models import (
    ANALYTES,
    CONDITIONS,
    UNKNOWN_CONDITION,
    Interpretation,
    LabError,
    LabInput,
    LabPanel,
    LabResult,
    plain_number,
)
from b12core.labs.notes import panel_notes
from b12core.labs.reference import AnalyteSpec, ReferenceTable, reference_table
from b12core.texts import say


def _or_list(items: tuple[str, ...] | list[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def no_values_error(too_long: bool = False) -> LabError:
    message = say("labs.too_long" if too_long else "labs.no_values",
                  example=say("labs.example_message"))
    return LabError(code="no_values", message=message)


def _invalid(spec: AnalyteSpec, item: LabInput, reason: str) -> LabError:
    shown = f"'{item.text}'" if item.text else say("labs.that_value")
    return LabError(code="invalid_value", message=say(f"labs.invalid.{reason}", name=spec.name,
                                                      shown=shown), analyte=spec.analyte)


def _implausible(spec: AnalyteSpec, item: LabInput) -> LabError:
    return LabError(
        code="implausible_value",
        message=say("labs.implausible", name=spec.name,
                    shown=item.text or plain_number(item.value)),
        analyte=spec.analyte,
    )


def _unknown_unit(spec: AnalyteSpec, item: LabInput) -> LabError:
    return LabError(
        code="unknown_unit",
        message=say("labs.unknown_unit", unit=item.unit, name=spec.name,
                    units=_or_list(spec.accepted_units)),
        analyte=spec.analyte,
        units=spec.accepted_units,
    )


def _unit_needed(spec: AnalyteSpec, item: LabInput, units: list[str]) -> LabError:
    return LabError(
        code="unit_needed",
        message=say("labs.unit_needed", name=spec.name,
                    shown=item.text or plain_number(item.value), units=_or_list(units)),
        analyte=spec.analyte,
        units=tuple(units),
    )


def evaluate(item: LabInput, table: ReferenceTable) -> LabResult | LabError:
    """One value: its band, or the one error that stops us from placing it honestly."""
    spec = table.spec(item.analyte)
    if item.value is None or not item.value.is_finite():
        return _invalid(spec, item, "not_a_number")
    if item.value <= 0:
        return _invalid(spec, item, "not_positive")

    if item.unit is not None and spec.factor(item.unit) is None:
        return _unknown_unit(spec, item)
    # Without a unit, every accepted unit under which the value is plausible is a candidate.
    candidates = [item.unit] if item.unit is not None else spec.accepted_units
    placed = []
    for unit in candidates:
        canonical = spec.to_canonical(item.value, unit)
        if not spec.is_plausible(canonical):
            continue
        classification = spec.classify(canonical, item.comparator, (item.value, unit))
        if classification is None:
            return _invalid(spec, item, "open_bound")
        placed.append((unit, canonical, classification))
    if not placed:
        return _implausible(spec, item)
    if len({(c.status, c.band) for _, _, c in placed}) > 1:
        return _unit_needed(spec, item, [unit for unit, _, _ in placed])
    unit, canonical, classification = placed[0]
    return LabResult(
        analyte=spec.analyte,
        value=item.value,
        unit=unit,
        canonical_value=canonical,
        canonical_unit=spec.canonical_unit,
        status=classification.status,
        band=classification.band,
        assumed_unit=item.unit is None,
        comparator=item.comparator,
        lab_range=item.lab_range,
        flag=item.flag,
        when=item.when,
    )


def interpret(panel: LabPanel, table: ReferenceTable | None = None) -> Interpretation:
    """Every value of the panel placed or explained, and the findings they raise."""
    table = table or reference_table()
    condition = panel.condition if panel.condition in CONDITIONS else UNKNOWN_CONDITION
    results: list[LabResult] = []
    errors: list[LabError] = []
    for item in panel.values:
        if item.analyte not in ANALYTES:
            continue  # not something a parser can produce; skipping beats failing a reply
        outcome = evaluate(item, table)
        (results if isinstance(outcome, LabResult) else errors).append(outcome)
    if not panel.values:
        errors.append(no_values_error(panel.too_long))

    if not panel.values and (panel.notes or panel.earlier):
        errors.clear()  # what was read is said in the notes; "no values" would contradict it

    statuses: dict[str, set[str]] = {}
    bands: dict[str, set[str]] = {}
    for result in results:
        statuses.setdefault(result.analyte, set()).add(result.status)
        if result.band:
            bands.setdefault(result.analyte, set()).add(result.band)
    facts = Facts(
        statuses={a: frozenset(s) for a, s in statuses.items()},
        given=frozenset(item.analyte for item in panel.values),
        condition=condition,
        every_value_normal=bool(results)
        and not errors
        and all(r.status == "normal" for r in results),
        bands={a: frozenset(b) for a, b in bands.items()},
        b12_treatment=panel.b12_treatment,
    )
    catalogue = finding_catalogue()
    findings = tuple(catalogue[f] for f in matching_finding_ids(facts))
    earlier = []
    for item in panel.earlier:
        outcome = evaluate(item, table) if item.analyte in ANALYTES else None
        if isinstance(outcome, LabResult):
            earlier.append(outcome)
    names = {spec.analyte: spec.name for spec in table.analytes}
    return Interpretation(
        values=tuple(results),
        condition=condition,
        findings=findings,
        errors=tuple(errors),
        caveat=table.caveat,
        earlier=tuple(earlier),
        notes=panel_notes(panel, names),
    )
