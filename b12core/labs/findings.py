"""Which findings a set of statuses raises, and what each finding says.

The rules are a table (FINDING_RULES) evaluated by a few lines of code; the words are
data (knowledge/finding_quotes.yml: a summary and passage ids per finding), resolved
against the knowledge base once per process so that every quote is the article's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from b12core.knowledge import knowledge_file, read_yaml
from b12core.labs.models import FINDING_IDS, LIVER_CONDITIONS, OTHER_LIVER, Finding, Quote
from b12core.labs.reference import ReferenceTable

FINDING_QUOTES_PATH = knowledge_file("finding_quotes.yml")
MAX_QUOTES = 3


class FindingTableError(ValueError):
    """finding_quotes.yml is malformed or names a passage the KB does not have."""


@dataclass(frozen=True)
class Facts:
    """What the rules look at: statuses per analyte, analytes given at all, the condition."""

    statuses: dict[str, frozenset[str]]
    given: frozenset[str]
    condition: str
    every_value_normal: bool
    bands: dict[str, frozenset[str]] = field(default_factory=dict)
    b12_treatment: bool = False


@dataclass(frozen=True)
class Has:
    """Some value of ``analyte`` has one of ``statuses``."""

    analyte: str
    statuses: tuple[str, ...]

    def holds(self, facts: Facts) -> bool:
        return bool(facts.statuses.get(self.analyte, frozenset()) & set(self.statuses))


@dataclass(frozen=True)
class InBand:
    """Some value of ``analyte`` is in one of ``bands`` (e.g. homocysteine "severe")."""

    analyte: str
    bands: tuple[str, ...]

    def holds(self, facts: Facts) -> bool:
        return bool(facts.bands.get(self.analyte, frozenset()) & set(self.bands))


@dataclass(frozen=True)
class NotGiven:
    """No value of ``analyte`` could be placed (none given, or none readable)."""

    analyte: str

    def holds(self, facts: Facts) -> bool:
        return not facts.statuses.get(self.analyte)


@dataclass(frozen=True)
class Treated:
    """B12 injections, tablets or supplements were mentioned (``expected`` True), or not."""

    expected: bool = True

    def holds(self, facts: Facts) -> bool:
        return facts.b12_treatment == self.expected


@dataclass(frozen=True)
class AnyOf:
    clauses: tuple[Has, ...]

    def holds(self, facts: Facts) -> bool:
        return any(c.holds(facts) for c in self.clauses)


@dataclass(frozen=True)
class ConditionIn:
    conditions: tuple[str, ...]

    def holds(self, facts: Facts) -> bool:
        return facts.condition in self.conditions


@dataclass(frozen=True)
class EveryValueNormal:
    """At least one value, every value normal, and none left unread."""

    def holds(self, facts: Facts) -> bool:
        return facts.every_value_normal


@dataclass(frozen=True)
class Rule:
    finding_id: str
    when: tuple[Has | InBand | NotGiven | Treated | AnyOf | ConditionIn | EveryValueNormal, ...]

    def holds(self, facts: Facts) -> bool:
        return all(clause.holds(facts) for clause in self.when)


# Every value outside its range raises at least one finding (a test proves it over every
# status and combination); none pairs a confirmation with a treatment.
FINDING_RULES: tuple[Rule, ...] = (
    Rule("homocysteine_severe", (InBand("homocysteine", ("severe",)),)),
    Rule(
        "b12_high_liver",
        (Has("b12", ("high",)), ConditionIn((*LIVER_CONDITIONS, OTHER_LIVER)), Treated(False)),
    ),
    Rule(
        "b12_high_unexplained",
        (Has("b12", ("high",)), ConditionIn(("unknown",)), Treated(False)),
    ),
    Rule("b12_high_no_liver", (Has("b12", ("high",)), ConditionIn(("none",)), Treated(False))),
    Rule("b12_high_treatment", (Has("b12", ("high",)), Treated(True))),
    Rule(
        "functional_deficiency_possible",
        (
            Has("b12", ("normal", "high")),
            AnyOf((Has("mma", ("elevated",)), Has("homocysteine", ("elevated",)))),
        ),
    ),
    Rule("deficiency_confirm_mma", (Has("b12", ("deficient", "borderline")), NotGiven("mma"))),
    Rule(
        "deficiency_supported", (Has("b12", ("deficient", "borderline")), Has("mma", ("elevated",)))
    ),
    Rule("b12_low_mma_normal", (Has("b12", ("deficient", "borderline")), Has("mma", ("normal",)))),
    Rule("mma_elevated", (Has("mma", ("elevated",)), NotGiven("b12"))),
    Rule("homocysteine_elevated", (Has("homocysteine", ("elevated",)),)),
    Rule("folate_low", (Has("folate", ("deficient", "low")),)),
    Rule("all_normal", (EveryValueNormal(),)),
)


def matching_finding_ids(facts: Facts, rules: tuple[Rule, ...] = FINDING_RULES) -> tuple[str, ...]:
    return tuple(rule.finding_id for rule in rules if rule.holds(facts))


def _status_clauses(rule: Rule):
    for clause in rule.when:
        if isinstance(clause, Has | InBand):
            yield clause
        elif isinstance(clause, AnyOf):
            yield from clause.clauses


def check_rules_against_table(
    table: ReferenceTable, rules: tuple[Rule, ...] = FINDING_RULES
) -> None:
    """Every status a rule names must exist in the table (a renamed band cannot go silent)."""
    for rule in rules:
        if rule.finding_id not in FINDING_IDS:
            raise FindingTableError(f"rule for unknown finding {rule.finding_id!r}")
        for clause in _status_clauses(rule):
            spec = table.spec(clause.analyte)
            if isinstance(clause, InBand):
                known = tuple(b.band for b in spec.bands)
                names = clause.bands
            else:
                known, names = spec.statuses, clause.statuses
            unknown = [s for s in names if s not in known]
            if unknown:
                raise FindingTableError(
                    f"rule {rule.finding_id}: {clause.analyte} has no status {unknown} "
                    f"in {table.path} (it has {list(known)})"
                )


@dataclass(frozen=True)
class FindingText:
    summary: str
    passage_ids: tuple[str, ...]


def load_finding_texts(path: Path = FINDING_QUOTES_PATH) -> dict[str, FindingText]:
    """Summary and passage ids per finding; every finding id, no other."""
    path = Path(path)
    data = read_yaml(path, FindingTableError)
    findings = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(findings, dict):
        raise FindingTableError(f"{path}: needs a 'findings' mapping")
    unknown = sorted(set(findings) - set(FINDING_IDS))
    missing = [f for f in FINDING_IDS if f not in findings]
    if unknown or missing:
        raise FindingTableError(f"{path}: unknown finding ids {unknown}, missing {missing}")
    texts = {}
    for finding_id in FINDING_IDS:
        entry = findings[finding_id]
        where = f"{path}: {finding_id}"
        if not isinstance(entry, dict):
            raise FindingTableError(f"{where} must be a mapping with summary and passages")
        summary = entry.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise FindingTableError(f"{where}: 'summary' must be a non-empty text")
        passages = entry.get("passages")
        if (
            not isinstance(passages, list)
            or not 1 <= len(passages) <= MAX_QUOTES
            or not all(isinstance(p, str) and p for p in passages)
            or len(set(passages)) != len(passages)
        ):
            raise FindingTableError(
                f"{where}: 'passages' must list 1 to {MAX_QUOTES} different passage ids"
            )
        texts[finding_id] = FindingText(" ".join(summary.split()), tuple(passages))
    return texts


def resolve_findings(
    texts: dict[str, FindingText], passage: Callable[[str], object], source: str = "the KB"
) -> dict[str, Finding]:
    """Attach the verbatim passages; an unknown passage id fails here, at start-up."""
    resolved = {}
    for finding_id, text in texts.items():
        quotes = []
        for passage_id in text.passage_ids:
            try:
                p = passage(passage_id)
            except KeyError:
                raise FindingTableError(
                    f"{finding_id}: passage {passage_id!r} is not in {source}"
                ) from None
            quotes.append(Quote(passage_id=p.passage_id, section=p.section, text=p.text))
        resolved[finding_id] = Finding(id=finding_id, summary=text.summary, quotes=tuple(quotes))
    return resolved


@lru_cache(maxsize=1)
def finding_catalogue() -> dict[str, Finding]:
    """Every finding with its summary and quotes, built once per process."""
    from b12core.kb import load_kb
    from b12core.labs.reference import reference_table

    check_rules_against_table(reference_table())
    kb = load_kb()
    return resolve_findings(load_finding_texts(), kb.passage, source="knowledge/kb.json")
