"""Questions about one's own results that are not a request for a dose: what a band
word means, "is that bad?", a summary for the doctor, "could my symptoms be my B12?".

Every figure comes from knowledge/reference_ranges.yml with its source; every medical
sentence is a quote of the article. None of these replies reassures or alarms.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from actions.health import HealthAction, HealthReply
from actions.lab_check import panel_from_slots
from b12core.kb.quotes import format_quote
from b12core.kb.topics import load_topics
from b12core.labs import interpret
from b12core.labs.questions import clinician_questions
from b12core.labs.reference import Band, reference_table
from b12core.labs.report import describe_value
from b12core.replies import normalise

# Questions about one's own results, answered here (not article topics: no curated quotes).
RESULT_QUESTION_INTENTS = ("ask_result_meaning", "ask_should_worry", "ask_symptoms")
NO_RESULTS = ('You haven\'t given me any results in this conversation yet. Say "check my '
              'results" and I\'ll compare them with the general reference ranges.')
NO_VERDICT = ("I can't tell you whether your result is good or bad, or whether to worry: "
              "that needs your doctor, who knows your history and your full results.")
COMPARISON = "What I can show is how each value compares with the general reference ranges I use:"
SYMPTOMS = ("The article I quote doesn't cover symptoms, so I can't say whether what you "
            "feel could be linked to your B12 or your liver. Please tell your doctor about "
            "your symptoms. If you feel very unwell, seek urgent medical care now.")
CONDITION_NAMES = {"nafld": "NAFLD / MASLD (fatty liver)", "nash": "NASH / MASH",
                   "cirrhosis": "cirrhosis", "other_liver": "another liver disease",
                   "none": "none", "unknown": "not given"}


def _referral() -> tuple[dict[str, Any], ...]:
    return tuple({"text": format_quote(p)} for p in load_topics()["clinician_referral"])


def _result_lines(tracker: Tracker) -> tuple[list[str], Any]:
    result = interpret(panel_from_slots(tracker))
    return [f"- {describe_value(r)}" for r in result.values], result


def band_line(name: str, band: Band) -> str:
    label = band.status if band.band == band.status else f"{band.status}, {band.band}"
    return f'- {name}: "{label}" is {band.describe()} (source: {band.source.strip()})'


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
            intro = ("These words are the bands of the general reference table I compare "
                     "results with:")
        else:
            lines, _ = _result_lines(tracker)
            intro = "Your results, each with the band of the general reference table it falls in:"
            if not lines:
                spec = table.spec("b12")
                lines = [band_line("Vitamin B12", band) for band in spec.bands]
                intro = ('Each result is placed in a band of a general reference table. For '
                         'vitamin B12, the bands are (ask about a word, e.g. "what does '
                         'borderline mean?", for the other tests):')
        messages = [{"text": intro + "\n" + "\n".join(lines)}, {"text": table.caveat}]
        return HealthReply((*messages, *_referral()))


class ActionAnswerShouldWorry(HealthAction):
    """"Is that bad?": no reassurance and no alarm, the comparison and a referral."""

    def name(self) -> str:
        return "action_answer_should_worry"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        lines, _ = _result_lines(tracker)
        if not lines:
            return HealthReply(({"text": NO_VERDICT},
                                {"text": NO_RESULTS}, *_referral()))
        return HealthReply(({"text": f"{NO_VERDICT} {COMPARISON}\n" + "\n".join(lines)},
                            {"text": reference_table().caveat}, *_referral()))


class ActionShowDoctorSummary(HealthAction):
    """The values given, the condition used and the questions to take to the clinician."""

    def name(self) -> str:
        return "action_show_doctor_summary"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        lines, result = _result_lines(tracker)
        if not lines:
            return HealthReply(({"text": NO_RESULTS,
                                 "buttons": [{"title": "Check my results",
                                              "payload": "/request_lab_check"}]},))
        condition = CONDITION_NAMES.get(result.condition, result.condition)
        text = ("A summary you can show your doctor:\n" + "\n".join(lines)
                + f"\n- Liver condition you told me: {condition}")
        messages = [{"text": text}]
        questions = clinician_questions(result.finding_ids)
        if questions:
            messages.append({"text": "Questions you could take to your clinician:\n"
                             + "\n".join(f"- {q}" for q in questions)})
        messages.append({"text": reference_table().caveat})
        return HealthReply(tuple(messages))


class ActionAnswerSymptoms(HealthAction):
    """Symptoms are not in the article: say so, and send the person to their doctor."""

    def name(self) -> str:
        return "action_answer_symptoms"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        return HealthReply(({"text": SYMPTOMS}, *_referral()))
