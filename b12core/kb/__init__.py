"""The knowledge base: the article's passages, verbatim, and a search over them.

Pure (no rasa imports). ``load_kb()`` reads ``knowledge/kb.json`` and builds the
index once per process; everything the assistant quotes comes from here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from b12core.kb.answer import INDEX_PATH, LINKS_PATH, Answer, Answerer, read_index, read_links
from b12core.kb.build import ARTICLE_PATH, KB_PATH
from b12core.kb.passages import Cell, Passage
from b12core.kb.search import (
    RETRIEVAL_PATH,
    QuestionError,
    Searcher,
    SearchResponse,
    SearchResult,
    clean_question,
    load_retrieval_config,
)
from b12core.kb.store import KBError, read_kb

__all__ = [
    "Answer",
    "Cell",
    "KBError",
    "KnowledgeBase",
    "Passage",
    "QuestionError",
    "SearchResponse",
    "SearchResult",
    "load_kb",
]


class KnowledgeBase:
    """Passages by id, and ranked search; immutable once built."""

    def __init__(self, title: str, passages: tuple[Passage, ...], searcher: Searcher,
                 answerer: Answerer | None = None) -> None:
        self.title = title
        self.passages = passages
        self._by_id = {p.passage_id: p for p in passages}
        self._searcher = searcher
        self._answerer = answerer

    def passage(self, passage_id: str) -> Passage:
        return self._by_id[passage_id]

    def search(self, question: object, k: int = 3) -> SearchResponse:
        """Ranked passages, best first; raises QuestionError for unusable input."""
        return self._searcher.search(question, k)

    def answer(self, question: object) -> Answer:
        """The passages that answer the question, whole, or not covered (answer.py);
        raises QuestionError for unusable input."""
        if self._answerer is None:
            raise KBError("this knowledge base was opened without its answer index")
        return self._answerer.answer(clean_question(question))

    def whole(self, passages) -> tuple[Passage, ...]:
        """Passages with the sentences they lean on (knowledge/passage_links.yml)."""
        if self._answerer is None:
            return tuple(passages)
        return self._answerer.expand(tuple(passages))


def open_kb(
    kb_path: Path = KB_PATH,
    article_path: Path = ARTICLE_PATH,
    retrieval_path: Path = RETRIEVAL_PATH,
    nlp=None,
    index_path: Path | None = INDEX_PATH,
    links_path: Path = LINKS_PATH,
) -> KnowledgeBase:
    """A new KnowledgeBase from explicit paths (tests, tools); prefer ``load_kb()``."""
    data = read_kb(kb_path, article_path)
    if nlp is None:
        from b12core.spacy_model import load_pipeline

        nlp = load_pipeline(with_sentences=False)
    searcher = Searcher(data.passages, nlp, load_retrieval_config(retrieval_path))
    answerer = None
    if index_path is not None:
        known = {p.passage_id for p in data.passages}
        answerer = Answerer(data.passages, searcher, read_index(searcher, known, index_path),
                            read_links(links_path, known))
    return KnowledgeBase(data.title, data.passages, searcher, answerer)


@lru_cache(maxsize=1)
def load_kb() -> KnowledgeBase:
    """The project's knowledge base, loaded once per process."""
    return open_kb()
