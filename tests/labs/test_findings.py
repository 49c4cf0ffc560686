"""The finding table: the eight ids, verbatim quotes from the KB, careful summaries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from actions.kb import load_kb
from actions.labs.findings import (
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
from actions.labs.models import FINDING_IDS
from actions.labs.reference import reference_table

PROJECT_ROOT = Path(__file__).resolve().parents[2]
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
