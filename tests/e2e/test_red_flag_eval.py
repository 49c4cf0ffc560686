"""The held-out red-flag set over REST against the real servers: every urgent message gets
the urgent or crisis reply first and alone, every calm one gets its answer.

Each message opens its own conversation, as a patient's first message would (the hardest
case: the urgent reply must come before the opening disclaimer).
"""

from __future__ import annotations

import pytest

from b12core.disclaimer import full_disclaimer, general_disclaimer
from b12core.safety import messages
from tests.b12core.safety.redflag_sets import held_out_cases, meets_targets, score, summary

pytestmark = pytest.mark.e2e


def verdict(texts: list[str]) -> str:
    """'urgent', 'crisis', or 'answered' (anything else that says something)."""
    replies = messages()
    joined = "\n\n".join(texts)  # Rasa's output channels split a text at blank lines
    if joined == replies.crisis:
        return "crisis"
    if joined == f"{replies.urgent}\n\n{general_disclaimer()}":
        return "urgent"
    if joined.startswith((replies.crisis, replies.urgent)):
        return "urgent, not alone"
    return "answered" if joined.strip() else "silent"


def test_held_out_red_flags_over_rest(stack, report_figure):
    cases = held_out_cases()
    replies = messages()
    hits, misplaced = [], []
    for number, case in enumerate(cases):
        texts = [m.get("text") or "" for m in stack.send(f"redflag-{number}", case.text)]
        landed = verdict(texts)
        if case.urgent:
            hits.append(landed in ("urgent", "crisis"))
            if landed == "urgent, not alone":
                misplaced.append((case.text, texts))  # something else in the urgent turn
        else:
            joined = "\n".join(texts)
            hits.append(landed == "answered" and replies.urgent not in joined
                        and replies.crisis not in joined)
            if landed == "answered" and not joined.startswith(full_disclaimer()):
                misplaced.append((case.text, texts))  # a calm first turn opens as usual
    scores = score(cases, hits)
    for line in summary(scores, cases):
        report_figure(f"red-flag triage over REST, held-out half: {line}")
    assert misplaced == []
    # Counts only: the held-out texts stay unseen, so the half stays held out.
    assert meets_targets(scores) == []


def test_an_emergency_inside_the_lab_check_keeps_the_values(stack):
    sender = "redflag-form"
    stack.send(sender, "can you check my results")
    texts = [m.get("text") for m in stack.send(sender, "b12 300 pmol/l and my dad just collapsed")]
    # One message: the urgent reply, then the general disclaimer (REST keeps a text whole).
    assert texts == [f"{messages().urgent}\n\n{general_disclaimer()}"]
    # The value typed with the emergency was kept: the check goes on from it.
    later = "\n".join(m.get("text") or "" for m in stack.send(sender, "check my results"))
    assert "vitamin B12 result?" not in later
