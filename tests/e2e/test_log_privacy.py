"""What people write stays out of the logs: the Rasa server's and the action server's.

One stack at Rasa's default log level (INFO) holds a lab check with distinctive values, a
distinctive question and three failing turns (an over-long message, the tracker database
locked, the action server stopped) plus a "/..." line Rasa cannot parse; then neither log may
contain any of the texts or values. Each needle is a word no log line would contain by chance,
or a value in a form a timestamp cannot take (quoted, or next to its unit).
"""

from __future__ import annotations

import http.client
import json
import sqlite3
from dataclasses import dataclass, field

import pytest

from b12core.texts import say as bot_says
from rasa_server.channels.limits import MAX_MESSAGE_CHARS, RETRY_AFTER_S, too_long_reply
from tests.e2e.stack import RasaStack, stop_process

pytestmark = pytest.mark.e2e

PATIENT, ASKER, FAILING = "privacy-patient", "privacy-asker", "privacy-failing"
LAB_VALUES = "my b12 is 187 pmol/L and homocysteine 23.7"
QUESTION = "does quokkazebra tea change how my liver stores vitamin b12"
OVER_LONG = ("zanzibarquill b12 " * MAX_MESSAGE_CHARS)[: MAX_MESSAGE_CHARS + 500]
WHILE_LOCKED = "my folate is 4.93 ng/mL marmalizard"
WHILE_ACTIONS_DOWN = "what does palimpsestrum mean for my b12"
UNPARSABLE_COMMAND = '/palindromequest{"b12": 300'
NEEDLES = (
    LAB_VALUES, "187 pmol", "homocysteine 23.7", '"187"', "'187'", '"23.7"', "'23.7'",
    "quokkazebra", "zanzibarquill", "marmalizard", "4.93 ng", '"4.93"', "'4.93'",
    "palimpsestrum", "palindromequest",
    PATIENT, ASKER, FAILING,  # conversation ids too: a log names them by a keyed hash only
)


@dataclass(frozen=True)
class Reply:
    status: int
    messages: list[dict]
    retry_after: str | None = None


@dataclass
class Run:
    stack: RasaStack
    replies: dict[str, Reply] = field(default_factory=dict)

    def log(self, name: str) -> str:
        return (self.stack.workdir / name).read_text(encoding="utf-8", errors="replace")


def post(stack: RasaStack, sender: str, text: str) -> Reply:
    """One REST turn, 5xx included."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.rasa_port, timeout=60)
    try:
        connection.request("POST", "/webhooks/rest/webhook",
                           body=json.dumps({"sender": sender, "message": text}),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return Reply(response.status, json.loads(response.read()),
                     response.getheader("Retry-After"))
    finally:
        connection.close()


def joined(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    stack = RasaStack(tmp_path_factory.mktemp("log-privacy"))
    for name in ("LOG_LEVEL", "LOG_LEVEL_LIBRARIES"):
        stack.env.pop(name, None)  # Rasa's defaults: INFO, libraries at ERROR
    with stack.running():
        run = Run(stack)
        turns = [(PATIENT, "can you check my results"), (PATIENT, LAB_VALUES),
                 (PATIENT, "i don't have the others"), (PATIENT, "cirrhosis"),
                 (ASKER, QUESTION), (FAILING, OVER_LONG), (FAILING, UNPARSABLE_COMMAND)]
        for sender, text in turns:
            run.replies[text] = post(stack, sender, text)

        # The tracker database locked by another writer: saving the turn fails (after
        # SQLite's 5 s busy timeout) with an error whose text holds the SQL parameters
        # (the message itself).
        with sqlite3.connect(stack.db, isolation_level=None) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                run.replies[WHILE_LOCKED] = post(stack, PATIENT, WHILE_LOCKED)
            finally:
                db.execute("ROLLBACK")

        stop_process(stack.actions)
        try:
            run.replies[WHILE_ACTIONS_DOWN] = post(stack, ASKER, WHILE_ACTIONS_DOWN)
        finally:
            stack.start_actions()
        yield run


def test_the_turns_were_really_processed(run):
    interpretation = run.replies["cirrhosis"]
    assert interpretation.status == 200
    assert "Vitamin B12: 187 pmol/L" in joined(interpretation.messages)
    assert "Homocysteine: 23.7 µmol/L" in joined(interpretation.messages)
    assert run.replies[QUESTION].status == 200
    assert run.replies[OVER_LONG] == Reply(
        200, [{"recipient_id": FAILING, "text": too_long_reply()}])
    assert run.replies[UNPARSABLE_COMMAND].status == 200
    assert run.replies[WHILE_ACTIONS_DOWN] == Reply(
        200, [{"recipient_id": ASKER, "text": bot_says("service.actions_unavailable")}])


def test_a_turn_with_the_database_locked_is_answered_503_and_logged_by_type(run):
    # rasa_server.resilience makes the tracker store's failure fail the turn; the REST
    # channel answers it (rasa_server/channels/rest.py).
    assert run.replies[WHILE_LOCKED] == Reply(
        503, [{"recipient_id": PATIENT, "text": bot_says("service.error")}], str(RETRY_AFTER_S))
    assert "rest: the turn failed with rasa_server.resilience.TrackerStoreUnavailable " \
           "(cause: sqlalchemy.exc.OperationalError)" in run.log("rasa.log")


@pytest.mark.parametrize("log_name", ["rasa.log", "actions.log"])
def test_no_text_or_value_reaches_the_log(run, log_name):
    log = run.log(log_name)
    assert "Rasa server is up" in log or "Starting worker" in log  # the right file
    leaked = [needle for needle in NEEDLES if needle.lower() in log.lower()]
    assert leaked == [], f"{log_name} contains {leaked}"


def test_database_errors_are_logged_without_their_sql_parameters(run):
    log = run.log("rasa.log")
    assert "[parameters:" not in log and "[SQL:" not in log
    assert "INSERT INTO events" not in log
