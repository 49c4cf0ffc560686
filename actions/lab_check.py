"""The lab check: slot extraction with the one lab parser, the form, the interpretation.

Every user message goes through ``action_extract_lab_values`` (custom slot
mappings), so values and the condition are kept whenever they are given. The
form asks for what is missing; ``action_interpret_labs`` calls ``actions.labs``.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.health import HealthAction, HealthReply
from actions.kb.quotes import format_quote
from actions.kb.topics import load_topics
from actions.labs import ANALYTES, LabError, LabInput, LabPanel, LabResult, interpret, parse
from actions.labs.interpret import evaluate
from actions.labs.parser import parse_unit
from actions.labs.reference import reference_table
from actions.labs.report import TABLE_COLUMNS, describe_value, table_rows

logger = logging.getLogger(__name__)

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
                  "none of them", "the other", "any others", "anything else")
UNSURE_WORDS = ("not sure", "unsure", "don't know", "dont know", "do not know", "no idea",
                "not certain", "no clue", "can't remember", "cant remember")
# Intents whose message may carry lab values or the condition. Questions are not read
# ("why is b12 high in cirrhosis" does not say the user has cirrhosis).
LAB_INTENTS = ("inform_lab_values", "inform_condition", "request_lab_check", "skip_value")
NOT_ANSWERS = ("report_red_flag", "stop", "out_of_scope", "bot_challenge", "greet", "goodbye",
               "thank", "ask_personal_advice")
NAMES = {"b12": "vitamin B12", "homocysteine": "homocysteine", "mma": "MMA (methylmalonic acid)",
         "folate": "folate"}


ASK_TEXT = {
    "b12": 'What was your vitamin B12 result? Please type the number and its unit as printed '
           'on your report, for example "350 pg/mL" or "260 pmol/L".',
    "homocysteine": 'Do you have a homocysteine result? Type the number and its unit, for '
                    'example "12 µmol/L", or tell me you don\'t have it.',
    "mma": 'Do you have an MMA (methylmalonic acid) result? Type the number and its unit, for '
           'example "0.25 µmol/L", or tell me you don\'t have it.',
    "folate": 'Do you have a folate result? Type the number and its unit, for example '
              '"15 nmol/L" or "7 ng/mL", or tell me you don\'t have it.',
}
CONDITION_QUESTION = "Which liver condition have you been told you have?"
CONDITION_BUTTONS = (
    {"title": "NAFLD / MASLD (fatty liver)", "payload": "NAFLD"},
    {"title": "NASH / MASH", "payload": "NASH"},
    {"title": "Cirrhosis", "payload": "cirrhosis"},
    {"title": "None", "payload": "no liver disease"},
    {"title": "Not sure", "payload": "not sure"},
)


# --- slot values -------------------------------------------------------------------

def slot_value(item: LabInput) -> dict[str, Any]:
    """A value as stored in its slot: exact decimal text, unit as given (None if none)."""
    return {"value": str(item.value), "unit": item.unit, "comparator": item.comparator}


def lab_input(analyte: str, stored: Any) -> LabInput | None:
    """Back from a slot to the engine's input; None for skipped or malformed slots."""
    if not isinstance(stored, dict):
        return None
    try:
        value = Decimal(str(stored["value"]))
    except (KeyError, InvalidOperation):
        return None
    return LabInput(analyte, value, stored.get("unit"), stored.get("comparator"))


def panel_from_slots(tracker: Tracker) -> LabPanel:
    inputs = [lab_input(a, tracker.get_slot(a)) for a in ANALYTES]
    condition = tracker.get_slot("condition") or "unknown"
    return LabPanel(values=tuple(i for i in inputs if i is not None), condition=condition)


def issue(error: LabError) -> dict[str, Any]:
    return {"analyte": error.analyte, "code": error.code, "message": error.message,
            "units": list(error.units)}


def _intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    lowered = " " + text.lower().replace("’", "'") + " "
    return any(w in lowered for w in words)


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
        if intent == "report_red_flag" or not text.strip() or text.startswith("/"):
            return []
        form_active = tracker.active_loop.get("name") == FORM
        requested = tracker.get_slot("requested_slot") if form_active else None
        if not reads_lab_values(intent, form_active):
            return []
        try:
            return self._extract(tracker, text, intent, form_active, requested)
        except Exception as exc:  # a parser bug must not take the conversation down
            # The type only: a parser message could quote the user's value.
            logger.error("lab value extraction failed: %s", type(exc).__name__)
            return []

    def _extract(self, tracker, text, intent, form_active, requested) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        issues: list[dict[str, Any]] = []
        table = reference_table()

        pending = tracker.get_slot("pending_value")
        digits = any(ch.isdigit() for ch in text)
        if pending and not digits and (unit := parse_unit(text)):
            item = lab_input(pending["analyte"], pending)
            outcome = evaluate(replace(item, unit=unit), table) if item else None
            if isinstance(outcome, LabResult):
                return [SlotSet(item.analyte, slot_value(replace(item, unit=unit))),
                        SlotSet("pending_value", None), SlotSet("lab_issues", None)]
            if isinstance(outcome, LabError):
                return [SlotSet("lab_issues", [issue(outcome)])]

        if form_active and intent == "skip_value" and requested in ANALYTES:
            return self._skip(tracker, text, requested)

        expected = requested if requested in ANALYTES and digits else None
        panel = parse(text, expected_analyte=expected)
        found_b12 = False
        for item in panel.values:
            outcome = evaluate(item, table)
            if isinstance(outcome, LabResult):
                events.append(SlotSet(item.analyte, slot_value(item)))
                found_b12 = found_b12 or item.analyte == "b12"
                if pending and pending.get("analyte") == item.analyte:
                    events.append(SlotSet("pending_value", None))
            else:
                issues.append(issue(outcome))
                if outcome.code == "unit_needed":
                    events.append(SlotSet("pending_value", {"analyte": item.analyte,
                                                            **slot_value(item)}))
        if panel.condition != "unknown":
            events.append(SlotSet("condition", panel.condition))
        elif requested == "condition" and (
            intent in ("inform_condition", "skip_value", "deny") or _mentions(text, UNSURE_WORDS)
        ):
            # "not sure" answers the question: the condition is known to be unknown.
            events.append(SlotSet("condition", "unknown"))
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
        return list(QUICK_REQUIRED if tracker.get_slot("quick_check") else ALL_REQUIRED)

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

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        events = await super().run(dispatcher, tracker, domain)
        requested = tracker.get_slot("requested_slot")
        issues = set_this_turn(tracker, "lab_issues") or []
        failed = [i for i in issues if i.get("analyte") == requested and i["code"] != "unit_needed"]
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
        """One of actions.labs.ANALYTES."""

    def name(self) -> str:
        return f"action_ask_{self.analyte}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        name = NAMES[self.analyte]
        new_issues = list(set_this_turn(tracker, "lab_issues") or [])
        mine = [i for i in new_issues if i.get("analyte") == self.analyte]
        latest_issue = mine[-1] if mine else None
        # Problems with another value given in passing are explained too.
        for other in new_issues:
            if other.get("analyte") != self.analyte and other.get("message"):
                dispatcher.utter_message(text=other["message"])
        failures = (tracker.get_slot("lab_failures") or {}).get(self.analyte, 0)
        pending = tracker.get_slot("pending_value")

        if latest_issue and latest_issue["code"] == "b12_required":
            dispatcher.utter_message(
                text="A B12 result is needed for this check. If you don't have one, you can "
                "stop the check and ask me questions instead.",
                buttons=[{"title": "Stop the check", "payload": "/stop"}],
            )
            return []
        if pending and pending.get("analyte") == self.analyte:
            units = (latest_issue or {}).get("units") or []
            message = latest_issue["message"] if latest_issue else (
                f"Which unit is your {name} result in?")
            dispatcher.utter_message(
                text=message, buttons=[{"title": u, "payload": u} for u in units]
            )
            return []
        if latest_issue:
            dispatcher.utter_message(text=latest_issue["message"])
        if failures >= MAX_FAILURES:
            dispatcher.utter_message(
                text=_expectation(self.analyte),
                buttons=_skip_buttons(self.analyte),
            )
            return []
        dispatcher.utter_message(text=ASK_TEXT[self.analyte], buttons=_skip_buttons(self.analyte))
        return []


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
    example = {"b12": "350 pg/mL", "homocysteine": "12 µmol/L", "mma": "0.25 µmol/L",
               "folate": "15 nmol/L"}[analyte]
    text = (f"I still couldn't read that. I need the number from your report and, if you "
            f"have it, its unit ({units}), for example \"{example}\".")
    if analyte == "b12":
        return text + " If you'd rather not, you can stop the check."
    return text + " You can also skip this test."


def _skip_buttons(analyte: str) -> list[dict[str, str]]:
    if analyte == "b12":
        return [{"title": "Stop the check", "payload": "/stop"}]
    return [
        {"title": "I don't have it", "payload": "/skip_value"},
        {"title": "I don't have the others", "payload": "I don't have the others"},
    ]


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
        dispatcher.utter_message(text=CONDITION_QUESTION, buttons=list(CONDITION_BUTTONS))
        return []


# --- after the form ------------------------------------------------------------------

class ActionInterpretLabs(HealthAction):
    """Each value against the reference table, each finding with its quotes, a referral."""

    def name(self) -> str:
        return "action_interpret_labs"

    async def respond(self, tracker: Tracker, domain: dict[str, Any]) -> HealthReply:
        from actions.kb import load_kb
        from actions.labs.questions import clinician_questions

        result = interpret(panel_from_slots(tracker))
        messages: list[dict[str, Any]] = []
        if result.values and tracker.get_latest_input_channel() in TABLE_CHANNELS:
            # The web widget draws this as a table; the text lines below say the same.
            # Rasa's socket.io channel emits json_message as keyword arguments of
            # sio.emit, so the payload travels under "data".
            messages.append({"json_message": {"data": {
                "type": "lab_table", "caption": "Your results against general reference ranges",
                "columns": list(TABLE_COLUMNS), "rows": table_rows(result)}}})
        if result.values:
            lines = [f"- {describe_value(r)}" for r in result.values]
            messages.append({"text": "Your results against general reference ranges:\n"
                             + "\n".join(lines)})
        if result.errors:
            messages.append({"text": "I could not use:\n"
                             + "\n".join(f"- {e.message}" for e in result.errors)})
        for finding in result.findings:
            messages.append({"text": finding.summary})
            kb = load_kb()
            messages.extend({"text": format_quote(kb.passage(q.passage_id))}
                            for q in finding.quotes)
        questions = clinician_questions(result.finding_ids)
        if questions:
            messages.append({"text": "Questions you could take to your clinician:\n"
                             + "\n".join(f"- {q}" for q in questions)})
        messages.extend({"text": format_quote(p)} for p in load_topics()["clinician_referral"])
        messages.append({"text": result.caveat})
        events: list[dict[str, Any]] = [SlotSet("lab_failures", None), SlotSet("lab_issues", None)]
        missing = [a for a in OPTIONAL if tracker.get_slot(a) is None]
        offer = bool(tracker.get_slot("quick_check") and missing)
        events.append(SlotSet("offered_optional_values", offer))
        if offer:
            names = ", ".join(NAMES[a] for a in missing)
            messages.append({
                "text": f"Would you like to add your other results ({names})?",
                "buttons": [{"title": "Yes, add them", "payload": "/affirm"},
                            {"title": "No, thanks", "payload": "/deny"}],
            })
        return HealthReply(tuple(messages), tuple(events))


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
