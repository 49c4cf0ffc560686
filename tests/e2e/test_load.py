"""Load: 32 concurrent users x 50 messages of mixed traffic, 0 errors, no cross-talk.

Every user runs five lab checks, each in its own conversation, with values no
other user or check uses; each interpretation must show exactly its own values.
"""

from __future__ import annotations

import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from b12core.disclaimer import full_disclaimer, short_disclaimer

pytestmark = pytest.mark.e2e
USERS, CHECKS = 32, 5
B12_SHOWN = re.compile(r"Vitamin B12: (\d+) pmol/L")
HCY_SHOWN = re.compile(r"Homocysteine: ([\d.]+) ")


def script(user: int, check: int) -> tuple[list[str], str, str]:
    """Ten turns of one conversation, and its B12 and homocysteine values."""
    b12 = str(150 + user * 10 + check)
    homocysteine = f"{10 + user}.{check + 1}"  # no trailing zero: shown as typed
    return [
        "hi",
        "can you check my results",
        f"b12 {b12} pmol/L",
        "what is homocysteine",
        f"homocysteine {homocysteine} umol/L",
        "i don't have the others",
        "nash",
        "why is my b12 so high",
        "thanks",
        "bye",
    ], b12, homocysteine


def run_user(stack, user: int) -> tuple[list[str], list[float]]:
    problems, latencies = [], []
    for check in range(CHECKS):
        sender = f"load-{user}-{check}"
        turns, b12, homocysteine = script(user, check)
        for number, text in enumerate(turns):
            start = time.monotonic()
            try:
                messages = stack.send(sender, text)
            except Exception as error:  # every failure is counted
                problems.append(f"{sender} turn {number}: {type(error).__name__}: {error}")
                continue
            latencies.append(time.monotonic() - start)
            reply = "\n\n".join(m.get("text", "") for m in messages)
            if not messages:
                problems.append(f"{sender} turn {number}: empty reply")
            if number == 0 and not reply.startswith(full_disclaimer()):
                problems.append(f"{sender}: no opening disclaimer")
            if text == "nash":
                shown = (B12_SHOWN.findall(reply), HCY_SHOWN.findall(reply))
                if shown != ([b12], [homocysteine]):
                    problems.append(f"{sender}: expected {b12}/{homocysteine}, saw {shown}")
                if not reply.rstrip().endswith(short_disclaimer()):
                    problems.append(f"{sender}: interpretation without the short disclaimer")
    return problems, latencies


def test_32_users_x_50_messages_no_errors_no_cross_talk(stack, report_figure):
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=USERS) as pool:
        results = list(pool.map(lambda user: run_user(stack, user), range(USERS)))
    wall = time.monotonic() - started
    problems = [p for user_problems, _ in results for p in user_problems]
    latencies = sorted(s for _, user_latencies in results for s in user_latencies)
    assert problems == []
    assert len(latencies) == USERS * CHECKS * 10
    assert stack.rasa.poll() is None
    p95 = latencies[int(0.95 * len(latencies)) - 1]
    report_figure(
        f"load, {USERS} users x {CHECKS * 10} messages over REST: {len(latencies)} turns in "
        f"{wall:.0f} s ({len(latencies) / wall:.1f} msg/s), 0 errors, 0 cross-talk; latency "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
    )
