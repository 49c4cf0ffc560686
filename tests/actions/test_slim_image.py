"""The slim action-server image (Dockerfile stage `actions`, requirements-actions.txt): the
action server runs on rasa_sdk and the pure core alone.

No Docker engine runs where the tests run, so the image's promise is checked in the project's
environment: tests/actions/slim_probe.py blocks every installed package the slim image would
not have (Rasa, TensorFlow and everything only they pull in) and runs the session start, the lab
reading and interpretation, a question and a red flag through rasa_sdk's executor.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata

from b12core.knowledge import PROJECT_ROOT

PROBE = PROJECT_ROOT / "tests" / "actions" / "slim_probe.py"
REQUIREMENTS = PROJECT_ROOT / "requirements-actions.txt"


def _pins(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_the_slim_requirements_are_pinned_as_the_project_pins_them():
    """Each at the version the tested environment has: its pin in constraints.txt, or (for
    setuptools, which a pip freeze leaves out) the version installed with Rasa."""
    slim, pinned = _pins(REQUIREMENTS), _pins(PROJECT_ROOT / "constraints.txt")
    assert "rasa-sdk" in slim and "rasa" not in slim and "tensorflow" not in slim
    for name, version in slim.items():
        tested = pinned.get(name) or metadata.version(name)
        assert version and version == tested, f"{name}=={version}, tested with {tested}"


def test_the_action_server_runs_without_rasa_or_tensorflow():
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    run = subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True,
                         timeout=300, env=env, cwd=PROJECT_ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout)
    # The probe really kept the heavy packages out (spaCy's thinc asks for TensorFlow).
    assert found["rasa_importable"] is False
    assert {"rasa", "tensorflow"} <= set(found["blocked"])
    assert not {"rasa", "tensorflow", "keras", "h5py"} & set(found["modules"])
    assert {"rasa_sdk", "spacy", "sklearn", "b12core", "actions"} <= set(found["modules"])
    # Made without an import: by Cython extensions, and by pkg_resources for the namespace
    # packages of whatever is installed (matplotlib's here; empty modules).
    made_not_imported = {"cython_runtime", "mpl_toolkits"}
    assert set(found["modules"]) - set(sys.stdlib_module_names) <= (
        set(found["allowed"]) | made_not_imported
        | {m for m in found["modules"] if m.startswith("_")})
    replies = found["replies"]
    assert {"b12", "homocysteine", "condition"} <= set(found["slots"])
    interpretation = "\n".join(replies["action_interpret_labs"])
    assert "Vitamin B12: 350 pmol/L" in interpretation and "not medical advice" in interpretation
    assert any(text.startswith('"') for text in replies["action_answer_question"])
    assert "emergency" in replies["action_handle_red_flag"][0]
