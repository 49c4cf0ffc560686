"""Action calls as plain HTTP/1.1 POSTs on kept-alive loopback connections.

Each action call went through aiohttp's client request machinery (request and
payload objects, a separate task writing the body, the response object): about
a tenth of the Rasa server's CPU per message at two or three calls a turn, and
the request left as two TCP segments (headers, then body), so the action server
woke up twice to read it. Here one call is one ``write`` of the request and a
read of the response on an asyncio stream.

Only what the action server speaks is handled: ``http://`` URLs, a response
with Content-Length or chunked transfer encoding, or one ended by closing the
connection. Anything else (https, compression, query parameters, basic auth,
a header containing a line break) takes aiohttp's path, as before
(``PooledEndpoint.request``). Errors keep aiohttp's classes, so Rasa's handling
of them is unchanged: a status of 400 or more raises Rasa's ClientResponseError
with the body, a connection that fails raises aiohttp.ClientConnectionError.
The caller bounds the time (``resilience.install``'s guard cancels the call; a
cancelled or failed connection is closed, never reused).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+?\+)?json")  # aiohttp's own test


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        """What aiohttp's ``response.json()`` returns; None where it raises ContentTypeError."""
        content_type = self.headers.get("content-type", "").lower()
        if not _JSON_TYPE.match(content_type):
            return None
        stripped = self.body.strip()
        if not stripped:
            return None
        charset = "utf-8"
        for parameter in content_type.split(";")[1:]:
            name, _, value = parameter.strip().partition("=")
            if name == "charset" and value:
                charset = value.strip('"')
        return json.loads(stripped.decode(charset))


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float, keepalive_s: float) -> bool:
        return (now - self.idle_since < keepalive_s and not self.reader.at_eof()
                and not self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class RawClient:
    """Kept-alive connections to one ``http://host:port``, one per concurrent call."""

    def __init__(self, url: str, keepalive_s: float) -> None:
        if not self.accepts(url):
            raise ValueError("plain http URLs only")
        parts = urlsplit(url)
        self.host = parts.hostname
        self.port = parts.port or 80
        self.host_header = parts.netloc  # accepts() refused any user info
        self.keepalive_s = keepalive_s
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def accepts(url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme == "http" and bool(parts.hostname) and not parts.username
                and not parts.query and not parts.fragment
                and not any(c.isspace() or ord(c) < 32 for c in url))

    async def _acquire(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # connections belong to the loop that opened them
            self._idle, self._loop = [], loop
        now = loop.time()
        while self._idle:
            connection = self._idle.pop()
            if connection.usable(now, self.keepalive_s):
                return connection
            connection.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    def _release(self, connection: _Connection) -> None:
        connection.idle_since = asyncio.get_running_loop().time()
        self._idle.append(connection)

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> Response:
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host_header}",
                f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        try:
            connection = await self._acquire()
        except OSError as exc:
            raise aiohttp.ClientConnectionError(f"cannot connect: {type(exc).__name__}") from exc
        reusable = False
        try:
            connection.writer.write(request)
            await connection.writer.drain()
            response, reusable = await _read_response(connection.reader)
            return response
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError) as exc:
            raise aiohttp.ClientConnectionError(
                f"action server connection failed: {type(exc).__name__}") from exc
        finally:
            if reusable:
                self._release(connection)
            else:
                connection.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    """One response; whether the connection can carry the next request."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status, reason = [*lines[0].split(" ", 2), "", ""][:3]
    if not version.startswith("HTTP/1."):
        raise ValueError("not an HTTP/1.x response")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body, keep_alive = await reader.read(), False  # ends when the server closes
    return Response(int(status), reason, headers, body), keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
