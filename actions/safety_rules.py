"""Safety rules in the conversation: urgent care first, no personal doses or diagnoses."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet

from actions.answers import quote_messages
from actions.health import HealthAction, HealthReply
from actions.kb.topics import load_topics
from actions.safety import detect_red_flags, load_red_flags

REFUSAL = (
    "I can't suggest a dose for you or tell you whether you have a deficiency: that "
    "needs your doctor, who knows your history and your full results. As general "
    "information only, this is what the article says:"
)


class ActionHandleRedFlag(HealthAction):
    """Urgent-care advice and nothing else this turn; an active lab check is stopped."""

    def name(self) -> str:
        return "action_handle_red_flag"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        rules = load_red_flags()
        flags = detect_red_flags(tracker.latest_message.get("text") or "")
        # The classifier may have chosen report_red_flag without the table: still urgent.
        self_harm = any(f.self_harm for f in flags)
        text = rules.self_harm_message if self_harm else rules.urgent_message
        # Any lab check stops here; its values stay in their slots.
        events = (ActiveLoop(None), SlotSet("requested_slot", None))
        return HealthReply(({"text": text},), events)


class ActionRefusePersonalAdvice(HealthAction):
    """A polite refusal, the article's general figures as general information, a referral."""

    def name(self) -> str:
        return "action_refuse_personal_advice"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        passages = load_topics()["ask_personal_advice"]
        return HealthReply(quote_messages(passages, intro=REFUSAL))
