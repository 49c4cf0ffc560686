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
from itertools import pairwise
from pathlib import Path

from b12core.kb.passages import Passage
from b12core.knowledge import KNOWLEDGE_DIR, read_yaml

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
    data = read_yaml(path)
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
        self._letters = None  # letter counts of the vocabulary, made on first use
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
        # The fitted weights as plain dicts: a question is a handful of terms, and scoring
        # 29 passages by hand is far cheaper than a sparse transform and two products.
        self._idf = dict(zip(self._vectorizer.get_feature_names_out().tolist(),
                             self._vectorizer.idf_.tolist(), strict=True))
        self._passage_weights = _row_weights(self._matrix, self._vectorizer)
        self._section_weights = _row_weights(self._section_matrix, self._vectorizer)
        # The idf a term seen in no passage would get (smooth idf, df = 0).
        smooth_idf = math.log(1 + len(docs) + len(section_docs)) + 1.0
        self._oov_idf = smooth_idf * config.unknown_word_weight

    @property
    def question_words(self) -> frozenset[str]:
        return self._config.question_words

    def knows(self, term: str) -> bool:
        """The term is one of the article's (after synonym folding)."""
        return term in self._idf

    def lemmas(self, text: str) -> list[str]:
        # The lookup table is keyed by lowercase forms ("Supplements" has no entry).
        return _doc_lemmas(self._nlp(text.lower()))

    def lemmas_of_many(self, texts) -> dict[str, list[str]]:
        """Lemmas of many short texts (start-up: the answer index's 800 words): the
        tokenizer and the lookup table the lemmatizer reads, without a Doc pipeline per
        word (a fifth of the time; tests/b12core/kb/test_answer.py checks they agree)."""
        texts = list(dict.fromkeys(texts))
        try:
            table = self._nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
        except (KeyError, ValueError):
            return {text: self.lemmas(text) for text in texts}
        out = {}
        for text in texts:
            out[text] = [table.get(t.lower_, t.lower_).lower()
                         for t in self._nlp.tokenizer(text.lower())
                         if not (t.is_punct or t.is_space) or t.text == "-"]
        return out

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

    def terms(self, text: str, lemmas: list[str] | None = None) -> list[str]:
        """Lemmas with synonyms folded to their canonical term and stop words dropped
        (``lemmas``: the text's lemmas when the caller has them already)."""
        from spacy.lang.en.stop_words import STOP_WORDS

        lemmas = [t for t in (self.lemmas(text) if lemmas is None else lemmas) if t != "-"]
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
        # difflib.get_close_matches(term, vocabulary, n=1, cutoff) with its two upper
        # bounds (2 * shorter / both lengths, then shared letters) computed for every word
        # at once from a letter-count table: the same answer, a SequenceMatcher only for
        # the few words that can reach the cutoff.
        import numpy as np

        chars, table, lengths = self._letter_table
        counts = np.zeros(len(chars), dtype=np.int32)
        for ch in term:
            if ch in chars:
                counts[chars[ch]] += 1
        both = lengths + len(term)
        shared = np.minimum(table, counts).sum(axis=1)
        bound = np.minimum(lengths, len(term))
        candidates = np.nonzero((2.0 * bound / both >= _FUZZY_CUTOFF)
                                & (2.0 * shared / both >= _FUZZY_CUTOFF))[0]
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(term)
        best: tuple[float, str] | None = None
        for index in candidates.tolist():
            word = self._vocabulary[index]
            matcher.set_seq1(word)
            ratio = matcher.ratio()
            if ratio >= _FUZZY_CUTOFF and (best is None or (ratio, word) > best):
                best = (ratio, word)
        return best[1] if best else term

    @property
    def _letter_table(self):
        if self._letters is None:
            import numpy as np

            chars = {ch: i for i, ch in enumerate(sorted({c for w in self._vocabulary for c in w}))}
            table = np.zeros((len(self._vocabulary), len(chars)), dtype=np.int32)
            for row, word in enumerate(self._vocabulary):
                for ch in word:
                    table[row, chars[ch]] += 1
            lengths = np.array([len(w) for w in self._vocabulary], dtype=np.int32)
            self._letters = (chars, table, lengths)
        return self._letters

    def query_terms(self, question: str, lemmas: list[str] | None = None) -> list[str]:
        vocab = self._vectorizer.vocabulary_
        terms = self.terms(question, lemmas)
        if all(t in vocab for t in terms):
            return terms
        # Correct misspellings, then fold synonyms again ("supervison" -> "supervision").
        corrected = " ".join(t if t in vocab else self._correct(t) for t in terms)
        return self.terms(corrected)

    def scores(self, terms: list[str]) -> list[float]:
        """Each passage's similarity to the question's terms (0 for no terms): the same
        sublinear, l2-normalised TF-IDF cosine the vectorizer computes."""
        counts: dict[str, int] = {}
        for t in terms:
            if t in self._idf:
                counts[t] = counts.get(t, 0) + 1
        if not counts:
            return [0.0] * len(self._passages)
        query = {t: (1.0 + math.log(n)) * self._idf[t] for t, n in counts.items()}
        norm = math.sqrt(sum(w * w for w in query.values()))
        query = {t: w / norm for t, w in query.items()}
        sections = [sum(w * row.get(t, 0.0) for t, w in query.items())
                    for row in self._section_weights]
        weight = self._config.section_weight
        share = self._known_share(list(terms))
        return [
            ((1 - weight) * sum(w * row.get(t, 0.0) for t, w in query.items())
             + weight * sections[self._section_of[i]]) * share
            for i, row in enumerate(self._passage_weights)
        ]

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
        counts: dict[str, int] = {}
        for t in terms:
            counts[t] = counts.get(t, 0) + 1
        known = total = 0.0
        for term, n in counts.items():
            weight = (1.0 + math.log(n)) * self._idf.get(term, self._oov_idf)
            total += weight * weight
            if term in self._idf:
                known += weight * weight
        return math.sqrt(known / total) if total else 0.0


def _doc_lemmas(doc) -> list[str]:
    return [(t.lemma_ or t.lower_).lower() for t in doc
            if not (t.is_punct or t.is_space) or t.text == "-"]


def _identity(terms: list[str]) -> list[str]:
    return terms


def _row_weights(matrix, vectorizer) -> list[dict[str, float]]:
    names = vectorizer.get_feature_names_out().tolist()
    csr = matrix.tocsr()
    indices, data, bounds = csr.indices.tolist(), csr.data.tolist(), csr.indptr.tolist()
    return [{names[indices[k]]: data[k] for k in range(start, end)}
            for start, end in pairwise(bounds)]
