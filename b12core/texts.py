"""The assistant's own words (knowledge/texts.yml): one catalogue, read once per process.

``say("lab_check.ask.b12")`` gives a text; ``say("lab_check.which_unit", name="folate")``
fills its placeholders, and a caller that gives a placeholder too many or too few fails
loudly (in the tests, not in front of a patient: tests/b12core/test_texts.py checks every
call in the code). Pure: no rasa imports.
"""

from __future__ import annotations

import re
import string
from functools import cache, lru_cache
from pathlib import Path

from b12core.knowledge import knowledge_file, read_yaml

TEXTS_PATH = knowledge_file("texts.yml")
_KEY = re.compile(r"[a-z0-9_]+")


class TextsError(ValueError):
    """texts.yml is malformed, or a text was asked for with the wrong key or fields."""


@cache  # the catalogue's texts: a few hundred, each parsed once
def placeholders(text: str) -> frozenset[str]:
    """The names a text needs filled: ``{name}`` and ``{chars:,}`` (positional ``{}`` is
    refused: a reviewer must see what goes where)."""
    names = set()
    for _, field, _, _ in string.Formatter().parse(text):
        if field is None:
            continue
        if not _KEY.fullmatch(field):
            raise TextsError(f"{text!r}: placeholder {{{field}}} must be a lower-case name")
        names.add(field)
    return frozenset(names)


def _flatten(node: object, prefix: str, out: dict[str, str], path: Path) -> None:
    if not isinstance(node, dict) or not node:
        raise TextsError(f"{path}: {prefix or 'the file'} must be a non-empty mapping")
    for key, value in node.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise TextsError(f"{path}: {prefix}{key!r} is not a lower-case key")
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, dotted + ".", out, path)
        elif isinstance(value, str) and value.strip() and value == value.strip():
            try:
                placeholders(value)
            except (TextsError, ValueError) as exc:
                raise TextsError(f"{path}: {dotted}: {exc}") from None
            out[dotted] = value
        else:
            raise TextsError(f"{path}: {dotted} must be a non-empty text without outer spaces")


def load_texts(path: Path = TEXTS_PATH) -> dict[str, str]:
    """Dotted key -> text, e.g. ``"lab_check.ask.b12"``."""
    texts: dict[str, str] = {}
    _flatten(read_yaml(path, TextsError), "", texts, path)
    return texts


@lru_cache(maxsize=1)
def texts() -> dict[str, str]:
    return load_texts()


def say(key: str, **fields: object) -> str:
    """The catalogue's text for ``key`` with exactly its placeholders filled."""
    try:
        text = texts()[key]
    except KeyError:
        raise TextsError(f"{TEXTS_PATH.name} has no text {key!r}") from None
    needed = placeholders(text)
    if needed != set(fields):
        raise TextsError(f"{key} needs {sorted(needed)}, was given {sorted(fields)}")
    return text.format(**fields) if needed else text


def button(key: str, payload: str | None = None) -> dict[str, str]:
    """A button titled from the catalogue; without a payload it sends its own title."""
    title = say(f"buttons.{key}")
    return {"title": title, "payload": title if payload is None else payload}
