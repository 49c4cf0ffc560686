"""Forgetting one user deletes that conversation and nothing else."""

from __future__ import annotations

import subprocess

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_server.forget import forget, forget_older_than
from tests.e2e.stack import PROJECT_ROOT

DOMAIN = Domain.from_yaml("version: '3.1'\nslots:\n  b12:\n    type: any\n    mappings: []\n")


async def _store(db, sender: str, text: str, at: float | None = None) -> None:
    store = SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(db))
    events = [UserUttered(text, timestamp=at),
              SlotSet("b12", {"value": "187", "unit": "pmol/L"}, timestamp=at)]
    tracker = DialogueStateTracker.from_events(sender, events, slots=DOMAIN.slots)
    await store.save(tracker)
    store.engine.dispose()


async def _count(db, sender: str) -> int:
    store = SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(db))
    tracker = await store.retrieve_full_tracker(sender)
    store.engine.dispose()
    return len(tracker.events) if tracker else 0


async def test_forget_deletes_one_conversation_only(tmp_path):
    db = tmp_path / "tracker.db"
    await _store(db, "patient-a", "my b12 is 187")
    await _store(db, "patient-b", "my b12 is 250")
    assert forget("patient-a", url=f"sqlite:///{db}") == 2
    assert await _count(db, "patient-a") == 0
    assert await _count(db, "patient-b") == 2
    assert forget("patient-a", url=f"sqlite:///{db}") == 0


async def test_retention_deletes_only_conversations_silent_for_longer(tmp_path):
    db, now = tmp_path / "tracker.db", 1_800_000_000.0
    await _store(db, "old", "my b12 is 187", at=now - 40 * 86400)
    await _store(db, "recent", "my b12 is 250", at=now - 5 * 86400)
    assert forget_older_than(30, url=f"sqlite:///{db}", now=now) == (1, 2)
    assert await _count(db, "old") == 0
    assert await _count(db, "recent") == 2
    assert forget_older_than(30, url=f"sqlite:///{db}", now=now) == (0, 0)


def test_make_forget_uses_tracker_store_url(tmp_path):
    db = tmp_path / "tracker.db"
    result = subprocess.run(
        ["make", "-s", "forget", "SENDER=nobody"], cwd=PROJECT_ROOT, capture_output=True,
        text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "TRACKER_STORE_URL":
                                     f"sqlite:///{db}", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "nothing deleted" in result.stdout
    retention = subprocess.run(
        ["make", "-s", "forget", "DAYS=30"], cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=120, env={"PATH": "/usr/bin:/bin", "TRACKER_STORE_URL": f"sqlite:///{db}",
                          "HOME": str(tmp_path)},
    )
    assert retention.returncode == 0, retention.stderr
    assert "deleted 0 conversations" in retention.stdout
    missing = subprocess.run(["make", "-s", "forget"], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode != 0 and "usage" in missing.stdout


def test_retention_settings_from_the_environment():
    from rasa_server.forget import retention_settings

    assert retention_settings({}) is None  # not set: off (the launcher sets 30, below)
    assert retention_settings({"RETENTION_DAYS": "30"}) == (30.0, 6 * 3600.0)
    assert retention_settings({"RETENTION_DAYS": "7", "RETENTION_INTERVAL_S": "60"}) == (7.0, 60.0)
    assert retention_settings({"RETENTION_DAYS": "0"}) is None  # off
    for bad in ({"RETENTION_DAYS": "thirty"}, {"RETENTION_DAYS": "-1"},
                {"RETENTION_DAYS": "30", "RETENTION_INTERVAL_S": "soon"}):
        with pytest.raises(ValueError):
            retention_settings(bad)


def test_the_launcher_refuses_a_retention_setting_it_cannot_read():
    from rasa_server.__main__ import problems

    found = problems(["run"], {"ACTION_SERVER_TOKEN": "t", "RETENTION_DAYS": "a month"})
    assert any("RETENTION_DAYS" in problem for problem in found)
    assert not problems(["run"], {"ACTION_SERVER_TOKEN": "t", "RETENTION_DAYS": "14"})
    from rasa_server.__main__ import apply_defaults

    env = {"ACTION_SERVER_TOKEN": "t"}
    apply_defaults(["run"], env)
    assert env["RETENTION_DAYS"] == "30"
    mine = {"ACTION_SERVER_TOKEN": "t", "RETENTION_DAYS": "0"}
    apply_defaults(["run"], mine)
    assert mine["RETENTION_DAYS"] == "0"
