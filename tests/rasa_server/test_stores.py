"""Stores chosen by environment variables, with the embedded defaults when unset."""

from __future__ import annotations

import pytest
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore

from rasa_server import resilience
from rasa_server.stores import EnvLockStore, describe, tracker_store_settings


def test_unset_tracker_store_url_means_the_sqlite_file():
    assert tracker_store_settings("var/tracker.db", url="") == {
        "dialect": "sqlite", "db": "var/tracker.db"}


def test_postgresql_url_gets_bounded_connect_and_statement_timeouts():
    settings = tracker_store_settings(
        "x", url="postgresql://rasa:s3cret@db.internal:5433/conversations")
    assert settings["dialect"] == "postgresql"
    assert (settings["host"], settings["port"], settings["db"]) == ("db.internal", 5433,
                                                                     "conversations")
    assert (settings["username"], settings["password"]) == ("rasa", "s3cret")
    assert settings["query"]["connect_timeout"] == "3"
    assert "statement_timeout" in settings["query"]["options"]


def test_other_databases_are_refused():
    with pytest.raises(ValueError, match="postgresql"):
        tracker_store_settings("x", url="mysql://u:p@h/db")


def test_passwords_stay_out_of_logs():
    assert "s3cret" not in describe("postgresql://rasa:s3cret@h/db")


def test_lock_store_follows_lock_store_url(monkeypatch):
    monkeypatch.delenv("LOCK_STORE_URL", raising=False)
    assert isinstance(EnvLockStore(endpoint_config=None), InMemoryLockStore)
    monkeypatch.setenv("LOCK_STORE_URL", "redis://:pw@127.0.0.1:6390/2?key_prefix=b12")
    store = EnvLockStore(endpoint_config=None)
    assert isinstance(store, RedisLockStore)
    assert store.key_prefix.startswith("b12")
    monkeypatch.setenv("LOCK_STORE_URL", "memcached://x")
    with pytest.raises(ValueError, match="redis"):
        EnvLockStore(endpoint_config=None)


async def test_tracker_store_errors_fail_the_turn_instead_of_a_fresh_conversation():
    from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore

    class Broken(InMemoryTrackerStore):
        async def retrieve(self, sender_id):
            raise OSError("connection refused; parameters: ('my b12 is 187',)")

        async def save(self, tracker):
            raise OSError("down")

    resilience.install()
    store = FailSafeTrackerStore(Broken(None))
    with pytest.raises(resilience.TrackerStoreUnavailable) as caught:
        await store.retrieve("someone")
    assert "187" not in str(caught.value)
    with pytest.raises(resilience.TrackerStoreUnavailable):
        await store.save(None)


def test_an_sqlite_tracker_is_made_owner_only(tmp_path):
    import os
    import stat

    from rasa_server.stores import owner_only_database

    def mode(path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    previous = os.umask(0o022)
    try:
        # New: the folder and the database are created owner-only.
        fresh = tmp_path / "new" / "var" / "tracker.db"
        owner_only_database(str(fresh))
        assert (mode(fresh.parent), mode(fresh)) == (0o700, 0o600)
        # Left world-readable by an older version: tightened, -wal and -shm included.
        old = tmp_path / "old"
        old.mkdir(mode=0o755)
        files = [old / "tracker.db", old / "tracker.db-wal", old / "tracker.db-shm"]
        for f in files:
            f.write_bytes(b"")
            f.chmod(0o644)
        owner_only_database(str(files[0]))
        assert mode(old) == 0o700 and {mode(f) for f in files} == {0o600}
    finally:
        os.umask(previous)
