"""The launcher refuses unsafe settings before Rasa starts."""

from __future__ import annotations

from rasa_server.__main__ import apply_defaults, prepared_argv, problems

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


def test_defaults_fill_only_what_the_operator_left_unset():
    env = {"TF_INTRA_OP_PARALLELISM_THREADS": "2", **TOKEN}
    apply_defaults(["run"], env)
    assert env["TF_INTRA_OP_PARALLELISM_THREADS"] == "2"  # the operator's value
    assert env["TF_INTER_OP_PARALLELISM_THREADS"] == "1"
    assert env["SANIC_REQUEST_MAX_SIZE"] == str(1024 * 1024)
    assert env["ACTION_SERVER_URL"] == "http://127.0.0.1:5055/webhook"
    assert (env["SANIC_REQUEST_TIMEOUT"], env["SANIC_WEBSOCKET_MAX_SIZE"]) == ("15", "16384")
    slower = {"SANIC_REQUEST_TIMEOUT": "30", **TOKEN}
    apply_defaults(["run"], slower)
    assert slower["SANIC_REQUEST_TIMEOUT"] == "30"
    api = {**TOKEN}
    apply_defaults(["run", "--enable-api"], api)
    assert "SANIC_REQUEST_MAX_SIZE" not in api  # model uploads need Sanic's own limit
