"""Small Tracker builders for action tests (as rasa_sdk's own tests do)."""

from __future__ import annotations

from rasa_sdk import Tracker

from b12core.disclaimer import full_disclaimer

SLOTS = {
    "b12": None,
    "homocysteine": None,
    "mma": None,
    "folate": None,
    "condition": None,
    "lab_issues": None,
    "pending_value": None,
    "lab_failures": None,
    "quick_check": None,
    "offered_optional_values": None,
    "reuse_question": None,
    "reuse_choice": None,
    "results_shown": None,
    "requested_slot": None,
}


def make_tracker(
    text: str = "",
    intent: str | None = None,
    slots: dict | None = None,
    form: str | None = None,
    requested: str | None = None,
    events: list | None = None,
) -> Tracker:
    all_slots = {**SLOTS, **(slots or {})}
    if requested is not None:
        all_slots["requested_slot"] = requested
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9} if intent else {}}
    return Tracker(
        sender_id="test-user",
        slots=all_slots,
        latest_message=latest,
        # A conversation opens with the full disclaimer (action_session_start).
        events=events or [
            {"event": "bot", "text": full_disclaimer()},
            {"event": "user", "text": text, "parse_data": latest},
        ],
        paused=False,
        followup_action=None,
        active_loop={"name": form} if form else {},
        latest_action_name="action_listen",
    )


def slot_events(events: list[dict]) -> dict:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}
