"""Safety actions: urgent care first and alone; a refusal with general figures quoted."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.safety_rules import ActionHandleRedFlag, ActionRefusePersonalAdvice
from b12core.disclaimer import full_disclaimer, general_disclaimer, short_disclaimer
from b12core.safety import messages
from b12core.texts import say as bot_says
from tests.trackers import make_tracker, slot_events


async def test_red_flag_gets_the_urgent_message_and_the_general_disclaimer_only():
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("my b12 is 300 pmol/l and i've been vomiting blood",
                           "report_red_flag")
    events = await ActionHandleRedFlag().run(dispatcher, tracker, {})
    assert [m["text"] for m in dispatcher.messages] == [
        f"{messages().urgent}\n\n{general_disclaimer()}"
    ]
    # Nothing about results or the doctor's visit after urgent advice.
    assert short_disclaimer() not in dispatcher.messages[0]["text"]
    assert full_disclaimer() not in dispatcher.messages[0]["text"]
    # The value typed with the emergency is kept for later, not interpreted now.
    assert slot_events(events) == {"requested_slot": None,
                                   "b12": {"value": "300", "unit": "pmol/L", "comparator": None,
                                           "lab_range": None, "flag": None}}


async def test_red_flag_during_the_lab_check_stops_the_form():
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("i fainted", "report_red_flag", form="lab_form", requested="mma")
    events = await ActionHandleRedFlag().run(dispatcher, tracker, {})
    assert events[0]["event"] == "active_loop" and events[0]["name"] is None
    assert slot_events(events) == {"requested_slot": None}
    assert len(dispatcher.messages) == 1


async def test_self_harm_gets_the_crisis_message_alone():
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("i want to end my life", "report_red_flag")
    await ActionHandleRedFlag().run(dispatcher, tracker, {})
    assert [m["text"] for m in dispatcher.messages] == [messages().crisis]


async def test_an_intent_without_a_table_match_still_gets_urgent_advice():
    """Test stories may force the intent; the action never stays silent."""
    dispatcher = CollectingDispatcher()
    await ActionHandleRedFlag().run(dispatcher, make_tracker("i feel awful", "report_red_flag"), {})
    assert messages().urgent in dispatcher.messages[0]["text"]


async def test_personal_advice_is_refused_with_the_articles_general_figures(kb):
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("how much b12 should i take", "ask_personal_advice")
    await ActionRefusePersonalAdvice().run(dispatcher, tracker, {})
    texts = [m["text"] for m in dispatcher.messages]
    assert texts[0] == bot_says("answers.personal_advice_refusal")
    joined = "\n".join(texts)
    assert kb.passage("recommended-b12-dosages-01").text in joined  # RDA 2.4 mcg
    assert kb.passage("recommended-b12-dosages-03").text in joined  # 1000 mcg in studies
    assert "Always consult a healthcare professional for personalized guidance." in joined
    assert joined.endswith(short_disclaimer())
