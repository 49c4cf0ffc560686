"""Bad input against the real servers: every request gets a 4xx or a safe reply, the server
stays up, and a conversation that was going on before loses nothing.

One stack for the module (its own tracker database, so the abuse stays here). A safe reply is
a JSON list of bot messages for the sender, with no traceback, no exception text and nothing
the user sent echoed back as markup. The rules are in rasa_server/channels/limits.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import socket
import sqlite3
import stat
import threading
import time
import uuid

import pytest

from b12core.disclaimer import full_disclaimer
from b12core.texts import say as bot_says
from rasa_server.channels.limits import (
    MAX_BODY_BYTES,
    MAX_MESSAGE_CHARS,
    MAX_SENDER_CHARS,
    too_long_reply,
)
from tests.e2e.audit import audit_turn
from tests.e2e.stack import RasaStack

pytestmark = pytest.mark.e2e

WEBHOOK = "/webhooks/rest/webhook"
PATIENT = "bad-input-patient"
TEN_MB = 10 * 1024 * 1024
REFUSE_WITHIN_S = 5.0  # a 10 MB body is refused, not read
UNSAFE_MARKERS = ("Traceback", "Exception", "Error running graph", "<script", "onerror")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """This module's stack, with a lab check under way before any bad input arrives."""
    workdir = tmp_path_factory.mktemp("bad-input")
    with contextlib.ExitStack() as started:
        # Started under a permissive umask, as from a default login shell: the tracker's
        # folder and files must be made owner-only by the server itself.
        previous = os.umask(0o022)
        try:
            stack = started.enter_context(
                RasaStack(workdir, db=workdir / "var" / "tracker.db",
                          # The retention sweep every 2 s instead of 6 h
                          # (docs/security-and-privacy.md).
                          env={"RETENTION_INTERVAL_S": "2"}).running())
        finally:
            os.umask(previous)
        stack.send(PATIENT, "can you check my results")
        reply = texts(stack.send(PATIENT, "my b12 is 187 pmol/L and homocysteine 23.7 umol/L"))
        assert "MMA" in "\n".join(reply), reply  # both values taken, the form goes on
        yield stack


def texts(messages: list[dict]) -> list[str]:
    return [m.get("text", "") for m in messages]


def post(stack: RasaStack, body: bytes, path: str = WEBHOOK,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", stack.rasa_port, timeout=60)
    try:
        connection.request("POST", path, body=body,
                           headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post_json(stack: RasaStack, value) -> tuple[int, dict[str, str], bytes]:
    return post(stack, json.dumps(value).encode("utf-8"))


def say(stack: RasaStack, sender: str, text: str) -> tuple[int, bytes]:
    """One REST turn: (status, raw body)."""
    status, _, raw = post_json(stack, {"sender": sender, "message": text})
    return status, raw


def events_of(stack: RasaStack, sender: str) -> list[dict]:
    with sqlite3.connect(stack.db) as db:
        rows = db.execute("SELECT data FROM events WHERE sender_id = ?", (sender,)).fetchall()
    return [json.loads(data) for (data,) in rows]


def assert_refused(status: int, raw: bytes, code: str, expected_status: int = 400) -> None:
    assert status == expected_status, raw
    body = json.loads(raw)
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert not any(marker in raw.decode() for marker in UNSAFE_MARKERS)


def assert_safe_reply(status: int, raw: bytes, sender: str, sent: str = "") -> list[str]:
    """200, well-formed JSON, bot messages for this sender only, nothing unsafe in them."""
    assert status == 200, raw
    messages = json.loads(raw)
    assert isinstance(messages, list) and messages
    assert all(isinstance(m, dict) and m.get("recipient_id") == sender for m in messages)
    replies = texts(messages)
    joined = "\n".join(replies)
    assert not any(marker in joined for marker in UNSAFE_MARKERS), joined
    if len(sent) > 3:
        assert sent not in joined  # the user's input is never echoed back
    return replies


def assert_not_processed(stack: RasaStack, sender: str) -> None:
    """The request never reached the tracker (so neither NLU nor the action server)."""
    assert events_of(stack, sender) == []


# ---------------------------------------------------------------- refused: 4xx


@pytest.mark.parametrize(("body", "code"), [
    (b'{"sender": "bad-json", "message": "hi"', "invalid_json"),
    (b"", "invalid_json"),
    (b"sender=bad-form&message=hi", "invalid_json"),
    (b'["bad-array", "hi"]', "not_an_object"),
    (b"42", "not_an_object"),
    (b'"hi"', "not_an_object"),
    (b"null", "not_an_object"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\xfd", "invalid_json"),
    ('{"sender": "bad-latin1", "message": "café"}'.encode("latin-1"), "invalid_json"),
    (b"[" * 100_000, "invalid_json"),  # nested too deep for the parser
], ids=["truncated", "empty body", "form encoded", "array", "number", "string", "null",
        "binary", "latin-1", "deep nesting"])
def test_a_body_that_is_not_a_json_object_is_refused(stack, body, code):
    status, _, raw = post(stack, body)
    assert_refused(status, raw, code)


@pytest.mark.parametrize(("value", "code"), [
    ({"message": "hi"}, "sender_missing"),
    ({"sender": None, "message": "hi"}, "sender_missing"),
    ({"sender": 12345, "message": "hi"}, "invalid_sender"),
    ({"sender": ["bad-list"], "message": "hi"}, "invalid_sender"),
    ({"sender": {"id": "bad-dict"}, "message": "hi"}, "invalid_sender"),
    ({"sender": "", "message": "hi"}, "invalid_sender"),
    ({"sender": "   ", "message": "hi"}, "invalid_sender"),
    ({"sender": "bad\x00null", "message": "hi"}, "invalid_sender"),
    ({"sender": "bad\nnewline", "message": "hi"}, "invalid_sender"),
    ({"sender": "s" * (MAX_SENDER_CHARS + 1), "message": "hi"}, "invalid_sender"),
    ({"sender": "s" * 100_000, "message": "hi"}, "invalid_sender"),
    ({"sender": "bad-type-int", "message": 5}, "invalid_message"),
    ({"sender": "bad-type-null", "message": None}, "invalid_message"),
    ({"sender": "bad-type-missing"}, "invalid_message"),
    ({"sender": "bad-type-bool", "message": True}, "invalid_message"),
    ({"sender": "bad-type-list", "message": ["my b12 is 300"]}, "invalid_message"),
    ({"sender": "bad-type-dict", "message": {"text": "hi"}}, "invalid_message"),
    ({"sender": "bad-metadata", "message": "hi", "metadata": [1, 2]}, "invalid_metadata"),
    ({"sender": "bad-channel", "message": "hi", "input_channel": {"x": 1}},
     "invalid_input_channel"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_wrong_fields_are_refused(stack, value, code):
    status, _, raw = post_json(stack, value)
    assert_refused(status, raw, code)
    sender = value.get("sender")
    if isinstance(sender, str) and sender.strip():
        assert_not_processed(stack, sender)


def test_a_missing_sender_never_reaches_a_shared_default_conversation(stack):
    for _ in range(2):
        status, _, raw = post_json(stack, {"message": "my b12 is 250 pmol/L"})
        assert_refused(status, raw, "sender_missing")
    assert_not_processed(stack, "default")
    assert_not_processed(stack, "None")


def test_a_sender_of_exactly_the_limit_is_accepted(stack):
    sender = "s" * MAX_SENDER_CHARS
    replies = assert_safe_reply(*say(stack, sender, "hi"), sender)
    assert replies[0] == full_disclaimer()


# ---------------------------------------------------------------- too large: 413


def test_a_10_mb_body_is_refused_before_it_is_read(stack):
    """Content-Length over the limit: 413 as soon as the headers arrive, the body unread."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", stack.rasa_port), timeout=10) as sock:
        sock.sendall(f"POST {WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {TEN_MB}\r\n\r\n"
                     .encode() + b'{"sender": "big", "message": "' + b"a" * 65_536)
        head, _, rest = read_response(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(rest)["error"]["code"] == "too_large"
    assert time.monotonic() - start < REFUSE_WITHIN_S
    assert_not_processed(stack, "big")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_10_mb_upload_ends_quickly_and_the_server_stays_up(stack, chunked):
    """A client that sends the whole 10 MB (or streams it without a length) gets 413, or the
    connection is closed under it; either way within seconds, and nothing reaches Rasa."""
    body = b'{"sender": "big-upload", "message": "' + b"a" * TEN_MB + b'"}'
    start = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", stack.rasa_port, timeout=30)
    try:
        if chunked:
            pieces = (body[i:i + 65_536] for i in range(0, len(body), 65_536))
            connection.request("POST", WEBHOOK, body=pieces, encode_chunked=True,
                               headers={"Content-Type": "application/json"})
        else:
            connection.request("POST", WEBHOOK, body=body,
                               headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "too_large"
    except (ConnectionResetError, BrokenPipeError):
        pass  # closed while we were still sending: refused all the same
    finally:
        connection.close()
    assert time.monotonic() - start < REFUSE_WITHIN_S
    assert_not_processed(stack, "big-upload")
    after = f"after-upload-{'chunked' if chunked else 'length'}"
    assert stack.send(after, "hi")[0]["text"] == full_disclaimer()


def read_response(sock: socket.socket) -> bytes:
    """One HTTP response (interim 100 Continue skipped), read up to its Content-Length."""
    data = b""
    while True:
        chunk = sock.recv(65_536)
        if not chunk:
            return data
        data += chunk
        while data.startswith(b"HTTP/1.1 100"):
            data = data.partition(b"\r\n\r\n")[2]
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(rest) >= length:
                return data


def test_the_body_limit_leaves_room_for_a_pasted_report(stack):
    """A 100 KB message is within the body limit: it gets the kind reply, not an error."""
    assert MAX_BODY_BYTES > 100_000 + 1_000
    sender = "long-paste"
    reply = assert_safe_reply(*say(stack, sender, "B12 " + "x" * 100_000), sender)
    assert reply == [too_long_reply()]
    assert_not_processed(stack, sender)


# ---------------------------------------------------------------- safe replies: 200


def test_a_message_over_the_limit_gets_one_kind_reply_and_is_not_processed(stack):
    sender = "too-long"
    text = "my b12 is 300 pg/mL " * (MAX_MESSAGE_CHARS // 20 + 1)
    [reply] = assert_safe_reply(*say(stack, sender, text), sender)
    assert reply == too_long_reply()
    assert f"{MAX_MESSAGE_CHARS:,} characters" in reply and "shorter message" in reply
    assert_not_processed(stack, sender)
    assert audit_turn([reply], first_turn=False) == []


def test_the_length_limit_is_exact(stack):
    at_limit = ("is b12 " * 300)[:MAX_MESSAGE_CHARS]
    over = at_limit + "x"
    assert too_long_reply() not in assert_safe_reply(*say(stack, "at-limit", at_limit), "at-limit")
    assert assert_safe_reply(*say(stack, "over-limit", over), "over-limit") == [too_long_reply()]
    assert_not_processed(stack, "over-limit")


@pytest.mark.parametrize(("name", "text"), [
    ("empty", ""), ("spaces", "   "), ("controls", "\x00\x01\x02\x7f"), ("whitespace", "\t\r\n"),
])
def test_an_empty_message_gets_a_prompt_and_is_not_processed(stack, name, text):
    sender = f"empty-{name}"
    assert assert_safe_reply(*say(stack, sender, text), sender) == [bot_says("channels.empty")]
    assert_not_processed(stack, sender)


ODD_TEXTS = {
    "emoji": "😀😀😀",
    "emoji sequences": "🙏🏽👩‍⚕️💊",
    "arabic": "ما هو مستوى فيتامين ب12 الطبيعي؟",
    "hebrew": "מה זה ויטמין B12 ולמה הוא גבוה?",
    "bidi override": "my b12 is \u202e057 lomp\u202c",  # right-to-left inside Latin text
    "script tag": '<script>alert("x")</script>',
    "img onerror": '<img src=x onerror="alert(1)">',
    "sql drop": "'; DROP TABLE events; --",
    "sql or": "1' OR '1'='1",
    "sql delete": 'b12 300 pg/mL"); DELETE FROM events WHERE ("1"="1',
    "null bytes": "my b12\x00 is 300\x00 pg/mL",
    "lone surrogate": "\ud800 lone surrogate",
    "templates": "{{7*7}} ${7*7} %s %n",
    "intent payload": '/greet{"b12": "9999"}',
}


@pytest.mark.parametrize("name", ODD_TEXTS)
def test_odd_text_gets_a_safe_reply(stack, name):
    sender, text = f"odd-{name.replace(' ', '-')}", ODD_TEXTS[name]
    replies = assert_safe_reply(*say(stack, sender, text), sender, sent=text)
    assert audit_turn(replies, first_turn=True) == [], replies
    stored = [e.get("text") or "" for e in events_of(stack, sender) if e["event"] == "user"]
    assert stored and all("\x00" not in t and "\ud800" not in t for t in stored)


def test_the_tables_survive_sql_in_messages(stack):
    with sqlite3.connect(stack.db) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        assert "events" in tables
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] > 0


def test_the_stream_option_still_works(stack):
    sender = "streamed"
    status, _, raw = post(stack, json.dumps({"sender": sender, "message": "hi"}).encode(),
                          path=f"{WEBHOOK}?stream=true")
    assert status == 200
    lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    assert lines[0]["text"] == full_disclaimer()
    status, _, raw = post(stack, json.dumps({"sender": sender, "message": "x" * 3000}).encode(),
                          path=f"{WEBHOOK}?stream=true")
    assert json.loads(raw) == [{"recipient_id": sender, "text": too_long_reply()}]


# ---------------------------------------------------------------- socket.io


async def test_socketio_refuses_over_long_and_wrong_type_messages(stack):
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    replies: asyncio.Queue = asyncio.Queue()
    confirmed: asyncio.Queue = asyncio.Queue()
    client.on("bot_uttered", replies.put_nowait)
    client.on("session_confirm", confirmed.put_nowait)

    async def next_reply() -> dict:
        return await asyncio.wait_for(replies.get(), 60)

    await client.connect(f"http://127.0.0.1:{stack.rasa_port}", transports=["polling"],
                         wait_timeout=10)
    try:
        await client.emit("session_request", {})
        session = (await asyncio.wait_for(confirmed.get(), 10))["session_id"]

        await client.emit("user_uttered", {"session_id": session,
                                           "message": "b12 " * MAX_MESSAGE_CHARS})
        assert await next_reply() == {"text": too_long_reply()}
        for wrong in ({"session_id": session, "message": 12345},
                      {"session_id": session, "message": ["hi"]},
                      {"session_id": session, "message": "hi", "metadata": "[1"},
                      {"session_id": {"$ne": ""}, "message": "hi"},
                      ["not", "an", "object"]):
            await client.emit("user_uttered", wrong)
            assert await next_reply() == {"text": bot_says("channels.unreadable")}, wrong
        assert_not_processed(stack, session)

        # The connection still works, and the conversation starts only now.
        await client.emit("user_uttered", {"session_id": session, "message": "hi"})
        first = await next_reply()
        assert full_disclaimer().startswith(first["text"])
    finally:
        await client.eio.disconnect(abort=True)  # polling: do not wait for the long-poll


async def test_socketio_replaces_a_malformed_session_id(stack):
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    confirmed: asyncio.Queue = asyncio.Queue()
    client.on("session_confirm", confirmed.put_nowait)
    await client.connect(f"http://127.0.0.1:{stack.rasa_port}", transports=["polling"],
                         wait_timeout=10)
    try:
        for bad in ({"session_id": ["x"]}, {"session_id": "s" * 500}, "not a dict", 7,
                    {"session_id": "a" * 32, "session_token": ["x"]}):
            await client.emit("session_request", bad)
            confirm = await asyncio.wait_for(confirmed.get(), 10)
            session = confirm["session_id"]
            assert isinstance(session, str) and len(session) == 32, session
            assert len(confirm["session_token"]) == 64
    finally:
        await client.eio.disconnect(abort=True)  # polling: do not wait for the long-poll


async def test_socketio_session_ids_cannot_name_other_conversations(stack):
    # A REST or Telegram-style conversation holding lab values.
    victim = "424242"
    stack.send(victim, "can you check my results")
    stack.send(victim, "b12 199 pmol/L")
    before = len(events_of(stack, victim))

    client = await socketio_client(stack)
    confirmed, replies, _ = client.queues
    try:
        await client.emit("session_request", {"session_id": victim})
        own = (await asyncio.wait_for(confirmed.get(), 10))["session_id"]
        assert own != victim and len(own) == 32
        # Naming the victim's id in a message does not reach the victim's conversation.
        await client.emit("user_uttered", {"session_id": victim, "message": "i have nash"})
        first = await asyncio.wait_for(replies.get(), 60)
        assert full_disclaimer().startswith(first["text"])  # a new conversation: its own
    finally:
        await client.eio.disconnect(abort=True)  # polling: do not wait for the long-poll
    # The turn is saved just after its replies are sent: wait for it, bounded.
    deadline = time.monotonic() + 15
    while not events_of(stack, own) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert events_of(stack, own)
    assert len(events_of(stack, victim)) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_request_that_is_not_json_is_refused_before_it_is_read(stack, content_type):
    # What any web page may send cross-origin without a preflight.
    sender = f"not-json-{content_type.split('/')[1][:6]}"
    status, _, raw = post(stack, json.dumps({"sender": sender, "message": "hi"}).encode(),
                          headers={"Content-Type": content_type})
    assert_refused(status, raw, "unsupported_media_type", expected_status=415)
    assert_not_processed(stack, sender)


async def socketio_session(stack: RasaStack):
    """A polling socket.io client with a confirmed session: (client, session, replies)."""
    client = await socketio_client(stack)
    confirmed, replies, _ = client.queues
    await client.emit("session_request", {"session_id": uuid.uuid4().hex})
    session = (await asyncio.wait_for(confirmed.get(), 10))["session_id"]
    return client, session, replies


async def drain(replies: asyncio.Queue, quiet_s: float) -> list[str]:
    """The replies that arrive until none has come for ``quiet_s`` seconds (bounded)."""
    texts_seen: list[str] = []
    for _ in range(200):
        try:
            texts_seen.append((await asyncio.wait_for(replies.get(), quiet_s))["text"])
        except asyncio.TimeoutError:
            break
    return texts_seen


async def test_socketio_refuses_a_packet_over_a_few_kib_unread(stack):
    from rasa_server.channels.limits import SOCKETIO_MAX_BYTES

    client, session, replies = await socketio_session(stack)
    try:
        # 16 KiB of combining marks: the old 256 KiB limit let it through to be cleaned.
        text = "\u0301" * (SOCKETIO_MAX_BYTES // 2 + 2048)
        # The server may drop the connection while the client sends.
        with contextlib.suppress(Exception):
            await client.emit("user_uttered", {"session_id": session, "message": text})
        assert await drain(replies, 3.0) == []  # not read, so not even the too-long reply
        assert_not_processed(stack, session)
    finally:
        await client.eio.disconnect(abort=True)
    # Other connections are served as before.
    client, session, replies = await socketio_session(stack)
    try:
        await client.emit("user_uttered", {"session_id": session, "message": " "})
        assert (await asyncio.wait_for(replies.get(), 30))["text"] == bot_says("channels.empty")
    finally:
        await client.eio.disconnect(abort=True)


def test_an_oversize_long_polling_post_is_refused_at_once(stack):
    from rasa_server.channels.limits import SOCKETIO_MAX_BYTES

    base = "/socket.io/?EIO=4&transport=polling"
    connection = http.client.HTTPConnection("127.0.0.1", stack.rasa_port, timeout=90)
    try:
        connection.request("GET", base)
        handshake = connection.getresponse().read().decode()
        sid = json.loads(handshake[1:])["sid"]
        start = time.monotonic()
        connection.request("POST", f"{base}&sid={sid}",
                           body=b"4" + b"x" * (SOCKETIO_MAX_BYTES + 1024),
                           headers={"Content-Type": "text/plain;charset=UTF-8"})
        reply = connection.getresponse()
        reply.read()
        # engineio itself answered 503 after 60 s (it closes its session first).
        assert reply.status == 413 and time.monotonic() - start < 5
    finally:
        connection.close()


async def test_socketio_a_flood_on_one_connection_is_told_once_and_dropped(stack):
    from rasa_server.channels.limits import RATE_BURST

    client, session, replies = await socketio_session(stack)
    try:
        # Empty messages: each one read gets the empty-message reply. In batches, as engineio
        # decodes at most 16 packets from one long-polling POST.
        for sent in range(RATE_BURST + 15):
            await client.emit("user_uttered", {"session_id": session, "message": " "})
            if sent % 8 == 7:
                await asyncio.sleep(0.05)
        seen = await drain(replies, 3.0)
        assert seen.count(bot_says("channels.slow_down")) == 1, seen
        assert RATE_BURST <= seen.count(bot_says("channels.empty")) <= RATE_BURST + 5, seen
        await asyncio.sleep(2.5)  # the bucket refills: the connection is read again
        await client.emit("user_uttered", {"session_id": session, "message": " "})
        assert (await asyncio.wait_for(replies.get(), 30))["text"] == bot_says("channels.empty")
    finally:
        await client.eio.disconnect(abort=True)


async def socketio_client(stack: RasaStack):
    """A connected polling client: (client, confirmations queue, replies queue)."""
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    confirmed: asyncio.Queue = asyncio.Queue()
    replies: asyncio.Queue = asyncio.Queue()
    forgotten: asyncio.Queue = asyncio.Queue()
    client.on("session_confirm", confirmed.put_nowait)
    client.on("bot_uttered", replies.put_nowait)
    client.on("session_forgotten", forgotten.put_nowait)
    await client.connect(f"http://127.0.0.1:{stack.rasa_port}", transports=["polling"],
                         wait_timeout=10)
    client.queues = (confirmed, replies, forgotten)
    return client


async def test_socketio_a_session_id_without_its_token_is_not_enough(stack):
    owner = await socketio_client(stack)
    try:
        confirmed, replies, _ = owner.queues
        await owner.emit("session_request", {})
        issued = await asyncio.wait_for(confirmed.get(), 10)
        session, token = issued["session_id"], issued["session_token"]
        await owner.emit("user_uttered", {"session_id": session, "message": "hi"})
        await asyncio.wait_for(replies.get(), 60)
    finally:
        await owner.eio.disconnect(abort=True)
    deadline = time.monotonic() + 15  # the turn is saved just after its replies are sent
    while not events_of(stack, session) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    before = len(events_of(stack, session))
    assert before

    # Someone who learned the id: without the token, or with a wrong one, a new session.
    for attempt in ({"session_id": session}, {"session_id": session, "session_token": "0" * 64},
                    {"session_id": session, "session_token": token[:-1] + "x"}):
        stranger = await socketio_client(stack)
        try:
            confirmed, replies, _ = stranger.queues
            await stranger.emit("session_request", attempt)
            got = (await asyncio.wait_for(confirmed.get(), 10))["session_id"]
            assert got != session
            await stranger.emit("user_uttered", {"session_id": session, "message": "b12 150 pg/mL"})
            await asyncio.wait_for(replies.get(), 60)  # answered in its own new session
        finally:
            await stranger.eio.disconnect(abort=True)
    assert len(events_of(stack, session)) == before

    # The owner comes back (a reload): the id and its token continue the conversation.
    owner = await socketio_client(stack)
    try:
        confirmed, _, _ = owner.queues
        await owner.emit("session_request", {"session_id": session, "session_token": token})
        assert (await asyncio.wait_for(confirmed.get(), 10))["session_id"] == session
    finally:
        await owner.eio.disconnect(abort=True)


async def test_socketio_clear_deletes_the_conversation_on_the_server(stack):
    client = await socketio_client(stack)
    try:
        confirmed, replies, forgotten = client.queues
        await client.emit("session_request", {})
        session = (await asyncio.wait_for(confirmed.get(), 10))["session_id"]
        await client.emit("user_uttered", {"session_id": session,
                                           "message": "my b12 is 190 pmol/L"})
        await drain(replies, 3.0)
        deadline = time.monotonic() + 15
        while not events_of(stack, session) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert events_of(stack, session)

        await client.emit("forget_session", {})
        assert await asyncio.wait_for(forgotten.get(), 15) == {"deleted": True}
        fresh = (await asyncio.wait_for(confirmed.get(), 10))["session_id"]
        assert fresh != session
        assert_not_processed(stack, session)  # every event gone
        # The socket goes on in its fresh session, which starts from the beginning.
        await client.emit("user_uttered", {"session_id": fresh, "message": "hi"})
        assert full_disclaimer().startswith((await asyncio.wait_for(replies.get(), 60))["text"])
    finally:
        await client.eio.disconnect(abort=True)


# ---------------------------------------------------------------- delete my data


def await_saved(stack: RasaStack, sender: str) -> int:
    deadline = time.monotonic() + 15  # a turn is saved just after its replies are sent
    while not events_of(stack, sender) and time.monotonic() < deadline:
        time.sleep(0.2)
    return len(events_of(stack, sender))


def test_a_person_deletes_their_conversation_from_the_chat(stack):

    sender = "delete-me-sqlite"
    stack.send(sender, "can you check my results")
    stack.send(sender, "b12 199 pmol/L")
    before = await_saved(stack, sender)
    assert before

    # The request is answered by a question with two buttons, and stored nowhere.
    asked = stack.send(sender, "delete my data")
    yes, no = bot_says("buttons.delete_yes"), bot_says("buttons.delete_no")
    assert texts(asked) == [bot_says("deletion.ask")]
    buttons = {b["title"]: b["payload"] for b in asked[0]["buttons"]}
    assert set(buttons) == {yes, no}
    assert len(events_of(stack, sender)) == before
    # "No": nothing deleted, the conversation goes on.
    assert texts(stack.send(sender, buttons[no])) == [bot_says("deletion.kept")]
    assert len(events_of(stack, sender)) == before
    # Another conversation's "yes" button does not delete this one: it is asked again.
    other = stack.send("delete-me-other", "delete my data")
    foreign_yes = {b["title"]: b["payload"] for b in other[0]["buttons"]}[yes]
    assert texts(stack.send(sender, foreign_yes)) == [bot_says("deletion.ask")]
    assert len(events_of(stack, sender)) == before
    # "Yes": every event gone; the next message starts a new conversation.
    assert texts(stack.send(sender, buttons[yes])) == [bot_says("deletion.done")]
    assert_not_processed(stack, sender)
    assert texts(stack.send(sender, "hi"))[0] == full_disclaimer()


def test_typing_yes_after_the_question_deletes_too(stack):

    sender = "delete-me-typed"
    stack.send(sender, "what is homocysteine")
    assert await_saved(stack, sender)
    assert texts(stack.send(sender, "Please delete my data.")) == [bot_says("deletion.ask")]
    assert texts(stack.send(sender, "yes")) == [bot_says("deletion.done")]
    assert_not_processed(stack, sender)


def test_the_server_deletes_conversations_silent_for_longer_than_the_retention_period(stack):
    recent = "retention-recent"
    stack.send(recent, "what is homocysteine")
    assert await_saved(stack, recent)
    # A conversation whose latest event is 31 days old: a copy of the recent one, backdated.
    old_time = time.time() - 31 * 86400
    with sqlite3.connect(stack.db) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(events)") if row[1] != "id"]
        copied = ", ".join("?" if c == "sender_id" else ("? " if c == "timestamp" else c)
                           for c in columns)
        db.execute(f"INSERT INTO events ({', '.join(columns)}) SELECT {copied} FROM events "
                   "WHERE sender_id = ?", ("retention-old", old_time, recent))
    assert events_of(stack, "retention-old")
    deadline = time.monotonic() + 20  # the sweep runs every 2 s in this stack
    while events_of(stack, "retention-old") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert events_of(stack, "retention-old") == []
    assert events_of(stack, recent)  # 30 days by default: today's conversation stays
    assert "retention: deleted 1 conversations" in stack.log_tail("rasa.log") or \
        "retention: deleted 1 conversations" in (stack.workdir / "rasa.log").read_text()


# ---------------------------------------------------------------- slow clients


def test_slow_clients_cannot_hold_a_connection(stack):
    """A connection that sends nothing is closed after the keep-alive timeout, one that stops
    mid-request gets 408 after REQUEST_TIMEOUT_S of silence, a header trickled in a byte a
    second is cut at HEADER_DEADLINE_S, and a REST body trickled in gets 408 at BODY_TIMEOUT_S."""
    import select

    from rasa_server.__main__ import REQUEST_TIMEOUT_S
    from rasa_server.channels.limits import HEADER_DEADLINE_S, KEEP_ALIVE_TIMEOUT_S
    from rasa_server.channels.rest import BODY_TIMEOUT_S

    held: dict[str, tuple[float, bytes]] = {}

    def client(name: str, first: bytes, trickle: bytes) -> None:
        start = time.monotonic()
        answer = b""
        with socket.create_connection(("127.0.0.1", stack.rasa_port), timeout=90) as conn:
            try:
                conn.sendall(first)
                for byte in trickle:  # one byte a second, until the server answers
                    if select.select([conn], [], [], 1.0)[0] or time.monotonic() - start > 60:
                        break
                    conn.sendall(bytes([byte]))
                while time.monotonic() - start < 70 and select.select([conn], [], [], 1.0)[0]:
                    chunk = conn.recv(65536)
                    answer += chunk
                    if not chunk or b"\r\n\r\n" in answer:
                        break
                while not answer and time.monotonic() - start < 70:
                    if select.select([conn], [], [], 1.0)[0]:
                        answer = conn.recv(65536) or b"<closed>"
            except OSError:  # reset by the server
                answer = answer or b"<reset>"
        held[name] = (time.monotonic() - start, answer)

    body_head = (f"POST {WEBHOOK} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: 500\r\n\r\n").encode()
    cases = {
        "silent": (b"", b""),
        "stalled": (b"GET / HTTP/1.1\r\nHost: x\r\n", b""),
        "trickled": (b"GET / HTTP/1.1\r\n", b"X-Slow: " + b"a" * 200),
        "body": (body_head, b'{"sender": "slow", "message": "' + b"a" * 400),
    }
    threads = [threading.Thread(target=client, args=(name, *parts))
               for name, parts in cases.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert held["silent"][0] <= KEEP_ALIVE_TIMEOUT_S + 5, held
    assert held["silent"][1] in (b"<closed>", b"<reset>"), held
    assert held["stalled"][0] <= REQUEST_TIMEOUT_S + 5, held
    assert held["stalled"][1].startswith(b"HTTP/1.1 408"), held
    assert held["trickled"][0] <= HEADER_DEADLINE_S + 5, held
    # Sanic answers the cancelled request 503 as it closes (or the client sees the close).
    trickled = held["trickled"][1]
    assert trickled.startswith(b"HTTP/1.1 503") or trickled in (b"<closed>", b"<reset>"), held
    assert held["body"][0] <= BODY_TIMEOUT_S + 5, held
    assert held["body"][1].startswith(b"HTTP/1.1 408"), held["body"][1][:200]
    assert_not_processed(stack, "slow")


# ---------------------------------------------------------------- files


def test_the_conversations_on_disk_are_the_owners_alone(stack):
    # After real turns: the database, its write-ahead log and shared memory, and the folder.
    files = [stack.db, stack.db.with_name("tracker.db-wal"), stack.db.with_name("tracker.db-shm")]
    assert all(f.exists() for f in files), [f.name for f in files if not f.exists()]
    modes = {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files}
    assert modes == dict.fromkeys(modes, "0o600"), modes
    assert oct(stat.S_IMODE(stack.db.parent.stat().st_mode)) == "0o700"


# ---------------------------------------------------------------- afterwards


def test_afterwards_the_server_answers_and_the_earlier_conversation_lost_nothing(stack):
    assert stack.send("after-all", "hi")[0]["text"] == full_disclaimer()
    # The lab check started before any bad input goes on with both values.
    assert "Which liver condition" in "\n".join(texts(stack.send(PATIENT,
                                                                 "i don't have the others")))
    final = "\n".join(texts(stack.send(PATIENT, "cirrhosis")))
    assert "Vitamin B12: 187 pmol/L" in final
    assert "Homocysteine: 23.7 µmol/L" in final
    assert audit_turn([final], first_turn=False) == []
