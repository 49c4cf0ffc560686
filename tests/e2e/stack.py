"""Start the real action server and Rasa server on loopback for end-to-end tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 300
# The project's launcher around `rasa` (rasa_server/__main__.py), as `make run` uses.
RASA_COMMAND = (sys.executable, "-m", "rasa_server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_path() -> Path:
    """The model `make test` trained for this data (MODEL_PATH), else the newest one."""
    env = os.environ.get("MODEL_PATH")
    if env:
        path = PROJECT_ROOT / env
    else:
        models = sorted((PROJECT_ROOT / "models").glob("*.tar.gz"), key=os.path.getmtime)
        path = models[-1] if models else PROJECT_ROOT / "models" / "missing.tar.gz"
    if not path.exists():
        raise RuntimeError(f"no trained model at {path}: run `make train` (make test does)")
    return path


def joined(messages: list[dict]) -> str:
    """One turn's bot texts as one string (blank-line separated, as the REST channel splits)."""
    return "\n\n".join(m.get("text", "") for m in messages)


def _get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status


def stop_process(proc: subprocess.Popen | None) -> None:
    """Stop a process started in its own session, with everything it started."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class RasaStack:
    """An action server and a Rasa server on loopback, configured by environment variables."""

    def __init__(
        self,
        workdir: Path,
        credentials: Path = PROJECT_ROOT / "credentials.yml",
        rasa_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        db: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.credentials = credentials
        self.rasa_args = rasa_args
        self.action_port = free_port()
        self.rasa_port = free_port()
        # The project's own endpoints.yml, configured the way an operator would:
        # by environment variables (docs/deploying.md).
        self.endpoints = PROJECT_ROOT / "endpoints.yml"
        self.db = db or workdir / "tracker.db"
        self.token = secrets.token_urlsafe(24)
        self.env = {
            **os.environ,
            "RASA_TELEMETRY_ENABLED": "false",
            "PYTHONPATH": str(PROJECT_ROOT),
            "ACTION_SERVER_URL": f"http://127.0.0.1:{self.action_port}/webhook",
            "ACTION_SERVER_TOKEN": self.token,
            "TRACKER_STORE_URL": f"sqlite:///{self.db}",
            **(env or {}),
        }
        self.actions: subprocess.Popen | None = None
        self.rasa: subprocess.Popen | None = None

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.workdir / log_name, "ab")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            args, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait(self, url: str, proc: subprocess.Popen, log_name: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{log_name} exited: {self.log_tail(log_name)}")
            try:
                if _get(url) == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{url} not up after {START_TIMEOUT_S}s: {self.log_tail(log_name)}")

    def log_tail(self, log_name: str) -> str:
        path = self.workdir / log_name
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def start_actions(self) -> None:
        self.actions = self._spawn(
            [sys.executable, "-m", "actions.server", "--port", str(self.action_port)], "actions.log"
        )
        self._wait(f"http://127.0.0.1:{self.action_port}/health", self.actions, "actions.log")

    def start_rasa(self) -> None:
        self.rasa = self._spawn(
            [*RASA_COMMAND, "run", "--model", str(model_path()), "--port", str(self.rasa_port),
             "--interface", "127.0.0.1", "--endpoints", str(self.endpoints),
             "--credentials", str(self.credentials), *self.rasa_args],
            "rasa.log",
        )
        self._wait(f"http://127.0.0.1:{self.rasa_port}/", self.rasa, "rasa.log")

    @contextmanager
    def running(self) -> Iterator[RasaStack]:
        """Both servers up for the ``with`` block, and stopped after it whatever happens."""
        try:
            self.start_actions()
            self.start_rasa()
            yield self
        finally:
            self.stop()

    def stop_rasa(self) -> None:
        stop_process(self.rasa)
        self.rasa = None

    def stop_actions(self) -> None:
        stop_process(self.actions)
        self.actions = None

    def stop(self) -> None:
        self.stop_rasa()
        self.stop_actions()

    def ready(self) -> tuple[int, dict[str, str]]:
        """GET /webhooks/rest/ready: its status and the result of each check."""
        url = f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/ready"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, json.loads(response.read())["checks"]
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())["checks"]

    def send(self, sender: str, message: str) -> list[dict]:
        """One user turn over the REST channel; the bot's messages for it."""
        body = json.dumps({"sender": sender, "message": message}).encode("utf-8")
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
