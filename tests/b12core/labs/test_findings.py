"""The finding table: the eight ids, verbatim quotes from the KB, careful summaries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from b12core.kb import load_kb
from b12core.labs.findings import (
    FINDING_QUOTES_PATH,
    FINDING_RULES,
    Facts,
    FindingTableError,
    check_rules_against_table,
    finding_catalogue,
    load_finding_texts,
    matching_finding_ids,
    resolve_findings,
)
from b12core.labs.models import FINDING_IDS
from b12core.labs.reference import reference_table

PROJECT_ROOT = Path(__file__).resolve().parents[3]
ARTICLE = (PROJECT_ROOT / "knowledge" / "article.md").read_text(encoding="utf-8")

# Words a summary must never use: reassurance, diagnosis, doses. Medicine is quoted only.
FORBIDDEN = re.compile(
    r"\b(fine|nothing to worry|no need to worry|healthy|diagnos\w*|you have|dose|doses|dosage"
    r"|mcg|µg|mg|take|supplement\w*|inject\w*|deficiency is)\b",
    re.IGNORECASE,
)


def test_table_has_exactly_the_eight_findings():
    texts = load_finding_texts()
    assert tuple(texts) == FINDING_IDS
    assert [rule.finding_id for rule in FINDING_RULES] == list(FINDING_IDS)


def test_every_passage_exists_and_every_quote_is_verbatim_in_the_article():
    kb = load_kb()
    for finding in finding_catalogue().values():
        assert 1 <= len(finding.quotes) <= 3
        for quote in finding.quotes:
            passage = kb.passage(quote.passage_id)
            assert ARTICLE[passage.start : passage.end] == passage.text
            assert quote.text == passage.text and quote.text in ARTICLE
            assert quote.section == passage.section


def test_passage_ids_in_the_yaml_all_exist():
    kb = load_kb()
    data = yaml.safe_load(FINDING_QUOTES_PATH.read_text(encoding="utf-8"))
    for entry in data["findings"].values():
        for passage_id in entry["passages"]:
            kb.passage(passage_id)  # KeyError if unknown


@pytest.mark.parametrize("finding_id", FINDING_IDS)
def test_summaries_do_not_reassure_diagnose_or_dose(finding_id):
    summary = finding_catalogue()[finding_id].summary
    assert not FORBIDDEN.search(summary), FORBIDDEN.search(summary)
    assert not re.search(r"\d", summary.replace("B12", ""))  # thresholds live in the table


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(FINDING_QUOTES_PATH.read_text(encoding="utf-8"))
    mutate(data["findings"])
    path = tmp_path / "finding_quotes.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.pop("all_normal"), r"missing \['all_normal'\]"),
        (
            lambda f: f.update(b12_low={"summary": "x", "passages": ["a"]}),
            r"unknown finding ids \['b12_low'\]",
        ),
        (lambda f: f["folate_low"].update(passages=[]), r"folate_low: 'passages' must list 1 to 3"),
        (
            lambda f: f["folate_low"].update(passages=["a", "b", "c", "d"]),
            r"folate_low: 'passages'",
        ),
        (lambda f: f["folate_low"].update(summary=" "), r"folate_low: 'summary'"),
    ],
)
def test_malformed_finding_table_fails_fast(tmp_path, mutate, message):
    with pytest.raises(FindingTableError, match=message):
        load_finding_texts(_write(tmp_path, mutate))


def test_unknown_passage_id_fails_at_load(tmp_path):
    path = _write(tmp_path, lambda f: f["all_normal"].update(passages=["no-such-passage-01"]))
    with pytest.raises(FindingTableError, match="all_normal: passage 'no-such-passage-01'"):
        resolve_findings(load_finding_texts(path), load_kb().passage)


def test_rules_name_only_statuses_the_table_has():
    check_rules_against_table(reference_table())


def test_no_finding_without_values():
    facts = Facts(statuses={}, given=frozenset(), condition="unknown", every_value_normal=False)
    assert matching_finding_ids(facts) == ()


# --- quotes that stand on their own (knowledge/passage_links.yml) ----------------------

LINKS = yaml.safe_load(
    (PROJECT_ROOT / "knowledge" / "passage_links.yml").read_text(encoding="utf-8")
)
# Words with which a sentence points back to the one before it.
POINTS_BACK = re.compile(r"^(This|These|That|Those|Such|However|It|They|Despite)\b|these cases")


def test_every_passage_that_points_back_is_linked_to_what_it_points_to():
    kb = load_kb()
    for passage in kb.passages:
        if POINTS_BACK.search(passage.text) and not passage.text.startswith(
            ("Despite the issue", "This article")
        ):
            assert passage.passage_id in LINKS["needs_before"], passage.passage_id
    every_id = {p.passage_id for p in kb.passages}
    for table in ("needs_before", "needs_after", "needs_with"):
        for passage_id, needed in LINKS[table].items():
            assert passage_id in every_id and set(needed) <= every_id


@pytest.mark.parametrize("finding_id", FINDING_IDS)
def test_every_quote_a_finding_can_emit_stands_on_its_own(finding_id):
    ids = [q.passage_id for q in finding_catalogue()[finding_id].quotes]
    for i, passage_id in enumerate(ids):
        before = LINKS["needs_before"].get(passage_id, [])
        assert ids[max(0, i - len(before)) : i] == before, (finding_id, passage_id)
        after = LINKS["needs_after"].get(passage_id, [])
        assert ids[i + 1 : i + 1 + len(after)] == after, (finding_id, passage_id)
        assert set(LINKS["needs_with"].get(passage_id, [])) <= set(ids), (finding_id, passage_id)
    confirms = set(ids) & set(LINKS["confirmations"])
    treats = set(ids) & set(LINKS["treatments"])
    assert not (confirms and treats), finding_id


def _facts(statuses: dict, condition: str, treated: bool, bands: dict) -> Facts:
    return Facts(
        statuses={a: frozenset({s}) for a, s in statuses.items()},
        given=frozenset(statuses),
        condition=condition,
        every_value_normal=bool(statuses) and all(s == "normal" for s in statuses.values()),
        bands=bands,
        b12_treatment=treated,
    )


def test_every_status_outside_the_range_raises_a_finding_that_names_it():
    """All combinations of statuses, conditions and treatment: none left without a word."""
    import itertools

    from b12core.labs.findings import AnyOf, Has, InBand
    from b12core.labs.models import CONDITIONS
    from b12core.labs.questions import clinician_questions

    table = reference_table()
    choices = {spec.analyte: (None, *[(b.status, b.band) for b in spec.bands])
               for spec in table.analytes}
    analytes = list(choices)
    combos = 0
    for picked in itertools.product(*(choices[a] for a in analytes)):
        given = {a: p for a, p in zip(analytes, picked, strict=True) if p is not None}
        statuses = {a: p[0] for a, p in given.items()}
        bands = {a: frozenset({p[1]}) for a, p in given.items()}
        for condition, treated in itertools.product(CONDITIONS, (False, True)):
            facts = _facts(statuses, condition, treated, bands)
            ids = matching_finding_ids(facts)
            combos += 1
            for analyte, status in statuses.items():
                if status == "normal":
                    continue
                covering = []
                for rule in FINDING_RULES:
                    if rule.finding_id not in ids:
                        continue
                    clauses = [
                        c for clause in rule.when
                        for c in (clause.clauses if isinstance(clause, AnyOf) else (clause,))
                    ]
                    if any(isinstance(c, Has | InBand) and c.analyte == analyte
                           for c in clauses):
                        covering.append(rule.finding_id)
                assert covering, (analyte, status, condition, treated, statuses)
                assert clinician_questions(tuple(covering))
    assert combos > 1000
