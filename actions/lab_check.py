"""The lab check: slot extraction with the one lab parser, the form, the interpretation.

Every user message goes through ``action_extract_lab_values`` (custom slot
mappings), so values and the condition are kept whenever they are given. The
form asks for what is missing; ``action_interpret_labs`` calls ``b12core.labs``.
"""

from __future__ import annotations

import abc
import logging
import re
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.health import HealthAction, HealthReply
from b12core.kb.quotes import format_quote
from b12core.kb.topics import load_topics
from b12core.labs import ANALYTES, LabError, LabInput, LabPanel, LabResult, interpret, parse
from b12core.labs.interpret import evaluate
from b12core.labs.models import LabRange, plain_number
from b12core.labs.notes import note_sentence
from b12core.labs.parser import parse_unit
from b12core.labs.reference import reference_table
from b12core.labs.report import (
    describe_value,
    lab_range_cell,
    range_sources,
    table_columns,
    table_rows,
)
from b12core.replies import normalise, reply_intent
from b12core.texts import button, say, texts

logger = logging.getLogger(__name__)
_B12_NAME = re.compile(r"\bb[\s-]?12\b", re.IGNORECASE)

FORM = "lab_form"
SKIPPED = "skipped"
OPTIONAL = ("homocysteine", "mma", "folate")
ALL_REQUIRED = ("b12", *OPTIONAL, "condition")
QUICK_REQUIRED = ("b12", "condition")
MAX_FAILURES = 2
# Channels whose clients render the lab_table custom payload (the web widget).
TABLE_CHANNELS = ("socketio",)
# "I don't have the others": words that make a skip cover every remaining value.
SKIP_ALL_WORDS = ("others", "other ones", "rest", "all of them", "any of them", "remaining",
                  "nothing else", "only had", "only have", "only got", "just the b12",
                  "just b12", "only b12", "only the b12", "either",
                  "none of them", "the other", "any others", "anything else")
UNSURE_WORDS = ("not sure", "unsure", "don't know", "dont know", "do not know", "no idea",
                "not certain", "no clue", "can't remember", "cant remember")
# Intents whose message may carry lab values or the condition. Questions are not read
# ("why is b12 high in cirrhosis" does not say the user has cirrhosis).
LAB_INTENTS = ("inform_lab_values", "inform_condition", "request_lab_check", "skip_value",
               "request_same_results")
# Messages the form leaves to the rules (data/rules): the form rejects them, a rule
# answers, and the form asks its question again. Every other message inside the form
# is read here and always gets the question again, with a hint if it was not usable.
NOT_ANSWERS = ("report_red_flag", "stop_lab_check", "request_start_over", "out_of_scope",
               "bot_challenge", "greet", "goodbye", "thank", "ask_personal_advice",
               "request_doctor_summary")
# Lab slots, cleared by "start over" (with the state of the check).
LAB_SLOTS = (*ANALYTES, "condition")
CHECK_STATE_SLOTS = ("pending_value", "lab_failures", "lab_issues", "quick_check", "lab_context",
                     "offered_optional_values", "reuse_question", "reuse_choice",
                     "results_shown")
# Issue codes that are not a failed answer (no "I still couldn't read that" for them).
NOT_FAILURES = ("unit_needed", "needs_number", "where_to_find", "updated", "continue",
                "unit_where", "note")
# "none" at the condition question: no liver condition (not "I don't know").
NO_CONDITION_WORDS = ("none", "none of them", "none of those", "nothing", "no condition",
                      "no liver disease", "no liver condition", "i don't have one",
                      "i dont have one", "i don't have any", "i dont have any")
# Words without which an intent-model "skip" or "condition" is not trusted inside the form
# (DIET reads "asdf" as skip_value now and then; the table's phrasings are trusted as is).
SKIP_EVIDENCE = ("no", "not", "don't", "dont", "do not", "didn't", "didnt", "never", "skip",
                 "none", "n/a", "haven't", "havent", "wasn't", "wasnt", "isn't", "isnt",
                 "only", "nothing", "pass", "next", "without", "nope", "nah", "missing")
HEALTHY_LIVER_WORDS = ("liver is fine", "liver is healthy", "healthy liver", "liver is ok",
                       "liver is normal", "nothing wrong with my liver", "no liver",
                       "don't have a liver", "dont have a liver", "no problems with my liver")
QUESTION_WORDS = ("what", "why", "how", "where", "when", "which", "who", "is", "are", "can",
                  "could", "should", "does", "do", "will", "would")


def test_name(analyte: str) -> str:
    """How the dialogue names a test ("MMA (methylmalonic acid)")."""
    return say(f"lab_check.test_names.{analyte}")


def ask_text(analyte: str) -> str:
    return say(f"lab_check.ask.{analyte}")

# How reports name each test (each also a spelling the parser reads: lab_vocabulary.yml).
REPORT_NAMES = {"b12": ("Vitamin B12", "Serum B12", "Cobalamin"),
                "homocysteine": ("Homocysteine", "Total homocysteine", "Hcy"),
                "mma": ("Methylmalonic acid", "MMA"),
                "folate": ("Folate", "Serum folate", "Folic acid")}
EXAMPLES = {"b12": "350 pg/mL", "homocysteine": "12 µmol/L", "mma": "0.25 µmol/L",
            "folate": "15 nmol/L"}


def reuse_buttons() -> list[dict[str, str]]:
    return [button("show_same_results", "/request_same_results"),
            button("enter_new_results", "/request_start_over")]


def condition_buttons() -> list[dict[str, str]]:
    return [button("condition_nafld", "NAFLD"), button("condition_nash", "NASH"),
            button("condition_cirrhosis", "cirrhosis"),
            button("condition_none", "no liver disease"),
            button("condition_not_sure", "not sure")]


# --- slot values -------------------------------------------------------------------

def _range_value(lab_range: LabRange | None) -> dict[str, Any] | None:
    if lab_range is None:
        return None
    return {"text": lab_range.text, "unit": lab_range.unit,
            "lower": None if lab_range.lower is None else str(lab_range.lower),
            "upper": None if lab_range.upper is None else str(lab_range.upper),
            "lower_inclusive": lab_range.lower_inclusive,
            "upper_inclusive": lab_range.upper_inclusive}


def _range_input(stored: Any) -> LabRange | None:
    if not isinstance(stored, dict):
        return None
    try:
        bounds = [None if stored.get(k) is None else Decimal(str(stored[k]))
                  for k in ("lower", "upper")]
        return LabRange(str(stored["text"]), bounds[0], bounds[1],
                        bool(stored.get("lower_inclusive", True)),
                        bool(stored.get("upper_inclusive", True)), stored.get("unit"))
    except (KeyError, InvalidOperation):
        return None


def slot_value(item: LabInput) -> dict[str, Any]:
    """A value as stored in its slot: exact decimal text, unit as given (None if none),
    and what the report printed with it (its range and flag)."""
    return {"value": str(item.value), "unit": item.unit, "comparator": item.comparator,
            "lab_range": _range_value(item.lab_range), "flag": item.flag}


def lab_input(analyte: str, stored: Any, when: str = "current") -> LabInput | None:
    """Back from a slot to the engine's input; None for skipped or malformed slots."""
    if not isinstance(stored, dict):
        return None
    try:
        value = Decimal(str(stored["value"]))
    except (KeyError, InvalidOperation):
        return None
    return LabInput(analyte, value, stored.get("unit"), stored.get("comparator"),
                    lab_range=_range_input(stored.get("lab_range")), flag=stored.get("flag"),
                    when=when)


def panel_from_slots(tracker: Tracker) -> LabPanel:
    inputs = [lab_input(a, tracker.get_slot(a)) for a in ANALYTES]
    condition = tracker.get_slot("condition") or "unknown"
    context = tracker.get_slot("lab_context") or {}
    earlier = [lab_input(e.get("analyte"), e, "earlier") for e in context.get("earlier") or []
               if isinstance(e, dict) and e.get("analyte") in ANALYTES]
    return LabPanel(values=tuple(i for i in inputs if i is not None), condition=condition,
                    earlier=tuple(e for e in earlier if e is not None),
                    pregnant=bool(context.get("pregnant")),
                    b12_treatment=bool(context.get("b12_treatment")))


def context_notes(tracker: Tracker) -> list[str]:
    """Sentences about what was read and not interpreted (other specimens, doses)."""
    return list((tracker.get_slot("lab_context") or {}).get("notes") or [])


def updated_context(tracker: Tracker, panel: LabPanel) -> dict[str, Any] | None:
    """The conversation's lab context with what this message added; None if nothing."""
    if not (panel.notes or panel.earlier or panel.pregnant or panel.b12_treatment):
        return None
    old = tracker.get_slot("lab_context") or {}
    renewed = {item.analyte for item in panel.values}
    earlier = [e for e in old.get("earlier") or [] if e.get("analyte") not in renewed]
    earlier += [{"analyte": e.analyte, **slot_value(e)} for e in panel.earlier]
    notes = list(dict.fromkeys([*(old.get("notes") or []),
                                *(note_sentence(n) for n in panel.notes)]))
    return {"notes": notes, "earlier": earlier,
            "pregnant": bool(old.get("pregnant")) or panel.pregnant,
            "b12_treatment": bool(old.get("b12_treatment")) or panel.b12_treatment}


def issue(error: LabError) -> dict[str, Any]:
    return {"analyte": error.analyte, "code": error.code, "message": error.message,
            "units": list(error.units)}


def _intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    lowered = " " + text.lower().replace("’", "'") + " "
    return any(w in lowered for w in words)


def _has_word(text: str, words: tuple[str, ...]) -> bool:
    """Whether one of ``words`` occurs as a whole word or phrase."""
    lowered = text.lower().replace("’", "'")
    return any(re.search(rf"(?<![\w']){re.escape(w)}(?![\w'])", lowered) for w in words)


# --- extraction: every user message --------------------------------------------------

def reads_lab_values(intent: str | None, form_active: bool) -> bool:
    """Whether a message can carry lab values: a lab intent, or any answer in the form.

    domain.yml's slot mappings apply the same rule so that other turns skip the call.
    """
    answering = form_active and intent not in NOT_ANSWERS and not (intent or "").startswith("ask_")
    return intent in LAB_INTENTS or answering


class ActionExtractLabValues(Action):
    """Fill the lab slots from one message with the lab parser; never guesses a unit."""

    def name(self) -> str:
        return "action_extract_lab_values"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intent = _intent(tracker)
        text = tracker.latest_message.get("text") or ""
        if intent == "report_red_flag":
            return []
        form_active = tracker.active_loop.get("name") == FORM
        requested = tracker.get_slot("requested_slot") if form_active else None
        if not reads_lab_values(intent, form_active):
            return []
        if text.strip().startswith("/"):
            # A button payload (or a typed slash command): its intent says it all.
            text = ""
        try:
            return self._extract(tracker, text, intent, form_active, requested)
        except Exception as exc:  # a parser bug must not take the conversation down
            # The type only: a parser message could quote the user's value.
            logger.error("lab value extraction failed: %s", type(exc).__name__)
            return []

    def _extract(self, tracker, text, intent, form_active, requested) -> list[dict[str, Any]]:
        reply = reply_intent(text) if text else None
        kind = reply or intent
        if not form_active:
            return self._outside_form(tracker, text, intent)
        if requested == "reuse_choice":
            return self._reuse_answer(tracker, text, kind)
        pending = tracker.get_slot("pending_value")
        if pending and pending.get("analyte") == requested:
            answered = self._unit_answer(tracker, text, kind, pending)
            if answered is not None:
                return answered
        if requested == "condition" and not _has_digits(text):
            return self._condition_answer(tracker, text, kind)
        if requested in ANALYTES and not _has_digits(text):
            if kind in ("skip_value", "deny") and (reply or not text or _has_word(
                    text, SKIP_EVIDENCE)):
                return self._skip(tracker, text, requested)
            if kind == "affirm":
                return [_note(requested, "needs_number")]
            if kind == "inform_unsure":
                return [_note(requested, "where_to_find")]
            if kind == "request_lab_check":
                return [_note(requested, "continue")]
        events = self._read_values(tracker, text, requested, form_active=True)
        if events:
            return events
        if intent == "nlu_fallback" and looks_like_question(text):
            return []  # the side-question rule answers it, then the form asks again
        return [_note(requested, "not_understood")]

    def _outside_form(self, tracker, text, intent) -> list[dict[str, Any]]:
        events = self._read_values(tracker, text, None, form_active=False)
        if any(e.get("name") in LAB_SLOTS for e in events):
            # New values or a correction after a check: interpret them, no question first.
            events.append(SlotSet("reuse_question", False))
        elif intent == "request_lab_check" and tracker.get_slot("results_shown"):
            # "check my results" again: the same values, or new ones?
            events += [SlotSet("reuse_question", True), SlotSet("reuse_choice", None)]
        return events

    def _reuse_answer(self, tracker, text, kind) -> list[dict[str, Any]]:
        if kind in ("request_same_results", "affirm", "request_lab_check") or normalise(
            text
        ) in ("same", "the same", "same ones", "same values", "same results", "show them again",
              "show the same results", "again"):
            return [SlotSet("reuse_choice", "same")]
        values = self._read_values(tracker, text, None, form_active=True)
        if any(e.get("name") in LAB_SLOTS for e in values):
            # Values typed at this question are new results: the earlier ones go.
            given = {e["name"] for e in values if e.get("name") in LAB_SLOTS}
            cleared = [SlotSet(a, None) for a in LAB_SLOTS if a not in given]
            return [*cleared, *values, SlotSet("reuse_choice", "new"),
                    SlotSet("results_shown", False)]
        return [_note("reuse_choice", "not_understood")]

    def _unit_answer(self, tracker, text, kind, pending) -> list[dict[str, Any]] | None:
        """An answer to "which unit?"; None when it carries a new value to read instead."""
        if _has_digits(text):
            return None
        analyte = pending["analyte"]
        unit = parse_unit(text) if text else None
        if unit:
            item = lab_input(analyte, pending)
            outcome = evaluate(replace(item, unit=unit), reference_table()) if item else None
            if isinstance(outcome, LabResult):
                return [SlotSet(analyte, slot_value(replace(item, unit=unit))),
                        SlotSet("pending_value", None), SlotSet("lab_issues", None)]
            if isinstance(outcome, LabError):
                return [SlotSet("lab_issues", [issue(outcome)])]
        if kind in ("skip_value", "deny") and analyte in OPTIONAL:
            return [SlotSet("pending_value", None), *self._skip(tracker, text, analyte)]
        if kind in ("inform_unsure", "deny", "skip_value", "affirm"):
            return [_note(analyte, "unit_where")]
        if kind == "nlu_fallback" and looks_like_question(text):
            return []  # the side-question rule answers it, then the unit is asked again
        return [_note(analyte, "not_understood")]

    @staticmethod
    def _condition_answer(tracker, text, kind) -> list[dict[str, Any]]:
        panel = parse(text) if text else None
        if panel and panel.condition != "unknown":
            return [SlotSet("condition", panel.condition)]
        if normalise(text) in NO_CONDITION_WORDS or _mentions(text, HEALTHY_LIVER_WORDS):
            return [SlotSet("condition", "none")]
        trusted = not text or reply_intent(text) is not None or _has_word(
            text, (*UNSURE_WORDS, *SKIP_EVIDENCE))
        if kind in ("skip_value", "deny", "inform_unsure") or (
            kind == "inform_condition" and trusted
        ) or _mentions(text, UNSURE_WORDS):
            # "not sure" answers the question: the condition is known to be unknown.
            return [SlotSet("condition", "unknown")]
        if kind == "affirm":
            return [_note("condition", "needs_number")]
        if kind == "nlu_fallback" and looks_like_question(text):
            return []
        return [_note("condition", "not_understood")]

    def _read_values(self, tracker, text, requested, form_active) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        issues: list[dict[str, Any]] = []
        if not text:
            return events
        table = reference_table()
        pending = tracker.get_slot("pending_value")
        expected = requested if requested in ANALYTES and _has_digits(text) else None
        panel = parse(text, expected_analyte=expected)
        found_b12 = False
        for item in panel.values:
            outcome = evaluate(item, table)
            if isinstance(outcome, LabResult):
                events.append(SlotSet(item.analyte, slot_value(item)))
                found_b12 = found_b12 or item.analyte == "b12"
                if pending and pending.get("analyte") == item.analyte:
                    events.append(SlotSet("pending_value", None))
                if form_active and item.analyte != requested:
                    issues.append(_updated(item, tracker.get_slot(item.analyte)))
            else:
                issues.append(issue(outcome))
                if outcome.code == "unit_needed":
                    events.append(SlotSet("pending_value", {"analyte": item.analyte,
                                                            **slot_value(item)}))
        if panel.condition != "unknown":
            events.append(SlotSet("condition", panel.condition))
        context = updated_context(tracker, panel)
        if context is not None:
            events.append(SlotSet("lab_context", context))
            issues += [{"analyte": "note", "code": "note", "message": note_sentence(n),
                        "units": []} for n in panel.notes]
        if not form_active and found_b12 and panel.condition != "unknown":
            events.append(SlotSet("quick_check", True))
        if issues:
            events.append(SlotSet("lab_issues", issues))
        return events

    @staticmethod
    def _skip(tracker: Tracker, text: str, requested: str) -> list[dict[str, Any]]:
        if requested == "b12":
            return [SlotSet("lab_issues", [{"analyte": "b12", "code": "b12_required",
                                            "message": "", "units": []}])]
        targets = [requested]
        if _mentions(text, SKIP_ALL_WORDS):
            targets = [a for a in OPTIONAL if tracker.get_slot(a) is None]
        return [SlotSet(a, SKIPPED) for a in dict.fromkeys(targets)]


def _has_digits(text: str) -> bool:
    """Whether a message holds a number ("B12" itself does not count)."""
    return any(ch.isdigit() for ch in _B12_NAME.sub(" ", text))


def looks_like_question(text: str) -> bool:
    """A question mark, or a first word that opens a question."""
    words = normalise(text).split()
    return "?" in text or bool(words and words[0] in QUESTION_WORDS)


def _note(analyte: str, code: str) -> dict[str, Any]:
    """A lab_issues slot event that only says how to ask again (no value was read)."""
    return SlotSet("lab_issues", [{"analyte": analyte, "code": code, "message": "",
                                   "units": []}])


def _updated(item: LabInput, before: Any) -> dict[str, Any]:
    """A value for another test than the one asked, said back so nothing changes silently."""
    value = f"{item.comparator or ''}{item.value} {item.unit or ''}".strip()
    message = say("lab_check.value_changed" if isinstance(before, dict)
                  else "lab_check.value_noted", name=test_name(item.analyte), value=value)
    return {"analyte": item.analyte, "code": "updated", "units": [], "message": message}


# --- the form ------------------------------------------------------------------------

class ValidateLabForm(FormValidationAction):
    """Which values to ask for, and how often an answer has failed."""

    def name(self) -> str:
        return "validate_lab_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        slots = list(QUICK_REQUIRED if tracker.get_slot("quick_check") else ALL_REQUIRED)
        if tracker.get_slot("reuse_question"):
            slots.insert(0, "reuse_choice")
        return slots

    async def get_extraction_events(self, dispatcher, tracker, domain) -> list[dict[str, Any]]:
        """Nothing to extract here: action_extract_lab_values already read the message."""
        return []

    # Each value was checked against the reference table (impossible values,
    # units) by action_extract_lab_values before it reached its slot; these say
    # so. Without a validate_<slot> method rasa_sdk keeps the value just the
    # same, but logs a warning for every answer.
    async def validate_b12(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return {"b12": value}

    async def validate_homocysteine(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return {"homocysteine": value}

    async def validate_mma(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return {"mma": value}

    async def validate_folate(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return {"folate": value}

    async def validate_condition(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return {"condition": value}

    async def validate_reuse_choice(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return {"reuse_choice": value}

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        events = await super().run(dispatcher, tracker, domain)
        requested = tracker.get_slot("requested_slot")
        issues = set_this_turn(tracker, "lab_issues") or []
        failed = [i for i in issues
                  if i.get("analyte") == requested and i["code"] not in NOT_FAILURES]
        if failed:
            failures = dict(tracker.get_slot("lab_failures") or {})
            failures[requested] = failures.get(requested, 0) + 1
            events.append(SlotSet("lab_failures", failures))
        if issues:
            # A slot set here tells the form this turn was handled, so it asks again
            # (with the explanation) instead of handing the turn to other policies.
            events.append(SlotSet("lab_issues", issues))
        return events


class AskLabValue(Action, abc.ABC):
    """Ask for one value, after explaining what went wrong with the last answer.

    Abstract (the SDK registers only the subclasses); a subclass sets ``analyte``.
    """

    @property
    @abc.abstractmethod
    def analyte(self) -> str:
        """One of b12core.labs.ANALYTES."""

    def name(self) -> str:
        return f"action_ask_{self.analyte}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        # One message per answer: what was read from it, then the question with its buttons.
        lead = answer_lead(tracker, self.analyte)
        text, buttons = self.question(tracker)
        dispatcher.utter_message(text="\n\n".join([*lead, text]), buttons=buttons)
        return []

    def question(self, tracker: Tracker) -> tuple[str, list[dict[str, str]]]:
        """This turn's question for the value, after what went wrong with the last answer."""
        name = test_name(self.analyte)
        new_issues = list(set_this_turn(tracker, "lab_issues") or [])
        mine = [i for i in new_issues if i.get("analyte") == self.analyte]
        latest_issue = mine[-1] if mine else None
        code = latest_issue["code"] if latest_issue else None
        failures = (tracker.get_slot("lab_failures") or {}).get(self.analyte, 0)
        pending = tracker.get_slot("pending_value")
        buttons = _skip_buttons(self.analyte)

        if code == "b12_required":
            return say("lab_check.b12_required", question=ask_text("b12")), buttons
        if pending and pending.get("analyte") == self.analyte:
            units = list((latest_issue or {}).get("units") or reference_table().spec(
                self.analyte).accepted_units)
            if code == "unit_where":
                message = unit_help(self.analyte)
            elif latest_issue and latest_issue.get("message"):
                message = latest_issue["message"]
            elif code == "not_understood":
                message = say("lab_check.unit_not_understood", name=name,
                              units=", ".join(units))
            else:
                message = say("lab_check.which_unit", name=name)
            return message, [{"title": u, "payload": u} for u in units] + buttons
        if code == "needs_number":
            return say("lab_check.needs_number", name=name,
                       example=EXAMPLES[self.analyte]), buttons
        if code == "where_to_find":
            return where_to_find(self.analyte), buttons
        problem = [latest_issue["message"]] if latest_issue and latest_issue.get("message") else []
        if failures >= MAX_FAILURES:
            return "\n\n".join([*problem, _expectation(self.analyte)]), buttons
        text = ask_text(self.analyte)
        if code == "not_understood":
            text = say("lab_check.not_found", name=name, question=text)
        elif not problem:
            text = f"{step_line(tracker, self.analyte)} {text}".strip()
        return "\n\n".join([*problem, text]), buttons


def answer_lead(tracker: Tracker, asking: str) -> list[str]:
    """What this turn's answer gave, said back before the next question: "Got it: vitamin
    B12 250 pg/mL (= 184.5 pmol/L)." and any value changed in passing."""
    issues = list(set_this_turn(tracker, "lab_issues") or [])
    told = [i for i in issues if i.get("analyte") != asking and i.get("message")]
    said = {i.get("analyte") for i in told if i.get("code") == "updated"}
    got = []
    for slot in LAB_SLOTS:
        value = set_this_turn(tracker, slot)
        if value is None or slot in said:
            continue
        if slot == "condition":
            got.append(say("lab_check.progress.condition", condition=condition_name(value)))
        elif value == SKIPPED:
            got.append(say("lab_check.progress.skipped", name=test_name(slot)))
        elif isinstance(value, dict):
            got.append(f"{test_name(slot)} {_read_back(slot, value)}")
    lead = [say("lab_check.progress.got_it", items="; ".join(got))] if got else []
    return lead + [i["message"] for i in told]


def _read_back(analyte: str, stored: dict[str, Any]) -> str:
    """The value as typed, and in the reference unit when that differs."""
    from b12core.labs.report import value_with_conversion

    item = lab_input(analyte, stored)
    result = evaluate(item, reference_table()) if item is not None else None
    if not isinstance(result, LabResult):
        return f"{stored.get('value')} {stored.get('unit') or ''}".strip()
    if result.assumed_unit:  # never say back a unit the patient did not type
        return say("lab_check.progress.no_unit", value=plain_number(result.value))
    return value_with_conversion(result)


def step_line(tracker: Tracker, slot: str) -> str:
    """"Step 2 of 5: homocysteine." — where the patient is in the check."""
    order = QUICK_REQUIRED if tracker.get_slot("quick_check") else ALL_REQUIRED
    if slot not in order:
        return ""
    name = say("lab_check.progress.condition_name") if slot == "condition" else test_name(slot)
    return say("lab_check.progress.step", step=order.index(slot) + 1, total=len(order),
               name=name)


def where_to_find(analyte: str) -> str:
    """Where a test appears on a report: its names as labs print them."""
    units = ", ".join(reference_table().spec(analyte).accepted_units)
    return say(f"lab_check.where_to_find.{_b12_or_other(analyte)}", name=test_name(analyte),
               report_names=_or_names(list(REPORT_NAMES[analyte])), units=units)


def _b12_or_other(analyte: str) -> str:
    """Without B12 there is no check, so its texts offer a stop instead of a skip."""
    return "b12" if analyte == "b12" else "other"


def unit_help(analyte: str) -> str:
    units = ", ".join(reference_table().spec(analyte).accepted_units)
    return say(f"lab_check.unit_help.{_b12_or_other(analyte)}", units=units)


def _or_names(names: list[str]) -> str:
    quoted = [f'"{n}"' for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def set_this_turn(tracker: Tracker, slot: str) -> Any:
    """The value ``slot`` was given after the latest user message, else None."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return None
        if event.get("event") == "slot" and event.get("name") == slot:
            return event.get("value")
    return None


def _expectation(analyte: str) -> str:
    units = ", ".join(reference_table().spec(analyte).accepted_units)
    return say(f"lab_check.still_unreadable.{_b12_or_other(analyte)}", units=units,
               example=EXAMPLES[analyte])


def _skip_buttons(analyte: str) -> list[dict[str, str]]:
    # Never "/stop" (rasa shell's own exit command), and never a destructive choice
    # first: rasa shell selects the first entry when Enter is pressed.
    if analyte == "b12":
        return [button("where_to_find", "/inform_unsure"),
                button("stop_check", "/stop_lab_check")]
    # The second button sends its title: the form reads it as a skip of every other value.
    return [button("dont_have_it", "/skip_value"), button("dont_have_others")]


class ActionAskB12(AskLabValue):
    analyte = "b12"


class ActionAskHomocysteine(AskLabValue):
    analyte = "homocysteine"


class ActionAskMma(AskLabValue):
    analyte = "mma"


class ActionAskFolate(AskLabValue):
    analyte = "folate"


class ActionAskCondition(Action):
    def name(self) -> str:
        return "action_ask_condition"

    async def run(self, dispatcher, tracker, domain) -> list[dict[str, Any]]:
        issues = list(set_this_turn(tracker, "lab_issues") or [])
        codes = {i["code"] for i in issues if i.get("analyte") == "condition"}
        question = say("lab_check.condition_question")
        text = f"{step_line(tracker, 'condition')} {question}".strip()
        if "needs_number" in codes:
            text = say("lab_check.condition_which_one", question=question)
        elif "not_understood" in codes:
            text = say("lab_check.condition_not_understood", question=question)
        lead = answer_lead(tracker, "condition")
        dispatcher.utter_message(text="\n\n".join([*lead, text]), buttons=condition_buttons())
        return []


class ActionAskReuseChoice(Action):
    def name(self) -> str:
        return "action_ask_reuse_choice"

    async def run(self, dispatcher, tracker, domain) -> list[dict[str, Any]]:
        issues = set_this_turn(tracker, "lab_issues") or []
        text = say("lab_check.reuse_question")
        if any(i.get("analyte") == "reuse_choice" for i in issues):
            text = say("lab_check.reuse_not_understood", question=text)
        dispatcher.utter_message(text=text, buttons=reuse_buttons())
        return []


class ActionResetLabCheck(Action):
    """Start over: every lab value and the state of the check are cleared."""

    def name(self) -> str:
        return "action_reset_lab_check"

    async def run(self, dispatcher, tracker, domain) -> list[dict[str, Any]]:
        return [ActiveLoop(None), SlotSet("requested_slot", None),
                *(SlotSet(s, None) for s in (*LAB_SLOTS, *CHECK_STATE_SLOTS))]


# --- after the form ------------------------------------------------------------------

class ActionInterpretLabs(HealthAction):
    """The interpretation in three messages at most: the summary (each value against the
    reference table, the condition used, what stands out, the questions for the clinician),
    what the article says (each quote once), then the referral and the caveat. The web
    widget gets the first two as a card and a collapsed list (same words)."""

    def name(self) -> str:
        return "action_interpret_labs"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        from b12core.kb import load_kb
        from b12core.labs.questions import clinician_questions

        result = interpret(panel_from_slots(tracker))
        widget = tracker.get_latest_input_channel() in TABLE_CHANNELS
        notes = list(dict.fromkeys([*context_notes(tracker), *result.notes]))
        questions = clinician_questions(result.finding_ids)
        summary = {
            "heading": say("lab_check.results_heading"),
            "condition": say("lab_check.condition_used", condition=condition_name(
                result.condition)),
            "values": [describe_value(r) for r in result.values],
            "findings": [f.summary for f in result.findings],
            "errors": [e.message for e in result.errors],
            "notes": notes,
            "questions": questions,
        }
        messages: list[dict[str, Any]] = []
        if widget and result.values:
            # Rasa's socket.io channel emits json_message as keyword arguments of sio.emit,
            # so the payload travels under "data".
            messages.append({"json_message": {"data": {
                "type": "summary_card", **summary, "headings": _summary_headings(),
                "columns": table_columns(), "rows": table_rows(result),
                "lab_ranges": [lab_range_cell(r) for r in result.values],
                "sources": range_sources(result)}}})
        else:
            messages.append({"text": summary_text(summary)})

        referral = list(load_topics()["clinician_referral"])
        kb = load_kb()
        quotes = list(dict.fromkeys(
            format_quote(passage) for finding in result.findings for passage in
            (kb.passage(q.passage_id) for q in finding.quotes) if passage not in referral))
        if quotes:
            heading = (say("lab_check.quotes.heading_one") if len(quotes) == 1
                       else say("lab_check.quotes.heading", count=len(quotes)))
            body = "\n\n".join(quotes)
            if widget:
                messages.append({"json_message": {"data": {
                    "type": "quotes", "heading": heading, "text": body}}})
            else:
                messages.append({"text": f"{heading}\n\n{body}"})
        closing = "\n\n".join([*(format_quote(p) for p in referral), result.caveat])
        events: list[dict[str, Any]] = [
            SlotSet("lab_failures", None), SlotSet("lab_issues", None),
            SlotSet("results_shown", True), SlotSet("reuse_question", False),
            SlotSet("reuse_choice", None)]
        missing = [a for a in OPTIONAL if tracker.get_slot(a) is None]
        offer = bool(tracker.get_slot("quick_check") and missing)
        events.append(SlotSet("offered_optional_values", offer))
        if offer:
            names = ", ".join(test_name(a) for a in missing)
            messages.append({
                "text": closing + "\n\n" + say("lab_check.offer_other_values", names=names),
                "buttons": [button("add_other_values", "/affirm"), button("no_thanks", "/deny")],
            })
        else:
            messages.append({"text": closing})
        return HealthReply(tuple(messages), tuple(events))


def _summary_headings() -> dict[str, str]:
    """The card's section titles, from the catalogue (the widget writes none of its own)."""
    headings = {part: say(f"lab_check.{part}_heading")
                for part in ("findings", "errors", "notes", "questions", "sources")}
    return {**headings, "lab_range": say("lab_check.lab_range_label")}


def summary_text(summary: dict[str, Any]) -> str:
    """The summary as one text message (REST, Telegram, Slack, rasa shell)."""
    lines = [summary["heading"], summary["condition"], *(f"- {v}" for v in summary["values"])]
    for part in ("findings", "errors", "notes", "questions"):
        if summary[part]:
            lines += ["", say(f"lab_check.{part}_heading"), *(f"- {x}" for x in summary[part])]
    return "\n".join(lines)


def condition_name(condition: str) -> str:
    """The condition as the patient chose it ("NAFLD / MASLD (fatty liver)")."""
    known = f"result_help.condition_names.{condition}" in texts()
    return say(f"result_help.condition_names.{condition}") if known else condition


class ActionAddOptionalValues(Action):
    """After a quick check: the full form, asking only for what is still missing."""

    def name(self) -> str:
        return "action_add_optional_values"

    async def run(self, dispatcher, tracker, domain) -> list[dict[str, Any]]:
        return [SlotSet("quick_check", False), SlotSet("offered_optional_values", False)]


class ActionStopLabCheck(Action):
    def name(self) -> str:
        return "action_stop_lab_check"

    async def run(self, dispatcher, tracker, domain) -> list[dict[str, Any]]:
        return [ActiveLoop(None), SlotSet("requested_slot", None),
                SlotSet("pending_value", None), SlotSet("lab_failures", None)]
