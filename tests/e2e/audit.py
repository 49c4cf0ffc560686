"""What every reply must satisfy: the disclaimer rules and the no-reassurance rule."""

from __future__ import annotations

from functools import lru_cache

from actions.disclaimer import full_disclaimer
from actions.safety import messages

SHORT_PHRASE = "not medical advice"
REASSURANCE = ("fine", "nothing to worry about", "no need to worry", "you're ok", "you are ok",
               "healthy result", "good result")


@lru_cache(maxsize=1)
def _health_markers() -> tuple[str, ...]:
    from actions.kb import load_kb

    texts = messages()
    passages = tuple(p.text for p in load_kb().passages)
    cells = tuple(c.text for p in load_kb().passages for c in p.cells if len(c.text) > 20)
    return (*passages, *cells, texts.urgent[:60], texts.crisis[:60],
            "reference table:", "Laboratories set their own reference ranges")


def carries_health_information(texts: list[str]) -> bool:
    joined = "\n".join(texts)
    return any(marker in joined for marker in _health_markers())


def audit_turn(texts: list[str], first_turn: bool) -> list[str]:
    """Problems with one turn's replies (empty when it follows the rules)."""
    problems = []
    joined = "\n".join(texts)
    if first_turn and not joined.startswith(full_disclaimer()):
        problems.append("the conversation does not open with the full disclaimer")
    if carries_health_information(texts) and SHORT_PHRASE not in joined:
        problems.append("health information without the short disclaimer")
    lowered = joined.lower().replace(full_disclaimer().lower(), "")
    problems.extend(f"reassurance: {word!r}" for word in REASSURANCE if word in lowered)
    return problems
