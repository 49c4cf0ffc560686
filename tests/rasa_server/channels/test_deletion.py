"""Deleting one's own conversation from the chat: what is a request, what confirms it."""

from __future__ import annotations

import json

import pytest

from rasa_server.channels import deletion
from rasa_server.channels.deletion import (
    CONFIRM_INTENT,
    KEEP_PAYLOAD,
    REQUEST_PAYLOAD,
    Deletion,
    confirm_payload,
    confirmed_by_payload,
    is_request,
)


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch):
    from rasa_server.channels import keys

    monkeypatch.setenv(keys.SECRET_ENV, "deletion-test-secret")
    keys.server_secret.cache_clear()
    yield
    keys.server_secret.cache_clear()


@pytest.mark.parametrize("text", [
    "delete my data", "Delete my data!", "please delete my data", "forget me", "erase my data",
    "delete my conversation", "can you delete all my data", "wipe my history please",
    "delete everything", "remove my results", "I want to delete my data", REQUEST_PAYLOAD,
    "delte my data", "delet my data", "errase my data",
])
def test_requests(text):
    assert is_request(text)


@pytest.mark.parametrize("text", [
    "how do i delete my data?", "delete my data and tell me if b12 400 is ok",
    "I want to forget about my liver", "my doctor said forget the b12 shots",
    "delete", "my b12 is 190 pmol/L", "I vomited blood, delete my data",
])
def test_not_requests(text):
    assert not is_request(text)


def test_the_yes_button_confirms_only_its_own_conversation_and_only_for_a_while():
    payload = confirm_payload("patient-a", now=1000.0)
    assert payload.startswith(CONFIRM_INTENT)
    real = confirm_payload("-1001234567890")  # today's time and a long Telegram chat id
    assert len(real.encode()) <= deletion.MAX_PAYLOAD_BYTES
    assert confirmed_by_payload(payload, "patient-a", now=1000.0) is True
    assert confirmed_by_payload(payload, "patient-b", now=1000.0) is False  # someone else's
    assert confirmed_by_payload(payload, "patient-a", now=1000.0 + 3600) is False  # expired
    fields = json.loads(payload[len(CONFIRM_INTENT):])
    forged = CONFIRM_INTENT + json.dumps({"u": fields["u"] + 10**6, "k": fields["k"]})
    assert confirmed_by_payload(forged, "patient-a", now=1000.0) is False  # later expiry
    for broken in (CONFIRM_INTENT, CONFIRM_INTENT + "{", CONFIRM_INTENT + '{"u": "x"}'):
        assert confirmed_by_payload(broken, "patient-a") is False
    assert confirmed_by_payload("yes", "patient-a") is None


def test_the_steps_of_the_dialogue():
    now = [0.0]
    flow = Deletion(clock=lambda: now[0])
    assert flow.step("my b12 is 300", "p") is None
    assert flow.step("delete my data", "p") == "ask"
    flow.asked("p")
    assert flow.step("yes", "p") == "delete"  # typed, right after the question
    assert flow.step("yes", "p") is None  # ... once: later, "yes" is an ordinary message
    flow.asked("p")
    assert flow.step("no", "p") == "keep"
    flow.asked("p")
    assert flow.step("what is mma?", "p") is None  # anything else: nothing happens
    assert flow.step("yes", "p") is None
    flow.asked("p")
    now[0] = deletion.CONFIRM_WITHIN_S + 1
    assert flow.step("yes", "p") is None  # too late for a typed yes
    assert flow.step(KEEP_PAYLOAD, "p") == "keep"
    assert flow.step(confirm_payload("p"), "p") == "delete"  # the button works anywhere
    assert flow.step(confirm_payload("q"), "p") == "refused"  # another conversation's button
