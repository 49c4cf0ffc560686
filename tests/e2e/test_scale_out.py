"""Scale-out on real engines: two Rasa servers (one with two Sanic workers) and two
action servers sharing a PostgreSQL tracker store and a Redis lock store, all on
loopback; then each engine briefly down."""

from __future__ import annotations

import json
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor

import pytest

from b12core.disclaimer import full_disclaimer, short_disclaimer
from b12core.texts import say as bot_says
from rasa_server.forget import forget
from tests.e2e.services import Postgres, Redis
from tests.e2e.stack import RasaStack, joined

pytestmark = pytest.mark.e2e
OUTAGE_REPLY_BOUND_S = 10.0


@pytest.fixture(scope="module")
def engines():
    postgres, redis = Postgres(), Redis()
    try:
        postgres.init()
        postgres.start()
        postgres.create_database()
        redis.start()
        yield postgres, redis
    finally:
        postgres.destroy()
        redis.destroy()


@pytest.fixture(scope="module")
def servers(engines, tmp_path_factory):
    """Rasa server A (one worker) and B (SANIC_WORKERS=2), each with its own action server."""
    postgres, redis = engines
    shared = {"TRACKER_STORE_URL": postgres.url, "LOCK_STORE_URL": redis.url}
    a = RasaStack(tmp_path_factory.mktemp("rasa-a"), env=shared)
    b = RasaStack(tmp_path_factory.mktemp("rasa-b"), env={**shared, "SANIC_WORKERS": "2"})
    with a.running(), b.running():
        yield a, b


def try_send(stack: RasaStack, sender: str, text: str) -> tuple[int, list[dict], float]:
    """Status, bot messages and seconds for one turn, HTTP errors included."""
    start = time.monotonic()
    try:
        messages, status = stack.send(sender, text), 200
    except urllib.error.HTTPError as error:
        status = error.code
        body = error.read()
        messages = json.loads(body) if body.strip().startswith(b"[") else []
    return status, messages, time.monotonic() - start


def stored_events(postgres: Postgres, sender: str) -> list[dict]:
    rows = postgres.query("SELECT data FROM events WHERE sender_id = %s ORDER BY id", (sender,))
    return [json.loads(data) for (data,) in rows]


def test_a_conversation_alternating_between_two_servers_keeps_slots_and_order(
    servers, engines
):
    a, b = servers
    postgres, _ = engines
    sender = "scale-alternating"
    turns = [(a, "can you check my results"), (b, "b12 480 pmol/L"),
             (a, "homocysteine 18 umol/L"), (b, "i don't have the others"), (a, "cirrhosis")]
    replies = [joined(server.send(sender, text)) for server, text in turns]
    assert replies[0].startswith(full_disclaimer())
    assert "homocysteine result" in replies[1]        # B knows the form A started
    assert "Which liver condition" in replies[3]      # B has A's homocysteine value
    final = replies[4]
    assert "Vitamin B12: 480 pmol/L" in final         # A has B's B12 value
    assert "Homocysteine: 18 " in final
    assert final.rstrip().endswith(short_disclaimer())
    events = stored_events(postgres, sender)
    assert [e["text"] for e in events if e["event"] == "user"] == [t for _, t in turns]
    disclaimers = [e for e in events if e["event"] == "bot" and e["text"] == full_disclaimer()]
    assert len(disclaimers) == 1
    # B really runs two Sanic workers (each opens the stores once).
    assert (b.workdir / "rasa.log").read_text().count("tracker store: postgresql") == 2


def test_forget_deletes_a_conversation_from_postgresql(servers, engines):
    a, b = servers
    postgres, _ = engines
    sender = "scale-forget"
    a.send(sender, "b12 is 187 pmol/L")
    assert stored_events(postgres, sender)
    assert forget(sender, url=postgres.url) > 0
    assert stored_events(postgres, sender) == []
    # The next message starts a new conversation: nothing of the old one is left.
    assert joined(b.send(sender, "hi")).startswith(full_disclaimer())


def test_delete_my_data_in_the_chat_deletes_it_from_postgresql(servers, engines):

    a, b = servers
    postgres, _ = engines
    sender = "scale-delete-me"
    a.send(sender, "b12 is 187 pmol/L")
    assert stored_events(postgres, sender)
    asked = a.send(sender, "delete my data")
    assert [m.get("text") for m in asked] == [bot_says("deletion.ask")]
    yes = {x["title"]: x["payload"] for x in asked[0]["buttons"]}[bot_says("buttons.delete_yes")]
    # Pressed on the other server (two more worker processes): the signed button works there.
    assert [m.get("text") for m in b.send(sender, yes)] == [bot_says("deletion.done")]
    assert stored_events(postgres, sender) == []
    assert joined(a.send(sender, "hi")).startswith(full_disclaimer())


def test_simultaneous_turns_of_one_sender_on_two_servers_are_serialised(servers, engines):
    a, b = servers
    postgres, _ = engines
    sender = "scale-simultaneous"
    a.send(sender, "hi")
    questions = ["what is homocysteine", "what is methylmalonic acid"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        replies = list(pool.map(lambda pair: pair[0].send(sender, pair[1]),
                                [(a, questions[0]), (b, questions[1])]))
    for reply in replies:
        assert "Here is what the article says:" in joined(reply)
    # The Redis lock makes the turns one after the other: each user message is
    # followed by its own answer and a listen before the next one starts.
    events = stored_events(postgres, sender)
    users = [i for i, e in enumerate(events) if e["event"] == "user"]
    assert sorted(events[i]["text"] for i in users[1:]) == sorted(questions)
    second_turn = events[users[1]:users[2]]
    assert any(e["event"] == "bot" for e in second_turn)
    assert second_turn[-1] == {**second_turn[-1], "event": "action", "name": "action_listen"}


@pytest.mark.parametrize("engine", ["PostgreSQL", "Redis"])
def test_an_engine_briefly_down_reports_an_error_without_hanging_then_recovers(
    servers, engines, report_figure, engine
):
    a, b = servers
    postgres, redis = engines
    down = postgres if engine == "PostgreSQL" else redis
    sender = f"scale-{engine.lower()}-outage"
    a.send(sender, "can you check my results")
    a.send(sender, "b12 480 pmol/L")
    assert b.ready() == (200, {"model": "ok", "tracker_store": "ok", "lock_store": "ok",
                                  "action_server": "ok"})
    down.stop()
    try:
        status, checks = b.ready()
        failing = "tracker_store" if engine == "PostgreSQL" else "lock_store"
        assert status == 503 and checks[failing].startswith("error")
        assert [k for k, v in checks.items() if v != "ok"] == [failing]
        # The turn lands on the other server than the one that started the form.
        status, messages, elapsed = try_send(b, sender, "i don't have the others")
        assert elapsed < OUTAGE_REPLY_BOUND_S
        assert [m.get("text") for m in messages] == [bot_says("service.error")]
        assert status == 503
        report_figure(f"reply with {engine} down: HTTP {status} in {elapsed * 1000:.0f} ms")
    finally:
        down.start()
    assert a.rasa.poll() is None and b.rasa.poll() is None  # both servers stayed up
    assert b.ready()[0] == 200
    assert "Which liver condition" in joined(b.send(sender, "i don't have the others"))
    assert "Vitamin B12: 480 pmol/L" in joined(a.send(sender, "cirrhosis"))
