"""Questions to take to a clinician, per finding (``knowledge/clinician_questions.yml``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from b12core.knowledge import knowledge_file, read_yaml
from b12core.labs.models import FINDING_IDS

QUESTIONS_PATH = knowledge_file("clinician_questions.yml")


def read_questions(path: Path = QUESTIONS_PATH) -> dict[str, tuple[str, str]]:
    """finding id -> (question, basis passage id); a malformed row fails naming it."""
    data = read_yaml(path) or {}
    out = {}
    for finding, row in data.items():
        if finding not in FINDING_IDS:
            raise ValueError(f"{path}: unknown finding '{finding}'")
        question = row.get("question") if isinstance(row, dict) else None
        basis = row.get("basis") if isinstance(row, dict) else None
        if not isinstance(question, str) or not question.strip().endswith("?"):
            raise ValueError(f"{path}: '{finding}' needs a question ending with '?'")
        if not isinstance(basis, str):
            raise ValueError(f"{path}: '{finding}' needs the passage id it rests on")
        out[finding] = (question.strip(), basis)
    return out


@lru_cache(maxsize=1)
def load_questions() -> dict[str, tuple[str, str]]:
    return read_questions()


def clinician_questions(finding_ids: tuple[str, ...]) -> tuple[str, ...]:
    table = load_questions()
    return tuple(table[f][0] for f in finding_ids if f in table)
