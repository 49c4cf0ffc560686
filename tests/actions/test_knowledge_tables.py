"""The hand-made tables that point into the KB: every id exists, every intent is real."""

from __future__ import annotations

import yaml

from actions.result_help import RESULT_QUESTION_INTENTS
from b12core.kb.topics import load_topics
from b12core.labs.models import FINDING_IDS
from b12core.labs.questions import load_questions


def test_topic_intents_are_domain_intents(project_root):
    domain = yaml.safe_load((project_root / "domain.yml").read_text(encoding="utf-8"))
    topics = load_topics()
    for intent in topics:
        if intent != "clinician_referral":
            assert intent in domain["intents"], intent
    asked = [i for i in domain["intents"]
             if i.startswith("ask_") and i not in RESULT_QUESTION_INTENTS]
    assert sorted(asked) == sorted(t for t in topics if t.startswith("ask_"))


def test_clinician_questions_cover_every_finding_and_rest_on_real_passages(kb):
    questions = load_questions()
    assert sorted(questions) == sorted(FINDING_IDS)
    for question, basis in questions.values():
        assert question.endswith("?")
        kb.passage(basis)
