"""Fake Telegram Bot API and Slack Web API servers on loopback, recording every call.

Each runs an aiohttp app in its own thread and event loop, so it serves the Rasa server (a
separate process) while the tests, which are synchronous, read what it recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

WAIT_S = 60.0  # a turn runs NLU, the policies and the action server: seconds, not minutes

BOT_USER = {"id": 123456, "is_bot": True, "first_name": "B12 helper",
            "username": "b12_test_bot"}


@dataclass(frozen=True)
class Call:
    method: str  # "sendMessage", "chat.postMessage"...
    params: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


async def _params(request: web.Request) -> dict[str, Any]:
    """A Bot/Web API call's parameters, whichever way the client encoded them."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        params.update(body if isinstance(body, dict) else {})
    elif request.can_read_body:
        params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    return params


class FakeApi:
    """An aiohttp app on a free loopback port, recording calls until stopped."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=type(self).__name__,
                                        daemon=True)
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def wait_for(self, done: Callable[[list[Call]], bool], timeout: float = WAIT_S) -> list[Call]:
        """All calls so far, once ``done(calls)`` holds; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.snapshot()
            if done(calls):
                return calls
            if time.monotonic() > deadline:
                raise AssertionError(f"not seen within {timeout:.0f}s; calls: {calls!r}")
            time.sleep(0.1)

    def start(self) -> FakeApi:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.SockSite(self._runner, self._socket).start())
        self._ready.set()
        self._loop.run_forever()


class FakeTelegram(FakeApi):
    """``POST /bot<token>/<method>`` answered like the Bot API: ``{"ok": true, "result": ...}``."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self._message_ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._call)

    async def _call(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await _params(request)
        self.record(Call(method, params))
        return web.json_response({"ok": True, "result": self._result(method, params)})

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "sendMessage":
            message = {
                "message_id": next(self._message_ids), "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT_USER, "text": params.get("text", ""),
            }
            if "reply_markup" in params:
                message["reply_markup"] = json.loads(params["reply_markup"])
            return message
        return True  # setWebhook, deleteWebhook, answerCallbackQuery...

    def sent_to(self, chat_id: int | str, calls: list[Call] | None = None) -> list[Call]:
        return [c for c in (self.snapshot() if calls is None else calls)
                if c.method == "sendMessage" and str(c.params.get("chat_id")) == str(chat_id)]


class FakeSlack(FakeApi):
    """``POST /api/<method>`` answered like the Web API: ``{"ok": true, ...}``."""

    def __init__(self) -> None:
        super().__init__()
        self._timestamps = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/{method}", self._call)

    async def _call(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        headers = {"Authorization": request.headers.get("Authorization", "")}
        self.record(Call(method, params, headers))
        if method == "chat.postMessage":
            ts = f"{int(time.time())}.{next(self._timestamps):06d}"
            return web.json_response({"ok": True, "channel": params.get("channel"), "ts": ts,
                                      "message": {"text": params.get("text", ""), "ts": ts}})
        return web.json_response({"ok": True})

    def posted_to(self, channel: str, calls: list[Call] | None = None) -> list[Call]:
        return [c for c in (self.snapshot() if calls is None else calls)
                if c.method == "chat.postMessage" and c.params.get("channel") == channel]


@asynccontextmanager
async def sanic_on_loopback(app) -> AsyncIterator[int]:
    """Run a Sanic app in this event loop on a free 127.0.0.1 port; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield port
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
