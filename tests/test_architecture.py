"""The tree's promise: a pure core, and one package per process that imports it.

- ``b12core``: kb, labs, triage, disclaimer, texts, the spaCy pipeline, the knowledge loader;
  no rasa, no rasa_sdk, no web framework, and neither of the two processes' packages.
- ``actions``: the action server's rasa_sdk glue; nothing outside it (but its tests) imports it.
- ``rasa_server``: the Rasa server's launcher, channels, NLU components and patches; it
  imports the core, never ``actions``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE_FORBIDDEN = {"rasa", "rasa_sdk", "sanic", "tensorflow", "actions", "rasa_server"}


def _python_files(*tops: str) -> list[Path]:
    files = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    return [ROOT / f for f in files if not tops or f.split("/")[0] in tops]


def _imported_tops(path: Path) -> set[str]:
    """Top-level package names a file imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    tops = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops


def test_the_core_imports_no_rasa_and_neither_process_package():
    files = _python_files("b12core")
    assert len(files) >= 20  # the whole core is looked at, not an empty selection
    offenders = {str(f.relative_to(ROOT)): sorted(_imported_tops(f) & CORE_FORBIDDEN)
                 for f in files if _imported_tops(f) & CORE_FORBIDDEN}
    assert offenders == {}


# Test stand-ins for the whole stack (both servers), which run the real actions.
STANDS_IN_FOR_BOTH = {
    "tests/web/fake_rasa.py": "the widget tests' scripted server: the interpretation it sends "
                              "is the real action's, so the card is tested as it is built",
}


def test_nothing_outside_the_action_server_imports_actions():
    outside = [f for f in _python_files()
               if f.relative_to(ROOT).parts[0] != "actions"
               and f.relative_to(ROOT).parts[:2] != ("tests", "actions")]
    assert any(f.relative_to(ROOT).parts[0] == "rasa_server" for f in outside)
    offenders = sorted(str(f.relative_to(ROOT)) for f in outside if "actions" in _imported_tops(f)
                       and str(f.relative_to(ROOT)) not in STANDS_IN_FOR_BOTH)
    assert offenders == []


def test_the_check_above_sees_a_forbidden_import(tmp_path):
    """The AST reader finds imports inside functions too (the check has teeth)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from actions.lab_check import FORM\n    import rasa.core\n")
    assert {"actions", "rasa"} <= _imported_tops(module)


def test_importing_the_whole_core_loads_no_rasa():
    """At run time too: every core module imported, rasa and rasa_sdk never loaded."""
    modules = sorted(
        ".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for f in _python_files("b12core") if f.name != "__main__.py")
    script = ("import importlib, sys\n"
              f"for m in {modules!r}: importlib.import_module(m)\n"
              "print(sorted({n.split('.')[0] for n in sys.modules} & "
              "{'rasa', 'rasa_sdk', 'sanic', 'actions', 'rasa_server'}))")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("top", ["b12core", "actions", "rasa_server"])
def test_each_package_has_its_tests_in_the_mirrored_folder(top):
    assert (ROOT / "tests" / top).is_dir()
    assert list((ROOT / "tests" / top).rglob("test_*.py"))
