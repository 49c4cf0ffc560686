"""Delete one user's conversation from the tracker store: ``make forget SENDER=<id>``.

Works against whatever TRACKER_STORE_URL points to (the SQLite file by default),
so the same command serves a laptop and a PostgreSQL deployment. Locks live a
few seconds in Redis and hold no conversation data.
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_DB = "var/tracker.db"


def forget(sender_id: str, url: str | None = None, default_db: str = DEFAULT_DB) -> int:
    """Delete every stored event of ``sender_id``; the number of events deleted."""
    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore

    from rasa_server.stores import tracker_store_settings

    settings = tracker_store_settings(default_db, url=url)
    engine_url = SQLTrackerStore.get_db_url(
        settings["dialect"], settings.get("host"), settings.get("port"), settings["db"],
        settings.get("username"), settings.get("password"), query=settings.get("query"),
    )
    engine = sa.create_engine(engine_url)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rasa_server.forget",
        description="Delete one user's conversation (all sessions) from the tracker store.",
    )
    parser.add_argument("sender", help="the conversation id (REST sender, socket.io session, "
                                       "Telegram chat id, Slack user id)")
    args = parser.parse_args(argv)
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
