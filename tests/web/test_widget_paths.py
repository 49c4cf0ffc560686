"""Three conversation paths a patient takes in the widget (real stack, headless Chromium):
the bot's own buttons inside the lab form, "no" at the unit question and a red flag
mid-form, and "check my results" again after a check. None may dead-end.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from b12core.safety import messages
from tests.web.test_widget import REPLY_TIMEOUT_MS, bot, open_chat, send

pytestmark = pytest.mark.e2e


def click(page, title: str) -> None:
    """Press the newest enabled button with this title."""
    button = page.locator(".b12c-log .b12c-button:not([disabled])", has_text=title).last
    expect(button).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    button.click()


def says(page, text: str) -> None:
    expect(bot(page).last).to_contain_text(text, timeout=REPLY_TIMEOUT_MS)


def start(real_site, page) -> None:
    page.goto(real_site.url)
    open_chat(page)
    expect(bot(page).first).to_contain_text("not medical advice", timeout=REPLY_TIMEOUT_MS)


def test_the_bots_own_buttons_inside_the_lab_form(real_site, page):
    start(real_site, page)
    send(page, "check my results")
    says(page, "What was your vitamin B12 result?")
    send(page, "350 pg/mL")
    says(page, "homocysteine result")
    click(page, "I don't have it")
    says(page, "MMA (methylmalonic acid) result")
    click(page, "I don't have the others")
    says(page, "Which liver condition")
    click(page, "Not sure")
    expect(page.locator(".b12c-log article.b12c-card")).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    expect(page.locator(".b12c-log")).to_contain_text("350 pg/mL")
    assert page.console_errors == []


def test_no_at_the_unit_question_then_a_red_flag_mid_form(real_site, page):
    start(real_site, page)
    send(page, "check my results")
    says(page, "What was your vitamin B12 result?")
    send(page, "my b12 was 300")
    says(page, "Which unit")
    send(page, "no")
    says(page, "The unit is printed right after the number")
    click(page, "pg/mL")
    says(page, "homocysteine result")
    send(page, "I am vomiting blood")
    expect(page.locator(".b12c-log")).to_contain_text(
        messages().urgent[:60], timeout=REPLY_TIMEOUT_MS)
    send(page, "hello")
    says(page, "What would you like to do")


def test_check_my_results_again_then_new_results(real_site, page):
    start(real_site, page)
    send(page, "b12 350 pg/mL, homocysteine 12 umol/L, mma 0.25 umol/L, folate 15 nmol/L, "
               "I have NAFLD")
    expect(page.locator(".b12c-log article.b12c-card")).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    send(page, "check my results")
    says(page, "same results again, or enter new ones")
    click(page, "Enter new results")
    expect(page.locator(".b12c-log")).to_contain_text("OK, let's start again",
                                                      timeout=REPLY_TIMEOUT_MS)
    says(page, "What was your vitamin B12 result?")
    send(page, "480 pmol/L")
    says(page, "homocysteine result")
