"""Answers only from a passage that says what was asked, shown whole; "not covered" else.

The question sets were written by helper sessions that saw only the article
(tests/data/kb_questions_v2.yml to _v9.yml), each split into tune and test halves before
use. First contact with each untouched test half, measured once before it was used:
v2 and v3 (index tuned on their tune halves): answerable 45/65, not covered 33/45; v4
(tuned on v2, v3 and v4's tune half): answerable 19/30, not covered 15/20; v5 (tuned on
everything before and v5's tune half): answerable 23/30, not covered 18/20; v6 (tuned on
everything before and v6's tune half): answerable 25/30, not covered 17/20; v7 (likewise):
answerable 26/30, not covered 20/20; v8 (likewise): answerable 27/30, not covered 19/20; v9
(likewise): answerable 25/30, not covered 18/20. The word-similarity search this replaced got
8/30 and 13/20 on v4's test half. v9's test half is the held-out check, guarded at its first
contact and never tuned on. Assertions print counts only.
"""

from __future__ import annotations

import pytest
import yaml

from b12core.kb import load_kb
from b12core.kb.answer import read_index
from b12core.kb.topics import load_topics
from tests.b12core.kb.answer_eval import SETS, load_cases, score

TUNING = [("v2", "tune"), ("v2", "test"), ("v3", "tune"), ("v3", "test"), ("v4", "tune"),
          ("v4", "test"), ("v5", "tune"), ("v5", "test"), ("v6", "tune"), ("v6", "test"),
          ("v7", "tune"), ("v7", "test"), ("v8", "tune"), ("v8", "test"), ("v9", "tune")]
HELD_OUT = ("v9", "test")
HELD_OUT_FIRST_CONTACT = {"covered": 25, "not_covered": 18}
# Left unsolved, named so a regression elsewhere still fails: a pharmacist's "1000 mcg
# cyanocobalamin off the shelf without a prescriber" (the B12 forms are outside: the article
# never compares them, and the question names one).
KNOWN_MISSES = {("v8", "tune"): 1}


@pytest.fixture(scope="module")
def links(project_root):
    return yaml.safe_load((project_root / "knowledge" / "passage_links.yml").read_text("utf-8"))


@pytest.mark.parametrize(("name", "half"), TUNING)
def test_tuning_halves_are_answered_right(kb, name, half, report_figure):
    figures = score(kb, half, name)
    (c_right, c_total), (n_right, n_total) = figures["covered"], figures["not_covered"]
    report_figure(f"KB answers {name} {half}: answerable with a gold passage first "
                  f"{c_right}/{c_total}; not covered said {n_right}/{n_total}")
    assert c_total + n_total >= 50
    misses = (c_total - c_right) + (n_total - n_right)
    assert misses <= KNOWN_MISSES.get((name, half), 0)


# Issue 16 asks for 95% on an untouched half; first contact with each fresh set has been
# 63-90% answerable and 73-100% not covered. This guards the measured figure against
# regressions; it is not the target, and v9's test half has not been looked at.
def test_held_out_half_is_answered_at_least_as_well_as_at_first_contact(kb, report_figure):
    name, half = HELD_OUT
    figures = score(kb, half, name)
    (c_right, c_total), (n_right, n_total) = figures["covered"], figures["not_covered"]
    report_figure(f"KB answers held-out {name} {half}: answerable with a gold passage first "
                  f"{c_right}/{c_total}; not covered said {n_right}/{n_total}")
    assert c_total + n_total >= 50
    assert c_right >= HELD_OUT_FIRST_CONTACT["covered"]
    assert n_right >= HELD_OUT_FIRST_CONTACT["not_covered"]


def test_the_sets_are_large_enough():
    cases = [c for name in SETS for half in ("tune", "test") for c in load_cases(half, name)]
    assert len(cases) >= 200
    assert sum(c["covered"] for c in cases) >= 120
    assert sum(not c["covered"] for c in cases) >= 80


# --- quotes that stand on their own ----------------------------------------------------


def _closed(ids: list[str], links: dict) -> bool:
    """Every passage comes with what it needs; what it points back to comes before it."""
    for i, passage_id in enumerate(ids):
        before = links["needs_before"].get(passage_id, [])
        if ids[max(0, i - len(before)) : i] != before:
            return False
        needed = [*links["needs_after"].get(passage_id, []),
                  *links["needs_with"].get(passage_id, [])]
        if not set(needed) <= set(ids):
            return False
    return True


def test_every_passage_that_opens_by_pointing_back_is_linked(kb, links):
    for passage in kb.passages:
        text = passage.text.split(": ", 1)[-1] if passage.kind == "bullet" else passage.text
        first = text.split()[0].strip(",").lower()
        if first in links["pointing_back"] and not text.startswith("This article"):
            assert passage.passage_id in links["needs_before"], passage.passage_id
        if "in these cases" in text:
            assert passage.passage_id in links["needs_before"], passage.passage_id


def test_every_treatment_dose_is_shown_with_its_supervision_sentence(kb, links):
    for passage in kb.passages:
        if any(figure in passage.text for figure in links["dose_figures"]):
            shown = kb.whole([passage])
            assert any(w in p.text for p in shown for w in links["supervision_words"]), (
                passage.passage_id)


def test_every_answer_to_every_question_is_whole(kb, links):
    questions = [c["q"] for name in SETS for half in ("tune", "test")
                 for c in load_cases(half, name)]
    broken = 0
    for question in questions:
        answer = kb.answer(question)
        broken += not _closed([p.passage_id for p in answer.passages], links)
    assert broken == 0  # a count: held-out questions stay unseen


def test_every_curated_topic_answer_is_whole(kb, links):
    for intent, passages in load_topics().items():
        ids = [p.passage_id for p in kb.whole(passages)]
        assert _closed(ids, links), intent
        assert [p.passage_id for p in passages] == [i for i in ids if i in
                                                    {p.passage_id for p in passages}]


# --- what counts as answered -----------------------------------------------------------


@pytest.mark.parametrize("question", [
    "what is nash",  # named, never defined
    "what does mma stand for",
    "why does homocysteine go up",  # the article gives no cause
    "can high b12 cause acne",  # side effects: not in the article
    "is methylcobalamin better than cyanocobalamin",
    "how much b12 is in an egg",
])
def test_questions_the_article_does_not_answer_are_not_covered(kb, question):
    answer = kb.answer(question)
    assert not answer.covered and answer.passages == ()
    assert answer.understood  # on topic: "not covered", not "please rephrase"


@pytest.mark.parametrize(("question", "passage_id"), [
    ("whats masld", "the-complex-role-of-vitamin-b12-in-liver-health-01"),
    ("nafld vs masld", "the-complex-role-of-vitamin-b12-in-liver-health-01"),
    ("why is my b12 high with fatty liver", "b12-the-liver-and-misleading-blood-levels-01"),
    ("can liver damage raise b12", "b12-the-liver-and-misleading-blood-levels-01"),
    ("is 1000 mcg too much", "recommended-b12-dosages-03"),
    ("where is b12 stored", "the-complex-role-of-vitamin-b12-in-liver-health-03"),
])
def test_questions_the_article_answers_get_the_passage_that_answers(kb, question, passage_id):
    answer = kb.answer(question)
    assert answer.covered
    first_group = kb.whole([kb.passage(answer.answering[0])])
    assert passage_id in [p.passage_id for p in first_group]


def test_a_high_b12_answer_shows_the_whole_paragraph_in_order(kb):
    ids = [p.passage_id for p in kb.answer("why is my b12 so high").passages]
    assert ids[:3] == [f"b12-the-liver-and-misleading-blood-levels-0{i}" for i in (1, 2, 3)]


def test_direction_matters_for_cause_questions(kb):
    assert kb.answer("can b12 deficiency cause fatty liver").covered is False
    assert kb.answer("can liver disease cause other vitamin deficiencies").covered


def test_a_subject_denied_in_passing_does_not_put_the_question_outside(kb):
    """"I dont drink" says what the question is not about; asking about drinking stays out."""
    assert kb.answer("fatty liver but i dont drink, what is it linked to").covered
    assert kb.answer("does drinking alcohol change my b12").covered is False
    assert kb.answer("is it ok to drink with fatty liver").covered is False


def test_answers_are_deterministic(kb):
    question = "my b12 is high but could i still be deficient"
    assert kb.answer(question) == kb.answer(question)


@pytest.mark.parametrize("text", ["qwzx blorf", "I'm confused", "who won the game last night"])
def test_a_message_naming_nothing_of_the_article_is_not_understood(kb, text):
    answer = kb.answer(text)
    assert not answer.covered and not answer.understood


def test_the_index_fails_loudly_on_unknown_passages_and_concepts(tmp_path):
    kb = load_kb()
    known = {p.passage_id for p in kb.passages}
    base = {"question_types": {"definition": ["what is"], "definition_always": ["define"],
                               "why": ["why"], "compare": ["vs"]},
            "concepts": {"b12": ["b12"]}}
    for facets, message in [
        ({"no-such-passage": [{"ask": ["any"], "about": ["b12"]}]}, "unknown passage"),
        ({kb.passages[0].passage_id: [{"ask": ["any"], "about": ["nope"]}]}, "undefined"),
        ({kb.passages[0].passage_id: [{"ask": ["sometimes"], "about": ["b12"]}]}, "kinds"),
    ]:
        path = tmp_path / "index.yml"
        path.write_text(yaml.safe_dump({**base, "facets": facets}), encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            read_index(kb._searcher, known, path)


def test_start_up_lemmas_agree_with_the_lemmas_questions_are_read_in(kb, project_root):
    index = yaml.safe_load((project_root / "knowledge" / "answer_index.yml").read_text("utf-8"))
    words = [str(w) for words in index["concepts"].values() for w in words]
    fast = kb._searcher.lemmas_of_many(words)
    assert len(fast) > 500
    assert all(fast[w] == kb._searcher.lemmas(w) for w in words)


def test_the_older_question_set_is_answered_as_its_author_expected(kb, project_root,
                                                                   report_figure):
    """tests/data/kb_questions.yml (67 questions, section-level labels, written before this
    index): two of its "answerable" questions ask what the article never says (how shots
    compare with pills; what an MMA test is), so 45/47 is the most an honest answer gets."""
    data = yaml.safe_load((project_root / "tests/data/kb_questions.yml").read_text("utf-8"))
    right = 0
    for item in data["answerable"]:
        answer = kb.answer(item["q"])
        right += answer.covered and answer.answering[0].rsplit("-", 1)[0] in item["sections"]
    silent = sum(not kb.answer(item["q"]).covered for item in data["not_covered"])
    report_figure(f"KB answers, older set: answerable in the right section "
                  f"{right}/{len(data['answerable'])}; not covered said "
                  f"{silent}/{len(data['not_covered'])}")
    assert right >= len(data["answerable"]) - 2
    assert silent == len(data["not_covered"])
