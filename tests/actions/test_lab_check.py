"""The lab check glue: extraction with the one parser, the form's rules, the reply."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.lab_check import (
    SKIPPED,
    ActionAddOptionalValues,
    ActionAskB12,
    ActionAskHomocysteine,
    ActionExtractLabValues,
    ActionInterpretLabs,
    ActionStopLabCheck,
    ValidateLabForm,
)
from b12core.disclaimer import full_disclaimer, short_disclaimer
from tests.trackers import make_tracker, slot_events


async def extract(text, intent="inform_lab_values", **kwargs) -> dict:
    events = await ActionExtractLabValues().run(
        CollectingDispatcher(), make_tracker(text, intent, **kwargs), {}
    )
    return slot_events(events)


async def test_several_values_and_the_condition_in_one_message():
    slots = await extract("B12 480 pmol/L; homocysteine 17.2 umol/L and MMA 0.36, I have NASH")
    assert slots["b12"] == {"value": "480", "unit": "pmol/L", "comparator": None,
        "lab_range": None, "flag": None}
    assert slots["homocysteine"]["value"] == "17.2"
    assert slots["mma"] == {"value": "0.36", "unit": None, "comparator": None,
        "lab_range": None, "flag": None}
    assert slots["condition"] == "nash"


async def test_b12_and_condition_in_one_message_is_a_quick_check():
    slots = await extract("b12 was 1100 pg/mL, I have cirrhosis")
    assert slots["quick_check"] is True
    assert slots["b12"]["unit"] == "pg/mL"


async def test_no_quick_check_inside_the_form():
    slots = await extract("b12 was 1100 pg/mL, I have cirrhosis", form="lab_form",
                          requested="b12")
    assert "quick_check" not in slots


async def test_a_bare_number_answers_the_requested_slot():
    slots = await extract("0,45", intent="inform_lab_values", form="lab_form", requested="mma")
    assert slots["mma"]["value"] == "0.45"


async def test_questions_are_not_read_for_values_or_condition():
    assert await extract("why is b12 high in cirrhosis", intent="ask_b12_high_liver") == {}
    assert await extract("is 1000 mcg too much", intent="ask_dosage", form="lab_form",
                         requested="b12") == {}


async def test_red_flag_messages_fill_nothing():
    assert await extract("b12 300 and i'm throwing up blood", intent="report_red_flag") == {}


async def test_unit_needed_keeps_the_value_pending():
    slots = await extract("my b12 is 300", form="lab_form", requested="b12")
    assert "b12" not in slots
    assert slots["pending_value"]["analyte"] == "b12"
    (problem,) = slots["lab_issues"]
    assert problem["code"] == "unit_needed"
    assert set(problem["units"]) >= {"pmol/L", "pg/mL"}


async def test_the_unit_answer_completes_the_pending_value():
    pending = {"analyte": "b12", "value": "350", "unit": None, "comparator": None}
    slots = await extract("pg/mL", intent="inform_lab_values", form="lab_form",
                          requested="b12", slots={"pending_value": pending})
    assert slots["b12"] == {"value": "350", "unit": "pg/mL", "comparator": None,
        "lab_range": None, "flag": None}
    assert slots["pending_value"] is None


@pytest.mark.parametrize(
    ("text", "code"),
    [("b12 is -5 pmol/L", "invalid_value"), ("b12 was 3 pmol/L", "implausible_value"),
     ("b12 400 mg/dL", "unknown_unit")],
)
async def test_bad_values_are_reported_not_guessed(text, code):
    slots = await extract(text, form="lab_form", requested="b12")
    assert "b12" not in slots
    assert slots["lab_issues"][0]["code"] == code
    assert slots["lab_issues"][0]["message"]


async def test_skip_one_optional_value():
    slots = await extract("i don't have it", intent="skip_value", form="lab_form",
                          requested="homocysteine")
    assert slots == {"homocysteine": SKIPPED}


async def test_skip_all_remaining_optional_values():
    slots = await extract("I don't have the others", intent="skip_value", form="lab_form",
                          requested="homocysteine", slots={"mma": {"value": "0.2"}})
    assert slots == {"homocysteine": SKIPPED, "folate": SKIPPED}


async def test_b12_cannot_be_skipped():
    slots = await extract("skip", intent="skip_value", form="lab_form", requested="b12")
    assert slots["lab_issues"][0]["code"] == "b12_required"


async def test_not_sure_answers_the_condition_question():
    slots = await extract("not sure", intent="inform_condition", form="lab_form",
                          requested="condition")
    assert slots == {"condition": "unknown"}


async def test_no_liver_disease_answers_the_condition_question():
    slots = await extract("no liver disease", intent="inform_condition", form="lab_form",
                          requested="condition")
    assert slots["condition"] == "none"


async def test_a_correction_replaces_the_value():
    slots = await extract("actually my B12 was 450 pmol/L",
                          slots={"b12": {"value": "1100", "unit": "pg/mL"}})
    assert slots["b12"]["value"] == "450"


async def test_form_asks_only_b12_and_condition_in_a_quick_check():
    tracker = make_tracker(slots={"quick_check": True})
    required = await ValidateLabForm().required_slots([], CollectingDispatcher(), tracker, {})
    assert required == ["b12", "condition"]
    tracker = make_tracker()
    required = await ValidateLabForm().required_slots([], CollectingDispatcher(), tracker, {})
    assert required == ["b12", "homocysteine", "mma", "folate", "condition"]


def _turn_with_issue(issue, requested, failures=None):
    events = [
        {"event": "user", "text": "x", "parse_data": {}},
        {"event": "slot", "name": "lab_issues", "value": [issue]},
    ]
    return make_tracker("x", "inform_lab_values", form="lab_form", requested=requested,
                        slots={"lab_issues": [issue], "lab_failures": failures},
                        events=events)


async def test_the_form_counts_failures_and_asks_again():
    issue = {"analyte": "b12", "code": "invalid_value", "message": "not a number", "units": []}
    events = await ValidateLabForm().run(
        CollectingDispatcher(), _turn_with_issue(issue, "b12", {"b12": 1}), {"forms": {}}
    )
    assert slot_events(events)["lab_failures"] == {"b12": 2}


async def test_ask_explains_the_problem_then_asks():
    issue = {"analyte": "b12", "code": "invalid_value", "message": "That is not a number.",
             "units": []}
    dispatcher = CollectingDispatcher()
    await ActionAskB12().run(dispatcher, _turn_with_issue(issue, "b12"), {})
    # One message: the problem, then the question, with the question's buttons.
    (message,) = dispatcher.messages
    problem, question = message["text"].split("\n\n")
    assert problem == "That is not a number."
    assert question.startswith("What was your vitamin B12 result?")
    assert message["buttons"]


async def test_after_two_failures_the_bot_explains_and_offers_to_skip():
    issue = {"analyte": "homocysteine", "code": "implausible_value", "message": "Odd.",
             "units": []}
    dispatcher = CollectingDispatcher()
    tracker = _turn_with_issue(issue, "homocysteine", {"homocysteine": 2})
    await ActionAskHomocysteine().run(dispatcher, tracker, {})
    last = dispatcher.messages[-1]
    assert "µmol/L" in last["text"]
    assert "skip" in last["text"]
    assert {"title": "I don't have it", "payload": "/skip_value"} in last["buttons"]


async def test_unit_question_has_unit_buttons():
    issue = {"analyte": "b12", "code": "unit_needed", "message": "Which unit?",
             "units": ["pmol/L", "pg/mL"]}
    pending = {"analyte": "b12", "value": "350", "unit": None}
    tracker = _turn_with_issue(issue, "b12")
    tracker.slots["pending_value"] = pending
    dispatcher = CollectingDispatcher()
    await ActionAskB12().run(dispatcher, tracker, {})
    # The units first, then "Where do I find it?" and "Stop the check".
    assert dispatcher.messages[-1]["buttons"][:2] == [
        {"title": "pmol/L", "payload": "pmol/L"}, {"title": "pg/mL", "payload": "pg/mL"},
    ]


async def test_interpretation_lists_values_quotes_referral_and_disclaimer(kb, article_text):
    slots = {"b12": {"value": "1100", "unit": "pg/mL"}, "condition": "cirrhosis",
             "homocysteine": SKIPPED, "mma": SKIPPED, "folate": SKIPPED}
    dispatcher = CollectingDispatcher()
    events = await ActionInterpretLabs().run(dispatcher, make_tracker(slots=slots), {})
    texts = [m["text"] for m in dispatcher.messages]
    assert '1100 pg/mL (= 811.8 pmol/L). Reference table: in the band it calls "high"' in texts[0]
    joined = "\n".join(texts)
    assert "When the liver is damaged by conditions like NAFLD" in joined
    assert 'section "B12, the Liver, and Misleading Blood Levels"' in joined
    assert "Questions you could take to your clinician" in joined
    assert "Laboratories set their own reference ranges" in joined
    assert texts[-1].endswith(short_disclaimer())
    for text in texts:
        assert "fine" not in text.lower() and "nothing to worry" not in text.lower()
    assert slot_events(events)["offered_optional_values"] is False


async def test_quick_check_offers_the_optional_values():
    slots = {"b12": {"value": "1100", "unit": "pg/mL"}, "condition": "nash", "quick_check": True}
    dispatcher = CollectingDispatcher()
    events = await ActionInterpretLabs().run(dispatcher, make_tracker(slots=slots), {})
    assert slot_events(events)["offered_optional_values"] is True
    assert [b["payload"] for b in dispatcher.messages[-1]["buttons"]] == ["/affirm", "/deny"]


async def test_assumed_unit_is_stated():
    slots = {"b12": {"value": "1500", "unit": None}, "condition": "none"}
    dispatcher = CollectingDispatcher()
    await ActionInterpretLabs().run(dispatcher, make_tracker(slots=slots), {})
    assert "No unit was given; I assumed" in dispatcher.messages[0]["text"]


async def test_add_optional_values_and_stop():
    events = await ActionAddOptionalValues().run(CollectingDispatcher(), make_tracker(), {})
    assert slot_events(events) == {"quick_check": False, "offered_optional_values": False}
    dispatcher = CollectingDispatcher()
    events = await ActionStopLabCheck().run(dispatcher, make_tracker(form="lab_form"), {})
    assert events[0]["event"] == "active_loop" and events[0]["name"] is None
    assert slot_events(events)["requested_slot"] is None


async def test_condition_question_has_a_button_per_answer():
    from actions.lab_check import ActionAskCondition

    dispatcher = CollectingDispatcher()
    await ActionAskCondition().run(dispatcher, make_tracker(), {})
    (message,) = dispatcher.messages
    assert [b["payload"] for b in message["buttons"]] == [
        "NAFLD", "NASH", "cirrhosis", "no liver disease", "not sure",
    ]
    for button in message["buttons"]:  # each payload is read back as the condition
        slots = await extract(button["payload"], intent="inform_condition", form="lab_form",
                              requested="condition")
        assert slots["condition"] in {"nafld", "nash", "cirrhosis", "none", "unknown"}


async def test_the_web_widget_gets_a_summary_card_and_collapsible_quotes():
    slots = {"b12": {"value": "1100", "unit": "pg/mL"}, "condition": "nash"}
    tracker = make_tracker(slots=slots)
    tracker.events[-1]["input_channel"] = "socketio"
    dispatcher = CollectingDispatcher()
    await ActionInterpretLabs().run(dispatcher, tracker, {})
    card = dispatcher.messages[0]["custom"]["data"]
    assert card["type"] == "summary_card"
    assert card["rows"] == [["Vitamin B12", "1100 pg/mL", "811.8 pmol/L", 'band "high"',
                             "258 to 664 pmol/L"]]
    assert card["condition"] == "Liver condition used: NASH / MASH"
    assert card["questions"] and card["headings"]["questions"].startswith("Questions")
    quotes = dispatcher.messages[1]["custom"]["data"]
    assert quotes["type"] == "quotes" and quotes["heading"].startswith("What the article says")
    assert '(from the article, section "' in quotes["text"]
    assert dispatcher.messages[-1]["text"].endswith(short_disclaimer())
    # Other channels get the same words as text.
    dispatcher = CollectingDispatcher()
    await ActionInterpretLabs().run(dispatcher, make_tracker(slots=slots), {})
    assert all(not m.get("custom") for m in dispatcher.messages)
    assert "Liver condition used: NASH / MASH" in dispatcher.messages[0]["text"]


@pytest.mark.parametrize("quick", [False, True])
async def test_a_four_value_check_is_three_messages_with_each_quote_once(quick):
    """Summary first, then what the article says, then the referral, the caveat and the
    disclaimer: at most three messages on a text channel, the referral and the disclaimer
    once each, no quote twice."""
    slots = {"b12": {"value": "250", "unit": "pg/mL"},
             "homocysteine": {"value": "18", "unit": "µmol/L"},
             "mma": {"value": "0.5", "unit": "µmol/L"}, "folate": {"value": "3", "unit": "ng/mL"},
             "condition": "nash", "quick_check": quick}
    dispatcher = CollectingDispatcher()
    await ActionInterpretLabs().run(dispatcher, make_tracker(slots=slots), {})
    texts = [m["text"] for m in dispatcher.messages]
    assert len(texts) == 3
    summary, article, closing = texts
    assert summary.startswith("Your results against general reference ranges:")
    for name in ("Vitamin B12: 250 pg/mL", "Homocysteine: 18", "(MMA): 0.5", "Folate (serum): 3"):
        assert name in summary
    assert "Questions you could take to your clinician" in summary
    assert article.startswith("What the article says (")
    joined = "\n".join(texts)
    referral = "Always consult a healthcare professional for personalized guidance."
    assert joined.count(referral) == 1 and referral in closing
    assert joined.count(short_disclaimer()) == 1 and closing.endswith(short_disclaimer())
    quotes = [line for line in joined.splitlines() if line.startswith("(from the article")]
    quoted = [joined.splitlines()[i - 1] for i, line in enumerate(joined.splitlines())
              if line.startswith("(from the article")]
    assert len(quoted) == len(set(quoted)) and quotes
    count = int(article.split("(", 1)[1].split(" ", 1)[0])
    assert count == article.count("(from the article")


async def test_values_set_this_turn_are_kept_and_nothing_is_logged(caplog):
    """The extraction action checked them; the form keeps them as they are and
    logs no per-answer "Skipping validation" warning (one per patient answer)."""
    import logging

    values = {"b12": {"value": 300.0, "unit": "pg/mL"}, "condition": "nash",
              "homocysteine": "skipped"}
    events = [{"event": "bot", "text": "x"},
              {"event": "user", "text": "300 pg/mL, nash", "parse_data": {}},
              *({"event": "slot", "name": k, "value": v} for k, v in values.items())]
    tracker = make_tracker("300 pg/mL, nash", "inform_lab_values", form="lab_form",
                           requested="b12", slots=values, events=events)
    with caplog.at_level(logging.INFO):
        result = await ValidateLabForm().run(CollectingDispatcher(), tracker, {"forms": {}})
    assert {k: slot_events(result)[k] for k in values} == values
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_each_answer_is_said_back_with_the_step_and_the_next_question():
    """"Got it: vitamin B12 250 pg/mL (= 184.5 pmol/L)." then "Step 2 of 5: homocysteine."
    and the question, in one message with the question's buttons."""
    events = [{"event": "bot", "text": full_disclaimer()},
              {"event": "user", "text": "250 pg/mL", "parse_data": {}},
              {"event": "slot", "name": "b12", "value": {"value": "250", "unit": "pg/mL"}}]
    tracker = make_tracker("250 pg/mL", slots={"b12": {"value": "250", "unit": "pg/mL"}},
                           form="lab_form", requested="homocysteine", events=events)
    dispatcher = CollectingDispatcher()
    await ActionAskHomocysteine().run(dispatcher, tracker, {})
    (message,) = dispatcher.messages
    got, question = message["text"].split("\n\n")
    assert got == "Got it: vitamin B12 250 pg/mL (= 184.5 pmol/L)."
    assert question.startswith("Step 2 of 5: homocysteine. Do you have a homocysteine result?")
    assert {"title": "I don't have it", "payload": "/skip_value"} in message["buttons"]


async def test_a_skip_and_the_condition_are_said_back_too():
    from actions.lab_check import ActionAskCondition

    events = [{"event": "bot", "text": full_disclaimer()},
              {"event": "user", "text": "no", "parse_data": {}},
              {"event": "slot", "name": "folate", "value": SKIPPED}]
    tracker = make_tracker("no", slots={"folate": SKIPPED}, form="lab_form",
                           requested="condition", events=events)
    dispatcher = CollectingDispatcher()
    await ActionAskCondition().run(dispatcher, tracker, {})
    (message,) = dispatcher.messages
    assert message["text"].startswith("Got it: no folate result.\n\nStep 5 of 5: your liver "
                                      "condition. Which liver condition")
    assert len(message["buttons"]) == 5


async def test_the_card_shows_the_range_printed_on_the_report():
    lab_range = {"text": "197-771", "unit": "pg/mL", "lower": "197", "upper": "771",
                 "lower_inclusive": True, "upper_inclusive": True}
    slots = {"b12": {"value": "150", "unit": "pg/mL", "lab_range": lab_range},
             "folate": {"value": "15", "unit": "nmol/L"}, "condition": "nafld"}
    tracker = make_tracker(slots=slots)
    tracker.events[-1]["input_channel"] = "socketio"
    dispatcher = CollectingDispatcher()
    await ActionInterpretLabs().run(dispatcher, tracker, {})
    card = dispatcher.messages[0]["custom"]["data"]
    assert card["lab_ranges"] == ["197-771 pg/mL: below it", ""]
    assert card["headings"]["lab_range"] == "Your lab's range"
    assert len(card["sources"]) == 2 and all(": " in s for s in card["sources"])


async def test_a_value_without_a_unit_is_said_back_without_one():
    """250 is in the same band in every B12 unit, so no unit is asked; the read-back must
    not name the unit the engine assumed as if the patient had typed it."""
    events = [{"event": "bot", "text": full_disclaimer()},
              {"event": "user", "text": "my b12 was 250", "parse_data": {}},
              {"event": "slot", "name": "b12", "value": {"value": "250", "unit": None}}]
    tracker = make_tracker("my b12 was 250", slots={"b12": {"value": "250", "unit": None}},
                           form="lab_form", requested="homocysteine", events=events)
    dispatcher = CollectingDispatcher()
    await ActionAskHomocysteine().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["text"].startswith(
        "Got it: vitamin B12 250 (no unit given).\n\nStep 2 of 5")
