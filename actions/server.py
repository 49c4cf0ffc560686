"""Start the action server: ``python -m actions.server [--port 5055]``.

Loads the knowledge base before listening, so a missing or corrupt ``kb.json``
stops start-up with one line instead of failing in front of a patient; binds to
loopback unless SANIC_HOST says otherwise (only the Rasa server should reach it).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from actions.runtime import block_tensorflow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions.server")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_SERVER_PORT", 5055)))
    args = parser.parse_args(argv)
    block_tensorflow()
    os.environ.setdefault("SANIC_HOST", "127.0.0.1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from actions.kb import KBError, load_kb
    from actions.kb.topics import load_topics

    try:
        load_kb()
        load_topics()
    except (KBError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    from rasa_sdk.endpoint import run

    run("actions", port=args.port, cors_origins=[])
    return 0


if __name__ == "__main__":
    sys.exit(main())
