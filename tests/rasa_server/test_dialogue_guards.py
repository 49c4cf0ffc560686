"""The dialogue guards' decisions on real Rasa trackers (the e2e tests trip the breaker)."""

from __future__ import annotations

from rasa.shared.core.events import ActionExecuted, ActiveLoop, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_server import dialogue_guards
from rasa_server.dialogue_guards import (
    first_action_of_turn,
    is_red_flag_turn,
    red_flag_answered,
    repeats_last_action,
)


def tracker(*events) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("guard-test", [ActionExecuted("action_listen"),
                                                           *events])


def user(intent: str) -> UserUttered:
    return UserUttered("text", intent={"name": intent, "confidence": 1.0})


def test_a_red_flag_decides_the_first_action_of_its_turn_only():
    assert is_red_flag_turn(tracker(user("report_red_flag")))
    assert is_red_flag_turn(tracker(ActiveLoop("lab_form"), user("report_red_flag")))
    answered = tracker(user("report_red_flag"), ActionExecuted("action_handle_red_flag"))
    assert not is_red_flag_turn(answered)
    assert red_flag_answered(answered)
    assert not is_red_flag_turn(tracker(user("inform_lab_values")))


def test_first_action_of_turn():
    assert first_action_of_turn(tracker(user("greet")))
    assert not first_action_of_turn(tracker(user("greet"), ActionExecuted("utter_greet")))


def test_an_action_right_after_itself_in_one_turn_is_a_repeat():
    answered = tracker(user("affirm"), ActionExecuted("action_answer_question"))
    assert repeats_last_action(answered, "action_answer_question")
    assert not repeats_last_action(answered, "lab_form")
    assert not repeats_last_action(answered, "action_listen")
    # The same action as the previous turn's last one is not a repeat.
    new_turn = tracker(ActionExecuted("utter_greet"), ActionExecuted("action_listen"),
                       user("greet"))
    assert not repeats_last_action(new_turn, "utter_greet")


def test_install_is_idempotent():
    from rasa.core.processor import MessageProcessor

    dialogue_guards.install()
    wrapped = MessageProcessor._run_prediction_loop
    dialogue_guards.install()
    assert MessageProcessor._run_prediction_loop is wrapped
