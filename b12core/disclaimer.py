"""The assistant's disclaimer texts: the one place every reply path reads them from.

Pure module (no rasa imports) so that the lab engine, the KB command line and the
rasa_sdk glue all share the same words.
"""

from __future__ import annotations

from functools import lru_cache

from b12core.knowledge import knowledge_file, read_yaml

DISCLAIMER_FILE = knowledge_file("disclaimer.yml")
REQUIRED_PHRASE = "not medical advice"


class DisclaimerError(RuntimeError):
    """The disclaimer file is missing or does not say what it must."""


@lru_cache(maxsize=1)
def _texts() -> dict[str, str]:
    data = read_yaml(DISCLAIMER_FILE, DisclaimerError)
    texts = {}
    for key in ("full", "short", "general"):
        text = data.get(key) if isinstance(data, dict) else None
        if not isinstance(text, str) or REQUIRED_PHRASE not in text:
            raise DisclaimerError(
                f"{DISCLAIMER_FILE}: '{key}' must be a text containing '{REQUIRED_PHRASE}'"
            )
        texts[key] = text.strip()
    return texts


def full_disclaimer() -> str:
    """Shown once at the start of every conversation."""
    return _texts()["full"]


def short_disclaimer() -> str:
    """Appended to every reply that carries health information."""
    return _texts()["short"]


def general_disclaimer() -> str:
    """Closes the urgent-care reply: no mention of results or a routine visit."""
    return _texts()["general"]
