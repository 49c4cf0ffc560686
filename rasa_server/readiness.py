"""Dependency checks for monitoring: ``GET /webhooks/rest/ready`` on each Rasa server.

Each check is bounded (2 s) and reports only "ok" or the kind of error, never a URL
with credentials. Kubernetes probes use ``/`` instead, on purpose: a shared engine
being down would mark every pod unready, and the proxy's error page would replace
the apology the patient gets now.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp

CHECK_TIMEOUT_S = 2.0


def _innermost(store: Any) -> Any:
    """The real tracker store inside Rasa's FailSafe/Awaitable wrappers."""
    while hasattr(store, "_tracker_store"):
        store = store._tracker_store
    return store


def _ping_tracker_store(store: Any) -> None:
    import sqlalchemy as sa

    engine = getattr(store, "engine", None)
    if engine is None:  # an in-memory store has nothing to reach
        return
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))


def _ping_lock_store(store: Any) -> None:
    client = getattr(store, "red", None)  # RedisLockStore's client
    if client is not None:
        client.ping()


async def _action_server() -> None:
    url = os.environ.get("ACTION_SERVER_URL", "")
    health = url.rsplit("/", 1)[0] + "/health"
    timeout = aiohttp.ClientTimeout(total=CHECK_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(health) as reply:
        if reply.status != 200:
            raise RuntimeError(f"HTTP {reply.status}")


async def _bounded(check) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        return "ok"
    except asyncio.TimeoutError:
        return "error: timeout"
    except Exception as exc:  # reported, not raised: this is the report
        return f"error: {type(exc).__name__}"


async def readiness(agent: Any) -> tuple[bool, dict[str, str]]:
    """Whether the model is loaded and each engine answers; the result of each check."""
    loop = asyncio.get_running_loop()
    checks = {"model": "ok" if agent is not None and agent.is_ready() else "error: not loaded"}
    if agent is not None:
        tracker_store = _innermost(agent.tracker_store)
        checks["tracker_store"] = await _bounded(
            lambda: loop.run_in_executor(None, _ping_tracker_store, tracker_store))
        checks["lock_store"] = await _bounded(
            lambda: loop.run_in_executor(None, _ping_lock_store, agent.lock_store))
    checks["action_server"] = await _bounded(_action_server)
    return all(v == "ok" for v in checks.values()), checks
