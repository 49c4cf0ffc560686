"""Command line: ``python -m b12core.kb "QUESTION" [--json] [--search --k N]``, ``build``,
``--check``.

Operators and tests use it to see exactly what the assistant would quote (the answer:
the passages that answer, whole, or "not covered"); ``--search`` shows the word-similarity
ranking underneath, which only orders answers and picks the nearest topics.
Whatever the input, it prints an answer or one error line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from b12core.runtime import block_tensorflow

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m b12core.kb",
        description="Search the article's knowledge base, or rebuild it.",
    )
    parser.add_argument("question", nargs="?", help="a question, or 'build' to rebuild kb.json")
    parser.add_argument("--search", action="store_true",
                        help="show the word-similarity ranking instead of the answer")
    parser.add_argument("--k", type=int, default=3, help="with --search: passages (1-20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="load the KB and report")
    return parser


def _print_json(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")


def _response_json(response) -> dict:
    return {
        "query": response.query,
        "covered": response.covered,
        "results": [
            {
                "passage_id": r.passage.passage_id,
                "section": r.passage.section,
                "text": r.passage.text,
                "score": r.score,
            }
            for r in response.results
        ],
    }


def _answer_json(answer) -> dict:
    return {
        "query": answer.question,
        "covered": answer.covered,
        "kind": answer.kind,
        "passages": [
            {"passage_id": p.passage_id, "section": p.section, "text": p.text}
            for p in answer.passages
        ],
        "closest": [p.passage_id for p in answer.closest],
    }


def _print_answer(answer) -> None:
    from b12core.disclaimer import short_disclaimer

    if answer.covered:
        for passage in answer.passages:
            print(f'"{passage.text}"')
            print(f'  - from the article, section "{passage.section}"')
    else:
        _print_not_covered("Nearest passages by wording (they do not answer it):",
                           [f"  [{p.section}] {p.text[:80]}" for p in answer.closest])
    print(f"\n{short_disclaimer()}")


def _print_not_covered(heading: str, lines: list[str]) -> None:
    print("The article doesn't cover that. Please ask your doctor or clinician.")
    if lines:
        print(heading)
        print("\n".join(lines))


def _print_readable(response) -> None:
    from b12core.disclaimer import short_disclaimer

    if response.covered:
        best = response.results[0]
        print(f'"{best.passage.text}"')
        print(f"  - from the article, section \"{best.passage.section}\" (score {best.score:.3f})")
        for other in response.results[1:]:
            print(f'\nAlso: "{other.passage.text}"')
            print(f"  - section \"{other.passage.section}\" (score {other.score:.3f})")
    else:
        _print_not_covered("Closest passages (below the confidence threshold):", [
            f"  {r.score:.3f}  [{r.passage.section}] {r.passage.text[:80]}"
            for r in response.results])
    print(f"\n{short_disclaimer()}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    block_tensorflow()
    from b12core.kb import KBError, QuestionError, load_kb
    from b12core.kb.build import write_kb

    if args.question == "build":
        count = write_kb()
        print(f"knowledge/kb.json written: {count} passages")
        return EXIT_OK
    try:
        kb = load_kb()
    except (KBError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.check:
        print(f"knowledge base OK: {len(kb.passages)} passages from '{kb.title}'")
        return EXIT_OK
    if args.question is None:
        _parser().print_usage(sys.stderr)
        return EXIT_USAGE
    k = min(max(args.k, 1), 20)
    try:
        result = kb.search(args.question, k=k) if args.search else kb.answer(args.question)
    except QuestionError as exc:
        query = args.question.encode("utf-8", "replace").decode("utf-8")[:200]
        if args.json:
            _print_json(
                {
                    "query": query,
                    "covered": False,
                    "results" if args.search else "passages": [],
                    "error": {"code": exc.code, "message": str(exc)},
                }
            )
        else:
            print(str(exc))
        return EXIT_OK
    if args.search:
        _print_json(_response_json(result)) if args.json else _print_readable(result)
    else:
        _print_json(_answer_json(result)) if args.json else _print_answer(result)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
