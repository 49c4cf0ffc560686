"""Bounds and fallbacks for the Rasa server's calls to the action server.

Stock Rasa 3.6 waits up to 5 minutes for a custom action, then logs the error
and says nothing: the patient sees silence. ``install`` wraps
``RemoteAction.run`` so every call is bounded (5 s) and a failed call
(unreachable, timeout, 5xx) becomes one apology per user turn, after which
the turn's remaining remote actions are skipped. It also
validates action-server responses with a schema validator compiled once, where
Rasa re-checks the schema itself on every call (about 40% of our server's CPU
per turn in a profile).

Rasa also wraps every tracker store in a FailSafeTrackerStore that, when the
database fails, answers as if the conversation were new and keeps the turn in
memory: the patient gets a fresh start instead of an error, and the error text
(with SQL parameters: users' messages) goes to the log. ``install`` makes those
errors fail the turn instead, logging only the error's type; the channel then
answers with an apology (channels/rest.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from typing import Any

import aiohttp
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.events import (
    BotUttered,
    FollowupAction,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.exceptions import RasaException

from rasa_server.messages import ACTIONS_UNAVAILABLE

logger = logging.getLogger(__name__)

ACTION_TIMEOUT_S = 5.0
NOTICE_KEY = "service_notice"
_INSTALLED = "_b12_guarded"
# Turns (sender, time of the user's message) in which a remote call failed. The
# slot-extraction call cannot carry the apology (Rasa keeps only its SlotSet
# events), so the turn's next remote action learns of the failure here.
_FAILED_TURNS: OrderedDict[tuple[str, float | None], None] = OrderedDict()
_FAILED_TURNS_MAX = 4096


def _turn_key(tracker) -> tuple[str, float | None]:
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return tracker.sender_id, event.timestamp
    return tracker.sender_id, None


def _remember_failure(tracker) -> None:
    _FAILED_TURNS[_turn_key(tracker)] = None
    while len(_FAILED_TURNS) > _FAILED_TURNS_MAX:
        _FAILED_TURNS.popitem(last=False)


def apologised_this_turn(tracker) -> bool:
    """Whether an apology was already sent since the user's latest message."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, BotUttered) and (event.metadata or {}).get(NOTICE_KEY):
            return True
    return False


def apology_events(tracker) -> list:
    """The apology (once per turn), then undo the turn and wait for the user.

    The apology asks the user to send the message again, so the message is
    reverted: the dialogue (an active form, its requested slot) is as before it,
    instead of a rejected form that confuses the policies after recovery. The
    follow-up ends the turn; without it the policies keep predicting actions
    that fail until Rasa's circuit breaker trips.
    """
    undo_turn = [UserUtteranceReverted(), FollowupAction("action_listen")]
    if apologised_this_turn(tracker):
        return undo_turn
    return [BotUttered(ACTIONS_UNAVAILABLE, metadata={NOTICE_KEY: "actions_unavailable"}),
            *undo_turn]


@functools.lru_cache(maxsize=1)
def _response_validator():
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    from jsonschema import ValidationError
    from jsonschema.exceptions import best_match

    error = best_match(_response_validator().iter_errors(result))
    if error is None:
        return True
    if isinstance(error, ValidationError):
        error.message += (
            ". Failed to validate Action server response from API, make sure your "
            "response from the Action endpoint is valid."
        )
    raise error


class TrackerStoreUnavailable(RuntimeError):
    """The tracker store could not load or save a conversation: fail the turn."""


def fail_the_turn(error: Exception) -> None:
    """FailSafeTrackerStore's error callback: log the kind of error, then re-raise."""
    logger.error("tracker store unavailable: error=%s", type(error).__name__)
    raise TrackerStoreUnavailable(type(error).__name__) from error


def install(timeout_s: float = ACTION_TIMEOUT_S) -> None:
    """Guard every remote action call in this process (idempotent)."""
    if getattr(RemoteAction, _INSTALLED, False):
        return
    original_run = RemoteAction.run

    async def guarded_run(self, output_channel, nlg, tracker, domain):
        if _turn_key(tracker) in _FAILED_TURNS:
            # One failed call per turn is enough: don't make the user wait for
            # the next action's timeout too.
            return apology_events(tracker)
        try:
            return await asyncio.wait_for(
                original_run(self, output_channel, nlg, tracker, domain), timeout_s
            )
        except ActionExecutionRejection:
            raise
        except (RasaException, asyncio.TimeoutError, aiohttp.ClientError) as exc:
            # The exception text can quote the request; log only its kind.
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "-"
            logger.warning(
                "action server call failed: action=%s error=%s cause=%s",
                self.name(), type(exc).__name__, cause,
            )
            _remember_failure(tracker)
            if self.name() == "action_session_start":
                # Runs before the user's message is logged: the apology comes
                # with the message's own turn, which fails the same way.
                # HealthAction shows the full disclaimer once the server is back.
                return []
            return apology_events(tracker)

    failsafe_init = FailSafeTrackerStore.__init__

    def strict_init(self, tracker_store, on_tracker_store_error=None,
                    fallback_tracker_store=None):
        failsafe_init(self, tracker_store, on_tracker_store_error or fail_the_turn,
                      fallback_tracker_store)

    FailSafeTrackerStore.__init__ = strict_init
    RemoteAction.run = guarded_run
    RemoteAction._validate_action_result = _validate_action_result
    setattr(RemoteAction, _INSTALLED, True)
