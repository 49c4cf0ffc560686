"""What a user message may be, what a person is told when it is not, and how a failed turn ends.

Pure (no Rasa import): the channels in this package call these functions, and the rules are
the same on every channel.

- A message is a string of at most :data:`MAX_MESSAGE_CHARS` characters after cleaning
  (:func:`clean_text`: line breaks unified, tabs made spaces, other control characters, NUL and
  unpaired surrogates removed, runs of combining marks cut to :data:`MAX_MARK_RUN`, Unicode
  NFC). The raw text is measured first (:func:`over_raw_limit`: code points and UTF-8 bytes)
  and a message over it is refused without being cleaned: NFC's canonical reordering is
  quadratic in a run of combining marks (a 64 KiB run took seconds and held the event loop
  for every patient). Cutting runs to 30 marks, the bound of Unicode's Stream-Safe Text
  Format (UAX #15), keeps every cleaning step linear; no language needs more.
  2,000 is what the web widget's input allows (``maxlength="2000"``) and what the
  knowledge-base search accepts; a person's lab values and question fit in a few hundred. A
  longer message is not read at all: it never reaches NLU,
  the action server or the tracker, and the person gets ``channels.too_long`` (a kind reply
  with the limit and what to send instead; texts from knowledge/texts.yml). An empty one gets
  ``channels.empty``.
- A REST request body is one JSON object (UTF-8) of at most :data:`MAX_BODY_BYTES`, with
  ``sender`` (1 to :data:`MAX_SENDER_CHARS` printable characters: there is no shared
  "default" conversation) and ``message`` (a string); anything else is refused with a short
  JSON error (:class:`BadRequest`), never a traceback. 256 KiB leaves room for a 2,000-character
  message in any script and escaping, and a pasted lab report of 100 KB still gets the kind
  reply rather than an error.
- When the assistant itself fails (the tracker store's database or the lock store down), the
  person gets ``service.error`` and the log gets one ERROR line naming the
  exception's type only: exception texts can quote the message (SQLAlchemy puts the SQL
  parameters, so the user's words, in its error strings).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
import unicodedata
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from b12core.safety import first_reply
from b12core.texts import say as bot_text
from rasa_server.channels import deletion
from rasa_server.channels.keys import pseudonym
from rasa_server.forget import start_retention

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 128
MAX_BODY_BYTES = 256 * 1024
# The raw text may shrink when cleaned ("\r\n", decomposed accents), so the raw bound is
# looser than the cleaned one; 4 bytes per code point is UTF-8's maximum.
MAX_RAW_CHARS = 2 * MAX_MESSAGE_CHARS
MAX_RAW_BYTES = 4 * MAX_RAW_CHARS
MAX_MARK_RUN = 30
# Every code point with a non-zero canonical combining class lies in this span (Unicode 15).
_FIRST_MARK, _LAST_MARK = 0x0300, 0x1E94A
# engineio's packet limit on socket.io: a message at MAX_MESSAGE_CHARS in any script (4 bytes
# per code point at most) with its session id and metadata fits; engineio's default is 1 MB.
SOCKETIO_MAX_BYTES = 12 * 1024
# Messages per socket.io connection: a burst of RATE_BURST, then RATE_PER_SECOND sustained. A
# person typing or pressing buttons stays far below; a script flooding one connection is
# answered once with SLOW_DOWN and its surplus messages are dropped unread.
RATE_BURST = 20
RATE_PER_SECOND = 1.0
# Seconds an idle keep-alive connection (or one that never sends a byte) stays open: Sanic's
# default. Rasa 3.6 sets 120 whatever the environment says, so a client could hold a
# connection two minutes per socket without a request.
KEEP_ALIVE_TIMEOUT_S = 5
# Seconds a request's line and headers may take in all. Sanic's REQUEST_TIMEOUT restarts at
# every byte received, so a header trickled in a byte at a time would hold a connection for
# hours; this deadline counts from the connection's start (or the previous response).
HEADER_DEADLINE_S = 20
# Seconds a client should wait after a 503 (SERVICE_ERROR asks the person for "a minute").
RETRY_AFTER_S = 60



def too_long_reply() -> str:
    return bot_text("channels.too_long", chars=MAX_MESSAGE_CHARS)

_EXAMPLE = '{"sender": "patient-1", "message": "my B12 is 350 pg/mL"}'
_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_SPACES = re.compile(r"[\t\v\f]")
# C0 and C1 controls except \n (NUL included), DEL, and unpaired UTF-16 surrogates (valid in
# JSON, but they break UTF-8 encoders: the tokenizer, the database, the log).
_UNSAFE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class BadRequest(ValueError):
    """A request that is refused before it reaches the assistant (HTTP 400 on REST)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON body of a refused request: ``{"error": {"code", "message"}}``."""
    return {"error": {"code": code, "message": message}}


def json_only_body() -> dict[str, Any]:
    return error_body("unsupported_media_type", bot_text("channels.json_only"))


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` (parameters such as charset allowed) or a ``+json`` type. Other
    types are refused: a web page can send ``text/plain`` cross-origin without asking."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                            and media.endswith("+json"))


def too_large_body() -> dict[str, Any]:
    return error_body("too_large", bot_text("channels.too_large_body",
                                            kib=MAX_BODY_BYTES // 1024, chars=MAX_MESSAGE_CHARS))


def over_raw_limit(text: str) -> bool:
    """Whether the text, before any cleaning, is longer than any message that is read."""
    return (len(text) > MAX_RAW_CHARS
            or len(text.encode("utf-8", "surrogatepass")) > MAX_RAW_BYTES)


@functools.cache
def _long_mark_runs() -> re.Pattern[str]:
    """Matches the marks past the first MAX_MARK_RUN of a run of non-starters (code points
    with a non-zero canonical combining class: the ones NFC reorders)."""
    codes = [c for c in range(_FIRST_MARK, _LAST_MARK + 1) if unicodedata.combining(chr(c))]
    spans: list[list[int]] = []
    for code in codes:
        if spans and spans[-1][1] == code - 1:
            spans[-1][1] = code
        else:
            spans.append([code, code])
    marks = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in spans)
    return re.compile(f"([{marks}]{{{MAX_MARK_RUN}}})[{marks}]+")


def clean_text(text: str) -> str:
    """``text`` with line breaks unified to ``\\n``, tabs and form feeds made spaces, other
    control characters and unpaired surrogates removed, runs of combining marks cut to
    MAX_MARK_RUN, NFC-normalised and stripped. Linear in the length of ``text``; still,
    callers check :func:`over_raw_limit` first and never clean a text over it."""
    text = _NEWLINES.sub("\n", text)
    text = _SPACES.sub(" ", text)
    text = _UNSAFE.sub("", text)
    text = _long_mark_runs().sub(r"\1", text)
    return unicodedata.normalize("NFC", text).strip()


def read_text(text: str) -> str:
    """The message as it is read: cleaned, unless it is over the raw limit, in which case it
    is returned as it came, to be refused by :func:`refusal` (it is longer than
    MAX_MESSAGE_CHARS) without any work on it."""
    return text if over_raw_limit(text) else clean_text(text)


def refusal(text: str) -> str | None:
    """The reply for a message (from :func:`read_text`) that is not read: too long or empty;
    else None."""
    if len(text) > MAX_MESSAGE_CHARS:
        return too_long_reply()
    if not text:
        return bot_text("channels.empty")
    return None


def server_listeners(blueprint: Any) -> None:
    """What every channel's blueprint sets up when the server starts: idle connections
    bounded, and the app remembered for deletions asked in the chat
    (rasa_server.channels.deletion)."""
    blueprint.listener("before_server_start")(bound_idle_connections)
    blueprint.listener("before_server_start")(deletion.remember_app)
    blueprint.signal("http.lifecycle.begin")(_arm_header_deadline)
    blueprint.signal("http.lifecycle.response")(_arm_header_deadline)
    blueprint.signal("http.lifecycle.request")(_disarm_header_deadline)
    blueprint.signal("http.lifecycle.complete")(_disarm_header_deadline)
    blueprint.listener("after_server_start")(start_retention)


# The connection task (Sanic runs each connection as one asyncio task, and dispatches these
# lifecycle signals inline in it) -> its pending deadline.
_HEADER_DEADLINES: dict[Any, asyncio.TimerHandle] = {}


async def _arm_header_deadline(**_context: Any) -> None:
    """At a connection's start and after each response: the next request's head must
    arrive within HEADER_DEADLINE_S, or the connection is closed."""
    task = asyncio.current_task()
    if task is None:
        return
    previous = _HEADER_DEADLINES.pop(task, None)
    if previous is not None:
        previous.cancel()
    _HEADER_DEADLINES[task] = asyncio.get_running_loop().call_later(
        HEADER_DEADLINE_S, _cut_off, task)


async def _disarm_header_deadline(**_context: Any) -> None:
    """The head has arrived (or the connection ended): no deadline while it is handled."""
    handle = _HEADER_DEADLINES.pop(asyncio.current_task(), None)
    if handle is not None:
        handle.cancel()


def _cut_off(task: Any) -> None:
    _HEADER_DEADLINES.pop(task, None)
    task.cancel()  # Sanic's connection task closes its connection when cancelled


def bound_idle_connections(app: Any, _loop: Any = None) -> None:
    """A Sanic ``before_server_start`` listener: idle connections closed after
    KEEP_ALIVE_TIMEOUT_S (a lower value an operator set is kept)."""
    if app.config.KEEP_ALIVE_TIMEOUT > KEEP_ALIVE_TIMEOUT_S:
        app.config.KEEP_ALIVE_TIMEOUT = KEEP_ALIVE_TIMEOUT_S


class MessageRate:
    """A token bucket per connection: RATE_BURST messages at once, RATE_PER_SECOND after.

    ``allow`` says whether a message is read; ``tell`` whether the person should now be told
    (once per run of refused messages, so a flood gets one reply, not one per message)."""

    def __init__(self, burst: int = RATE_BURST, per_second: float = RATE_PER_SECOND,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.per_second, self.clock = burst, per_second, clock
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, last time, told]

    def allow(self, key: str) -> bool:
        now = self.clock()
        bucket = self._buckets.setdefault(key, [float(self.burst), now, 0.0])
        bucket[0] = min(self.burst, bucket[0] + (now - bucket[1]) * self.per_second)
        bucket[1] = now
        if bucket[0] >= 1:
            bucket[0] -= 1
            bucket[2] = 0.0
            return True
        return False

    def tell(self, key: str) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None or bucket[2]:
            return False
        bucket[2] = 1.0
        return True

    def forget(self, key: str) -> None:
        self._buckets.pop(key, None)


def check_sender(value: Any, field: str = "sender") -> str:
    """A conversation id: a string of 1 to MAX_SENDER_CHARS printable characters."""
    if value is None:
        raise BadRequest("sender_missing", f'"{field}" is required: a string of 1 to '
                         f"{MAX_SENDER_CHARS} printable characters naming the conversation.")
    if (not isinstance(value, str) or not 0 < len(value) <= MAX_SENDER_CHARS
            or not value.isprintable() or not value.strip()):
        raise BadRequest("invalid_sender", f'"{field}" must be a string of 1 to '
                         f"{MAX_SENDER_CHARS} printable characters.")
    return value


def check_message(value: Any) -> str:
    """The message text as read (:func:`read_text`); its length is checked by ``refusal``."""
    if not isinstance(value, str):
        raise BadRequest("invalid_message", '"message" must be a string: the text the person '
                         "typed.")
    return read_text(value)


def check_metadata(value: Any) -> dict[str, Any] | None:
    """Optional metadata: a JSON object, or a string holding one (socket.io clients)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            value = None
    if not isinstance(value, dict):
        raise BadRequest("invalid_metadata", '"metadata" must be a JSON object.')
    return value


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object (UTF-8, a BOM tolerated), or :class:`BadRequest`."""
    try:
        value = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("invalid_json", f"The request body must be JSON in UTF-8, such as "
                         f"{_EXAMPLE}.") from None
    if not isinstance(value, dict):
        raise BadRequest("not_an_object", f"The request body must be a JSON object, such as "
                         f"{_EXAMPLE}.")
    return value


@dataclass(frozen=True)
class RestTurn:
    """A REST request that passed the checks (``text`` is cleaned, its length not checked)."""

    sender: str
    text: str
    metadata: dict[str, Any] | None
    input_channel: str | None


def read_rest_request(raw: bytes) -> RestTurn:
    """Rasa's REST request format, checked: ``{"sender", "message"[, "metadata",
    "input_channel"]}``; raises :class:`BadRequest`."""
    body = parse_json_object(raw)
    sender = check_sender(body.get("sender"))
    text = check_message(body.get("message"))
    metadata = check_metadata(body.get("metadata"))
    channel = body.get("input_channel")
    if channel is not None and not (isinstance(channel, str) and _CHANNEL_NAME.fullmatch(channel)):
        raise BadRequest("invalid_input_channel", '"input_channel" must be a channel name '
                         "(letters, digits, _ . -).")
    return RestTurn(sender, text, metadata, channel or None)


def exception_kind(exc: BaseException) -> str:
    """The exception's type (and its cause's), never its text: safe to log."""
    def name(e: BaseException) -> str:
        return f"{type(e).__module__}.{type(e).__qualname__}"

    cause = exc.__cause__ or exc.__context__
    return f"{name(exc)} (cause: {name(cause)})" if cause is not None else name(exc)


def log_failed_turn(channel: str, exc: BaseException) -> None:
    logger.error("%s: the turn failed with %s; the person was asked to try again", channel,
                 exception_kind(exc))


# SQLAlchemy error texts end with the statement and its parameters (what users wrote):
# "(sqlite3.OperationalError) database is locked\n[SQL: INSERT ...]\n[parameters: (...)]".
_QUERY_DETAIL = re.compile(r"\s*\[(?:SQL|parameters): .*", re.DOTALL)
QUERY_WITHHELD = " [SQL statement and parameters withheld from the log]"
# Loggers that put a database error's text into their message (Rasa's FailSafeTrackerStore
# does, for every failed read or save, unless its error callback is replaced as
# rasa_server.resilience does).
_LEAKY_LOGGERS = ("rasa.core.tracker_store",)
# Rasa reads a message starting with "/" as "/intent{entities}" and, when that fails
# ("/b12 is 300"), warns with the whole line the person typed.
_LEAKY_WARNING = r"Failed to parse arguments in line "


# Where Rasa names a conversation in a log message it writes at INFO or above: "Circuit
# breaker tripped. Stopped predicting more actions for sender '<id>'." and the session lines.
_SENDER_MENTION = re.compile(r"((?:for sender|conversation ID|sender_id[=:]?)\s*)'([^'\n]{1,256})'")


class WithholdQueryText(logging.Filter):
    """Cut SQL statements and parameters out of log records, message and traceback alike,
    and name conversations by a keyed hash (:func:`rasa_server.channels.keys.pseudonym`),
    never by id."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "'" in message and _SENDER_MENTION.search(message):
            message = _SENDER_MENTION.sub(
                lambda m: f"{m.group(1)}'{pseudonym(m.group(2))}'", message)
            record.msg, record.args = message, None
        if "[SQL: " in message or "[parameters: " in message:
            record.msg, record.args = _QUERY_DETAIL.sub(QUERY_WITHHELD, message), None
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and _QUERY_DETAIL.search(str(error)):
            # The formatted traceback would repeat str(error): keep its type only.
            record.msg, record.args = f"{record.getMessage()} ({exception_kind(error)})", None
            record.exc_info = record.exc_text = None
        return True


_FILTER = WithholdQueryText()


def install_log_privacy() -> None:
    """Keep what users write out of the Rasa server's log: :class:`WithholdQueryText` on the
    root logger's handlers (every record that propagates, from Rasa, SQLAlchemy or Sanic) and
    on the loggers known to quote database errors, and Rasa's warning that quotes a typed
    "/..." line silenced. Idempotent; call it once logging is configured (the channels do,
    from ``blueprint``)."""
    targets = [*logging.getLogger().handlers, *map(logging.getLogger, _LEAKY_LOGGERS)]
    for target in targets:
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
    warnings.filterwarnings("ignore", message=_LEAKY_WARNING)


def failed_turn_replies(text: str) -> list[str]:
    """What a failed turn gets: an emergency still gets its urgent or crisis reply first
    (same table, this process), then the service notice."""
    urgent = first_reply(text)
    notice = bot_text("service.error")
    return [urgent, notice] if urgent else [notice]


async def say(message: Any, text: str, channel: str) -> None:
    """Send ``text`` to the sender of a Rasa ``UserMessage`` through its output channel."""
    try:
        await message.output_channel.send_text_message(message.sender_id, text)
    except Exception as exc:
        logger.error("%s: could not send a reply (%s)", channel, exception_kind(exc))


def guarded(
    on_new_message: Callable[[Any], Awaitable[Any]], channel: str
) -> Callable[[Any], Awaitable[None]]:
    """Wrap Rasa's ``on_new_message`` for channels that answer through an output channel
    (socket.io, Telegram, Slack, REST streaming): the message is cleaned; a too long or empty
    one gets its kind reply instead of a turn; a failed turn gets ``service.error`` and one log
    line with the exception's type. The wrapper never raises an ``Exception``."""

    _long_mark_runs()  # built once per process, before the first message

    async def handle(message: Any) -> None:
        text = read_text(message.text) if isinstance(message.text, str) else ""
        reply = refusal(text)
        if reply is not None:
            await say(message, reply, channel)
            return
        message.text = text
        try:
            if await deletion.handle(text, message.sender_id, message.output_channel, channel):
                return  # "delete my data" and its confirmation never reach the assistant
            await on_new_message(message)
        except Exception as exc:
            log_failed_turn(channel, exc)
            for reply in failed_turn_replies(text):
                await say(message, reply, channel)

    return handle
