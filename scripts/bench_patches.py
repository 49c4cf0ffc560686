"""`make bench`, part 3: what each speed patch is worth, in the Rasa server's own work.

One process loads the model as the server does (stock) with the safety guards, an
in-memory tracker store (conversations serialised and read back every turn, as a store
does) and the real action server on loopback, then plays the bench traffic's
conversations whole (``Agent.handle_text``: NLU, policies, the form, action calls and
their events): with every speed patch against Rasa's own code (what they buy together),
then for each patch, every patch against every patch but that one (what it is worth in
the shipped set-up; a patch whose share is within the noise is a candidate to drop).
Variants alternate in A B B A rounds so the machine's drift cancels; the CPU time per
message of this process (the Rasa server's side; the action server is another process)
is reported with the spread between rounds, the noise a gain must beat.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

ROUNDS = 8  # A B B A per variant pair, four times
PASSES = 2  # passes over the conversations per round
SERVING = "serving components (count vectors, DIET call)"


def _owner_and_name(target: str):
    module_name, _, path = target.partition(":")
    owner = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    return owner, name


class Variant:
    """Installs some patches for a round and puts Rasa's own attributes back after."""

    def __init__(self, name: str, patch_names: tuple[str, ...]) -> None:
        from rasa_server import patches

        self.name = name
        self.patch_names = patch_names
        self.targets = [p.target for p in patches.PATCHES if p.name in patch_names]

    def __enter__(self):
        from rasa_server import fastpaths, graph, patches, resilience

        self._saved = []
        for target in self.targets:
            owner, name = _owner_and_name(target)
            raw = owner.__dict__.get(name, _MISSING) if hasattr(owner, "__dict__") else _MISSING
            self._saved.append((owner, name, raw))
        for name in self.patch_names:
            if name == "graph in order":
                graph.DaskGraphRunner.run = graph._run
            elif name == SERVING:
                patches._SPEEDUPS["on"] = True
            elif name == "kept-alive action calls":
                resilience.POOLING["on"] = True
            elif name == "action response check":
                resilience.RemoteAction._validate_action_result = (
                    resilience._validate_action_result)
            else:
                fastpaths.INSTALLERS[name]()
        return self

    def __exit__(self, *exc_info) -> None:
        from rasa_server import patches, resilience

        patches._SPEEDUPS["on"] = False
        resilience.POOLING["on"] = False
        for owner, name, raw in self._saved:
            if raw is _MISSING:
                if name in getattr(owner, "__dict__", {}):
                    delattr(owner, name)
            else:
                setattr(owner, name, raw)


_MISSING = object()


def conversations() -> list[list[str]]:
    import yaml

    traffic = yaml.safe_load((PROJECT_ROOT / "scripts" / "bench_traffic.yml").read_text())
    return [conversation["turns"] for conversation in traffic["ours"]["conversations"]]


async def one_pass(agent, turns: list[list[str]], tag: str) -> int:
    count = 0
    for i, conversation in enumerate(turns):
        for text in conversation:
            replies = await agent.handle_text(text, sender_id=f"{tag}-{i}")
            if not replies:
                raise RuntimeError(f"no reply to {text!r}: is the action server up?")
            count += 1
    return count


def measure(loop, agent, turns, variant: Variant, tag: str) -> float:
    """CPU microseconds per message for one round."""
    with variant:
        start, count = time.process_time(), 0
        for n in range(PASSES):
            count += loop.run_until_complete(one_pass(agent, turns, f"{tag}-{n}"))
        return (time.process_time() - start) / count * 1e6


def start_action_server(port: int, env: dict[str, str]):
    import subprocess
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "actions.server", "--port", str(port)],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the action server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="var/bench_patches.md")
    args = parser.parse_args()
    import secrets
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.update({"ACTION_SERVER_URL": f"http://127.0.0.1:{port}/webhook",
                       "ACTION_SERVER_TOKEN": secrets.token_urlsafe(24),
                       "TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false",
                       "PYTHONPATH": str(PROJECT_ROOT)})
    actions = start_action_server(port, dict(os.environ))
    try:
        return run(args)
    finally:
        actions.terminate()
        actions.wait(timeout=30)


def run(args) -> int:
    import logging

    from rasa_server import quiet

    quiet.install()
    from rasa.core.agent import Agent
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.log_utils import configure_structlog

    from rasa_server import dialogue_guards, fastpaths, resilience
    from tests.e2e.stack import model_path

    configure_structlog(logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    resilience.install(speedups=False)  # the safety guards, as in every variant
    dialogue_guards.install()
    endpoints = AvailableEndpoints.read_endpoints(str(PROJECT_ROOT / "endpoints.yml"))
    model = model_path()
    loop = asyncio.new_event_loop()
    agent = Agent.load(str(model), action_endpoint=endpoints.action)
    agent.tracker_store = InMemoryTrackerStore(agent.domain)
    agent.processor.tracker_store = agent.tracker_store
    turns = conversations()
    names = ("graph in order", SERVING, "kept-alive action calls", "action response check",
             *fastpaths.INSTALLERS)
    everything = Variant("every speed patch", names)
    comparisons = [("every speed patch, against stock Rasa", Variant("stock Rasa", ()))]
    comparisons += [(name, Variant(f"all but {name}", tuple(n for n in names if n != name)))
                    for name in names]
    loop.run_until_complete(one_pass(agent, turns, "warm"))  # TF traced, caches filled
    rows = []
    for number, (label, other) in enumerate(comparisons):
        pairs = {"all": [], "other": []}
        for r, order in enumerate(("AB", "BA") * (ROUNDS // 2)):
            for side in order:
                key = "all" if side == "A" else "other"
                pairs[key].append(measure(loop, agent, turns,
                                          everything if side == "A" else other,
                                          f"v{number}-r{r}-{side}"))
        fast, without = statistics.median(pairs["all"]), statistics.median(pairs["other"])
        noise = (max(pairs["all"]) - min(pairs["all"])) / fast * 100
        share = (without - fast) / fast * 100
        rows.append((label, without, fast, share, noise))
        print(f"{label}: {without:.0f} -> {fast:.0f} us/message ({share:+.1f}% without it, "
              f"spread {noise:.1f}%)", flush=True)
    count = sum(len(c) for c in turns)
    lines = ["# Speed patches measured alone (scripts/bench_patches.py)", "",
             f"Model {model.name}; {len(turns)} conversations ({count} messages) x {PASSES} "
             f"passes per round, {ROUNDS} rounds per side (A B B A); CPU time per message of "
             "the Rasa server's side of whole turns (NLU, policies, form, action calls, "
             "tracker serialised and read back) in one process, safety guards on. First row: "
             "stock Rasa against every speed patch; then each patch: every patch but it "
             "against every patch (its cost back when dropped).", "",
             "| patch | without it us/msg | with all us/msg | cost without it | "
             "spread of the all rounds (noise) |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {base:.0f} | {fast:.0f} | {change:+.1f}% | {noise:.1f}% |"
              for name, base, fast, change, noise in rows]
    text = "\n".join(lines) + "\n"
    out = PROJECT_ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
