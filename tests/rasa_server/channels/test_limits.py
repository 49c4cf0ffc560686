"""The message rules of rasa_server/channels/limits.py, and the REST channel's answers,
without a stack.

The REST channel runs in a Sanic app of its own on loopback, with a stand-in for Rasa's
``on_new_message``: one that answers, and one that fails the way a database does (an
SQLAlchemy error whose text quotes the user's message).
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from sanic import Sanic
from sqlalchemy.exc import OperationalError

from b12core.safety import first_reply
from b12core.texts import say as bot_says
from rasa_server.channels.limits import (
    MAX_BODY_BYTES,
    MAX_MESSAGE_CHARS,
    MAX_SENDER_CHARS,
    QUERY_WITHHELD,
    RETRY_AFTER_S,
    BadRequest,
    WithholdQueryText,
    check_sender,
    clean_text,
    exception_kind,
    guarded,
    install_log_privacy,
    read_rest_request,
    refusal,
    too_long_reply,
)
from rasa_server.channels.rest import RestInput
from tests.rasa_server.channels.fakes import sanic_on_loopback

SECRET_TEXT = "my b12 is 187 pmol/L quokkazebra"


def database_error() -> OperationalError:
    """What SQLAlchemy raises when the tracker store cannot save: its text quotes the row."""
    return OperationalError("INSERT INTO events (sender_id, data) VALUES (?, ?)",
                            ("p1", f'{{"event": "user", "text": "{SECRET_TEXT}"}}'),
                            sqlite3.OperationalError("database is locked"))


# ---------------------------------------------------------------- the rules


@pytest.mark.parametrize(("raw", "clean"), [
    ("hi", "hi"),
    ("  b12 300 pg/mL \n", "b12 300 pg/mL"),
    ("a\x00b\x01c\x7fd\x9fe", "abcde"),
    ("line 1\r\nline 2\rline 3\u2028line 4", "line 1\nline 2\nline 3\nline 4"),
    ("b12\t300", "b12 300"),
    ("\ud800b12\udfff", "b12"),
    ("e\u0301", "\u00e9"),  # NFC
    ("µmol/L", "µmol/L"),  # the micro sign stays (NFKC would change it)
    ("ما هو B12؟ \u200f", "ما هو B12؟ \u200f"),  # right-to-left text and marks kept
    ("👩\u200d⚕️", "👩\u200d⚕️"),  # zero-width joiner in an emoji sequence kept
])
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


def test_the_length_limit_is_exact_and_counts_characters():
    assert refusal("x" * MAX_MESSAGE_CHARS) is None
    assert refusal("x" * (MAX_MESSAGE_CHARS + 1)) == too_long_reply()
    assert refusal("😀" * MAX_MESSAGE_CHARS) is None  # a character, not a byte
    assert refusal("") == bot_says("channels.empty")
    assert f"{MAX_MESSAGE_CHARS:,} characters" in too_long_reply()


@pytest.mark.parametrize("sender", ["a", "s" * MAX_SENDER_CHARS, "patient 1", "ü-ß-名前"])
def test_good_senders(sender):
    assert check_sender(sender) == sender


@pytest.mark.parametrize(("sender", "code"), [
    (None, "sender_missing"), ("", "invalid_sender"), ("  ", "invalid_sender"),
    ("s" * (MAX_SENDER_CHARS + 1), "invalid_sender"), ("a\x00", "invalid_sender"),
    ("a\nb", "invalid_sender"), ("\ud800", "invalid_sender"), (7, "invalid_sender"),
    (["a"], "invalid_sender"), (True, "invalid_sender"),
])
def test_bad_senders(sender, code):
    with pytest.raises(BadRequest) as refused:
        check_sender(sender)
    assert refused.value.code == code


def test_a_rest_request_is_read_and_cleaned():
    turn = read_rest_request(b'\xef\xbb\xbf{"sender": "p1", "message": " hi\\u0000 ", '
                             b'"metadata": {"a": 1}, "input_channel": "rest"}')
    assert (turn.sender, turn.text, turn.metadata, turn.input_channel) == (
        "p1", "hi", {"a": 1}, "rest")


@pytest.mark.parametrize(("raw", "code"), [
    (b"", "invalid_json"), (b"{", "invalid_json"), (b"\xff\xfe", "invalid_json"),
    (b"[" * 50_000, "invalid_json"), (b"1" * 5000, "invalid_json"), (b"[]", "not_an_object"),
    (b'{"message": "hi"}', "sender_missing"), (b'{"sender": "p", "message": 1}', "invalid_message"),
    (b'{"sender": "p", "message": "hi", "metadata": "x"}', "invalid_metadata"),
    (b'{"sender": "p", "message": "hi", "input_channel": "a b"}', "invalid_input_channel"),
])
def test_bad_rest_requests(raw, code):
    with pytest.raises(BadRequest) as refused:
        read_rest_request(raw)
    assert refused.value.code == code
    assert refused.value.body() == {"error": {"code": code, "message": refused.value.message}}


# ---------------------------------------------------------------- failures and the log


def test_exception_kind_names_types_never_text():
    try:
        raise database_error()
    except OperationalError as exc:
        kind = exception_kind(exc)
    assert kind == "sqlalchemy.exc.OperationalError"
    assert "quokkazebra" not in kind
    try:
        try:
            raise KeyError("quokkazebra")
        except KeyError as inner:
            raise RuntimeError("quokkazebra") from inner
    except RuntimeError as exc:
        assert exception_kind(exc) == "builtins.RuntimeError (cause: builtins.KeyError)"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_sql_statements_and_parameters_are_withheld_from_log_records():
    handler = Collect()
    handler.addFilter(WithholdQueryText())
    log = logging.getLogger("tests.rasa_server.channels.withhold")
    log.addHandler(handler)
    log.propagate = False
    try:
        error = database_error()
        # Rasa's FailSafeTrackerStore formats the error into its message ...
        log.error(f"Please investigate the following error: {error}.")
        log.error("failed: %s", error)  # ... others pass it as an argument ...
        try:
            raise error
        except OperationalError:
            log.exception("save failed")  # ... or log its traceback.
        log.error("nothing to withhold here")
    finally:
        log.removeHandler(handler)
    text = "\n".join(handler.lines)
    assert "quokkazebra" not in text and "INSERT INTO" not in text
    assert handler.lines[0] == ("Please investigate the following error: "
                                f"(sqlite3.OperationalError) database is locked{QUERY_WITHHELD}")
    assert handler.lines[2] == "save failed (sqlalchemy.exc.OperationalError)"
    assert handler.lines[3] == "nothing to withhold here"


def test_install_log_privacy_is_idempotent():
    root = logging.getLogger()
    handler = Collect()
    root.addHandler(handler)
    try:
        install_log_privacy()
        install_log_privacy()
        assert sum(isinstance(f, WithholdQueryText) for f in handler.filters) == 1
    finally:
        root.removeHandler(handler)


class Output:
    """A stand-in output channel that records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send_text_message(self, recipient_id: str, text: str, **_: Any) -> None:
        self.sent.append((recipient_id, text))


class Message:
    def __init__(self, text: Any, sender_id: str = "p1") -> None:
        self.text, self.sender_id, self.output_channel = text, sender_id, Output()


async def test_guarded_turns_refuse_answer_and_fail_kindly(caplog):
    reached: list[str] = []

    async def assistant(message) -> None:
        reached.append(message.text)
        if "fail" in message.text:
            raise database_error()
        await message.output_channel.send_text_message(message.sender_id, "ok")

    handle = guarded(assistant, "test")
    cases = {"x" * (MAX_MESSAGE_CHARS + 1): too_long_reply(), " \x00 ": bot_says("channels.empty"),
             "hi\x00": "ok",
             f"fail {SECRET_TEXT}": bot_says("service.error")}
    with caplog.at_level(logging.INFO):
        for text, expected in cases.items():
            message = Message(text)
            await handle(message)
            assert message.output_channel.sent == [("p1", expected)]
    assert reached == ["hi", f"fail {SECRET_TEXT}"]
    assert "test: the turn failed with sqlalchemy.exc.OperationalError" in caplog.text
    # A failed turn that was an emergency still gets the urgent reply, first.
    emergency = Message("fail: i am vomiting blood")
    await handle(emergency)
    assert emergency.output_channel.sent == [
        ("p1", first_reply("fail: i am vomiting blood")), ("p1", bot_says("service.error"))]
    assert "quokkazebra" not in caplog.text


# ---------------------------------------------------------------- the REST channel


async def answering(message) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"echo {message.text}")


async def failing(message) -> None:
    raise database_error()


@asynccontextmanager
async def rest_server(on_new_message: Callable[[Any], Awaitable[Any]]) -> AsyncIterator[str]:
    """The REST channel in a Sanic app on a free loopback port; yields the webhook URL."""
    app = Sanic(f"rest_test_{uuid.uuid4().hex[:8]}", configure_logging=False)
    app.blueprint(RestInput().blueprint(on_new_message), url_prefix="/webhooks/rest")
    async with sanic_on_loopback(app) as port:
        yield f"http://127.0.0.1:{port}/webhooks/rest/webhook"


async def test_rest_keeps_rasas_response_format():
    async with rest_server(answering) as url, aiohttp.ClientSession() as client:
        async with client.post(url, json={"sender": "p1", "message": " hi\x00"}) as reply:
            assert reply.status == 200
            assert await reply.json() == [{"recipient_id": "p1", "text": "echo hi"}]
        async with client.get(url.rsplit("/", 1)[0] + "/") as health:
            assert await health.json() == {"status": "ok"}


async def test_rest_answers_a_failed_turn_with_503_and_logs_its_type_only(caplog):
    async with rest_server(failing) as url, aiohttp.ClientSession() as client:
        with caplog.at_level(logging.INFO):
            async with client.post(url, json={"sender": "p1", "message": SECRET_TEXT}) as reply:
                assert reply.status == 503
                assert reply.headers["Retry-After"] == str(RETRY_AFTER_S)
                assert await reply.json() == [
                    {"recipient_id": "p1", "text": bot_says("service.error")}]
            async with client.post(url, json={"sender": "p1", "message": "i passed out"}) as reply:
                assert reply.status == 503
                assert await reply.json() == [
                    {"recipient_id": "p1", "text": first_reply("i passed out")},
                    {"recipient_id": "p1", "text": bot_says("service.error")}]
            # Streaming: the apology is the one line, and the stream ends.
            async with client.post(url + "?stream=true",
                                   json={"sender": "p1", "message": SECRET_TEXT},
                                   timeout=aiohttp.ClientTimeout(total=10)) as reply:
                assert reply.status == 200
                lines = (await reply.text()).splitlines()
                assert [line for line in lines if line] == [
                    f'{{"recipient_id": "p1", "text": "{bot_says("service.error")}"}}']
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 3
    assert all(r.getMessage() == "rest: the turn failed with sqlalchemy.exc.OperationalError; "
               "the person was asked to try again" and not r.exc_info for r in errors)
    assert "quokkazebra" not in caplog.text and "INSERT" not in caplog.text


async def test_rest_refuses_a_body_over_the_limit_with_413():
    async with rest_server(answering) as url, aiohttp.ClientSession() as client:
        body = b'{"sender": "p1", "message": "' + b"a" * MAX_BODY_BYTES + b'"}'
        json_type = {"Content-Type": "application/json"}
        async with client.post(url, data=body, headers=json_type) as reply:
            assert reply.status == 413
            assert (await reply.json())["error"]["code"] == "too_large"
        async with client.post(url, data=b"{}", headers=json_type) as reply:
            assert reply.status == 400
            assert (await reply.json())["error"]["code"] == "sender_missing"


# ---------------------------------------------------------------- worst-case input

# The steps a message passes before its length is checked, each fed a 256 KiB worst case:
# a run of combining marks in reverse canonical order (NFC's reordering is quadratic in a
# run: 64 KiB took about 7 s before runs were cut and the raw length checked first).
WORST_CASE_STEPS = """
import json, sys, time, unicodedata
from rasa_server.channels.limits import (MAX_BODY_BYTES, check_metadata, clean_text,
                                         read_rest_request, read_text, refusal)

marks = sorted((chr(c) for c in range(0x300, 0x370) if unicodedata.combining(chr(c))),
               key=lambda m: -unicodedata.combining(m))
size = MAX_BODY_BYTES // 2  # characters of two UTF-8 bytes each: 256 KiB
worst = "a" + "".join(marks[i % len(marks)] for i in range(size))
interleaved = "".join(("a" + "".join(marks[:40]))[i % 41] for i in range(size))
plain = "a" * size
steps = {
    "clean_text": clean_text,
    "read_text": lambda t: refusal(read_text(t)),
    "read_rest_request": lambda t: read_rest_request(json.dumps(
        {"sender": "p1", "message": t}, ensure_ascii=False).encode()),
    "check_metadata": lambda t: check_metadata(json.dumps({"note": t})),
}
clean_text("warm up")
result = {}
for name, step in steps.items():
    timings = {}
    for label, text in (("plain", plain), ("worst", worst), ("interleaved", interleaved)):
        start = time.perf_counter()
        step(text)
        timings[label] = time.perf_counter() - start
    result[name] = timings
print(json.dumps(result))
"""


def test_no_step_before_the_length_check_grows_faster_than_linearly(project_root):
    import json
    import subprocess
    import sys

    # A subprocess, so that a quadratic step fails on the timeout instead of hanging the run.
    done = subprocess.run([sys.executable, "-c", WORST_CASE_STEPS], cwd=project_root,
                          capture_output=True, text=True, timeout=120, check=True)
    timings = json.loads(done.stdout.strip().splitlines()[-1])
    for name, times in timings.items():
        for label in ("worst", "interleaved"):
            # Linear steps take about as long on either text; 100 ms of slack for a busy CI.
            assert times[label] <= 10 * times["plain"] + 0.1, (name, label, times)


def test_the_raw_length_is_checked_before_any_cleaning():
    from rasa_server.channels.limits import MAX_RAW_BYTES, MAX_RAW_CHARS, over_raw_limit, read_text

    assert not over_raw_limit("x" * MAX_RAW_CHARS)
    assert over_raw_limit("x" * (MAX_RAW_CHARS + 1))
    assert MAX_RAW_BYTES == 4 * MAX_RAW_CHARS and MAX_RAW_CHARS >= MAX_MESSAGE_CHARS
    over = "e\u0301" * MAX_RAW_CHARS
    assert read_text(over) is over  # returned untouched, then refused as too long
    assert refusal(read_text(over)) == too_long_reply()
    # Under the raw limit a message that shrinks when cleaned is still read.
    shrinking = "line\r\n" * (MAX_MESSAGE_CHARS // 5)
    assert len(shrinking) > MAX_MESSAGE_CHARS and refusal(read_text(shrinking)) is None


def test_runs_of_combining_marks_are_cut_to_the_stream_safe_bound():
    import sys
    import unicodedata

    from rasa_server.channels.limits import _FIRST_MARK, _LAST_MARK, MAX_MARK_RUN

    zalgo = "b" + "\u0301\u0316" * 100 + "12"
    cleaned = clean_text(zalgo)
    assert cleaned.startswith("b") and cleaned.endswith("12")
    assert len(cleaned) == 1 + MAX_MARK_RUN + 2
    # Real text keeps its marks: Vietnamese, Hindi and Hebrew with points.
    for text in ("Vitamin B12 cu\u0309a to\u0302i", "विटामिन बी12", "וִיטָמִין"):
        assert clean_text(text) == unicodedata.normalize("NFC", text)
    # Every code point NFC reorders lies in the span the pattern is built from.
    marks = [c for c in range(sys.maxunicode + 1)
             if not 0xD800 <= c <= 0xDFFF and unicodedata.combining(chr(c))]
    assert (min(marks), max(marks)) == (_FIRST_MARK, _LAST_MARK)


def test_a_connection_over_its_message_rate_is_told_once_then_allowed_again():
    from rasa_server.channels.limits import MessageRate

    now = [0.0]
    rate = MessageRate(burst=3, per_second=1.0, clock=lambda: now[0])
    assert [rate.allow("a") for _ in range(5)] == [True, True, True, False, False]
    assert rate.tell("a") and not rate.tell("a")  # one reply per run of refused messages
    assert rate.allow("b")  # each connection has its own bucket
    now[0] = 1.0
    assert rate.allow("a") and not rate.allow("a")
    assert not rate.allow("a") and rate.tell("a")  # a new run of refusals: told again
    now[0] = 100.0
    assert [rate.allow("a") for _ in range(4)] == [True, True, True, False]  # burst, not more
    rate.forget("a")
    assert rate.allow("a")


@pytest.mark.parametrize(("content_type", "status"), [
    ("application/json", 200), ("application/json; charset=utf-8", 200),
    ("Application/JSON", 200), ("application/vnd.api+json", 200),
    ("text/plain", 415), ("application/x-www-form-urlencoded", 415),
    ("multipart/form-data; boundary=x", 415), ("", 415),
])
async def test_rest_requires_a_json_content_type(content_type, status):
    from rasa_server.channels.limits import json_only_body

    body = b'{"sender": "p1", "message": "hi"}'
    async with rest_server(answering) as url, aiohttp.ClientSession() as client:
        headers = {"Content-Type": content_type} if content_type else {}
        if not content_type:
            # aiohttp would add application/octet-stream to bytes; send none at all.
            headers = {"Content-Type": ""}
        async with client.post(url, data=body, headers=headers) as reply:
            assert reply.status == status
            if status == 415:
                assert await reply.json() == json_only_body()
            else:
                assert await reply.json() == [{"recipient_id": "p1", "text": "echo hi"}]


# ---------------------------------------------------------------- sender ids in the log


def test_rasa_log_lines_name_a_conversation_by_a_keyed_hash_only(monkeypatch):
    from rasa_server.channels import keys

    monkeypatch.setenv(keys.SECRET_ENV, "test-secret-1")
    keys.server_secret.cache_clear()
    try:
        sender = "a3f9e2c1d4b5a6978877665544332211"
        lines = [
            # Rasa 3.6's own texts (rasa/core/processor.py), at WARNING and INFO.
            "Circuit breaker tripped. Stopped predicting more actions for sender "
            f"'{sender}'.",
            f"Starting a new session for conversation ID '{sender}'.",
        ]
        shown = []
        for line in lines:
            record = logging.LogRecord("rasa.core.processor", logging.WARNING, __file__, 1,
                                       "%s", (line,), None)
            WithholdQueryText().filter(record)
            shown.append(record.getMessage())
        assert all(sender not in text for text in shown), shown
        assert keys.pseudonym(sender) in shown[0] and keys.pseudonym(sender) in shown[1]
        assert keys.pseudonym(sender) != keys.pseudonym(sender + "x")
        # Another secret, another name: the hash cannot be recomputed without the key.
        monkeypatch.setenv(keys.SECRET_ENV, "test-secret-2")
        keys.server_secret.cache_clear()
        assert keys.pseudonym(sender) not in shown[0]
    finally:
        keys.server_secret.cache_clear()


def test_the_server_key_is_made_once_owner_only(monkeypatch, tmp_path):
    import stat

    from rasa_server.channels import keys

    monkeypatch.delenv(keys.SECRET_ENV, raising=False)
    monkeypatch.setattr(keys, "KEY_FILE", tmp_path / "var" / "session.key")
    keys.server_secret.cache_clear()
    try:
        first = keys.server_secret()
        assert stat.S_IMODE(keys.KEY_FILE.stat().st_mode) == 0o600
        assert stat.S_IMODE(keys.KEY_FILE.parent.stat().st_mode) == 0o700
        keys.server_secret.cache_clear()
        assert keys.server_secret() == first and len(first) == 64  # kept across restarts
        token = keys.session_token("abc")
        assert len(token) == 64 and token != keys.session_token("abd")
    finally:
        keys.server_secret.cache_clear()
