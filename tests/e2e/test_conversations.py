"""Multi-turn conversations over REST with the real servers, and the disclaimer audit.

Every conversation here and every test story in tests/test_stories.yml is replayed
turn by turn; each turn must follow the disclaimer rules (tests/e2e/audit.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from b12core.disclaimer import full_disclaimer, general_disclaimer, short_disclaimer
from b12core.safety import messages
from tests.e2e.audit import ConversationAudit, audit_turn

pytestmark = pytest.mark.e2e
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Turn:
    text: str
    says: tuple[str, ...] = ()
    never: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()  # payloads that must be offered
    alone: bool = False  # the reply is exactly one message plus the short disclaimer


@dataclass(frozen=True)
class Conversation:
    name: str
    turns: tuple[Turn, ...] = field(default=())


def urgent() -> str:
    return messages().urgent


CONVERSATIONS = (
    Conversation("greeting and a topic question", (
        Turn("hello", says=("not medical advice", "What would you like to do?"),
             buttons=("/request_lab_check",)),
        Turn("why is my b12 so high when i have fatty liver",
             says=('"This often leads to elevated serum B12 levels',
                   'section "B12, the Liver, and Misleading Blood Levels"')),
        Turn("thanks", says=("You're welcome",)),
        Turn("bye", says=("Goodbye",)),
    )),
    Conversation("full check with a unit question, skips and a condition", (
        Turn("can you help me understand my results", says=("vitamin B12 result",)),
        Turn("my b12 is 300", says=("Which unit",), buttons=("pmol/L", "pg/mL")),
        Turn("pg/mL", says=("homocysteine result",), buttons=("/skip_value",)),
        Turn("i don't have it", says=("MMA",)),
        Turn("0,45", says=("folate result",)),
        Turn("I don't have the others", says=("Which liver condition",), buttons=("NASH",)),
        Turn("i have nash", says=(
            "Vitamin B12: 300 pg/mL (= 221.4 pmol/L). Reference table: in the band it calls "
            '"borderline"',
            '0.45 µmol/L. Reference table: in the band it calls "elevated"',
            "No unit was given; I assumed µmol/L",
            '"Overall Nutrition: Liver disease can cause multiple vitamin deficiencies',
            "Questions you could take to your clinician",
            "Laboratories set their own reference ranges")),
    )),
    Conversation("quick check, add the rest", (
        Turn("b12 was 1100 pg/mL, I have cirrhosis", says=(
            '1100 pg/mL (= 811.8 pmol/L). Reference table: in the band it calls "high"',
            "stored B12 can be released into the bloodstream",
            "Would you like to add your other results"), buttons=("/affirm", "/deny")),
        Turn("yes please", says=("homocysteine result",)),
        Turn("homocysteine 17.2 umol/L", says=("MMA",)),
        Turn("skip the rest", says=(
            'Homocysteine: 17.2 µmol/L. Reference table: in the band it calls "elevated" '
            "(moderate)",
            "High serum B12 can coexist with functional deficiency",
            "B12 is essential for converting homocysteine into methionine.")),
    )),
    Conversation("a pasted lab report: the lab's range first, another test noted", (
        Turn("Serum vitamin B12 level\t162 ng/L\t[187 - 883]\tL\n"
             "Active B12\t28\tpmol/L\t(>35)\n\nI have NASH", says=(
                 "flagged L by your lab. Your lab's range: 187-883 ng/L: below it.",
                 'Reference table: in the band it calls "deficient"',
                 "Active B12 (holotranscobalamin) 28 pmol/L",
                 "no MMA (methylmalonic acid) result was given or could be read",
                 "Would you like to add your other results"),
             never=("28 pmol/L: ", "Vitamin B12: 28")),
    )),
    Conversation("a history: the latest result interpreted, the earlier one shown", (
        Turn("b12 last year 180 pmol/L, now 420 pmol/L, I have NAFLD", says=(
            "Vitamin B12: 420 pmol/L. Reference table: within the range it calls normal",
            "Earlier results you gave (kept as history, not interpreted): vitamin B12 180 pmol/L"),
             never=("Vitamin B12: 180 pmol/L",)),
    )),
    Conversation("quick check, no more values, then a correction", (
        Turn("my b12 came back at 1,100 pg/ml and i have nash", says=("811.8 pmol/L",)),
        Turn("no thanks", says=("anything else",)),
        Turn("actually my B12 was 450 pmol/L", says=("Vitamin B12: 450 pmol/L",),
             never=("811.8",)),
    )),
    Conversation("bad values are explained, then the bot says what it expects", (
        Turn("i want to check my b12 result", says=("vitamin B12 result",)),
        Turn("my b12 is -5", says=("above zero",)),
        Turn("b12 was 3 pmol/L", says=("I still couldn't read that", "pmol/L, pg/mL, ng/L"),
             buttons=("/stop_lab_check",)),
        Turn("b12 was 480 pmol/L", says=("homocysteine result",)),
    )),
    Conversation("side questions during the check", (
        Turn("can you look at my blood results", says=("vitamin B12 result",)),
        Turn("wait, what is an mma test", says=("via MMA test", "vitamin B12 result")),
        Turn("b12 480 pmol/L", says=("homocysteine result",)),
        Turn("how much b12 should i take", says=(
            "I can't suggest a dose for you", "2.4 mcg of B12 daily", "homocysteine result")),
    )),
    Conversation("a red flag during the check comes first and alone", (
        Turn("can you check my results", says=("vitamin B12 result",)),
        Turn("my b12 is 300 and i've been throwing up blood", says=(urgent(),),
             never=("homocysteine result", "vitamin B12 result", "Which unit"), alone=True),
        Turn("ok", never=("vitamin B12 result",)),
    )),
    Conversation("self-harm gets the crisis message", (
        Turn("i feel like ending it all", says=(messages().crisis,),
             never=(full_disclaimer(), "not medical advice", "your results"), alone=True),
    )),
    Conversation("an emergency first: urgent reply before any disclaimer, values kept", (
        Turn("b12 is 150 pmol/l and I keep tripping over my own feet", says=(urgent(),),
             never=(full_disclaimer(), "discuss your results", "vitamin B12 result"),
             alone=True),
        Turn("what is homocysteine", says=(full_disclaimer(), "homocysteine")),
        Turn("check my results", never=("vitamin B12 result?",)),
    )),
    Conversation("a question about a symptom: its answer and the safety net, no alarm", (
        Turn("is vomiting blood a sign of cirrhosis?", says=(messages().safety_net,),
             never=(urgent(),)),
        Turn("no bleeding or anything, i only want to understand my b12", never=(urgent(),)),
    )),
    Conversation("personal advice, out of scope and garbage", (
        Turn("what dose of b12 is right for me", says=(
            "I can't suggest a dose for you",
            "Studies exploring B12 in NAFLD have used doses like 1000 mcg daily.")),
        Turn("can i drink alcohol with fatty liver", says=("doesn't cover that", "clinician")),
        Turn("qwzx blorf vvv", says=("rephrase",), buttons=("/request_lab_check",)),
    )),
    Conversation("stop, then pick the check up again with the values kept", (
        Turn("b12 480 pmol/L", says=("homocysteine result",)),
        Turn("never mind", says=("stopped the lab check",)),
        Turn("check my results", says=("homocysteine result",), never=("vitamin B12 result",)),
        Turn("I don't have the others", says=("Which liver condition",)),
        Turn("not sure", says=("Vitamin B12: 480 pmol/L",)),
    )),
)


def _texts(messages: list[dict]) -> list[str]:
    return [m.get("text", "") for m in messages]


def _payloads(messages: list[dict]) -> list[str]:
    return [b["payload"] for m in messages for b in m.get("buttons") or []]


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=lambda c: c.name)
def test_conversation(stack, conversation):
    sender = f"conv-{CONVERSATIONS.index(conversation)}"
    audit = ConversationAudit()
    for number, turn in enumerate(conversation.turns):
        messages = stack.send(sender, turn.text)
        texts = _texts(messages)
        reply = "\n\n".join(texts)
        where = f"{conversation.name}, turn {number + 1} ({turn.text!r}):\n{reply}"
        assert not audit.turn(texts), where
        for expected in turn.says:
            assert expected in reply, where
        for unexpected in turn.never:
            assert unexpected not in reply, where
        for payload in turn.buttons:
            assert payload in _payloads(messages), where
        if turn.alone:
            body = [t for t in texts if t and t not in (short_disclaimer(), general_disclaimer())]
            opening = int(bool(texts) and texts[0] == full_disclaimer())
            assert len(body) == 1 + opening, where


def _story_user_turns() -> list[tuple[str, list[str]]]:
    data = yaml.safe_load((PROJECT_ROOT / "tests" / "test_stories.yml").read_text("utf-8"))
    return [
        (story["story"], [step["user"].strip() for step in story["steps"] if "user" in step])
        for story in data["stories"]
    ]


@pytest.mark.parametrize(("story", "user_turns"), _story_user_turns(),
                         ids=[s for s, _ in _story_user_turns()])
def test_every_test_story_follows_the_disclaimer_rules(stack, story, user_turns):
    sender = f"audit-{story}"
    health_turns = 0
    audit = ConversationAudit()
    for number, text in enumerate(user_turns):
        texts = _texts(stack.send(sender, text))
        problems = audit.turn(texts)
        assert not problems, f"{story}, turn {number + 1} ({text!r}): {problems}\n{texts}"
        health_turns += any("not medical advice" in t for t in texts)
    assert health_turns >= 1


def test_the_audit_can_fail():
    """The checker itself: a quote without the disclaimer is caught."""
    quote = '"Studies exploring B12 in NAFLD have used doses like 1000 mcg daily."'
    assert audit_turn([quote], first_turn=False) == [
        "health information without the short disclaimer"
    ]
    assert audit_turn(["hi"], first_turn=True) == [
        "the conversation does not open with the full disclaimer"
    ]
    assert audit_turn(["your result is fine"], first_turn=False) == ["reassurance: 'fine'"]
