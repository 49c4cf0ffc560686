"""Short replies ("no", "not sure", "start over") read the same way at every step.

The phrasings are data (knowledge/replies.yml); this module normalises a message and
looks it up. Pure: no rasa imports, loaded once per process.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from b12core.knowledge import knowledge_file, read_yaml

REPLIES_PATH = knowledge_file("replies.yml")
# Intents a phrasing may map to (each must exist in domain.yml; tests check it).
REPLY_INTENTS = ("request_start_over", "stop_lab_check", "skip_value", "inform_unsure",
                 "deny", "affirm")
# Longer messages are left to the intent model: a short list cannot read them.
MAX_WORDS = 8
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'"})
_NOT_WORD = re.compile(r"[^a-z0-9'/ ]+")


class RepliesError(ValueError):
    """replies.yml is malformed; the message names the entry."""


@dataclass(frozen=True)
class ReplyTable:
    leading: tuple[str, ...]
    trailing: tuple[str, ...]
    phrases: dict[str, str]  # normalised phrasing -> intent (first intent wins)

    def intent(self, text: str) -> str | None:
        """The intent of a message that is one of the phrasings, else None."""
        words = normalise(text)
        if not words or len(words.split()) > MAX_WORDS:
            return None
        for candidate in self._candidates(words):
            if candidate in self.phrases:
                return self.phrases[candidate]
        return None

    def _candidates(self, words: str) -> list[str]:
        found = [words]
        for lead in ("", *self.leading):
            if lead and not words.startswith(lead + " "):
                continue
            core = words[len(lead):].strip()
            found.append(core)
            for trail in self.trailing:
                if core.endswith(" " + trail):
                    found.append(core[: -len(trail)].strip())
        return found


def normalise(text: str) -> str:
    """Lower-case words: ’ as ', punctuation and emoji dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text or "").translate(_APOSTROPHES).lower()
    text = _NOT_WORD.sub(" ", text)
    return " ".join(text.split()).strip("' ")


def _list(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise RepliesError(f"{where} must be a non-empty list")
    out = []
    for item in value:
        if not isinstance(item, str) or not normalise(item):
            raise RepliesError(f"{where}: {item!r} is not a phrasing")
        out.append(normalise(item))
    return tuple(out)


def load_replies(path: Path = REPLIES_PATH) -> ReplyTable:
    data = read_yaml(path, RepliesError)
    if not isinstance(data, dict):
        raise RepliesError(f"{path}: expected a mapping")
    fillers = data.get("fillers") or {}
    intents = data.get("intents")
    if not isinstance(intents, dict) or not intents:
        raise RepliesError(f"{path}: intents must be a mapping of intent to phrasings")
    phrases: dict[str, str] = {}
    for intent, items in intents.items():
        if intent not in REPLY_INTENTS:
            raise RepliesError(f"{path}: unknown intent {intent!r}; expected {REPLY_INTENTS}")
        for phrase in _list(items, f"{path}: intents.{intent}"):
            if phrase in phrases and phrases[phrase] != intent:
                raise RepliesError(
                    f"{path}: {phrase!r} is under {phrases[phrase]} and {intent}")
            phrases.setdefault(phrase, intent)
    # Longest fillers first, so "ok so" is tried before "ok".
    by_length = lambda words: sorted(words, key=len, reverse=True)  # noqa: E731
    return ReplyTable(
        leading=tuple(by_length(_list(fillers.get("leading"), f"{path}: fillers.leading"))),
        trailing=tuple(by_length(_list(fillers.get("trailing"), f"{path}: fillers.trailing"))),
        phrases=phrases,
    )


@lru_cache(maxsize=1)
def reply_table() -> ReplyTable:
    return load_replies()


def reply_intent(text: str) -> str | None:
    """The intent of a short reply that is one of knowledge/replies.yml's phrasings."""
    return reply_table().intent(text)
