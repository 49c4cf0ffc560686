"""Server benchmark (issue 7): this assistant next to the stock `rasa init` assistant.

    .venv/bin/python scripts/bench_server.py [--quick] [--out var/bench_server.md]

In one run, on loopback, each figure for THIS assistant and for the baseline (the stock
`rasa init --no-prompt` assistant, created and trained in a temporary folder):

1. full training time: ours = `rasa train --force --out <tmp>` of this project, the
   baseline = its own training inside `rasa init`; each with RASA_CACHE_DIRECTORY set
   to a fresh empty folder, so no training cache makes it a warm run;
2. cold start: process start of `rasa run` (ours: the action server is started at the
   same moment) to the first successful REST reply to "hi" (polled every 0.25 s);
3. turn latency p50/p95/p99 and throughput at 1, 8 and 32 concurrent users over REST,
   with the mixed traffic of scripts/bench_traffic.yml, errors counted; both assistants
   stay up and each level alternates them in rounds (A B B A), so a drift of the
   machine's speed during the run does not favour either;
4. resident memory (VmRSS summed over the process tree) after the load runs;
5. then the micro-benchmarks of scripts/bench.py (run in a fresh subprocess).

Prints a markdown report and writes it to var/bench_server.md (or --out). Every server
it starts runs in its own process group and is stopped at the end, also on errors and
Ctrl-C. Nothing here imports rasa or TensorFlow: the client process stays small.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path

import aiohttp
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TRAFFIC = PROJECT_ROOT / "scripts" / "bench_traffic.yml"
VENV_BIN = Path(sys.executable).parent
RASA = VENV_BIN / "rasa"

LEVELS = (1, 8, 32)
# 1 user: 600 (two rounds of 300 per assistant); with 300 the median moved by about
# 8% between runs of the same code (its turns are a mix of ~6 ms and ~10 ms ones).
MESSAGES_FULL = {1: 600, 8: 800, 32: 1280}
MESSAGES_QUICK = {1: 12, 8: 32, 32: 64}
TRAIN_TIMEOUT_S = 900
START_TIMEOUT_S = 300
POLL_INTERVAL_S = 0.25
REQUEST_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30

TARGETS_TEXT = {
    "p50_1": "<= 0.5x baseline",
    "tput_8": ">= 2x baseline",
    "cold": "<= 0.5x baseline",
    "rasa_mem": "<= 1.0 GB (1024 MiB)",
    "train": "<= 3 min",
    "errors_32": "0",
}

# Everything this script started: stopped in `stop_all`, whatever happens.
_PROCS: list[subprocess.Popen] = []


# --------------------------------------------------------------------------- processes

def base_env(project: bool) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items()
        # channels of ours read these; the benchmark must never talk to the outside
        if not k.startswith(("TELEGRAM_", "SLACK_"))
    }
    env.update(RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONUNBUFFERED="1")
    env.pop("RASA_CACHE_DIRECTORY", None)
    if project:
        env["PYTHONPATH"] = str(PROJECT_ROOT)
    else:
        env.pop("PYTHONPATH", None)
    return env


def spawn(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as handle:
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    _PROCS.append(proc)
    return proc


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
    # leftovers of the group (a child that outlived its parent)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc in _PROCS:
        _PROCS.remove(proc)


def stop_all() -> None:
    for proc in list(_PROCS):
        stop(proc)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def tree_pids(root: int) -> list[int]:
    """root and all its descendants, from /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory_mib(root: int) -> dict[str, float]:
    pids = tree_pids(root)
    return {
        "rss_mib": sum(_status_kb(p, "VmRSS") for p in pids) / 1024,
        "hwm_mib": sum(_status_kb(p, "VmHWM") for p in pids) / 1024,
        "processes": float(len(pids)),
    }


def tree_cpu_s(root: int) -> float:
    """user + system CPU seconds of the process tree (children that exited are in cutime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in tree_pids(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


# --------------------------------------------------------------------------- training

_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+\w+\s+(\S+)\s+-\s+(.*)$")


def parse_log_times(log: Path) -> list[tuple[float, str]]:
    """(epoch seconds, message) of Rasa's INFO lines (one-second resolution)."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = _LOG_TIME.match(line.strip())
        if m:
            stamp = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
            out.append((stamp, m.group(3)))
    return out


def component_times(log: Path) -> dict[str, float]:
    """Seconds per trained component, from 'Starting/Finished training component' lines."""
    started: dict[str, float] = {}
    spent: dict[str, float] = {}
    for stamp, msg in parse_log_times(log):
        m = re.match(r"(Starting to train|Finished training) component '(\w+)'", msg)
        if not m:
            continue
        name = m.group(2)
        if m.group(1).startswith("Starting"):
            started[name] = stamp
        elif name in started:
            spent[name] = spent.get(name, 0.0) + stamp - started.pop(name)
    return spent


def run_timed(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    t0 = time.monotonic()
    proc = spawn(args, cwd, env, log)
    try:
        rc = proc.wait(timeout=TRAIN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise RuntimeError(
            f"{' '.join(args[:3])} took over {TRAIN_TIMEOUT_S}s: {log_tail(log)}") from None
    elapsed = time.monotonic() - t0
    stop(proc)
    if rc != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({rc}): {log_tail(log)}")
    return elapsed


def train_fresh(name: str, args: list[str], cwd: Path, tmp: Path,
                project: bool) -> tuple[float, Path]:
    """Seconds of one training command with an empty Rasa cache, and its log.

    Refuses the figure if any component came from a cache.
    """
    cache = tmp / f"{name}-rasa-cache"
    cache.mkdir()
    env = {**base_env(project=project), "RASA_CACHE_DIRECTORY": str(cache)}
    log = tmp / f"{name}-train.log"
    seconds = run_timed(args, cwd, env, log)
    if "from cache" in log.read_text(errors="replace"):
        raise RuntimeError(f"{name} training restored components from a cache: see {log}")
    return seconds, log


def train_ours(tmp: Path) -> dict:
    out = tmp / "ours-models"
    out.mkdir()
    seconds, log = train_fresh(
        "ours", [str(RASA), "train", "--force", "--out", str(out), "--fixed-model-name", "bench"],
        PROJECT_ROOT, tmp, project=True)
    models = sorted(out.glob("*.tar.gz"))
    return {"seconds": seconds, "components": component_times(log),
            "model": models[-1] if models else None, "log": log}


def init_baseline(tmp: Path) -> dict:
    project = tmp / "baseline"
    project.mkdir()
    seconds, log = train_fresh("baseline", [str(RASA), "init", "--no-prompt"], project, tmp,
                               project=False)
    models = sorted((project / "models").glob("*.tar.gz"))
    if not models:
        raise RuntimeError(f"rasa init trained no model: {log_tail(log)}")
    return {"seconds": seconds, "components": component_times(log), "model": models[-1],
            "project": project, "log": log}


# --------------------------------------------------------------------------- REST client

def reply_ok(body) -> bool:
    return isinstance(body, list) and any(
        isinstance(m, dict) and (m.get("text") or m.get("buttons") or m.get("custom")
                                 or m.get("image") or m.get("attachment"))
        for m in body
    )


async def post(session: aiohttp.ClientSession, url: str, sender: str, text: str):
    """(latency s, error kind or None, body)."""
    t0 = time.perf_counter()
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as resp:
            raw = await resp.read()
            latency = time.perf_counter() - t0
            if resp.status != 200:
                return latency, f"http {resp.status}", None
            try:
                body = json.loads(raw)
            except ValueError:
                return latency, "bad json", None
            return latency, None if reply_ok(body) else "empty reply", body
    except asyncio.TimeoutError:
        return time.perf_counter() - t0, "timeout", None
    except aiohttp.ClientError as exc:
        return time.perf_counter() - t0, f"{type(exc).__name__}", None


async def _cold_start(url: str, proc: subprocess.Popen, t0: float, expect: str | None,
                      run_id: str) -> dict:
    """Poll "hi" (a fresh sender each time) until a real reply or the deadline."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    attempts, first_answer = 0, None
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.monotonic() - t0 < START_TIMEOUT_S:
            if proc.poll() is not None:
                raise RuntimeError("rasa run exited during start-up")
            attempts += 1
            _, error, body = await post(session, url, f"cold-{run_id}-{attempts}", "hi")
            if error is None or error == "empty reply" or error.startswith("http"):
                first_answer = first_answer or time.monotonic() - t0
            if error is None:
                texts = " ".join(m.get("text") or "" for m in body)
                if expect is None or expect in texts:
                    return {"seconds": time.monotonic() - t0, "attempts": attempts,
                            "first_http_answer_s": first_answer}
            await asyncio.sleep(POLL_INTERVAL_S)
    raise RuntimeError(f"no successful reply within {START_TIMEOUT_S}s")


@dataclass
class LevelResult:
    users: int
    messages: int
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # successful turns, seconds
    by_text: dict[str, list[float]] = field(default_factory=dict)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    rasa_cpu_s: float = 0.0
    actions_cpu_s: float = 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def percentile(samples: list[float], pct: float) -> float:
    """Nearest rank (as scripts/bench.py)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def _user(session, url, conversations, user, quota, run_id, label, result: LevelResult):
    sent = 0
    conv_index = user % len(conversations)
    round_no = 0
    while sent < quota:
        turns = conversations[conv_index]["turns"]
        sender = f"bench-{run_id}-{label}-u{user}-c{round_no}"
        for text in turns:
            if sent >= quota:
                break
            latency, error, _ = await post(session, url, sender, str(text))
            sent += 1
            if error is None:
                result.ok += 1
                result.latencies.append(latency)
                result.by_text.setdefault(str(text), []).append(latency)
            else:
                result.errors[error] = result.errors.get(error, 0) + 1
        conv_index = (conv_index + 1) % len(conversations)
        round_no += 1


async def _level(url, conversations, users, messages, run_id, label, pids) -> LevelResult:
    quota = math.ceil(messages / users)
    result = LevelResult(users=users, messages=quota * users)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=users + 4)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        srv0 = [tree_cpu_s(p) if p else 0.0 for p in pids]
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        await asyncio.gather(*(
            _user(session, url, conversations, u, quota, run_id, f"{label}{users}", result)
            for u in range(users)
        ))
        result.wall_s = time.perf_counter() - t0
        result.client_cpu_s = time.process_time() - cpu0
        srv1 = [tree_cpu_s(p) if p else 0.0 for p in pids]
    result.rasa_cpu_s = srv1[0] - srv0[0]
    result.actions_cpu_s = srv1[1] - srv0[1]
    return result


async def _warmup(url: str, texts: list[str], run_id: str) -> list[str]:
    errors = []
    async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as session:
        for text in texts:
            _, error, _ = await post(session, url, f"warmup-{run_id}", text)
            if error:
                errors.append(f"{text!r}: {error}")
    return errors


# --------------------------------------------------------------------------- one assistant

@dataclass
class Server:
    name: str
    url: str
    rasa_proc: subprocess.Popen
    actions_proc: subprocess.Popen | None
    rasa_log: Path
    out: dict

    @property
    def pids(self) -> list[int]:
        return [self.rasa_proc.pid, self.actions_proc.pid if self.actions_proc else 0]


def start_server(name: str, *, model: Path, cwd: Path, endpoints: Path, credentials: Path,
                 env: dict[str, str], tmp: Path, traffic: dict, action_port: int | None,
                 rasa_command: list[str], run_id: str) -> Server:
    """Start one assistant, measure its cold start, warm it up; the caller stops it."""
    with_actions = action_port is not None
    rasa_port = free_port()
    url = f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"
    rasa_log = tmp / f"{name}-rasa.log"
    actions_log = tmp / f"{name}-actions.log"
    out: dict = {"loadavg_before": loadavg(), "levels": {}}
    t0 = time.monotonic()
    wall0 = time.time()
    actions_proc = None
    if with_actions:
        actions_proc = spawn([sys.executable, "-m", "actions.server", "--port",
                              str(action_port)], PROJECT_ROOT, env, actions_log)
    rasa_proc = spawn(
        [*rasa_command, "run", "--model", str(model), "--port", str(rasa_port),
         "--interface", "127.0.0.1", "--endpoints", str(endpoints),
         "--credentials", str(credentials)],
        cwd, env, rasa_log,
    )
    server = Server(name, url, rasa_proc, actions_proc, rasa_log, out)
    try:
        cold = asyncio.run(_cold_start(url, rasa_proc, t0, traffic["first_reply_contains"],
                                       run_id))
    except RuntimeError as exc:
        stop_server(server)
        raise RuntimeError(f"{name}: {exc}\n--- rasa log ---\n{log_tail(rasa_log)}"
                           + (f"\n--- actions log ---\n{log_tail(actions_log)}"
                              if with_actions else "")) from None
    out["cold"] = cold
    # where the start-up goes, from Rasa's own log lines (1 s resolution)
    marks = {}
    for stamp, msg in parse_log_times(rasa_log):
        if msg.startswith("Starting Rasa server") and "server_start" not in marks:
            marks["server_start"] = stamp - wall0
        elif msg.startswith("Rasa server is up and running") and "up" not in marks:
            marks["up"] = stamp - wall0
    out["start_marks"] = marks
    warm_errors = asyncio.run(_warmup(url, traffic["warmup"], run_id))
    out["warmup"] = {"messages": len(traffic["warmup"]), "errors": warm_errors}
    return server


def stop_server(server: Server) -> None:
    stop(server.rasa_proc)
    stop(server.actions_proc)


def record_memory(server: Server) -> None:
    server.out["rasa_mem"] = tree_memory_mib(server.rasa_proc.pid)
    server.out["actions_mem"] = (tree_memory_mib(server.actions_proc.pid)
                                 if server.actions_proc else None)
    server.out["loadavg_after"] = loadavg()


def merged(parts: list[LevelResult]) -> LevelResult:
    """One level's rounds of one server as one result (latencies pooled, times summed)."""
    out = LevelResult(users=parts[0].users, messages=sum(p.messages for p in parts))
    for p in parts:
        out.ok += p.ok
        for kind, count in p.errors.items():
            out.errors[kind] = out.errors.get(kind, 0) + count
        out.latencies += p.latencies
        for text, values in p.by_text.items():
            out.by_text.setdefault(text, []).extend(values)
        out.wall_s += p.wall_s
        out.client_cpu_s += p.client_cpu_s
        out.rasa_cpu_s += p.rasa_cpu_s
        out.actions_cpu_s += p.actions_cpu_s
    return out


# Rounds per level: A B B A. The machine's speed drifts by 10-30% over minutes
# (measured here); alternating both assistants inside each level, in a pattern
# that cancels a linear drift, keeps that out of the ratios.
ROUND_ORDER = (0, 1, 1, 0)


def run_levels_interleaved(servers: list[Server], traffics: list[dict],
                           messages: dict[int, int], run_id: str, tag: str) -> None:
    """Each level: both assistants in A B B A rounds of half the level's messages."""
    for users in LEVELS:
        parts: dict[str, list[LevelResult]] = {s.name: [] for s in servers}
        for round_no, index in enumerate(ROUND_ORDER):
            server = servers[index]
            if server.rasa_proc.poll() is not None:
                raise RuntimeError(f"{server.name}: rasa run died: {log_tail(server.rasa_log)}")
            parts[server.name].append(asyncio.run(_level(
                server.url, traffics[index]["conversations"], users, messages[users] // 2,
                run_id, f"{tag}{server.name}-r{round_no}-", server.pids)))
        for server in servers:
            r = server.out["levels"][users] = merged(parts[server.name])
            print(f"  {server.name}: {users} users, {r.messages} messages, {r.error_count} "
                  f"errors, {r.ok / r.wall_s:.1f} msg/s, "
                  f"p50 {percentile(r.latencies, 50) * 1000:.0f} ms", flush=True)


def start_scale_out(model: Path, env_ours: dict[str, str], tmp: Path, traffic: dict,
                    run_id: str) -> tuple[Server, subprocess.Popen]:
    """Ours again with SANIC_WORKERS=2 and a Redis lock store (redis-server on loopback)."""
    redis_port, action_port = free_port(), free_port()
    redis_proc = spawn(["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port),
                        "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                       tmp, env_ours, tmp / "redis.log")
    env = {**env_ours, "SANIC_WORKERS": "2",
           "LOCK_STORE_URL": f"redis://127.0.0.1:{redis_port}/0",
           "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
           "TRACKER_STORE_URL": f"sqlite:///{tmp / 'scale-tracker.db'}"}
    try:
        server = start_server(
            "ours-2-workers", model=model, cwd=PROJECT_ROOT,
            endpoints=PROJECT_ROOT / "endpoints.yml", credentials=PROJECT_ROOT / "credentials.yml",
            env=env, tmp=tmp, traffic=traffic, action_port=action_port,
            rasa_command=[sys.executable, "-m", "rasa_server"], run_id=run_id)
    except BaseException:
        stop(redis_proc)
        raise
    return server, redis_proc


def against_the_baseline(server: Server, base_server: Server, traffic: dict,
                         messages: dict[int, int], run_id: str, tag: str) -> dict:
    """Another set-up of ours, in A B B A rounds with a second set of baseline rounds."""
    print(f"  cold start {server.out['cold']['seconds']:.1f} s", flush=True)
    baseline_again = dataclasses.replace(base_server, out={"levels": {}})
    run_levels_interleaved([server, baseline_again], [traffic["ours"], traffic["baseline"]],
                           messages, run_id, tag)
    record_memory(server)
    server.out["baseline_levels"] = baseline_again.out["levels"]
    return server.out


def start_speedups_off(model: Path, env_ours: dict[str, str], tmp: Path, traffic: dict,
                       run_id: str) -> Server:
    """Ours again with B12_SPEEDUPS=off: stock Rasa code, the safety guards on."""
    action_port = free_port()
    env = {**env_ours, "B12_SPEEDUPS": "off",
           "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
           "TRACKER_STORE_URL": f"sqlite:///{tmp / 'off-tracker.db'}"}
    return start_server(
        "ours-speedups-off", model=model, cwd=PROJECT_ROOT,
        endpoints=PROJECT_ROOT / "endpoints.yml", credentials=PROJECT_ROOT / "credentials.yml",
        env=env, tmp=tmp, traffic=traffic, action_port=action_port,
        rasa_command=[sys.executable, "-m", "rasa_server"], run_id=run_id)


def speedups_off_section(off: dict | None, base: dict, args) -> str:
    """The B12_SPEEDUPS=off row: what the run-time speed patches buy, against the baseline."""
    lines = ["", "## Ours with B12_SPEEDUPS=off (stock Rasa code, safety guards on)", ""]
    if off is None:
        return "\n".join([*lines, "Not measured (--no-speedups-off)."]) + "\n"
    lines += [
        "Ours started as `make run` does, plus `B12_SPEEDUPS=off`: none of the speed patches "
        "of docs/rasa-patches.md; the safety guards and every declared seam (tracker store, "
        "channels, NLU components, config) as in the default. The baseline's load figures "
        "here are from another set of rounds alternated with this run (A B B A); its cold "
        "start and memory are the ones above.",
        "",
        "| figure | ours, speed-ups off | baseline | ratio |",
        "|---|---:|---:|---:|",
    ]
    return _variant_rows(lines, off, base)


def scale_out_section(scale: dict | None, base: dict, args) -> str:
    """The extra run, as ratios to the same baseline (not the default set-up: no targets)."""
    lines = ["", "## Scale-out on this machine: 2 Sanic workers and a Redis lock store", ""]
    if scale is None:
        why = "--no-scale-out" if args.no_scale_out else "redis-server is not installed"
        return "\n".join([*lines, f"Not measured ({why})."]) + "\n"
    lines += [
        "Ours started the same way, plus `SANIC_WORKERS=2` and `LOCK_STORE_URL` at a "
        "`redis-server` on loopback (SQLite tracker store shared by both workers). This is "
        "what an operator can choose on one machine; the table above is the default "
        "(`make run`). The baseline's load figures here are from a second set of rounds, "
        "alternated with this run the same way (A B B A); its cold start and memory are the "
        "ones above.",
        "",
        "| figure | ours, 2 workers | baseline | ratio |",
        "|---|---:|---:|---:|",
    ]
    return _variant_rows(lines, scale, base)


def _variant_rows(lines: list[str], scale: dict, base: dict) -> str:
    def row(label, o, b, digits, unit):
        r = ratio(o, b)
        lines.append(f"| {label} | {fmt(o, digits, unit)} | {fmt(b, digits, unit)} | "
                     f"{'-' if r is None else f'{r:.2f}x'} |")

    row("cold start to first reply", scale["cold"]["seconds"], base["cold"]["seconds"], 1, " s")
    for users in LEVELS:
        o, b = scale["levels"][users], scale["baseline_levels"][users]
        o_ms, b_ms = percentile(o.latencies, 50) * 1000, percentile(b.latencies, 50) * 1000
        row(f"latency p50, {users} user{'s' if users > 1 else ''}", o_ms, b_ms,
            ms_digits(o_ms, b_ms), " ms")
        row(f"throughput, {users} user{'s' if users > 1 else ''}",
            o.ok / o.wall_s, b.ok / b.wall_s, 1, " msg/s")
        lines.append(f"| errors, {users} user{'s' if users > 1 else ''} | {o.error_count} / "
                     f"{o.messages} | {b.error_count} / {b.messages} | - |")
    row("Rasa server RSS (all processes)", scale["rasa_mem"]["rss_mib"],
        base["rasa_mem"]["rss_mib"], 0, " MiB")
    return "\n".join(lines) + "\n"


def micro_benchmarks() -> dict[str, float]:
    """scripts/bench.py's functions in a fresh process (does not rewrite var/bench.md)."""
    probe = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(PROJECT_ROOT / 'scripts')!r})\n"
        "from b12core.runtime import block_tensorflow\n"
        "block_tensorflow()\n"
        "import bench\n"
        "figures = {}\n"
        "figures.update(bench.bench_kb_load())\n"
        "figures.update(bench.bench_kb_query())\n"
        "figures.update(bench.bench_labs() or {})\n"
        "print(json.dumps({'figures': figures, 'targets': bench.TARGETS}))\n"
    )
    env = base_env(project=True)
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/bench.py failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report

def our_model() -> Path | None:
    env = os.environ.get("MODEL_PATH")
    if env:
        path = Path(env) if Path(env).is_absolute() else PROJECT_ROOT / env
        if not path.exists():
            raise RuntimeError(f"MODEL_PATH {path} does not exist")
        return path
    models = sorted((PROJECT_ROOT / "models").glob("*.tar.gz"), key=os.path.getmtime)
    return models[-1] if models else None


def current_model_hash() -> str:
    try:
        return subprocess.run([str(PROJECT_ROOT / "scripts" / "model_hash.sh")],
                              capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = _status_meminfo("MemTotal")
    return f"{os.cpu_count()} cores ({cpu}), {mem_kb / 1024 / 1024:.1f} GiB RAM, " \
           f"{platform.system()} {platform.release()}"


def _status_meminfo(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def fmt(value: float | None, digits: int = 0, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}{unit}"


def ms_digits(*values: float | None) -> int:
    """One decimal for latencies under 100 ms (a 7 ms vs 15 ms row hides 0.47x vs 0.5x)."""
    return 1 if all(v is not None and v < 100 for v in values) else 0


def ratio(ours: float | None, base: float | None) -> float | None:
    if ours is None or base is None or base == 0 or math.isnan(ours) or math.isnan(base):
        return None
    return ours / base


def build_report(args, started: datetime, elapsed_s: float, model: Path, model_hash: str,
                 trained: dict, base_train: dict, ours: dict, base: dict, micro: dict,
                 messages: dict[int, int], run_id: str) -> str:
    lv_o, lv_b = ours["levels"], base["levels"]

    def lat(levels, users, pct):
        return percentile(levels[users].latencies, pct) * 1000

    def tput(levels, users):
        r = levels[users]
        return r.ok / r.wall_s if r.wall_s else float("nan")

    rows = []  # (figure, ours, baseline, ratio, target, met)

    def add(label, o, b, digits, unit, target_key=None, met=None):
        r = ratio(o, b)
        rows.append((label, fmt(o, digits, unit), fmt(b, digits, unit),
                     "-" if r is None else f"{r:.2f}x",
                     TARGETS_TEXT.get(target_key, "") if target_key else "",
                     "" if met is None else ("met" if met else "**not met**")))

    o_train, b_train = trained["seconds"], base_train["seconds"]
    add("full training time", o_train, b_train, 1, " s", "train", o_train <= 180)
    o_cold, b_cold = ours["cold"]["seconds"], base["cold"]["seconds"]
    add("cold start to first reply", o_cold, b_cold, 1, " s", "cold", o_cold <= 0.5 * b_cold)
    for users in LEVELS:
        for pct in (50, 95, 99):
            o, b = lat(lv_o, users, pct), lat(lv_b, users, pct)
            key = "p50_1" if (users, pct) == (1, 50) else None
            add(f"latency p{pct}, {users} user{'s' if users > 1 else ''}", o, b,
                ms_digits(o, b), " ms", key, (o <= 0.5 * b) if key else None)
        o, b = tput(lv_o, users), tput(lv_b, users)
        key = "tput_8" if users == 8 else None
        add(f"throughput, {users} user{'s' if users > 1 else ''}", o, b, 1, " msg/s", key,
            (o >= 2 * b) if key else None)
        o_err, b_err = lv_o[users].error_count, lv_b[users].error_count
        key = "errors_32" if users == 32 else None
        rows.append((f"errors, {users} user{'s' if users > 1 else ''}",
                     f"{o_err} / {lv_o[users].messages}", f"{b_err} / {lv_b[users].messages}",
                     "-", TARGETS_TEXT[key] if key else "",
                     ("met" if o_err == 0 else "**not met**") if key else ""))
    o_mem, b_mem = ours["rasa_mem"]["rss_mib"], base["rasa_mem"]["rss_mib"]
    add("Rasa server RSS after load", o_mem, b_mem, 0, " MiB", "rasa_mem", o_mem <= 1024)
    add("Rasa server peak RSS (VmHWM)", ours["rasa_mem"]["hwm_mib"], base["rasa_mem"]["hwm_mib"],
        0, " MiB")
    if ours["actions_mem"]:
        rows.append(("action server RSS after load", fmt(ours["actions_mem"]["rss_mib"], 0, " MiB"),
                     "(none)", "-", "", ""))
        total = o_mem + ours["actions_mem"]["rss_mib"]
        add("Rasa + action server RSS", total, b_mem, 0, " MiB")

    mode = "--quick (smoke run: few messages, figures are rough)" if args.quick else "full"
    shown = model.relative_to(PROJECT_ROOT) if model.is_relative_to(PROJECT_ROOT) else model
    fresh = ("matches the file name" if model_hash in model.name
             else "does NOT match the file name; the model may be stale")
    lines = [
        "# Server benchmark: this assistant vs the stock `rasa init` assistant",
        "",
        f"Date: {started:%Y-%m-%d %H:%M:%S} (run took {elapsed_s / 60:.1f} min); "
        f"mode: {mode}; "
        f"run id `{run_id}`.",
        "",
        f"Machine: {machine()}. Load average (1 min) at start {ours['loadavg_start']}; "
        f"before our server {ours['loadavg_before']}, after {ours['loadavg_after']}; "
        f"before the baseline server {base['loadavg_before']}, after {base['loadavg_after']}.",
        "",
        f"Versions: Python {platform.python_version()}, rasa {version('rasa')}, "
        f"rasa-sdk {version('rasa-sdk')}, tensorflow {version('tensorflow')}, "
        f"spacy {version('spacy')}, sanic {version('sanic')}, SQLAlchemy {version('SQLAlchemy')}, "
        f"aiohttp (client) {version('aiohttp')}.",
        "",
        f"Our model served: `{shown}` (current data hash `{model_hash}`: {fresh})."
        " Baseline: the model `rasa init --no-prompt` trained in a temporary folder.",
        "",
        "| figure | ours | baseline | ours / baseline | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in rows]

    # errors in detail
    lines += ["", "## Errors", ""]
    any_error = False
    for name, res in (("ours", ours), ("baseline", base)):
        for users in LEVELS:
            r = res["levels"][users]
            if r.errors:
                any_error = True
                kinds = ", ".join(f"{k}: {v}" for k, v in sorted(r.errors.items()))
                lines.append(
                    f"- {name}, {users} user(s): {r.error_count} of {r.messages} ({kinds})")
        if res["warmup"]["errors"]:
            any_error = True
            lines.append(f"- {name}, warm-up: {'; '.join(res['warmup']['errors'])}")
    if not any_error:
        lines.append("None: every message got HTTP 200 with at least one bot message, "
                     "in the warm-up and at every level, for both assistants.")

    # where the time goes
    lines += ["", "## Where the time goes", ""]
    for name, tr in (("ours", trained), ("baseline", base_train)):
        comps = sorted(tr["components"].items(), key=lambda kv: -kv[1])
        big = ", ".join(f"{c} {s:.0f} s" for c, s in comps if s >= 1) or "(no component lines)"
        lines.append(f"- Training, {name} ({tr['seconds']:.0f} s in all): {big} "
                     "(from Rasa's 'Starting/Finished training component' log lines, 1 s "
                     "resolution; the rest is start-up, validation, featurisation and packing).")
    for name, res in (("ours", ours), ("baseline", base)):
        marks = res["start_marks"]
        parts = []
        if "server_start" in marks:
            parts.append(f"'Starting Rasa server' logged at ~{marks['server_start']:.0f} s "
                         "(imports, TensorFlow)")
        if "up" in marks:
            parts.append(f"'up and running' (model loaded, port open) at ~{marks['up']:.0f} s")
        parts.append(f"first successful reply at {res['cold']['seconds']:.1f} s "
                     f"({res['cold']['attempts']} polls)")
        lines.append(f"- Cold start, {name}: " + "; ".join(parts) + ".")
    for name, res in (("ours", ours), ("baseline", base)):
        for users in LEVELS:
            r = res["levels"][users]
            if not r.ok:
                continue
            per = 1000 / r.ok
            act = (f", action server {r.actions_cpu_s * per:.0f} ms"
                   if name == "ours" else "")
            lines.append(
                f"- CPU per message, {name}, {users} user{'s' if users > 1 else ''}: "
                f"Rasa server {r.rasa_cpu_s * per:.0f} ms"
                f"{act}, this client {r.client_cpu_s * per:.1f} ms "
                f"(over {r.wall_s:.1f} s of wall time on {os.cpu_count()} cores)."
            )
    slow = sorted(((statistics.median(v), t) for t, v in lv_o[1].by_text.items()), reverse=True)
    if slow:
        lines.append("- Slowest of our messages at 1 user (median latency): " + "; ".join(
            f"{t!r} {m * 1000:.0f} ms" for m, t in slow[:5]) + ".")

    # method
    o_msgs = " / ".join(f"{u} users: {lv_o[u].messages}" for u in LEVELS)
    lines += [
        "", "## How it was measured", "",
        "- **Training**: ours = `rasa train --force --out <temp folder>` in the project "
        "(models/ is neither read nor written); baseline = `rasa init --no-prompt` in an empty "
        "temporary folder (scaffold + its own training). Each with `RASA_CACHE_DIRECTORY` "
        "pointing at a fresh empty folder, so no component is restored from Rasa's training "
        "cache (the script stops if a log says 'from cache'). Wall time of the whole command.",
        "- **Cold start**: ours first, then the baseline (ours idle meanwhile); wall time from "
        "just before starting `rasa run` (ours: the action "
        "server `python -m actions.server` is started at the same moment) to the first HTTP 200 "
        "to POST /webhooks/rest/webhook \"hi\" with a real reply (ours: must contain the "
        f"disclaimer, {ours['first_reply_contains']!r}, so the action server answered too), "
        f"polled every {POLL_INTERVAL_S} s with a fresh sender each time, bounded at "
        f"{START_TIMEOUT_S} s.",
        "- **Servers**: loopback, `rasa run --interface 127.0.0.1`, REST channel. Ours through "
        "the `python -m rasa_server` launcher with the project's credentials.yml (REST, "
        "socket.io; Telegram/Slack off: their variables are removed from the environment) and "
        "endpoints.yml set by environment variables to a fresh SQLite tracker store and the "
        "in-memory lock store, as `make run` does; the baseline with its stock endpoints.yml and "
        "credentials.yml (in-memory tracker store, no action server).",
        f"- **Warm-up**: after the cold start, {ours['warmup']['messages']} (ours) / "
        f"{base['warmup']['messages']} (baseline) messages from one warm-up sender, not timed "
        "(plus the cold-start \"hi\").",
        f"- **Load**: both servers stay up (an idle one uses no CPU); levels 1, 8 and 32 "
        f"concurrent users, messages per level: {o_msgs} (same counts for the baseline), each "
        "level in four rounds of half as many messages, ours / baseline / baseline / ours, so "
        "that a drift of the machine's speed (10-30% over minutes here) cancels out instead "
        "of favouring whichever ran first; the rounds are pooled. Each user plays the "
        "conversations of scripts/bench_traffic.yml in order from a different starting point, "
        "a fresh sender id per conversation (unique per run), one message at a time (waits for "
        "the reply). Latency = client-side round trip of one POST (aiohttp, keep-alive, "
        "one connection per user), percentiles by nearest rank over the successful turns. "
        "Throughput = successful messages / summed wall time of the level's two rounds. "
        "Errors: non-200, "
        f"timeouts ({REQUEST_TIMEOUT_S} s), connection errors and replies without any bot "
        "message; none are dropped.",
        "- **Client overhead**: the load client runs on the same 2 cores; its own CPU time per "
        "message is listed above ('this client').",
        "- **Memory**: VmRSS from /proc/<pid>/status summed over the process and its "
        "descendants, read after the last load level; VmHWM is the peak.",
        "- **Ratios**: ours / baseline. Targets from issue 7.",
    ]

    # micro-benchmarks
    figs, targets = micro["figures"], micro["targets"]
    lines += ["", "## Micro-benchmarks (scripts/bench.py)", "",
              "| figure | value | target | met |", "|---|---:|---|---|"]
    for fig, value in figs.items():
        target = targets.get(fig)
        if target:
            op, bound = target
            met = value <= bound if op == "<=" else value >= bound
            lines.append(f"| {fig} | {value:.3f} | {op} {bound:g} | "
                         f"{'met' if met else '**not met**'} |")
        else:
            lines.append(f"| {fig} | {value:.3f} | | |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="few messages per level (smoke run), same code paths")
    parser.add_argument("--out", default="var/bench_server.md", help="report path")
    parser.add_argument("--no-scale-out", action="store_true",
                        help="skip the extra run with SANIC_WORKERS=2 and a Redis lock store")
    parser.add_argument("--no-speedups-off", action="store_true",
                        help="skip the extra run with B12_SPEEDUPS=off")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (logs, models) and print its path")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _on_sigterm)

    started, t_start = datetime.now(), time.monotonic()
    load_start = loadavg()
    traffic = yaml.safe_load(TRAFFIC.read_text(encoding="utf-8"))
    messages = MESSAGES_QUICK if args.quick else MESSAGES_FULL
    run_id = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    failed = True
    try:
        print(f"[{time.monotonic() - t_start:5.0f}s] training our assistant (fresh cache)...",
              flush=True)
        trained = train_ours(tmp)
        print(f"  {trained['seconds']:.1f} s", flush=True)
        model = our_model() or trained["model"]
        print(f"[{time.monotonic() - t_start:5.0f}s] rasa init --no-prompt (baseline)...",
              flush=True)
        base_train = init_baseline(tmp)
        print(f"  {base_train['seconds']:.1f} s", flush=True)

        # Ours as `make run` starts it: the project's endpoints.yml configured by
        # environment variables, a fresh SQLite tracker store, the rasa_server launcher.
        print(f"[{time.monotonic() - t_start:5.0f}s] our servers: cold start...", flush=True)
        action_port = free_port()
        env_ours = {
            **base_env(project=True),
            "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
            "ACTION_SERVER_TOKEN": secrets.token_urlsafe(24),
            "TRACKER_STORE_URL": f"sqlite:///{tmp / 'ours-tracker.db'}",
        }
        ours_server = start_server(
            "ours", model=model, cwd=PROJECT_ROOT, endpoints=PROJECT_ROOT / "endpoints.yml",
            credentials=PROJECT_ROOT / "credentials.yml", env=env_ours, tmp=tmp,
            traffic=traffic["ours"], action_port=action_port,
            rasa_command=[sys.executable, "-m", "rasa_server"], run_id=run_id,
        )
        ours = ours_server.out
        ours["loadavg_start"] = load_start
        ours["first_reply_contains"] = traffic["ours"]["first_reply_contains"]
        print(f"  cold start {ours['cold']['seconds']:.1f} s", flush=True)

        # The baseline starts while ours is idle (no CPU), then both stay up.
        print(f"[{time.monotonic() - t_start:5.0f}s] baseline server: cold start...", flush=True)
        project = base_train["project"]
        base_server = start_server(
            "baseline", model=base_train["model"], cwd=project,
            endpoints=project / "endpoints.yml", credentials=project / "credentials.yml",
            env=base_env(project=False), tmp=tmp, traffic=traffic["baseline"],
            action_port=None, rasa_command=[str(RASA)], run_id=run_id,
        )
        base = base_server.out
        print(f"  cold start {base['cold']['seconds']:.1f} s", flush=True)

        print(f"[{time.monotonic() - t_start:5.0f}s] load, both assistants in alternating "
              "rounds...", flush=True)
        run_levels_interleaved([ours_server, base_server],
                               [traffic["ours"], traffic["baseline"]], messages, run_id, "")
        record_memory(ours_server)
        record_memory(base_server)
        stop_server(ours_server)

        scale = None
        if not args.no_scale_out and shutil.which("redis-server"):
            print(f"[{time.monotonic() - t_start:5.0f}s] ours with 2 Sanic workers + Redis...",
                  flush=True)
            scale_server, redis_proc = start_scale_out(model, env_ours, tmp, traffic["ours"],
                                                       run_id)
            try:
                scale = against_the_baseline(scale_server, base_server, traffic, messages,
                                             run_id, "scale-")
            finally:
                stop_server(scale_server)
                stop(redis_proc)
        off = None
        if not args.no_speedups_off:
            print(f"[{time.monotonic() - t_start:5.0f}s] ours with B12_SPEEDUPS=off...",
                  flush=True)
            off_server = start_speedups_off(model, env_ours, tmp, traffic["ours"], run_id)
            try:
                off = against_the_baseline(off_server, base_server, traffic, messages, run_id,
                                           "off-")
            finally:
                stop_server(off_server)
        stop_server(base_server)

        print(f"[{time.monotonic() - t_start:5.0f}s] micro-benchmarks (scripts/bench.py)...",
              flush=True)
        micro = micro_benchmarks()

        text = build_report(args, started, time.monotonic() - t_start, model,
                            current_model_hash(), trained, base_train, ours, base, micro,
                            messages, run_id)
        text += speedups_off_section(off, base, args)
        text += scale_out_section(scale, base, args)
        print()
        print(text)
        out = Path(args.out)
        out = out if out.is_absolute() else PROJECT_ROOT / out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"written to {out}")
        failed = False
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the servers", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stop_all()
        if args.keep or failed:
            print(f"logs and models kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
