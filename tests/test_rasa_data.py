"""The Rasa project itself: valid data, and no medical statements in domain responses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

RASA = Path(sys.executable).with_name("rasa")


def test_rasa_data_validate(project_root):
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    result = subprocess.run(
        [str(RASA), "data", "validate", "--fail-on-warnings"],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_domain_actions_exist_in_the_action_server(project_root):
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    domain = yaml.safe_load((project_root / "domain.yml").read_text(encoding="utf-8"))
    names = [a if isinstance(a, str) else next(iter(a)) for a in domain["actions"]]
    custom = [a for a in names if a.startswith(("action_", "validate_"))]
    # Only our package's actions (a test may define throwaway Action subclasses).
    served = [
        name
        for name, run in executor.actions.items()
        if type(run.__self__).__module__.startswith("actions.")
    ]
    assert sorted(custom) == sorted(served), "domain and action server disagree"


def test_domain_responses_carry_no_health_figures(project_root):
    """Rule 1: health content comes only from quoting actions, never from domain text."""
    domain = yaml.safe_load((project_root / "domain.yml").read_text(encoding="utf-8"))
    forbidden = ["mcg", "pmol", "pg/ml", "µmol", "umol", "dose", "deficien", "fine", "worry"]
    for name, variants in domain["responses"].items():
        for variant in variants:
            text = variant.get("text", "").lower()
            hits = [word for word in forbidden if word in text]
            assert not hits, f"{name} mentions {hits}"


def test_only_actions_sent_the_domain_read_it(project_root):
    """endpoints.yml enables selective domain: an action not marked send_domain (or named
    validate_*) gets an empty domain, so reading it would silently fall back to defaults."""
    import ast

    from rasa.shared.core.domain import Domain
    from rasa_sdk.executor import ActionExecutor

    endpoints = yaml.safe_load((project_root / "endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["action_endpoint"]["enable_selective_domain"] is True
    domain = Domain.load(project_root / "domain.yml")
    executor = ActionExecutor()
    executor.register_package("actions")
    def reads_domain(module: str) -> bool:
        tree = ast.parse(Path(sys.modules[module].__file__).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            # `domain.get(...)`, `domain[...]`: the dict is read, not just passed on.
            value = node.value if isinstance(node, ast.Attribute | ast.Subscript) else None
            if isinstance(value, ast.Name) and value.id == "domain":
                return True
        return False

    readers = set()
    for name, run in executor.actions.items():
        # The action's own module and those of its base classes (HealthAction...).
        modules = {c.__module__ for c in type(run.__self__).__mro__
                   if c.__module__.startswith("actions.")}
        if not modules:
            continue
        if any(reads_domain(module) for module in modules):
            readers.add(name)
            assert domain.does_custom_action_explicitly_need_domain(name), (
                f"{name} reads the domain but is not sent it (send_domain: true)")
    assert readers == {"action_session_start"}, readers  # the check above has teeth
