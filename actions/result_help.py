"""Questions about one's own results that are not a request for a dose: what a band
word means, "is that bad?", a summary for the doctor, "could my symptoms be my B12?".

Every figure comes from knowledge/reference_ranges.yml with its source; every medical
sentence is a quote of the article. None of these replies reassures or alarms.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from actions.health import HealthAction, HealthReply
from actions.lab_check import condition_name, panel_from_slots
from b12core.kb.quotes import format_quote
from b12core.kb.topics import load_topics
from b12core.labs import interpret
from b12core.labs.questions import clinician_questions
from b12core.labs.reference import Band, reference_table
from b12core.labs.report import describe_value
from b12core.replies import normalise
from b12core.texts import button, say

# Questions about one's own results, answered here (not article topics: no curated quotes).
RESULT_QUESTION_INTENTS = ("ask_result_meaning", "ask_should_worry", "ask_symptoms")


def _referral() -> tuple[dict[str, Any], ...]:
    return tuple({"text": format_quote(p)} for p in load_topics()["clinician_referral"])


def _result_lines(tracker: Tracker) -> tuple[list[str], Any]:
    result = interpret(panel_from_slots(tracker))
    return [f"- {describe_value(r)}" for r in result.values], result


def band_line(name: str, band: Band) -> str:
    label = band.status if band.band == band.status else f"{band.status}, {band.band}"
    return "- " + say("result_help.band_line", name=name, label=label, range=band.describe(),
                      source=band.source.strip())


def terms_in(text: str) -> list[str]:
    """Band words of the reference table that the message names ("borderline", "high")."""
    words = f" {normalise(text)} "
    table = reference_table()
    terms = {w for spec in table.analytes for b in spec.bands for w in (b.status, b.band)}
    return sorted(t for t in terms if f" {t} " in words)


class ActionExplainResultTerms(HealthAction):
    """"What does borderline mean?": the reference table's own words, limits and sources."""

    def name(self) -> str:
        return "action_explain_result_terms"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        table = reference_table()
        terms = terms_in(tracker.latest_message.get("text") or "")
        if terms:
            lines = [band_line(spec.name[0].upper() + spec.name[1:], band)
                     for spec in table.analytes for band in spec.bands
                     if band.status in terms or band.band in terms]
            intro = say("result_help.terms_intro")
        else:
            lines, _ = _result_lines(tracker)
            intro = say("result_help.results_intro")
            if not lines:
                spec = table.spec("b12")
                lines = [band_line(spec.name[0].upper() + spec.name[1:], band)
                         for band in spec.bands]
                intro = say("result_help.bands_intro")
        messages = [{"text": intro + "\n" + "\n".join(lines)}, {"text": table.caveat}]
        return HealthReply((*messages, *_referral()))


class ActionAnswerShouldWorry(HealthAction):
    """"Is that bad?": no reassurance and no alarm, the comparison and a referral."""

    def name(self) -> str:
        return "action_answer_should_worry"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        lines, _ = _result_lines(tracker)
        if not lines:
            return HealthReply(({"text": say("result_help.no_verdict")},
                                {"text": say("result_help.no_results")}, *_referral()))
        intro = f'{say("result_help.no_verdict")} {say("result_help.comparison")}'
        return HealthReply(({"text": intro + "\n" + "\n".join(lines)},
                            {"text": reference_table().caveat}, *_referral()))


class ActionShowDoctorSummary(HealthAction):
    """The values given, the condition used and the questions to take to the clinician."""

    def name(self) -> str:
        return "action_show_doctor_summary"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        lines, result = _result_lines(tracker)
        if not lines:
            return HealthReply(({"text": say("result_help.no_results"),
                                 "buttons": [button("check_my_results", "/request_lab_check")]},))
        condition = condition_name(result.condition)
        text = (say("result_help.summary_heading") + "\n" + "\n".join(lines)
                + "\n- " + say("result_help.summary_condition", condition=condition))
        messages = [{"text": text}]
        questions = clinician_questions(result.finding_ids)
        if questions:
            messages.append({"text": say("lab_check.questions_heading") + "\n"
                             + "\n".join(f"- {q}" for q in questions)})
        messages.append({"text": reference_table().caveat})
        return HealthReply(tuple(messages))


class ActionAnswerSymptoms(HealthAction):
    """Symptoms are not in the article: say so, and send the person to their doctor."""

    def name(self) -> str:
        return "action_answer_symptoms"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        return HealthReply(({"text": say("result_help.symptoms")}, *_referral()))
