"""Free text to lab values: the project's only lab-value parser.

Built on the blank English spaCy tokenizer (lightly extended so that "350pg/ml",
"b12:480" and "pmol/L." split cleanly), a PhraseMatcher for every spelling in
knowledge/lab_vocabulary.yml and a Matcher for number and unit shapes. Matching finds
the pieces; a few explicit rules then link each value to its analyte:

1. "<value> [unit] for/of <analyte>" binds backwards ("1100 pg/ml for b12").
2. A list of analytes followed by as many values pairs them in order
   ("b12 and folate were 350 and 12").
3. Otherwise an analyte takes the value after it in the same sentence, unless another
   test (ALT, ferritin...) or analyte comes first ("b12 level came back at 350"); two
   candidate numbers there ("went from 200 to 350") give no value, never the first.
4. Failing that, a value with an explicit accepted unit just before it ("480 pmol/L b12").

Numbers that are dates, ages, doses, times, ordinals or printed reference ranges are
never values. The parser only reads; judging a value (units, plausibility, bands) is
``interpret``'s job, so a message always parses without raising.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from itertools import pairwise

from actions.labs.models import ANALYTES, LIVER_CONDITIONS, UNKNOWN_CONDITION, LabInput, LabPanel
from actions.labs.vocabulary import Vocabulary, vocabulary

# Longer messages are not chat messages (pasted files, abuse): refuse rather than truncate.
MAX_MESSAGE_CHARS = 4000

FORWARD_WINDOW = 12  # tokens an analyte may look ahead for its value
BACKWARD_WINDOW = 4  # tokens a unit-carrying value may sit before its analyte
NEGATION_WINDOW = 3
REFERENCE_WINDOW = 3

SENTENCE_ENDS = frozenset({".", "?", "!", ";"})
BACKWARD_LINKS = frozenset({"for", "of"})
BACKWARD_FILLERS = frozenset({"for", "of", "my", "the", "your", "his", "her", "serum", "total"})
SCOPE_BREAKS = frozenset({"but", "however", "although", "though", "yet", ","})
LIST_SEPARATORS = frozenset({",", "and", "&", "/", "+"})
RANGE_DASHES = frozenset({"-", "–", "—", "to"})
# "540 not 450", "540 rather than 450": the figure after the cue is the one being corrected.
CORRECTION_CUES = (("not",), ("rather", "than"), ("instead", "of"))
CORRECTION_WINDOW = 4  # tokens before the cue in which the corrected-to figure must stand
CONDITION_SEVERITY = {c: i for i, c in enumerate(LIVER_CONDITIONS)}  # later = more advanced

NUMBER_SHAPE = r"^-?\d[\d.,]*$"
# "ab/cd" right after a number: a unit, even if we do not know it (reported, never guessed).
UNIT_SHAPE = (
    {"TEXT": {"REGEX": r"^[A-Za-zµμ]{1,6}$"}},
    {"ORTH": "/"},
    {"TEXT": {"REGEX": r"^[A-Za-z]{1,3}$"}},
)

_INTEGER = re.compile(r"\d+")
_DECIMAL_POINT = re.compile(r"\d+\.\d+")
_COMMA_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL_COMMA = re.compile(r"\d+,\d+")
_DOT_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:\.\d{3}){2,}")
_EUROPEAN = re.compile(r"[1-9]\d{0,2}(?:\.\d{3})+,\d+")
_MAX_DIGITS = 20


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
    phrases: object
    shapes: object
    labels: dict[int, tuple[str, str]]


@dataclass
class _Mention:
    kind: str
    key: str
    start: int
    end: int
    bound: _Value | None = None  # for analytes and other tests: the value they took
    ambiguous_text: str | None = None  # set when several numbers could be the value


@dataclass
class _Value:
    start: int  # the number's token
    end: int  # after the unit, if any
    text_start: int  # the comparator's first token, if any
    number_end: int
    value: Decimal
    unit: str | None
    comparator: str | None
    text: str
    excluded: bool = False
    owner: _Mention | None = field(default=None, repr=False)


def _make_nlp():
    import spacy
    from spacy.util import compile_infix_regex, compile_suffix_regex

    nlp = spacy.blank("en")
    infixes = [
        *nlp.Defaults.infixes,
        r"(?<=[0-9])(?=[A-Za-zµμ])",  # "350pg/ml" -> "350", "pg", ...
        r"(?<=\S)[=:;](?=\S)",  # "b12:480", "hcy=17"
    ]
    suffixes = [*nlp.Defaults.suffixes, r"(?<=[A-Za-zµμ])\."]  # "pmol/L." -> "L", "."
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    nlp.tokenizer.suffix_search = compile_suffix_regex(suffixes).search
    # English keeps "l." whole (an initial); here it ends "nmol/l." at the end of a sentence.
    nlp.tokenizer.rules = {k: v for k, v in nlp.tokenizer.rules.items() if k not in ("l.", "L.")}
    return nlp


def _build_engine(vocab: Vocabulary) -> _Engine:
    from spacy.matcher import Matcher, PhraseMatcher

    nlp = _make_nlp()
    phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
    labels: dict[int, tuple[str, str]] = {}
    for kind, key, words in vocab.phrases:
        label = f"{kind}|{key}"
        labels[nlp.vocab.strings.add(label)] = (kind, key)
        phrases.add(label, [nlp.make_doc(w) for w in words])
    shapes = Matcher(nlp.vocab)
    for kind, pattern in (
        ("number", [{"TEXT": {"REGEX": NUMBER_SHAPE}}]),
        ("unit_shape", UNIT_SHAPE),
    ):
        label = f"{kind}|"
        labels[nlp.vocab.strings.add(label)] = (kind, "")
        shapes.add(label, [list(pattern)])
    return _Engine(nlp=nlp, phrases=phrases, shapes=shapes, labels=labels)


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
    return "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)


def _mentions(doc, engine: _Engine) -> list[_Mention]:
    """Non-overlapping matches, longest first; a vocabulary unit beats a mere unit shape."""
    found = []
    for match_id, start, end in (*engine.phrases(doc), *engine.shapes(doc)):
        kind, key = engine.labels[match_id]
        found.append(_Mention(kind, key, start, end))
    taken = [False] * len(doc)
    kept = []
    for m in sorted(found, key=lambda m: (-(m.end - m.start), m.kind == "unit_shape", m.start)):
        if not any(taken[m.start : m.end]):
            for i in range(m.start, m.end):
                taken[i] = True
            kept.append(m)
    kept.sort(key=lambda m: m.start)
    return kept


def _is_boundary(token) -> bool:
    return token.text in SENTENCE_ENDS or (token.is_space and "\n" in token.text)


def _values(doc, mentions: list[_Mention]) -> list[_Value]:
    by_start = {m.start: m for m in mentions}
    by_end = {m.end: m for m in mentions}
    values = []
    for m in mentions:
        if m.kind != "number":
            continue
        number = parse_number(doc[m.start].text)
        if number is None:
            continue
        after = by_start.get(m.end)
        unit = None
        end = m.end
        if after is not None and after.kind in ("units", "other_units", "unit_shape"):
            unit = after.key if after.kind == "units" else doc[after.start : after.end].text
            end = after.end
        before = by_end.get(m.start)
        comparator = before.key if before is not None and before.kind == "comparators" else None
        cue = by_end.get(before.start) if comparator and before is not None else before
        value = _Value(
            start=m.start,
            end=end,
            text_start=before.start if comparator else m.start,
            number_end=m.end,
            value=number,
            unit=unit,
            comparator=comparator,
            text=doc[(before.start if comparator else m.start) : end].text,
        )
        value.excluded = _is_not_a_result(doc, value, after, cue, by_start)
        values.append(value)
    _exclude_reference_ranges(doc, values, by_end)
    _exclude_corrected_figures(doc, values)
    return values


def _exclude_corrected_figures(doc, values: list[_Value]) -> None:
    """In "b12 was 540 not 450" the result is 540: 450 is what the user corrects."""
    for earlier, value in pairwise(values):
        for cue in CORRECTION_CUES:
            start = value.text_start - len(cue)
            if start < 0 or tuple(t.lower_ for t in doc[start : value.text_start]) != cue:
                continue
            if 0 <= start - earlier.end <= CORRECTION_WINDOW:
                value.excluded = True


def _is_not_a_result(doc, value: _Value, after, cue, by_start) -> bool:
    """Doses, ages, durations, dates and clock times are not lab results."""
    if after is not None and after.kind == "not_lab_units":
        return True
    if cue is not None and cue.kind in ("age_cues", "label_cues"):
        return True
    if value.unit is not None:
        return False
    number = value.value
    whole = number == number.to_integral_value()
    if whole and 1900 <= number <= 2099 and cue is not None and cue.kind in ("year_cues", "months"):
        return True
    if whole and 1 <= number <= 31:
        if (cue is not None and cue.kind == "months") or (
            after is not None and after.kind == "months"
        ):
            return True
        nxt = value.number_end
        if nxt < len(doc) and doc[nxt].lower_ == "of":
            month = by_start.get(nxt + 1)
            if month is not None and month.kind == "months":
                return True
    i = value.start
    if i >= 2 and doc[i - 1].text == ":" and not doc[i - 2].whitespace_ and doc[i - 2].like_num:
        return True
    j = value.number_end
    return (
        j + 1 < len(doc)
        and doc[j].text == ":"
        and not doc[j - 1].whitespace_
        and doc[j + 1].like_num
    )


def _exclude_reference_ranges(doc, values: list[_Value], by_end) -> None:
    """Printed ranges are not the result: "148-664", "(148 - 664)", "ref 148 to 664",
    "ref: >10", and a bracket right after a result ("18.2 nmol/L (>10)")."""
    for value in values:
        k = value.text_start
        while k > 0 and doc[k - 1].text in (":", "(", "["):
            k -= 1
        cue = by_end.get(k)
        if cue is not None and cue.kind == "reference_cues":
            value.excluded = True
    for left, right in pairwise(values):
        k = left.end
        while k < right.text_start and doc[k].is_space:
            k += 1
        if right.text_start == k + 1 and doc[k].text in ("(", "["):
            right.excluded = True
        gap = doc[left.end : right.start]
        if len(gap) != 1 or gap[0].lower_ not in RANGE_DASHES:
            continue
        tight = gap[0].text != "to" and not doc[left.end - 1].whitespace_ and not gap[0].whitespace_
        bracketed = left.start > 0 and doc[left.start - 1].text in ("(", "[")
        cued = any(
            by_end.get(k) is not None and by_end[k].kind == "reference_cues"
            for k in range(max(0, left.start - REFERENCE_WINDOW), left.start + 1)
        )
        if tight or bracketed or cued:
            left.excluded = right.excluded = True


def _claimers(doc, mentions: list[_Mention]) -> list[_Mention]:
    """Analyte and other-test mentions; "vitamin b12 (cobalamin)" counts once."""
    claimers: list[_Mention] = []
    for m in mentions:
        if m.kind not in ("analytes", "other_tests"):
            continue
        if claimers:
            last = claimers[-1]
            between = doc[last.end : m.start]
            if (
                last.kind == m.kind == "analytes"
                and last.key == m.key
                and all(t.is_punct or t.lower_ in ("or", "aka") for t in between)
            ):
                last.end = m.end
                continue
        claimers.append(m)
    return claimers


def _bind(value: _Value, claimer: _Mention) -> None:
    value.owner = claimer
    claimer.bound = value


def _link_backward_phrases(doc, claimers, candidates) -> None:
    """Rule 1: "1100 pg/ml for b12"."""
    starts = {c.start: c for c in claimers}
    for value in candidates:
        for gap in range(0, 4):
            claimer = starts.get(value.end + gap)
            if claimer is None:
                continue
            words = [t.lower_ for t in doc[value.end : value.end + gap]]
            linked = bool(words) and words[0] in BACKWARD_LINKS
            free = value.owner is None and claimer.bound is None
            if linked and free and all(w in BACKWARD_FILLERS for w in words):
                _bind(value, claimer)
            break


def _link_lists(doc, claimers, candidates) -> None:
    """Rule 2: "b12 and folate were 350 and 12" pairs in order."""
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
        if len(run) < 2 or any(c.bound is not None for c in run):
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


def _link_forward(doc, claimers, values) -> None:
    """Rule 3: the value after the analyte, in the same clause; two candidates is ambiguous.

    "b12 went from 200 to 350" or "b12 300, 320, 340" must not be read as the first number.
    """
    claimer_starts = {c.start for c in claimers}
    value_at = {v.start: v for v in values}
    for claimer in claimers:
        if claimer.bound is not None:
            continue
        free: list[_Value] = []
        seen_words = False
        j = claimer.end
        while j < len(doc) and j < claimer.end + FORWARD_WINDOW:
            token = doc[j]
            if j in claimer_starts:
                break
            if _is_boundary(token) and (seen_words or token.text in SENTENCE_ENDS):
                break
            value = value_at.get(j)
            if value is not None and not value.excluded:
                if value.owner is not None:
                    break
                free.append(value)
            if value is not None:
                j = value.end
                continue
            if not (token.is_punct or token.is_space):
                seen_words = True
            j += 1
        if len(free) == 1:
            _bind(free[0], claimer)
        elif len(free) > 1:
            claimer.ambiguous_text = doc[claimer.start : free[-1].end].text


def _link_backward_units(doc, claimers, values, accepted_units) -> None:
    """Rule 4: "480 pmol/L b12" (only when the unit makes the pairing unambiguous)."""
    value_end = {v.end: v for v in values}
    claimer_ends = {c.end for c in claimers}
    for claimer in claimers:
        if claimer.bound is not None or claimer.kind != "analytes":
            continue
        j = claimer.start
        while j > 0 and j > claimer.start - BACKWARD_WINDOW:
            value = value_end.get(j)
            if value is not None:
                if (
                    not value.excluded
                    and value.owner is None
                    and value.unit in accepted_units.get(claimer.key, ())
                ):
                    _bind(value, claimer)
                break
            token = doc[j - 1]
            if j in claimer_ends or _is_boundary(token):
                break
            j -= 1


def _condition(doc, mentions: list[_Mention]) -> str:
    """The most advanced liver condition named and not negated; "none" if only denied."""
    negation_ends = [m.end for m in mentions if m.kind == "negations"]
    condition_starts = {m.start for m in mentions if m.kind == "conditions"}
    positive: list[str] = []
    said_none = False
    for m in mentions:
        if m.kind != "conditions":
            continue
        if m.key == "none":
            said_none = True
            continue
        # "no cirrhosis but fatty liver": the negation stops at "but" and at the next condition.
        negated = any(
            m.start - NEGATION_WINDOW <= end <= m.start
            and not any(
                _is_boundary(t) or t.lower_ in SCOPE_BREAKS or t.i in condition_starts
                for t in doc[end : m.start]
            )
            for end in negation_ends
        )
        if not negated:
            positive.append(m.key)
    if positive:
        return max(positive, key=CONDITION_SEVERITY.__getitem__)
    return "none" if said_none else UNKNOWN_CONDITION


@lru_cache(maxsize=1)
def _accepted_units() -> dict[str, tuple[str, ...]]:
    from actions.labs.reference import reference_table

    return {spec.analyte: spec.accepted_units for spec in reference_table().analytes}


def parse(text: object, expected_analyte: str | None = None) -> LabPanel:
    """Read every lab value and the liver condition from one message.

    ``expected_analyte`` is for a form asking for one value: a bare answer ("0,45",
    "350 pg/ml") is read as that analyte; an answer without one clear number gives a
    value of None, which ``interpret`` reports as ``invalid_value``.
    """
    if expected_analyte is not None and expected_analyte not in ANALYTES:
        raise ValueError(f"unknown analyte {expected_analyte!r}; expected one of {ANALYTES}")
    text = clean_text(text)
    if len(text) > MAX_MESSAGE_CHARS:
        return LabPanel(values=(), condition=UNKNOWN_CONDITION, too_long=True)
    engine = _engine()
    doc = engine.nlp.make_doc(text)
    mentions = _mentions(doc, engine)
    values = _values(doc, mentions)
    claimers = _claimers(doc, mentions)
    candidates = [v for v in values if not v.excluded]

    _link_backward_phrases(doc, claimers, candidates)
    _link_lists(doc, claimers, candidates)
    _link_forward(doc, claimers, values)
    _link_backward_units(doc, claimers, values, _accepted_units())

    inputs = []
    for claimer in claimers:
        if claimer.kind != "analytes":
            continue
        if claimer.bound is not None:
            inputs.append(_to_input(claimer.key, claimer.bound))
        elif claimer.ambiguous_text is not None:
            inputs.append(LabInput(claimer.key, value=None, text=claimer.ambiguous_text))
    if expected_analyte is not None and not inputs:
        loose = [v for v in candidates if v.owner is None]
        if len(loose) == 1:
            inputs.append(_to_input(_owner(expected_analyte, loose[0].unit), loose[0]))
        else:
            inputs.append(LabInput(analyte=expected_analyte, value=None, text=text.strip()[:80]))
    elif not inputs:
        # "actually it was 450 pmol/L": no test named, but the unit belongs to one test.
        loose = [v for v in candidates if v.owner is None and v.unit is not None]
        owners = [a for a, units in _accepted_units().items()
                  if len(loose) == 1 and loose[0].unit in units]
        if len(owners) == 1:
            inputs.append(_to_input(owners[0], loose[0]))
    return LabPanel(values=tuple(inputs), condition=_condition(doc, mentions))


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


def _to_input(analyte: str, value: _Value) -> LabInput:
    return LabInput(
        analyte=analyte,
        value=value.value,
        unit=value.unit,
        comparator=value.comparator,
        text=value.text,
    )


def parse_unit(text: object) -> str | None:
    """The canonical unit named in a short answer ("pg/ml", "pmol per litre"), if exactly one."""
    text = clean_text(text)
    if len(text) > MAX_MESSAGE_CHARS:
        return None
    engine = _engine()
    doc = engine.nlp.make_doc(text)
    units = {m.key for m in _mentions(doc, engine) if m.kind == "units"}
    return units.pop() if len(units) == 1 else None


def warm_up() -> None:
    """Build the tokenizer and matchers now (start-up) rather than on the first message."""
    _engine()
    _accepted_units()
