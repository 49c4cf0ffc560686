"""The widget in headless Chromium, against the real stack or a scripted socket.io server.

Everything listens on loopback ports picked at random. The real stack is the e2e
RasaStack with its own credentials file: the project's socket.io channel with
cors_allowed_origins listing this test's widget origin (both spellings of loopback).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.stack import PROJECT_ROOT, RasaStack, free_port, stop_process

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
START_TIMEOUT_S = 30


def origins(port: int) -> list[str]:
    return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not up after {timeout}s: {log.read_text(errors='replace')[-2000:]}")


def spawn(args: list[str], log: Path) -> subprocess.Popen:
    out = open(log, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        args, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "RASA_TELEMETRY_ENABLED": "false"},
    )


class WidgetRasaStack(RasaStack):
    """The e2e stack with the socket.io channel allowing the widget's origins."""

    def __init__(self, workdir: Path, widget_origins: list[str]) -> None:
        credentials = workdir / "credentials.yml"
        listed = "".join(f"    - {origin}\n" for origin in widget_origins)
        credentials.write_text(
            "rasa_server.channels.rest.RestInput:\n"
            "rasa_server.channels.socketio.SocketIOInput:\n"
            "  user_message_evt: user_uttered\n"
            "  bot_message_evt: bot_uttered\n"
            "  session_persistence: true\n"
            f"  cors_allowed_origins:\n{listed}",
            encoding="utf-8",
        )
        super().__init__(workdir, credentials=credentials)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"


@dataclass
class Site:
    """web/serve.py serving the demo page for one socket URL."""

    url: str
    socket_url: str
    proc: subprocess.Popen


def serve_widget(workdir: Path, port: int, socket_url: str) -> Site:
    log = workdir / f"serve-{port}.log"
    proc = spawn([sys.executable, str(PROJECT_ROOT / "web" / "serve.py"), "--host", "127.0.0.1",
                  "--port", str(port), "--socket-url", socket_url, "--quiet"], log)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url, proc, log, START_TIMEOUT_S)
    except Exception:
        stop_process(proc)
        raise
    return Site(url, socket_url, proc)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    if not (PROJECT_ROOT / "web" / "node_modules" / "socket.io-client").is_dir():
        pytest.fail("web/node_modules missing: npm ci --prefix web")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (empty localStorage) at desktop size."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def real_site(tmp_path_factory):
    """The demo page talking to the real action server and Rasa server."""
    workdir = tmp_path_factory.mktemp("widget-stack")
    web_port = free_port()
    stack = WidgetRasaStack(workdir, origins(web_port))
    with stack.running():
        site = serve_widget(workdir, web_port, stack.url)
        site.stack = stack  # for tests that look into the tracker store
        try:
            yield site
        finally:
            stop_process(site.proc)


@pytest.fixture(scope="session")
def fake_site(tmp_path_factory):
    """The demo page talking to tests/web/fake_rasa.py (scripted replies, Rasa's wire format)."""
    workdir = tmp_path_factory.mktemp("widget-fake")
    web_port, socket_port = free_port(), free_port()
    log = workdir / "fake_rasa.log"
    args = [sys.executable, "-m", "tests.web.fake_rasa", "--port", str(socket_port)]
    for origin in origins(web_port):
        args += ["--origin", origin]
    fake = spawn(args, log)
    site = None
    try:
        wait_http(f"http://127.0.0.1:{socket_port}/", fake, log, START_TIMEOUT_S)
        site = serve_widget(workdir, web_port, f"http://127.0.0.1:{socket_port}")
        yield site
    finally:
        if site is not None:
            stop_process(site.proc)
        stop_process(fake)
