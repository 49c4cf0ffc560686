"""The conversation fuzzer: every question the bot asks, answered the way people answer it.

For each state the bot can be in (each lab-form question, the unit question, after an
interpretation, after the offer to add values), a fresh conversation is brought to that
state over REST, then one reply is sent: the outsider-written replies in
tests/data/conversation_replies.yml (tune and test halves), every button payload the
bot offers there, and slash payloads. Each path then sends a red flag. A path fails on
an empty reply, a message repeated within one turn, or a red flag without the urgent
reply, or a turn that breaks the disclaimer rules (tests/e2e/audit.py); the Rasa log
must never say the circuit breaker tripped.

Besides these hard checks, each reply's label (what a patient would expect) is compared
with where the bot went: a figure reported per half, never tuned on the test half.

``python -m tests.e2e.fuzz`` runs it against a fresh stack and prints the figures.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.e2e.audit import audit_turn

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REPLIES_PATH = PROJECT_ROOT / "tests" / "data" / "conversation_replies.yml"
BREAKER_LOG_LINE = "Circuit breaker tripped"

# Clear emergencies, one per path in turn: the point is that the urgent reply gets
# through from every dialogue state, not how symptoms are recognised (tests/b12core/safety).
RED_FLAGS = (
    "I am vomiting blood",
    "I have crushing chest pain",
    "my poo is black and tarry",
    "I can't breathe",
    "I want to kill myself",
    "my skin and eyes have gone yellow all of a sudden",
)

# What the bot says when it asks each question (fragments of its texts): the question
# itself, and its follow-ups (asking for the number, where to find it, the unit's help).
ASKS = {
    "b12": ("What was your vitamin B12 result?", "Please type the vitamin B12 number",
            "A B12 result is needed"),
    "homocysteine": ("Do you have a homocysteine result?", "Please type the homocysteine number",
                     "On a lab report, homocysteine"),
    "mma": ("Do you have an MMA (methylmalonic acid) result?",
            "Please type the MMA (methylmalonic acid) number",
            "On a lab report, MMA (methylmalonic acid)"),
    "folate": ("Do you have a folate result?", "Please type the folate number",
               "On a lab report, folate"),
    "condition": ("Which liver condition",),
    "unit": ("Which unit", "The unit is printed right after the number"),
    "reuse": ("same results again, or enter new ones",),
    "interpretation": ("Your results against general reference ranges",),
    "offer": ("Would you like to add your other results",),
}
FORM_ORDER = ("b12", "homocysteine", "mma", "folate", "condition")

FULL = "b12 350 pg/mL, homocysteine 12 umol/L, mma 0.25 umol/L, folate 15 nmol/L, I have NAFLD"
Q = {state: fragments[0] for state, fragments in ASKS.items()}
PRELUDES: dict[str, tuple[tuple[str, str], ...]] = {
    # (message, fragment the bot's reply must contain): each state reached as a user would.
    "b12": (("check my results", Q["b12"]),),
    "homocysteine": (("check my results", Q["b12"]), ("350 pg/mL", Q["homocysteine"])),
    "mma": (("check my results", Q["b12"]), ("350 pg/mL", Q["homocysteine"]),
            ("12 umol/L", Q["mma"])),
    "folate": (("check my results", Q["b12"]), ("350 pg/mL", Q["homocysteine"]),
               ("12 umol/L", Q["mma"]), ("0.25 umol/L", Q["folate"])),
    "condition": (("check my results", Q["b12"]), ("350 pg/mL", Q["homocysteine"]),
                  ("12 umol/L", Q["mma"]), ("0.25 umol/L", Q["folate"]),
                  ("15 nmol/L", Q["condition"])),
    "unit": (("check my results", Q["b12"]), ("my b12 was 300", Q["unit"])),
    "after_interpretation": ((FULL, Q["interpretation"]),),
    "after_offer": (("my b12 is 1100 pg/mL and I have cirrhosis", Q["offer"]),),
}

# Slash payloads people (or other clients) may send anywhere: the bot's own intents,
# Rasa's defaults, and made-up ones.
SLASH_PAYLOADS = ("/affirm", "/deny", "/skip_value", "/greet", "/request_lab_check",
                  "/request_start_over", "/stop_lab_check", "/restart", "/nonsense",
                  "/", "/inform_lab_values")


@dataclass(frozen=True)
class Path_:
    state: str
    text: str
    expect: str
    source: str  # "tune", "test", "button" or "slash"


@dataclass
class Outcome:
    path: Path_
    reply: list[dict]
    problems: list[str] = field(default_factory=list)
    landed: str = ""
    met: bool | None = None


def load_replies(path: Path = REPLIES_PATH) -> dict[str, dict[str, list[dict]]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["states"]


def texts(messages: list[dict]) -> list[str]:
    return [m.get("text") or "" for m in messages]


def buttons(messages: list[dict]) -> list[str]:
    return [b["payload"] for m in messages for b in m.get("buttons") or []]


def where(messages: list[dict]) -> str:
    """Where a reply leaves the conversation: the question it ends on, or what it showed."""
    if not any(t.strip() for t in texts(messages)):
        return "silent"
    for text in reversed(texts(messages)):
        for state in ("unit", "reuse", "offer", "condition", "folate", "mma", "homocysteine",
                      "b12"):
            if any(fragment in text for fragment in ASKS[state]):
                return state
    joined = "\n".join(texts(messages))
    if Q["interpretation"] in joined:
        return "interpretation"
    if "stopped the lab check" in joined:
        return "stopped"
    return "other"


# Where a reply with this label should leave the conversation, per state.
def expected(state: str, label: str) -> Callable[[str, str], bool]:
    nxt = {s: (FORM_ORDER[i + 1] if i + 1 < len(FORM_ORDER) else "interpretation")
           for i, s in enumerate(FORM_ORDER)}
    here = "b12" if state == "unit" else state
    stays = (here, "unit") if state == "unit" else (here,)

    def same_or_forward(landed: str, joined: str) -> bool:
        return landed in (here, nxt.get(here, ""), "unit", "condition", "interpretation")

    rules: dict[str, Callable[[str, str], bool]] = {
        "value": lambda landed, joined: landed not in (here, "silent"),
        "skip": lambda landed, joined: landed == nxt.get(here)
        or (here == "b12" and landed in ("b12", "unit")),
        "skip_all": lambda landed, joined: landed in ("condition", "interpretation")
        or (here == "b12" and landed == "b12") or state == "after_offer",
        "affirm": lambda landed, joined: landed == here or (
            state == "after_offer" and landed in FORM_ORDER),
        "unsure": lambda landed, joined: landed in (here, nxt.get(here, ""), "interpretation")
        or "report" in joined.lower(),
        "condition": lambda landed, joined: landed == "interpretation",
        "question": lambda landed, joined: landed in (*stays, "other", "interpretation")
        and len(joined) > 80,
        "correction": lambda landed, joined: landed != "silent",
        "other_test": same_or_forward,
        # Straight to B12, or through "the same results, or new ones?" after a check.
        "restart": lambda landed, joined: landed in ("b12", "reuse"),
        "stop": lambda landed, joined: landed in ("stopped", "other"),
        "social": lambda landed, joined: landed != "silent",
        "unclear": lambda landed, joined: landed in (*stays, "other", "stopped"),
    }
    return rules.get(label, lambda landed, joined: landed != "silent")


def paths(replies: dict[str, dict[str, list[dict]]], button_payloads: dict[str, list[str]]
          ) -> Iterator[Path_]:
    for state, halves in replies.items():
        for half in ("tune", "test"):
            for item in halves[half]:
                yield Path_(state, item["text"], item["expect"], half)
        for payload in button_payloads.get(state, []):
            yield Path_(state, payload, "button", "button")
        for payload in SLASH_PAYLOADS:
            yield Path_(state, payload, "slash", "slash")


def check_turn(messages: list[dict]) -> list[str]:
    problems = []
    if not messages or not any((m.get("text") or "").strip() or m.get("custom")
                               for m in messages):
        problems.append("silent turn")
    seen = Counter(t.strip() for t in texts(messages) if t.strip())
    repeated = [t for t, n in seen.items() if n > 1]
    if repeated:
        problems.append(f"repeated within the turn: {repeated[0][:80]!r}")
    return problems


class Fuzzer:
    """Runs paths against ``send(sender, text) -> messages`` (the REST channel)."""

    def __init__(self, send: Callable[[str, str], list[dict]], urgent: tuple[str, ...]):
        self.send = send
        self.urgent = urgent
        self.flags = itertools.cycle(RED_FLAGS)
        self.button_payloads: dict[str, list[str]] = {}

    def reach(self, state: str, sender: str) -> list[dict]:
        reply: list[dict] = []
        for message, fragment in PRELUDES[state]:
            reply = self.send(sender, message)
            joined = "\n".join(texts(reply))
            if fragment not in joined:
                raise AssertionError(
                    f"could not reach {state}: {message!r} got {joined[-300:]!r}")
        return reply

    def discover_buttons(self) -> dict[str, list[str]]:
        """The payloads the bot itself offers in each state."""
        for state in PRELUDES:
            reply = self.reach(state, f"fuzz-buttons-{uuid.uuid4().hex[:8]}")
            self.button_payloads[state] = list(dict.fromkeys(buttons(reply)))
        return self.button_payloads

    def run(self, path: Path_) -> Outcome:
        sender = f"fuzz-{uuid.uuid4().hex[:12]}"
        self.reach(path.state, sender)
        reply = self.send(sender, path.text)
        outcome = Outcome(path, reply, check_turn(reply) + audit_turn(texts(reply), False))
        outcome.landed = where(reply)
        if path.expect not in ("button", "slash"):
            outcome.met = expected(path.state, path.expect)(
                outcome.landed, "\n".join(texts(reply)))
        flag = next(self.flags)
        flagged = self.send(sender, flag)
        urgent_reply = "\n".join(texts(flagged))
        outcome.problems += [f"after {flag!r}: {p}" for p in audit_turn(texts(flagged), False)]
        if not any(u in urgent_reply for u in self.urgent):
            outcome.problems.append(f"no urgent reply to {flag!r} after this reply")
        return outcome


def summary(outcomes: list[Outcome]) -> str:
    lines = [f"paths: {len(outcomes)}; failing: {sum(bool(o.problems) for o in outcomes)}"]
    for half in ("tune", "test"):
        rated = [o for o in outcomes if o.path.source == half and o.met is not None]
        if rated:
            met = sum(o.met for o in rated)
            lines.append(f"{half} half: expectation met {met}/{len(rated)} "
                         f"({100 * met / len(rated):.1f}%)")
            by_label = Counter((o.path.expect, o.met) for o in rated)
            labels = sorted({o.path.expect for o in rated})
            lines.append("  " + ", ".join(
                f"{lab} {by_label[(lab, True)]}/{by_label[(lab, True)] + by_label[(lab, False)]}"
                for lab in labels))
    return "\n".join(lines)


def _main() -> None:  # pragma: no cover - a developer's command
    import argparse
    import tempfile

    from b12core.safety import messages
    from tests.e2e.stack import RasaStack

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", action="append", help="only these states")
    parser.add_argument("--misses", choices=("tune", "test"), help="print this half's misses")
    args = parser.parse_args()
    safety = messages()  # not "texts": that name is the reply-text helper used below
    with tempfile.TemporaryDirectory() as tmp, RasaStack(Path(tmp)).running() as stack:
        fuzzer = Fuzzer(stack.send, (safety.urgent, safety.crisis))
        fuzzer.discover_buttons()
        replies = load_replies()
        if args.state:
            replies = {s: v for s, v in replies.items() if s in args.state}
        outcomes = [fuzzer.run(p) for p in paths(replies, fuzzer.button_payloads)]
        log = (Path(tmp) / "rasa.log").read_text(errors="replace")
    print(summary(outcomes))
    print(f"circuit breaker trips in the log: {log.count(BREAKER_LOG_LINE)}")
    for o in outcomes:
        if o.problems:
            print(f"FAIL [{o.path.state}] {o.path.text!r}: {'; '.join(o.problems)}")
    if args.misses:
        for o in outcomes:
            if o.path.source == args.misses and o.met is False:
                last = re.sub(r"\s+", " ", texts(o.reply)[-1] if o.reply else "")[:160]
                print(f"MISS [{o.path.state}] {o.path.text!r} ({o.path.expect}) -> "
                      f"{o.landed}: {last}")


if __name__ == "__main__":
    _main()
