"""The web widget's path (socket.io, websocket transport) beside REST, at 1 and 8 users.

`make bench` runs it after scripts/bench_server.py; `--quick` is a smoke run. Our servers start
as `make run` starts them; the widget is the real web/widget.js in headless Chromium (one
browser context per user), served by web/serve.py. Each user plays the conversations of
scripts/bench_traffic.yml, one message at a time. Per turn it records, in the page, the time
from the form's submit to the first bot message drawn and to the last one (a turn has no end
marker on socket.io: the last message is the one followed by 600 ms of quiet, which is not
counted). The same server then takes the same traffic over REST, whose latency is the whole
turn. Report: var/bench_socketio.md.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_server import (
    PROJECT_ROOT,
    TRAFFIC,
    _level,
    base_env,
    free_port,
    our_model,
    percentile,
    spawn,
    start_server,
    stop,
    stop_all,
    stop_server,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MESSAGES = {1: 40, 8: 120}
MESSAGES_QUICK = {1: 6, 8: 16}
QUIET_MS = 600
TURN_TIMEOUT_MS = 30_000

# In the page: the time each bot message is drawn.
RECORDER = """
window.__botTimes = [];
new MutationObserver(records => {
  for (const r of records) for (const n of r.addedNodes) {
    const bot = n.nodeType === 1 && n.classList.contains('b12c-msg');
    if (bot && !n.classList.contains('b12c-user')) window.__botTimes.push(performance.now());
  }
}).observe(document, {childList: true, subtree: true});
"""
# Submit one message; resolve with [first, last] latency in ms (null on a timeout).
TURN = """async ([text, quietMs, timeoutMs]) => {
  const before = window.__botTimes.length;
  const input = document.querySelector('.b12c-input');
  input.value = text;
  const t0 = performance.now();
  document.querySelector('.b12c-form').requestSubmit();
  const wait = ms => new Promise(r => setTimeout(r, ms));
  while (window.__botTimes.length === before) {
    if (performance.now() - t0 > timeoutMs) return null;
    await wait(5);
  }
  let seen = window.__botTimes.length;
  let quietSince = performance.now();
  while (performance.now() - quietSince < quietMs) {
    await wait(20);
    if (window.__botTimes.length !== seen) {
      seen = window.__botTimes.length;
      quietSince = performance.now();
    }
  }
  return [window.__botTimes[before] - t0, window.__botTimes[seen - 1] - t0];
}"""


@dataclass
class SocketLevel:
    users: int
    messages: int
    first_ms: list[float] = field(default_factory=list)
    last_ms: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0


async def _widget_user(browser, url: str, conversations: list, user: int, quota: int,
                       result: SocketLevel) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = await context.new_page()
        await page.add_init_script(RECORDER)
        await page.goto(url)
        await page.locator(".b12c-launcher").click()
        await page.wait_for_function("() => window.__botTimes.length > 0", timeout=60_000)
        await page.wait_for_timeout(QUIET_MS)
        sent, index = 0, user % len(conversations)
        while sent < quota:
            for text in conversations[index]["turns"]:
                if sent >= quota:
                    break
                times = await page.evaluate(TURN, [str(text), QUIET_MS, TURN_TIMEOUT_MS])
                sent += 1
                if times is None:
                    result.errors += 1
                else:
                    result.first_ms.append(times[0])
                    result.last_ms.append(times[1])
            index = (index + 1) % len(conversations)
            # A new conversation: the widget's own Clear would ask first; a new context is
            # what a new visitor is, and the session restarts with the next page's load.
            await page.evaluate("() => { window.B12Chat.reset(); }")
            await page.reload()
            await page.locator(".b12c-launcher").click()
            await page.wait_for_function("() => window.__botTimes.length > 0", timeout=60_000)
            await page.wait_for_timeout(QUIET_MS)
    finally:
        await context.close()


async def socket_level(url: str, conversations: list, users: int, messages: int) -> SocketLevel:
    from playwright.async_api import async_playwright

    quota = -(-messages // users)
    result = SocketLevel(users=users, messages=quota * users)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            t0 = time.perf_counter()
            await asyncio.gather(*(_widget_user(browser, url, conversations, u, quota, result)
                                   for u in range(users)))
            result.wall_s = time.perf_counter() - t0
        finally:
            await browser.close()
    return result


def _fmt(samples: list[float], pct: float) -> str:
    return f"{percentile(samples, pct):.0f} ms" if samples else "-"


def report(rows: list[tuple], quick: bool, model: Path) -> str:
    lines = [
        "# The widget's socket.io path beside REST (scripts/bench_socketio.py)", "",
        f"Model `{model.name}`; our servers as `make run` starts them; the widget in headless "
        "Chromium (websocket transport), one browser context per user"
        + (" (quick run: few messages)." if quick else "."), "",
        "| path | users | turns | errors | first message p50 / p95 | whole turn p50 / p95 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for path, users, turns, errors, first, last in rows:
        lines.append(f"| {path} | {users} | {turns} | {errors} | "
                     + (f"{_fmt(first, 50)} / {_fmt(first, 95)}" if first else "-") + " | "
                     + f"{_fmt(last, 50)} / {_fmt(last, 95)} |")
    lines += ["", "REST's latency is the whole turn (the reply is one HTTP response). On "
              "socket.io the first message is what the person sees first; the whole turn "
              f"ends at the last message before {QUIET_MS} ms of quiet (not counted)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few messages per level")
    parser.add_argument("--out", default="var/bench_socketio.md", help="report path")
    args = parser.parse_args()
    traffic = yaml.safe_load(TRAFFIC.read_text(encoding="utf-8"))["ours"]
    messages = MESSAGES_QUICK if args.quick else MESSAGES
    model = our_model()
    if model is None:
        print("no trained model: run `make train` first", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-socketio-"))
    web_port, action_port = free_port(), free_port()
    credentials = tmp / "credentials.yml"
    credentials.write_text(
        "rasa_server.channels.rest.RestInput:\n"
        "rasa_server.channels.socketio.SocketIOInput:\n"
        "  user_message_evt: user_uttered\n"
        "  bot_message_evt: bot_uttered\n"
        "  session_persistence: true\n"
        f"  cors_allowed_origins:\n    - http://127.0.0.1:{web_port}\n", encoding="utf-8")
    env = {**base_env(project=True),
           "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
           "ACTION_SERVER_TOKEN": secrets.token_urlsafe(24),
           "TRACKER_STORE_URL": f"sqlite:///{tmp / 'tracker.db'}"}
    server, site = None, None
    try:
        server = start_server("ours", model=model, cwd=PROJECT_ROOT,
                              endpoints=PROJECT_ROOT / "endpoints.yml", credentials=credentials,
                              env=env, tmp=tmp, traffic=traffic, action_port=action_port,
                              rasa_command=[sys.executable, "-m", "rasa_server"],
                              run_id=uuid.uuid4().hex[:8])
        socket_url = server.url.split("/webhooks/")[0]
        site = spawn([sys.executable, str(PROJECT_ROOT / "web" / "serve.py"), "--host",
                      "127.0.0.1", "--port", str(web_port), "--socket-url", socket_url,
                      "--quiet"], PROJECT_ROOT, env, tmp / "serve.log")
        time.sleep(1.0)
        page_url = f"http://127.0.0.1:{web_port}/"
        rows = []
        for users in (1, 8):
            print(f"socket.io, {users} user(s)...", flush=True)
            level = asyncio.run(socket_level(page_url, traffic["conversations"], users,
                                             messages[users]))
            rows.append(("socket.io (widget)", users, level.messages, level.errors,
                         level.first_ms, level.last_ms))
            print(f"REST, {users} user(s)...", flush=True)
            rest = asyncio.run(_level(server.url, traffic["conversations"], users,
                                      messages[users], uuid.uuid4().hex[:8], "rest",
                                      server.pids))
            rows.append(("REST", users, rest.messages, rest.error_count, [],
                         [s * 1000 for s in rest.latencies]))
        text = report(rows, args.quick, model)
        out = PROJECT_ROOT / args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(text)
        return 0
    finally:
        if site is not None:
            stop(site)
        if server is not None:
            stop_server(server)
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
