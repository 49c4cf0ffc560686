"""Tracker and lock stores chosen by environment variables.

Rasa's endpoints.yml can expand ``${VAR}`` but has no defaults, so an unset
variable would stop the server. These classes (named as ``type:`` in
endpoints.yml) read TRACKER_STORE_URL and LOCK_STORE_URL and fall back to the
embedded defaults: a SQLite file and an in-memory lock store.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

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


TRACKER_CACHE_ENV = "TRACKER_CACHE_SIZE"


def cache_size_from_env() -> int:
    """How many saved trackers a Rasa process keeps (TRACKER_CACHE_SIZE, default 256)."""
    raw = os.environ.get(TRACKER_CACHE_ENV, "").strip()
    if not raw:
        return EnvTrackerStore.DEFAULT_CACHE_SIZE
    if not raw.isdigit():
        raise ValueError(f"{TRACKER_CACHE_ENV} must be a whole number >= 0, not {raw!r}")
    return int(raw)


# Set on a tracker handed out from the cache: how many of its events are stored.
_STORED = "_b12_stored_events"


@dataclass
class _Recent:
    tracker: DialogueStateTracker
    mark: tuple  # (max id, max timestamp) of the sender's rows when it was saved
    start: int  # events before this index are not part of a reload
    stored: int  # rows of the latest session in the database


def reload_start(tracker: DialogueStateTracker) -> int | None:
    """Where a reload of ``tracker`` from the database would start, or None if it would differ.

    Rasa loads the events stamped at or after the latest session start, in id
    order. If the tracker's latest SessionStarted is stamped after every event
    before it and at or before every event after it, that reload is exactly
    the tracker's events from there on (the first turn of a conversation also
    holds ``action_session_start``; a turn that starts a new session holds the
    old one). SessionStarted resets the tracker's state, so dropping the events
    before it changes nothing else.
    """
    events = tracker.events
    if events.maxlen is not None:
        return None
    start = None
    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index], SessionStarted):
            start = index
            break
    if start is None:
        return None
    stamp = events[start].timestamp
    before = itertools.islice(events, 0, start)
    after = itertools.islice(events, start + 1, None)
    if any(event.timestamp >= stamp for event in before) or any(
        event.timestamp < stamp for event in after
    ):
        return None
    return start


class EnvTrackerStore(SQLTrackerStore):
    """SQL tracker store configured from TRACKER_STORE_URL (SQLite file by default).

    Every turn is written to the database before its reply, as with Rasa's own
    store. Loading is what costs: Rasa rebuilds the tracker from all of the
    session's events on every turn (about a third of the server's CPU per turn
    in a profile). So the store keeps the trackers it saved last (an LRU of
    TRACKER_CACHE_SIZE, default 256; 0 turns it off) and hands one back only
    while the database still holds exactly what it saved (trimmed to the
    latest session, as a reload would be): one indexed query compares the
    conversation's latest event id and timestamp, so a turn handled by another
    Rasa process, ``make forget`` or any other write makes it load from the
    database as before. A tracker is handed out once (a failed turn cannot
    leave a half-updated one behind) and cached again by the save that ends the
    turn. Several processes need the shared (Redis) lock store anyway, which
    keeps a conversation's turns apart.
    """

    DEFAULT_CACHE_SIZE = 256

    def __init__(self, domain=None, host=None, event_broker=None, db="var/tracker.db", **kwargs):
        settings = tracker_store_settings(default_db=db)
        if settings["dialect"].startswith("sqlite"):
            owner_only_database(settings["db"])
        for key in ("dialect", "port", "username", "password", "query", "login_db"):
            kwargs.pop(key, None)
        super().__init__(domain=domain, event_broker=event_broker, **settings, **kwargs)
        url = self.engine.url
        sqlite = url.get_backend_name() == "sqlite"
        if sqlite:
            # SQLAlchemy 1.4 opens a new SQLite connection for every session (NullPool):
            # two or three per turn. The server uses the store from its event-loop
            # thread only, so a small pool of reused connections is safe.
            engine_kwargs = {"poolclass": QueuePool, "pool_size": 2,
                             "connect_args": {"check_same_thread": False}}
        else:
            # pool_pre_ping: after a database restart the first turn reconnects
            # instead of failing on a dead pooled connection.
            engine_kwargs = {"pool_pre_ping": True, **create_engine_kwargs(url)}
        self.engine = create_engine(url, **engine_kwargs)
        if sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_wal)
        self.sessionmaker = sessionmaker(bind=self.engine)
        table = self.SQLEvent.__table__
        self._sql = _driver_sql(self.engine, table)
        self.cache_size = cache_size_from_env()
        self._recent: OrderedDict[str, _Recent] = OrderedDict()
        # Senders the last retrieval found no rows for (until their first save).
        self._no_rows: OrderedDict[str, None] = OrderedDict()
        logger.info("tracker store: %s", describe(str(url)) if settings["dialect"] != "sqlite"
                    else f"sqlite file {settings['db']}")

    @contextlib.contextmanager
    def _dbapi(self) -> Iterator[Any]:
        """A pooled driver connection: the per-turn statements skip the ORM."""
        connection = self.engine.raw_connection()
        driver_error = self.engine.dialect.dbapi.Error
        try:
            yield connection
        except driver_error as exc:
            # The same exception classes as through SQLAlchemy (without the statement
            # or its parameters), for the logs and for operators' alerts.
            raise sa.exc.DBAPIError.instance(None, None, exc, driver_error) from exc
        finally:
            connection.close()  # back to the pool, rolled back if still open

    def _raw_mark(self, connection, sender_id: str) -> tuple:
        cursor = connection.cursor()
        try:
            cursor.execute(self._sql["mark"], (sender_id,))
            return tuple(cursor.fetchone())
        finally:
            cursor.close()

    def _raw_insert(self, connection, sender_id: str, events: list) -> None:
        cursor = connection.cursor()
        try:
            for first in range(0, len(events), _ROWS_PER_INSERT):
                rows = [_row(sender_id, event) for event in events[first:first + _ROWS_PER_INSERT]]
                cursor.execute(self._sql["insert"] + ", ".join([self._sql["values"]] * len(rows)),
                               [row[column] for row in rows for column in _COLUMNS])
        finally:
            cursor.close()

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The latest session's tracker: from the cache if still current, else as Rasa loads it."""
        recent = self._recent.pop(sender_id, None)
        self._no_rows.pop(sender_id, None)
        with self._dbapi() as connection:
            mark = self._raw_mark(connection, sender_id)
        if mark == (None, None):
            # A new conversation (Rasa's query would find no rows): its first save
            # need not count rows.
            self._no_rows[sender_id] = None
            while len(self._no_rows) > self.cache_size:
                self._no_rows.popitem(last=False)
            return None
        if recent is not None and mark == recent.mark:
            tracker = recent.tracker
            for _ in range(recent.start):
                tracker.events.popleft()
            setattr(tracker, _STORED, recent.stored)
            return tracker
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            events = [json.loads(row.data) for row in rows]
        if not (self.domain and events):
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        # What Rasa's save would count before appending: these rows.
        setattr(tracker, _STORED, len(rows))
        return tracker

    def forget(self, sender_id: str) -> int:
        """Delete every stored event of a conversation (all its sessions) and what this
        process cached of it; the number of events deleted."""
        self._recent.pop(sender_id, None)
        self._no_rows.pop(sender_id, None)
        with self.session_scope() as session:
            deleted = session.query(self.SQLEvent).filter(
                self.SQLEvent.sender_id == sender_id).delete(synchronize_session=False)
            session.commit()
        return deleted

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's save (the same rows, one INSERT), then remember the tracker if canonical."""
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        self._recent.pop(sender_id, None)
        if not tracker.events:
            # Rasa's save of an empty tracker (a new conversation) writes nothing either.
            return
        stored = getattr(tracker, _STORED, None)
        if stored is None and self._no_rows.pop(sender_id, 0) is None:
            stored = 0
        if stored is None:
            with self.session_scope() as session:
                # Rasa's own count: the rows of the latest session already stored.
                stored = self._event_query(session, sender_id, False).count()
        new_events = list(itertools.islice(tracker.events, stored, len(tracker.events)))
        with self._dbapi() as connection:
            try:
                if new_events:
                    self._raw_insert(connection, sender_id, new_events)
                # Read in the same transaction: the mark is of exactly these rows.
                mark = self._raw_mark(connection, sender_id)
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
        stored += len(new_events)
        # Every event is stored (else a reload would differ; Rasa's count rules then).
        start = reload_start(tracker) if stored == len(tracker.events) else None
        if self.cache_size and start is not None:
            # The tracker stays as it is for the rest of this turn; the next turn
            # gets it trimmed to what a reload holds.
            self._recent[sender_id] = _Recent(tracker, mark, start, stored - start)
            while len(self._recent) > self.cache_size:
                self._recent.popitem(last=False)
        if hasattr(tracker, _STORED):
            # A later save of this same object counts rows, as Rasa does.
            delattr(tracker, _STORED)


_COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")
_ROWS_PER_INSERT = 100
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _driver_sql(engine, table) -> dict[str, str]:
    """The two per-turn statements in the driver's own syntax.

    Every driver of the two databases allowed (tracker_store_settings) uses one
    of these parameter styles: sqlite3 "qmark", psycopg2 "pyformat", pg8000 "format".
    """
    mark = _PLACEHOLDERS.get(engine.dialect.paramstyle)
    if mark is None:
        raise ValueError(f"{TRACKER_STORE_ENV}: the {engine.dialect.driver} driver's parameter "
                         f"style {engine.dialect.paramstyle!r} is not supported")
    name = engine.dialect.identifier_preparer.format_table(table)
    return {
        "mark": f"SELECT max(id), max(timestamp) FROM {name} WHERE sender_id = {mark}",
        "insert": f"INSERT INTO {name} ({', '.join(_COLUMNS)}) VALUES ",
        "values": "(" + ", ".join([mark] * len(_COLUMNS)) + ")",
    }


def owner_only_database(db: str) -> None:
    """The SQLite file, its folder and its -wal/-shm readable by this user only.

    The folder is created 0700 and an existing one tightened; the database is created 0600
    before SQLite opens it (SQLite gives the -wal and -shm files the database's mode), and
    files left 0644 by an older version are tightened. A folder or file this user does not
    own (a mounted volume) is left as it is, with a warning."""
    if not db or db == ":memory:":
        return
    path = os.path.abspath(db)
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
    except OSError as exc:
        logger.warning("tracker store: could not create %s (%s)", path, type(exc).__name__)
    for target, mode in ((folder, 0o700), (path, 0o600), (f"{path}-wal", 0o600),
                         (f"{path}-shm", 0o600)):
        try:
            if os.path.exists(target) and os.stat(target).st_mode & 0o777 != mode:
                os.chmod(target, mode)
        except OSError as exc:
            logger.warning("tracker store: %s stays mode %o (%s)", target,
                           os.stat(target).st_mode & 0o777, type(exc).__name__)


def _sqlite_wal(dbapi_connection, _record) -> None:
    """Write-ahead log, still synced on every commit (synchronous=FULL).

    As durable as SQLite's default rollback journal (a turn is on disk before
    its reply), with one fsync per commit instead of several (figures:
    docs/performance-history.md, item 5). Readers no longer wait for a writer (two
    Sanic workers). Needs a local disk (WAL does not work over NFS); the -wal
    and -shm files next to the database belong to it (backups: docs/operations.md).
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _row(sender_id: str, event) -> dict[str, Any]:
    """One events-table row, with the same columns as Rasa's SQLTrackerStore.save."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


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
