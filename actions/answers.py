"""Answer questions with verbatim quotes from the article, never with our own words."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker

from actions.health import HealthAction, HealthReply
from b12core.kb import KBError, QuestionError, load_kb
from b12core.kb.quotes import format_quote
from b12core.kb.topics import load_topic_menu, load_topics
from b12core.replies import reply_intent

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
NOT_COVERED = (
    "The article doesn't cover that, so I can't answer it from the article. These are the "
    "nearest topics it does cover. For anything else, your doctor or clinician is the "
    "right person to ask."
)
NEAREST_TOPICS = 3
LAB_CHECK_BUTTON = {"title": "Check my lab results", "payload": "/request_lab_check"}


def topic_titles() -> dict[str, str]:
    """Button titles of the topics a user can pick (knowledge/topic_quotes.yml)."""
    return load_topic_menu().titles


def topic_buttons() -> tuple[dict, ...]:
    """What is offered when a question is not understood: the lab check, then the menu."""
    menu = load_topic_menu()
    return (LAB_CHECK_BUTTON, *({"title": menu.titles[i], "payload": f"/{i}"} for i in menu.menu))


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
            topics = load_topics()
            curated = topics.get(intent) if intent and intent.startswith("ask_") else None
            if curated:
                return HealthReply(quote_messages(curated))  # whole, as loaded
            answer = kb.answer(text)
        except QuestionError:
            return HealthReply(({"text": REPHRASE, "buttons": list(topic_buttons())},))
        except (KBError, ValueError) as exc:
            logger.error("knowledge base unavailable: %s", exc)
            return HealthReply(({"text": UNAVAILABLE},))
        if not answer.understood:
            return HealthReply(({"text": REPHRASE, "buttons": list(topic_buttons())},))
        if not answer.covered:
            buttons = nearest_topic_buttons(answer.closest, topics)
            return HealthReply(({"text": NOT_COVERED, "buttons": buttons},))
        return HealthReply(quote_messages(answer.passages))


def nearest_topic_buttons(closest, topics: dict) -> list[dict]:
    """Topics whose curated passages are nearest the question's words, then the usual
    ones, and the lab check last: a way on from "not covered"."""
    titles, menu = topic_titles(), load_topic_menu().menu
    chosen: list[str] = []
    for passage in closest:
        for intent, passages in topics.items():
            if intent in titles and passage in passages and intent not in chosen:
                chosen.append(intent)
    chosen += [intent for intent in menu if intent not in chosen]
    buttons = [{"title": titles[i], "payload": f"/{i}"} for i in chosen[:NEAREST_TOPICS]]
    return [*buttons, dict(LAB_CHECK_BUTTON)]
