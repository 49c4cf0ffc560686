"""Curated answers (``knowledge/topic_quotes.yml``), each defined once, checked against the KB.

A key names the passages quoted for it; a key with a ``title`` is also a topic a user can
pick (its intent, its button), and ``menu: true`` offers it when a question is not
understood.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from b12core.knowledge import KNOWLEDGE_DIR, read_yaml

TOPICS_PATH = KNOWLEDGE_DIR / "topic_quotes.yml"


@dataclass(frozen=True)
class TopicMenu:
    titles: dict[str, str]  # topic intent -> button title, in file order
    menu: tuple[str, ...]  # the topics offered when a question is not understood


def _rows(path: Path) -> dict[str, dict]:
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of intent -> curated answer")
    rows = {}
    for intent, row in data.items():
        ids = row.get("passages") if isinstance(row, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise ValueError(f"{path}: '{intent}' must list one or more passage ids")
        unknown = set(row) - {"title", "menu", "passages"}
        if unknown:
            raise ValueError(f"{path}: '{intent}' has unknown fields {sorted(unknown)}")
        title = row.get("title")
        if title is not None and (not isinstance(title, str) or not title.strip()):
            raise ValueError(f"{path}: '{intent}' needs a non-empty title")
        if row.get("menu") and title is None:
            raise ValueError(f"{path}: '{intent}' is on the menu without a title")
        rows[str(intent)] = row
    return rows


def read_topics(kb, path: Path = TOPICS_PATH) -> dict[str, tuple]:
    """Passages per intent, each with what it leans on (knowledge/passage_links.yml); a
    malformed row or an unknown passage id fails loudly."""
    topics = {}
    for intent, row in _rows(path).items():
        try:
            # Whole, as every quote is: with the sentences a passage leans on.
            topics[intent] = kb.whole(kb.passage(i) for i in row["passages"])
        except KeyError as exc:
            raise ValueError(f"{path}: '{intent}' names unknown passage {exc}") from None
    return topics


def read_topic_menu(path: Path = TOPICS_PATH) -> TopicMenu:
    rows = _rows(path)
    titles = {i: row["title"].strip() for i, row in rows.items() if row.get("title")}
    return TopicMenu(titles, tuple(i for i, row in rows.items() if row.get("menu")))


@lru_cache(maxsize=1)
def load_topics() -> dict[str, tuple]:
    from b12core.kb import load_kb

    return read_topics(load_kb())


@lru_cache(maxsize=1)
def load_topic_menu() -> TopicMenu:
    return read_topic_menu()
