"""Answer a question only with a passage that says what was asked, whole, or say "not here".

The TF-IDF search alone finds passages that share words with a question, which is not
the same as answering it: "what is NASH" shares "NASH" with a passage that never defines
it. ``knowledge/answer_index.yml`` says, passage by passage, which questions it answers
(the kind of question and the concepts it must name); a question no passage answers is
"not covered". What is shown is expanded by ``knowledge/passage_links.yml`` so no quote
leans on a sentence that is not shown. Pure: no rasa imports.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from b12core.kb.passages import Passage
from b12core.knowledge import KNOWLEDGE_DIR, read_yaml

INDEX_PATH = KNOWLEDGE_DIR / "answer_index.yml"
LINKS_PATH = KNOWLEDGE_DIR / "passage_links.yml"
QUESTION_TYPES = ("definition", "definition_always", "why", "compare")
ASK_KINDS = ("definition", "why", "compare", "any")
# A second passage is shown only when it answers as specifically and scores nearly as well.
SECOND_PASSAGE_SHARE = 0.8
_NON_WORD = re.compile(r"[^\w\s.'/-]+")

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Facet:
    passage_id: str
    ask: frozenset[str]
    about: tuple[str, ...]
    not_: frozenset[str]
    in_order: bool


@dataclass(frozen=True)
class Answer:
    """``passages``: what to quote, in order, each group whole; empty when not covered."""

    question: str
    kind: str  # definition / why / compare / any
    covered: bool
    passages: tuple[Passage, ...]
    answering: tuple[str, ...]  # the passage ids that answer (before expansion)
    closest: tuple[Passage, ...]  # the nearest passages by wording, for topic suggestions
    understood: bool  # the question uses a word of the article (else: please rephrase)


@dataclass(frozen=True)
class PassageLinks:
    needs_before: dict[str, tuple[str, ...]]
    needs_after: dict[str, tuple[str, ...]]
    needs_with: dict[str, tuple[str, ...]]

    def expand(self, ids, order: dict[str, int]) -> tuple[str, ...]:
        """The ids with everything each needs, deduplicated, in the article's order within
        each group; groups keep the order of ``ids`` (the best answer first)."""
        shown: list[str] = []
        for passage_id in ids:
            if passage_id in shown:
                continue
            group = self._closure(passage_id)
            shown.extend(sorted((g for g in group if g not in shown), key=order.__getitem__))
        return tuple(shown)

    def _closure(self, passage_id: str) -> set[str]:
        group, todo = set(), [passage_id]
        while todo:
            current = todo.pop()
            if current in group:
                continue
            group.add(current)
            for table in (self.needs_before, self.needs_after, self.needs_with):
                todo.extend(table.get(current, ()))
        return group


def _load_yaml(path: Path):
    return read_yaml(path, ValueError) or {}


def read_links(path: Path = LINKS_PATH, known: set[str] | None = None) -> PassageLinks:
    data = _load_yaml(path)
    tables = {}
    for name in ("needs_before", "needs_after", "needs_with"):
        table = data.get(name) or {}
        if not isinstance(table, dict):
            raise ValueError(f"{path}: {name} must map passage ids to lists")
        tables[name] = {str(k): tuple(str(v) for v in vs) for k, vs in table.items()}
        if known is not None:
            for key, values in tables[name].items():
                unknown = {key, *values} - known
                if unknown:
                    raise ValueError(f"{path}: {name} names unknown passages {sorted(unknown)}")
    return PassageLinks(**tables)


@dataclass(frozen=True)
class AnswerIndex:
    question_types: dict[str, tuple[str, ...]]
    concepts: dict[str, tuple[tuple[str, ...], ...]]  # concept -> word forms (lemma tuples)
    raw_concepts: frozenset[str]
    outside: frozenset[str]  # concepts the article says nothing about
    facets: tuple[Facet, ...]
    # Concepts the article covers alone but not together (a child's dose: it gives adults').
    outside_pairs: tuple[frozenset[str], ...] = ()
    # Words with a one-letter word ("vitamin e"), matched on the question's own words only:
    # lemmas turn "e" into "have" and "as" into "a" ("vitamins as well" is not vitamin A).
    letter_forms: frozenset[tuple[str, tuple[str, ...]]] = frozenset()
    # Said in passing but not asked about ("i dont drink"): left out before reading, so a
    # denied subject does not put the question outside the article.
    not_asked: re.Pattern | None = None


def read_index(searcher, known: set[str], path: Path = INDEX_PATH) -> AnswerIndex:
    """The index, with concept words turned into the lemma forms questions are read in."""
    data = _load_yaml(path)
    try:
        types = {k: tuple(_plain(c) for c in v) for k, v in data["question_types"].items()}
        concepts = {}
        letters: set[tuple[str, tuple[str, ...]]] = set()
        lemmas = searcher.lemmas_of_many(
            str(w) for words in data["concepts"].values() for w in words)
        for name, words in data["concepts"].items():
            # Lemmas only: the question is read both as lemmas and with the synonym table
            # folded in, so "raised" reaches "elevated"; folding the concept words too
            # would turn "methylcobalamin" (outside the article) into "b12".
            forms = set()
            for word in words:  # a word's own lemma can differ ("shot" alone -> "shoot")
                raw_form = tuple(str(word).lower().replace("-", " ").split())
                if any(len(t) == 1 and t.isalpha() for t in raw_form):
                    letters.add((str(name), raw_form))
                    continue
                forms.add(tuple(t for t in lemmas[str(word)] if t != "-"))
                forms.add(raw_form)
            concepts[str(name)] = tuple(sorted(f for f in forms if f))
        raw = frozenset(data.get("raw_concepts", ()))
        outside = frozenset(data.get("outside_concepts", ()))
        pairs = tuple(frozenset(map(str, pair)) for pair in data.get("outside_pairs", ()))
        said = sorted({_plain(p) for p in data.get("not_asked", ())}, key=len, reverse=True)
        alternatives = "|".join(map(re.escape, said))
        not_asked = re.compile(rf"\b(?:{alternatives})\b") if said else None
        facets = []
        for passage_id, rows in data["facets"].items():
            for row in rows:
                facets.append(Facet(
                    passage_id=str(passage_id),
                    ask=frozenset(row["ask"]),
                    about=tuple(row["about"]),
                    not_=frozenset(row.get("not", ())),
                    in_order=bool(row.get("in_order", False)),
                ))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: malformed answer index ({exc!r})") from None
    for facet in facets:
        if facet.passage_id not in known:
            raise ValueError(f"{path}: unknown passage {facet.passage_id}")
        undefined = (set(facet.about) | facet.not_) - set(concepts)
        if undefined:
            raise ValueError(f"{path}: {facet.passage_id} names undefined {sorted(undefined)}")
        if not facet.about or not facet.ask <= set(ASK_KINDS):
            raise ValueError(f"{path}: {facet.passage_id} needs concepts and known kinds")
    if set(types) != set(QUESTION_TYPES):
        raise ValueError(f"{path}: question_types must be {QUESTION_TYPES}")
    if not (raw | outside | set().union(*pairs)) <= set(concepts):
        raise ValueError(f"{path}: raw_concepts, outside_concepts and outside_pairs must be "
                         "defined concepts")
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"{path}: each of outside_pairs names two concepts")
    return AnswerIndex(types, concepts, raw, outside, tuple(facets), pairs, frozenset(letters),
                       not_asked)


def _plain(text: str) -> str:
    """Lower-case words separated by single spaces, as cues are matched."""
    text = unicodedata.normalize("NFKC", str(text)).lower().replace("’", "'")
    return " ".join(_NON_WORD.sub(" ", text).replace("?", " ").split())


@dataclass(frozen=True)
class _Reading:
    text: str  # _plain form
    lemmas: tuple[str, ...]
    terms: tuple[str, ...]


class Answerer:
    """Which passages answer a question: facets first, TF-IDF only to order them."""

    def __init__(self, passages: tuple[Passage, ...], searcher, index: AnswerIndex,
                 links: PassageLinks) -> None:
        self._list = passages
        self._passages = {p.passage_id: p for p in passages}
        self._order = {p.passage_id: i for i, p in enumerate(passages)}
        self._searcher = searcher
        self._index = index
        self._links = links
        # A concept few rows need is more telling than one most rows need ("healthy" beats
        # "liver" when both rows name as many concepts): log inverse row frequency.
        used = Counter(c for f in index.facets for c in set(f.about))
        self._rarity = {c: math.log(len(index.facets) / n) for c, n in used.items()}
        # Concept forms by their first word, so a question is scanned once.
        self._forms_at: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for name, forms in index.concepts.items():
            for form in forms:
                self._forms_at.setdefault(form[0], []).append((name, form))
        self._letter_forms_at: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for name, form in index.letter_forms:
            self._letter_forms_at.setdefault(form[0], []).append((name, form))
        self._named_by = {}  # one word -> the concepts it names on its own
        for name, forms in index.concepts.items():
            for form in forms:
                if len(form) == 1:
                    self._named_by.setdefault(form[0], set()).add(name)

    def expand(self, passages) -> tuple[Passage, ...]:
        """Passages with what they lean on (curated answers and findings use this too)."""
        ids = self._links.expand([p.passage_id for p in passages], self._order)
        return tuple(self._passages[i] for i in ids)

    def answer(self, question: str) -> Answer:
        reading = self._read(question)
        present = self._concepts(reading)
        kind = self._kind(reading, present)
        outside = self._index.outside & set(present) or any(
            pair <= set(present) for pair in self._index.outside_pairs)
        matches = [] if outside else [
            f for f in self._index.facets if self._holds(f, kind, present)]
        scores = self._searcher.scores(reading.terms)
        closest = tuple(self._list[i] for i in self._searcher.ranked(scores, 3))
        if not matches:
            # "I'm confused", "who won the game": nothing of the article named, so ask
            # again rather than say the article does not cover it.
            understood = any(self._searcher.knows(t) for t in reading.terms)
            return Answer(question, kind, False, (), (), closest, understood)
        by_passage: dict[str, tuple] = {}
        for facet in matches:
            rarity = sum(self._rarity[c] for c in facet.about)
            asked = int(kind in facet.ask)  # a row made for this kind of question first
            key = (asked, len(facet.about), round(rarity, 6),
                   scores[self._order[facet.passage_id]])
            by_passage[facet.passage_id] = max(by_passage.get(facet.passage_id, key), key)
        ranked = sorted(by_passage, key=lambda p: (*(-x for x in by_passage[p]),
                                                   self._order[p]))
        best = ranked[0]
        chosen = [best]
        first_group = set(self._links.expand([best], self._order))
        for other in ranked[1:]:
            if other in first_group:
                continue
            same_depth = by_passage[other][:3] == by_passage[best][:3]
            near = by_passage[other][3] >= SECOND_PASSAGE_SHARE * by_passage[best][3]
            if same_depth and near:
                chosen.append(other)
            break
        shown = self.expand(self._passages[p] for p in chosen)
        return Answer(question, kind, True, shown, tuple(chosen), closest, True)

    def _read(self, question: str) -> _Reading:
        if self._index.not_asked is not None and self._index.not_asked.search(_plain(question)):
            question = self._index.not_asked.sub(" ", _plain(question))
        every = self._searcher.lemmas(question)
        terms = tuple(self._searcher.query_terms(question, every))
        return _Reading(_plain(question), tuple(t for t in every if t != "-"), terms)

    def _concepts(self, reading: _Reading) -> dict[str, int]:
        """Concept -> position of its first word in the question (for in_order facets)."""
        present: dict[str, float] = {}
        words = tuple(_WORD.findall(reading.text))
        for folded, sequence, table in ((False, reading.lemmas, self._forms_at),
                                        (True, reading.terms, self._forms_at),
                                        (False, words, self._letter_forms_at)):
            size = len(sequence)
            for i, word in enumerate(sequence):
                for name, form in table.get(word, ()):
                    if folded and name in self._index.raw_concepts:
                        continue
                    if sequence[i : i + len(form)] == form:
                        # positions in the two sequences differ; compare by share of length
                        place = i / size
                        if place < present.get(name, 2.0):
                            present[name] = place
        return present

    def _kind(self, reading: _Reading, present: dict[str, int]) -> str:
        padded = f" {reading.text} "
        cues = self._index.question_types
        if any(f" {c} " in padded for c in cues["why"]):
            return "why"
        if any(f" {c} " in padded for c in cues["definition_always"]):
            return "definition"
        if any(f" {c} " in padded for c in cues["definition"]) and self._naming_words(
                reading) <= 1:
            return "definition"
        if any(f" {c} " in padded for c in cues["compare"]):
            return "compare"
        return "any"

    def _naming_words(self, reading: _Reading) -> int:
        """How many things the question names: concepts its words name, counting as one
        the concepts a single word names together ("masld": a name and a liver disease)
        and the words that name one concept ("preclinical ... mice": research)."""
        from spacy.lang.en.stop_words import STOP_WORDS

        groups: list[set[str]] = []
        for lemma in set(reading.lemmas) | set(reading.terms):
            if lemma in STOP_WORDS:
                continue
            named = set(self._named_by.get(lemma, ()))
            if not named:
                continue
            joined = [g for g in groups if g & named]
            for g in joined:
                groups.remove(g)
                named |= g
            groups.append(named)
        return len(groups)

    @staticmethod
    def _holds(facet: Facet, kind: str, present: dict[str, int]) -> bool:
        # Definitions and reasons need a passage that gives them; a comparison may be
        # answered by a passage that states the difference without the word "better".
        if kind not in facet.ask and not (kind == "compare" and "any" in facet.ask):
            return False
        if any(c not in present for c in facet.about) or any(c in present for c in facet.not_):
            return False
        if facet.in_order:
            places = [present[c] for c in facet.about]
            return places == sorted(places)
        return True
