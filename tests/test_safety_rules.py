"""Safety actions: urgent care first and alone; a refusal with general figures quoted."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.disclaimer import short_disclaimer
from actions.safety import load_red_flags
from actions.safety_rules import REFUSAL, ActionHandleRedFlag, ActionRefusePersonalAdvice
from tests.trackers import make_tracker, slot_events


async def test_red_flag_gets_the_urgent_message_and_nothing_else():
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("my b12 is 300 and i've been vomiting blood", "report_red_flag")
    events = await ActionHandleRedFlag().run(dispatcher, tracker, {})
    assert [m["text"] for m in dispatcher.messages] == [
        f"{load_red_flags().urgent_message}\n\n{short_disclaimer()}"
    ]
    assert [e["event"] for e in events] == ["active_loop", "slot"]


async def test_red_flag_during_the_lab_check_stops_the_form():
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("i fainted", "report_red_flag", form="lab_form", requested="mma")
    events = await ActionHandleRedFlag().run(dispatcher, tracker, {})
    assert events[0]["event"] == "active_loop" and events[0]["name"] is None
    assert slot_events(events) == {"requested_slot": None}
    assert len(dispatcher.messages) == 1


async def test_self_harm_gets_the_crisis_message():
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("i want to end my life", "report_red_flag")
    await ActionHandleRedFlag().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["text"].startswith(load_red_flags().self_harm_message)


async def test_classifier_intent_without_a_table_match_still_gets_urgent_advice():
    dispatcher = CollectingDispatcher()
    await ActionHandleRedFlag().run(dispatcher, make_tracker("i feel awful", "report_red_flag"), {})
    assert load_red_flags().urgent_message in dispatcher.messages[0]["text"]


async def test_personal_advice_is_refused_with_the_articles_general_figures(kb):
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("how much b12 should i take", "ask_personal_advice")
    await ActionRefusePersonalAdvice().run(dispatcher, tracker, {})
    texts = [m["text"] for m in dispatcher.messages]
    assert texts[0] == REFUSAL
    joined = "\n".join(texts)
    assert kb.passage("recommended-b12-dosages-01").text in joined  # RDA 2.4 mcg
    assert kb.passage("recommended-b12-dosages-03").text in joined  # 1000 mcg in studies
    assert "Always consult a healthcare professional for personalized guidance." in joined
    assert joined.endswith(short_disclaimer())
