"""What every reply must satisfy: the disclaimer rules and the no-reassurance rule."""

from __future__ import annotations

from functools import lru_cache

from b12core.disclaimer import full_disclaimer, general_disclaimer
from b12core.safety import messages

SHORT_PHRASE = "not medical advice"
REASSURANCE = ("fine", "nothing to worry about", "no need to worry", "you're ok", "you are ok",
               "healthy result", "good result")


@lru_cache(maxsize=1)
def _health_markers() -> tuple[str, ...]:
    from b12core.kb import load_kb

    texts = messages()
    passages = tuple(p.text for p in load_kb().passages)
    cells = tuple(c.text for p in load_kb().passages for c in p.cells if len(c.text) > 20)
    return (*passages, *cells, texts.urgent[:60], texts.crisis[:60],
            "reference table:", "Laboratories set their own reference ranges")


def carries_health_information(texts: list[str]) -> bool:
    joined = "\n".join(texts)
    return any(marker in joined for marker in _health_markers())


def urgent_problems(texts: list[str]) -> list[str]:
    """The urgent and crisis replies come first and alone (the urgent one with the
    general disclaimer only, the crisis one with nothing)."""
    replies = messages()
    joined = "\n\n".join(texts)  # Rasa's output channels split a text at blank lines
    if replies.crisis in joined and joined != replies.crisis:
        return ["the crisis reply is not alone in its turn"]
    if replies.urgent in joined and joined != f"{replies.urgent}\n\n{general_disclaimer()}":
        return ["the urgent reply is not first and alone (with the general disclaimer)"]
    return []


def audit_turn(texts: list[str], first_turn: bool) -> list[str]:
    """Problems with one turn's replies (empty when it follows the rules)."""
    problems = urgent_problems(texts)
    joined = "\n".join(texts)
    replies = messages()
    urgent_turn = joined.startswith(replies.urgent) or joined.startswith(replies.crisis)
    if first_turn and not urgent_turn and not joined.startswith(full_disclaimer()):
        problems.append("the conversation does not open with the full disclaimer")
    if (carries_health_information(texts) and SHORT_PHRASE not in joined
            and joined != replies.crisis):
        problems.append("health information without the short disclaimer")
    lowered = joined.lower().replace(full_disclaimer().lower(), "")
    problems.extend(f"reassurance: {word!r}" for word in REASSURANCE if word in lowered)
    return problems


class ConversationAudit:
    """audit_turn over a whole conversation, plus the deferred opening: a conversation
    that opened with an urgent reply shows the full disclaimer with its next health reply."""

    def __init__(self) -> None:
        self.turns = 0
        self.opening_owed = False

    def turn(self, texts: list[str]) -> list[str]:
        problems = audit_turn(texts, first_turn=self.turns == 0)
        joined = "\n".join(texts)
        replies = messages()
        urgent_turn = joined.startswith(replies.urgent) or joined.startswith(replies.crisis)
        if self.turns == 0 and urgent_turn:
            self.opening_owed = True
        elif self.opening_owed and not urgent_turn and carries_health_information(texts):
            if not joined.startswith(full_disclaimer()):
                problems.append("the deferred full disclaimer does not open the first "
                                "health reply after the urgent one")
            self.opening_owed = False
        self.turns += 1
        return problems
