"""Questions about one's own results: figures from the reference table with their sources,
quotes from the article, never a verdict and never the dose refusal."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.result_help import (
    ActionAnswerShouldWorry,
    ActionAnswerSymptoms,
    ActionExplainResultTerms,
    ActionShowDoctorSummary,
    terms_in,
)
from b12core.disclaimer import short_disclaimer
from b12core.labs.reference import reference_table
from b12core.texts import say as bot_says
from tests.e2e.audit import REASSURANCE
from tests.trackers import make_tracker

B12 = {"value": "200", "unit": "pmol/L", "comparator": None}


async def reply(action, text="", intent=None, slots=None) -> str:
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, make_tracker(text, intent, slots=slots), {})
    joined = "\n".join(m.get("text") or "" for m in dispatcher.messages)
    assert short_disclaimer() in joined
    assert bot_says("answers.personal_advice_refusal") not in joined
    assert not [w for w in REASSURANCE if w in joined.lower()]
    return joined


def test_band_words_are_read_from_the_table():
    assert terms_in("what does borderline mean?") == ["borderline"]
    assert terms_in("Is moderate or severe worse") == ["moderate", "severe"]
    assert terms_in("what's normal for me") == ["normal"]
    assert terms_in("hello") == []


async def test_what_does_borderline_mean_gives_the_limits_and_the_source():
    text = await reply(ActionExplainResultTerms(), "what does borderline mean",
                       "ask_result_meaning")
    (band,) = [b for b in reference_table().spec("b12").bands if b.status == "borderline"]
    assert f'"borderline" is {band.describe()}' in text
    assert "Qi YP et al." in text
    assert reference_table().caveat in text


async def test_confused_about_my_results_explains_the_bands_of_my_own_values():
    text = await reply(ActionExplainResultTerms(), "I'm confused about my results",
                       "ask_result_meaning", slots={"b12": B12})
    assert 'Vitamin B12: 200 pmol/L. Reference table: in the band it calls "borderline"' in text


async def test_is_that_bad_compares_without_a_verdict_and_refers():
    text = await reply(ActionAnswerShouldWorry(), "is that bad?", "ask_should_worry",
                       slots={"b12": B12})
    assert "I can't tell you whether your result is good or bad" in text
    assert 'Vitamin B12: 200 pmol/L. Reference table: in the band it calls "borderline"' in text
    assert "Always consult a healthcare professional" in text


async def test_is_that_bad_without_results_says_so():
    text = await reply(ActionAnswerShouldWorry(), "should I worry", "ask_should_worry")
    assert "haven't given me any results" in text


async def test_a_summary_for_the_doctor_lists_values_condition_and_questions():
    text = await reply(ActionShowDoctorSummary(), "summary for my doctor",
                       "request_doctor_summary", slots={"b12": B12, "condition": "nash"})
    assert "Vitamin B12: 200 pmol/L" in text
    assert "Liver condition you told me: NASH / MASH" in text
    assert "Questions you could take to your clinician" in text


async def test_symptoms_are_not_covered_and_the_doctor_is_named():
    text = await reply(ActionAnswerSymptoms(), "i'm always tired, could it be my b12",
                       "ask_symptoms")
    assert "doesn't cover symptoms" in text and "tell your doctor" in text
