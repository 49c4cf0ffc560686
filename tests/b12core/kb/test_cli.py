"""`python -m b12core.kb`: one JSON object, readable text, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run_cli(project_root, *args, stdin=None):
    env = {**os.environ, "PYTHONPATH": str(project_root)}
    result = subprocess.run(
        [sys.executable, "-m", "b12core.kb", *args],
        cwd=project_root,
        capture_output=True,
        timeout=120,
        env=env,
    )
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    return result


def test_json_answer_is_what_the_assistant_quotes(project_root):
    result = run_cli(project_root, "can b12 reverse fibrosis", "--json")
    assert result.returncode == 0
    payload = json.loads(result.stdout.decode().strip())
    assert set(payload) == {"query", "covered", "kind", "passages", "closest"}
    assert payload["covered"] is True
    ids = [p["passage_id"] for p in payload["passages"]]
    assert ids[0] == "potential-benefits-of-b12-for-advanced-fatty-liver-04"
    assert "in preclinical models" in payload["passages"][0]["text"]  # the caveat travels


def test_json_answer_says_not_covered_for_a_definition_the_article_lacks(project_root):
    payload = json.loads(run_cli(project_root, "what is nash", "--json").stdout)
    assert payload["covered"] is False and payload["passages"] == []
    assert payload["kind"] == "definition"


def test_json_search_ranking(project_root):
    result = run_cli(project_root, "can b12 reverse fibrosis", "--json", "--search", "--k", "2")
    assert result.returncode == 0
    lines = result.stdout.decode().strip().splitlines()
    assert len(lines) == 1
    payload = json.loads(lines[0])
    assert set(payload) == {"query", "covered", "results"}
    assert payload["query"] == "can b12 reverse fibrosis"
    assert payload["covered"] is True
    assert len(payload["results"]) == 2
    first = payload["results"][0]
    assert set(first) == {"passage_id", "section", "text", "score"}
    assert first["passage_id"] == "potential-benefits-of-b12-for-advanced-fatty-liver-04"
    assert first["section"] == "Potential Benefits of B12 for Advanced Fatty Liver"
    assert "reverse fibrosis" in first["text"]
    assert payload["results"][0]["score"] >= payload["results"][1]["score"]


def test_json_not_covered(project_root):
    payload = json.loads(run_cli(project_root, "how do i lose weight fast", "--json").stdout)
    assert payload["covered"] is False
    searched = run_cli(project_root, "how do i lose weight fast", "--json", "--search").stdout
    assert json.loads(searched)["covered"] is False


def test_readable_answer_names_the_section_and_the_disclaimer(project_root):
    out = run_cli(project_root, "what is the rda for b12").stdout.decode()
    assert '"The general Recommended Dietary Allowance (RDA)' in out
    assert 'section "Recommended B12 Dosages"' in out
    assert "not medical advice" in out


def test_readable_not_covered(project_root):
    out = run_cli(project_root, "who won the football game").stdout.decode()
    assert "doesn't cover that" in out


@pytest.mark.parametrize(
    ("arg", "code"),
    [("", "empty"), ("a" * 100_000, "too_long"), (b"\xff\xfe\xfd\x01\x02 \x03\x04", "unreadable")],
)
def test_bad_input_gives_error_json(project_root, arg, code):
    result = run_cli(project_root, arg, "--json")
    assert result.returncode == 0
    payload = json.loads(result.stdout)
    assert payload["covered"] is False
    assert payload["passages"] == []
    assert payload["error"]["code"] == code
    assert len(payload["query"]) <= 200


def test_check(project_root):
    result = run_cli(project_root, "--check")
    assert result.returncode == 0
    assert b"32 passages" in result.stdout
