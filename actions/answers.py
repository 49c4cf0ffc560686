"""Answer questions with verbatim quotes from the article, never with our own words."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker

from actions.health import HealthAction, HealthReply
from actions.kb import KBError, QuestionError, load_kb
from actions.kb.quotes import format_quote
from actions.kb.topics import load_topics

logger = logging.getLogger(__name__)

NOT_COVERED = (
    "The article I quote from doesn't cover that. Your doctor or clinician is the "
    "right person to ask."
)
UNAVAILABLE = (
    "Sorry, I can't look this up right now. Please try again in a moment, or ask "
    "your doctor or clinician."
)
# At most this many passages from a search, so an answer stays readable.
MAX_SEARCH_QUOTES = 2


def _quote_messages(passages) -> tuple[dict[str, Any], ...]:
    intro = {"text": "Here is what the article says:"}
    return (intro, *({"text": format_quote(p)} for p in passages))


class ActionAnswerQuestion(HealthAction):
    def name(self) -> str:
        return "action_answer_question"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = tracker.latest_message.get("text") or ""
        try:
            kb = load_kb()
            curated = load_topics().get(intent)
            if curated:
                return HealthReply(_quote_messages(curated))
            response = kb.search(text, k=MAX_SEARCH_QUOTES)
        except QuestionError as exc:
            return HealthReply(({"text": str(exc)},))
        except (KBError, ValueError) as exc:
            logger.error("knowledge base unavailable: %s", exc)
            return HealthReply(({"text": UNAVAILABLE},))
        if not response.covered:
            return HealthReply(({"text": NOT_COVERED},))
        best = response.results[0].score
        # Keep the second passage only when it is nearly as relevant as the first.
        passages = [r.passage for r in response.results if r.score >= 0.8 * best]
        return HealthReply(_quote_messages(passages))
