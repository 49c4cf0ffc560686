"""End to end over REST: the real action server and Rasa server on loopback."""

from __future__ import annotations

import sqlite3

import pytest

from actions.disclaimer import full_disclaimer, short_disclaimer
from tests.e2e.stack import RasaStack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = RasaStack(tmp_path_factory.mktemp("rasa-stack"))
    try:
        stack.start_actions()
        stack.start_rasa()
        yield stack
    finally:
        stack.stop()


def texts(messages: list[dict]) -> list[str]:
    return [m.get("text", "") for m in messages]


def joined(messages: list[dict]) -> str:
    return "\n\n".join(texts(messages))


def test_first_message_gets_the_full_disclaimer_then_a_greeting(stack):
    reply = joined(stack.send("e2e-greet", "hi"))
    assert reply.startswith(full_disclaimer()[:60])
    assert "not medical advice" in reply
    assert "What would you like to know?" in reply
    # The disclaimer is for the start of a conversation, not every turn.
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


def test_goodbye(stack):
    stack.send("e2e-bye", "hello")
    assert "Goodbye" in joined(stack.send("e2e-bye", "bye"))


def test_conversations_survive_a_restart(stack):
    sender = "e2e-restart"
    first = joined(stack.send(sender, "hi"))
    assert full_disclaimer()[:60] in first
    stack.stop_rasa()
    with sqlite3.connect(stack.db) as db:
        stored = db.execute("SELECT COUNT(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()
    assert stored[0] > 0
    stack.start_rasa()
    # Same session after the restart: no second full disclaimer, and it still answers.
    after = joined(stack.send(sender, "why is my b12 high"))
    assert full_disclaimer()[:60] not in after
    assert "Misleading Blood Levels" in after


def test_other_questions_are_searched_in_the_article(stack):
    stack.send("e2e-search", "hi")
    reply = joined(stack.send("e2e-search", "what did the duke-nus research find"))
    assert "Research from Duke-NUS Medical School indicates" in reply
    assert reply.rstrip().endswith(short_disclaimer())


def test_a_question_the_article_does_not_answer_says_so(stack):
    stack.send("e2e-uncovered", "hi")
    reply = joined(stack.send("e2e-uncovered", "can i drink alcohol with fatty liver"))
    assert "doesn't cover that" in reply
    assert "clinician" in reply
