"""Every conversation opens with the full disclaimer, whatever channel it comes from."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, BotUttered, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from b12core.disclaimer import full_disclaimer

# Set by the Rasa server (rasa_server/dialogue_guards.py) in the session-start metadata
# when the conversation's first message is an emergency: the urgent reply comes first,
# and the first health reply after it opens with the full disclaimer (HealthAction).
URGENT_FIRST = "b12_urgent_first"


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = [SessionStarted()]
        if domain.get("session_config", {}).get("carry_over_slots_to_new_session", True):
            events.extend(
                SlotSet(key, value)
                for key, value in tracker.current_slot_values().items()
                if value is not None
            )
        # As an event after SessionStarted, not a dispatcher message (which Rasa
        # logs before the action's events): tracker stores load a conversation
        # from its latest session start, and HealthAction checks that the
        # disclaimer is in it.
        metadata = tracker.get_slot("session_started_metadata") or {}
        if not (isinstance(metadata, dict) and metadata.get(URGENT_FIRST)):
            events.append(BotUttered(text=full_disclaimer()))
        events.append(ActionExecuted("action_listen"))
        return events
