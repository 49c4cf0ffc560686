"""Shared fixtures: the project root, and the KB loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def kb():
    from actions.kb import load_kb

    return load_kb()


@pytest.fixture(scope="session")
def article_text() -> str:
    return (PROJECT_ROOT / "knowledge" / "article.md").read_text(encoding="utf-8")
