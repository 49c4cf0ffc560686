"""One real stack (action server + Rasa server on loopback) for all end-to-end tests."""

from __future__ import annotations

import pytest

from tests.e2e.stack import RasaStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    with RasaStack(tmp_path_factory.mktemp("rasa-stack")).running() as stack:
        yield stack
