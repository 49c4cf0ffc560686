"""Load ``knowledge/kb.json`` once per process and check it against the article.

A missing, corrupt or stale file stops start-up with one line that says how to
rebuild it, instead of a traceback or, worse, a quote that is not in the article.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from b12core.kb.build import ARTICLE_PATH, FORMAT_VERSION, KB_PATH
from b12core.kb.passages import KINDS, Passage

REBUILD_HINT = "run `make kb` to rebuild it"


class KBError(RuntimeError):
    """The knowledge base cannot be used; the message is one line for the operator."""


@dataclass(frozen=True)
class KBData:
    title: str
    passages: tuple[Passage, ...]


def _fail(path: Path, problem: str) -> KBError:
    return KBError(f"{path} {problem}: {REBUILD_HINT}")


def read_kb(kb_path: Path = KB_PATH, article_path: Path = ARTICLE_PATH) -> KBData:
    """Read and validate; every passage must be verbatim at its offsets in the article."""
    try:
        raw = kb_path.read_bytes()
    except FileNotFoundError:
        raise _fail(kb_path, "is missing") from None
    except OSError as exc:
        raise _fail(kb_path, f"cannot be read ({exc.strerror})") from None
    try:
        article = article_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KBError(f"{article_path} cannot be read ({exc.strerror})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
        if data.get("format_version") != FORMAT_VERSION:
            raise _fail(kb_path, f"has format {data.get('format_version')!r}, not {FORMAT_VERSION}")
        passages = tuple(Passage.from_json(p) for p in data["passages"])
        title = str(data["title"])
    except KBError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _fail(kb_path, f"is corrupt ({type(exc).__name__})") from None
    if data.get("article_sha256") != hashlib.sha256(article.encode("utf-8")).hexdigest():
        raise _fail(kb_path, "is stale (knowledge/article.md has changed)")
    if not passages:
        raise _fail(kb_path, "has no passages")
    seen = set()
    for p in passages:
        spans = [(p.text, p.start, p.end), *((c.text, c.start, c.end) for c in p.cells)]
        if p.kind not in KINDS or p.passage_id in seen or not p.text:
            raise _fail(kb_path, f"is corrupt (passage {p.passage_id!r})")
        if any(article[start:end] != text for text, start, end in spans):
            raise _fail(kb_path, f"is corrupt (passage {p.passage_id!r} is not verbatim)")
        seen.add(p.passage_id)
    return KBData(title=title, passages=passages)
