"""B12_SPEEDUPS=off: the launcher runs stock Rasa code, the safety guards stay on, and a
patient reads exactly what the default server says."""

from __future__ import annotations

import pytest

from b12core.disclaimer import full_disclaimer
from b12core.texts import say as bot_says
from tests.e2e.stack import RasaStack

pytestmark = pytest.mark.e2e

# A conversation through every part the speed patches touch: NLU (count vectors, DIET,
# the graph runner), rules and memoization, the form and its action calls, a quote, a
# red flag in the middle of the form.
CONVERSATION = (
    "hi",
    "can you check my results",
    "my b12 is 250 pg/ml",
    "not sure",
    "why is my b12 high with cirrhosis",
    "i have crushing chest pain",
    "homocysteine 18 umol/l",
    "skip",
    "nash",
    "bye",
)


@pytest.fixture(scope="module")
def stock_stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("speedups-off")
    with RasaStack(workdir, env={"B12_SPEEDUPS": "off"}).running() as stack:
        yield stack


def _texts(stack, sender):
    return [[m.get("text", "") for m in stack.send(sender, text)] for text in CONVERSATION]


def test_the_launcher_says_once_that_the_speedups_are_off(stock_stack):
    log = (stock_stack.workdir / "rasa.log").read_text(errors="replace")
    assert log.count("speed-ups off (B12_SPEEDUPS=off): stock Rasa code runs, "
                     "safety guards on") == 1


def test_a_conversation_reads_the_same_with_and_without_the_speedups(stack, stock_stack):
    with_speedups = _texts(stack, "parity-fast")
    stock = _texts(stock_stack, "parity-stock")
    assert stock[0][0].startswith(full_disclaimer()[:60])
    assert any("emergency" in text.lower() or "999" in text or "911" in text
               for text in stock[5]), stock[5]
    assert stock == with_speedups


def test_the_action_call_guard_still_apologises_without_the_speedups(stock_stack):
    stock_stack.send("guard-off", "hi")
    stock_stack.stop_actions()
    try:
        reply = " ".join(m.get("text", "") for m in stock_stack.send("guard-off",
                                                                     "check my results"))
        assert reply.strip(), "silence: the action-call guard is not installed"
        assert bot_says("service.actions_unavailable")[:60] in reply, reply
    finally:
        stock_stack.start_actions()
