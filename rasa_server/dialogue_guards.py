"""Dialogue guarantees the policies alone cannot give (installed by the launcher).

**Urgent first.** A message whose intent is ``report_red_flag`` (the RedFlagClassifier
sets it from knowledge/triage.yml, whatever else the NLU thought) gets
``action_handle_red_flag`` as the turn's first action, decided here before any policy
is asked: mid-form, after a fallback, in the unit question, anywhere. The rules in
data/rules/safety.yml say the same for ``rasa test``; this makes it not depend on them.

**Urgent before any disclaimer.** When a conversation's first message is an emergency,
the session start is told so (``b12_urgent_first`` in its metadata) and leaves out the
opening disclaimer: the urgent reply is the first thing the user reads; the full
disclaimer opens the next health reply instead (actions/health.py).

**No action twice in a row.** When no rule covers a message, RulePolicy predicts its
core fallback action (ours answers from the article); nothing covers the state after it
either, so Rasa predicts it again, ten times, until the breaker trips. An action predicted
right after itself within one turn is replaced by ``action_listen``: one answer, then the
bot listens (logged, so the uncovered state can be given a rule).

**No silent conversation.** When Rasa's circuit breaker trips (10 actions predicted
without listening), stock Rasa stops the turn without ``action_listen``; its count then
starts from the previous listen, so it trips again at once on every later message and
the conversation is silent for good, red flags included. Here, after a trip, the lab
form is stopped (its values kept), the user is told once (``service.dialogue_recovered``
in knowledge/texts.yml), a red-flag message still gets the urgent reply, and the turn ends with
``action_listen``, so the next message is handled normally.
"""

from __future__ import annotations

import contextvars
import logging

from rasa.core.actions.action import action_for_name_or_text
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.processor import MessageProcessor
from rasa.shared.core.constants import ACTION_LISTEN_NAME, REQUESTED_SLOT
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    SlotSet,
    UserUttered,
)

from b12core.safety import triage
from b12core.texts import say

logger = logging.getLogger(__name__)

RED_FLAG_INTENT = "report_red_flag"
RED_FLAG_ACTION = "action_handle_red_flag"
GUARD_NAME = "UrgentFirstGuard"
REPEAT_GUARD_NAME = "RepeatGuard"
# Slots of an unfinished question, cleared on recovery (the lab values stay).
QUESTION_SLOTS = (REQUESTED_SLOT, "pending_value", "lab_failures", "lab_issues")
_INSTALLED = "_b12_dialogue_guards"
URGENT_FIRST = "b12_urgent_first"  # actions/session.py reads it
# The text of the message being logged, for the session start that precedes its parsing.
_PENDING_TEXT: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "b12_pending_text", default=None)


def session_metadata(metadata, text):
    """The session-start metadata, marked when the message that opens the session is an
    emergency (the same triage the NLU component runs; cached per text)."""
    if isinstance(text, str) and triage(text).urgent:
        return {**(metadata or {}), URGENT_FIRST: True}
    return metadata


def first_action_of_turn(tracker) -> bool:
    """No action has run since the latest user message."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return True
        if isinstance(event, ActionExecuted):
            return False
    return False


def is_red_flag_turn(tracker) -> bool:
    intent = (tracker.latest_message.intent or {}).get("name") if tracker.latest_message else None
    return intent == RED_FLAG_INTENT and first_action_of_turn(tracker)


def repeats_last_action(tracker, action_name: str) -> bool:
    """``action_name`` is the action that just ran in this turn (a loop to the breaker)."""
    return (action_name != ACTION_LISTEN_NAME and not first_action_of_turn(tracker)
            and tracker.latest_action_name == action_name)


def red_flag_answered(tracker) -> bool:
    """Whether action_handle_red_flag ran after the latest user message."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, ActionExecuted) and event.action_name == RED_FLAG_ACTION:
            return True
    return False


def tripped(processor: MessageProcessor, tracker) -> bool:
    """The prediction loop ended on the circuit breaker (not on action_listen)."""
    latest = tracker.latest_action_name
    return processor.is_action_limit_reached(
        tracker, processor.should_predict_another_action(latest)
    )


async def recover(processor: MessageProcessor, output_channel, tracker) -> None:
    """Stop the form, tell the user once, answer a red flag, then listen."""
    logger.warning("dialogue recovered after the circuit breaker tripped")
    events = [ActiveLoop(None), *(SlotSet(name, None) for name in QUESTION_SLOTS
                                  if name in {s.name for s in processor.domain.slots})]
    tracker.update_with_events(events, processor.domain)
    if (tracker.latest_message.intent or {}).get("name") == RED_FLAG_INTENT and not (
        red_flag_answered(tracker)
    ):
        # Urgent advice first, as on any other turn.
        action = action_for_name_or_text(RED_FLAG_ACTION, processor.domain,
                                         processor.action_endpoint)
        prediction = PolicyPrediction.for_action_name(processor.domain, RED_FLAG_ACTION,
                                                      GUARD_NAME)
        await processor._run_action(action, tracker, output_channel, processor.nlg, prediction)
    notice = [BotUttered(say("service.dialogue_recovered"))]
    tracker.update_with_events(notice, processor.domain)
    await processor.execute_side_effects(notice, tracker, output_channel)
    tracker.update(ActionExecuted(ACTION_LISTEN_NAME))


def install() -> None:
    """Wrap MessageProcessor's prediction (idempotent)."""
    if getattr(MessageProcessor, _INSTALLED, False):
        return
    predict = MessageProcessor._predict_next_with_tracker
    prediction_loop = MessageProcessor._run_prediction_loop
    log_message = MessageProcessor.log_message
    update_session = MessageProcessor._update_tracker_session

    async def logging_message(self, message, should_save_tracker=True):
        token = _PENDING_TEXT.set(message.text)
        try:
            return await log_message(self, message, should_save_tracker)
        finally:
            _PENDING_TEXT.reset(token)

    async def updating_session(self, tracker, output_channel, metadata=None):
        metadata = session_metadata(metadata, _PENDING_TEXT.get())
        await update_session(self, tracker, output_channel, metadata)

    def guarded_predict(self, tracker):
        if is_red_flag_turn(tracker) and RED_FLAG_ACTION in self.domain.action_names_or_texts:
            return PolicyPrediction.for_action_name(self.domain, RED_FLAG_ACTION, GUARD_NAME)
        prediction = predict(self, tracker)
        name = self.domain.action_names_or_texts[prediction.max_confidence_index]
        if repeats_last_action(tracker, name):
            logger.warning("action %s predicted twice in a row: listening instead", name)
            return PolicyPrediction.for_action_name(self.domain, ACTION_LISTEN_NAME,
                                                    REPEAT_GUARD_NAME)
        return prediction

    async def never_silent(self, output_channel, tracker):
        await prediction_loop(self, output_channel, tracker)
        # A turn that ended listening did not trip (the usual case: no event scan).
        if (tracker.latest_action_name != ACTION_LISTEN_NAME
                and self._should_handle_message(tracker) and tripped(self, tracker)):
            await recover(self, output_channel, tracker)

    MessageProcessor._predict_next_with_tracker = guarded_predict
    MessageProcessor._run_prediction_loop = never_silent
    MessageProcessor.log_message = logging_message
    MessageProcessor._update_tracker_session = updating_session
    setattr(MessageProcessor, _INSTALLED, True)
