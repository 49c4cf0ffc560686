"""Run the action server's actions with Rasa and TensorFlow unimportable, as in the slim
`actions` image (requirements-actions.txt), and print what was loaded.

Run as a script by tests/actions/test_slim_image.py: the Docker engine is not available on
every machine that runs the tests, so the image's promise (the action server needs rasa_sdk
and the core, nothing of Rasa's) is checked here, in the project's environment, with the
heavy packages blocked. Prints one JSON object: each action's reply texts, and the top-level
modules loaded.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import json
import re
import sys
from pathlib import Path

REQUIREMENTS = "requirements-actions.txt"
OUR_PACKAGES = {"actions", "b12core"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def slim_packages(requirements: Path) -> set[str]:
    """Top-level import names of the distributions requirements-actions.txt pulls in
    (its packages and their dependencies, as installed here)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    wanted = [Requirement(line.split("#")[0]) for line in
              requirements.read_text(encoding="utf-8").splitlines() if line.split("#")[0].strip()]
    dists: dict[str, metadata.Distribution] = {}
    while wanted:
        requirement = wanted.pop()
        if _normal(requirement.name) in dists:
            continue
        dist = metadata.distribution(requirement.name)
        dists[_normal(requirement.name)] = dist
        for line in dist.requires or []:
            needed = Requirement(line)
            if needed.marker is None or needed.marker.evaluate({"extra": ""}):
                wanted.append(needed)
    names = set()
    for dist in dists.values():
        for file in dist.files or []:
            top = file.parts[0]
            if top.endswith((".dist-info", ".data")) or top in ("..", "__pycache__"):
                continue
            names.add(top.split(".")[0] if top.endswith((".py", ".so", ".pth")) else top)
    return names


class _Blocker(importlib.abc.MetaPathFinder):
    """Fail every import of an installed package that the slim image would not have."""

    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.blocked: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in self.allowed or top.startswith("_") or top in sys.stdlib_module_names:
            return None
        self.blocked.add(top)
        raise ModuleNotFoundError(f"No module named {name!r} (not in the slim image)", name=name)


def _tracker(text: str, intent: str, slots: dict | None = None) -> dict:
    return {"sender_id": "slim-probe", "slots": slots or {}, "events": [], "paused": False,
            "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen",
            "latest_input_channel": "rest",
            "latest_message": {"text": text, "intent": {"name": intent, "confidence": 1.0},
                               "entities": []}}


async def _run(executor, action: str, tracker: dict, domain: dict) -> dict:
    return await executor.run({"next_action": action, "sender_id": "slim-probe",
                               "tracker": tracker, "domain": domain, "version": "3.6.21"})


async def main() -> dict:
    root = Path(__file__).resolve().parents[2]
    blocker = _Blocker(slim_packages(root / REQUIREMENTS) | OUR_PACKAGES)
    sys.meta_path.insert(0, blocker)
    try:  # the blocker works: Rasa is installed here, but not in the image
        import rasa  # noqa: F401

        rasa_importable = True
    except ModuleNotFoundError:
        rasa_importable = False
    import yaml
    from rasa_sdk.endpoint import create_app
    from rasa_sdk.executor import ActionExecutor

    from actions.server import preload, token_guard
    from b12core.knowledge import PROJECT_ROOT

    preload()
    app = create_app("actions", cors_origins=[])  # what actions.server serves
    app.register_middleware(token_guard("probe-token"), "request")
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    domain["slots"] = domain.get("slots") or {}
    executor = ActionExecutor()
    executor.register_package("actions")

    replies = {}
    start = await _run(executor, "action_session_start", _tracker("", "greet"), domain)
    replies["action_session_start"] = [e.get("event") for e in start["events"]]
    read = await _run(executor, "action_extract_lab_values",
                      _tracker("B12 350 pmol/L, homocysteine 18 umol/L, I have NASH",
                               "inform_lab_values"), domain)
    slots = {e["name"]: e["value"] for e in read["events"] if e.get("event") == "slot"}
    shown = await _run(executor, "action_interpret_labs", _tracker("", "inform_lab_values", slots),
                       domain)
    replies["action_interpret_labs"] = [r.get("text") for r in shown["responses"]]
    answer = await _run(executor, "action_answer_question",
                        _tracker("why can b12 be high with liver disease", "nlu_fallback"), domain)
    replies["action_answer_question"] = [r.get("text") for r in answer["responses"]]
    urgent = await _run(executor, "action_handle_red_flag",
                        _tracker("I have been vomiting blood", "report_red_flag"), domain)
    replies["action_handle_red_flag"] = [r.get("text") for r in urgent["responses"]]
    loaded = sorted({name.split(".")[0] for name, module in sys.modules.items()
                     if module is not None})
    return {"replies": replies, "slots": sorted(slots), "modules": loaded,
            "allowed": sorted(blocker.allowed), "blocked": sorted(blocker.blocked),
            "rasa_importable": rasa_importable}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
