"""The action server's shared-token check (the e2e security tests use the real server)."""

from __future__ import annotations

from types import SimpleNamespace

from actions.server import token_guard


def request(path: str, authorization: str | None = None):
    headers = {"Authorization": authorization} if authorization else {}
    return SimpleNamespace(path=path, headers=headers)


async def test_only_the_current_or_next_token_passes():
    check = token_guard("current-token", "next-token")
    assert await check(request("/webhook", "Bearer current-token")) is None
    assert await check(request("/webhook", "Bearer next-token")) is None
    for bad in (None, "Bearer ", "current-token", "Bearer old-token", "Bearer current-tokenX"):
        response = await check(request("/webhook", bad))
        assert response.status == 401, bad
    assert await check(request("/health")) is None  # probes need no token


async def test_a_single_token_rejects_everything_else():
    check = token_guard("only")
    assert (await check(request("/actions", "Bearer other"))).status == 401


def test_every_table_is_loaded_before_the_server_answers():
    from actions.server import preload
    from b12core.kb import load_kb
    from b12core.labs.findings import finding_catalogue
    from b12core.labs.questions import load_questions
    from b12core.labs.reference import reference_table
    from b12core.safety import load_triage_table

    loaders = (load_kb, load_triage_table, reference_table, finding_catalogue, load_questions)
    for loader in loaders:
        loader.cache_clear()
    preload()
    assert all(loader.cache_info().currsize == 1 for loader in loaders)
