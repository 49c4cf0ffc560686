"""The benchmark runs and reports the figures `make bench` prints (speed is not asserted)."""

from __future__ import annotations

from b12core.labs.bench import run


def test_bench_reports_its_figures():
    figures = run(count=300)
    assert {"labs_parse_interpret_p99_ms", "labs_messages_per_s"} <= set(figures)
    assert all(value > 0 for value in figures.values())
