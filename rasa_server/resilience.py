"""Bounds and fallbacks for the Rasa server's calls to the action server.

Stock Rasa 3.6 waits up to 5 minutes for a custom action, then logs the error
and says nothing: the patient sees silence. ``install`` wraps
``RemoteAction.run`` so every call is bounded (5 s) and a failed call
(unreachable, timeout, 5xx) becomes one apology per user turn, after which
the turn's remaining remote actions are skipped. It also
validates action-server responses with validators built once and checked per
event type, where Rasa re-checks the schema itself on every call and tries all
23 event types for every event (measured: docs/performance.md).

Rasa also wraps every tracker store in a FailSafeTrackerStore that, when the
database fails, answers as if the conversation were new and keeps the turn in
memory: the patient gets a fresh start instead of an error, and the error text
(with SQL parameters: users' messages) goes to the log. ``install`` makes those
errors fail the turn instead, logging only the error's type; the channel then
answers with an apology (rasa_server/channels/rest.py).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import fastjsonschema
import ujson
from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.events import (
    ActiveLoop,
    BotUttered,
    FollowupAction,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from b12core.safety import first_reply
from b12core.texts import say
from rasa_server.rawhttp import RawClient

logger = logging.getLogger(__name__)

ACTION_TIMEOUT_S = 5.0
NOTICE_KEY = "service_notice"
RED_FLAG_ACTION = "action_handle_red_flag"
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
    notice = BotUttered(say("service.actions_unavailable"),
                        metadata={NOTICE_KEY: "actions_unavailable"})
    return [notice, *undo_turn]


def urgent_fallback_events(tracker) -> list:
    """The urgent or crisis reply when action_handle_red_flag cannot be called."""
    text = first_reply(tracker.latest_message.text if tracker.latest_message else "")
    if text is None:  # the intent was forced without a table match (test stories)
        return apology_events(tracker)
    return [BotUttered(text, metadata={NOTICE_KEY: "urgent_fallback"}), ActiveLoop(None),
            FollowupAction("action_listen")]


class ResponseChecker:
    """Rasa's action-response schema, checked per event type.

    The schema's events are a ``oneOf`` over 23 event types, each pinned by a
    distinct ``event`` constant: jsonschema tries every branch for every event
    (two or three responses a turn). Only the branch
    whose constant matches can pass, so checking that branch alone (with the
    items' shared part) accepts exactly what the full schema accepts; those
    checks are compiled to Python by fastjsonschema. Anything they reject goes
    through jsonschema and the full schema, which has the last word and gives
    Rasa's error.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        cls = validator_for(schema)
        cls.check_schema(schema)
        self.full = cls(schema)
        events = schema["properties"]["events"]
        items = events["items"]
        shared = {key: value for key, value in items.items() if key != "oneOf"}
        if "event" not in shared.get("required", []):
            raise ValueError("action response schema: events no longer require 'event'")
        self._by_event: dict[str, Any] = {}
        for branch in items["oneOf"]:
            const = branch["properties"]["event"]["const"]
            if const in self._by_event:
                raise ValueError(f"action response schema: two branches for {const!r}")
            self._by_event[const] = fastjsonschema.compile({"allOf": [shared, branch]})
        outer_events = {key: value for key, value in events.items() if key != "items"}
        self._outer = fastjsonschema.compile(
            {**schema, "properties": {**schema["properties"], "events": outer_events}}
        )

    def fast_valid(self, result: Any) -> bool:
        """True only if the full schema would accept ``result`` (False: ask it)."""
        try:
            self._outer(result)
            for event in result.get("events") or []:
                kind = event.get("event") if isinstance(event, dict) else None
                check = self._by_event.get(kind) if isinstance(kind, str) else None
                if check is None:
                    return False
                check(event)
        except fastjsonschema.JsonSchemaException:
            return False
        return True


@functools.lru_cache(maxsize=1)
def response_checker() -> ResponseChecker:
    return ResponseChecker(RemoteAction.action_response_format_spec())


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    checker = response_checker()
    if checker.fast_valid(result):
        return True
    error = best_match(checker.full.iter_errors(result))
    if error is None:
        return True
    if isinstance(error, ValidationError):
        error.message += (
            ". Failed to validate Action server response from API, make sure your "
            "response from the Action endpoint is valid."
        )
    raise error


def dumps_fast(value: Any) -> str:
    """JSON text of an action call (the whole tracker): ujson, faster than json.

    Falls back to the standard library for what ujson refuses (NaN, infinity,
    integers beyond 64 bits), so any request Rasa could send is still sent.
    """
    try:
        return ujson.dumps(value, ensure_ascii=False, escape_forward_slashes=False)
    except (OverflowError, TypeError, ValueError):
        return json.dumps(value)


class _Borrowed:
    """``async with`` yields the shared session and leaves it open."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *exc_info) -> bool:
        return False


def _safe_header(text: str) -> bool:
    """Sendable as is on the raw path (aiohttp's path raises for the others)."""
    return text.isascii() and "\r" not in text and "\n" not in text


class PooledEndpoint(EndpointConfig):
    """The action endpoint with kept-alive connections, one set per process.

    Rasa opens a new session, and so a new TCP connection, for every action call
    (two or three a turn). Plain JSON POSTs go through rasa_server.rawhttp, the
    rest through one aiohttp session; both keep connections for KEEPALIVE_S when
    idle. Several action-server replicas behind one address still share the load,
    one connection per concurrent call.
    """

    # Below the action server's own idle limit (Sanic: 5 s), so this side always
    # closes an idle connection first and never sends on one the server is closing.
    KEEPALIVE_S = 4.0

    def __init__(self, base: EndpointConfig) -> None:
        self.__dict__.update(base.__dict__)
        self._shared: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._raw = (RawClient(self.url, self.KEEPALIVE_S)
                     if self.url and RawClient.accepts(self.url) else None)

    async def request(self, method: str = "post", subpath: str | None = None,
                      content_type: str | None = "application/json", compress: bool = False,
                      **kwargs: Any) -> Any:
        """Rasa's ``EndpointConfig.request``; a plain JSON POST goes the raw way
        (rasa_server.rawhttp), anything else through aiohttp as before."""
        headers = {"Content-Type": content_type} if content_type else {}
        headers.update(kwargs.get("headers") or {})
        headers.update(self.headers or {})
        plain = (self._raw is not None and method.lower() == "post" and not subpath
                 and not compress and not self.cafile and not self.basic_auth
                 and not self.params and not self.token and set(kwargs) <= {"json", "timeout"}
                 and all(_safe_header(k) and _safe_header(str(v)) for k, v in headers.items()))
        if not plain:
            return await super().request(method, subpath, content_type, compress, **kwargs)
        body = dumps_fast(kwargs.get("json")).encode("utf-8")
        response = await self._raw.post(self._raw_path, headers, body)
        if response.status >= 400:
            raise ClientResponseError(response.status, response.reason, response.body)
        return response.json()

    @functools.cached_property
    def _raw_path(self) -> str:
        parts = urlsplit(self.url)
        return parts.path or "/"

    def session(self) -> _Borrowed:
        loop = asyncio.get_running_loop()
        if self._shared is None or self._shared.closed or self._loop is not loop:
            auth = None
            if self.basic_auth:
                auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
            self._shared = aiohttp.ClientSession(
                headers=self.headers,
                auth=auth,
                json_serialize=dumps_fast,
                timeout=aiohttp.ClientTimeout(total=ACTION_TIMEOUT_S),
                connector=aiohttp.TCPConnector(keepalive_timeout=self.KEEPALIVE_S),
            )
            self._loop = loop
        return _Borrowed(self._shared)


# Rasa keeps one endpoint object per agent and builds a RemoteAction per call:
# the pooled copy is kept on that object.
_POOLED = "_b12_pooled"


def pooled(endpoint: EndpointConfig | None) -> EndpointConfig | None:
    if endpoint is None or isinstance(endpoint, PooledEndpoint):
        return endpoint
    copy = endpoint.__dict__.get(_POOLED)
    if copy is None:
        copy = endpoint.__dict__[_POOLED] = PooledEndpoint(endpoint)
    return copy


class TrackerStoreUnavailable(RuntimeError):
    """The tracker store could not load or save a conversation: fail the turn."""


def fail_the_turn(error: Exception) -> None:
    """FailSafeTrackerStore's error callback: log the kind of error, then re-raise."""
    logger.error("tracker store unavailable: error=%s", type(error).__name__)
    raise TrackerStoreUnavailable(type(error).__name__) from error


# Whether action calls go over kept-alive connections (a speed patch: on with the speed-ups).
POOLING = {"on": False}


def install(timeout_s: float = ACTION_TIMEOUT_S, speedups: bool = True) -> None:
    """Guard every remote action call in this process (idempotent). With ``speedups``,
    calls also go over kept-alive connections and responses are checked the fast way."""
    if getattr(RemoteAction, _INSTALLED, False):
        return
    original_run = RemoteAction.run

    async def guarded_run(self, output_channel, nlg, tracker, domain):
        if _turn_key(tracker) in _FAILED_TURNS:
            # One failed call per turn is enough: don't make the user wait for
            # the next action's timeout too.
            return apology_events(tracker)
        if POOLING["on"]:
            self.action_endpoint = pooled(self.action_endpoint)
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
            if self.name() == RED_FLAG_ACTION:
                # An emergency is answered even without the action server: the same
                # text from the same table, in this process.
                return urgent_fallback_events(tracker)
            return apology_events(tracker)

    failsafe_init = FailSafeTrackerStore.__init__

    def strict_init(self, tracker_store, on_tracker_store_error=None,
                    fallback_tracker_store=None):
        failsafe_init(self, tracker_store, on_tracker_store_error or fail_the_turn,
                      fallback_tracker_store)

    FailSafeTrackerStore.__init__ = strict_init
    RemoteAction.run = guarded_run
    POOLING["on"] = speedups
    if speedups:
        RemoteAction._validate_action_result = _validate_action_result
    setattr(RemoteAction, _INSTALLED, True)
