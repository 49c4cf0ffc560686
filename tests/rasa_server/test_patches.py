"""The inventory of run-time patches, the version gate and the B12_SPEEDUPS switch.

``install`` changes classes for the whole process, so each case runs in a fresh Python.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from rasa_server import patches

# Installs the patches in a fresh process and prints which targets were replaced.
REPORT = """
import importlib, json, logging, sys
logging.basicConfig(level=logging.WARNING, format="%(message)s")
from rasa_server import patches

def current(target):
    module, _, path = target.partition(":")
    value = importlib.import_module(module)
    for part in path.split("."):
        value = value.__dict__.get(part) if hasattr(value, "__dict__") else getattr(value, part)
        if value is None:
            return None
    return value

before = {{p.target: current(p.target) for p in patches.PATCHES}}
{setup}
try:
    speed = patches.install({env!r})
except RuntimeError as error:
    print(json.dumps({{"error": str(error)}}))
    sys.exit(0)
changed = sorted(p.target for p in patches.PATCHES if current(p.target) is not before[p.target])
print(json.dumps({{"speedups": speed, "changed": changed,
                  "components_fast": patches.speedups_on()}}))
"""


def _run(env: dict[str, str] | None = None, setup: str = "") -> tuple[dict, str]:
    script = REPORT.format(env=env or {}, setup=setup)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=patches.PROJECT_ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def _targets(kind: str) -> set[str]:
    # The kept-alive action calls replace the endpoint per call, inside the guard: not a
    # class attribute a fresh process can see replaced.
    return {p.target for p in patches.PATCHES
            if p.kind == kind and p.name != "kept-alive action calls"}


def test_every_target_exists_in_the_installed_rasa():
    assert patches.missing_targets("safety") == []
    assert patches.missing_targets("speed") == []


def test_the_pins_are_read_from_constraints_and_match_this_install():
    tested = patches.tested_versions()
    assert set(tested) == set(patches.GATED_DISTRIBUTIONS)
    assert tested["rasa"] == "3.6.21"
    assert patches.speedups_off_reason({}, patches.installed_versions(), tested) is None


@pytest.mark.parametrize(("env", "installed", "reason"), [
    ({"B12_SPEEDUPS": "off"}, None, "B12_SPEEDUPS=off"),
    ({"B12_SPEEDUPS": "OFF "}, None, "B12_SPEEDUPS=off"),
    ({}, {"rasa": "3.6.20"}, "rasa 3.6.20 (tested 3.6.21)"),
    ({}, {"scipy": None}, "scipy None (tested"),
])
def test_the_gate_says_why_the_speedups_stay_out(env, installed, reason):
    tested = patches.tested_versions()
    found = {**tested, **(installed or {})}
    assert reason in patches.speedups_off_reason(env, found, tested)


def test_by_default_every_patch_goes_in():
    report, _ = _run()
    assert report["speedups"] is True and report["components_fast"] is True
    assert set(report["changed"]) == _targets("safety") | _targets("speed")


def test_speedups_off_runs_stock_rasa_code_with_the_safety_guards_on():
    report, stderr = _run({"B12_SPEEDUPS": "off"})
    assert report["speedups"] is False and report["components_fast"] is False
    assert set(report["changed"]) == _targets("safety")
    lines = [line for line in stderr.splitlines() if "speed-ups off" in line]
    assert lines == ["speed-ups off (B12_SPEEDUPS=off): stock Rasa code runs, safety guards on"]


def test_an_untested_rasa_version_turns_the_speedups_off_with_one_line():
    setup = ("patches.installed_versions = lambda: "
             "{**patches.tested_versions(), 'rasa': '3.6.99'}")
    report, stderr = _run(setup=setup)
    assert report["speedups"] is False and report["components_fast"] is False
    assert set(report["changed"]) == _targets("safety")
    assert len(re.findall(r"speed-ups off \(untested versions: rasa 3\.6\.99 \(tested 3\.6\.21\)\)",
                          stderr)) == 1


def test_a_rasa_without_what_a_safety_guard_wraps_does_not_start():
    setup = ("from rasa.core.processor import MessageProcessor\n"
             "del MessageProcessor._run_prediction_loop")
    report, _ = _run(setup=setup)
    assert "MessageProcessor._run_prediction_loop" in report["error"]


def test_the_launcher_refuses_to_start_without_the_safety_guards(tmp_path):
    """python -m rasa_server exits 2 with the reason, before Rasa starts."""
    script = ("import sys\n"
              "from rasa.core.processor import MessageProcessor\n"
              "del MessageProcessor._predict_next_with_tracker\n"
              "from rasa_server.__main__ import main\n"
              "sys.exit(main(['run', '--model', 'none']))\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(patches.PROJECT_ROOT),
           "ACTION_SERVER_TOKEN": "t", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=patches.PROJECT_ROOT, env=env)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "MessageProcessor._predict_next_with_tracker" in out.stderr


def test_the_inventory_page_lists_every_patch(project_root):
    page = (project_root / "docs" / "rasa-patches.md").read_text(encoding="utf-8")
    for patch in patches.PATCHES:
        assert f"`{patch.target}`" in page, patch.target
    rows = [line for line in page.splitlines() if line.startswith("| ") and "`rasa." in line]
    assert len(rows) == len(patches.PATCHES)


def test_each_fast_path_is_a_named_row_of_the_inventory():
    """So each can be installed, and measured, alone (scripts/bench_patches.py)."""
    from rasa_server import fastpaths

    rows = {p.name for p in patches.PATCHES if p.module == "rasa_server.fastpaths"}
    assert set(fastpaths.INSTALLERS) == rows
