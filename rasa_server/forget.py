"""Delete conversations from the tracker store: one user's (``make forget SENDER=<id>``),
or every conversation silent for more than N days (``make forget DAYS=<n>``, the
retention policy an operator runs daily).

Works against whatever TRACKER_STORE_URL points to (the SQLite file by default),
so the same command serves a laptop and a PostgreSQL deployment. Locks live a
few seconds in Redis and hold no conversation data.
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_DB = "var/tracker.db"


def _engine(url: str | None, default_db: str):
    """An engine on the tracker store TRACKER_STORE_URL (or ``url``) points to."""
    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore

    from rasa_server.stores import tracker_store_settings

    settings = tracker_store_settings(default_db, url=url)
    return sa.create_engine(SQLTrackerStore.get_db_url(
        settings["dialect"], settings.get("host"), settings.get("port"), settings["db"],
        settings.get("username"), settings.get("password"), query=settings.get("query"),
    ))


def forget(sender_id: str, url: str | None = None, default_db: str = DEFAULT_DB) -> int:
    """Delete every stored event of ``sender_id``; the number of events deleted."""
    import sqlalchemy as sa

    engine = _engine(url, default_db)
    try:
        if not sa.inspect(engine).has_table("events"):
            return 0
        with engine.begin() as connection:
            result = connection.execute(
                sa.text("DELETE FROM events WHERE sender_id = :sender"), {"sender": sender_id}
            )
            return result.rowcount
    finally:
        engine.dispose()


async def forget_live(agent, sender_id: str) -> int:
    """Delete a conversation from the running server: its events in the tracker store
    (SQLite or PostgreSQL), the server's cached copy, and its lock. Taken under the
    conversation's lock, so a turn in progress finishes first and cannot write it back.
    The number of events deleted."""
    store = agent.tracker_store
    store = getattr(store, "_tracker_store", store)  # inside Rasa's FailSafeTrackerStore
    if not hasattr(store, "forget"):
        raise TypeError(f"{type(store).__name__} cannot delete conversations")
    async with agent.lock_store.lock(sender_id):
        deleted = store.forget(sender_id)
    agent.lock_store.delete_lock(sender_id)
    return deleted


def forget_older_than(days: float, url: str | None = None, default_db: str = DEFAULT_DB,
                      now: float | None = None) -> tuple[int, int]:
    """Delete conversations whose latest event is older than ``days``: (conversations, events)."""
    import time

    import sqlalchemy as sa

    cutoff = (time.time() if now is None else now) - days * 86400
    engine = _engine(url, default_db)
    try:
        if not sa.inspect(engine).has_table("events"):
            return 0, 0
        with engine.begin() as connection:
            stale = [row[0] for row in connection.execute(sa.text(
                "SELECT sender_id FROM events GROUP BY sender_id HAVING MAX(timestamp) < :cutoff"
            ), {"cutoff": cutoff})]
            deleted = 0
            for sender in stale:
                deleted += connection.execute(
                    sa.text("DELETE FROM events WHERE sender_id = :sender"), {"sender": sender}
                ).rowcount
            return len(stale), deleted
    finally:
        engine.dispose()


# The retention policy the running server applies by itself (docs/security-and-privacy.md): every
# RETENTION_INTERVAL_S, conversations silent for more than RETENTION_DAYS are deleted.
RETENTION_DAYS_ENV, DEFAULT_RETENTION_DAYS = "RETENTION_DAYS", 30.0
RETENTION_INTERVAL_ENV, DEFAULT_RETENTION_INTERVAL_S = "RETENTION_INTERVAL_S", 6 * 3600.0
_RETENTION: dict[str, object] = {}


def retention_settings(env) -> tuple[float, float] | None:
    """(days, interval in seconds) from the environment; None when RETENTION_DAYS is unset or
    0 (off; the launcher sets the default, so a channel served by a test app does not sweep).
    A value that is not a number stops the start: a privacy promise must not fail silently."""
    def number(name: str, default: float) -> float:
        raw = str(env.get(name, "")).strip()
        try:
            value = float(raw) if raw else default
        except ValueError:
            raise ValueError(f"{name} must be a number of days/seconds, not {raw!r}") from None
        if value < 0:
            raise ValueError(f"{name} must not be negative")
        return value

    if not str(env.get(RETENTION_DAYS_ENV, "")).strip():
        return None
    days = number(RETENTION_DAYS_ENV, DEFAULT_RETENTION_DAYS)
    interval = number(RETENTION_INTERVAL_ENV, DEFAULT_RETENTION_INTERVAL_S)
    if days == 0:
        return None
    return days, max(interval, 1.0)


async def retention_loop(days: float, interval: float) -> None:
    """Apply the retention policy now and every ``interval`` seconds, in a worker thread."""
    import asyncio
    import logging

    logger = logging.getLogger(__name__)
    while True:
        try:
            conversations, events = await asyncio.to_thread(forget_older_than, days)
            if conversations:
                logger.info("retention: deleted %d conversations (%d events) silent for more "
                            "than %g days", conversations, events, days)
        except Exception as exc:  # the database down: try again at the next round
            logger.error("retention: the sweep failed (%s)", type(exc).__name__)
        await asyncio.sleep(interval)


async def start_retention(_app, _loop=None) -> None:
    """A Sanic ``after_server_start`` listener: one retention loop per server process."""
    import asyncio
    import os

    settings = retention_settings(os.environ)
    if settings is None or _RETENTION.get("task") is not None:
        return
    # Kept referenced, so the loop is not garbage-collected while it sleeps.
    _RETENTION["task"] = asyncio.get_running_loop().create_task(retention_loop(*settings))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rasa_server.forget",
        description="Delete conversations (all their sessions) from the tracker store.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("sender", nargs="?", help="one conversation id (REST sender, socket.io "
                                                 "session, Telegram chat id, Slack user id)")
    which.add_argument("--older-than-days", type=float, metavar="DAYS",
                       help="every conversation whose latest message is older than DAYS")
    args = parser.parse_args(argv)
    if args.older_than_days is not None:
        if args.older_than_days <= 0:
            parser.error("--older-than-days must be more than 0")
        conversations, events = forget_older_than(args.older_than_days)
        print(f"deleted {conversations} conversations ({events} events) silent for more "
              f"than {args.older_than_days:g} days")
        return 0
    if not args.sender.strip():
        parser.error("SENDER is empty")
    deleted = forget(args.sender)
    if deleted:
        print(f"deleted {deleted} events of conversation {args.sender!r}")
    else:
        print(f"no stored conversation {args.sender!r} (nothing deleted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
