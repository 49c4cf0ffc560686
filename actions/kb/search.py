"""Lexical retrieval over spaCy lemmas: TF-IDF (scikit-learn) with a domain synonym table.

Deterministic and explainable: a passage ranks high because it shares rare
lemmas with the question. Below the coverage threshold we say the article does
not cover the question rather than show a weak match.
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from actions.kb.build import KNOWLEDGE_DIR
from actions.kb.passages import Passage

RETRIEVAL_PATH = KNOWLEDGE_DIR / "retrieval.yml"
MAX_QUESTION_CHARS = 2000
# Misspelt words are mapped to the nearest article word only when this close.
_FUZZY_CUTOFF = 0.84
_FUZZY_MIN_LEN = 5


class QuestionError(ValueError):
    """A question we cannot search; ``code`` is stable, the message is for a patient."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SearchResult:
    passage: Passage
    score: float
    matched_terms: tuple[str, ...]


@dataclass(frozen=True)
class SearchResponse:
    query: str
    covered: bool
    results: tuple[SearchResult, ...]


@dataclass(frozen=True)
class RetrievalConfig:
    min_score: float
    section_weight: float
    unknown_word_weight: float
    min_known_share: float
    question_words: frozenset[str]
    synonyms: dict[str, tuple[str, ...]]


def load_retrieval_config(path: Path = RETRIEVAL_PATH) -> RetrievalConfig:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        coverage = data["coverage"]
        min_score = float(coverage["min_score"])
        section_weight = float(data["ranking"]["section_weight"])
        unknown_word_weight = float(data["ranking"]["unknown_word_weight"])
        min_known_share = float(coverage["min_known_share"])
        question_words = frozenset(str(t).lower() for t in data.get("question_words", ()))
        synonyms = {
            str(canonical).lower(): tuple(str(v).lower() for v in variants)
            for canonical, variants in data["synonyms"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: malformed retrieval settings ({exc})") from None
    if not 0.0 < min_score < 1.0:
        raise ValueError(f"{path}: coverage.min_score must be between 0 and 1")
    return RetrievalConfig(
        min_score=min_score,
        section_weight=section_weight,
        unknown_word_weight=unknown_word_weight,
        min_known_share=min_known_share,
        question_words=question_words, synonyms=synonyms)


def clean_question(question: object) -> str:
    """The question as searchable text, or a QuestionError a patient can act on."""
    if isinstance(question, bytes):
        try:
            question = question.decode("utf-8")
        except UnicodeDecodeError:
            raise QuestionError(
                "unreadable", "I could not read that message. Please type your question as text."
            ) from None
    if not isinstance(question, str):
        raise QuestionError("unreadable", "Please type your question as text.")
    # Lone surrogates arrive from undecodable command-line bytes.
    text = question.encode("utf-8", "replace").decode("utf-8")
    printable = sum(1 for ch in text if ch.isprintable() or ch.isspace())
    if text and printable / len(text) < 0.9:
        raise QuestionError(
            "unreadable", "I could not read that message. Please type your question as text."
        )
    text = " ".join(text.split())
    if not text:
        raise QuestionError("empty", "Please type a question, for example: why is my B12 high?")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(
            "too_long",
            f"That message is too long for me ({len(text)} characters). "
            f"Please ask one question in under {MAX_QUESTION_CHARS} characters.",
        )
    return unicodedata.normalize("NFKC", text)


class Searcher:
    """A TF-IDF index over the passages, built once when the KB loads."""

    def __init__(self, passages: tuple[Passage, ...], nlp, config: RetrievalConfig) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._passages = passages
        self._nlp = nlp
        self._config = config
        self._phrases = self._compile_synonyms(config.synonyms)
        self._max_phrase = max((len(p) for p in self._phrases), default=1)
        docs = [self.terms(p.text) for p in passages]
        sections = list(dict.fromkeys(p.section for p in passages))
        section_docs = [self.terms(title) for title in sections]
        for passage, doc in zip(passages, docs, strict=True):
            section_docs[sections.index(passage.section)].extend(doc)
        self._section_of = [sections.index(p.section) for p in passages]
        # Misspellings are corrected towards article words and synonym words alike.
        self._vocabulary = sorted(
            {t for doc in section_docs for t in doc}
            | {w for key in self._phrases for w in key if w.isalpha()}
        )
        self._vectorizer = TfidfVectorizer(
            analyzer=_identity, sublinear_tf=True, norm="l2", lowercase=False
        )
        self._vectorizer.fit(docs + section_docs)
        self._matrix = self._vectorizer.transform(docs)
        self._section_matrix = self._vectorizer.transform(section_docs)
        self._doc_terms = [frozenset(doc) for doc in docs]
        # The idf a term seen in no passage would get (smooth idf, df = 0).
        smooth_idf = math.log(1 + len(docs) + len(section_docs)) + 1.0
        self._oov_idf = smooth_idf * config.unknown_word_weight

    @property
    def question_words(self) -> frozenset[str]:
        return self._config.question_words

    def lemmas(self, text: str) -> list[str]:
        # The lookup table is keyed by lowercase forms ("Supplements" has no entry).
        doc = self._nlp(text.lower())
        return [
            (t.lemma_ or t.lower_).lower()
            for t in doc
            if not (t.is_punct or t.is_space) or t.text == "-"
        ]

    def _compile_synonyms(self, synonyms: dict[str, tuple[str, ...]]) -> dict[tuple, str]:
        phrases: dict[tuple, str] = {}
        for canonical, variants in synonyms.items():
            for variant in (canonical, *variants):
                # Key by lemmas: a variant's own lemma may differ ("shot" -> "shoot").
                words = variant.replace("-", " ").split()
                for key in (tuple(t for t in self.lemmas(variant) if t != "-"), tuple(words)):
                    if key:
                        phrases.setdefault(key, canonical)
        return phrases

    def terms(self, text: str) -> list[str]:
        """Lemmas with synonyms folded to their canonical term and stop words dropped."""
        from spacy.lang.en.stop_words import STOP_WORDS

        lemmas = [t for t in self.lemmas(text) if t != "-"]
        out: list[str] = []
        i = 0
        while i < len(lemmas):
            for size in range(min(self._max_phrase, len(lemmas) - i), 0, -1):
                canonical = self._phrases.get(tuple(lemmas[i : i + size]))
                if canonical is not None:
                    out.append(canonical)
                    i += size
                    break
            else:
                token = lemmas[i]
                i += 1
                if (
                    token not in STOP_WORDS
                    and token not in self._config.question_words
                    and any(ch.isalnum() for ch in token)
                ):
                    out.append(token)
        return out

    @lru_cache(maxsize=4096)  # noqa: B019 - one Searcher per process, bounded cache
    def _correct(self, term: str) -> str:
        """Nearest article word for a misspelling ("homocystien"), else the term itself."""
        if len(term) < _FUZZY_MIN_LEN or not term.isalpha():
            return term
        close = difflib.get_close_matches(term, self._vocabulary, n=1, cutoff=_FUZZY_CUTOFF)
        return close[0] if close else term

    def query_terms(self, question: str) -> list[str]:
        vocab = self._vectorizer.vocabulary_
        terms = self.terms(question)
        if all(t in vocab for t in terms):
            return terms
        # Correct misspellings, then fold synonyms again ("supervison" -> "supervision").
        corrected = " ".join(t if t in vocab else self._correct(t) for t in terms)
        return self.terms(corrected)

    def scores(self, terms: list[str]):
        """Each passage's similarity to the question's terms (0 for no terms)."""
        import numpy as np

        if not terms:
            return np.zeros(len(self._passages))
        query = self._vectorizer.transform([list(terms)]).T
        passage_scores = (self._matrix @ query).toarray().ravel()
        section_scores = (self._section_matrix @ query).toarray().ravel()[self._section_of]
        weight = self._config.section_weight
        scores = (1 - weight) * passage_scores + weight * section_scores
        return scores * self._known_share(list(terms))

    @staticmethod
    def ranked(scores, k: int) -> list[int]:
        """Passage indexes, best score first, then document order (stable)."""
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[: max(k, 1)]
        return [i for i in order if scores[i] > 0]

    def search(self, question: object, k: int = 3) -> SearchResponse:
        text = clean_question(question)
        terms = self.query_terms(text)
        if not terms:
            return SearchResponse(query=text, covered=False, results=())
        scores = self.scores(terms)
        known_share = self._known_share(terms)
        ranked = self.ranked(scores, k)
        query_set = set(terms)
        results = tuple(
            SearchResult(
                passage=self._passages[i],
                score=round(float(scores[i]), 6),
                matched_terms=tuple(sorted(query_set & self._doc_terms[i])),
            )
            for i in ranked
        )
        covered = (
            bool(results)
            and results[0].score >= self._config.min_score
            and known_share >= self._config.min_known_share
        )
        return SearchResponse(query=text, covered=covered, results=results)

    def _known_share(self, terms: list[str]) -> float:
        """Shrink scores by the weight of question words the article never uses.

        TF-IDF drops unknown words before normalising, so "is coffee good for the
        liver" would score like "liver" alone; counting unknown words as maximally
        rare keeps off-topic questions below the threshold.
        """
        vocab, idf = self._vectorizer.vocabulary_, self._vectorizer.idf_
        counts: dict[str, int] = {}
        for t in terms:
            counts[t] = counts.get(t, 0) + 1
        known = total = 0.0
        for term, n in counts.items():
            weight = (1.0 + math.log(n)) * (idf[vocab[term]] if term in vocab else self._oov_idf)
            total += weight * weight
            if term in vocab:
                known += weight * weight
        return math.sqrt(known / total) if total else 0.0


def _identity(terms: list[str]) -> list[str]:
    return terms
