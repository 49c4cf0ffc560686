"""Rasa's REST channel with its input checked, its size bounded and its failures answered.

Same webhook (``POST /webhooks/rest/webhook``), same request (``{"sender", "message"[,
"metadata", "input_channel"]}``) and same response (a JSON list of bot messages, or
``?stream=true`` for one JSON message per line) as Rasa 3.6's ``rest`` channel. What differs,
and why (rules and texts in :mod:`rasa_server.channels.limits`):

- The body is read by this handler (a streaming route), at most ``MAX_BODY_BYTES`` (256 KiB):
  a larger declared ``Content-Length`` is answered 413 before anything is read, and a chunked
  body is cut off at the limit. Sanic would otherwise buffer up to its REQUEST_MAX_SIZE
  (100 MB unless ``SANIC_REQUEST_MAX_SIZE`` says otherwise) before any check.
- A request whose ``Content-Type`` is not ``application/json`` is answered 415 before its
  body is read: ``text/plain`` and form posts are what any web page may send cross-origin
  without a preflight, so a page a developer visits could write into their local bot.
- A body that is not a UTF-8 JSON object, a missing or malformed ``sender`` (Rasa would put
  the message into one shared "default" conversation) or a ``message`` that is not a string is
  answered 400 with ``{"error": {"code", "message"}}``; Rasa answers 500 with a traceback in the
  log for some of these.
- A message over ``MAX_MESSAGE_CHARS`` (or empty) gets one kind bot message (200) and never
  reaches NLU or the tracker; control characters are removed first.
- When the turn fails (the tracker store's database or the lock store down: see
  ``rasa_server.resilience``), the answer is 503 with one bot message,
  ``service.error`` (knowledge/texts.yml), and ``Retry-After``; the log gets the exception's
  type only. Rasa logs the message text and every local variable and answers 200 with an
  empty list, which a client shows as silence.

credentials.yml::

    rasa_server.channels.rest.RestInput:
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import QueueOutputChannel
from rasa.core.channels.rest import RestInput as StockRestInput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from b12core.texts import say
from rasa_server.channels import deletion
from rasa_server.channels.limits import (
    MAX_BODY_BYTES,
    RETRY_AFTER_S,
    BadRequest,
    error_body,
    failed_turn_replies,
    guarded,
    install_log_privacy,
    is_json_media_type,
    json_only_body,
    log_failed_turn,
    read_rest_request,
    refusal,
    server_listeners,
    too_large_body,
)
from rasa_server.readiness import readiness

logger = logging.getLogger(__name__)
# A streaming route's body is read by the handler, outside Sanic's REQUEST_TIMEOUT: a client
# that trickles it in must still finish within this many seconds.
BODY_TIMEOUT_S = 15


class BodyTooLarge(Exception):
    """The request body is over the limit (HTTP 413)."""


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body of a streaming route's request, refusing more than ``limit`` bytes (or the
    server's own REQUEST_MAX_SIZE, ``SANIC_REQUEST_MAX_SIZE``, when that is lower)."""
    limit = min(limit, request.app.config.REQUEST_MAX_SIZE)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge  # answered before a byte of the body is read
    if request.stream is not None:
        # Sanic lifts the limit for streaming routes; its reader raises past this one.
        request.stream.request_max_size = limit
    try:
        await request.receive_body()
    except PayloadTooLarge:
        raise BodyTooLarge from None
    return request.body or b""


def bot_messages(sender: str, text: str) -> list[dict[str, str]]:
    """One bot message in the REST response format."""
    return [{"recipient_id": sender, "text": text}]


class WholeTextCollector(CollectingOutputChannel):
    """Rasa's REST collector, one message per text: Rasa's splits every text at blank lines,
    so an interpretation sent as three messages reached REST clients and `rasa shell` as a
    dozen (as on socket.io and Telegram, a reply's parts are laid out by its text)."""

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._persist_message(self._message(recipient_id, text=text.strip()))


class WholeTextQueue(QueueOutputChannel):
    """The streaming route's collector (`rasa shell` reads it), one message per text."""

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._persist_message(self._message(recipient_id, text=text.strip()))


class RestInput(StockRestInput):
    """Rasa's REST channel (name "rest", ``/webhooks/rest/webhook``) with checked input."""

    @staticmethod
    async def on_message_wrapper(on_new_message, text, queue, sender_id, input_channel,
                                 metadata) -> None:
        """Rasa's, with a collector that keeps each text whole (stream=true, `rasa shell`)."""
        collector = WholeTextQueue(queue)
        await on_new_message(UserMessage(text, collector, sender_id, input_channel=input_channel,
                                         metadata=metadata))
        await queue.put("DONE")

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        install_log_privacy()
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        server_listeners(webhook)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/ready", methods=["GET"])
        async def ready(request: Request) -> HTTPResponse:
            # For monitoring (docs/operations.md): the model and every engine.
            is_ready, checks = await readiness(getattr(request.app.ctx, "agent", None))
            return response.json({"status": "ok" if is_ready else "unavailable",
                                  "checks": checks}, status=200 if is_ready else 503)

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> Any:
            if not is_json_media_type(request.headers.get("content-type")):
                logger.info("rest: request refused (unsupported_media_type)")
                if request.stream is not None:
                    request.stream.keep_alive = False  # the unread body ends the connection
                return response.json(json_only_body(), status=415)
            try:
                turn = read_rest_request(
                    await asyncio.wait_for(read_body(request), BODY_TIMEOUT_S))
            except asyncio.TimeoutError:
                logger.info("rest: request refused (body_timeout)")
                if request.stream is not None:
                    request.stream.keep_alive = False
                return response.json(error_body("body_timeout", say("channels.body_timeout",
                                                                     seconds=BODY_TIMEOUT_S)),
                                     status=408)
            except BodyTooLarge:
                logger.info("rest: request refused (too_large)")
                if request.stream is not None:
                    request.stream.keep_alive = False  # the unread body ends the connection
                return response.json(too_large_body(), status=413)
            except BadRequest as refused:
                logger.info("rest: request refused (%s)", refused.code)
                return response.json(refused.body(), status=400)

            reply = refusal(turn.text)
            if reply is not None:
                return response.json(bot_messages(turn.sender, reply))
            input_channel = turn.input_channel or self.name()
            if bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(guarded(on_new_message, "rest"), turn.text,
                                         turn.sender, input_channel, turn.metadata),
                    content_type="text/event-stream",
                )

            collector = WholeTextCollector()
            if await deletion.handle(turn.text, turn.sender, collector, "rest"):
                return response.json(collector.messages)
            try:
                await on_new_message(UserMessage(turn.text, collector, turn.sender,
                                                 input_channel=input_channel,
                                                 metadata=turn.metadata))
            except (Exception, asyncio.CancelledError) as exc:
                log_failed_turn("rest", exc)
                replies = [m for text in failed_turn_replies(turn.text)
                           for m in bot_messages(turn.sender, text)]
                return response.json(replies, status=503,
                                     headers={"Retry-After": str(RETRY_AFTER_S)})
            return response.json(collector.messages)

        return webhook
