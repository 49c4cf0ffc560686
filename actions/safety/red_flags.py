"""Red-flag symptom detection from ``knowledge/red_flags.yml``: deterministic, data-driven.

Runs on every user message (a Rasa NLU component calls it), so an emergency is
never left to a classifier's confidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

RED_FLAGS_PATH = Path(__file__).resolve().parents[2] / "knowledge" / "red_flags.yml"
MAX_TEXT_CHARS = 20_000


@dataclass(frozen=True)
class RedFlag:
    flag_id: str
    label: str
    self_harm: bool
    all_of: tuple[tuple[tuple[str, ...], ...], ...]


@dataclass(frozen=True)
class RedFlagMatch:
    flag_id: str
    label: str
    self_harm: bool


@dataclass(frozen=True)
class RedFlagRules:
    flags: tuple[RedFlag, ...]
    ignore_phrases: tuple[tuple[str, ...], ...]
    window: int
    urgent_message: str
    self_harm_message: str


def _tokens(text: str, nlp) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Lowercase words and their lemmas, so both "vomited" and "vomit" match "vomit"."""
    doc = nlp.make_doc(text.lower().replace("’", "'"))
    words = tuple(t.text for t in doc if not t.is_space)
    lemmatizer = nlp.get_pipe("lemmatizer") if "lemmatizer" in nlp.pipe_names else None
    if lemmatizer is not None:
        doc = lemmatizer(doc)
    return words, tuple(t.lemma_ or t.text for t in doc if not t.is_space)


def read_red_flags(path: Path = RED_FLAGS_PATH, nlp=None) -> RedFlagRules:
    """Load and validate the table; a malformed row fails at start-up, naming the row."""
    if nlp is None:
        from actions.spacy_model import load_pipeline

        nlp = load_pipeline(with_sentences=False)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    flags = []
    for index, row in enumerate(data.get("flags") or ()):
        try:
            groups = tuple(
                tuple(_tokens(str(phrase), nlp)[1] for phrase in group) for group in row["all_of"]
            )
            if not groups or not all(groups) or not all(all(p) for p in groups):
                raise ValueError("empty group or phrase")
            flags.append(
                RedFlag(
                    flag_id=str(row["id"]),
                    label=str(row["label"]),
                    self_harm=bool(row.get("self_harm", False)),
                    all_of=groups,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: flag #{index + 1} is malformed ({exc})") from None
    if not flags:
        raise ValueError(f"{path}: no flags")
    for key in ("urgent_message", "self_harm_message"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ValueError(f"{path}: '{key}' must be a text")
    ignore = tuple(_tokens(str(p), nlp)[1] for p in data.get("ignore_phrases") or ())
    used = {p for flag in flags for group in flag.all_of for p in group}
    if any(p in used for p in ignore):
        raise ValueError(f"{path}: an ignore phrase equals a flag phrase and would disable it")
    return RedFlagRules(
        flags=tuple(flags),
        ignore_phrases=tuple(p for p in ignore if p),
        window=int(data.get("window", 8)),
        urgent_message=data["urgent_message"].strip(),
        self_harm_message=data["self_harm_message"].strip(),
    )


@lru_cache(maxsize=1)
def load_red_flags() -> RedFlagRules:
    return read_red_flags()


def _positions(sequence: tuple[str, ...], phrase: tuple[str, ...]) -> list[int]:
    n = len(phrase)
    return [i for i in range(len(sequence) - n + 1) if sequence[i : i + n] == phrase]


def _blank(sequence: tuple[str, ...], phrases) -> tuple[str, ...]:
    out = list(sequence)
    for phrase in phrases:
        for i in _positions(sequence, phrase):
            out[i : i + len(phrase)] = [""] * len(phrase)
    return tuple(out)


# id(rules) -> (rules, {first word: [(phrase, [(flag index, group index), ...]), ...]})
_BY_FIRST_WORD: dict[int, tuple[RedFlagRules, dict]] = {}


def _by_first_word(rules: RedFlagRules) -> dict[str, list]:
    """Every phrase of the table under its first word, with the groups it belongs to."""
    entry = _BY_FIRST_WORD.get(id(rules))
    if entry is None or entry[0] is not rules:
        refs: dict[tuple[str, ...], list[tuple[int, int]]] = {}
        for f, flag in enumerate(rules.flags):
            for g, group in enumerate(flag.all_of):
                for phrase in group:
                    refs.setdefault(phrase, []).append((f, g))
        table: dict[str, list] = {}
        for phrase, where in refs.items():
            table.setdefault(phrase[0], []).append((phrase, where))
        entry = _BY_FIRST_WORD[id(rules)] = (rules, table)
    return entry[1]


def _group_positions(rules: RedFlagRules, words, lemmas) -> dict[tuple[int, int], set[int]]:
    """Where each (flag, group) matches: any of its phrases, as a word or lemma sequence.

    One pass over the message: a phrase is compared only where its first word is.
    """
    table = _by_first_word(rules)
    found: dict[tuple[int, int], set[int]] = {}
    for sequence in (lemmas, words):
        for i, token in enumerate(sequence):
            for phrase, where in table.get(token, ()):
                if sequence[i : i + len(phrase)] == phrase:
                    for ref in where:
                        found.setdefault(ref, set()).add(i)
    return found


def detect_red_flags(text: object, rules: RedFlagRules | None = None, nlp=None) -> tuple:
    """Every red flag the message mentions, in table order (empty when none)."""
    if not isinstance(text, str) or not text.strip():
        return ()
    rules = rules or load_red_flags()
    if nlp is None:
        from actions.spacy_model import load_pipeline

        nlp = load_pipeline(with_sentences=False)
    words, lemmas = _tokens(text[:MAX_TEXT_CHARS], nlp)
    words = _blank(words, rules.ignore_phrases)
    lemmas = _blank(lemmas, rules.ignore_phrases)
    found = _group_positions(rules, words, lemmas)
    matches = []
    for f, flag in enumerate(rules.flags):
        positions = [sorted(found.get((f, g), ())) for g in range(len(flag.all_of))]
        if all(positions) and _within(positions, rules.window):
            matches.append(RedFlagMatch(flag.flag_id, flag.label, flag.self_harm))
    return tuple(matches)


def _within(positions: list[list[int]], window: int) -> bool:
    """Some match of every group lies within ``window`` words of a match of the first."""
    return any(
        all(any(abs(j - anchor) <= window for j in group) for group in positions[1:])
        for anchor in positions[0]
    )
