"""The disclaimer choke point: every action that shows health information derives
from ``HealthAction``, whose ``run`` cannot be overridden and always ends the turn
with the short disclaimer, and opens it with the full one if the conversation has
not shown it yet (its session start failed, or the conversation opened with an urgent
reply, which comes before any disclaimer). A question about a red-flag symptom gets the
triage table's safety-net line after its answer."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from b12core.disclaimer import full_disclaimer, short_disclaimer
from b12core.safety import SAFETY_NET, messages, triage


@dataclass(frozen=True)
class HealthReply:
    """What a health action wants to say: messages as ``utter_message`` kwargs, and events."""

    messages: tuple[dict[str, Any], ...]
    events: tuple[dict[str, Any], ...] = field(default=())


def with_disclaimer(messages: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """The messages with the short disclaimer closing the last text (or added after it)."""
    out = [dict(m) for m in messages]
    disclaimer = short_disclaimer()
    if out and out[-1].get("text"):
        out[-1]["text"] = f"{out[-1]['text']}\n\n{disclaimer}"
    else:
        out.append({"text": disclaimer})
    return out


def full_disclaimer_shown(tracker: Tracker) -> bool:
    """Whether any bot message of this conversation carried the full disclaimer."""
    text = full_disclaimer()
    return any(
        event.get("event") == "bot" and text in (event.get("text") or "")
        for event in tracker.events
    )


class HealthAction(Action, abc.ABC):
    """Base of every action that carries health information.

    Subclasses implement ``name`` and ``respond``; ``run`` is final, so no
    subclass can send a health reply without the disclaimer.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "run" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must implement respond(), not override run()")

    @abc.abstractmethod
    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        """The reply for this turn, without the disclaimer."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        reply = await self.respond(tracker, domain)
        if not full_disclaimer_shown(tracker):
            dispatcher.utter_message(text=full_disclaimer())
        body = reply.messages
        if triage(tracker.latest_message.get("text") or "").level == SAFETY_NET:
            # A question about a symptom: its answer, then one line on what to do if it
            # is happening now (the urgent reply itself is for reports, not questions).
            body = (*body, {"text": messages().safety_net})
        for message in with_disclaimer(body):
            dispatcher.utter_message(**message)
        return list(reply.events)
