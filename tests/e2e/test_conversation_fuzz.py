"""The conversation fuzzer over REST against the real servers (tests/e2e/fuzz.py).

Every path: a fresh conversation brought to one question, one reply (outsider-written,
a button the bot offered there, or a slash payload), then a red flag. No path may get
a silent turn, a message repeated within a turn, or a red flag without the urgent
reply; the circuit breaker must never trip. How often the bot went where a patient
would expect is reported per half of the reply set (the test half is never tuned on).
"""

from __future__ import annotations

import pytest

from b12core.safety import messages
from tests.e2e.fuzz import BREAKER_LOG_LINE, Fuzzer, load_replies, paths, summary

pytestmark = pytest.mark.e2e
MIN_PATHS = 500


@pytest.fixture(scope="module")
def outcomes(stack):
    texts = messages()
    log = stack.workdir / "rasa.log"
    start = log.stat().st_size
    fuzzer = Fuzzer(stack.send, (texts.urgent, texts.crisis))
    fuzzer.discover_buttons()
    results = [fuzzer.run(p) for p in paths(load_replies(), fuzzer.button_payloads)]
    with log.open("rb") as f:
        f.seek(start)
        trips = f.read().decode("utf-8", "replace").count(BREAKER_LOG_LINE)
    return results, trips, fuzzer.button_payloads


def test_every_state_offers_buttons_that_are_fuzzed(outcomes):
    _, _, buttons = outcomes
    assert set(buttons) == {"b12", "homocysteine", "mma", "folate", "condition", "unit",
                            "after_interpretation", "after_offer"}
    for state in ("b12", "homocysteine", "condition", "unit", "after_offer"):
        assert buttons[state], f"no buttons offered at {state}"
    assert "/stop" not in {p for payloads in buttons.values() for p in payloads}


def test_no_dead_ends_loops_or_silent_turns(outcomes, report_figure):
    results, trips, _ = outcomes
    assert len(results) >= MIN_PATHS
    failing = [f"[{o.path.state}] {o.path.text!r}: {'; '.join(o.problems)}"
               for o in results if o.problems]
    report_figure("conversation fuzzer: " + summary(results).replace("\n", "\n  "))
    assert not failing, f"{len(failing)} of {len(results)} paths failed:\n" + "\n".join(
        failing[:40])
    assert trips == 0, f"the circuit breaker tripped {trips} times"
