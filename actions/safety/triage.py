"""Red-flag triage from ``knowledge/triage.yml``: deterministic, pure (no rasa import).

Runs on every user message (the NLU component RedFlagClassifier, the Rasa server's
dialogue guard and the action server all call ``triage``), so an emergency is never
left to a classifier's confidence. The table says which words mean what; this module
only reads words (spelling tolerant), finds the table's flags and weighs their context
(negated, past, a general question, mild), so the policy stays in one reviewable file.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml

TRIAGE_PATH = Path(__file__).resolve().parents[2] / "knowledge" / "triage.yml"
MAX_TEXT_CHARS = 4_000
ENV_EMERGENCY = "B12_EMERGENCY_NUMBER"
ENV_CRISIS_LINE = "B12_CRISIS_LINE"
MAX_NUMBER_TEXT = 120

# Levels, most urgent first.
CRISIS, URGENT, SAFETY_NET, NONE = "crisis", "urgent", "safety_net", "none"
# Contexts of a finding.
PRESENT, QUESTION, MILD, PAST, NEGATED = "present", "question", "mild", "past", "negated"
REPLIES = (URGENT, CRISIS)
PUNCTUATION = frozenset(".,;:!?\n")
SENTENCE_END = frozenset(".!?\n")
MANY = "#many"
MAX_SPELLING_CACHE = 20_000
MANY_FROM = 8


class TriageTableError(ValueError):
    """knowledge/triage.yml is malformed (raised at load, naming the entry)."""


@dataclass(frozen=True)
class Flag:
    flag_id: str
    class_id: str
    groups: tuple[tuple[tuple[str, ...], ...], ...]
    window: int
    unless_clause: frozenset[str]


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

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.class_id for f in self.findings if f.context != NEGATED))


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
    count_units: frozenset[str]
    templates: Mapping[str, str]
    vocabulary: frozenset[str]
    lemmas: Mapping[str, str]
    english: frozenset[str]
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
    value = " ".join(value.split())
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


def _english_words() -> frozenset[str]:
    """English words and their inflections (spacy-lookups-data), never bent into symptoms."""
    import spacy_lookups_data
    import srsly

    folder = Path(spacy_lookups_data.__file__).parent / "data"
    index = srsly.read_gzip_json(folder / "en_lemma_index.json.gz")
    lookup = srsly.read_gzip_json(folder / "en_lemma_lookup.json.gz")
    words = {w for values in index.values() for w in values}
    words.update(lookup)
    words.update(lookup.values())
    return frozenset(w for w in words if w.isalpha())


def _lemma_table() -> Mapping[str, str]:
    import spacy_lookups_data
    import srsly

    folder = Path(spacy_lookups_data.__file__).parent / "data"
    return srsly.read_gzip_json(folder / "en_lemma_lookup.json.gz")


def read_triage_table(path: Path = TRIAGE_PATH) -> TriageTable:
    """Load and validate the table; a malformed entry fails at start-up, naming it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TriageTableError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TriageTableError(f"{path}: a mapping is needed")
    try:
        return _build(data)
    except TriageTableError as exc:
        raise TriageTableError(f"{path}: {exc}") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise TriageTableError(f"{path}: missing or malformed entry ({exc!r})") from None


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
                          _words(unless, f"{where}.unless_clause") if unless else frozenset()))
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
    return TriageTable(
        classes=classes,
        flags=tuple(flags),
        sources=sources,
        ignore=ignore,
        question_words=_words(data["question_words"], "question_words"),
        hypothetical=_phrases(data["hypothetical"], "hypothetical"),
        conditional=_phrases(data["conditional"], "conditional"),
        personal=_words(data["personal"], "personal"),
        negation=_phrases(data["negation"], "negation"),
        negation_reach=int(data["negation_reach"]),
        past=_phrases(data["past"], "past"),
        resolved=_phrases(data["resolved"], "resolved"),
        present=_phrases(data["present"], "present"),
        mild=_phrases(data["mild"], "mild"),
        mild_exempt=frozenset(data.get("mild_exempt") or ()),
        clause_breaks=_phrases(data["clause_breaks"], "clause_breaks"),
        subjects=_words(data["clause_subjects"], "clause_subjects"),
        pseudo_negation=_words(data["pseudo_negation"], "pseudo_negation"),
        count_verbs=_words(data["count_verbs"], "count_verbs"),
        count_units=_words(data["count_units"], "count_units"),
        templates=templates,
        vocabulary=vocabulary,
        lemmas=_lemma_table(),
        english=_english_words(),
    )


@lru_cache(maxsize=1)
def load_triage_table() -> TriageTable:
    """The table, loaded once per process."""
    return read_triage_table()


def messages() -> Messages:
    return load_triage_table().messages()


# ------------------------------------------------------------------------- spelling


def _correction(word: str, table: TriageTable) -> tuple[str, ...]:
    """The word, or the table word it is a misspelling of, or the two words it runs together.

    Only words that are neither in the table nor English are touched, only towards
    words of the table, and only by one edit (two for long words), first letter kept.
    """
    from rapidfuzz.distance import OSA

    if not word.isalpha() or word in table.vocabulary or word in table.english:
        return (word,)
    if len(word) >= 3:
        limit = 1 if len(word) <= 6 else 2
        best: tuple[int, str] | None = None
        for candidate in sorted(table.vocabulary):
            if candidate[0] != word[0] or abs(len(candidate) - len(word)) > limit:
                continue
            if len(word) == 3 and len(candidate) != 4:
                continue  # three letters: only a dropped letter ("eys" -> "eyes")
            distance = OSA.distance(word, candidate, score_cutoff=limit)
            if distance <= limit and (best is None or distance < best[0]):
                best = (distance, candidate)
        if best is not None:
            return (best[1],)
    known = table.vocabulary | table.english
    for cut in range(3, len(word) - 2):
        left, right = word[:cut], word[cut:]
        if left in known and right in known and (
            left in table.vocabulary or right in table.vocabulary
        ):
            return (left, right)
    return (word,)


def read_words(text: str, table: TriageTable) -> tuple[list[str], list[str]]:
    """The message's tokens, spelling corrected, and their lemmas (counts of pills marked)."""
    words: list[str] = []
    for token in tokens(text[:MAX_TEXT_CHARS]):
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
        if word.isdigit() and int(word) >= MANY_FROM and any(
            w in table.count_verbs for w in words[max(0, i - 2):i]
        ) and (i + 1 >= len(words) or words[i + 1] not in table.count_units):
            lemma = MANY
        lemmas.append(lemma)
    return words, lemmas


# -------------------------------------------------------------------------- context


def _starts(sequence: list[str], phrase: tuple[str, ...], i: int) -> bool:
    return tuple(sequence[i:i + len(phrase)]) == phrase


def _find(words: list[str], lemmas: list[str], phrases: Iterable[tuple[str, ...]]):
    """(start, end) of every occurrence of any phrase, on words or on lemmas."""
    out = []
    for phrase in phrases:
        first = phrase[0]
        for i, (w, lemma) in enumerate(zip(words, lemmas, strict=True)):
            if (w == first and _starts(words, phrase, i)) or (
                lemma == first and _starts(lemmas, phrase, i)
            ):
                out.append((i, i + len(phrase)))
    return out


@dataclass
class _Reading:
    words: list[str]
    lemmas: list[str]
    clause: list[int]
    sentence: list[int]


def _segment(words: list[str], lemmas: list[str], table: TriageTable) -> _Reading:
    breaks = {start for start, _ in _find(words, lemmas, table.clause_breaks)}
    clause, sentence = [], []
    c = s = 0
    for i, word in enumerate(words):
        if word in PUNCTUATION or i in breaks or (
            word == "and" and i + 1 < len(words) and words[i + 1] in table.subjects
        ):
            c += 1
        if i and words[i - 1] in SENTENCE_END:
            s += 1
        clause.append(c)
        sentence.append(s)
    return _Reading(words, lemmas, clause, sentence)


def _blank(words: list[str], lemmas: list[str], table: TriageTable) -> None:
    for start, end in _find(words, lemmas, table.ignore):
        for i in range(start, end):
            words[i] = lemmas[i] = "_"


def _in_clause(reading: _Reading, spans, clause: int) -> bool:
    return any(reading.clause[start] == clause for start, _ in spans)


class _Context:
    """Markers of one message, found once, asked per occurrence of a symptom."""

    def __init__(self, reading: _Reading, table: TriageTable) -> None:
        w, lm = reading.words, reading.lemmas
        self.reading = reading
        self.table = table
        self.negations = [end - 1 for _, end in _find(w, lm, table.negation)]
        self.past = _find(w, lm, table.past)
        self.resolved = _find(w, lm, table.resolved)
        self.present = _find(w, lm, table.present)
        self.hypothetical = _find(w, lm, table.hypothetical)
        self.conditional = _find(w, lm, table.conditional)
        self.mild = [end - 1 for _, end in _find(w, lm, table.mild)]
        this_year = date.today().year
        self.years = [i for i, word in enumerate(w) if i and w[i - 1] in ("in", "back")
                      and word.isdigit() and 1900 <= int(word) < this_year]

    def negated(self, start: int) -> bool:
        """A negation word shortly before, with no clause break, "and" or subject between."""
        w = self.reading.words
        for t in self.negations:
            if start - self.table.negation_reach <= t < start and (
                t + 1 >= len(w) or w[t + 1] not in self.table.pseudo_negation
            ):
                between = w[t + 1:start]
                if not any(x in PUNCTUATION or x == "and" or x in self.table.subjects
                           for x in between) and (
                    self.reading.clause[t] == self.reading.clause[start]
                ):
                    return True
        return False

    def when(self, start: int) -> str:
        """PAST, QUESTION or PRESENT for a symptom starting at ``start``."""
        r = self.reading
        clause, sentence = r.clause[start], r.sentence[start]
        now = _in_clause(r, self.present, clause)
        if not now and (_in_clause(r, self.past, clause) or any(
            r.clause[i] == clause for i in self.years
        ) or any(r.sentence[s] == sentence for s, _ in self.resolved)):
            return PAST
        if self._general_question(start, clause) and not now:
            return QUESTION
        return PRESENT

    def _general_question(self, start: int, clause: int) -> bool:
        """A question or hypothetical about the symptom in general, not about someone."""
        r = self.reading
        members = [i for i, c in enumerate(r.clause) if c == clause]
        if any(r.clause[s] == clause and s < start for s, _ in self.conditional):
            return True  # "what should i do if i ever get a fever"
        if any(r.words[i] in self.table.personal or r.lemmas[i] in self.table.personal
               for i in members):
            return False
        words = [r.words[i] for i in members if r.words[i] not in PUNCTUATION]
        asks = bool(words) and words[0] in self.table.question_words
        ends = members[-1] + 1 < len(r.words) and r.words[members[-1] + 1] == "?"
        hypothetical = any(r.clause[s] == clause and s < start for s, _ in self.hypothetical)
        return asks or ends or hypothetical

    def mild_before(self, start: int) -> bool:
        return any(start - 3 <= t < start and self.reading.clause[t] == self.reading.clause[start]
                   for t in self.mild)


# --------------------------------------------------------------------------- triage

_RANK = {PRESENT: 0, QUESTION: 1, MILD: 1, PAST: 2}


def _occurrences(flag: Flag, reading: _Reading):
    w, lm = reading.words, reading.lemmas
    return [_find(w, lm, group) for group in flag.groups]


def _finding(flag: Flag, reading: _Reading, context: _Context, table: TriageTable):
    groups = _occurrences(flag, reading)
    if not all(groups):
        return None
    groups = [[span for span in group if not context.negated(span[0])] for group in groups]
    best: str | None = None
    for combo in itertools.product(*groups):
        anchor = combo[0][0]
        if any(abs(span[0] - anchor) > flag.window for span in combo[1:]):
            continue
        if len({span[0] for span in combo}) < len(combo) or _overlap(combo):
            continue
        if flag.unless_clause and any(
            reading.words[i] in flag.unless_clause
            for i, c in enumerate(reading.clause) if c == reading.clause[anchor]
        ):
            continue
        when = context.when(anchor)
        klass = table.classes[flag.class_id]
        if when == PRESENT and klass.class_id not in table.mild_exempt and any(
            context.mild_before(span[0]) for span in combo
        ):
            when = MILD
        if best is None or _RANK[when] < _RANK[best]:
            best = when
    if best is None:  # every combination negated, too far apart or excluded
        return None
    klass = table.classes[flag.class_id]
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
    _blank(words, lemmas, table)
    reading = _segment(words, lemmas, table)
    context = _Context(reading, table)
    findings = tuple(
        f for f in (_finding(flag, reading, context, table) for flag in table.flags) if f
    )
    return Triage(_level(findings), findings)


def _level(findings: tuple[Finding, ...]) -> str:
    if any(f.reply == CRISIS and f.context in (PRESENT, QUESTION, MILD) for f in findings):
        return CRISIS
    if any(f.reply == URGENT and f.context == PRESENT for f in findings):
        return URGENT
    if any(f.context in (QUESTION, MILD) for f in findings):
        return SAFETY_NET
    return NONE
