"""Lab messages as patients paste and type them, read as a laboratory scientist would.

The sets were written by helper sessions that never saw the parser (tests/data/
lab_messages_v2.yml to _v5.yml), each split into tune and test halves when written.
The test halves of v2 to v7 were each measured once, untouched, and then used for tuning
(first contact: v2 96/120, v3 87/100, v4 87/100, v5 69/80, v6 52/60, v7 51/60); v8's test
half is the held-out check (first contact 51/60); v8's tune half read 49/60 at first contact
and 55/60 after a first round of tuning. Assertions print counts only.
"""

from __future__ import annotations

import pytest

from b12core.labs import interpret, parse
from b12core.labs.notes import note_sentence
from b12core.labs.questions import clinician_questions
from tests.b12core.labs.reading_eval import SETS, load_cases, score

TUNING = [("v2", "tune"), ("v2", "test"), ("v3", "tune"), ("v3", "test"), ("v4", "tune"),
          ("v4", "test"), ("v5", "tune"), ("v5", "test"), ("v6", "tune"), ("v6", "test"),
          ("v7", "tune"), ("v7", "test")]
HELD_OUT = ("v8", "test")
# Tuned once, not yet to 100%: five layouts left (a Labcorp row whose name has a comma, a
# dated table with a "Ref" row of ranges per column, "Homocysteine 18 umol/L high" typed, an
# "LL on the printout" a sentence later, an active-B12 range next to a serum B12 value).
UNTUNED = ("v8", "tune")
UNTUNED_FIRST_CONTACT = 55


def _available(name: str) -> bool:
    return SETS[name].exists()


@pytest.mark.parametrize(("name", "half"), TUNING)
def test_tuning_halves_are_read_right(name, half, report_figure):
    right, total, misses = score(half, name)
    report_figure(f"lab reading {name} {half}: {right}/{total}")
    assert total >= 60
    assert not misses, [text for text, _, _ in misses]


# Issue 15 asks for 100% of an untouched half. First contact with each fresh set has been
# 85-87% (v3 87/100, v4 87/100, v5 69/80, v6 52/60, v7 51/60, v8 51/60): the long tail of
# report layouts is wider than any set seen so far. This guards the measured figure against
# regressions; it is not the target, and v8's test half has not been looked at.
HELD_OUT_FIRST_CONTACT = 51


@pytest.mark.parametrize(("label", "name", "half", "floor"), [
    ("held-out", *HELD_OUT, HELD_OUT_FIRST_CONTACT),
    ("partly tuned", *UNTUNED, UNTUNED_FIRST_CONTACT),
])
def test_half_is_read_at_least_as_well_as_when_last_measured(label, name, half, floor,
                                                             report_figure):
    right, total, misses = score(half, name)
    report_figure(f"lab reading {label} {name} {half}: {right}/{total}")
    assert total >= 60
    assert right >= floor, f"{len(misses)} of {total} messages misread"


def _every_case():
    for name in SETS:
        if _available(name):
            for half in ("tune", "test"):
                yield from load_cases(half, name)


def test_every_value_outside_its_range_gets_a_finding_and_a_clinician_question():
    """Over every message of every set: nothing out of range is left without a word."""
    checked = 0
    for case in _every_case():
        result = interpret(parse(case["text"]))
        outside = [r for r in result.values if r.status != "normal"]
        if not outside:
            continue
        checked += 1
        assert result.findings, "a value outside its range got no finding"
        assert clinician_questions(result.finding_ids), "no clinician question"
    assert checked >= 100


def test_every_note_is_said_and_no_message_raises():
    """Other specimens, doses, histories: each read one gets its sentence."""
    noted = 0
    for case in _every_case():
        panel = parse(case["text"])
        result = interpret(panel)
        for note in panel.notes:
            noted += 1
            assert note_sentence(note) in result.notes
        if panel.earlier:
            assert any(n.startswith("Earlier results you gave") for n in result.notes)
    assert noted >= 40
