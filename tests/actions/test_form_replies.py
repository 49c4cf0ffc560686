"""Every reply the lab form can receive gets handled: skip, yes, not sure, payloads, garbage.

A reply the form reads must always set a slot (else the form rejects it and, with no
rule for it, Rasa loops to its circuit breaker); replies it leaves alone must be ones
a rule answers (tests/actions/test_domain_mappings.py and the conversation fuzzer check those).
"""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.lab_check import (
    CHECK_STATE_SLOTS,
    LAB_SLOTS,
    SKIPPED,
    ActionAskCondition,
    ActionAskHomocysteine,
    ActionAskReuseChoice,
    ActionExtractLabValues,
    ActionInterpretLabs,
    ActionResetLabCheck,
    ValidateLabForm,
    looks_like_question,
)
from tests.trackers import make_tracker, slot_events

B12 = {"value": "350", "unit": "pg/mL", "comparator": None}


async def extract(text, intent, **kwargs) -> dict:
    events = await ActionExtractLabValues().run(
        CollectingDispatcher(), make_tracker(text, intent, **kwargs), {}
    )
    return slot_events(events)


def codes(slots: dict) -> list[str]:
    return [i["code"] for i in slots.get("lab_issues") or []]


@pytest.mark.parametrize("text,intent", [
    ("no", "deny"), ("nope", "deny"), ("none", "skip_value"), ("/skip_value", "skip_value"),
    ("I don't have it", "skip_value"), ("no thanks", "deny"),
])
@pytest.mark.parametrize("requested", ["homocysteine", "mma", "folate"])
async def test_no_or_dont_have_it_skips_an_optional_value(text, intent, requested):
    slots = await extract(text, intent, form="lab_form", requested=requested,
                          slots={"b12": B12})
    assert slots[requested] == SKIPPED


async def test_i_dont_have_the_others_skips_every_remaining_value():
    slots = await extract("I don't have the others", "skip_value", form="lab_form",
                          requested="homocysteine", slots={"b12": B12})
    assert {slots[a] for a in ("homocysteine", "mma", "folate")} == {SKIPPED}


@pytest.mark.parametrize("text,intent", [
    ("yes", "affirm"), ("/affirm", "affirm"), ("yes i have it", "affirm"),
    ("not sure", "inform_unsure"), ("/inform_unsure", "inform_unsure"), ("idk", "inform_unsure"),
    ("asdf", "nlu_fallback"), ("🤔", "nlu_fallback"), ("hmm ok", "affirm"),
    ("this isn't working", "nlu_fallback"), ("check my results", "request_lab_check"),
], ids=lambda v: str(v))
async def test_answers_without_a_value_ask_again_with_a_hint(text, intent):
    slots = await extract(text, intent, form="lab_form", requested="homocysteine",
                          slots={"b12": B12})
    assert "homocysteine" not in slots
    assert codes(slots), "the form would reject this reply and no rule covers it"


async def test_yes_asks_for_the_number_and_not_sure_explains_where_to_look():
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("yes", "affirm", form="lab_form", requested="homocysteine",
                           slots={"b12": B12})
    events = await ActionExtractLabValues().run(dispatcher, tracker, {})
    tracker = make_tracker("yes", "affirm", form="lab_form", requested="homocysteine",
                           slots={"b12": B12},
                           events=[{"event": "user", "text": "yes"}, *events])
    await ActionAskHomocysteine().run(dispatcher, tracker, {})
    assert "Please type the homocysteine number" in dispatcher.messages[-1]["text"]

    dispatcher = CollectingDispatcher()
    events = await ActionExtractLabValues().run(
        dispatcher, make_tracker("not sure", "inform_unsure", form="lab_form",
                                 requested="homocysteine"), {})
    tracker = make_tracker("not sure", "inform_unsure", form="lab_form",
                           requested="homocysteine",
                           events=[{"event": "user", "text": "not sure"}, *events])
    await ActionAskHomocysteine().run(dispatcher, tracker, {})
    (message,) = dispatcher.messages
    assert "On a lab report" in message["text"]
    assert "/skip_value" in [b["payload"] for b in message["buttons"]]


async def test_no_at_the_b12_question_explains_that_b12_is_needed():
    slots = await extract("no", "deny", form="lab_form", requested="b12")
    assert codes(slots) == ["b12_required"]


async def test_a_question_in_the_form_is_left_to_the_side_question_rule():
    assert await extract("why does it matter?", "nlu_fallback", form="lab_form",
                         requested="mma") == {}
    assert looks_like_question("where do I find it on my report")
    assert not looks_like_question("asdf")


async def test_a_unit_of_another_test_routes_a_correction_there():
    slots = await extract("sorry I meant 450 pmol/L", "inform_lab_values", form="lab_form",
                          requested="homocysteine", slots={"b12": B12})
    assert slots["b12"] == {"value": "450", "unit": "pmol/L", "comparator": None,
        "lab_range": None, "flag": None}
    assert "homocysteine" not in slots
    (note,) = slots["lab_issues"]
    assert note["code"] == "updated" and "changed your vitamin B12 to 450 pmol/L" in note["message"]


async def test_ng_per_ml_at_the_mma_question_is_a_folate_value():
    slots = await extract("7 ng/mL", "inform_lab_values", form="lab_form", requested="mma")
    assert slots["folate"]["unit"] == "ng/mL"


@pytest.mark.parametrize("text,intent,expected", [
    ("none", "skip_value", "none"), ("not sure", "inform_unsure", "unknown"),
    ("no", "deny", "unknown"), ("i have nash", "inform_condition", "nash"),
    ("no liver disease", "inform_condition", "none"), ("/skip_value", "skip_value", "unknown"),
])
async def test_condition_answers(text, intent, expected):
    slots = await extract(text, intent, form="lab_form", requested="condition")
    assert slots["condition"] == expected


async def test_an_unreadable_condition_answer_asks_again_with_a_hint():
    slots = await extract("liver", "nlu_fallback", form="lab_form", requested="condition")
    assert codes(slots) == ["not_understood"]
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("liver", "nlu_fallback", form="lab_form", requested="condition",
                           events=[{"event": "user", "text": "liver"},
                                   {"event": "slot", "name": "lab_issues",
                                    "value": slots["lab_issues"]}])
    await ActionAskCondition().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["text"].startswith("Sorry, I didn't catch a liver condition")


@pytest.mark.parametrize("text,intent,expected", [
    ("no", "deny", "unit_where"), ("not sure", "inform_unsure", "unit_where"),
    ("blah", "nlu_fallback", "not_understood"),
])
async def test_the_unit_question_never_dead_ends(text, intent, expected):
    pending = {"analyte": "b12", "value": "300", "unit": None, "comparator": None}
    slots = await extract(text, intent, form="lab_form", requested="b12",
                          slots={"pending_value": pending})
    assert codes(slots) == [expected]


async def test_no_at_an_optional_unit_question_skips_the_value():
    pending = {"analyte": "folate", "value": "7", "unit": None, "comparator": None}
    slots = await extract("no", "deny", form="lab_form", requested="folate",
                          slots={"pending_value": pending, "b12": B12})
    assert slots["folate"] == SKIPPED and slots["pending_value"] is None


async def test_check_my_results_after_a_check_asks_same_or_new():
    slots = await extract("check my results", "request_lab_check",
                          slots={"b12": B12, "results_shown": True})
    assert slots == {"reuse_question": True, "reuse_choice": None}
    tracker = make_tracker("check my results", "request_lab_check", form="lab_form",
                           slots={"b12": B12, "results_shown": True, "reuse_question": True})
    required = await ValidateLabForm().required_slots([], CollectingDispatcher(), tracker, {})
    assert required[0] == "reuse_choice"
    dispatcher = CollectingDispatcher()
    await ActionAskReuseChoice().run(dispatcher, tracker, {})
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == [
        "/request_same_results", "/request_start_over"]


async def test_first_check_asks_nothing_first():
    assert await extract("check my results", "request_lab_check") == {}


@pytest.mark.parametrize("text,intent", [("/request_same_results", "request_same_results"),
                                         ("same", "nlu_fallback"), ("yes", "affirm")])
async def test_same_results_answer(text, intent):
    slots = await extract(text, intent, form="lab_form", requested="reuse_choice",
                          slots={"b12": B12, "results_shown": True, "reuse_question": True})
    assert slots == {"reuse_choice": "same"}


async def test_values_typed_at_the_same_or_new_question_are_new_results():
    slots = await extract("b12 200 pmol/L", "inform_lab_values", form="lab_form",
                          requested="reuse_choice",
                          slots={"b12": B12, "folate": {"value": "15", "unit": "nmol/L",
                                                        "comparator": None}})
    assert slots["b12"]["value"] == "200"
    assert slots["folate"] is None and slots["reuse_choice"] == "new"


async def test_a_correction_after_a_check_is_interpreted_without_a_question():
    slots = await extract("actually it was 450 pmol/L", "inform_lab_values",
                          slots={"b12": B12, "results_shown": True})
    assert slots["b12"]["value"] == "450" and slots["reuse_question"] is False


async def test_start_over_clears_every_value_and_the_state_of_the_check():
    events = await ActionResetLabCheck().run(
        CollectingDispatcher(), make_tracker("start over", "request_start_over",
                                             slots={"b12": B12, "results_shown": True}), {})
    slots = slot_events(events)
    assert {s for s, v in slots.items() if v is None} >= {*LAB_SLOTS, *CHECK_STATE_SLOTS}
    assert {"event": "active_loop", "name": None} in [
        {k: e.get(k) for k in ("event", "name")} for e in events if e["event"] == "active_loop"]


async def test_an_interpretation_is_remembered_for_the_same_or_new_question():
    events = await ActionInterpretLabs().run(
        CollectingDispatcher(), make_tracker(slots={"b12": B12, "condition": "nash"}), {})
    slots = slot_events(events)
    assert slots["results_shown"] is True and slots["reuse_question"] is False


async def test_validation_keeps_a_hint_so_the_form_never_rejects_an_answer():
    issues = [{"analyte": "mma", "code": "not_understood", "message": "", "units": []}]
    tracker = make_tracker("asdf", "nlu_fallback", form="lab_form", requested="mma",
                           events=[{"event": "user", "text": "asdf"},
                                   {"event": "slot", "name": "lab_issues", "value": issues}])
    events = await ValidateLabForm().run(CollectingDispatcher(), tracker,
                                         {"forms": {"lab_form": {"required_slots": []}}})
    slots = slot_events(events)
    assert slots["lab_issues"] == issues and slots["lab_failures"] == {"mma": 1}


def test_the_report_names_shown_are_names_the_parser_reads():
    from actions.lab_check import REPORT_NAMES
    from b12core.labs.vocabulary import vocabulary

    for analyte, names in REPORT_NAMES.items():
        spellings = vocabulary().spellings("analytes", analyte)
        assert all(n.lower() in spellings for n in names), analyte
