"""Command line: ``python -m b12core.labs "TEXT" [--condition ...] [--json]``.

Reads TEXT (or standard input when TEXT is "-"), prints the interpretation, and never a
traceback: unusable input gives an error report and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from b12core.labs.models import CONDITIONS
from b12core.runtime import block_tensorflow

EXIT_OK = 0
EXIT_NO_RESULT = 2
EXIT_BROKEN = 1
MAX_STDIN_BYTES = 1_000_000


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m b12core.labs",
        description="Interpret vitamin B12, homocysteine, MMA and folate results in a message.",
    )
    parser.add_argument("text", help='the message, e.g. "B12 480 pmol/L", or - to read stdin')
    parser.add_argument(
        "--condition",
        choices=CONDITIONS,
        default=None,
        help="liver condition; overrides the text (default: read from the text, else unknown)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def _read_stdin() -> str:
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    return data.decode("utf-8", errors="replace")


def _emit(text: str) -> None:
    """Print whatever the terminal's encoding, rather than fail on a µ."""
    stream = sys.stdout
    encoding = getattr(stream, "encoding", None) or "utf-8"
    stream.write(text.encode(encoding, errors="replace").decode(encoding) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    # spaCy's thinc imports TensorFlow when installed; this command never uses it.
    block_tensorflow()
    try:
        from b12core.disclaimer import short_disclaimer
        from b12core.labs import interpret_text
        from b12core.labs.report import to_dict, to_text

        text = _read_stdin() if args.text == "-" else args.text
        interpretation = interpret_text(text, condition=args.condition)
        disclaimer = short_disclaimer()
        if args.json:
            output = json.dumps(to_dict(interpretation, disclaimer), ensure_ascii=False)
        else:
            output = to_text(interpretation, disclaimer)
    except Exception as exc:  # a broken data file or bug: one line, not a traceback
        print(f"b12core.labs: cannot interpret ({type(exc).__name__}: {exc})", file=sys.stderr)
        return EXIT_BROKEN
    _emit(output)
    return EXIT_OK if interpretation.values else EXIT_NO_RESULT


if __name__ == "__main__":
    sys.exit(main())
