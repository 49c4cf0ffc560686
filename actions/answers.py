"""Answer questions with verbatim quotes from the article, never with our own words."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker

from actions.health import HealthAction, HealthReply
from actions.kb import KBError, QuestionError, load_kb
from actions.kb.quotes import format_quote
from actions.kb.topics import load_topics
from actions.replies import reply_intent

logger = logging.getLogger(__name__)

UNAVAILABLE = (
    "Sorry, I can't look this up right now. Please try again in a moment, or ask "
    "your doctor or clinician."
)
REPHRASE = (
    "I'm not sure I understood, and the article doesn't seem to cover that. Could you "
    "rephrase it, or pick one of these topics? For anything else, your doctor or "
    "clinician is the right person to ask."
)
TOPIC_BUTTONS = (
    {"title": "Check my lab results", "payload": "/request_lab_check"},
    {"title": "Why B12 can read high in liver disease", "payload": "/ask_b12_high_liver"},
    {"title": "B12 doses and the RDA", "payload": "/ask_dosage"},
    {"title": "Food or supplements", "payload": "/ask_food_vs_supplements"},
    {"title": "Homocysteine", "payload": "/ask_homocysteine"},
    {"title": "Deficiency and the MMA test", "payload": "/ask_deficiency_mma"},
)
# "yes", "no", "not sure" with nothing to answer: a way forward, not a search.
SHORT_REPLY_INTENTS = ("affirm", "deny", "inform_unsure", "skip_value")
WHAT_NEXT = ("What would you like to do next? You can check lab results, enter new ones, or "
             "ask me what the article says.")
ANYTHING_ELSE = "OK. Is there anything else you would like to ask?"
WHAT_NEXT_BUTTONS = (
    {"title": "Check my results", "payload": "/request_lab_check"},
    {"title": "New results", "payload": "/request_start_over"},
    {"title": "Why can B12 read high in liver disease?", "payload": "/ask_b12_high_liver"},
)
# At most this many passages from a search, so an answer stays readable.
MAX_SEARCH_QUOTES = 2


def quote_messages(passages, intro: str = "Here is what the article says:") -> tuple[dict, ...]:
    return ({"text": intro}, *({"text": format_quote(p)} for p in passages))


class ActionAnswerQuestion(HealthAction):
    """Topic intents get their curated passages; anything else is searched."""

    def name(self) -> str:
        return "action_answer_question"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = tracker.latest_message.get("text") or ""
        if intent in SHORT_REPLY_INTENTS and (text.startswith("/") or reply_intent(text)):
            # A short reply (knowledge/replies.yml or a button) outside any question.
            if intent == "deny":
                return HealthReply(({"text": ANYTHING_ELSE},))
            return HealthReply(({"text": WHAT_NEXT, "buttons": list(WHAT_NEXT_BUTTONS)},))
        try:
            kb = load_kb()
            curated = load_topics().get(intent) if intent and intent.startswith("ask_") else None
            if curated:
                return HealthReply(quote_messages(curated))
            response = kb.search(text, k=MAX_SEARCH_QUOTES)
        except QuestionError:
            return HealthReply(({"text": REPHRASE, "buttons": list(TOPIC_BUTTONS)},))
        except (KBError, ValueError) as exc:
            logger.error("knowledge base unavailable: %s", exc)
            return HealthReply(({"text": UNAVAILABLE},))
        if not response.covered:
            return HealthReply(({"text": REPHRASE, "buttons": list(TOPIC_BUTTONS)},))
        best = response.results[0].score
        # Keep the second passage only when it is nearly as relevant as the first.
        passages = [r.passage for r in response.results if r.score >= 0.8 * best]
        return HealthReply(quote_messages(passages))
