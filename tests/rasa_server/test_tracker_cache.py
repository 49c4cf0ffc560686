"""The tracker store's cache gives back exactly what Rasa would load, or loads it.

Each test plays turns the way Rasa's processor does (retrieve, append events,
save) against a SQLite file, and compares with what a plain Rasa
SQLTrackerStore writes and reads.
"""

from __future__ import annotations

import itertools
import json
import sqlite3

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import EventVerbosity

from rasa_server.stores import EnvTrackerStore, cache_size_from_env, reload_start
from tests.e2e.stack import PROJECT_ROOT


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(PROJECT_ROOT / "domain.yml")


def store_at(path, domain, cls=EnvTrackerStore, monkeypatch=None):
    if cls is EnvTrackerStore:
        monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{path}")
        return EnvTrackerStore(domain=domain)
    return SQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))


def user(text: str, intent: str) -> UserUttered:
    return UserUttered(text, {"name": intent, "confidence": 1.0},
                       parse_data={"intent": {"name": intent, "confidence": 1.0},
                                   "entities": [], "text": text})


# Turns as the processor appends them (the first one starts the session).
TURNS = [
    [ActionExecuted("action_session_start"), SessionStarted(),
     BotUttered("disclaimer"), ActionExecuted("action_listen"),
     user("hi", "greet"), ActionExecuted("utter_greet"), BotUttered("Hi!"),
     ActionExecuted("action_listen")],
    [user("my b12 is 300", "inform_lab_values"), SlotSet("b12", "300"),
     ActionExecuted("lab_form"), ActiveLoop("lab_form"), SlotSet("requested_slot", "b12"),
     ActionExecuted("action_ask_b12"), BotUttered("Which unit?"),
     ActionExecuted("action_listen")],
    [user("pg/mL", "inform_unit"), SlotSet("b12", "300 pg/mL"), ActionExecuted("lab_form"),
     SlotSet("requested_slot", "homocysteine"), ActionExecuted("action_listen")],
    # the action server failed: apology, turn reverted
    [user("skip", "deny"), BotUttered("sorry, send it again"), UserUtteranceReverted(),
     ActionExecuted("action_listen")],
    [user("skip the rest", "stop_lab_check"), ActionExecuted("action_stop_lab_check"),
     ActiveLoop(None), SlotSet("requested_slot", None), BotUttered("stopped"),
     ActionExecuted("action_listen")],
    # a new session (expired): the tracker is no longer what a reload holds
    [ActionExecuted("action_session_start"), SessionStarted(), SlotSet("b12", "300 pg/mL"),
     BotUttered("disclaimer"), ActionExecuted("action_listen"), user("hello again", "greet"),
     ActionExecuted("utter_greet"), ActionExecuted("action_listen")],
    [user("thanks", "thank"), ActionExecuted("utter_welcome"), ActionExecuted("action_listen")],
]


async def play(store, sender: str, turns) -> list:
    """Each turn: get or create, append, save. Returns the tracker objects handed out."""
    handed_out = []
    for events in turns:
        tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
        handed_out.append(tracker)
        for event in events:
            tracker.update(event)
        await store.save(tracker)
    return handed_out


def state(tracker) -> dict:
    return tracker.current_state(EventVerbosity.ALL)


def rows(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        found = db.execute(
            "SELECT sender_id, type_name, timestamp, intent_name, action_name, data "
            "FROM events ORDER BY id").fetchall()
    return [(*row[:5], json.loads(row[5])) for row in found]


async def test_every_turn_sees_what_rasa_would_load(tmp_path, domain, monkeypatch):
    path = tmp_path / "t.db"
    cached = store_at(path, domain, monkeypatch=monkeypatch)
    assert cached._sql is not None  # SQLite: the per-turn statements skip the ORM
    for index, events in enumerate(TURNS):
        tracker = await cached.get_or_create_tracker("p1", append_action_listen=False)
        reference = await store_at(path, domain, SQLTrackerStore).retrieve("p1")
        if index == 0:
            assert reference is None and not tracker.events
        else:
            assert state(tracker) == state(reference), f"turn {index}"
            assert tracker.active_loop == reference.active_loop
            assert tracker.current_slot_values() == reference.current_slot_values()
            assert list(tracker.applied_events()) == list(reference.applied_events())
        for event in events:
            tracker.update(event)
        await cached.save(tracker)


async def test_rows_are_the_ones_rasa_writes(tmp_path, domain, monkeypatch):
    ours_db, rasa_db = tmp_path / "ours.db", tmp_path / "rasa.db"
    ours = store_at(ours_db, domain, monkeypatch=monkeypatch)
    await play(ours, "p1", TURNS)
    await play(store_at(rasa_db, domain, SQLTrackerStore), "p1", TURNS)
    ours, theirs = rows(ours_db), rows(rasa_db)
    assert len(ours) == sum(len(turn) for turn in TURNS)
    assert ours == theirs


async def test_the_cache_is_used_between_turns_of_one_session(tmp_path, domain, monkeypatch):
    store = store_at(tmp_path / "t.db", domain, monkeypatch=monkeypatch)
    handed_out = await play(store, "p1", TURNS)
    # Every turn after the first gets the tracker the previous one saved, trimmed
    # to the latest session where it held more (turn 1, turn 6's new session).
    assert all(handed_out[i] is handed_out[0] for i in range(1, len(TURNS)))
    assert reload_start(handed_out[-1]) == 0


async def test_a_tracker_a_reload_would_not_match_is_not_kept(tmp_path, domain, monkeypatch):
    store = store_at(tmp_path / "t.db", domain, monkeypatch=monkeypatch)
    tracker = await store.get_or_create_tracker("p1", append_action_listen=False)
    start = SessionStarted()
    # stamped like the session start: a reload would include it, the tracker puts it before
    tracker.update(ActionExecuted("action_session_start", timestamp=start.timestamp))
    tracker.update(start)
    tracker.update(user("hi", "greet"))
    assert reload_start(tracker) is None
    await store.save(tracker)
    assert "p1" not in store._recent
    again = await store.retrieve("p1")
    reference = await store_at(tmp_path / "t.db", domain, SQLTrackerStore).retrieve("p1")
    assert again is not tracker and state(again) == state(reference)
    assert len(again.events) == 3


async def test_a_turn_written_by_another_server_is_loaded(tmp_path, domain, monkeypatch):
    path = tmp_path / "t.db"
    first, second = (store_at(path, domain, monkeypatch=monkeypatch) for _ in range(2))
    await play(first, "p1", TURNS[:3])
    await play(second, "p1", TURNS[3:4])  # this turn goes to the other Rasa process
    tracker = await first.retrieve("p1")
    reference = await store_at(path, domain, SQLTrackerStore).retrieve("p1")
    assert state(tracker) == state(reference)
    assert isinstance(tracker.events[-2], UserUtteranceReverted)


async def test_forgotten_conversations_are_not_served_from_memory(tmp_path, domain, monkeypatch):
    path = tmp_path / "t.db"
    store = store_at(path, domain, monkeypatch=monkeypatch)
    await play(store, "p1", TURNS[:3])
    with sqlite3.connect(path) as db:  # what `make forget SENDER=p1` does
        db.execute("DELETE FROM events WHERE sender_id = 'p1'")
    assert await store.retrieve("p1") is None


async def test_a_failed_turn_leaves_nothing_unsaved_behind(tmp_path, domain, monkeypatch):
    path = tmp_path / "t.db"
    store = store_at(path, domain, monkeypatch=monkeypatch)
    await play(store, "p1", TURNS[:3])
    tracker = await store.retrieve("p1")
    tracker.update(user("never saved", "greet"))  # the turn fails before its save
    again = await store.retrieve("p1")
    assert again is not tracker
    assert "never saved" not in json.dumps(state(again))
    reference = await store_at(path, domain, SQLTrackerStore).retrieve("p1")
    assert state(again) == state(reference)


async def test_the_cache_is_bounded(tmp_path, domain, monkeypatch):
    monkeypatch.setenv("TRACKER_CACHE_SIZE", "3")
    store = store_at(tmp_path / "t.db", domain, monkeypatch=monkeypatch)
    for n in range(6):
        await play(store, f"p{n}", TURNS[:3])
    assert list(store._recent) == ["p3", "p4", "p5"]


async def test_the_cache_can_be_turned_off(tmp_path, domain, monkeypatch):
    monkeypatch.setenv("TRACKER_CACHE_SIZE", "0")
    store = store_at(tmp_path / "t.db", domain, monkeypatch=monkeypatch)
    handed_out = await play(store, "p1", TURNS)
    assert not store._recent
    assert all(a is not b for a, b in itertools.pairwise(handed_out))
    assert len(rows(tmp_path / "t.db")) == sum(len(turn) for turn in TURNS)
    reference = await store_at(tmp_path / "t.db", domain, SQLTrackerStore).retrieve("p1")
    assert state(await store.retrieve("p1")) == state(reference)


def test_a_bad_cache_size_stops_the_server(monkeypatch):
    monkeypatch.setenv("TRACKER_CACHE_SIZE", "lots")
    with pytest.raises(ValueError, match="TRACKER_CACHE_SIZE"):
        cache_size_from_env()


def test_sqlite_store_uses_a_write_ahead_log_synced_on_every_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{tmp_path / 't.db'}")
    store = EnvTrackerStore(domain=None)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    with sqlite3.connect(tmp_path / "t.db") as other:  # the mode is kept in the file
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
