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
from b12core.texts import button, say

logger = logging.getLogger(__name__)

NEAREST_TOPICS = 3


def lab_check_button() -> dict[str, str]:
    return button("check_lab_results", "/request_lab_check")


def topic_titles() -> dict[str, str]:
    """Button titles of the topics a user can pick (knowledge/topic_quotes.yml)."""
    return load_topic_menu().titles


def topic_buttons() -> tuple[dict, ...]:
    """What is offered when a question is not understood: the lab check, then the menu."""
    menu = load_topic_menu()
    return (lab_check_button(), *({"title": menu.titles[i], "payload": f"/{i}"} for i in menu.menu))


# "yes", "no", "not sure" with nothing to answer: a way forward, not a search.
SHORT_REPLY_INTENTS = ("affirm", "deny", "inform_unsure", "skip_value")


def what_next_buttons() -> list[dict[str, str]]:
    return [button("check_my_results", "/request_lab_check"),
            button("new_results", "/request_start_over"),
            button("why_b12_high", "/ask_b12_high_liver")]


def quote_messages(passages, intro: str | None = None) -> tuple[dict, ...]:
    intro = say("answers.quote_intro") if intro is None else intro
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
                return HealthReply(({"text": say("answers.anything_else")},))
            return HealthReply(({"text": say("answers.what_next"),
                                 "buttons": what_next_buttons()},))
        try:
            kb = load_kb()
            topics = load_topics()
            curated = topics.get(intent) if intent and intent.startswith("ask_") else None
            if curated:
                return HealthReply(quote_messages(curated))  # whole, as loaded
            answer = kb.answer(text)
        except QuestionError:
            return HealthReply(({"text": say("answers.rephrase"),
                                 "buttons": list(topic_buttons())},))
        except (KBError, ValueError) as exc:
            logger.error("knowledge base unavailable: %s", exc)
            return HealthReply(({"text": say("answers.unavailable")},))
        if not answer.understood:
            return HealthReply(({"text": say("answers.rephrase"),
                                 "buttons": list(topic_buttons())},))
        if not answer.covered:
            buttons = nearest_topic_buttons(answer.closest, topics)
            return HealthReply(({"text": say("answers.not_covered"), "buttons": buttons},))
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
    return [*buttons, lab_check_button()]
