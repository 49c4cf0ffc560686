"""Faults of the action server: down or hung, the patient gets a clear apology in
bounded time, and the conversation carries on when it is back."""

from __future__ import annotations

import os
import signal
import time

import pytest

from b12core.disclaimer import full_disclaimer, short_disclaimer
from b12core.safety import first_reply, messages
from b12core.texts import say as bot_says
from tests.e2e.stack import joined

pytestmark = pytest.mark.e2e


def timed_send(stack, sender: str, text: str) -> tuple[list[dict], float]:
    start = time.monotonic()
    reply = stack.send(sender, text)
    return reply, time.monotonic() - start


def test_action_server_down_apology_within_2s_then_recovery(stack, report_figure):
    sender, newcomer = "fault-down", "fault-newcomer"
    stack.send(sender, "can you check my results")
    assert "homocysteine result" in joined(stack.send(sender, "b12 480 pmol/L"))
    stack.stop_actions()
    try:
        status, checks = stack.ready()
        assert (status, checks["action_server"]) == (503, "error: ClientConnectorError")
        reply, elapsed = timed_send(stack, sender, "i don't have the others")
        texts = [m.get("text") for m in reply]
        # One apology, nothing else, no traceback.
        assert texts == [bot_says("service.actions_unavailable")]
        assert elapsed < 2.0
        # A conversation that starts during the outage gets the apology too.
        first, elapsed_new = timed_send(stack, newcomer, "hi")
        assert [m.get("text") for m in first] == [bot_says("service.actions_unavailable")]
        assert elapsed_new < 2.0
        # An emergency is still answered, by the Rasa server from the same table.
        urgent = [m.get("text") for m in stack.send("fault-urgent", "my husband just collapsed")]
        # (Rasa's output channels send a text's paragraphs as separate messages.)
        assert "\n\n".join(urgent) == first_reply("my husband just collapsed")
        crisis = [m.get("text") for m in stack.send("fault-crisis", "i want to end my life")]
        assert crisis == [messages().crisis]
        report_figure(f"apology with the action server down: {elapsed * 1000:.0f} ms "
                      f"(mid-form), {elapsed_new * 1000:.0f} ms (new conversation)")
    finally:
        stack.start_actions()
    status, checks = stack.ready()
    assert (status, checks["action_server"]) == (200, "ok")
    # Back: the form goes on with the value collected before the outage.
    after = joined(stack.send(sender, "i don't have the others"))
    after += joined(stack.send(sender, "cirrhosis"))
    assert "Vitamin B12: 480 pmol/L" in after
    assert after.rstrip().endswith(short_disclaimer())
    # The newcomer never saw the full disclaimer: the first health reply shows it first.
    answer = joined(stack.send(newcomer, "what is homocysteine"))
    assert answer.startswith(full_disclaimer())
    assert answer.rstrip().endswith(short_disclaimer())


def test_hung_action_server_is_bounded_to_5s_per_turn(stack, report_figure):
    sender = "fault-hung"
    stack.send(sender, "hi")
    os.killpg(stack.actions.pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        reply, elapsed = timed_send(stack, sender, "what is homocysteine")
        assert [m.get("text") for m in reply] == [bot_says("service.actions_unavailable")]
        assert 4.5 <= elapsed < 7.0  # one 5 s bound, not one per remote action
        report_figure(f"apology with the action server hung: {elapsed:.1f} s")
    finally:
        os.killpg(stack.actions.pid, signal.SIGCONT)
    answer = joined(stack.send(sender, "what is homocysteine"))
    assert "Here is what the article says:" in answer
    assert answer.rstrip().endswith(short_disclaimer())
