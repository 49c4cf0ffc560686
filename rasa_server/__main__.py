"""Run Rasa with this project's guards: ``python -m rasa_server run|shell ...``.

The arguments are Rasa's own. Before handing over to Rasa it refuses unsafe
settings (the HTTP API without JWT, several Sanic workers without the Redis
lock store, no action-server token), fills defaults that endpoints.yml cannot
express, and installs the run-time patches (rasa_server.patches: the safety guards
always, the speed-ups when the installed versions are the tested ones and
B12_SPEEDUPS is not off).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ACTION_SERVER_URL = "http://127.0.0.1:5055/webhook"
SERVING_COMMANDS = {"run", "shell", "interactive"}
REQUEST_MAX_BYTES = 1024 * 1024
REQUEST_TIMEOUT_S = 15
WEBSOCKET_MAX_BYTES = 16 * 1024
TF_THREAD_VARIABLES = ("TF_INTER_OP_PARALLELISM_THREADS", "TF_INTRA_OP_PARALLELISM_THREADS")


def problems(argv: list[str], env: dict[str, str]) -> list[str]:
    """Reasons not to start, each with what to do instead."""
    found = []
    command = argv[0] if argv else ""
    protected = {"--jwt-secret", "--auth-token"} & set(argv) or env.get("RASA_JWT_SECRET")
    if "--enable-api" in argv and not protected:
        found.append(
            "--enable-api opens Rasa's HTTP API (conversations, model, tracker "
            "edits): set RASA_JWT_SECRET (or pass --jwt-secret) to protect it"
        )
    workers = env.get("SANIC_WORKERS", "1").strip() or "1"
    if workers != "1" and not env.get("LOCK_STORE_URL", "").strip():
        found.append(
            f"SANIC_WORKERS={workers} needs a shared lock store: set LOCK_STORE_URL "
            "(redis://...) or SANIC_WORKERS=1"
        )
    if command in SERVING_COMMANDS:
        from rasa_server.forget import retention_settings

        try:
            retention_settings(env)
        except ValueError as error:
            found.append(f"{error} (RETENTION_DAYS=0 turns the retention policy off)")
    if command in SERVING_COMMANDS and not env.get("ACTION_SERVER_TOKEN", "").strip():
        found.append(
            "ACTION_SERVER_TOKEN is not set: the action server only answers requests "
            "carrying it (`make run` generates one for local use)"
        )
    return found


def prepared_argv(argv: list[str], env: dict[str, str]) -> list[str]:
    """Rasa's argv, with the JWT settings added from RASA_JWT_SECRET when the API is on."""
    args = list(argv)
    if "--enable-api" in args and "--jwt-secret" not in args and env.get("RASA_JWT_SECRET"):
        args += ["--jwt-secret", env["RASA_JWT_SECRET"], "--jwt-method", "HS256"]
    return args


def apply_defaults(argv: list[str], env) -> None:
    """Settings endpoints.yml cannot default; an operator's own values win."""
    env.setdefault("ACTION_SERVER_URL", DEFAULT_ACTION_SERVER_URL)
    if "--enable-api" not in argv:
        # Sanic's default (100 MB) applies to socket.io long-polling too; model uploads
        # through the HTTP API need more, so only without it.
        env.setdefault("SANIC_REQUEST_MAX_SIZE", str(REQUEST_MAX_BYTES))
    # Slow clients: a request (line, headers and a body Sanic reads) must arrive within
    # REQUEST_TIMEOUT_S (Sanic's default is 60 s per connection); a websocket frame may not
    # exceed a socket.io message's limit (engineio checks only after Sanic buffered up to
    # 1 MB). The REST body, read by the channel, has its own deadline
    # (rasa_server/channels/rest.py).
    env.setdefault("SANIC_REQUEST_TIMEOUT", str(REQUEST_TIMEOUT_S))
    env.setdefault("SANIC_WEBSOCKET_MAX_SIZE", str(WEBSOCKET_MAX_BYTES))
    from rasa_server.forget import DEFAULT_RETENTION_DAYS, RETENTION_DAYS_ENV

    env.setdefault(RETENTION_DAYS_ENV, f"{DEFAULT_RETENTION_DAYS:g}")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # DIET's per-message graph is tiny: one TensorFlow thread spends less CPU than
    # a pool handing work between threads (measured: docs/performance-history.md,
    # item 9). One Rasa process per core anyway.
    for name in TF_THREAD_VARIABLES:
        env.setdefault(name, "1")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ
    found = problems(argv, env)
    if found:
        for problem in found:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    apply_defaults(argv, env)
    # Conversations hold health data: every file this process creates (the SQLite tracker
    # and its -wal/-shm, logs) is its user's alone, whatever umask it was started with.
    os.umask(0o077)
    if str(PROJECT_ROOT) not in sys.path:
        # endpoints.yml names rasa_server.stores; without this Rasa would fall
        # back to an in-memory tracker store and lose conversations on restart.
        sys.path.insert(0, str(PROJECT_ROOT))

    from rasa_server import quiet

    quiet.install()  # before Rasa, SQLAlchemy and TensorFlow are imported

    from rasa_server import patches

    try:
        patches.install(env)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *prepared_argv(argv, env)]
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
