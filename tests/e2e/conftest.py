"""One real stack (action server + Rasa server on loopback) for all end-to-end tests."""

from __future__ import annotations

import pytest

from tests.e2e.stack import RasaStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    stack = RasaStack(tmp_path_factory.mktemp("rasa-stack"))
    try:
        stack.start_actions()
        stack.start_rasa()
        yield stack
    finally:
        stack.stop()
