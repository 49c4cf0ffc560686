"""The parser's words (analytes, units, conditions, cues), read from knowledge/lab_vocabulary.yml.

Spellings are data so that a new one is a one-line change with a test message, not code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from b12core.knowledge import knowledge_file, read_yaml
from b12core.labs.models import ANALYTES, COMPARATORS, LIVER_CONDITIONS, OTHER_LIVER, SPECIMENS

VOCABULARY_PATH = knowledge_file("lab_vocabulary.yml")

# Kinds of phrase; a phrase (lower-cased) may belong to one kind only.
GROUPED_KINDS = (
    "analytes", "units", "comparators", "conditions", "specimens", "flags", "urine_units"
)
LIST_KINDS = (
    "other_tests",
    "other_units",
    "not_lab_units",
    "age_cues",
    "label_cues",
    "year_cues",
    "months",
    "reference_cues",
    "negations",
    "earlier_cues",
    "current_cues",
    "frequency_cues",
    "dose_verbs",
    "experiencers",
    "uncertain_cues",
    "post_negations",
    "pregnancy",
    "target_cues",
    "comment_cues",
    "resolved_cues",
)


class VocabularyError(ValueError):
    """lab_vocabulary.yml is malformed; the message names the entry."""


@dataclass(frozen=True)
class Vocabulary:
    """``phrases`` maps (kind, key) to spellings; key is "" for plain lists."""

    phrases: tuple[tuple[str, str, tuple[str, ...]], ...]
    units: tuple[str, ...]

    def spellings(self, kind: str, key: str = "") -> tuple[str, ...]:
        for k, group, words in self.phrases:
            if k == kind and group == key:
                return words
        return ()


def _words(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise VocabularyError(f"{where} must be a non-empty list of spellings")
    words = []
    for word in value:
        if not isinstance(word, str) or not word.strip():
            raise VocabularyError(f"{where}: {word!r} is not a spelling")
        words.append(word.strip())
    return tuple(words)


def load_vocabulary(path: Path = VOCABULARY_PATH) -> Vocabulary:
    path = Path(path)
    data = read_yaml(path, VocabularyError)
    if not isinstance(data, dict):
        raise VocabularyError(f"{path}: must be a mapping")

    expected_keys = {
        "analytes": set(ANALYTES),
        "comparators": set(COMPARATORS),
        "conditions": {*LIVER_CONDITIONS, OTHER_LIVER, "none"},
        "specimens": set(SPECIMENS),
    }
    phrases: list[tuple[str, str, tuple[str, ...]]] = []
    for kind in GROUPED_KINDS:
        groups = data.get(kind)
        if not isinstance(groups, dict) or not groups:
            raise VocabularyError(f"{path}: '{kind}' must be a mapping of spellings")
        if kind in expected_keys and set(groups) != expected_keys[kind]:
            raise VocabularyError(
                f"{path}: '{kind}' must have exactly {sorted(expected_keys[kind])}, "
                f"not {sorted(groups)}"
            )
        for key, words in groups.items():
            phrases.append((kind, str(key), _words(words, f"{path}: {kind}.{key}")))
    for kind in LIST_KINDS:
        phrases.append((kind, "", _words(data.get(kind), f"{path}: {kind}")))

    owner: dict[str, str] = {}
    for kind, key, words in phrases:
        for word in words:
            normal = " ".join(word.lower().split())
            where = f"{kind}.{key}" if key else kind
            if normal in owner and owner[normal] != where:
                raise VocabularyError(
                    f"{path}: {word!r} is listed under both {owner[normal]} and {where}"
                )
            owner[normal] = where
    units = tuple(key for kind, key, _ in phrases if kind == "units")
    return Vocabulary(phrases=tuple(phrases), units=units)


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    return load_vocabulary()
