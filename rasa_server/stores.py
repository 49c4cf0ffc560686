"""Tracker and lock stores chosen by environment variables.

Rasa's endpoints.yml can expand ``${VAR}`` but has no defaults, so an unset
variable would stop the server. These classes (named as ``type:`` in
endpoints.yml) read TRACKER_STORE_URL and LOCK_STORE_URL and fall back to the
embedded defaults: a SQLite file and an in-memory lock store.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

logger = logging.getLogger(__name__)

TRACKER_STORE_ENV = "TRACKER_STORE_URL"
LOCK_STORE_ENV = "LOCK_STORE_URL"
# A stopped or unreachable database must fail a turn quickly, not hang it.
PG_CONNECT_TIMEOUT_S = 3
PG_STATEMENT_TIMEOUT_MS = 5000
REDIS_SOCKET_TIMEOUT_S = 2.0


def tracker_store_settings(default_db: str, url: str | None = None) -> dict[str, Any]:
    """SQLTrackerStore keyword arguments for ``url`` (or TRACKER_STORE_URL, or SQLite)."""
    url = url if url is not None else os.environ.get(TRACKER_STORE_ENV, "").strip()
    if not url:
        return {"dialect": "sqlite", "db": default_db}
    parsed = make_url(url)
    dialect = parsed.drivername
    if not dialect.startswith(("postgresql", "sqlite")):
        raise ValueError(
            f"{TRACKER_STORE_ENV} must be a postgresql:// or sqlite:/// URL, not {dialect}://"
        )
    query = dict(parsed.query)
    if dialect.startswith("postgresql"):
        query.setdefault("connect_timeout", str(PG_CONNECT_TIMEOUT_S))
        query.setdefault("options", f"-c statement_timeout={PG_STATEMENT_TIMEOUT_MS}")
    return {
        "dialect": dialect,
        "host": parsed.host,
        "port": parsed.port,
        "db": parsed.database or default_db,
        "username": parsed.username,
        "password": parsed.password,
        "query": query,
    }


def describe(url: str) -> str:
    """The URL without its password, for logs."""
    return make_url(url).render_as_string(hide_password=True) if url else "(unset)"


class EnvTrackerStore(SQLTrackerStore):
    """SQL tracker store configured from TRACKER_STORE_URL (SQLite file by default)."""

    def __init__(self, domain=None, host=None, event_broker=None, db="var/tracker.db", **kwargs):
        settings = tracker_store_settings(default_db=db)
        for key in ("dialect", "port", "username", "password", "query", "login_db"):
            kwargs.pop(key, None)
        super().__init__(domain=domain, event_broker=event_broker, **settings, **kwargs)
        # pool_pre_ping: after a database restart the first turn reconnects
        # instead of failing on a dead pooled connection.
        url = self.engine.url
        self.engine = create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))
        self.sessionmaker = sessionmaker(bind=self.engine)
        logger.info("tracker store: %s", describe(str(url)) if settings["dialect"] != "sqlite"
                    else f"sqlite file {settings['db']}")


def lock_store_from_url(url: str) -> LockStore:
    """A Redis lock store for a ``redis://`` or ``rediss://`` URL."""
    parsed = make_url(url)
    if parsed.drivername not in ("redis", "rediss"):
        raise ValueError(f"{LOCK_STORE_ENV} must be a redis:// or rediss:// URL")
    return RedisLockStore(
        host=parsed.host or "localhost",
        port=parsed.port or 6379,
        db=int(parsed.database or 0),
        username=parsed.username,
        password=parsed.password,
        use_ssl=parsed.drivername == "rediss",
        key_prefix=parsed.query.get("key_prefix"),
        socket_timeout=REDIS_SOCKET_TIMEOUT_S,
    )


class EnvLockStore:
    """Factory named in endpoints.yml: Redis when LOCK_STORE_URL is set, else in memory.

    Rasa instantiates ``type(endpoint_config=...)``; ``__new__`` returns the real
    store, so Rasa sees a plain RedisLockStore or InMemoryLockStore.
    """

    def __new__(cls, endpoint_config=None) -> LockStore:
        url = os.environ.get(LOCK_STORE_ENV, "").strip()
        if not url:
            return InMemoryLockStore()
        logger.info("lock store: %s", describe(url))
        return lock_store_from_url(url)
