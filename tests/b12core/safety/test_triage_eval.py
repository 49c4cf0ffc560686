"""The triage table on the outsider sets: every tuning case right, and the untouched
test half reported per class (tests/b12core/safety/redflag_sets.py says which is which)."""

from __future__ import annotations

from b12core.safety import triage
from tests.b12core.safety.redflag_sets import (
    held_out_cases,
    meets_targets,
    score,
    summary,
    tune_cases,
)


def test_every_tuning_case_is_right():
    cases = tune_cases()
    assert len(cases) >= 900
    wrong = [(c.source, c.klass, c.text) for c in cases if triage(c.text).urgent != c.urgent]
    assert wrong == []


def test_the_untouched_test_half_meets_the_bar(report_figure):
    cases = held_out_cases()
    assert len(cases) >= 200
    hits = [triage(c.text).urgent == c.urgent for c in cases]
    scores = score(cases, hits)
    for line in summary(scores, cases):
        report_figure(f"red-flag triage, held-out half (triage module alone): {line}")
    # Counts only: the held-out texts stay unseen, so the half stays held out.
    assert meets_targets(scores) == []
