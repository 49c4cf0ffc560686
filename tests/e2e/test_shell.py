"""`rasa shell` driven like a person would: a real terminal (pexpect), real servers."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pexpect
import pytest

from tests.e2e.stack import PROJECT_ROOT, RASA_COMMAND, RasaStack, free_port, model_path

pytestmark = pytest.mark.e2e
DOWN, ENTER = "\x1b[B", "\r"
SERVE = PROJECT_ROOT / "scripts" / "serve.sh"
# Settings of the caller's environment that would change what serve.sh does.
SERVE_SETTINGS = ("ACTION_SERVER_URL", "ACTION_SERVER_TOKEN", "ACTION_PORT", "RASA_PORT",
                  "WEB_PORT", "RASA_INTERFACE", "SANIC_HOST", "LOG_DIR", "TF_CPP_MIN_LOG_LEVEL")
OTHER_LOG = "the running server's log: must stay as it is\n"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
WARNING_LINE = re.compile(r"^.*Warning\b.*$", re.MULTILINE)  # not Rasa's "WARNING" log level


def choose(child, option_index: int) -> None:
    """Pick a choice in rasa shell's button menu (0 = first)."""
    child.send(DOWN * option_index + ENTER)


def test_rasa_shell_greeting_lab_check_and_question(tmp_path):
    # A deployment's own emergency number (README, "Safety rules") reaches the shell too.
    stack = RasaStack(tmp_path, env={"B12_EMERGENCY_NUMBER": "112"})
    stack.start_actions()
    child = pexpect.spawn(
        RASA_COMMAND[0],
        [*RASA_COMMAND[1:], "shell", "--model", str(model_path()),
         "--endpoints", str(stack.endpoints), "--port", str(free_port())],
        cwd=str(PROJECT_ROOT), env=stack.env, encoding="utf-8", timeout=60,
        dimensions=(200, 1000),
    )
    child.logfile_read = (tmp_path / "shell.log").open("w", encoding="utf-8")
    try:
        child.expect("Bot loaded", timeout=300)
        child.expect("Your input ->")
        child.sendline("hi")
        child.expect("this is not medical advice")  # the full disclaimer opens the session
        child.expect("What would you like to do")
        choose(child, 2)  # the greeting's two buttons, then "Type out your own message..."
        child.expect("Your input ->")
        child.sendline("b12 was 1100 pg/mL, I have cirrhosis")
        child.expect(r"1100 pg/mL \(= 811\.8 pmol/L\)\. Reference table: in the band it "
                     r"calls \"high\"")
        child.expect("stored B12 can be released into the bloodstream")
        child.expect("Would you like to add your other results")
        choose(child, 1)  # "No, thanks"
        child.expect("anything else")
        child.expect("Your input ->")
        child.sendline("what is homocysteine")
        child.expect("B12 is essential for converting homocysteine into methionine.")
        child.expect("not medical advice")
        child.expect("Your input ->")
        child.sendline("my husbands face has dropped on one side and he cant lift his arm")
        child.expect("Please call 112 or go to the nearest emergency department")
        child.expect("General information only, not medical advice.")
        child.expect("Your input ->")
        child.sendline("/stop")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
        stack.stop()


# --- scripts/serve.sh (make shell / make run) ---------------------------------------


def serve_env(tmp: Path, **settings: str) -> dict[str, str]:
    """serve.sh's environment: logs and conversations under tmp, nothing else preset."""
    env = {name: value for name, value in os.environ.items() if name not in SERVE_SETTINGS}
    return {
        **env,
        "PYTHONPATH": str(PROJECT_ROOT),
        "LOG_DIR": str(tmp / "log"),
        "TRACKER_STORE_URL": f"sqlite:///{tmp / 'tracker.db'}",
        **settings,
    }


def others_log(tmp: Path) -> Path:
    """LOG_DIR/actions.log, as a running `make run`'s action server left it."""
    log = tmp / "log" / "actions.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(OTHER_LOG, encoding="utf-8")
    return log


@contextmanager
def other_action_server() -> Iterator[SimpleNamespace]:
    """Another server on a loopback port answering 200 on /health (and 404 otherwise),
    as `make run`'s action server would; every request it gets is recorded."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            hits.append(f"{self.command} {self.path}")
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(port=server.server_address[1], hits=hits)
    finally:
        server.shutdown()
        server.server_close()


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def shell_next_to_run(tmp_path_factory):
    """`scripts/serve.sh shell` in a terminal while another server holds ACTION_PORT
    and its log is LOG_DIR/actions.log: a greeting, then /stop."""
    tmp = tmp_path_factory.mktemp("serve-shell")
    log = others_log(tmp)
    screen = io.StringIO()
    with other_action_server() as other:
        child = pexpect.spawn(
            "bash", [str(SERVE), "shell", str(model_path())], cwd=str(PROJECT_ROOT),
            env=serve_env(tmp, ACTION_PORT=str(other.port)), encoding="utf-8", timeout=60,
            dimensions=(200, 1000),
        )
        child.logfile_read = screen
        started = time.monotonic()
        try:
            child.expect(r"action server on 127\.0\.0\.1:(\d+) ", timeout=120)
            action_port = int(child.match.group(1))
            child.expect("Your input ->", timeout=300)
            startup = ANSI.sub("", screen.getvalue())
            startup_s = time.monotonic() - started
            child.sendline("hi")
            child.expect("not medical advice")
            child.expect("What would you like to do")
            choose(child, 2)  # "Type out your own message..."
            child.expect("Your input ->")
            action_server_up = listening(action_port)
            child.sendline("/stop")
            child.expect(pexpect.EOF, timeout=60)
        finally:
            child.close(force=True)
            (tmp / "screen.log").write_text(screen.getvalue(), encoding="utf-8")
        hits = list(other.hits)
    return SimpleNamespace(
        tmp=tmp, other_port=other.port, hits=hits, others_log=log, action_port=action_port,
        action_server_up=action_server_up, startup=startup, startup_s=startup_s,
        exitstatus=child.exitstatus, signalstatus=child.signalstatus,
    )


def test_serve_shell_runs_next_to_a_running_server(shell_next_to_run):
    run = shell_next_to_run
    assert (run.exitstatus, run.signalstatus) == (0, None)  # /stop ends it cleanly
    # Its own action server, on a port of its own, was answering during the chat...
    assert run.action_port != run.other_port
    assert run.action_server_up
    # ...and is stopped with it.
    assert not listening(run.action_port)
    # The other server was never asked anything, and its log is as it was.
    assert run.hits == []
    assert run.others_log.read_text(encoding="utf-8") == OTHER_LOG
    shell_actions_log = run.tmp / "log" / "shell-actions.log"
    assert f"action server on 127.0.0.1:{run.action_port}" in shell_actions_log.read_text()


def test_serve_shell_start_up_prints_no_warnings(shell_next_to_run):
    """What the terminal shows before the first prompt: Rasa's log lines, no warnings."""
    assert "Rasa server is up and running" in shell_next_to_run.startup
    assert WARNING_LINE.findall(shell_next_to_run.startup) == []
    shell_log = (shell_next_to_run.tmp / "log" / "shell.log").read_text(encoding="utf-8")
    assert WARNING_LINE.findall(shell_log) == []


@pytest.mark.parametrize(
    "case", ["no model", "broken model", "action server refuses to start"]
)
def test_serve_shell_failing_start_exits_non_zero_with_one_line(tmp_path, case):
    model, settings = str(model_path()), {}
    if case == "no model":
        model = str(tmp_path / "missing.tar.gz")
        expected = rf"serve.sh: no model at {re.escape(model)}: train one first"
    elif case == "broken model":
        model = str(tmp_path / "broken.tar.gz")
        Path(model).write_bytes(b"not a model")
        expected = r"serve.sh: rasa shell failed \(exit 1\): .*not a gzip file"
    else:
        settings["ACTION_SERVER_TOKEN"] = " "  # set, but blank: the action server refuses it
        expected = r"serve.sh: action server did not start: error: set ACTION_SERVER_TOKEN"
    log = others_log(tmp_path)
    done = subprocess.run(
        ["bash", str(SERVE), "shell", model], cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL,
        env=serve_env(tmp_path, **settings), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert re.match(expected, last_line), done.stderr[-2000:]
    assert log.read_text(encoding="utf-8") == OTHER_LOG


@pytest.mark.parametrize("taken", ["ACTION_PORT", "RASA_PORT", "WEB_PORT"])
def test_serve_run_refuses_a_taken_port(tmp_path, taken):
    """`make run` next to a running one: a clear refusal, and the running one's logs
    untouched (no server is started, so no trained model is needed)."""
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"")
    log = others_log(tmp_path)
    web_log = tmp_path / "log" / "web.log"
    web_log.write_text(OTHER_LOG, encoding="utf-8")
    with socket.socket() as occupied:
        occupied.bind(("127.0.0.1", 0))
        occupied.listen()
        occupied.setblocking(False)
        port = occupied.getsockname()[1]
        ports = {name: str(free_port()) for name in ("ACTION_PORT", "RASA_PORT", "WEB_PORT")}
        done = subprocess.run(
            ["bash", str(SERVE), "run", str(model)], cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL,
            env=serve_env(tmp_path, **{**ports, taken: str(port)}),
            capture_output=True, text=True, timeout=60,
        )
        with pytest.raises(BlockingIOError):  # nobody connected to the running server
            occupied.accept()
    assert done.returncode != 0
    assert done.stdout == ""  # nothing reported as started
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"serve.sh: port {port} (")
    assert "already in use" in done.stderr and taken in done.stderr
    assert log.read_text(encoding="utf-8") == OTHER_LOG
    assert web_log.read_text(encoding="utf-8") == OTHER_LOG
