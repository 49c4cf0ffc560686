"""rasa_sdk glue: session start, grounded answers, and the disclaimer choke point."""

from __future__ import annotations

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import ActionAnswerQuestion, topic_buttons
from actions.health import HealthAction, HealthReply, with_disclaimer
from actions.session import ActionSessionStart
from b12core.disclaimer import full_disclaimer, short_disclaimer
from b12core.texts import say as bot_says
from tests.trackers import make_tracker

DOMAIN = {"session_config": {"carry_over_slots_to_new_session": True}}


async def test_session_start_sends_the_full_disclaimer_first():
    dispatcher = CollectingDispatcher()
    events = await ActionSessionStart().run(dispatcher, make_tracker(), DOMAIN)
    assert dispatcher.messages == []
    assert events[0]["event"] == "session_started"
    # The disclaimer is the first bot message, logged after SessionStarted so that
    # a tracker loaded from its latest session start still contains it.
    bot = [e for e in events if e["event"] == "bot"]
    assert [e["text"] for e in bot] == [full_disclaimer()]
    assert "not medical advice" in bot[0]["text"]
    assert (events[-1]["event"], events[-1]["name"]) == ("action", "action_listen")


async def test_session_start_carries_slots_over_only_if_the_domain_says_so():
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"condition": "nash", "b12": None})
    events = await ActionSessionStart().run(dispatcher, tracker, DOMAIN)
    slot_events = [e for e in events if e["event"] == "slot"]
    assert [(e["name"], e["value"]) for e in slot_events] == [("condition", "nash")]


async def test_lab_values_are_not_carried_into_a_new_session(project_root):
    # Yesterday's values must not come back today, or for the next person on a shared
    # computer: domain.yml turns carry-over off, and the session start obeys it.
    domain = yaml.safe_load((project_root / "domain.yml").read_text(encoding="utf-8"))
    assert domain["session_config"]["carry_over_slots_to_new_session"] is False
    b12 = {"value": "350", "unit": "pg/mL", "comparator": None}
    tracker = make_tracker(slots={"condition": "nash", "b12": b12, "results_shown": True})
    events = await ActionSessionStart().run(CollectingDispatcher(), tracker, domain)
    assert [e for e in events if e["event"] == "slot"] == []


async def test_topic_intent_is_answered_with_curated_verbatim_quotes(kb, article_text):
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("why is my b12 so high", intent="ask_b12_high_liver")
    events = await ActionAnswerQuestion().run(dispatcher, tracker, {})
    assert events == []
    texts = [m["text"] for m in dispatcher.messages]
    assert texts[0] == "Here is what the article says:"
    quoted = [kb.passage(f"b12-the-liver-and-misleading-blood-levels-0{i}") for i in (1, 2, 3)]
    for passage, text in zip(quoted, texts[1:], strict=True):
        assert f'"{passage.text}"' in text
        assert passage.text in article_text
        assert 'section "B12, the Liver, and Misleading Blood Levels"' in text
    assert texts[-1].endswith(short_disclaimer())


async def test_free_question_is_answered_by_search():
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("what dose did the studies on nafld use", intent="nlu_fallback")
    await ActionAnswerQuestion().run(dispatcher, tracker, {})
    text = "\n".join(m["text"] for m in dispatcher.messages)
    assert "Studies exploring B12 in NAFLD have used doses like 1000 mcg daily." in text
    assert "not medical advice" in dispatcher.messages[-1]["text"]


async def test_uncovered_question_says_so_and_offers_the_nearest_topics():
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("can i drink alcohol with fatty liver", intent="nlu_fallback")
    await ActionAnswerQuestion().run(dispatcher, tracker, {})
    assert len(dispatcher.messages) == 1
    expected = bot_says("answers.not_covered") + "\n\n" + short_disclaimer()
    assert dispatcher.messages[0]["text"] == expected
    assert "The article doesn't cover that" in bot_says("answers.not_covered")
    buttons = dispatcher.messages[0]["buttons"]
    assert len(buttons) == 4 and buttons[-1] == topic_buttons()[0]  # the lab check last
    assert all(b["payload"].startswith("/ask_") for b in buttons[:3])
    assert buttons[0]["payload"] == "/ask_nafld"  # the passage about fatty liver is nearest


async def test_a_question_naming_nothing_the_article_knows_is_asked_again():
    dispatcher = CollectingDispatcher()
    await ActionAnswerQuestion().run(dispatcher, make_tracker("qwzx blorf", "nlu_fallback"), {})
    expected = bot_says("answers.rephrase") + "\n\n" + short_disclaimer()
    assert dispatcher.messages[0]["text"] == expected
    assert dispatcher.messages[0]["buttons"] == list(topic_buttons())


async def test_a_search_answer_quotes_what_its_passage_leans_on(kb):
    """"Such therapeutic doses..." is never shown without the dose it refers to."""
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("do i need a doctor for high dose b12", intent="nlu_fallback")
    await ActionAnswerQuestion().run(dispatcher, tracker, {})
    texts = [m["text"] for m in dispatcher.messages]
    such = kb.passage("recommended-b12-dosages-04").text
    dose = kb.passage("recommended-b12-dosages-03").text
    at = [i for i, t in enumerate(texts) if such in t]
    assert at and any(dose in t for t in texts[: at[0]])


@pytest.mark.parametrize(
    ("intent", "passage_id"),
    [
        ("ask_dosage", "recommended-b12-dosages-01"),
        ("ask_food_vs_supplements", "sources-of-b12-food-vs-supplements-01"),
        ("ask_homocysteine", "potential-benefits-of-b12-for-advanced-fatty-liver-04"),
        ("ask_deficiency_mma", "important-considerations-for-fatty-liver-patients-01"),
        ("ask_functional_deficiency", "important-considerations-for-fatty-liver-patients-03"),
        ("ask_vegan_absorption", "recommended-b12-dosages-02"),
        ("ask_nutrition", "important-considerations-for-fatty-liver-patients-04"),
        ("ask_nafld", "the-complex-role-of-vitamin-b12-in-liver-health-01"),
    ],
)
async def test_each_topic_quotes_its_passages(kb, intent, passage_id):
    dispatcher = CollectingDispatcher()
    await ActionAnswerQuestion().run(dispatcher, make_tracker("question", intent=intent), {})
    joined = "\n".join(m["text"] for m in dispatcher.messages)
    assert kb.passage(passage_id).text in joined
    assert f'section "{kb.passage(passage_id).section}"' in joined
    assert joined.endswith(short_disclaimer())


@pytest.mark.parametrize("text", ["", "\x00\x01\x02\x03\x04"])
async def test_unusable_text_gets_a_kind_message(text):
    dispatcher = CollectingDispatcher()
    await ActionAnswerQuestion().run(dispatcher, make_tracker(text, "nlu_fallback"), {})
    assert dispatcher.messages
    assert "not medical advice" in dispatcher.messages[-1]["text"]


def test_a_health_action_cannot_override_run():
    with pytest.raises(TypeError, match="respond"):

        class Sneaky(HealthAction):
            def name(self):
                return "action_sneaky"

            async def respond(self, tracker, domain):
                return HealthReply(())

            async def run(self, dispatcher, tracker, domain):
                return []


async def test_health_reply_opens_with_the_full_disclaimer_if_the_session_start_failed():
    # Session start during an outage: the user saw only the apology, never the
    # full disclaimer; the first health reply after recovery must show it first.
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        "what is homocysteine",
        intent="ask_homocysteine",
        events=[
            {"event": "bot", "text": "Sorry, part of this assistant is not responding"},
            {"event": "user", "text": "what is homocysteine"},
        ],
    )
    await ActionAnswerQuestion().run(dispatcher, tracker, {})
    texts = [m.get("text") for m in dispatcher.messages]
    assert texts[0] == full_disclaimer()
    assert texts.count(full_disclaimer()) == 1
    assert texts[-1].endswith(short_disclaimer())


async def test_full_disclaimer_is_not_repeated_once_shown():
    dispatcher = CollectingDispatcher()
    await ActionAnswerQuestion().run(
        dispatcher, make_tracker("what is homocysteine", intent="ask_homocysteine"), {}
    )
    assert full_disclaimer() not in [m.get("text") for m in dispatcher.messages]


def test_with_disclaimer_closes_the_last_text_or_adds_one():
    assert with_disclaimer(({"text": "a"},)) == [{"text": f"a\n\n{short_disclaimer()}"}]
    assert with_disclaimer(()) == [{"text": short_disclaimer()}]
    assert with_disclaimer(({"custom": {"x": 1}},))[-1] == {"text": short_disclaimer()}


def test_health_action_base_is_abstract_so_the_sdk_does_not_register_it():
    import inspect

    assert inspect.isabstract(HealthAction)


@pytest.mark.parametrize("text,intent,expected", [
    ("yes", "affirm", "What would you like to do next?"),
    ("/inform_unsure", "inform_unsure", "What would you like to do next?"),
    ("nope", "deny", "Is there anything else"),
    # The intent model's guess on garbage is not a short reply: it gets the search,
    # which says it did not understand.
    ("qwzx blorf vvv", "inform_unsure", bot_says("answers.rephrase")[:40]),
])
async def test_a_short_reply_outside_any_question_gets_a_way_forward(text, intent, expected):
    dispatcher = CollectingDispatcher()
    await ActionAnswerQuestion().run(dispatcher, make_tracker(text, intent), {})
    assert expected in "\n".join(m.get("text") or "" for m in dispatcher.messages)


def test_every_nearest_topic_button_is_a_curated_topic_the_dialogue_routes(project_root):
    from actions.answers import topic_titles
    from b12core.kb.topics import load_topics

    domain = yaml.safe_load((project_root / "domain.yml").read_text(encoding="utf-8"))
    rules = (project_root / "data" / "rules" / "answers.yml").read_text(encoding="utf-8")
    assert len(topic_titles()) >= 9
    for intent in topic_titles():
        assert intent in domain["intents"] and intent in load_topics(), intent
        assert f"intent: {intent}" in rules, intent
