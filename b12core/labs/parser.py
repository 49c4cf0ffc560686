"""Free text to lab values: the project's only lab-value parser.

Built on the blank English spaCy tokenizer (lightly extended so that "350pg/ml",
"b12:480" and "pmol/L." split cleanly), a PhraseMatcher for every spelling in
knowledge/lab_vocabulary.yml and a Matcher for number and unit shapes. Pasted reports
are first given one regular layout (``layout.normalise_layout``). Matching finds the
pieces; explicit rules then read them as a laboratory scientist would:

- Numbers that are dates, ages, doses, times, ordinals, lab codes or printed reference
  ranges are never results. A printed range ("(150-700)", "[>3,0]", "Ref range 187-883",
  a second bound in a table row) is kept as the lab's range of the result it belongs to.
- A unit, a flag ("H", "*", "Low") or a range may stand between a value and its unit;
  a unit stated once for a test (a column heading, "Units: pmol/L", "(all values in
  pg/mL)") applies to each of its results given without one.
- Values are linked to tests: "<value> for <test>", lists ("b12 and folate were 350 and
  12"), the values after a test in its clause or table row, rows under a heading line,
  a row that starts with its value, and "480 pmol/L b12".
- Several results of one test are a history: dates and cues ("last year", "now",
  "prev", "→") decide which one is current; the others are kept as earlier results.
- Active B12, red-cell folate and urine MMA are recognised and noted, never read as the
  serum tests; doses ("1000 mcg", "b12 1000 every morning") are noted, never results.
- The liver condition is the patient's own: negated, ruled out, uncertain, asked about
  or someone else's conditions are not counted.

The parser only reads; judging a value (units, plausibility, bands) is ``interpret``'s
job, so a message always parses without raising.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from itertools import pairwise

from b12core.labs.layout import normalise_layout
from b12core.labs.models import (
    ANALYTES,
    LIVER_CONDITIONS,
    OTHER_LIVER,
    UNKNOWN_CONDITION,
    LabInput,
    LabPanel,
    LabRange,
    Note,
)
from b12core.labs.vocabulary import Vocabulary, vocabulary

# Longer messages are not chat messages (pasted files, abuse): refuse rather than truncate.
MAX_MESSAGE_CHARS = 4000

FORWARD_WINDOW = 12  # tokens a test may look ahead for its value (and between a history's values)
BACKWARD_WINDOW = 4  # tokens a unit-carrying value may sit before its test
NEGATION_WINDOW = 3
CONTEXT_WINDOW = 4  # tokens before a condition in which "my dad", "suspected"... apply
DOSE_VERB_WINDOW = 4

SENTENCE_ENDS = frozenset({".", "?", "!", ";"})
BACKWARD_LINKS = frozenset({"for", "of"})
BACKWARD_FILLERS = frozenset({"for", "of", "my", "the", "your", "his", "her", "serum", "total"})
SCOPE_BREAKS = frozenset({"but", "however", "although", "though", "yet", ",", "just"})
COPULAS = frozenset({"is", "was", "being", "been", "has", "had", "are", "were", "still"})
SIGN_FLAGS = {"-": "L", "+": "H", "--": "LL"}  # a lone sign ending a result's row
LIST_SEPARATORS = frozenset({",", "and", "&", "/", "+"})
RANGE_DASHES = frozenset({"-", "–", "—", "to", "à", "bis", "a"})
OPEN_BRACKETS = frozenset({"(", "["})
# Words a printed range may carry between its cue and its numbers: "Ref. Interval :- Adult
# (Male) : < 15".
REFERENCE_FILLERS = frozenset({"interval", "intervals", "adult", "adults", "male", "female",
                               "men", "women", "values", "value", "normal", "range", "on",
                               "the", "sheet", "report", "was", "is", "printed", "given", "says",
                               "lab", "from"})
FLAG_LEADS = frozenset({"flagged", "flag", "flagged as", "marked"})
REPORT_WORDS = frozenset({"report", "app", "lab", "labs", "result", "results", "printout",
                          "sheet", "portal", "form"})
FLAG_LABELS = frozenset({"flag", "flags", "comment", "comments", "status", "observación",
                         "observacion", "beurteilung", "bewertung"})
# "540 not 450", "540 rather than 450": the figure after the cue is the one being corrected.
CORRECTION_CUES = (("not",), ("rather", "than"), ("instead", "of"))
CORRECTION_WINDOW = 4  # tokens before the cue in which the corrected-to figure must stand
FATTY_SEVERITY = {c: i for i, c in enumerate(LIVER_CONDITIONS)}  # later = more advanced
DOSE_UNITS = frozenset({
    "mcg", "µg", "ug", "mg", "iu", "mcg/day", "mcg/d", "µg/day", "ug/day", "mg/day",
    "iu/day", "mcg daily", "mg daily", "micrograms", "milligrams", "tablet", "tablets", "pill",
    "pills", "shot", "shots", "injection", "injections",
})
TREATMENT_WORDS = frozenset({
    "injection", "injections", "shot", "shots", "jab", "jabs", "loading dose", "loading doses",
    "hydroxocobalamin", "methylcobalamin", "supplement", "supplements", "supplementing",
    "tablets", "tablet",
})
PERSONAL_WORDS = frozenset({"my", "i", "i'm", "im", "i've", "ive", "me", "mine"})
POST_EARLIER = frozenset({"before", "ago", "earlier", "previously", "prior"})
POST_CURRENT = frozenset({"after", "now", "today", "currently"})
# Words that may stand between two results of one test ("b12 was 180, then 2021 it was 330").
SERIES_WORDS = frozenset({
    "and", "then", "to", "from", "it", "was", "is", "s", "were", "now", "later", "at", "after",
    "before", "in", "on", "of", "the", "my", "a", "an", "went", "up", "down", "came", "back",
    "by", "since", "with", "when", "i", "had", "got", "this", "that", "last", "year", "month",
    "week", "time", "times", "today", "latest", "repeat", "repeated", "again", "still", "ago",
    "previously", "previous", "prev", "injections", "treatment", "tablets", "starting",
    "started", "months", "weeks", "years", "days", "recheck", "retest", "result",
    "results", "level", "levels", "first", "second", "third", "initially", "but", "only",
    "rose", "fell", "dropped", "increased", "decreased", "became", "gp", "hospital",
    "doctor", "each", "both", "also", "around", "about", "approximately", "roughly", "its",
    "normal", "trimester", "pregnancy", "day",
})
# "Two years ago it was 139": words between a time cue and the value it carries.
CONTINUATION_FILLERS = frozenset({"it", "'s", "was", "is", "were", "at", "came", "back", "had",
                                  "of", "level", "result", "injections", "injection",
                                  "treatment", "loading", "doses", "supplements", "tablets",
                                  "weeks", "months", "sublingual", "mcg", "1000mcg", "ones",
                                  "one", "says", "say", "said", "shows", "showed", "reads",
                                  "a", "two", "three", "four", "five", "six", "few",
                                  "several", "couple"})
DOSE_QUESTION_WORDS = frozenset({"better", "dose", "dosage", "take", "strength", "which"})
SPECIMEN_WORDS = {"urine": "urine_mma", "urinary": "urine_mma"}
SPECIMEN_ANALYTE = {"active_b12": "b12", "red_cell_folate": "folate", "urine_mma": "mma"}

_NUMBER = re.compile(r"^-?\d[\d.,]*$")
# "ab/cd" right after a number: a unit, even if we do not know it (reported, never guessed).
_UNIT_LEFT = re.compile(r"^[A-Za-zµμ]{1,6}$")
_UNIT_RIGHT = re.compile(r"^[A-Za-z]{1,3}$")
UNIT_KINDS = ("units", "other_units", "unit_shape", "urine_units")
CLAIMER_KINDS = ("analytes", "other_tests", "specimens")

_INTEGER = re.compile(r"\d+")
_DECIMAL_POINT = re.compile(r"\d+\.\d+")
_COMMA_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL_COMMA = re.compile(r"\d+,\d+")
_DOT_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:\.\d{3}){2,}")
_EUROPEAN = re.compile(r"[1-9]\d{0,2}(?:\.\d{3})+,\d+")
_MAX_DIGITS = 20
_DATE = re.compile(r"^(\d{1,4})[/.](\d{1,2})(?:[/.](\d{2,4}))?$")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_MONTH_YEAR = re.compile(r"^(0?[1-9]|1[0-2])[/.]((?:19|20)\d\d)$")
MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


def parse_number(text: str) -> Decimal | None:
    """A number as patients type it, or None if it is not one unambiguous number.

    "1,100" and "12,345.6" use thousands separators; "0,45" and "17,2" a decimal comma
    (a comma followed by exactly three digits after a non-zero lead is a separator);
    "1.100" is one point one; "1.100.000" and "1.100,5" are European.
    """
    negative = text.startswith("-")
    body = text[1:] if negative else text
    if len(body) > _MAX_DIGITS + 6:
        return None
    if _INTEGER.fullmatch(body) or _DECIMAL_POINT.fullmatch(body):
        number = body
    elif _COMMA_THOUSANDS.fullmatch(body):
        number = body.replace(",", "")
    elif _DECIMAL_COMMA.fullmatch(body):
        number = body.replace(",", ".")
    elif _DOT_THOUSANDS.fullmatch(body):
        number = body.replace(".", "")
    elif _EUROPEAN.fullmatch(body):
        number = body.replace(".", "").replace(",", ".")
    else:
        return None
    value = Decimal(number)
    return -value if negative else value


@dataclass(frozen=True)
class _Engine:
    nlp: object
    phrases: dict[str, list[tuple[tuple[str, ...], str, str]]]  # by first token
    tokenizer: _Tokenizer


@dataclass
class _Mention:
    kind: str
    key: str
    start: int
    end: int
    bound: list[_Value] = field(default_factory=list)  # for claimers: the values they took


@dataclass
class _Value:
    start: int  # the number's token
    end: int  # after the unit, if any
    text_start: int  # the comparator's first token, if any
    number_end: int
    value: Decimal
    unit: str | None
    unit_kind: str | None
    comparator: str | None
    doc: list = field(repr=False)
    line: int = 0
    excluded: bool = False
    dose: bool = False
    range_part: bool = False
    flag: str | None = None
    lab_range: LabRange | None = None
    when: str | None = None  # a cue said "current" or "earlier"
    date: tuple[int, int, int] | None = None
    owner: _Mention | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """The value as typed, comparator and unit included (built only when needed)."""
        return _text(self.doc, self.text_start, self.end)


class _Tok:
    """A token's attributes read once from spaCy (reading them from a Doc each time costs
    more than all the rules together)."""

    __slots__ = (
        "doc",
        "i",
        "idx",
        "is_alpha",
        "is_punct",
        "is_space",
        "like_num",
        "lower_",
        "text",
        "whitespace_",
    )

    def __init__(self, text: str, i: int, idx: int, kind: tuple[bool, bool, bool, bool],
                 doc: list) -> None:
        self.text = text
        self.lower_ = text.lower()
        self.i = i
        self.idx = idx
        self.is_space, self.is_punct, self.is_alpha, self.like_num = kind
        self.whitespace_ = ""
        self.doc = doc


def _text(doc: list[_Tok], start: int, end: int) -> str:
    """The text tokens ``start`` to ``end`` cover, as typed (a spaCy Span's ``.text``)."""
    span = doc[start:end]
    if not span:
        return ""
    return "".join(t.text + t.whitespace_ for t in span[:-1]) + span[-1].text


_DIGIT = re.compile(r"\d")
_CHUNKS = re.compile(r"\S+|\s+")
_CHUNK_CACHE_SIZE = 50_000


def _token_kind(text: str) -> tuple[bool, bool, bool, bool]:
    """(is_space, is_punct, is_alpha, like_num) as spaCy's English lexeme attributes."""
    from spacy.lang.en.lex_attrs import like_num
    from spacy.lang.lex_attrs import is_punct

    return text.isspace(), is_punct(text), text.isalpha(), like_num(text)


class _Tokenizer:
    """spaCy's English tokenizer (with the parser's rules), split chunk by chunk with a cache.

    spaCy splits text at whitespace and tokenizes each chunk on its own, so a chunk's tokens
    can be remembered. Chunks are looked up with every digit written as 5: digits never decide
    a split (checked over every message of the test sets, tests/b12core/labs/test_parser.py), so
    "198" and "356" share one entry, and a lab report is mostly chunks seen before. Building a
    spaCy Doc for every message cost more than every rule of the parser together.
    """

    def __init__(self, nlp) -> None:
        self.nlp = nlp
        self.cache: dict[str, tuple[tuple[int, tuple[bool, bool, bool, bool]], ...]] = {}

    def _pieces(self, masked: str):
        pieces = self.cache.get(masked)
        if pieces is None:
            pieces = tuple((len(t.text), _token_kind(t.text)) for t in self.nlp.tokenizer(masked))
            if len(self.cache) >= _CHUNK_CACHE_SIZE:
                self.cache.clear()
            self.cache[masked] = pieces
        return pieces

    def __call__(self, text: str) -> list[_Tok]:
        toks: list[_Tok] = []
        masked = _DIGIT.sub("5", text)
        for match in _CHUNKS.finditer(text):
            chunk, start = match.group(), match.start()
            if chunk[0].isspace():
                if chunk[0] == " " and toks:
                    toks[-1].whitespace_ = " "  # one space belongs to the token before it
                    chunk, start = chunk[1:], start + 1
                if chunk:
                    toks.append(_Tok(chunk, len(toks), start, (True, False, False, False), toks))
                continue
            offset = start
            for length, kind in self._pieces(masked[start : match.end()]):
                word = text[offset : offset + length]
                toks.append(_Tok(word, len(toks), offset, kind, toks))
                offset += length
        return toks


def _tokenize(engine: _Engine, text: str) -> list[_Tok]:
    return engine.tokenizer(text)


@dataclass
class _Doc:
    """The tokens with what every rule needs: mentions by position, the line of a token."""

    doc: list[_Tok]
    mentions: list[_Mention]
    by_start: dict[int, _Mention]
    by_end: dict[int, _Mention]
    covered: dict[int, _Mention]
    lines: list[int]  # line number of each token
    line_spans: dict[int, tuple[int, int]] = field(default_factory=dict)

    def line_tokens(self, line: int) -> list[_Tok]:
        start, end = self.line_spans.get(line, (0, 0))
        return self.doc[start:end]

    def kind_at(self, i: int) -> str | None:
        m = self.covered.get(i)
        return m.kind if m is not None else None


def _make_nlp():
    import spacy
    from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

    nlp = spacy.blank("en")
    infixes = [
        *nlp.Defaults.infixes,
        r"(?<=[0-9])(?=[A-Za-zµμ])",  # "350pg/ml" -> "350", "pg", ...
        r"(?<=\S)[=:;](?=\S)",  # "b12:480", "hcy=17"
        r"(?<=[0-9])[–—](?=[0-9])",  # "150–700"
        r"(?<=\S)[\[\]](?=\S)",  # "6.8ug/L[3.9-26.8]"
    ]
    suffixes = [
        *nlp.Defaults.suffixes,
        r"(?<=[A-Za-zµμ])\.",  # "pmol/L." -> "L", "."
        r"(?<=[A-Za-z]{3})-",  # "folate- 3.5" -> "folate", "-"
    ]
    prefixes = [*nlp.Defaults.prefixes, r"-(?=[A-Za-z])"]  # "P -B12-Vit" (a Finnish code)
    nlp.tokenizer.prefix_search = compile_prefix_regex(prefixes).search
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    nlp.tokenizer.suffix_search = compile_suffix_regex(suffixes).search
    # English keeps "l." whole (an initial); here it ends "nmol/l." at the end of a sentence.
    nlp.tokenizer.rules = {k: v for k, v in nlp.tokenizer.rules.items() if k not in ("l.", "L.")}
    return nlp


def _build_engine(vocab: Vocabulary) -> _Engine:
    """The tokenizer, and every spelling as its lower-case token sequence (a dict lookup
    per position and length does what spaCy's PhraseMatcher on LOWER did)."""
    nlp = _make_nlp()
    phrases: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
    for kind, key, words in vocab.phrases:
        for word in words:
            tokens = tuple(t.lower_ for t in nlp.make_doc(word))
            phrases.setdefault(tokens[0], []).append((tokens, kind, key))
    return _Engine(nlp=nlp, phrases=phrases, tokenizer=_Tokenizer(nlp))


@lru_cache(maxsize=1)
def _engine() -> _Engine:
    """The tokenizer and matchers, built once per process on first use."""
    return _build_engine(vocabulary())


def clean_text(text: object) -> str:
    """Any input as printable text: bytes decoded leniently, surrogates and controls dropped."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    if text.replace("\n", "").replace("\t", "").isprintable():
        return text  # the usual case, without a pass over every character
    return "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)


def _shapes(toks: list[_Tok]):
    """Numbers, and "ab/cd" unit shapes (a pattern in Python: spaCy's regex Matcher took
    longer than everything else together)."""
    for i, t in enumerate(toks):
        first = t.text[0]
        if (first.isdigit() or first == "-") and _NUMBER.match(t.text):
            yield "number", i, i + 1
        elif (t.text == "/" and 0 < i < len(toks) - 1 and _UNIT_LEFT.match(toks[i - 1].text)
                and _UNIT_RIGHT.match(toks[i + 1].text)):
            yield "unit_shape", i - 1, i + 2


def _mentions(toks: list[_Tok], engine: _Engine) -> list[_Mention]:
    """Non-overlapping matches, longest first; a vocabulary unit beats a mere unit shape."""
    found = []  # (-length, is a unit shape, start, end, kind, key): sorts longest first
    lowers = [t.lower_ for t in toks]
    count = len(lowers)
    phrases = engine.phrases
    for start, first in enumerate(lowers):
        for tokens, kind, key in phrases.get(first, ()):
            end = start + len(tokens)
            if end <= count and (end == start + 1 or tuple(lowers[start:end]) == tokens):
                found.append((start - end, False, start, end, kind, key))
    for kind, start, end in _shapes(toks):
        found.append((start - end, kind == "unit_shape", start, end, kind, ""))
    found.sort()
    taken = [False] * count
    kept = []
    for _, _, start, end, kind, key in found:
        if end == start + 1:
            if taken[start]:
                continue
            taken[start] = True
        elif any(taken[start:end]):
            continue
        else:
            taken[start:end] = [True] * (end - start)
        kept.append(_Mention(kind, key, start, end))
    kept.sort(key=lambda m: m.start)
    return kept


def _index(engine: _Engine, text: str) -> _Doc:
    doc = _tokenize(engine, text)
    mentions = _mentions(doc, engine)
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    lines = [bisect_right(newlines, t.idx - 1) if newlines else 0 for t in doc]
    line_spans: dict[int, tuple[int, int]] = {}
    for i, line in enumerate(lines):
        start, _ = line_spans.get(line, (i, i))
        line_spans[line] = (start, i + 1)
    covered = {}
    for m in mentions:
        for i in range(m.start, m.end):
            covered[i] = m
    return _Doc(
        doc=doc,
        mentions=mentions,
        by_start={m.start: m for m in mentions},
        by_end={m.end: m for m in mentions},
        covered=covered,
        lines=lines,
        line_spans=line_spans,
    )


def _is_boundary(token) -> bool:
    if token.text == "." and token.i > 0:
        before = token.doc[token.i - 1]
        if (before.is_alpha is False and "." in before.text) or (
            before.is_alpha and len(before.text) <= 2 and not token.whitespace_
        ):
            return False  # "i.S.", "Vit." inside a row, not the end of a sentence
    return token.text in SENTENCE_ENDS or (token.is_space and "\n" in token.text)


def _is_blank_line(token) -> bool:
    return token.is_space and token.text.count("\n") >= 2


def _unit_key(d: _Doc, m: _Mention) -> str:
    if m.kind == "units":
        return m.key
    if m.kind == "urine_units":
        return m.key
    return _text(d.doc, m.start, m.end)


# --- numbers -------------------------------------------------------------------------


def _values(d: _Doc) -> list[_Value]:
    doc = d.doc
    values = []
    for m in d.mentions:
        if m.kind != "number":
            continue
        number = parse_number(doc[m.start].text)
        if number is None:
            continue
        after = d.by_start.get(m.end)
        unit = unit_kind = None
        end = m.end
        if after is not None and after.kind in UNIT_KINDS:
            unit, unit_kind, end = _unit_key(d, after), after.kind, after.end
        before = d.by_end.get(m.start)
        comparator = before.key if before is not None and before.kind == "comparators" else None
        cue = d.by_end.get(before.start) if comparator and before is not None else before
        start = before.start if comparator else m.start
        value = _Value(
            start=m.start,
            end=end,
            text_start=start,
            number_end=m.end,
            value=number,
            unit=unit,
            unit_kind=unit_kind,
            comparator=comparator,
            doc=doc,
            line=d.lines[m.start],
        )
        value.excluded = _is_not_a_result(d, value, after, cue)
        if after is not None and after.kind == "not_lab_units" and (
            _text(doc, after.start, after.end).lower() in DOSE_UNITS
        ):
            value.dose = True
        values.append(value)
    _exclude_corrected_figures(doc, values)
    _exclude_targets_and_comments(d, values)
    _exclude_alternatives(d, values)
    _find_doses(d, values)
    return values


def _exclude_targets_and_comments(d: _Doc, values: list[_Value]) -> None:
    """"B12 should be above 300" names a target; a lab's "Comment:" line quotes cut-offs."""
    doc = d.doc
    comment_lines = set()
    for m in d.mentions:
        if m.kind == "comment_cues":
            first = next(t for t in d.line_tokens(d.lines[m.start]) if not t.is_space)
            if first.i == m.start:
                comment_lines.add(d.lines[m.start])
    for value in values:
        if value.line in comment_lines:
            value.excluded = True
            continue
        k = value.text_start - 1
        while k >= 0 and doc[k].is_space:
            k -= 1
        if k >= 0 and d.kind_at(k) == "target_cues":
            value.excluded = True


def _exclude_alternatives(d: _Doc, values: list[_Value]) -> None:
    """"B12 1000 or 2500, which is better?": alternatives, never a result (a dose if asked)."""
    doc = d.doc
    if not any(t.lower_ == "or" for t in doc):
        return
    asks_dose = any(t.lower_ in DOSE_QUESTION_WORDS for t in doc)
    for left, right in pairwise(values):
        gap = [t for t in doc[left.end : right.text_start] if not t.is_space]
        if len(gap) == 1 and gap[0].lower_ == "or" and left.line == right.line:
            for v in (left, right):
                v.excluded = True
                if asks_dose and v.unit is None:
                    v.dose = True


def _exclude_corrected_figures(doc, values: list[_Value]) -> None:
    """In "b12 was 540 not 450" the result is 540: 450 is what the user corrects."""
    for earlier, value in pairwise(values):
        for cue in CORRECTION_CUES:
            start = value.text_start - len(cue)
            if start < 0 or tuple(t.lower_ for t in doc[start : value.text_start]) != cue:
                continue
            if 0 <= start - earlier.end <= CORRECTION_WINDOW:
                value.excluded = True


def _is_not_a_result(d: _Doc, value: _Value, after, cue) -> bool:
    """Doses, ages, durations, dates, clock times and lab codes are not lab results."""
    doc = d.doc
    if after is not None and after.kind == "not_lab_units":
        return True
    if cue is not None and cue.kind in ("age_cues", "label_cues"):
        return True
    if value.unit is not None:
        return False
    number = value.value
    raw = doc[value.start].text
    whole = number == number.to_integral_value() and "." not in raw and "," not in raw
    if whole and len(raw) >= 2 and raw.startswith("0"):
        return True  # "01" (a lab code), "0830" (a time)
    if whole and _YEAR.match(raw):
        if cue is not None and cue.kind in ("year_cues", "months"):
            return True
        nxt = value.number_end
        if nxt < len(doc) and doc[nxt].text in (":", ")", "-", "="):
            return True  # "2022: 1,890", "(2021)", "2019 = 180"
        if nxt < len(doc) and doc[nxt].lower_ in ("it", "my", "was", "when", "i", "they"):
            return True  # "then 2021 it was 330"
    if whole and 1 <= number <= 31:
        if (cue is not None and cue.kind == "months") or (
            after is not None and after.kind == "months"
        ):
            return True
        nxt = value.number_end
        if nxt < len(doc) and doc[nxt].lower_ == "of":
            month = d.by_start.get(nxt + 1)
            if month is not None and month.kind == "months":
                return True
    i = value.start
    if i >= 2 and doc[i - 1].text == ":" and not doc[i - 2].whitespace_ and _clock(doc[i - 2].text,
                                                                                   raw):
        return True
    j = value.number_end
    return (
        j + 1 < len(doc)
        and doc[j].text == ":"
        and not doc[j - 1].whitespace_
        and _clock(raw, doc[j + 1].text)
    )


def _clock(hours: str, minutes: str) -> bool:
    """"8:12", "14:30": a time of day, not "2023: 0.22"."""
    return (hours.isdigit() and int(hours) <= 24 and minutes.isdigit() and len(minutes) == 2
            and int(minutes) < 60)


def _find_doses(d: _Doc, values: list[_Value]) -> None:
    """"b12 1000 every morning", "I take b12 1000": a number taken, not measured."""
    doc = d.doc
    for value in values:
        if value.excluded or value.unit_kind in ("units", "urine_units"):
            continue
        j = value.number_end
        while j < len(doc) and j < value.number_end + 2 and doc[j].is_space:
            j += 1
        nxt = d.by_start.get(j)
        if nxt is not None and nxt.kind in ("frequency_cues", "dose_verbs"):
            value.excluded = value.dose = True
            continue
        k = value.text_start - 1
        while k >= 0 and k >= value.text_start - DOSE_VERB_WINDOW:
            m = d.covered.get(k)
            if m is not None and (m.kind == "dose_verbs" or (
                    m.kind == "not_lab_units" and doc[k].lower_ in DOSE_UNITS)):
                value.excluded = value.dose = True  # "b12 injection 1 mg/mL", "I take b12 1000"
                break
            if _is_boundary(doc[k]) or doc[k].text in (":", "=", ",") or (
                    m is None and doc[k].is_alpha and doc[k].lower_ not in (
                    "my", "the", "of", "i", "me", "vitamin", "on", "with", "and", "extra")):
                break
            k = m.start - 1 if m is not None else k - 1


# --- printed reference ranges -----------------------------------------------------------


def _range_of(left: _Value, right: _Value | None) -> LabRange:
    if right is not None:
        return LabRange(
            text=f"{_plain(left.value)}-{_plain(right.value)}",
            lower=left.value,
            upper=right.value,
            unit=right.unit or left.unit,
        )
    comparator = left.comparator or ""
    lower = upper = None
    lower_inclusive = upper_inclusive = True
    if comparator.startswith(">"):
        lower, lower_inclusive = left.value, comparator == ">="
    elif comparator.startswith("<"):
        upper, upper_inclusive = left.value, comparator == "<="
    return LabRange(
        text=f"{comparator}{_plain(left.value)}",
        lower=lower,
        upper=upper,
        lower_inclusive=lower_inclusive,
        upper_inclusive=upper_inclusive,
        unit=left.unit,
    )


def _plain(x: Decimal) -> str:
    return format(x, "f")


@dataclass
class _Range:
    lab_range: LabRange
    start: int
    end: int
    line: int
    cued: bool  # a reference cue on its line ("Normal range:", "ref")


def _reference_lines(d: _Doc) -> tuple[set[int], set[int], set[int]]:
    """Where printed ranges stand: the lines of a "Reference Range :-" block, the tokens
    after a reference cue ("(ref 150-700)", "Normal range: 197 - 771"), the cued lines."""
    doc = d.doc
    block: set[int] = set()
    spans: set[int] = set()
    cued_lines: set[int] = set()
    for m in d.mentions:
        if m.kind != "reference_cues":
            continue
        line = d.lines[m.start]
        cued_lines.add(line)
        words = [t for t in d.line_tokens(line) if not (t.is_space or t.is_punct)]
        heading = all(d.kind_at(t.i) == "reference_cues" or t.lower_ in (
            "interval", "intervals", "values", "bio", "biological") for t in words)
        if heading:
            nxt = line + 1
            while nxt in d.line_spans and any(not t.is_space for t in d.line_tokens(nxt)):
                block.add(nxt)
                nxt += 1
            continue
        k = m.start - 1
        while k >= 0 and doc[k].is_space:
            k -= 1
        closing = {"(": ")", "[": "]"}.get(doc[k].text) if k >= 0 else None
        # "Ref: B12 145-569, Folate >7": a line that opens with the cue holds ranges only.
        whole_line = closing is None and (k < 0 or d.lines[k] != line)
        j = m.end
        while j < len(doc) and d.lines[j] == line:
            t = doc[j]
            if closing is not None and t.text == closing:
                break
            if whole_line and (t.text in (",", ";") or d.kind_at(j) in CLAIMER_KINDS):
                j = d.covered[j].end if j in d.covered else j + 1
                continue
            if closing is None and (t.text in (",", ";") or d.kind_at(j) in CLAIMER_KINDS):
                break
            if t.is_alpha and d.kind_at(j) not in ("comparators", *UNIT_KINDS) and (
                t.lower_ not in REFERENCE_FILLERS
            ):
                break  # "in the normal range at 480": the cue is prose, not a range
            spans.add(j)
            j += 1
    return block, spans, cued_lines


def _find_ranges(d: _Doc, values: list[_Value]) -> list[_Range]:
    """Printed ranges: bracketed after a result, after a reference cue, or "a - b" pairs."""
    doc = d.doc
    block, spans, cued_lines = _reference_lines(d)
    live = [v for v in values if not v.excluded]
    in_range: set[int] = set()
    for v in live:
        if v.line in block or v.start in spans:
            in_range.add(id(v))
    for left, right in pairwise(live):
        # A bracket opened right after a result holds its range: "18.2 nmol/L (>10)".
        k = left.end
        while k < right.text_start and (
            doc[k].is_space or d.kind_at(k) in ("flags", *UNIT_KINDS)
        ):
            k = k + 1 if doc[k].is_space else d.covered[k].end
        if right.text_start == k + 1 and doc[k].text in OPEN_BRACKETS and left.line == right.line:
            in_range.add(id(right))
    ranges: list[_Range] = []
    i = 0
    while i < len(live):
        left = live[i]
        right = live[i + 1] if i + 1 < len(live) else None
        pair = right is not None and _dash_pair(d, left, right, spans)
        if pair or id(left) in in_range:
            if pair:
                in_range.update((id(left), id(right)))
            if pair or left.comparator or _bracketed(doc, left):
                cued = left.line in cued_lines or left.line in block
                lab_range = _range_of(left, right if pair else None)
                end = right.end if pair else left.end
                ranges.append(_Range(lab_range, left.text_start, end, left.line, cued))
            for v in (left, right) if pair else (left,):
                v.excluded = v.range_part = True
            i += 2 if pair else 1
            continue
        i += 1
    return ranges


def _bracketed(doc, value: _Value) -> bool:
    return value.text_start > 0 and doc[value.text_start - 1].text in OPEN_BRACKETS


def _dash_pair(d: _Doc, left: _Value, right: _Value, spans: set[int]) -> bool:
    """"148-664", "197 - 771", "(150 to 700)", "ref 258 to 664": a range, lower first."""
    doc = d.doc
    gap = doc[left.end : right.text_start]
    words = [t for t in gap if not t.is_space]
    if len(words) != 1 or words[0].lower_ not in RANGE_DASHES or left.line != right.line:
        return False
    if left.comparator or right.comparator or left.value >= right.value:
        return False
    if words[0].lower_ not in ("to", "a"):
        return True
    cued = left.start in spans or any(
        d.kind_at(k) == "reference_cues" for k in range(max(0, left.start - 3), left.start)
    )
    return cued or _bracketed(doc, left) or _one_cell(d, left, right)


def _one_cell(d: _Doc, left: _Value, right: _Value) -> bool:
    """"5 a 15" alone in a tab-separated column: a range, as a lab prints it."""
    doc = d.doc
    before = doc[left.text_start - 1] if left.text_start > 0 else None
    after = doc[right.end] if right.end < len(doc) else None
    return (before is not None and before.is_space and "\t" in before.text
            and (after is None or (after.is_space and ("\t" in after.text or "\n" in after.text))))


# --- linking values to tests ------------------------------------------------------------


def _claimers(d: _Doc) -> list[_Mention]:
    """Test mentions; "vitamin b12 (cobalamin)" counts once."""
    doc = d.doc
    claimers: list[_Mention] = []
    for m in d.mentions:
        if m.kind not in CLAIMER_KINDS:
            continue
        if claimers:
            last = claimers[-1]
            between = doc[last.end : m.start]
            if (
                last.kind == m.kind
                and last.key == m.key
                and all(t.is_punct or t.lower_ in ("or", "aka") for t in between)
            ):
                last.end = m.end
                continue
            if _explains_specimen(doc, last, m, between):
                last.end = m.end + 1
                continue
        claimers.append(m)
    return claimers


def _explains_specimen(doc, last: _Mention, m: _Mention, between) -> bool:
    """"Holotranscobalamin (aktives B12)": the bracket names the specimen, not total B12."""
    return (
        last.kind == "specimens"
        and m.kind == "analytes"
        and SPECIMEN_ANALYTE.get(last.key) == m.key
        and len(between) <= 3
        and any(t.text == "(" for t in between)
        and all(t.text == "(" or t.is_alpha or t.is_space for t in between)
        and m.end < len(doc)
        and doc[m.end].text == ")"
    )


def _bind(value: _Value, claimer: _Mention) -> None:
    value.owner = claimer
    claimer.bound.append(value)


def _link_backward_phrases(doc, claimers, candidates) -> None:
    """"1100 pg/ml for b12"."""
    starts = {c.start: c for c in claimers}
    for value in candidates:
        for gap in range(0, 4):
            claimer = starts.get(value.end + gap)
            if claimer is None:
                continue
            words = [t.lower_ for t in doc[value.end : value.end + gap]]
            linked = bool(words) and words[0] in BACKWARD_LINKS
            free = value.owner is None and not claimer.bound
            if linked and free and all(w in BACKWARD_FILLERS for w in words):
                _bind(value, claimer)
            break


def _link_lists(doc, claimers, candidates) -> None:
    """"b12 and folate were 350 and 12" pairs in order."""
    i = 0
    while i < len(claimers):
        run = [claimers[i]]
        while i + len(run) < len(claimers):
            nxt = claimers[i + len(run)]
            gap = doc[run[-1].end : nxt.start]
            if len(gap) and all(t.lower_ in LIST_SEPARATORS for t in gap):
                run.append(nxt)
            else:
                break
        i += len(run)
        if len(run) < 2 or any(c.bound for c in run):
            continue
        following = [v for v in candidates if v.start >= run[-1].end]
        if len(following) < len(run):
            continue
        first = following[0]
        lead = doc[run[-1].end : first.start]
        if len(lead) > 6 or any(_is_boundary(t) for t in lead):
            continue
        group = [first]
        for value in following[1:]:
            gap = doc[group[-1].end : value.start]
            if len(gap) and all(t.lower_ in LIST_SEPARATORS for t in gap):
                group.append(value)
            else:
                break
        if len(group) == len(run) and all(v.owner is None for v in group):
            for claimer, value in zip(run, group, strict=False):
                _bind(value, claimer)


def _link_forward(d: _Doc, claimers, values, ranges: list[_Range]) -> None:
    """The values after a test in its clause or row: one result, or a history of results.

    The first value must come within FORWARD_WINDOW tokens, each further one within
    FORWARD_WINDOW of the previous; a test, the end of a sentence or (after words) the
    end of a line stops it. Numbers after a printed range in the same row are other
    columns (lab codes), never results.
    """
    doc = d.doc
    claimer_starts = {c.start for c in claimers}
    value_at = {v.start: v for v in values}
    range_at = {r.start: r for r in ranges}
    for claimer in claimers:
        if claimer.bound:
            continue
        found: list[_Value] = []
        seen_words = False
        j = claimer.end
        while j < len(doc) and doc[j].is_space and "\n" not in doc[j].text:
            j += 1
        if j < len(doc) and doc[j].is_space and claimer.kind != "other_tests":
            continue  # the test alone on its line: its rows are read by _link_heading_rows
        j = claimer.end
        limit = claimer.end + FORWARD_WINDOW
        range_line: int | None = None
        while j < len(doc) and j < limit:
            token = doc[j]
            if j in claimer_starts:
                break
            if _is_boundary(token) and (seen_words or token.text in SENTENCE_ENDS):
                break
            if j in range_at:
                if found:
                    range_line = range_at[j].line  # later numbers in the row: other columns
                seen_words = True
                limit += range_at[j].end - j  # a printed range does not use up the window
                j = range_at[j].end
                continue
            value = value_at.get(j)
            if value is not None and not value.excluded:
                if value.owner is not None:
                    break
                if range_line == value.line:
                    break
                found.append(value)
                limit = value.end + FORWARD_WINDOW
            if value is not None:
                j = value.end
                continue
            if not (token.is_punct or token.is_space):
                m = d.covered.get(j)
                if m is None or m.kind not in (
                    "flags", "earlier_cues", "current_cues", "months", "comparators",
                ) or found:
                    seen_words = True
                if (found and m is None and token.is_alpha and token.lower_ not in SERIES_WORDS
                        and _next_is_number(doc, j)):
                    break  # "b12 275 and foliate 6.3": an unknown name may be another test
            j += 1
        for value in _row_bounds_as_ranges(d, found, ranges):
            _bind(value, claimer)


def _next_is_number(doc, j: int) -> bool:
    k = j + 1
    while k < len(doc) and (doc[k].is_space or doc[k].text in (":", "=", "-")):
        k += 1
    return k < len(doc) and doc[k].text[:1].isdigit()


def _row_bounds_as_ranges(d: _Doc, found: list[_Value], ranges: list[_Range]) -> list[_Value]:
    """In a row "16.0  <=15.0 umol/L  H" the bounded second number is the lab's range."""
    if len(found) < 2:
        return found
    first = found[0]
    row_has_range = any(r.line == first.line and r.start > first.start for r in ranges)
    if (first.comparator and not row_has_range and not any(r.line == first.line for r in ranges)
            and all(v.line == first.line and not v.comparator for v in found[1:])):
        # "Holo-TC<tab>pmol/l<tab>>50<tab>19<tab>45": a range column before the results
        first.excluded = first.range_part = True
        ranges.append(_Range(_range_of(first, None), first.text_start, first.end,
                             first.line, cued=False))
        return found[1:]
    kept = [first]
    for value in found[1:]:
        if value.value == first.value and value.comparator == first.comparator:
            value.excluded = True  # "over 20 (it says >20)": the same result said again
            continue
        if value.comparator and value.line == first.line and not row_has_range:
            value.excluded = value.range_part = True
            ranges.append(_Range(_range_of(value, None), value.text_start, value.end,
                                 value.line, cued=False))
            row_has_range = True
            continue
        kept.append(value)
    return kept


def _link_heading_rows(d: _Doc, claimers, values) -> None:
    """A test named alone on its line owns the loose values of the lines under it.

    "Serum vitamin B12 level\\nResult: 239 ng/L", "Vitamin B12 (ng/L)\\n 18/05/2023  142".
    """
    doc = d.doc
    claimer_lines = {d.lines[c.start] for c in claimers}
    for claimer in claimers:
        if claimer.bound:
            continue
        line = d.lines[claimer.start]
        if any(v.line == line and not v.excluded for v in values):
            continue
        later = [c for c in claimers if d.lines[c.start] > line]
        stop_line = d.lines[later[0].start] if later else None
        last_end = claimer.end
        for value in values:
            if value.excluded or value.owner is not None or value.line <= line:
                continue
            if stop_line is not None and value.line >= stop_line:
                break
            if claimer.bound and any(_is_blank_line(t) for t in doc[last_end : value.start]):
                break  # a blank line after its results ends the block
            if value.line in claimer_lines:
                continue
            _bind(value, claimer)
            last_end = value.end


def _link_column_headers(d: _Doc, claimers, values) -> None:
    """"Date  B12 ng/L  Folate ug/L" over rows of dates and values: one column per test."""
    by_line: dict[int, list[_Mention]] = {}
    for c in claimers:
        by_line.setdefault(d.lines[c.start], []).append(c)
    for line, heads in by_line.items():
        heads = [c for c in heads if c.kind != "other_tests"]
        if len(heads) < 2 or any(c.bound for c in heads):
            continue
        if any(v.line == line and not v.excluded for v in values):
            continue
        row = line + 1
        while row not in by_line:
            cells = [v for v in values if v.line == row and not v.excluded and v.owner is None]
            if row not in d.line_spans:
                break
            if len(cells) == len(heads):
                for head, value in zip(heads, cells, strict=True):
                    _bind(value, head)
            row += 1


def _link_row_leading(d: _Doc, claimers, values) -> None:
    """"276<tab>B12<tab>ng/L": a row that starts with its value, then names its test."""
    by_line: dict[int, list[_Mention]] = {}
    for c in claimers:
        by_line.setdefault(d.lines[c.start], []).append(c)
    for value in values:
        if value.excluded or value.owner is not None:
            continue
        line_claimers = by_line.get(value.line, [])
        if len(line_claimers) != 1 or line_claimers[0].bound:
            continue
        first = next(t for t in d.line_tokens(value.line) if not t.is_space)
        if first.i == value.text_start and line_claimers[0].start > value.start:
            _bind(value, line_claimers[0])


def _link_time_cued(d: _Doc, claimers, values) -> None:
    """"Folate 6 months ago: 4,2 nmol/l. Today: 9,8 nmol/l": the cue carries the test on."""
    doc = d.doc
    for value in values:
        if value.excluded or value.owner is not None:
            continue
        k = value.text_start - 1
        cue = None
        fillers = 0
        while k >= 0:
            m = d.covered.get(k)
            if m is not None and m.kind in ("current_cues", "earlier_cues"):
                cue = m
                break
            skippable = doc[k].lower_ in CONTINUATION_FILLERS or any(
                v.start == k and v.excluded for v in values
            )
            if skippable and fillers < 8:
                fillers += 1
            elif not (doc[k].is_punct or doc[k].is_space):
                break
            k -= 1
        if cue is None:
            continue
        before = [c for c in claimers if c.end <= cue.start and c.kind in ("analytes", "specimens")]
        if not before or d.lines[cue.start] - d.lines[before[-1].start] > 1:
            continue
        if before[-1].kind == "specimens":
            _bind(value, before[-1])
            continue
        units = _accepted_units().get(before[-1].key, ())
        if value.unit is None or value.unit in units:
            _bind(value, before[-1])
            _bind_following(d, before[-1], value, values)


def _bind_following(d: _Doc, claimer: _Mention, value: _Value, values) -> None:
    """"Previous ones were 390 (2023) and 244 (2022)": the values that follow in the list."""
    doc = d.doc
    last = value
    for nxt in values:
        if nxt.start <= last.start or nxt.excluded:
            continue
        if nxt.owner is not None:
            break
        gap = [t for t in doc[last.end : nxt.text_start] if not t.is_space]
        joined = all(t.is_punct or t.lower_ in ("and", "then") or _token_date(d, t.i)
                     for t in gap)
        if not joined or any(_is_boundary(t) for t in gap):
            break
        _bind(nxt, claimer)
        last = nxt


def _link_backward_units(doc, claimers, values, accepted_units) -> None:
    """"480 pmol/L b12" (only when the unit makes the pairing unambiguous); "is 14
    homocysteine high?" (a bare number right before a test that has no other value)."""
    value_end = {v.end: v for v in values}
    claimer_ends = {c.end for c in claimers}
    for claimer in claimers:
        if claimer.bound or claimer.kind != "analytes":
            continue
        j = claimer.start
        while j > 0 and j > claimer.start - BACKWARD_WINDOW:
            value = value_end.get(j)
            if value is not None:
                adjacent = value.unit is None and all(
                    t.is_space and "\n" not in t.text for t in doc[value.end : claimer.start]
                )
                if (
                    not value.excluded
                    and value.owner is None
                    and (value.unit in accepted_units.get(claimer.key, ()) or adjacent)
                ):
                    _bind(value, claimer)
                break
            token = doc[j - 1]
            if j in claimer_ends or _is_boundary(token):
                break
            j -= 1


# --- units, flags and ranges of linked values ----------------------------------------


def _fill_row_units(d: _Doc, values: list[_Value], ranges: list[_Range]) -> None:
    """A unit after a flag or the printed range in the same row: "412 H 87-318 nmol/L"."""
    doc = d.doc
    range_at = {r.start: r for r in ranges}
    for value in values:
        if value.excluded:
            continue
        j = value.end
        while j < len(doc) and d.lines[j] == value.line:
            token = doc[j]
            m = d.covered.get(j)
            if j in range_at:
                r = range_at[j]
                if r.lab_range.unit and value.unit is None:
                    value.unit = r.lab_range.unit
                j = r.end
                continue
            if m is not None and m.kind in UNIT_KINDS and m.start == j:
                if value.unit is None:
                    value.unit, value.unit_kind = _unit_key(d, m), m.kind
                j = m.end
                continue
            if m is not None and m.kind == "flags" and m.start == j:
                if value.flag is None and _is_flag(d, m):
                    value.flag = m.key
                j = m.end
                continue
            if token.text in SIGN_FLAGS and value.flag is None and _sign_flag(d, j):
                value.flag = SIGN_FLAGS[token.text]  # "2,7<tab>-", "118 -", "98 ... --"
                j += 1
                continue
            if token.is_space or token.text in ("(", ")", "[", "]", ":", ";", "*", "-") or (
                token.lower_ in FLAG_LEADS
            ) or (m is not None and m.kind in ("reference_cues", "months", "year_cues")):
                if token.text == "*" and value.flag is None:
                    value.flag = "*"
                j += 1
                continue
            break
        k = value.text_start - 1
        while k >= 0 and doc[k].is_space and "\n" not in doc[k].text:
            k -= 1
        if value.flag is None and k >= 0 and d.lines[k] == value.line:
            before = d.covered.get(k)
            if doc[k].text == "*":
                value.flag = "*"  # "Vitamina B12<tab>* 158"
            elif (before is not None and before.kind == "flags" and before.end == k + 1
                  and (before.key == "*" or doc[before.start].text[:1].isupper()
                       or not doc[before.start].text.isalpha())
                  and _in_a_table(d, k) and not _after_a_value(d, before.start)):
                value.flag = before.key  # "S Folate<tab>L<tab>8.9", "(*) 17,9": flag first
        if value.flag is None:
            value.flag = _flag_on_next_line(d, value)


def _is_flag(d: _Doc, m: _Mention) -> bool:
    """Single letters and symbols always; "High"/"Low" only in a column or after "flagged"."""
    doc = d.doc
    text = _text(doc, m.start, m.end)
    if text.startswith("(") or m.end - m.start >= 2:
        return True  # "(H)", "(Low)", "below range", "Above high reference limit"
    if m.start > 0 and doc[m.start - 1].text == "(" and (
        m.end >= len(doc) or doc[m.end].text != ")"
    ):
        return False  # "(low end)": the patient's words in brackets, not a flag
    if (text[:1].isupper() or _after_a_value(d, m.start)) and _in_a_table(d, m.start):
        return True  # "187 Low 09/14/2023", "7,9 tief" in a row of columns
    if m.end - m.start == 1 and ((len(text) <= 2 and text.isupper()) or not text.isalpha()):
        return True
    prev = doc[m.start - 1] if m.start > 0 else None
    return prev is None or prev.is_space or prev.text in ("(", "\t") or (
        prev.lower_ in FLAG_LEADS
    ) or ("\n" in (prev.whitespace_ or ""))


def _sign_flag(d: _Doc, j: int) -> bool:
    """A lone "-" or "+" after a result, ending its cell (a tab, a new line or the end)."""
    doc = d.doc
    after_ok = j + 1 >= len(doc) or (doc[j + 1].is_space and (
        "\t" in doc[j + 1].text or "\n" in doc[j + 1].text))
    k = j - 1
    while k >= 0 and doc[k].is_space and "\n" not in doc[k].text:
        k -= 1
    after_range = k >= 0 and doc[k].text in (")", "]")
    return after_ok and (_after_a_value(d, j) or after_range)


def _after_a_value(d: _Doc, i: int) -> bool:
    """The token follows a number or a unit on its line ("154 L": L is 154's flag)."""
    k = i - 1
    while k >= 0 and d.doc[k].is_space and "\n" not in d.doc[k].text:
        k -= 1
    return k >= 0 and (d.doc[k].like_num or d.kind_at(k) in UNIT_KINDS)


def _in_a_table(d: _Doc, i: int) -> bool:
    """The token's line has columns (tabs, or runs of spaces)."""
    return any(t.is_space and "\n" not in t.text for t in d.line_tokens(d.lines[i]))


def _flag_on_next_line(d: _Doc, value: _Value) -> str | None:
    """A flag alone on a line after the value ("Value: 0.45 / High", "Flag: Low",
    "Comment: Low"), or said in the sentence ("they flagged it high", "had an L")."""
    doc = d.doc
    for line in (value.line + 1, value.line + 2):
        tokens = [t for t in d.line_tokens(line) if t.i >= value.end and not t.is_space]
        if tokens and tokens[0].lower_ in FLAG_LABELS:
            tokens = [t for t in tokens[1:] if t.text != ":"]
        if not tokens:
            continue
        m = d.covered.get(tokens[0].i)
        if m is not None and m.kind == "flags" and m.end - 1 == tokens[-1].i:
            return m.key
        last = d.covered.get(tokens[-1].i)
        if (last is not None and last.kind == "flags" and not any(t.like_num for t in tokens)
                and any(t.lower_ in ("range", "outside", "flag", "flagged") for t in tokens)):
            return last.key  # "Result is outside the normal range: Low"
        if any(d.kind_at(t.i) == "reference_cues" for t in tokens):
            continue  # "Range: 3.9 - 26.8" between the value and its flag
        break
    j = value.end
    lead = False
    while j < len(doc) and j < value.end + 10 and not _is_boundary(doc[j]):
        if doc[j].like_num or d.kind_at(j) in CLAIMER_KINDS:
            break
        if doc[j].lower_ in FLAG_LEADS or doc[j].lower_ in ("an", "a") or _report_says(doc, j):
            lead = True
        if doc[j].lower_ in ("says", "shows") and any(
            doc[k].lower_ in REPORT_WORDS for k in range(j, min(len(doc), j + 6))
        ):
            lead = True  # "(says low on the app)"
        m = d.covered.get(j)
        if m is not None and m.kind == "flags" and m.start == j and doc[j].text == "*":
            return "*"  # "folate 3.8 also *"
        if (m is not None and m.kind == "flags" and m.start == j and doc[j].text.isupper()
                and len(doc[j].text) > 1):
            return m.key  # "the report has 'LOW' next to it": the lab's word, quoted
        if lead and m is not None and m.kind == "flags" and m.start == j:
            named = _flag_target(d, m)
            if named is None or (value.owner is not None and named == value.owner.key):
                return m.key
            return None
        j += 1
    return None


def _report_says(doc, j: int) -> bool:
    """"the report says", "the app shows": the lab's words (a doctor saying "high" is not)."""
    return doc[j].lower_ in ("says", "shows", "said", "showed") and any(
        doc[k].lower_ in REPORT_WORDS for k in range(max(0, j - 2), j)
    )


def _flag_target(d: _Doc, flag: _Mention) -> str | None:
    """"L on the folate", "an H next to my B12": the test a flag is said to be on."""
    doc = d.doc
    j = flag.end
    words = []
    while j < len(doc) and len(words) < 4 and not _is_boundary(doc[j]):
        m = d.covered.get(j)
        if m is not None and m.kind == "analytes":
            return m.key if words and words[0] in ("on", "for", "next", "by", "beside") else None
        if not doc[j].is_space:
            words.append(doc[j].lower_)
        j += 1
    return None


def _sentence_flags(d: _Doc, values: list[_Value]) -> None:
    """"the report says L on the folate", "both flagged as low": flags said for a test."""
    doc = d.doc
    for m in d.mentions:
        if m.kind != "flags":
            continue
        before = [doc[k].lower_ for k in range(max(0, m.start - 4), m.start)]
        if not any(w in FLAG_LEADS or w in ("has", "had") for w in before) and not any(
            _report_says(doc, k) for k in range(max(0, m.start - 4), m.start)
        ):
            continue
        sentence = set(_sentence(d, m.start))
        in_sentence = [v for v in values if v.owner is not None and not v.excluded
                       and v.start in sentence and v.start < m.start]
        named = _flag_target(d, m)
        after = " ".join(t.lower_ for t in doc[m.end : m.end + 5] if not t.is_punct)
        before_flag = d.covered.get(m.start - 1) if m.start > 0 else None
        if after.startswith(("next to it", "beside it", "by it")):
            earlier = [v for v in values if v.owner is not None and not v.excluded
                       and v.start < m.start]
            targets = earlier[-1:]  # "154. the report has 'LOW' next to it"
        elif named is not None:
            targets = [v for v in in_sentence if v.owner.key == named]
        elif any(w in ("both", "all") for w in before):
            targets = in_sentence
        elif before_flag is not None and before_flag.kind == "analytes" and before_flag.bound:
            targets = before_flag.bound[:1]  # "Lab said B-12 low at 171 pg/mL"
        else:
            targets = []
        for v in targets:
            if v.flag is None:
                v.flag = m.key


def _attach_ranges(d: _Doc, claimers, ranges: list[_Range], values: list[_Value]) -> None:
    """Each printed range belongs to one test: the value before it on its line, the test
    named on its line, or (a "Normal range:" line) the value just before or after it."""
    bound = [v for v in values if v.owner is not None and not v.excluded]
    for r in sorted(ranges, key=lambda r: r.start):
        analyte_claimers = [c for c in claimers if d.lines[c.start] == r.line]
        on_line = [v for v in bound if v.line == r.line and v.start < r.start]
        target: _Mention | None = None
        if on_line:
            target = on_line[-1].owner
        elif analyte_claimers:
            before_range = [c for c in analyte_claimers if c.start < r.start]
            target = (before_range or analyte_claimers)[-1 if before_range else 0]
        elif r.cued or _alone_on_line(d, r):
            before = [v for v in bound if v.start < r.start]
            after = [v for v in bound if v.start > r.start]
            if before and before[-1].lab_range is None and r.line - before[-1].line <= 3:
                target = before[-1].owner
            elif after and after[0].line - r.line <= 3 and after[0].owner.start < r.start:
                target = after[0].owner  # "Vitamin B-12\nNormal range: 211 - 911\nValue\n287"
        if target is None:
            continue
        for v in _values_of(target, claimers):
            if v.lab_range is None:
                v.lab_range = r.lab_range
                if v.unit is None and r.lab_range.unit:
                    v.unit = r.lab_range.unit  # "Normal range: 0.00 - 0.40 nmol/mL"


def _alone_on_line(d: _Doc, r: _Range) -> bool:
    """"(180 - 914)" on a line of its own, under the result it belongs to."""
    tokens = [t for t in d.line_tokens(r.line) if not t.is_space]
    return all(t.is_punct or r.start <= t.i < r.end or d.kind_at(t.i) in UNIT_KINDS
               for t in tokens)


_DOT_THOUSANDS_SHAPE = re.compile(r"^[1-9]\d{0,2}\.\d{3}$")


def _thousands_by_the_labs_range(d: _Doc, values: list[_Value]) -> None:
    """"1.130 pmol/L (133 - 675)": a dot between thousands, as the lab's own range shows.

    Only when the printed range puts the value a thousand times out of scale and the value
    read as thousands sits near the range; never from the table's plausibility alone.
    """
    for v in values:
        r = v.lab_range
        if v.excluded or r is None or r.lower is None or r.upper is None or r.lower <= 0:
            continue
        if not _DOT_THOUSANDS_SHAPE.match(d.doc[v.start].text):
            continue
        thousands = v.value * 1000
        if v.value < r.lower / 100 and r.lower / 10 <= thousands <= r.upper * 10:
            v.value = thousands


def _values_of(target: _Mention, claimers) -> list[_Value]:
    """The values of every mention of the same test (a report may name it twice)."""
    return [
        v for c in claimers if c.kind == target.kind and c.key == target.key for v in c.bound
    ]


def _free_units(d: _Doc, values: list[_Value], claimers) -> tuple:
    """Units stated away from a number: per test ("B12 ng/L", "B12 (ng/L)") or for all."""
    attached: set[int] = set()
    for v in values:
        attached.update(range(v.start, v.end))
    per_test: dict[str, str] = {}
    general: list[str] = []
    claimer_end = {c.end: c for c in claimers}
    for m in d.mentions:
        if m.kind != "units" or m.start in attached:
            continue
        k = m.start
        while k > 0 and (d.doc[k - 1].text in ("(", ":") or d.doc[k - 1].is_space):
            k -= 1
        owner = claimer_end.get(k)
        if owner is not None and owner.kind == "analytes":
            per_test.setdefault(owner.key, m.key)
        else:
            general.append(m.key)
    return per_test, general


def _apply_free_units(d, values, claimers, accepted) -> None:
    per_test, general = _free_units(d, values, claimers)
    for claimer in claimers:
        if claimer.kind == "specimens":
            stated = {v.unit for v in claimer.bound if v.unit is not None}
            for v in claimer.bound:
                if v.unit is None and len(stated) == 1:
                    v.unit = next(iter(stated))
                elif v.unit is None and len(set(general)) == 1:
                    v.unit = general[0]
            continue
        if claimer.kind != "analytes":
            continue
        series = claimer.bound
        # "a unit stated once for a test applies to all its results": every mention of it
        stated = [v.unit for v in _values_of(claimer, claimers) if v.unit is not None]
        for v in series:
            if v.unit is not None:
                continue
            if len(set(stated)) == 1:
                v.unit = stated[0]  # "from 3.1 to 15.6 ng/mL": one unit for the history
            elif claimer.key in per_test:
                v.unit = per_test[claimer.key]
            else:
                fitting = {u for u in general if u in accepted.get(claimer.key, ())}
                if len(fitting) == 1:
                    v.unit = fitting.pop()


# --- history: which result is current ------------------------------------------------


def _date_of(text: str) -> tuple[int, int, int] | None:
    if not text[:1].isdigit():
        return None
    month_year = _MONTH_YEAR.match(text)
    if month_year:
        return (int(month_year.group(2)), int(month_year.group(1)), 0)  # "03.2023"
    match = _DATE.match(text)
    if not match:
        return None
    a, b, c = match.groups()
    if len(a) == 4:
        return (int(a), int(b), int(c or 0))
    if c is None:
        return None
    year = int(c) + (2000 if len(c) == 2 else 0)
    return (year, int(b), int(a))


def _token_date(d: _Doc, i: int) -> tuple[int, int, int] | None:
    """A date token ("14/02/23"), or a year with the month (and day) before it ("Aug 2024",
    "18 Jan 2024")."""
    token = d.doc[i]
    if not token.text[:1].isdigit():
        return None
    date = _date_of(token.text)
    if date is not None:
        return date
    if _YEAR.match(token.text):
        month = day = 0
        k = i - 1
        while k >= 0 and d.doc[k].is_space:
            k -= 1
        if k >= 0 and d.kind_at(k) == "months":
            month = MONTHS.get(d.doc[k].lower_[:3], 0)
            if k >= 1 and d.doc[k - 1].text.isdigit() and int(d.doc[k - 1].text) <= 31:
                day = int(d.doc[k - 1].text)
        return (int(token.text), month, day)
    return None


def _assign_dates(d: _Doc, values: list[_Value]) -> None:
    """A date on a value's row before it, in brackets after it, or a column heading date."""
    doc = d.doc
    header: list[tuple[int, int, int]] = []
    slash_lines = sorted({d.lines[t.i] for t in doc if "/" in t.text or "." in t.text})
    for line in slash_lines:
        tokens = d.line_tokens(line)
        dates = [x for t in tokens if ("/" in t.text or "." in t.text)
                 and (x := _date_of(t.text)) is not None]
        if len(dates) >= 2 and not any(v.line == line and not v.excluded for v in values):
            header = dates
            break
    if not header:
        header = _ages_header(d, values)
    rows: dict[int, list[_Value]] = {}
    for v in values:
        if v.owner is not None and not v.excluded:
            rows.setdefault(v.line, []).append(v)
    for v in values:
        if v.owner is None or v.excluded:
            continue
        # A date in brackets right after the value ("0.47 umol/L H (09/2024)") is its own;
        # otherwise the row's date before it ("18/05/2023   142").
        j = v.end
        while j < len(doc) and j < v.end + 4 and d.lines[j] == v.line:
            if doc[j].text == "(" and j + 1 < len(doc):
                if (date := _token_date(d, j + 1)) is not None:
                    v.date = date
                break
            if not (doc[j].is_space or d.kind_at(j) == "flags"):
                break
            j += 1
        k = v.text_start - 1
        value_ends = {u.end - 1 for u in values if u is not v and not u.excluded}
        while v.date is None and k >= 0 and d.lines[k] == v.line and k not in value_ends:
            if (date := _token_date(d, k)) is not None:
                v.date = date
                break
            if d.kind_at(k) in CLAIMER_KINDS and d.covered.get(k) is not v.owner:
                break
            k -= 1
        if v.date is None:
            j = v.end
            while j < len(doc) and j < v.end + 4 and d.lines[j] == v.line:
                if (date := _token_date(d, j)) is not None and j > v.end:
                    v.date = date
                    break
                if doc[j].like_num and j != v.end:
                    break
                j += 1
        row = rows.get(v.line, [])
        if v.date is None and header and len(row) == len(header):
            v.date = header[row.index(v)]
    order = _column_order(d, values)
    if order:
        for row in rows.values():
            if len(row) == len(order) and len({v.owner.key for v in row}) == 1:
                for v, when in zip(row, order, strict=True):
                    v.when = when


AGO_DAYS = {"d": 1, "day": 1, "days": 1, "wk": 7, "wks": 7, "week": 7, "weeks": 7, "mo": 30,
            "mos": 30, "month": 30, "months": 30, "yr": 365, "yrs": 365, "year": 365,
            "years": 365}


def _ages_header(d: _Doc, values: list[_Value]) -> list[tuple[int, int, int]]:
    """"2 mo ago  8 mo ago  1 yr ago" column headings: each as a date that orders by age
    (more recent is larger), for a line that holds no result."""
    by_line: dict[int, list[tuple[int, int, int]]] = {}
    for v in values:
        m = d.by_start.get(v.number_end)
        if m is None or m.kind != "not_lab_units" or d.doc[m.end - 1].lower_ != "ago":
            continue
        unit = d.doc[m.start].lower_
        if unit in AGO_DAYS:
            by_line.setdefault(v.line, []).append((0, 0, -int(v.value * AGO_DAYS[unit])))
    for line, ages in sorted(by_line.items()):
        if len(ages) >= 2 and not any(v.line == line and not v.excluded for v in values):
            return ages
    return []


def _column_order(d: _Doc, values: list[_Value]) -> list[str]:
    """"Test  Current Result and Flag  Previous Result and Date": when each column is."""
    for line in sorted(d.line_spans):
        if any(v.line == line and not v.excluded for v in values):
            continue
        kinds = [d.kind_at(t.i) for t in d.line_tokens(line)]
        order = [("current" if k == "current_cues" else "earlier") for k in kinds
                 if k in ("current_cues", "earlier_cues")]
        if "current" in order and "earlier" in order:
            return list(dict.fromkeys(order))
    return []


def _assign_cues(d: _Doc, claimer: _Mention, series: list[_Value]) -> None:
    """"last year 180, now 420", "(prev 290 in 2022)", "520 before treatment and 210
    after": a cue just after a value marks it, else a cue before it (back to the previous
    value, or the start of the test's line for the first)."""
    doc = d.doc
    line_start = d.line_spans[d.lines[claimer.start]][0]
    used: set[int] = set()
    for i, v in enumerate(series):
        nxt = series[i + 1].text_start if i + 1 < len(series) else len(doc)
        j = v.end
        while j < min(nxt, v.end + 3) and not (
            _is_boundary(doc[j]) or doc[j].like_num or doc[j].is_punct
            or doc[j].lower_ in ("and", "then", "but")
        ):
            word = doc[j].lower_
            if word in POST_CURRENT and i + 1 < len(series) and nxt - j <= 4:
                break  # "1.2 now 0.3", "now it's 305": the cue opens the next value
            if word in POST_EARLIER or word in POST_CURRENT:
                v.when = "earlier" if word in POST_EARLIER else "current"
                used.add(j)
                break
            j += 1
    for i, v in enumerate(series):
        if v.when is not None:
            continue
        lo = series[i - 1].end if i else min(claimer.start, line_start)
        for k in range(v.text_start - 1, lo - 1, -1):
            m = d.covered.get(k)
            if k in used or m is None:
                continue
            if m.kind in ("current_cues", "earlier_cues"):
                v.when = "current" if m.kind == "current_cues" else "earlier"
                break


def _split_history(d: _Doc, claimers) -> list[tuple[str, _Value, list[_Value]]]:
    """Per test: the current value and the earlier ones, all values kept."""
    by_analyte: dict[str, list[tuple[_Mention, _Value]]] = {}
    for claimer in claimers:
        if claimer.kind != "analytes":
            continue
        _assign_cues(d, claimer, claimer.bound)
        for v in claimer.bound:
            by_analyte.setdefault(claimer.key, []).append((claimer, v))
    out = []
    for analyte, pairs in by_analyte.items():
        series = sorted((v for _, v in pairs), key=lambda v: v.start)
        if len(series) == 1:
            out.append((analyte, series[0], []))
            continue
        if all(v.date is not None for v in series):
            current = max(enumerate(series), key=lambda p: (p[1].date, p[0]))[1]
        else:
            flagged = [v for v in series if v.when == "current"]
            unmarked = [v for v in series if v.when is None]
            current = (flagged or unmarked or series)[-1]
        out.append((analyte, current, [v for v in series if v is not current]))
    return out


# --- the liver condition ------------------------------------------------------------------


def _condition(d: _Doc) -> str:
    """The patient's own liver condition: the most advanced fatty-liver stage named and not
    negated, ruled out, uncertain, asked about or someone else's; another liver disease;
    "none" when only denied; "unknown" otherwise."""
    doc = d.doc
    fatty: list[str] = []
    other = said_none = False
    condition_starts = {m.start for m in d.mentions if m.kind == "conditions"}
    previous: tuple[_Mention, bool] | None = None  # the last condition and whether it counted
    for m in d.mentions:
        if m.kind != "conditions":
            continue
        if m.key == "none":
            said_none = True
            continue
        if previous is not None and not previous[1] and all(
            t.lower_ in ("or", "/") or t.is_space for t in doc[previous[0].end : m.start]
        ):
            continue  # "not sure if it's NAFLD or NASH": the doubt covers both
        previous = (m, False)
        before = _clause_before(d, m.start, condition_starts)
        kinds_before = {d.kind_at(k) for k in before}
        negated = any(
            d.kind_at(k) in ("negations", "post_negations") and m.start - k <= NEGATION_WINDOW
            for k in before
        )  # "no fatty liver", "no longer have fatty liver"
        after = _clause_after(d, m.end, condition_starts)
        if any(d.kind_at(k) == "post_negations" for k in after):
            negated = True
        sentence = _sentence(d, m.start)
        if any(d.kind_at(k) == "resolved_cues" for k in sentence if k > m.start):
            negated = True  # "had fatty liver ... the ultrasound is clear now"
        if negated:
            if m.key == "nafld":
                said_none = True  # fatty liver ruled out: no fatty liver disease
            continue
        if doc[sentence[-1]].text == "?" and not any(
            doc[k].lower_ in PERSONAL_WORDS for k in sentence
        ):
            continue  # "does fatty liver cause high b12?": asked about, not said to have
        if "experiencers" in kinds_before or "uncertain_cues" in kinds_before:
            continue
        if m.start > 0 and doc[m.start - 1].text == "?" and not doc[m.start - 1].whitespace_:
            continue  # "?ALD", a lab's query: suspected, not said
        personal = any(doc[k].lower_ in PERSONAL_WORDS for k in before)
        if after and d.kind_at(after[0]) == "uncertain_cues" and not personal:
            continue  # "MASLD?", but not "is that too much with my fatty liver?"
        if _said_uncertain_after(d, after):
            continue  # "nash is suspected but not confirmed"
        previous = (m, True)
        if m.key == OTHER_LIVER:
            other = True
        else:
            fatty.append(m.key)
    if fatty:
        return max(fatty, key=FATTY_SEVERITY.__getitem__)
    if other:
        return OTHER_LIVER
    return "none" if said_none else UNKNOWN_CONDITION


def _said_uncertain_after(d: _Doc, after: list[int]) -> bool:
    """"NASH is suspected", "cirrhosis was not confirmed": doubt stated after the name."""
    words = [k for k in after if not d.doc[k].is_space][:3]
    while words and d.doc[words[0]].lower_ in COPULAS:
        words = words[1:]
    return bool(words) and d.kind_at(words[0]) == "uncertain_cues" and d.doc[words[0]].text != "?"


def _sentence(d: _Doc, i: int) -> list[int]:
    """Token indexes of the sentence around token ``i`` (ends: . ! ? ; and new lines)."""
    doc = d.doc
    start = i
    while start > 0 and not _is_boundary(doc[start - 1]):
        start -= 1
    end = i
    while end < len(doc) - 1 and not _is_boundary(doc[end]):
        end += 1
    return list(range(start, end + 1))


def _clause_before(d: _Doc, start: int, stops: set[int]) -> list[int]:
    doc = d.doc
    out = []
    k = start - 1
    while k >= 0 and k >= start - CONTEXT_WINDOW - 2:
        t = doc[k]
        if _is_boundary(t) or t.lower_ in SCOPE_BREAKS or k in stops:
            break
        out.append(k)
        k -= 1
    return out


def _clause_after(d: _Doc, end: int, stops: set[int]) -> list[int]:
    doc = d.doc
    out = []
    k = end
    while k < len(doc) and k < end + CONTEXT_WINDOW:
        t = doc[k]
        if (t.text in (".", "!", ";") or (t.is_space and "\n" in t.text)) or k in stops:
            break
        if t.lower_ in SCOPE_BREAKS:
            break
        if not t.is_space:
            out.append(k)
        k += 1
    return out


def _flag_words(d: _Doc, kind: str) -> bool:
    """A phrase of ``kind`` not negated just before ("I don't take supplements")."""
    doc = d.doc
    for m in d.mentions:
        if m.kind != kind and not (
            kind == "treatment" and m.kind in ("not_lab_units", "dose_verbs")
            and _text(doc, m.start, m.end).lower() in TREATMENT_WORDS
        ):
            continue
        if any(
            d.kind_at(k) == "negations"
            for k in range(max(0, m.start - NEGATION_WINDOW - 1), m.start)
        ):
            continue
        return True
    return False


# --- the whole message ----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _accepted_units() -> dict[str, tuple[str, ...]]:
    from b12core.labs.reference import reference_table

    return {spec.analyte: spec.accepted_units for spec in reference_table().analytes}


def parse(text: object, expected_analyte: str | None = None) -> LabPanel:
    """Read every lab value, the history, what is not interpreted and the liver condition.

    ``expected_analyte`` is for a form asking for one value: a bare answer ("0,45",
    "350 pg/ml") is read as that analyte; an answer without one clear number gives a
    value of None, which ``interpret`` reports as ``invalid_value``.
    """
    if expected_analyte is not None and expected_analyte not in ANALYTES:
        raise ValueError(f"unknown analyte {expected_analyte!r}; expected one of {ANALYTES}")
    text = clean_text(text)
    if len(text) > MAX_MESSAGE_CHARS:
        return LabPanel(values=(), condition=UNKNOWN_CONDITION, too_long=True)
    text = normalise_layout(text)
    engine = _engine()
    d = _index(engine, text)
    doc = d.doc
    values = _values(d)
    ranges = _find_ranges(d, values)
    claimers = _claimers(d)
    candidates = [v for v in values if not v.excluded]
    accepted = _accepted_units()

    _link_backward_phrases(doc, claimers, candidates)
    _link_lists(doc, claimers, candidates)
    _link_column_headers(d, claimers, values)
    _link_row_leading(d, claimers, values)
    _link_forward(d, claimers, values, ranges)
    _link_heading_rows(d, claimers, values)
    _link_time_cued(d, claimers, values)
    _link_backward_units(doc, claimers, values, accepted)
    _fill_row_units(d, values, ranges)
    _sentence_flags(d, values)
    _attach_ranges(d, claimers, ranges, values)
    _apply_free_units(d, values, claimers, accepted)
    _thousands_by_the_labs_range(d, values)
    _assign_dates(d, values)

    notes = _notes(d, claimers, values)
    inputs: list[LabInput] = []
    earlier: list[LabInput] = []
    for analyte, current, older in _split_history(d, claimers):
        if analyte == "mma" and current.unit_kind == "urine_units":
            continue  # noted as urine MMA
        inputs.append(_to_input(analyte, current, "current"))
        earlier.extend(_to_input(analyte, v, "earlier") for v in older)
    if expected_analyte is not None and not inputs:
        loose = [v for v in values if not v.excluded and v.owner is None]
        if len(loose) == 1:
            inputs.append(_to_input(_owner(expected_analyte, loose[0].unit), loose[0], "current"))
        else:
            inputs.append(LabInput(analyte=expected_analyte, value=None, text=text.strip()[:80]))
    elif not inputs:
        # "actually it was 450 pmol/L": no test named, but the unit belongs to one test.
        loose = [v for v in values if not v.excluded and v.owner is None and v.unit is not None]
        owners = [a for a, units in accepted.items() if len(loose) == 1 and loose[0].unit in units]
        if len(owners) == 1:
            inputs.append(_to_input(owners[0], loose[0], "current"))
    return LabPanel(
        values=tuple(inputs),
        condition=_condition(d),
        earlier=tuple(earlier),
        notes=tuple(notes),
        pregnant=_flag_words(d, "pregnancy"),
        b12_treatment=_flag_words(d, "treatment"),
    )


def _notes(d: _Doc, claimers, values: list[_Value]) -> list[Note]:
    """Other tests of the same substances, and doses: recognised, not interpreted here."""
    doc = d.doc
    notes: list[Note] = []
    for claimer in claimers:
        kind = None
        if claimer.kind == "specimens":
            kind = claimer.key
        elif claimer.kind == "analytes" and claimer.key == "mma" and claimer.bound:
            # "Methylmalonic acid<tab>Urine<tab>1.8": the specimen between test and value.
            span = [t.lower_ for t in doc[claimer.end : claimer.bound[0].start]]
            if any(v.unit_kind == "urine_units" for v in claimer.bound) or any(
                SPECIMEN_WORDS.get(w) == "urine_mma" for w in span
            ):
                kind = "urine_mma"
                for v in claimer.bound:
                    v.unit_kind = "urine_units"
        if kind is None:
            continue
        for v in claimer.bound:
            notes.append(Note(kind=kind, text=_text(doc, claimer.start, v.end), value=v.value,
                              unit=v.unit, comparator=v.comparator, lab_range=v.lab_range))
        if kind == "urine_mma":
            claimer.bound = []
    dose_texts = [_dose_text(d, v) for v in values if v.dose] + _dose_schedules(d)
    if dose_texts:
        notes.append(Note(kind="dose", text=dose_texts[0]))
    return notes


def _dose_text(d: _Doc, value: _Value) -> str:
    """"1000 mcg", "5mg", "1000 every morning": the number with what makes it a dose."""
    end = value.end
    nxt = d.by_start.get(value.number_end)
    if nxt is not None and nxt.kind in ("not_lab_units", "frequency_cues", "dose_verbs"):
        end = nxt.end
    return _text(d.doc, value.text_start, end)


def _dose_schedules(d: _Doc) -> list[str]:
    """"injections every 12 weeks", "tablets daily": a schedule named without a dose."""
    doc = d.doc
    found = []
    for m in d.mentions:
        if m.kind != "frequency_cues":
            continue
        for k in range(max(0, m.start - 3), m.start):
            word = doc[k].lower_
            if word in DOSE_UNITS or d.kind_at(k) == "dose_verbs":
                found.append(_text(doc, k, m.end))
                break
    return found


def _owner(expected: str, unit: str | None) -> str:
    """The test a bare answer belongs to: the one asked for, unless its unit is another's.

    "sorry I meant 450 pmol/L" at the homocysteine question is a B12 value: pmol/L is
    a unit of B12 only. A unit two other tests share (µmol/L) stays with the question.
    """
    accepted = _accepted_units()
    if unit is None or unit in accepted[expected]:
        return expected
    owners = [a for a, units in accepted.items() if unit in units]
    return owners[0] if len(owners) == 1 else expected


def _to_input(analyte: str, value: _Value, when: str) -> LabInput:
    return LabInput(
        analyte=analyte,
        value=value.value,
        unit=value.unit,
        comparator=value.comparator,
        text=value.text,
        lab_range=value.lab_range,
        flag=value.flag,
        when=when,
    )


def parse_unit(text: object) -> str | None:
    """The canonical unit named in a short answer ("pg/ml", "pmol per litre"), if exactly one."""
    text = clean_text(text)
    if len(text) > MAX_MESSAGE_CHARS:
        return None
    engine = _engine()
    units = {m.key for m in _mentions(_tokenize(engine, text), engine) if m.kind == "units"}
    return units.pop() if len(units) == 1 else None


def warm_up() -> None:
    """Build the tokenizer and matchers now (start-up) rather than on the first message."""
    _engine()
    _accepted_units()
