"""knowledge/replies.yml: short replies read the same way everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from b12core.replies import REPLY_INTENTS, RepliesError, load_replies, normalise, reply_intent

DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text())


def test_every_reply_intent_is_in_the_domain():
    assert set(REPLY_INTENTS) <= set(DOMAIN["intents"])


@pytest.mark.parametrize("text,intent", [
    ("no", "deny"), ("Nope.", "deny"), ("nah 👍", "deny"), ("N", "deny"),
    ("yes", "affirm"), ("Yeah!", "affirm"), ("y", "affirm"),
    ("not sure", "inform_unsure"), ("um, not sure thanks", "inform_unsure"),
    ("idk", "inform_unsure"), ("no idea", "inform_unsure"),
    ("I don’t have it", "skip_value"), ("none", "skip_value"),
    ("I don't have the others", "skip_value"),
    ("start over", "request_start_over"), ("New results", "request_start_over"),
    ("stop", "stop_lab_check"), ("cancel", "stop_lab_check"),
])
def test_short_replies(text, intent):
    assert reply_intent(text) == intent


@pytest.mark.parametrize("text", [
    "no bleeding, I only want to understand my b12", "350 pg/mL", "b12 is 300", "ok",
    "why is my b12 high", "", "   ", "/deny", "I have NASH",
    "not sure what my b12 result means for my liver and whether I should worry about it",
])
def test_anything_else_is_left_to_the_intent_model(text):
    assert reply_intent(text) is None


def test_normalise():
    assert normalise("  I’M  not SURE!! 🤷 ") == "i'm not sure"


def test_a_phrasing_under_two_intents_fails_on_load(tmp_path):
    path = tmp_path / "replies.yml"
    path.write_text("fillers: {leading: [um], trailing: [thanks]}\n"
                    "intents: {deny: ['no'], affirm: ['no']}\n")
    with pytest.raises(RepliesError, match="'no' is under deny and affirm"):
        load_replies(path)


def test_an_unknown_intent_fails_on_load(tmp_path):
    path = tmp_path / "replies.yml"
    path.write_text("fillers: {leading: [um], trailing: [thanks]}\nintents: {maybe: [perhaps]}\n")
    with pytest.raises(RepliesError, match="unknown intent 'maybe'"):
        load_replies(path)
