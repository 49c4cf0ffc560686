"""The launcher refuses unsafe settings before Rasa starts."""

from __future__ import annotations

from rasa_server.__main__ import prepared_argv, problems

TOKEN = {"ACTION_SERVER_TOKEN": "t"}


def test_plain_run_with_a_token_is_fine():
    assert problems(["run", "--model", "m.tar.gz"], TOKEN) == []


def test_serving_without_the_action_server_token_is_refused():
    for command in ("run", "shell"):
        (problem,) = problems([command], {})
        assert "ACTION_SERVER_TOKEN" in problem
    assert problems(["data", "validate"], {}) == []  # not serving: no token needed


def test_http_api_needs_jwt():
    (problem,) = problems(["run", "--enable-api"], TOKEN)
    assert "RASA_JWT_SECRET" in problem
    assert problems(["run", "--enable-api", "--jwt-secret", "s"], TOKEN) == []
    assert problems(["run", "--enable-api"], {**TOKEN, "RASA_JWT_SECRET": "s"}) == []


def test_jwt_secret_from_the_environment_is_passed_to_rasa():
    args = prepared_argv(["run", "--enable-api"], {"RASA_JWT_SECRET": "s"})
    assert args[-4:] == ["--jwt-secret", "s", "--jwt-method", "HS256"]
    assert prepared_argv(["run"], {"RASA_JWT_SECRET": "s"}) == ["run"]


def test_several_workers_need_the_redis_lock_store():
    (problem,) = problems(["run"], {**TOKEN, "SANIC_WORKERS": "2"})
    assert "LOCK_STORE_URL" in problem
    assert problems(["run"], {**TOKEN, "SANIC_WORKERS": "2",
                              "LOCK_STORE_URL": "redis://localhost:6379/0"}) == []
