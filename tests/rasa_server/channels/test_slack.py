"""Contract: the Slack channel against a fake Web API, with signed Events API requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from b12core.disclaimer import full_disclaimer, short_disclaimer
from rasa_server.channels.limits import MAX_MESSAGE_CHARS, too_long_reply
from tests.rasa_server.channels.conftest import SLACK_SIGNING_SECRET, SLACK_TOKEN

pytestmark = pytest.mark.e2e

WEBHOOK = "/webhooks/slack/webhook"


def signature(body: bytes, timestamp: int, secret: str = SLACK_SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed(body: bytes, timestamp: int | None = None, secret: str = SLACK_SIGNING_SECRET
           ) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": signature(body, timestamp, secret)}


def message_event(channel: str, user: str, text: str) -> bytes:
    ts = f"{time.time():.6f}"
    return json.dumps({
        "token": "verification-token-unused", "team_id": "T0001", "api_app_id": "A0001",
        "type": "event_callback", "event_id": f"Ev{channel}", "event_time": int(time.time()),
        "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
        "event": {"type": "message", "channel_type": "im", "channel": channel, "user": user,
                  "text": text, "ts": ts, "event_ts": ts},
    }).encode("utf-8")


def button_values(call) -> list[str]:
    return [element["value"] for block in call.params.get("blocks") or []
            if block.get("type") == "actions" for element in block["elements"]]


def test_the_url_verification_challenge_is_echoed(channel_stack):
    body = json.dumps({"token": "unused", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY",
                       "type": "url_verification"}).encode()
    status, reply = channel_stack.post(WEBHOOK, body, signed(body))
    assert (status, reply.decode()) == (200, "3eZbrw1aBm2rZgRNFdxV2595E9CY")


def test_an_unsigned_challenge_is_refused(channel_stack):
    body = json.dumps({"token": "unused", "challenge": "abc", "type": "url_verification"}).encode()
    status, reply = channel_stack.post(WEBHOOK, body)
    assert status == 400
    assert b"abc" not in reply


def test_a_signed_message_is_answered_with_the_reply_and_the_disclaimers(
    channel_stack, slack_api, article_text
):
    channel = "D0SIGNED"
    body = message_event(channel, "U0PAT", "My B12 is 1100 pg/mL and I have NASH")
    status, _ = channel_stack.post(WEBHOOK, body, signed(body))
    assert status == 200
    calls = slack_api.wait_for(lambda c: any(
        m.params["text"].endswith(short_disclaimer()) for m in slack_api.posted_to(channel, c)))
    posted = slack_api.posted_to(channel, calls)
    texts = [m.params["text"] for m in posted]

    assert texts[0] == full_disclaimer()
    expected = '1100 pg/mL (= 811.8 pmol/L). Reference table: in the band it calls "high"'
    assert any(expected in t for t in texts)
    quotes = [t for t in texts if t.startswith('"') and "(from the article, section" in t]
    assert quotes and all(q.split('"\n(from the article')[0][1:] in article_text for q in quotes)
    assert texts[-1].endswith(short_disclaimer())  # after the closing question
    [offer] = [m for m in posted if button_values(m)]
    assert button_values(offer) == ["/affirm", "/deny"]
    assert all(m.headers["Authorization"] == f"Bearer {SLACK_TOKEN}" for m in posted)


@pytest.mark.parametrize("case", ["unsigned", "wrong secret", "tampered body", "stale"])
def test_a_request_not_signed_by_slack_is_refused_and_not_answered(
    channel_stack, slack_api, case
):
    channel = "D0" + case.upper().replace(" ", "")
    body = message_event(channel, "U0MALLORY", "hi")
    headers = {
        "unsigned": {},
        "wrong secret": signed(body, secret="not-the-signing-secret"),
        "tampered body": signed(body.replace(b'"hi"', b'"hello"')),
        "stale": signed(body, timestamp=int(time.time()) - 6 * 60),
    }[case]
    status, _ = channel_stack.post(WEBHOOK, body, headers)
    assert 400 <= status < 500

    # A genuine message sent afterwards is answered; the refused one never is.
    control = f"D0CONTROL{channel}"
    genuine = message_event(control, "U0PAT", "hi")
    assert channel_stack.post(WEBHOOK, genuine, signed(genuine))[0] == 200
    calls = slack_api.wait_for(lambda c: any(button_values(m)
                                             for m in slack_api.posted_to(control, c)))
    assert slack_api.posted_to(channel, calls) == []


def test_an_over_long_message_gets_the_kind_reply_and_no_turn(channel_stack, slack_api):
    channel = "D0TOOLONG"
    body = message_event(channel, "U0LONG", "b12 " * MAX_MESSAGE_CHARS)
    assert channel_stack.post(WEBHOOK, body, signed(body))[0] == 200
    calls = slack_api.wait_for(lambda c: slack_api.posted_to(channel, c))
    assert [m.params["text"] for m in slack_api.posted_to(channel, calls)] == [too_long_reply()]
