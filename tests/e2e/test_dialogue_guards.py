"""Rasa's circuit breaker, tripped on purpose: the conversation recovers by itself.

With MAX_NUMBER_OF_PREDICTIONS=2 (Rasa reads it from the environment) a side question
inside the lab form (form rejected, then the answer: two actions) trips the breaker.
Stock Rasa then stays silent for the rest of the conversation, red flags included.
"""

from __future__ import annotations

import pytest

from b12core.safety import messages
from b12core.texts import say as bot_says
from tests.e2e.fuzz import BREAKER_LOG_LINE
from tests.e2e.stack import RasaStack, joined

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fragile_stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fragile-stack")
    with RasaStack(workdir, env={"MAX_NUMBER_OF_PREDICTIONS": "2"}).running() as stack:
        yield stack


def test_a_tripped_breaker_is_told_once_and_the_next_messages_are_answered(fragile_stack):
    stack = fragile_stack
    assert "vitamin B12 result" in joined(stack.send("trip", "check my results"))
    tripped = joined(stack.send("trip", "what is homocysteine"))
    assert BREAKER_LOG_LINE in (stack.workdir / "rasa.log").read_text(errors="replace")
    assert tripped.count(bot_says("service.dialogue_recovered")) == 1
    urgent = joined(stack.send("trip", "I am vomiting blood"))
    assert messages().urgent in urgent
    assert "What would you like to do" in joined(stack.send("trip", "hello"))


def test_after_a_trip_the_lab_check_goes_on_from_the_values_given(fragile_stack):
    stack = fragile_stack
    stack.send("trip-2", "check my results")
    recovered = bot_says("service.dialogue_recovered")
    assert recovered in joined(stack.send("trip-2", "what is homocysteine"))
    # The form was stopped, not wiped: a value starts it again, one question at a time.
    assert "homocysteine result" in joined(stack.send("trip-2", "b12 350 pg/mL"))
