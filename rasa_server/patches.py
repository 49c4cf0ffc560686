"""Every change this project makes to Rasa's code at run time, in one table, installed here.

Rasa 3.6 offers declared seams (custom components and policies in config.yml, a tracker
store in endpoints.yml, input channels in credentials.yml): the speed-ups of a component's
own methods are subclasses named in config.yml (rasa_server.nlu.serving), which ask
:func:`speedups_on`. What Rasa offers no seam for is patched, and only by :func:`install`,
called by the launcher (``python -m rasa_server``):

- **safety** patches are always installed (the action-call guard, the dialogue guards, the
  strict tracker store). When one's target is missing from the installed Rasa, the server
  does not start: running without them would break a rule that protects patients.
- **speed** patches are installed only when the installed rasa, tensorflow, scipy,
  scikit-learn and numpy are the versions they were tested with (``constraints.txt``) and
  ``B12_SPEEDUPS`` is not ``off``; otherwise Rasa's own code runs, with one log line saying
  why. Each has a parity test comparing its results with Rasa's own.

``PATCHES`` is the inventory; docs/rasa-patches.md lists the same rows (a test keeps them
in step) with why each exists and what it gains.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = PROJECT_ROOT / "constraints.txt"
SPEEDUPS_ENV = "B12_SPEEDUPS"
# The libraries whose private code the speed patches rely on.
GATED_DISTRIBUTIONS = ("rasa", "tensorflow", "scipy", "scikit-learn", "numpy")


@dataclass(frozen=True)
class Patch:
    name: str
    target: str  # what is replaced, as module:attribute path
    kind: str  # "safety" (always on) or "speed" (gated)
    private: bool  # relies on a private name of Rasa, TensorFlow or scipy
    module: str  # where it is written


PATCHES = (
    Patch("action-call guard", "rasa.core.actions.action:RemoteAction.run", "safety", False,
          "rasa_server.resilience"),
    Patch("strict tracker store", "rasa.core.tracker_store:FailSafeTrackerStore.__init__",
          "safety", False, "rasa_server.resilience"),
    Patch("red flags first", "rasa.core.processor:MessageProcessor._predict_next_with_tracker",
          "safety", True, "rasa_server.dialogue_guards"),
    Patch("never silent", "rasa.core.processor:MessageProcessor._run_prediction_loop",
          "safety", True, "rasa_server.dialogue_guards"),
    Patch("message text for session start", "rasa.core.processor:MessageProcessor.log_message",
          "safety", False, "rasa_server.dialogue_guards"),
    Patch("session start metadata",
          "rasa.core.processor:MessageProcessor._update_tracker_session", "safety", True,
          "rasa_server.dialogue_guards"),
    Patch("kept-alive action calls", "rasa.utils.endpoints:EndpointConfig.request", "speed",
          False, "rasa_server.resilience"),
    Patch("action response check",
          "rasa.core.actions.action:RemoteAction._validate_action_result", "speed", True,
          "rasa_server.resilience"),
    Patch("graph in order", "rasa.engine.runner.dask:DaskGraphRunner.run", "speed", True,
          "rasa_server.graph"),
    Patch("event lookup table", "rasa.shared.core.events:Event.resolve_by_type", "speed",
          False, "rasa_server.fastpaths"),
    Patch("slot copy", "rasa.shared.core.slots:Slot.__copy__", "speed", False,
          "rasa_server.fastpaths"),
    Patch("rule index", "rasa.core.policies.rule_policy:RulePolicy._get_possible_keys",
          "speed", True, "rasa_server.fastpaths"),
    Patch("sparse features joined directly",
          "rasa.shared.nlu.training_data.features:Features._combine_sparse_features", "speed",
          True, "rasa_server.fastpaths"),
)


_SPEEDUPS = {"on": False}


def speedups_on() -> bool:
    """Whether this process serves with the speed-ups: the components named in config.yml
    (rasa_server.nlu.serving) ask, so training and a bare ``rasa run`` stay stock."""
    return _SPEEDUPS["on"]


def tested_versions(path: Path = CONSTRAINTS) -> dict[str, str]:
    """The pins the speed patches were tested with, from constraints.txt."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip())
        if match and match.group(1).lower() in GATED_DISTRIBUTIONS:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def installed_versions() -> dict[str, str | None]:
    found = {}
    for name in GATED_DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def speedups_off_reason(env: Mapping[str, str], installed: Mapping[str, str | None],
                        tested: Mapping[str, str]) -> str | None:
    """Why the speed patches stay out (None: they go in)."""
    if env.get(SPEEDUPS_ENV, "").strip().lower() in {"off", "0", "false", "no"}:
        return f"{SPEEDUPS_ENV}=off"
    differ = [f"{name} {installed.get(name)} (tested {pin})" for name, pin in sorted(tested.items())
              if installed.get(name) != pin]
    if set(tested) != set(GATED_DISTRIBUTIONS):
        differ.append("constraints.txt lacks a pin for "
                      + ", ".join(sorted(set(GATED_DISTRIBUTIONS) - set(tested))))
    return "untested versions: " + "; ".join(differ) if differ else None


def _resolve(target: str) -> bool:
    """The target exists in the installed libraries (module imports, attribute path)."""
    import importlib

    module_name, _, path = target.partition(":")
    try:
        value = importlib.import_module(module_name)
    except ImportError:
        return False
    parts = path.split(".")
    if parts[-1].startswith("__") and parts[-1] not in {"__init__"}:
        parts = parts[:-1]  # a special method the patch adds: its class must exist
    for part in parts:
        if not hasattr(value, part):
            return False
        value = getattr(value, part)
    return True


def missing_targets(kind: str) -> list[str]:
    return [p.target for p in PATCHES if p.kind == kind and not _resolve(p.target)]


def install(env: Mapping[str, str] | None = None) -> bool:
    """Install the safety patches, and the speed patches unless gated off (idempotent).

    Returns whether the speed patches are on. Raises RuntimeError, naming the targets,
    when a safety patch cannot be installed on this Rasa.
    """
    env = os.environ if env is None else env
    missing = missing_targets("safety")
    if missing:
        raise RuntimeError("this Rasa lacks what the safety guards wrap: " + ", ".join(missing))
    reason = speedups_off_reason(env, installed_versions(), tested_versions())
    if reason is None and missing_targets("speed"):
        reason = "targets missing: " + ", ".join(missing_targets("speed"))
    speedups = reason is None

    from rasa_server import dialogue_guards, resilience

    resilience.install(speedups=speedups)
    dialogue_guards.install()
    if speedups:
        from rasa_server import fastpaths, graph

        graph.install()
        fastpaths.install()
        _SPEEDUPS["on"] = True
    else:
        logger.warning("speed-ups off (%s): stock Rasa code runs, safety guards on", reason)
    return speedups
