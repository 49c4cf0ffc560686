"""Red-flag symptoms are caught deterministically, and ordinary lab talk is not."""

from __future__ import annotations

import pytest

from actions.safety.red_flags import detect_red_flags, load_red_flags, read_red_flags


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("i've been throwing up blood since last night", "vomiting_blood"),
        ("I vomited blood this morning", "vomiting_blood"),
        ("there was blood when i was sick", "vomiting_blood"),
        ("my vomit looks like coffee grounds", "vomiting_blood"),
        ("my poo is black and tarry", "black_or_bloody_stool"),
        ("blood in my stool today", "black_or_bloody_stool"),
        ("my eyes have gone yellow", "yellow_skin_or_eyes"),
        ("i think i'm jaundiced", "jaundice"),
        ("my skin is turning yellowish", "yellow_skin_or_eyes"),
        ("my dad with cirrhosis is very confused and sleepy", "confusion"),
        ("she can't think straight and is disorientated", "confusion"),
        ("severe pain in my stomach", "severe_abdominal_pain"),
        ("terrible tummy pain that won't stop", "severe_abdominal_pain"),
        ("my belly is really swollen and tight", "abdominal_swelling"),
        ("i fainted at work", "fainting"),
        ("he passed out in the kitchen", "fainting"),
        ("i have chest pain", "chest_pain"),
        ("I can't breathe properly", "breathing"),
        ("i want to kill myself", "self_harm"),
        ("sometimes i think about ending my life", "self_harm"),
        ("My B12 is 300 and I've been throwing up blood", "vomiting_blood"),
    ],
)
def test_red_flags_are_detected(text, flag):
    assert flag in [m.flag_id for m in detect_red_flags(text)]


@pytest.mark.parametrize(
    "text",
    [
        "b12 480 pmol/L",
        "my blood test came back high",
        "I vomited yesterday, blood test on monday",
        "i'm confused about my results",
        "what is the mma test",
        "My B12 is 1100 pg/mL and I have NASH",
        "can b12 reverse fibrosis",
        "is high b12 dangerous for the liver",
        "my blood levels of folate were low",
        "",
    ],
)
def test_ordinary_messages_raise_no_flag(text):
    assert detect_red_flags(text) == ()


def test_self_harm_is_marked_for_its_own_message():
    (match,) = detect_red_flags("i want to end my life")
    assert match.self_harm
    rules = load_red_flags()
    assert "crisis" in rules.self_harm_message
    assert "emergency" in rules.urgent_message


def test_non_text_input_is_safe():
    assert detect_red_flags(None) == ()
    assert detect_red_flags(b"\xff") == ()


def test_malformed_table_fails_naming_the_row(tmp_path):
    path = tmp_path / "red_flags.yml"
    path.write_text(
        "urgent_message: go\nself_harm_message: help\nflags:\n"
        "  - id: ok\n    label: ok\n    all_of: [[chest pain]]\n"
        "  - id: broken\n    label: broken\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="flag #2"):
        read_red_flags(path)


def test_an_ignore_phrase_may_not_disable_a_flag(tmp_path):
    path = tmp_path / "red_flags.yml"
    path.write_text(
        "urgent_message: go\nself_harm_message: help\nignore_phrases: [chest pain]\n"
        "flags:\n  - id: chest\n    label: chest\n    all_of: [[chest pain]]\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="disable"):
        read_red_flags(path)


def test_indexed_phrase_search_finds_exactly_what_a_full_scan_finds():
    # detect_red_flags looks phrases up by their first word; a full scan of every
    # position must give the same positions for every phrase and message.
    from pathlib import Path

    import yaml

    from actions.safety import red_flags as rf
    from actions.spacy_model import load_pipeline

    nlp = load_pipeline(with_sentences=False)
    rules = load_red_flags()
    heldout = Path(__file__).resolve().parents[1] / "data" / "nlu_heldout.yml"
    texts = [m["text"] for m in yaml.safe_load(heldout.read_text(encoding="utf-8"))["messages"]]
    texts += ["blood blood vomit blood", "sick sick sick with blood in vomit", "a"]
    phrases = {p for flag in rules.flags for group in flag.all_of for p in group}
    compared = 0
    for text in texts:
        for sequence in rf._tokens(text, nlp):
            index = rf._index(sequence)
            for phrase in phrases:
                assert rf._positions(sequence, phrase, index) == rf._positions(sequence, phrase)
                compared += 1
    assert compared > 10_000
