"""Scoring of the outsider question sets (tests/data/kb_questions_v2.yml to _v9.yml).

Not collected by pytest (no ``test_`` prefix): tests import ``score`` and print counts
only, so a test half is never shown question by question.

A question the article answers is right when the first passage group shown contains one
of the sentences its author marked as answering it; a question it does not answer is right
when the answer is "not covered".
"""

from __future__ import annotations

from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parents[3] / "tests" / "data"
SETS = {name: DATA / f"kb_questions_{name}.yml"
        for name in ("v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9")}


def load_cases(half: str, name: str) -> list[dict]:
    with SETS[name].open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)[half]


def _plain(text: str) -> str:
    return " ".join(text.replace("**", "").split())


def gold_passages(kb, case: dict) -> set[str]:
    """The passages that hold one of the sentences marked as answering the question."""
    return {p.passage_id for sentence in case.get("answers", ()) for p in kb.passages
            if _plain(sentence) in _plain(p.text)}


def is_right(kb, case: dict) -> bool:
    answer = kb.answer(case["q"])
    if not case["covered"]:
        return not answer.covered
    if not answer.covered:
        return False
    first_group = {p.passage_id for p in kb.whole([kb.passage(answer.answering[0])])}
    return bool(first_group & gold_passages(kb, case))


def score(kb, half: str, name: str) -> dict[str, tuple[int, int]]:
    """{"covered": (right, total), "not_covered": (right, total)}."""
    result = {"covered": [0, 0], "not_covered": [0, 0]}
    for case in load_cases(half, name):
        key = "covered" if case["covered"] else "not_covered"
        result[key][1] += 1
        result[key][0] += is_right(kb, case)
    return {k: (v[0], v[1]) for k, v in result.items()}
