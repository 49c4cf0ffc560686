"""Start the action server: ``python -m actions.server [--port 5055]``.

Loads the knowledge base before listening, so a missing or corrupt ``kb.json``
stops start-up with one line instead of failing in front of a patient; binds to
loopback unless SANIC_HOST says otherwise, and answers /webhook only with the
shared ACTION_SERVER_TOKEN (only the Rasa server should reach it).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys

from b12core.runtime import block_tensorflow

TOKEN_ENV = "ACTION_SERVER_TOKEN"
NEXT_TOKEN_ENV = "ACTION_SERVER_NEXT_TOKEN"


def preload() -> None:
    """Load and validate every data table now: a broken one stops the start, and no
    patient's message waits for a table to load (the first red flag did: ~100 ms)."""
    from b12core.kb import load_kb
    from b12core.kb.topics import load_topics
    from b12core.labs import warm_up
    from b12core.labs.findings import finding_catalogue
    from b12core.labs.questions import load_questions
    from b12core.labs.reference import reference_table
    from b12core.safety import load_triage_table
    from b12core.texts import texts

    load_kb()
    load_topics()
    load_triage_table()
    reference_table()
    finding_catalogue()
    load_questions()
    texts()
    warm_up()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions.server")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_SERVER_PORT", 5055)))
    args = parser.parse_args(argv)
    block_tensorflow()
    os.environ.setdefault("SANIC_HOST", "127.0.0.1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from b12core.kb import KBError

    try:
        preload()
    except (KBError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        print(f"error: set {TOKEN_ENV} (the Rasa server sends it; `make run` generates one)",
              file=sys.stderr)
        return 1

    from rasa_sdk import utils
    from rasa_sdk.endpoint import create_app

    app = create_app("actions", cors_origins=[])
    # A second accepted token lets operators rotate without downtime (docs/deploying.md).
    next_token = os.environ.get(NEXT_TOKEN_ENV, "").strip()
    app.register_middleware(token_guard(token, *([next_token] if next_token else [])), "request")
    # No access log: its only client is the Rasa server, and a line per action call
    # (two or three per message) cost about 6% of this server's CPU.
    app.run(os.environ["SANIC_HOST"], args.port, workers=utils.number_of_sanic_workers(),
            access_log=False)
    return 0


def token_guard(*tokens: str):
    """Sanic request middleware: everything but /health needs ``Bearer <one of tokens>``."""
    from sanic.response import json as json_response

    expected = [f"Bearer {token}".encode() for token in tokens]

    async def check(request):
        if request.path == "/health":
            return None
        given = (request.headers.get("Authorization") or "").encode()
        # Compare with every token, so timing does not tell which one nearly matched.
        matches = [hmac.compare_digest(given, candidate) for candidate in expected]
        if not any(matches):
            return json_response({"error": "unauthorised"}, status=401)
        return None

    return check


if __name__ == "__main__":
    sys.exit(main())
