"""Red-flag triage: emergencies caught in any wording, context weighed, the table checked."""

from __future__ import annotations

import pytest
import yaml

from b12core.safety import CRISIS, NONE, SAFETY_NET, URGENT, load_triage_table, triage
from b12core.safety.triage import (
    ENV_CRISIS_LINE,
    ENV_EMERGENCY,
    TRIAGE_PATH,
    TriageTableError,
    _correction,
    _triage,
    read_triage_table,
)
from tests.b12core.safety.redflag_sets import ordinary_messages, red_flag_examples

ISSUE_CLASSES = {"gi_bleeding", "jaundice", "encephalopathy", "abdomen", "fever_cirrhosis",
                 "neuro", "chest_breathing", "fainting", "self_harm", "overdose"}


# --- the table -------------------------------------------------------------------------

def test_every_class_the_issue_names_is_in_the_table_with_its_sources():
    table = load_triage_table()
    assert set(table.classes) == ISSUE_CLASSES
    for klass in table.classes.values():
        assert klass.sources and all(table.sources[s] for s in klass.sources)
    assert {f.class_id for f in table.flags} == ISSUE_CLASSES  # every class can match
    assert table.classes["self_harm"].reply == CRISIS


def _broken(tmp_path, change) -> str:
    data = yaml.safe_load(TRIAGE_PATH.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "triage.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(TriageTableError) as error:
        read_triage_table(path)
    return str(error.value)


def test_a_malformed_table_fails_at_load_naming_the_entry(tmp_path):
    def unknown_concept(d):
        d["flags"][0]["all_of"] = [["@nothing_like_this"]]

    def unknown_class(d):
        d["flags"][0]["class"] = "sore_toe"

    def unsourced(d):
        d["classes"]["neuro"]["sources"] = ["a_blog"]

    def bare_no(d):  # YAML reads an unquoted no as false
        d["negation"] = [False, "not"]

    def silencing_ignore(d):
        d["ignore_phrases"] = ["chest pains"]  # a phrase of the chest_direct flag

    def no_number(d):
        d["messages"]["urgent"] = "Please get help."

    assert "@nothing_like_this" in _broken(tmp_path, unknown_concept)
    assert "sore_toe" in _broken(tmp_path, unknown_class)
    assert "classes.neuro" in _broken(tmp_path, unsourced)
    assert "quote it" in _broken(tmp_path, bare_no)
    assert "would disable" in _broken(tmp_path, silencing_ignore)
    assert "{emergency}" in _broken(tmp_path, no_number)


def test_the_numbers_are_configurable_per_deployment():
    table = load_triage_table()
    default = table.messages({})
    assert "999 in the UK, 911 in the US, 112 in the EU" in default.urgent
    assert "116 123" in default.crisis and "988" in default.crisis
    local = table.messages({ENV_EMERGENCY: "112",
                            ENV_CRISIS_LINE: "TelefonSeelsorge on 0800 111 0 111"})
    assert "Please call 112 or go to the nearest emergency department" in local.urgent
    assert "TelefonSeelsorge on 0800 111 0 111" in local.crisis and "112" in local.crisis
    assert "call 112" in local.safety_net
    for bad in ("", "999\nclick http://x", "{emergency}", "9" * 500):
        with pytest.raises(TriageTableError):
            table.messages({ENV_EMERGENCY: bad})


# --- reading -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("word", "reading"),
    [
        ("fevr", ("fever",)),            # a letter missing
        ("cirrhossis", ("cirrhosis",)),  # a letter doubled
        ("hematemsis", ("hematemesis",)),
        ("slurrred", ("slurred",)),
        ("vomitting", ("vomitting",)),   # listed as typed
        ("unconcious", ("unconscious",)),
        ("eys", ("eyes",)),              # three letters: only a dropped letter
        ("tummypain", ("tummy", "pain")),  # run together
        ("swallowedall", ("swallowed", "all")),
        ("fiver", ("fiver",)),           # an English word is never bent into a symptom
        ("yes", ("yes",)),
        ("homocysteine", ("homocysteine",)),
        ("nafld", ("nafld",)),
    ],
)
def test_spelling_is_corrected_towards_the_table_only(word, reading):
    assert _correction(word, load_triage_table()) == reading


# --- context ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "level"),
    [
        # present, of the user or of someone with them
        ("i vomited blood this morning", URGENT),
        ("my wife keeps nodding off and doesnt know what day it is", URGENT),
        ("b12 is 150 and I keep tripping over my own feet", URGENT),
        ("is it normal that my husband's eyes are yellow and he's hot?", URGENT),
        # negated, including pseudo-negations that do not deny
        ("no bleeding or anything, I only want to understand my B12", NONE),
        ("no fever, no pain, just curious what mma means", NONE),
        ("i havent stopped vomiting blood since last night", URGENT),
        ("not sure if it matters but my poo is black and sticky", URGENT),
        ("i dont know why, i just fainted", URGENT),
        # history and resolved episodes
        ("I was yellow as a newborn", NONE),
        ("had a fall on the ice last winter, fine now", NONE),
        ("my grandmother had a stroke years ago, does that affect my homocysteine", NONE),
        ("years ago i had cirrhosis diagnosed and now im vomiting blood", URGENT),
        ("i fainted years ago but today i fainted again", URGENT),
        # a question about a symptom in general: answered, with the safety net
        ("is homocysteine linked to strokes?", SAFETY_NET),
        ("why do liver patients turn yellow?", SAFETY_NET),
        ("what should i do if i ever get a fever with cirrhosis", SAFETY_NET),
        ("can you overdose on b12", NONE),  # a vitamin, not an overdose emergency
        ("does bismuth turn your poo dark?", NONE),
        ("these numbers confuse me", NONE),
        ("i'm really confused about what's right for me", NONE),
        # mild
        ("i feel a bit out of breath on the stairs sometimes", SAFETY_NET),
        # self-harm is never downgraded, and never read as an overdose question
        ("can low folate make you want to kill yourself", NONE),
        ("sometimes i think about ending my life", CRISIS),
        ("is it normal to feel like ending it all?", CRISIS),
        ("i'm not suicidal, just tired of the tests", NONE),
        ("my husband took too many painkillers on purpose", CRISIS),
        ("accidentally took double my sleeping pills", URGENT),
        ("i take 1000 mcg of b12 every day", NONE),
        ("i took all my tablets this morning as usual", NONE),
    ],
)
def test_context_decides_the_level(text, level):
    assert triage(text).level == level, triage(text)


@pytest.mark.parametrize(
    "text",
    [
        "there is blood in my sick", "blak tarry poo", "im vomitting bloood",
        "my vom has dark bits like coffee in it", "my skin has turned yellow and i feel hot",
        "my dad is yellow and confused", "he keeps falling asleep and makes no sense when he talks",
        "my tummy is swollen and i have a high temperature", "cirrhosis and high fever",
        "i have liver cirrhosis and chills", "my face has dropped on one side",
        "her speech is slurred and she cant lift her arm", "he is having a fit",
        "the numbness in my feet is spreading up my legs fast", "severe chest pian",
        "i cant breath", "my mum collapsed", "he passed out and wont wake up",
        "my speach is slured", "i think im having a stroke", "I overdosed",
        "i took 16 paracetamol", "my daughter took an overdose",
        "i have been saving up my pills to take them all at once",
        "everyone would be better off if i was dead", "i dont want to live anymore",
    ],
)
def test_emergencies_in_everyday_wording_and_misspelt_are_caught(text):
    assert triage(text).urgent, triage(text)


def test_every_red_flag_example_of_the_nlu_data_is_caught_by_the_table():
    """The intent model's report_red_flag examples are regression cases of the table."""
    examples = red_flag_examples()
    assert len(examples) >= 60
    missed = [t for t in examples if not triage(t).urgent]
    assert missed == []


def test_ordinary_messages_of_every_other_test_set_raise_no_alarm():
    """NLU examples of every other intent, held-out messages, KB questions, lab messages
    and conversation replies: none gets the urgent or crisis reply."""
    texts = ordinary_messages()
    assert len(texts) > 1400
    alarmed = [t for t in texts if triage(t).urgent]
    # Ambiguous on purpose: said to stop the lab check, but also how passive suicidal
    # thoughts are put; the crisis reply (which stops the check too) is the safe reading.
    assert alarmed == ["i dont want to do this anymore"]
    assert triage("i dont want to do this anymore").level == CRISIS


def test_the_learned_detector_speaks_only_where_the_table_found_nothing():
    # Wording the table does not know: the learned detector flags it.
    unknown = triage("my nan has gone the colour of a daffodil and wont eat, burning up")
    assert unknown.urgent and unknown.findings[0].flag_id == "learned"
    # The table's context wins: a negated or general mention is never overruled.
    assert triage("no vomiting blood, just asking about folate").level == NONE
    assert triage("is vomiting blood a sign of cirrhosis?").level == SAFETY_NET
    assert all(f.flag_id != "learned" for f in triage("i vomited blood").findings)


def test_the_learned_model_was_built_from_the_current_tuning_data():
    """Rebuild with scripts/build_triage_model.py when a tuning set changes."""
    import sys

    from b12core.safety.learned import load_model
    from tests.conftest import PROJECT_ROOT

    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    from build_triage_model import digest, training_data

    assert load_model().trained_on["digest"] == digest(*training_data())


def test_the_learned_reader_matches_scikit_learn():
    """The pure-Python reader gives scikit-learn's probabilities (weights rounded to 1e-6)."""
    import sys

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from b12core.safety.learned import CLASSES, char_ngrams, load_model
    from tests.conftest import PROJECT_ROOT

    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    from build_triage_model import MIN_DF, C, training_data

    texts, labels = training_data()
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=MIN_DF,
                                 sublinear_tf=True, lowercase=False)
    matrix = vectorizer.fit_transform(texts)
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=5000).fit(matrix, labels)
    analyser = vectorizer.build_analyzer()
    ours = load_model()
    for text in texts[::25]:
        assert analyser(text) == char_ngrams(text)
        theirs = dict(zip(model.classes_, model.predict_proba(vectorizer.transform([text]))[0],
                          strict=True))
        mine = ours.probabilities(text)
        assert all(abs(theirs[c] - mine[c]) < 1e-4 for c in CLASSES), text


def test_the_verdict_is_deterministic_and_the_cache_changes_nothing():
    table = load_triage_table()
    for text in ("my dad is yellow and confused", "no fever", "is jaundice serious?"):
        assert triage(text) == _triage(text, table) == _triage(text, table)


@pytest.mark.parametrize(
    "text",
    ["", "   ", None, 42, "x " * 2000, "a" * 5000, "blood vomit " * 400, "no " * 1500,
     "\u0000\u200b", "🤢🩸"],
)
def test_any_input_gets_a_verdict(text):
    assert triage(text).level in (NONE, URGENT, CRISIS, SAFETY_NET)


def test_lab_messages_as_patients_paste_them_get_no_urgent_reply():
    """Over every lab message of the reading sets (over 1,000): a lab report, a dose or a
    history is not an emergency ("b12 was around 160 i think" once got the crisis reply
    from the learned detector, whose urgent and crisis shares were split below one half)."""
    from tests.b12core.labs.reading_eval import SETS, load_cases

    texts = [case["text"] for name in SETS for half in ("tune", "test")
             for case in load_cases(half, name)]
    assert len(texts) >= 900
    alarmed = sum(triage(t).level != "none" for t in texts)  # a count: held-out texts stay unseen
    assert alarmed == 0, f"{alarmed} lab messages got an urgent or crisis reply"
