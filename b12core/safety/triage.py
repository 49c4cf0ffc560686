"""Red-flag triage from ``knowledge/triage.yml``: deterministic, pure (no rasa import).

Runs on every user message (the NLU component RedFlagClassifier, the Rasa server's
dialogue guard and the action server all call ``triage``), so an emergency is never
left to a classifier's confidence. The table says which words mean what; this module
only reads words (spelling tolerant), finds the table's flags and weighs their context
(negated, past, a general question, mild), so the policy stays in one reviewable file.
"""

from __future__ import annotations

import bisect
import itertools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from pathlib import Path

from b12core.knowledge import knowledge_file, read_yaml

TRIAGE_PATH = knowledge_file("triage.yml")
MAX_TEXT_CHARS = 4_000
ENV_EMERGENCY = "B12_EMERGENCY_NUMBER"
ENV_CRISIS_LINE = "B12_CRISIS_LINE"
MAX_NUMBER_TEXT = 120

# Levels, most urgent first.
CRISIS, URGENT, SAFETY_NET, NONE = "crisis", "urgent", "safety_net", "none"
# Contexts of a finding.
PRESENT, QUESTION, MILD, PAST = "present", "question", "mild", "past"
REPLIES = (URGENT, CRISIS)
PUNCTUATION = frozenset(".,;:!?\n")
SENTENCE_END = frozenset(".!?\n")
MANY = "#many"
LEARNED = "learned"  # the flag and class of the learned detector's findings
LEARNED_CLASS_MIN = 0.5  # the learned detector's urgent or crisis class must reach this alone
MAX_SPELLING_CACHE = 20_000
MAX_SPLIT_LENGTH = 64  # longer "words" are not words run together
MAX_PART_LENGTH = 20
# The only one- and two-letter words a run-together message is split into.
SHORT_WORDS = frozenset({"i", "a", "im", "my", "me", "is", "it", "in", "on", "up", "of", "to",
                         "so", "no", "he", "go", "do", "an", "at", "or", "as", "be", "by", "we",
                         "us", "am", "ok", "rn"})
MANY_FROM = 8


class TriageTableError(ValueError):
    """knowledge/triage.yml is malformed (raised at load, naming the entry)."""


@dataclass(frozen=True)
class Flag:
    flag_id: str
    class_id: str
    groups: tuple[tuple[tuple[str, ...], ...], ...]
    window: int
    unless_clause: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class TriageClass:
    class_id: str
    label: str
    reply: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """One flag in one message, with the context it was said in."""

    flag_id: str
    class_id: str
    label: str
    reply: str
    context: str


@dataclass(frozen=True)
class Triage:
    """The verdict on one message: its level, and every finding behind it."""

    level: str
    findings: tuple[Finding, ...] = ()

    @property
    def urgent(self) -> bool:
        """Urgent or crisis: the reply that must come first, alone."""
        return self.level in (URGENT, CRISIS)


@dataclass(frozen=True)
class Messages:
    urgent: str
    crisis: str
    safety_net: str


@dataclass(frozen=True)
class TriageTable:
    classes: Mapping[str, TriageClass]
    flags: tuple[Flag, ...]
    sources: Mapping[str, str]
    ignore: tuple[tuple[str, ...], ...]
    question_words: frozenset[str]
    hypothetical: tuple[tuple[str, ...], ...]
    conditional: tuple[tuple[str, ...], ...]
    personal: frozenset[str]
    not_personal_after: frozenset[str]
    deixis: tuple[tuple[str, ...], ...]
    deixis_message: tuple[tuple[str, ...], ...]
    negation: tuple[tuple[str, ...], ...]
    negation_reach: int
    past: tuple[tuple[str, ...], ...]
    resolved: tuple[tuple[str, ...], ...]
    present: tuple[tuple[str, ...], ...]
    mild: tuple[tuple[str, ...], ...]
    mild_exempt: frozenset[str]
    clause_breaks: tuple[tuple[str, ...], ...]
    subjects: frozenset[str]
    pseudo_negation: frozenset[str]
    count_verbs: frozenset[str]
    count_nouns: frozenset[str]
    count_units: frozenset[str]
    templates: Mapping[str, str]
    learned_threshold: float
    vocabulary: frozenset[str]
    lemmas: Mapping[str, str]
    english: frozenset[str]
    # Built by _build from the lists above (see _Index).
    index: _Index = field(compare=False, repr=False, default=None)
    ignore_index: _Index = field(compare=False, repr=False, default=None)
    # First letter -> the table's words, for spelling correction.
    by_letter: Mapping[str, tuple[str, ...]] = field(compare=False, repr=False, default=None)
    # word -> its reading (_correction), filled as messages come; bounded.
    spelling: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False,
                                                 repr=False)

    def messages(self, environ: Mapping[str, str] | None = None) -> Messages:
        """The three texts with this deployment's numbers (environment, else the table's)."""
        environ = os.environ if environ is None else environ
        numbers = {
            "emergency": _number(environ.get(ENV_EMERGENCY), self.templates["emergency"]),
            "crisis_line": _number(environ.get(ENV_CRISIS_LINE), self.templates["crisis_line"]),
        }
        return Messages(*(self.templates[k].format(**numbers) for k in ("urgent", "crisis",
                                                                        "safety_net")))


def _number(value: str | None, default: str) -> str:
    """A configured number text, if it is one line of plain text; else the default."""
    if value is None:
        return default
    value = value.strip()
    if not value or len(value) > MAX_NUMBER_TEXT or not value.isprintable() or "{" in value:
        raise TriageTableError(f"{ENV_EMERGENCY}/{ENV_CRISIS_LINE}: one line of at most "
                               f"{MAX_NUMBER_TEXT} characters, no braces")
    return value


# ---------------------------------------------------------------------------- reading


def normalise(text: str) -> str:
    """Lowercase, one apostrophe style, then none ("don't" -> "dont"); "OD'd" spelled out."""
    text = text.lower()
    text = re.sub(r"[\u2018\u2019\u02bc`\u00b4]", "'", text)
    text = re.sub(r"\bod\s*'\s*d\b|\bod'ed\b", "overdosed", text)
    text = text.replace("'", "")
    text = re.sub(r"\s[-\u2013\u2014]+\s|[\u2013\u2014]", " ; ", text)  # a dash between clauses
    return re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)


_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?|[.,;:!?\n]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalise(text))


def _phrase(text: object) -> tuple[str, ...]:
    words = tuple(t for t in tokens(str(text)) if t not in PUNCTUATION)
    if not words:
        raise TriageTableError(f"empty phrase {text!r}")
    return words


def _phrases(values: object, where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(values, list) or not values:
        raise TriageTableError(f"{where}: a non-empty list is needed")
    out = []
    for value in values:
        # YAML lists of lists are flattened (ignore_phrases groups phrases by theme).
        if isinstance(value, list):
            out.extend(_phrases(value, where))
        elif isinstance(value, str):
            out.append(_phrase(value))
        else:  # YAML reads a bare no/yes/on/off as a boolean: quote it
            raise TriageTableError(f"{where}: {value!r} is not a text (quote it)")
    return tuple(out)


def _words(values: object, where: str) -> frozenset[str]:
    return frozenset(w for phrase in _phrases(values, where) for w in phrase)


def _lookups() -> tuple[Mapping[str, str], frozenset[str]]:
    """The lemma table (with the project's fixes) and the English words and inflections
    never bent into symptoms, both from spacy-lookups-data, each file read once."""
    import spacy_lookups_data
    import srsly

    from b12core.spacy_model import LEMMA_FIXES

    folder = Path(spacy_lookups_data.__file__).parent / "data"
    index = srsly.read_gzip_json(folder / "en_lemma_index.json.gz")
    lookup = srsly.read_gzip_json(folder / "en_lemma_lookup.json.gz")
    words = {w for values in index.values() for w in values}
    words.update(lookup)
    words.update(lookup.values())
    english = frozenset(w for w in words if w.isalpha())
    return {**lookup, **LEMMA_FIXES}, english


def read_triage_table(path: Path = TRIAGE_PATH) -> TriageTable:
    """Load and validate the table; a malformed entry fails at start-up, naming it."""
    data = read_yaml(path, TriageTableError)
    if not isinstance(data, dict):
        raise TriageTableError(f"{path}: a mapping is needed")
    try:
        return _build(data)
    except TriageTableError as exc:
        raise TriageTableError(f"{path}: {exc}") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise TriageTableError(f"{path}: missing or malformed entry ({exc!r})") from None


# TriageTable field -> the context list of knowledge/triage.yml it is read from.
PHRASE_LISTS = {name: name for name in (
    "hypothetical", "conditional", "deixis", "deixis_message", "negation", "past", "resolved",
    "present", "mild", "clause_breaks")}
WORD_LISTS = {"question_words": "question_words", "personal": "personal",
              "not_personal_after": "not_personal_after", "subjects": "clause_subjects",
              "pseudo_negation": "pseudo_negation", "count_verbs": "count_verbs",
              "count_nouns": "count_nouns", "count_units": "count_units"}


def _threshold(value: object) -> float:
    if not isinstance(value, int | float) or not 0.5 <= float(value) <= 1.0:
        raise TriageTableError("learned_threshold: a number from 0.5 to 1.0")
    return float(value)


def _build(data: dict) -> TriageTable:
    sources = {str(k): str(v).strip() for k, v in (data.get("sources") or {}).items()}
    if not sources:
        raise TriageTableError("sources: at least one is needed")
    templates = {k: " ".join(str(data["messages"][k]).split())
                 for k in ("emergency", "crisis_line", "urgent", "crisis", "safety_net")}
    for key in ("urgent", "crisis", "safety_net"):
        if "{emergency}" not in templates[key]:
            raise TriageTableError(f"messages.{key}: must name {{emergency}}")
    if "{crisis_line}" not in templates["crisis"]:
        raise TriageTableError("messages.crisis: must name {crisis_line}")
    classes = {}
    for class_id, row in data["classes"].items():
        reply = row["reply"]
        if reply not in REPLIES:
            raise TriageTableError(f"classes.{class_id}: reply must be one of {REPLIES}")
        cited = tuple(row.get("sources") or ())
        if not cited or any(s not in sources for s in cited):
            raise TriageTableError(f"classes.{class_id}: sources must name entries of 'sources'")
        classes[class_id] = TriageClass(class_id, str(row["label"]), reply, cited)
    concepts = {name: _phrases(values, f"concepts.{name}")
                for name, values in data["concepts"].items()}
    flags = []
    for index, row in enumerate(data["flags"]):
        where = f"flags[{index}] ({row.get('id')})"
        if row.get("class") not in classes:
            raise TriageTableError(f"{where}: unknown class {row.get('class')!r}")
        groups = []
        for group in row["all_of"]:
            phrases: list[tuple[str, ...]] = []
            for item in group:
                if isinstance(item, str) and item.startswith("@"):
                    if item[1:] not in concepts:
                        raise TriageTableError(f"{where}: unknown concept {item}")
                    phrases.extend(concepts[item[1:]])
                elif item == MANY:
                    phrases.append((MANY,))
                else:
                    phrases.append(_phrase(item))
            if not phrases:
                raise TriageTableError(f"{where}: empty group")
            groups.append(tuple(dict.fromkeys(phrases)))
        unless = row.get("unless_clause") or []
        flags.append(Flag(str(row["id"]), row["class"], tuple(groups),
                          int(row.get("window", 8)),
                          _phrases(unless, f"{where}.unless_clause") if unless else ()))
    if not flags:
        raise TriageTableError("flags: none")
    ids = [f.flag_id for f in flags]
    if len(ids) != len(set(ids)):
        raise TriageTableError("flags: ids must be unique")
    ignore = _phrases(data["ignore_phrases"], "ignore_phrases")
    flag_phrases = {p for f in flags for g in f.groups for p in g}
    clash = [" ".join(p) for p in ignore if p in flag_phrases]
    if clash:
        raise TriageTableError(f"ignore_phrases would disable flag phrases: {clash}")
    vocabulary = frozenset(w for p in flag_phrases for w in p if w.isalpha())
    lemmas, english = _lookups()
    table = TriageTable(
        classes=classes,
        flags=tuple(flags),
        sources=sources,
        ignore=ignore,
        **{field: _phrases(data[key], key) for field, key in PHRASE_LISTS.items()},
        **{field: _words(data[key], key) for field, key in WORD_LISTS.items()},
        negation_reach=int(data["negation_reach"]),
        mild_exempt=frozenset(data.get("mild_exempt") or ()),
        templates=templates,
        learned_threshold=_threshold(data["learned_threshold"]),
        vocabulary=vocabulary,
        lemmas=lemmas,
        english=english,
    )
    lists: dict[object, tuple[tuple[str, ...], ...]] = {
        key: getattr(table, key) for key in ("negation", "past", "resolved", "present",
                                             "hypothetical", "conditional", "mild",
                                             "clause_breaks", "deixis", "deixis_message")
    }
    for f, flag in enumerate(table.flags):
        for g, group in enumerate(flag.groups):
            lists[(f, g)] = group
        if flag.unless_clause:
            lists[("unless", f)] = flag.unless_clause
    letters: dict[str, list[str]] = {}
    for word in sorted(vocabulary):
        letters.setdefault(word[0], []).append(word)
    return replace(table, index=_Index(lists, table.lemmas),
                   ignore_index=_Index({"ignore": ignore}, table.lemmas, by_lemma=False),
                   by_letter={k: tuple(v) for k, v in letters.items()})


@lru_cache(maxsize=1)
def load_triage_table() -> TriageTable:
    """The table, loaded once per process."""
    return read_triage_table()


def messages() -> Messages:
    return load_triage_table().messages()


def first_reply(text: object) -> str | None:
    """What must come first this turn, alone: the crisis reply, or the urgent reply with
    the general disclaimer (never the results disclaimer); None when neither applies.

    The one place every path takes it from: the action server's red-flag action, and the
    Rasa server and the channels when that action or the whole turn fails.
    """
    verdict = triage(text)
    if verdict.level == CRISIS:
        return messages().crisis
    if verdict.level == URGENT:
        return urgent_reply()
    return None


def reply_kind(text: str) -> str | None:
    """"crisis" or "urgent" for a text that is one of those replies (channels draw or send
    them apart from everything else), else None."""
    texts = messages()
    if text.startswith(texts.crisis):
        return "crisis"
    if text.startswith(texts.urgent):
        return "urgent"
    return None


def urgent_reply() -> str:
    """The urgent text with the general disclaimer, the whole urgent turn."""
    from b12core.disclaimer import general_disclaimer

    return f"{messages().urgent}\n\n{general_disclaimer()}"


# ---------------------------------------------------------------------------- index


class _Index:
    """Every phrase of the named lists under its first word and its first lemma, so one
    pass over a message finds all of them (a phrase matches on words or on lemmas)."""

    def __init__(self, lists: Mapping[object, tuple[tuple[str, ...], ...]],
                 lemmas: Mapping[str, str], by_lemma: bool = True) -> None:
        keys: dict[tuple[str, ...], list[object]] = {}
        for key, phrases in lists.items():
            for phrase in phrases:
                keys.setdefault(phrase, []).append(key)
        self.by_first: dict[str, list[tuple[tuple[str, ...], tuple[str, ...], tuple]]] = {}
        for phrase, owners in keys.items():
            # Lemmas only for phrases in base form ("throw up" matches "threw up"); an
            # inflected phrase is meant as written ("keeps fitting" is not "keep fit").
            lemma_phrase = tuple(lemmas.get(w, w) for w in phrase)
            if not by_lemma or lemma_phrase != phrase:
                lemma_phrase = ()
            entry = (phrase, lemma_phrase, tuple(owners))
            for first in {phrase[0], *lemma_phrase[:1]}:
                self.by_first.setdefault(first, []).append(entry)

    def find(self, words: list[str], lemmas: list[str]) -> dict[object, list[tuple[int, int]]]:
        """List key -> sorted (start, end) spans of its phrases in the message."""
        found: dict[object, set[tuple[int, int]]] = {}
        for i in range(len(words)):
            for first in {words[i], lemmas[i]}:
                for phrase, lemma_phrase, owners in self.by_first.get(first, ()):
                    n = len(phrase)
                    if tuple(words[i:i + n]) == phrase or tuple(lemmas[i:i + n]) == lemma_phrase:
                        for key in owners:
                            found.setdefault(key, set()).add((i, i + n))
        return {key: sorted(spans) for key, spans in found.items()}


# ------------------------------------------------------------------------- spelling


def _correction(word: str, table: TriageTable) -> tuple[str, ...]:
    """The word, or the table word it is a misspelling of, or the two words it runs together.

    Only words that are neither in the table nor English are touched, only towards
    words of the table, and only by one edit (two for long words), first letter kept.
    """
    from rapidfuzz import process
    from rapidfuzz.distance import OSA, JaroWinkler

    if word in table.vocabulary or word in table.english:
        return (word,)
    if len(word) >= 3:
        limit = 1 if len(word) <= 6 else 2
        candidates = [c for c in table.by_letter.get(word[0], ())
                      if abs(len(c) - len(word)) <= limit and (len(word) > 3 or len(c) == 4)]
        # Three letters: only a dropped letter ("eys" -> "eyes").
        found = process.extract(word, candidates, scorer=OSA.distance, score_cutoff=limit,
                                limit=None)
        if found:
            # The fewest edits; among equals the likeliest typo: letters swapped ("pian" ->
            # "pain", not "piano"), then one dropped, one added ("pucked" -> "puked", not
            # "picked"), one replaced; then the longest shared start; then alphabetical.
            fewest = min(distance for _, distance, _ in found)
            ties = [c for c, distance, _ in found if distance == fewest]
            return (min(ties, key=lambda c: (_typo_rank(word, c),
                                             -JaroWinkler.similarity(word, c), c)),)
    return _run_together(word, table) or (word,)


def _typo_rank(word: str, candidate: str) -> int:
    if len(word) == len(candidate):
        return 0 if sorted(word) == sorted(candidate) else 3
    return 1 if len(word) < len(candidate) else 2


def _run_together(word: str, table: TriageTable) -> tuple[str, ...] | None:
    """Words typed without spaces ("chestpainsobadcantbreathe"): the split into the
    fewest known words, at least one of them the table's; None if there is none."""
    n = len(word)
    if n < 6 or n > MAX_SPLIT_LENGTH:
        return None
    best: list[tuple[str, ...] | None] = [None] * (n + 1)
    best[0] = ()
    for i in range(n):
        if best[i] is None:
            continue
        for j in range(i + 1, min(n, i + MAX_PART_LENGTH) + 1):
            part = word[i:j]
            known = part in table.vocabulary or (
                part in table.english if len(part) >= 3 else part in SHORT_WORDS)
            if known and (best[j] is None or len(best[i]) + 1 < len(best[j])):
                best[j] = (*best[i], part)
    parts = best[n]
    if parts and len(parts) > 1 and any(p in table.vocabulary for p in parts):
        return parts
    return None


def _pieces(raw: list[str]) -> list[str]:
    """Letters and digits apart when a word is stuck to a number ("cirrhosisfever39"),
    but lab names as typed ("b12", "38c")."""
    out = []
    for token in raw:
        if token.isalpha() or token.isdigit() or not re.search(r"[a-z]{5}", token):
            out.append(token)
        else:
            out.extend(re.findall(r"[a-z]+|[0-9]+(?:\.[0-9]+)?", token))
    return out


def read_words(text: str, table: TriageTable) -> tuple[list[str], list[str]]:
    """The message's tokens, spelling corrected, and their lemmas (counts of pills marked)."""
    words: list[str] = []
    for token in _pieces(tokens(text[:MAX_TEXT_CHARS])):
        if not token.isalpha():
            words.append(token)
            continue
        reading = table.spelling.get(token)
        if reading is None:
            if len(table.spelling) >= MAX_SPELLING_CACHE:
                table.spelling.clear()
            reading = table.spelling[token] = _correction(token, table)
        words.extend(reading)
    lemmas = []
    for i, word in enumerate(words):
        lemma = table.lemmas.get(word, word)
        if word.isdigit() and int(word) >= MANY_FROM and (
            any(w in table.count_verbs for w in words[max(0, i - 2):i])
            or any(w in table.count_nouns for w in words[i + 1:i + 3])
        ) and (i + 1 >= len(words) or words[i + 1] not in table.count_units):
            lemma = MANY
        lemmas.append(lemma)
    return words, lemmas


# -------------------------------------------------------------------------- context


class _Context:
    """One message: its clauses and sentences, and the markers in each, found once."""

    def __init__(self, words: list[str], lemmas: list[str], found: dict, table: TriageTable
                 ) -> None:
        self.words, self.lemmas, self.table = words, lemmas, table
        breaks = {start for start, _ in found.get("clause_breaks", ())}
        self.clause: list[int] = []
        self.sentence: list[int] = []
        c = s = 0
        for i, word in enumerate(words):
            if word in PUNCTUATION or i in breaks or (
                word == "and" and i + 1 < len(words) and words[i + 1] in table.subjects
            ):
                c += 1
            if i and words[i - 1] in SENTENCE_END:
                s += 1
            self.clause.append(c)
            self.sentence.append(s)

        def clauses(key: str) -> set[int]:
            return {self.clause[start] for start, _ in found.get(key, ())}

        self.present = clauses("present")
        this_year = date.today().year
        self.past = clauses("past") | {
            self.clause[i] for i, word in enumerate(words)
            if i and words[i - 1] in ("in", "back") and word.isdigit()
            and 1900 <= int(word) < this_year}
        self.resolved = {self.sentence[start] for start, _ in found.get("resolved", ())}
        self.first_hypothetical = self._first(found.get("hypothetical", ()))
        self.hypothetical_spans = found.get("hypothetical", [])
        self.first_conditional = self._first(found.get("conditional", ()))
        # Someone is there: "my wife", "he", "this fast" (not "my b12", "my results").
        self.personal = {self.clause[i] for i, (w, lm) in enumerate(zip(words, lemmas,
                                                                       strict=True))
                         if (w in table.personal or lm in table.personal)
                         and not (i + 1 < len(words)
                                  and words[i + 1] in table.not_personal_after)}
        self.personal |= clauses("deixis")
        if found.get("deixis_message"):  # "...? because mine have": every clause is about them
            self.personal |= set(self.clause)
        self.asking = set()
        opening: dict[int, list[str]] = {}
        for i, word in enumerate(words):
            if word in PUNCTUATION:
                if word == "?" and i:
                    self.asking.add(self.clause[i - 1])
                continue
            opening.setdefault(self.clause[i], []).append(word)
        self.asking |= {c for c, first in opening.items() if first[0] in table.question_words
                        and not (first[0] == "am" and first[1:2] != ["i"])}  # "am vomiting"
        self.negations = sorted(end - 1 for _, end in found.get("negation", ()))
        self.mild = sorted(end - 1 for _, end in found.get("mild", ()))
        self._when: dict[int, str] = {}

    def _first(self, spans) -> dict[int, int]:
        first: dict[int, int] = {}
        for start, _ in spans:
            first.setdefault(self.clause[start], start)
        return first

    def negated(self, start: int) -> bool:
        """A negation word shortly before, with no clause break, "and" or subject between;
        in a list ("no bleeding, black stools or vomiting") it reaches twice as far."""
        w, table = self.words, self.table
        reach = table.negation_reach
        first = bisect.bisect_left(self.negations, start - 2 * reach - 2)
        for t in self.negations[first:bisect.bisect_left(self.negations, start)]:
            if t + 1 < len(w) and w[t + 1] in table.pseudo_negation:
                continue
            between = w[t + 1:start]
            if any(x in table.subjects or x == "and" or (x in PUNCTUATION and x != ",")
                   for x in between):
                continue
            words_between = [x for x in between if x != ","]
            if "," not in between and len(words_between) < reach:
                return True
            if self._listed(t, start) and len(words_between) < 2 * reach:
                return True
        return False

    def _listed(self, trigger: int, start: int) -> bool:
        """An enumeration: "or"/"nor" between the negation and the end of its clause."""
        w = self.words
        for x in w[trigger + 1:]:
            if x in ("or", "nor"):
                return True
            if (x in PUNCTUATION and x != ",") or x in self.table.subjects or x == "and":
                return False
        return False

    def when(self, start: int) -> str:
        """PAST, QUESTION or PRESENT for a symptom starting at ``start``."""
        if start not in self._when:
            self._when[start] = self._judge(start)
        return self._when[start]

    def _judge(self, start: int) -> str:
        clause = self.clause[start]
        if clause in self.present:
            return PRESENT
        if clause in self.past or self.sentence[start] in self.resolved:
            return PAST
        if self.first_conditional.get(clause, start) < start:
            return QUESTION  # "what should i do if i ever get a fever"
        if any(start - 3 <= end - 1 < start and self.clause[s] == clause
               for s, end in self.hypothetical_spans):
            return QUESTION  # "i read homocysteine is linked to stroke"
        if clause in self.personal:
            return PRESENT  # a question about someone is a report
        if clause in self.asking or self.first_hypothetical.get(clause, start) < start:
            return QUESTION
        return PRESENT

    def mild_before(self, start: int) -> bool:
        first = bisect.bisect_left(self.mild, start - 3)
        return any(self.clause[t] == self.clause[start]
                   for t in self.mild[first:bisect.bisect_left(self.mild, start)])


# --------------------------------------------------------------------------- triage

_RANK = {PRESENT: 0, QUESTION: 1, MILD: 1, PAST: 2}
MAX_SPANS = 32  # per group: more occurrences of a symptom word add nothing
MAX_COMBINATIONS = 256  # per flag, a bound on adversarial repetition


def _finding(f: int, flag: Flag, found: dict, context: _Context, table: TriageTable):
    groups = []
    for g in range(len(flag.groups)):
        spans = [s for s in found.get((f, g), ()) if not context.negated(s[0])][:MAX_SPANS]
        if not spans:
            return None
        groups.append(spans)
    klass = table.classes[flag.class_id]
    best: str | None = None
    tried = 0
    for anchor_span in groups[0]:
        anchor = anchor_span[0]
        near = [[s for s in group if abs(s[0] - anchor) <= flag.window] for group in groups[1:]]
        if not all(near):
            continue
        if any(context.clause[start] == context.clause[anchor]
               for start, _ in found.get(("unless", f), ())):
            continue
        for rest in itertools.product(*near):
            tried += 1
            if tried > MAX_COMBINATIONS:
                break
            combo = (anchor_span, *rest)
            if _overlap(combo):
                continue
            when = context.when(anchor)
            if when == PRESENT and klass.class_id not in table.mild_exempt and any(
                context.mild_before(span[0]) for span in combo
            ):
                when = MILD
            if best is None or _RANK[when] < _RANK[best]:
                best = when
            if best == PRESENT:
                return Finding(flag.flag_id, klass.class_id, klass.label, klass.reply, best)
    if best is None:  # every combination negated, too far apart or excluded
        return None
    return Finding(flag.flag_id, klass.class_id, klass.label, klass.reply, best)


def _overlap(combo) -> bool:
    spans = sorted(combo)
    return any(a[1] > b[0] for a, b in itertools.pairwise(spans))


def triage(text: object, table: TriageTable | None = None) -> Triage:
    """The triage level of one user message and the findings behind it.

    With the project's table the verdict is cached per text: the NLU component, the
    dialogue guard and the channels of one process ask about the same message.
    """
    if not isinstance(text, str) or not text.strip():
        return Triage(NONE)
    if table is None:
        return _triage_cached(text)
    return _triage(text, table)


@lru_cache(maxsize=512)
def _triage_cached(text: str) -> Triage:
    return _triage(text, load_triage_table())


def _triage(text: str, table: TriageTable) -> Triage:
    words, lemmas = read_words(text, table)
    for spans in table.ignore_index.find(words, lemmas).values():
        for start, end in spans:
            for i in range(start, end):
                words[i] = lemmas[i] = "_"
    found = table.index.find(words, lemmas)
    context = _Context(words, lemmas, found, table)
    findings = tuple(
        finding for f, flag in enumerate(table.flags)
        if (finding := _finding(f, flag, found, context, table)) is not None
    )
    if not findings:
        findings = _learned(text, table, bool(found.get("mild")))
    return Triage(_level(findings), findings)


def _learned(text: str, table: TriageTable, mild: bool) -> tuple[Finding, ...]:
    """The learned detector's word, for a message the table found nothing in; a message
    that says it is mild ("slightly", "a bit") gets the safety net, never for self-harm."""
    from b12core.safety.learned import load_model

    p = load_model().probabilities(normalise(text[:MAX_TEXT_CHARS]))
    if p["urgent"] + p["crisis"] < table.learned_threshold:
        return ()
    if max(p["urgent"], p["crisis"]) < LEARNED_CLASS_MIN:
        # Split between urgent and crisis with neither at one half ("b12 was around 160 i
        # think": calm 0.38, urgent 0.18, crisis 0.44): the model is not saying one thing.
        return ()
    reply = CRISIS if p["crisis"] > p["urgent"] else URGENT
    context = MILD if mild and reply == URGENT else PRESENT
    return (Finding(LEARNED, LEARNED, "a red flag in other words", reply, context),)


def _level(findings: tuple[Finding, ...]) -> str:
    if any(f.reply == CRISIS and f.context in (PRESENT, QUESTION, MILD) for f in findings):
        return CRISIS
    if any(f.reply == URGENT and f.context == PRESENT for f in findings):
        return URGENT
    if any(f.context in (QUESTION, MILD) for f in findings):
        return SAFETY_NET
    return NONE
