"""Safety rules in the conversation: urgent care first, no personal doses or diagnoses."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import quote_messages
from actions.health import HealthAction, HealthReply
from actions.lab_check import slot_value
from b12core.kb.topics import load_topics
from b12core.labs import LabResult, parse
from b12core.labs.interpret import evaluate
from b12core.labs.reference import reference_table
from b12core.safety.triage import first_reply
from b12core.safety.triage import urgent_reply as urgent_reply_text
from b12core.texts import say


def urgent_reply(text: str) -> str:
    """The crisis reply alone, or the urgent reply with the general disclaimer.

    The NLU component sets report_red_flag from the same table; a test story may force
    the intent on other text, which still gets the urgent reply (never silence).
    """
    return first_reply(text) or urgent_reply_text()


def kept_lab_values(text: str) -> list[dict[str, Any]]:
    """Lab values typed with the emergency, kept for later (not interpreted this turn)."""
    panel = parse(text)
    table = reference_table()
    events = []
    for item in panel.values:
        if isinstance(evaluate(item, table), LabResult):
            events.append(SlotSet(item.analyte, slot_value(item)))
    if panel.condition != "unknown":
        events.append(SlotSet("condition", panel.condition))
    return events


class ActionHandleRedFlag(Action):
    """The urgent or crisis reply, first and alone this turn (not a HealthAction: no
    opening or results disclaimer before or after it). An active lab check stops; the
    values it collected and any typed with the emergency stay in their slots."""

    def name(self) -> str:
        return "action_handle_red_flag"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = tracker.latest_message.get("text") or ""
        dispatcher.utter_message(text=urgent_reply(text))
        return [ActiveLoop(None), SlotSet("requested_slot", None), *kept_lab_values(text)]


class ActionRefusePersonalAdvice(HealthAction):
    """A polite refusal, the article's general figures as general information, a referral."""

    def name(self) -> str:
        return "action_refuse_personal_advice"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        passages = load_topics()["ask_personal_advice"]
        return HealthReply(quote_messages(passages, intro=say("answers.personal_advice_refusal")))
