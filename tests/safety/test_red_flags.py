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


def _reference_detect(text, rules, nlp):
    """The first, plain version of detect_red_flags: every phrase tried at every position."""
    from actions.safety import red_flags as rf

    def lemmas_of(t):
        doc = nlp.make_doc(t.lower().replace("’", "'"))
        doc = nlp.get_pipe("lemmatizer")(doc) if "lemmatizer" in nlp.pipe_names else doc
        return tuple(tok.lemma_ or tok.text for tok in doc if not tok.is_space)

    lowered = text[: rf.MAX_TEXT_CHARS]
    doc = nlp.make_doc(lowered.lower().replace("’", "'"))
    words = rf._blank(tuple(tok.text for tok in doc if not tok.is_space), rules.ignore_phrases)
    lemmas = rf._blank(lemmas_of(lowered), rules.ignore_phrases)
    found = []
    for flag in rules.flags:
        positions = [sorted({i for p in group
                             for i in rf._positions(lemmas, p) + rf._positions(words, p)})
                     for group in flag.all_of]
        if all(positions) and rf._within(positions, rules.window):
            found.append(flag.flag_id)
    return found


def test_one_pass_search_finds_exactly_what_trying_every_phrase_everywhere_finds(
        heldout_messages):
    from actions.spacy_model import load_pipeline

    nlp = load_pipeline(with_sentences=False)
    rules = load_red_flags()
    texts = [m["text"] for m in heldout_messages]
    fillers = ["", "and then", "my doctor said that the results were odd and", "x " * 12]
    for flag in rules.flags:  # every flag built from its phrases, near and far apart
        for filler in fillers:
            for k in range(3):
                parts = [" ".join(group[k % len(group)]) for group in flag.all_of]
                texts.append(f" {filler} ".join(parts))
    positives = 0
    for text in texts:
        expected = _reference_detect(text, rules, nlp)
        assert [m.flag_id for m in detect_red_flags(text, rules, nlp)] == expected, text
        positives += bool(expected)
    assert len(texts) > 300 and positives > 100
