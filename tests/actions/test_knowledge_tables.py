"""The hand-made tables that point into the KB: every id exists, every intent is real."""

from __future__ import annotations

import yaml

from actions.result_help import RESULT_QUESTION_INTENTS
from b12core.kb.topics import load_topic_menu, load_topics
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


def _or_intents(rules_file, rule_name: str) -> set[str]:
    rules = yaml.safe_load(rules_file.read_text(encoding="utf-8"))["rules"]
    (rule,) = [r for r in rules if r["rule"] == rule_name]
    return {step["intent"] for step in rule["steps"][0]["or"]}


def test_the_topics_are_defined_once_and_every_list_of_them_agrees(project_root):
    """knowledge/topic_quotes.yml defines the topics a user can pick; the domain, both topic
    rules, the NLU data and the intents that never carry lab values name exactly those."""
    topics = set(load_topic_menu().titles)
    assert len(topics) >= 9 and set(load_topic_menu().menu) <= topics
    domain = yaml.safe_load((project_root / "domain.yml").read_text(encoding="utf-8"))
    assert topics <= set(domain["intents"])
    rules = project_root / "data" / "rules"
    assert _or_intents(rules / "answers.yml",
                       "topic questions are answered with quotes from the article") == topics
    assert _or_intents(
        rules / "lab_check.yml",
        "a side question during the lab check is answered, then the check goes on",
    ) - {"nlu_fallback"} == topics
    mappings = [m for slot in domain["slots"].values() for m in slot.get("mappings", ())
                if "not_intent" in m]
    assert mappings and all(topics <= set(m["not_intent"]) for m in mappings)
    nlu = yaml.safe_load((project_root / "data" / "nlu" / "topics.yml").read_text("utf-8"))
    assert topics <= {block["intent"] for block in nlu["nlu"] if "intent" in block}
    # every other ask_ intent of the domain is a result question or a curated answer
    asked = {i for i in domain["intents"] if i.startswith("ask_")}
    assert asked - topics <= set(RESULT_QUESTION_INTENTS) | set(load_topics())


def test_clinician_questions_cover_every_finding_and_rest_on_real_passages(kb):
    questions = load_questions()
    assert sorted(questions) == sorted(FINDING_IDS)
    for question, basis in questions.values():
        assert question.endswith("?")
        kb.passage(basis)
