"""Rasa's socket.io channel with an explicit list of allowed browser origins.

Rasa 3.6 builds its socket.io server with ``cors_allowed_origins=[]``, which turns
python-engineio's origin handling off: any web page may open a websocket to the bot,
and long-polling from another origin gets no CORS headers. This channel keeps the
stock behaviour and only hands engineio the origins listed in credentials.yml, so
engineio checks the ``Origin`` header of every request (polling and websocket) and
answers allowed origins with their own ``Access-Control-Allow-Origin``.

Messages follow the rules of :mod:`rasa_server.channels.limits`, as on REST: a message that is not a
string, a session id that is not 1-128 printable characters or metadata that is not an
object gets a kind "couldn't read that" message; an over-long or empty one gets its kind
reply and never reaches NLU or the tracker; a failed turn gets ``service.error`` and one log line
with the exception's type (the stock handler's exception, text included, would be logged by
python-socketio). engineio refuses packets over ``SOCKETIO_MAX_BYTES`` (12 KiB; its default
is 1 MB), and each connection may send RATE_BURST messages at once and RATE_PER_SECOND after
(:class:`rasa_server.channels.limits.MessageRate`);
the surplus is dropped, with one ``channels.slow_down`` reply.
Custom payloads still travel as Rasa's SocketIOOutput sends them (``{"data": ...}``).

Session ids are not taken on trust. Rasa stores conversations by sender id alone, so a
client that could name an id could continue, and read live, someone else's conversation
(an id can leak through a shared screen, a log, a support ticket). The channel issues every
session itself: a random id and a token, an HMAC of the id under a server secret
(:func:`session_token`), sent in ``session_confirm`` as ``{"session_id", "session_token"}``.
A ``session_request`` is continued only with both, and the token must match; anything else
gets a fresh session. Messages then always go to the session confirmed for their socket,
whatever ``session_id`` they carry. The secret is ``WIDGET_SESSION_SECRET`` (set the same
value on every replica), else a key made once in ``var/session.key`` (0600).

credentials.yml::

    rasa_server.channels.socketio.SocketIOInput:
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true
      cors_allowed_origins:
        - http://localhost:8080
        - http://127.0.0.1:8080
"""

from __future__ import annotations

import hmac
import inspect
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput as StockSocketIOInput
from rasa.core.channels.socketio import SocketIOOutput
from sanic import Blueprint, response

from b12core.safety import reply_kind
from b12core.texts import say
from rasa_server.channels import deletion
from rasa_server.channels.keys import server_secret, session_token
from rasa_server.channels.limits import (
    MAX_MESSAGE_CHARS,
    SOCKETIO_MAX_BYTES,
    BadRequest,
    MessageRate,
    check_message,
    check_metadata,
    check_sender,
    error_body,
    exception_kind,
    guarded,
    install_log_privacy,
    server_listeners,
)

logger = logging.getLogger(__name__)
ORIGINS_ENV = "WIDGET_ORIGINS"


# A random UUID, with or without dashes: unguessable, and never a Telegram/Slack id.
SESSION_ID = re.compile(
    r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


async def maybe_await(result: Any) -> None:
    """Room calls are plain functions in python-socketio 5.8 and coroutines from 5.9 on."""
    if inspect.isawaitable(result):
        await result


def accepted_session_id(requested: Any, token: Any = None) -> str:
    """The client's session id when it comes with its token, else a fresh one."""
    if (isinstance(requested, str) and SESSION_ID.fullmatch(requested)
            and isinstance(token, str) and len(token) == 64
            and hmac.compare_digest(token.encode("ascii", "replace"),
                                    session_token(requested).encode("ascii"))):
        return requested
    return uuid.uuid4().hex


class OriginError(ValueError):
    """The cors_allowed_origins setting is missing, a wildcard or not a list of origins."""


def parse_origins(value: Any) -> list[str]:
    """The allowed origins from credentials: a list (or comma-separated string) of URLs."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list | tuple):
        raise OriginError("cors_allowed_origins must be a list of origins")
    origins = [str(origin).strip().rstrip("/") for origin in value if str(origin).strip()]
    if not origins:
        raise OriginError("cors_allowed_origins is empty: list the widget's origins")
    for origin in origins:
        if "*" in origin:
            raise OriginError(f"wildcard origin {origin!r} is not allowed: list origins")
        if not origin.startswith(("http://", "https://")) or "/" in origin.split("://", 1)[1]:
            raise OriginError(f"{origin!r} is not an origin (scheme://host[:port])")
    return origins


class WidgetOutput(SocketIOOutput):
    """Rasa's socket.io output as the widget reads it: one message per text, with its buttons.

    Rasa splits a text at every blank line into separate messages and hangs the buttons on
    the last part, so a question's buttons showed under the disclaimer that follows it, and a
    reply arrived as many bubbles. The widget lays out paragraphs itself. The urgent and
    crisis replies carry ``kind`` so they are drawn as an alert, never as an ordinary bubble.
    """

    @staticmethod
    def message(text: str) -> dict[str, Any]:
        message: dict[str, Any] = {"text": text.strip()}
        kind = reply_kind(message["text"])
        if kind:
            message["kind"] = kind
        return message

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send_message(recipient_id, self.message(text))

    async def send_text_with_buttons(self, recipient_id: str, text: str,
                                     buttons: list[dict[str, Any]], **kwargs: Any) -> None:
        message = self.message(text)
        message["quick_replies"] = [{"content_type": "text", "title": b["title"],
                                     "payload": b["payload"]} for b in buttons]
        await self._send_message(recipient_id, message)


class SocketIOInput(StockSocketIOInput):
    """The stock socket.io channel plus ``cors_allowed_origins`` (same name: "socketio")."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = dict(credentials or {})
        listed = credentials.pop("cors_allowed_origins", None)
        # WIDGET_ORIGINS (comma-separated) replaces the list, so a container image
        # serves a new site without a rebuild (docs/deploying.md).
        origins = parse_origins(os.environ.get(ORIGINS_ENV) or listed)
        channel = super().from_credentials(credentials)
        channel.cors_allowed_origins = origins
        return channel

    def __init__(self, *args: Any, cors_allowed_origins: list[str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cors_allowed_origins = cors_allowed_origins or []

    def get_output_channel(self) -> OutputChannel | None:
        stock = super().get_output_channel()
        return None if stock is None else WidgetOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        install_log_privacy()
        webhook = super().blueprint(on_new_message)
        server_listeners(webhook)
        sio = self.sio
        # engineio reads this attribute on every request; [] would mean "no checks".
        sio.eio.cors_allowed_origins = list(self.cors_allowed_origins)
        sio.eio.max_http_buffer_size = SOCKETIO_MAX_BYTES
        # engineio answers an oversize long-polling POST only after closing its session,
        # which waits up to a minute; refuse it at once instead (413). Set on our server
        # object before the route is attached, which captures this method.
        engineio_handle = sio.eio.handle_request

        async def handle_request(request: Any, *args: Any, **kwargs: Any) -> Any:
            declared = request.headers.get("content-length", "")
            if request.method == "POST" and declared.isdigit() and (
                    int(declared) > SOCKETIO_MAX_BYTES):
                logger.info("socketio: a long-polling request refused (too_large)")
                return response.json(error_body("too_large", say("channels.packet_too_large",
                                                                 chars=MAX_MESSAGE_CHARS)),
                                     status=413)
            return await engineio_handle(request, *args, **kwargs)

        sio.eio.handle_request = handle_request
        server_secret()  # made or read at start-up, not on a patient's first message
        handle = guarded(on_new_message, "socketio")
        rate = MessageRate()
        sessions: dict[str, str] = {}  # socket id -> the session confirmed for it

        # Registering an event again replaces Rasa's handler for it.
        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any) -> None:
            asked = data if isinstance(data, dict) else {}
            session_id = accepted_session_id(asked.get("session_id"), asked.get("session_token"))
            previous = sessions.get(sid)
            if previous and previous != session_id and self.session_persistence:
                await maybe_await(sio.leave_room(sid, previous))
            await confirm(sid, session_id)

        async def confirm(sid: str, session_id: str) -> None:
            """Bind the socket to the session and send the client its id and token."""
            sessions[sid] = session_id
            if self.session_persistence:
                await maybe_await(sio.enter_room(sid, session_id))
            await sio.emit("session_confirm", {"session_id": session_id,
                                               "session_token": session_token(session_id)},
                           room=sid)

        @sio.on("forget_session", namespace=self.namespace)
        async def forget_session(sid: str, _data: Any = None) -> None:
            # "Clear this conversation" in the widget: the socket's own session only.
            session_id = sessions.get(sid)
            if session_id is None:
                return
            try:
                deleted = await deletion.forget_conversation(session_id)
            except Exception as exc:
                logger.error("socketio: a conversation could not be deleted (%s)",
                             exception_kind(exc))
                await sio.emit("session_forgotten", {"deleted": False}, room=sid)
                return
            logger.info("socketio: a conversation was deleted at its user's request "
                        "(%d events)", deleted)
            if self.session_persistence:
                await maybe_await(sio.leave_room(sid, session_id))
            await sio.emit("session_forgotten", {"deleted": True}, room=sid)
            await confirm(sid, uuid.uuid4().hex)

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: str) -> None:
            sessions.pop(sid, None)
            rate.forget(sid)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            output = WidgetOutput(sio, self.bot_message_evt)
            if not rate.allow(sid):
                if rate.tell(sid):
                    logger.info("socketio: messages over the rate limit were dropped")
                    await output.send_text_message(sid, say("channels.slow_down"))
                return
            try:
                if not isinstance(data, dict):
                    raise BadRequest("invalid_message", "not an object")
                if self.session_persistence:
                    if not data.get("session_id"):
                        logger.warning("socketio: a message without a session_id was ignored "
                                       "(send session_request first)")
                        return
                    check_sender(data["session_id"], "session_id")
                    sender = sessions.get(sid)
                    if sender is None:
                        logger.warning("socketio: a message before session_request was ignored")
                        return
                    if data["session_id"] != sender:
                        # Another conversation's id: answer in this socket's own session.
                        logger.warning("socketio: a message named another session; "
                                       "it was handled in the socket's own session")
                else:
                    sender = sid
                text = check_message(data.get("message", ""))
                metadata = check_metadata(data.get(self.metadata_key))
            except BadRequest as refused:
                logger.info("socketio: message refused (%s)", refused.code)
                await output.send_text_message(sid, say("channels.unreadable"))
                return
            await handle(UserMessage(text, output, sender, input_channel=self.name(),
                                     metadata=metadata))

        return webhook
