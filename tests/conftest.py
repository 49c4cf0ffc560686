"""Shared fixtures: the project root, the held-out NLU set, the KB loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def heldout_messages() -> list[dict]:
    """tests/data/nlu_heldout.yml: messages never used for training, with their labels."""
    import yaml

    path = PROJECT_ROOT / "tests" / "data" / "nlu_heldout.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["messages"]


@pytest.fixture(scope="session")
def kb():
    from b12core.kb import load_kb

    return load_kb()


@pytest.fixture(scope="session")
def article_text() -> str:
    return (PROJECT_ROOT / "knowledge" / "article.md").read_text(encoding="utf-8")


_FIGURES: list[str] = []


@pytest.fixture
def report_figure():
    """Record a measured figure; all of them are printed at the end of the run."""
    return _FIGURES.append


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section("measured figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
