"""Topic intent -> curated passages (``knowledge/topic_quotes.yml``), checked against the KB."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from b12core.knowledge import KNOWLEDGE_DIR, read_yaml

TOPICS_PATH = KNOWLEDGE_DIR / "topic_quotes.yml"


def read_topics(kb, path: Path = TOPICS_PATH) -> dict[str, tuple]:
    """Passages per intent, each with what it leans on (knowledge/passage_links.yml); a
    malformed row or an unknown passage id fails loudly."""
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of intent -> passage ids")
    topics = {}
    for intent, ids in data.items():
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise ValueError(f"{path}: '{intent}' must list one or more passage ids")
        try:
            # Whole, as every quote is: with the sentences a passage leans on.
            topics[str(intent)] = kb.whole(kb.passage(i) for i in ids)
        except KeyError as exc:
            raise ValueError(f"{path}: '{intent}' names unknown passage {exc}") from None
    return topics


@lru_cache(maxsize=1)
def load_topics() -> dict[str, tuple]:
    from b12core.kb import load_kb

    return read_topics(load_kb())
