"""End to end over REST: the real action server and Rasa server on loopback."""

from __future__ import annotations

import sqlite3

import pytest

from b12core.disclaimer import full_disclaimer, short_disclaimer
from tests.e2e.stack import joined

pytestmark = pytest.mark.e2e


def test_first_message_gets_the_full_disclaimer_then_a_greeting(stack):
    reply = joined(stack.send("e2e-greet", "hi"))
    assert reply.startswith(full_disclaimer())
    assert "not medical advice" in reply
    assert "What would you like to do?" in reply
    # The full disclaimer is for the start of a conversation, not every turn.
    assert full_disclaimer()[:60] not in joined(stack.send("e2e-greet", "hello"))


def test_a_question_is_answered_with_a_verbatim_quote_and_the_short_disclaimer(
    stack, article_text
):
    stack.send("e2e-question", "hi")
    reply = joined(stack.send("e2e-question", "why is my b12 so high, i have cirrhosis"))
    quote = (
        "When the liver is damaged by conditions like NAFLD, particularly in advanced "
        "stages such as NASH or cirrhosis, stored B12 can be released into the bloodstream."
    )
    assert quote in article_text
    assert f'"{quote}"' in reply
    assert 'section "B12, the Liver, and Misleading Blood Levels"' in reply
    assert reply.rstrip().endswith(short_disclaimer())


def test_conversations_survive_a_restart(stack):
    sender = "e2e-restart"
    assert full_disclaimer()[:60] in joined(stack.send(sender, "can you check my results"))
    assert "homocysteine result" in joined(stack.send(sender, "b12 480 pmol/L"))
    stack.stop_rasa()
    with sqlite3.connect(stack.db) as db:
        stored = db.execute("SELECT COUNT(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()
    assert stored[0] > 0
    stack.start_rasa()
    # Same session after the restart: no second disclaimer, and the form goes on with
    # the B12 value collected before the restart.
    after = joined(stack.send(sender, "i don't have the others"))
    assert full_disclaimer()[:60] not in after
    assert "Which liver condition" in after
    final = joined(stack.send(sender, "cirrhosis"))
    assert "Vitamin B12: 480 pmol/L" in final
