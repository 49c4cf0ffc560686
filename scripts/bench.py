"""`make bench`: micro-benchmarks of the knowledge base, the lab engine and the triage.

Each figure is measured in fresh processes where start-up matters, so no warm
cache flatters it. Prints a markdown report and writes it to var/bench.md.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

QUESTIONS = PROJECT_ROOT / "tests" / "data" / "kb_questions.yml"
LOAD_RUNS = 7
QUERY_ROUNDS = 30

_LOAD_PROBE = """
import json, sys, time
from b12core.runtime import block_tensorflow
block_tensorflow()
import spacy, sklearn.feature_extraction.text, yaml  # imports the action server already has
t0 = time.perf_counter()
from b12core.kb import load_kb
from b12core.kb.topics import load_topics
kb = load_kb(); load_topics()
print(json.dumps({"load_ms": (time.perf_counter() - t0) * 1000}))
"""


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def bench_kb_load() -> dict[str, float]:
    """KB load (kb.json, validation, spaCy pipeline, index) in a fresh process each run."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    loads = []
    for _ in range(LOAD_RUNS):
        out = subprocess.run(
            [sys.executable, "-c", _LOAD_PROBE], cwd=PROJECT_ROOT, env=env,
            capture_output=True, text=True, check=True, timeout=300,
        ).stdout
        loads.append(json.loads(out.strip().splitlines()[-1])["load_ms"])
    return {"kb_load_ms_median": statistics.median(loads), "kb_load_ms_max": max(loads)}


def bench_kb_query() -> dict[str, float]:
    """One answer (what the chat quotes: index, ranking, whole passages) per question."""
    import yaml

    from b12core.kb import load_kb
    from tests.b12core.kb.answer_eval import SETS, load_cases

    kb = load_kb()
    data = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    questions = [item["q"] for key in ("answerable", "not_covered") for item in data[key]]
    questions += [c["q"] for name in SETS for half in ("tune", "test")
                  for c in load_cases(half, name)]
    kb._searcher._correct.cache_clear()
    samples = []
    for _ in range(QUERY_ROUNDS):
        for q in questions:
            t0 = time.perf_counter()
            kb.answer(q)
            samples.append((time.perf_counter() - t0) * 1000)
    return {
        "kb_query_ms_p50": percentile(samples, 50),
        "kb_query_ms_p99": percentile(samples, 99),
        "kb_queries": float(len(samples)),
    }


def bench_labs() -> dict[str, float] | None:
    try:
        from b12core.labs import bench as labs_bench
    except ImportError:
        return None
    return labs_bench.run()


def bench_triage() -> dict[str, float]:
    """Red-flag triage per message (uncached: every message is new to the table), over
    every outsider set and the project's other test messages, plus a worst case."""
    from b12core.safety.triage import _triage, load_triage_table
    from tests.b12core.safety.redflag_sets import every_case, ordinary_messages

    table = load_triage_table()
    texts = [*ordinary_messages(), *(c.text for c in every_case())]
    for text in texts:  # the spelling cache fills as it would in a running server
        _triage(text, table)
    samples = []
    for _ in range(3):
        for text in texts:
            t0 = time.perf_counter()
            _triage(text, table)
            samples.append((time.perf_counter() - t0) * 1000)
    worst = "vomit blood, " * 150  # 2,000 characters of symptom words
    t0 = time.perf_counter()
    _triage(worst, table)
    return {
        "triage_ms_p50": percentile(samples, 50),
        "triage_ms_p99": percentile(samples, 99),
        "triage_messages": float(len(samples)),
        "triage_worst_case_2000_chars_ms": (time.perf_counter() - t0) * 1000,
    }


TARGETS = {
    "kb_load_ms_median": ("<=", 300.0),
    "kb_query_ms_p99": ("<=", 2.0),
    "labs_parse_interpret_p99_ms": ("<=", 1.0),  # issue 15: "stays at p99 under 1 ms"
    "labs_messages_per_s": (">=", 5000.0),
    "triage_ms_p99": ("<=", 2.0),
}


def report(figures: dict[str, float]) -> str:
    lines = [
        "# Benchmark report",
        "",
        f"Machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}; "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}",
        "",
        "| figure | value | target | met |",
        "|---|---:|---|---|",
    ]
    for name, value in figures.items():
        target = TARGETS.get(name)
        if target:
            op, bound = target
            met = value <= bound if op == "<=" else value >= bound
            lines.append(f"| {name} | {value:.3f} | {op} {bound:g} | {'yes' if met else 'NO'} |")
        else:
            lines.append(f"| {name} | {value:.3f} | | |")
    return "\n".join(lines) + "\n"


def main() -> int:
    from b12core.runtime import block_tensorflow

    block_tensorflow()
    figures: dict[str, float] = {}
    figures.update(bench_kb_load())
    figures.update(bench_kb_query())
    labs = bench_labs()
    if labs:
        figures.update(labs)
    figures.update(bench_triage())
    text = report(figures)
    print(text)
    out = PROJECT_ROOT / "var" / "bench.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
