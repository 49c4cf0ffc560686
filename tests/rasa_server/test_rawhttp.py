"""Raw action calls: what goes on the wire, what comes back, and every way it can fail."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from rasa_server.rawhttp import RawClient, Response
from rasa_server.resilience import PooledEndpoint

HOLD = b"hold"  # a scripted reply: answer nothing for a while


class Server:
    """A loopback HTTP server that answers each request with the next scripted reply."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.replies: list[bytes | None] = []  # None: close without answering
        self.connections = 0
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/webhook"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                self.requests.append((head, await reader.readexactly(length)))
                reply = self.replies.pop(0)
                if reply is None:
                    return
                if reply == HOLD:
                    await asyncio.sleep(5)
                    return
                writer.write(reply)
                await writer.drain()
                lowered = reply.lower()
                if b"connection: close" in lowered or (
                        b"content-length" not in lowered and b"chunked" not in lowered):
                    return  # (a body without a length ends when the connection does)
        finally:
            writer.close()

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


def reply(status: str = "200 OK", body: bytes = b'{"events": []}',
          content_type: str = "application/json", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n"
            f"content-type: {content_type}\r\n{extra}\r\n").encode() + body


@pytest.fixture
async def server():
    served = Server()
    served.url = await served.start()
    yield served
    await served.stop()


def endpoint(url: str, **config) -> PooledEndpoint:
    return PooledEndpoint(EndpointConfig(url, headers={"Authorization": "Bearer t0ken"},
                                         **config))


async def test_one_write_with_rasas_headers_and_the_json_body(server):
    server.replies = [reply(body=b'{"events": [], "responses": [{"text": "hi"}]}')]
    result = await endpoint(server.url).request(json={"next_action": "x", "t": "é"},
                                                method="post", timeout=5)
    assert result == {"events": [], "responses": [{"text": "hi"}]}
    head, body = server.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /webhook HTTP/1.1"
    assert {"Content-Type: application/json", "Authorization: Bearer t0ken",
            f"Host: {server.url.split('/')[2]}"} <= set(lines)
    assert json.loads(body.decode("utf-8")) == {"next_action": "x", "t": "é"}


async def test_a_connection_is_kept_for_the_next_call_and_one_per_concurrent_call(server):
    client = endpoint(server.url)
    server.replies = [reply() for _ in range(5)]
    await client.request(json={})
    await client.request(json={})
    assert server.connections == 1
    await asyncio.gather(*(client.request(json={}) for _ in range(3)))
    assert server.connections == 3  # the kept one, and two more for the concurrent calls


async def test_idle_connections_older_than_the_keepalive_are_not_reused(server):
    client = endpoint(server.url)
    client._raw.keepalive_s = 0.05
    server.replies = [reply(), reply()]
    await client.request(json={})
    await asyncio.sleep(0.1)
    await client.request(json={})
    assert server.connections == 2


async def test_a_server_that_closes_after_answering_gets_a_new_connection(server):
    client = endpoint(server.url)
    server.replies = [reply(extra="connection: close\r\n"), reply()]
    assert await client.request(json={}) == {"events": []}
    assert await client.request(json={}) == {"events": []}
    assert server.connections == 2


async def test_chunked_and_close_delimited_bodies(server):
    client = endpoint(server.url)
    chunked = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n"
               b"content-type: application/json\r\n\r\n"
               b"5\r\n{\"eve\r\n9;x=1\r\nnts\": []}\r\n0\r\n\r\n")
    until_close = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"events": [1]}'
    server.replies = [chunked, until_close]
    assert await client.request(json={}) == {"events": []}
    assert await client.request(json={}) == {"events": [1]}
    assert server.connections == 1 and client._raw._idle == []  # chunked: kept; then closed


@pytest.mark.parametrize(("content_type", "body", "expected"), [
    ("application/json; charset=utf-8", b'{"a": "\xc3\xa9"}', {"a": "é"}),
    ("application/vnd.rasa+json", b"[1]", [1]),
    ("text/plain", b'{"a": 1}', None),  # aiohttp: ContentTypeError, Rasa: None
    ("application/json", b"  ", None),
])
async def test_bodies_read_as_aiohttp_reads_them(content_type, body, expected):
    response = Response(200, "OK", {"content-type": content_type}, body)
    assert response.json() == expected


async def test_error_statuses_raise_rasas_client_response_error_with_the_body(server):
    client = endpoint(server.url)
    rejection = b'{"action_name": "validate_lab_form", "error": "no"}'
    server.replies = [reply("400 Bad Request", rejection), reply("500 Internal", b"oops",
                                                                 "text/plain")]
    with pytest.raises(ClientResponseError) as raised:
        await client.request(json={})
    assert raised.value.status == 400 and json.loads(raised.value.text)["error"] == "no"
    with pytest.raises(ClientResponseError) as raised:
        await client.request(json={})
    assert raised.value.status == 500 and raised.value.text == b"oops"


async def test_a_dropped_or_refused_connection_is_a_connection_error(server):
    client = endpoint(server.url)
    server.replies = [None]
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.request(json={})
    assert client._raw._idle == []  # the failed connection is not kept
    await server.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await endpoint(server.url).request(json={})


async def test_a_cancelled_call_closes_its_connection(server):
    client = endpoint(server.url)
    server.replies = [HOLD]
    call = asyncio.ensure_future(client.request(json={}))
    while not server.requests:
        await asyncio.sleep(0.01)
    call.cancel()  # as the guard's timeout does
    with pytest.raises(asyncio.CancelledError):
        await call
    assert client._raw._idle == []


async def test_rasa_turns_those_errors_into_its_own_as_with_aiohttp(server):
    """RemoteAction.run over the raw path: a 400 is a rejection, a 500 a RasaException."""
    from rasa.core.actions.action import ActionExecutionRejection
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.exceptions import RasaException

    action = RemoteAction("validate_lab_form", endpoint(server.url))
    tracker = DialogueStateTracker("raw", [])
    server.replies = [reply("400 Bad Request", b'{"action_name": "validate_lab_form"}'),
                      reply("503 Unavailable", b"{}")]
    with pytest.raises(ActionExecutionRejection):
        await action.run(None, None, tracker, Domain.empty())
    with pytest.raises(RasaException):
        await action.run(None, None, tracker, Domain.empty())


@pytest.mark.parametrize(("config", "url"), [
    ({"params": {"a": "1"}}, None),
    ({"token": "abc"}, None),
    ({"basic_auth": {"username": "u", "password": "p"}}, None),
    ({}, "https://127.0.0.1:1/webhook"),
    ({"headers": {"X-Evil": "a\r\nInjected: 1"}}, None),
    ({"headers": {"X-Name": "Zoë"}}, None),
])
async def test_anything_but_a_plain_json_post_goes_through_aiohttp(server, config, url,
                                                                   monkeypatch):
    used = []

    async def aiohttp_path(self, *args, **kwargs):
        used.append(kwargs)
        return "aiohttp"

    monkeypatch.setattr(EndpointConfig, "request", aiohttp_path)
    headers = config.pop("headers", {})
    client = PooledEndpoint(EndpointConfig(url or server.url, headers=headers, **config))
    assert await client.request(json={}, method="post") == "aiohttp"
    assert await endpoint(server.url).request(json={}, compress=True) == "aiohttp"
    assert await endpoint(server.url).request(json={}, params={"q": 1}) == "aiohttp"
    assert len(used) == 3 and not server.requests


def test_only_plain_http_urls_are_taken():
    assert RawClient.accepts("http://actions:5055/webhook")
    for url in ("https://a/webhook", "http://u:p@a/webhook", "http://a/webhook?x=1", "a/b",
                "http://a/web hook", "http://a/webhook\r\nX: 1"):
        assert not RawClient.accepts(url)
