"""The per-event-type response check accepts exactly what Rasa's full schema accepts."""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa_sdk import events as sdk

from rasa_server import resilience

NOW = datetime(2026, 11, 29, 12, 0)

# One event of every kind the SDK can return, as the action server serialises them.
EVERY_SDK_EVENT = [
    sdk.UserUttered("hi", {"intent": {"name": "greet", "confidence": 0.9}, "entities": []}),
    sdk.SlotSet("b12_value", "300"),
    sdk.SlotSet("b12_unit", None),
    sdk.Restarted(),
    sdk.SessionStarted(),
    sdk.UserUtteranceReverted(),
    sdk.AllSlotsReset(),
    sdk.ReminderScheduled("EXTERNAL_x", NOW, name="r1"),
    sdk.ReminderCancelled(name="r1"),
    sdk.ActionReverted(),
    sdk.StoryExported(),
    sdk.FollowupAction("action_listen"),
    sdk.ConversationPaused(),
    sdk.ConversationResumed(),
    sdk.ActionExecuted("action_listen"),
    sdk.AgentUttered("text", {"x": 1}),
    sdk.ActiveLoop("lab_form"),
    sdk.ActiveLoop(None),
    sdk.LoopInterrupted(True),
    sdk.ActionExecutionRejected("validate_lab_form"),
    sdk.BotUttered("hello", {"buttons": [{"title": "a", "payload": "/b"}]}, {"m": 1}),
    # Older event types Rasa still accepts (the SDK now writes active_loop and
    # loop_interrupted for Form and FormValidation).
    {"event": "form", "name": "lab_form"},
    {"event": "form_validation", "validate": False},
    {"event": "entities", "entities": [{"entity": "e", "value": "v"}]},
    {"event": "user_featurization", "use_text_for_featurization": True},
]

VALID = [
    {},
    {"events": [], "responses": []},
    {"events": EVERY_SDK_EVENT, "responses": [{"text": "hi", "buttons": []}]},
    {"events": [{"event": "slot", "name": "x", "value": {"nested": [1, 2]}}]},
    {"responses": [{"text": "only a reply"}]},
]

INVALID = [
    [],
    "events",
    {"events": "not a list"},
    {"events": [{"event": "slot"}]},  # slot without name and value
    {"events": [{"event": "slot", "name": 3, "value": 1}]},
    {"events": [{"name": "x", "value": 1}]},  # no event type
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"event": 7}]},
    {"events": ["slot"]},
    {"events": [{"event": "action", "hide_rule_turn": "yes"}]},
    {"events": [{"event": "action", "name": ["x"]}]},
    {"events": [{"event": "user", "parse_data": {"entities": [{"start": 0}]}}]},
    {"events": [{"event": "slot", "name": "x", "value": 1, "timestamp": "yesterday"}]},
    {"events": [{"event": "bot", "metadata": "not an object"}]},
    {"responses": "hi"},
    {"responses": ["hi"]},
]


@pytest.fixture(scope="module")
def checker():
    return resilience.ResponseChecker(RemoteAction.action_response_format_spec())


def test_sdk_events_cover_every_event_type_of_the_schema(checker):
    kinds = {event["event"] for event in VALID[2]["events"]}
    assert kinds == set(checker._by_event)


@pytest.mark.parametrize("response", VALID)
def test_valid_responses_pass_the_fast_check(checker, response):
    assert checker.full.is_valid(response)
    assert checker.fast_valid(response)


@pytest.mark.parametrize("response", INVALID)
def test_invalid_responses_never_pass_the_fast_check(checker, response):
    assert not checker.full.is_valid(response)
    assert not checker.fast_valid(response)


def test_every_single_field_mutation_gets_the_same_verdict(checker):
    # Swap each field of each event for values of other types: whenever the
    # fast check accepts, the full schema must accept too.
    replacements = [None, 1, 1.5, "s", [], {}, True, [{"a": 1}]]
    compared = disagreements = 0
    for event in EVERY_SDK_EVENT:
        for field in list(event):
            for value in replacements:
                mutated = copy.deepcopy(event)
                mutated[field] = value
                response = {"events": [mutated]}
                full, fast = checker.full.is_valid(response), checker.fast_valid(response)
                compared += 1
                assert not (fast and not full), (field, value, mutated)
                disagreements += fast != full
    assert compared > 500
    assert disagreements == 0


def test_rasa_action_raises_the_full_schema_error_for_bad_responses():
    resilience.install()
    action = RemoteAction("action_x", None)
    assert action._validate_action_result({"events": [], "responses": []})
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": [{"event": "slot"}], "responses": []})
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": "not a list"})


def test_action_calls_encode_to_the_same_json():
    value = {
        "sender_id": "d0c5a1e0-0000-4000-8000-000000000000",
        "tracker": {"events": [dict(event, timestamp=1795923107.716339 + i / 7)
                               for i, event in enumerate(VALID[2]["events"])],
                    "latest_message": {
                        "text": "B12 450 pmol/L \u2014 \u00e9t\u00e9 / 5\u00b5g \U0001f600",
                        "confidence": 0.1 + 0.2, "big": 2**60, "neg": -1e-300}},
        "domain": {"slots": {"b12": {"type": "any", "mappings": []}}, "empty": [], "none": None},
    }
    assert json.loads(resilience.dumps_fast(value)) == value
    odd = {"nan": float("nan"), "huge": 2**70}
    decoded = json.loads(resilience.dumps_fast(odd))  # the standard library's output
    assert math.isnan(decoded["nan"]) and decoded["huge"] == 2**70


def test_idle_action_connections_are_closed_by_rasa_before_the_action_server_closes_them():
    # Else a call could go out on a connection the action server is just closing,
    # and the patient would get the "not responding" apology for nothing.
    from sanic.config import DEFAULT_CONFIG

    assert DEFAULT_CONFIG["KEEP_ALIVE_TIMEOUT"] > resilience.PooledEndpoint.KEEPALIVE_S
