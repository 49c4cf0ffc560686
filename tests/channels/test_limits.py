"""The message rules of channels/limits.py, and the REST channel's answers, without a stack.

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

from actions.safety import first_reply
from channels.limits import (
    EMPTY,
    MAX_BODY_BYTES,
    MAX_MESSAGE_CHARS,
    MAX_SENDER_CHARS,
    QUERY_WITHHELD,
    RETRY_AFTER_S,
    TOO_LONG,
    BadRequest,
    WithholdQueryText,
    check_sender,
    clean_text,
    exception_kind,
    guarded,
    install_log_privacy,
    read_rest_request,
    refusal,
)
from channels.rest import RestInput
from rasa_server.messages import SERVICE_ERROR
from tests.channels.fakes import sanic_on_loopback

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
    assert refusal("x" * (MAX_MESSAGE_CHARS + 1)) == TOO_LONG
    assert refusal("😀" * MAX_MESSAGE_CHARS) is None  # a character, not a byte
    assert refusal("") == EMPTY
    assert f"{MAX_MESSAGE_CHARS:,} characters" in TOO_LONG


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
    log = logging.getLogger("tests.channels.withhold")
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
    cases = {"x" * (MAX_MESSAGE_CHARS + 1): TOO_LONG, " \x00 ": EMPTY, "hi\x00": "ok",
             f"fail {SECRET_TEXT}": SERVICE_ERROR}
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
        ("p1", first_reply("fail: i am vomiting blood")), ("p1", SERVICE_ERROR)]
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
                assert await reply.json() == [{"recipient_id": "p1", "text": SERVICE_ERROR}]
            async with client.post(url, json={"sender": "p1", "message": "i passed out"}) as reply:
                assert reply.status == 503
                assert await reply.json() == [
                    {"recipient_id": "p1", "text": first_reply("i passed out")},
                    {"recipient_id": "p1", "text": SERVICE_ERROR}]
            # Streaming: the apology is the one line, and the stream ends.
            async with client.post(url + "?stream=true",
                                   json={"sender": "p1", "message": SECRET_TEXT},
                                   timeout=aiohttp.ClientTimeout(total=10)) as reply:
                assert reply.status == 200
                lines = (await reply.text()).splitlines()
                assert [line for line in lines if line] == [
                    f'{{"recipient_id": "p1", "text": "{SERVICE_ERROR}"}}']
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 3
    assert all(r.getMessage() == "rest: the turn failed with sqlalchemy.exc.OperationalError; "
               "the person was asked to try again" and not r.exc_info for r in errors)
    assert "quokkazebra" not in caplog.text and "INSERT" not in caplog.text


async def test_rest_refuses_a_body_over_the_limit_with_413():
    async with rest_server(answering) as url, aiohttp.ClientSession() as client:
        body = b'{"sender": "p1", "message": "' + b"a" * MAX_BODY_BYTES + b'"}'
        async with client.post(url, data=body) as reply:
            assert reply.status == 413
            assert (await reply.json())["error"]["code"] == "too_large"
        async with client.post(url, data=b"{}", headers={"Content-Type": "text/plain"}) as reply:
            assert reply.status == 400
            assert (await reply.json())["error"]["code"] == "sender_missing"
