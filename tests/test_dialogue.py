"""`rasa test` on the test stories: every predicted action must match."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.stack import model_path

RASA = Path(sys.executable).with_name("rasa")


def test_test_stories_pass_with_no_prediction_errors(project_root, tmp_path, report_figure):
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(project_root)}
    result = subprocess.run(
        [str(RASA), "test", "core", "--model", str(model_path()),
         "--stories", "tests/test_stories.yml", "--fail-on-prediction-errors",
         "--out", str(tmp_path / "results"), "--no-plot"],
        cwd=project_root, capture_output=True, text=True, timeout=900, env=env,
    )
    failed = tmp_path / "results" / "failed_test_stories.yml"
    detail = failed.read_text(encoding="utf-8") if failed.exists() else ""
    assert result.returncode == 0, (detail or result.stdout[-4000:]) + result.stderr[-2000:]
    report = json.loads((tmp_path / "results" / "story_report.json").read_text(encoding="utf-8"))
    stories = report["conversation_accuracy"]
    actions = report["weighted avg"]["support"]
    report_figure(f"rasa test core: {stories['correct']}/{stories['total']} test stories, "
                  f"{actions} actions, accuracy {report['accuracy']:.3f}")
    assert stories["correct"] == stories["total"] >= 12
