"""Widget states a patient must read at a glance (issue 19), against the scripted server
that speaks the real server's wire format (tests/web/fake_rasa.py uses WidgetOutput):
the urgent and crisis cards, a long reply read from its start, Start over, and a message
the server never received. Screenshots of each state at desktop and phone size go to
test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from b12core.disclaimer import general_disclaimer
from b12core.safety import messages

pytestmark = pytest.mark.e2e

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


def open_chat(page) -> None:
    page.locator(".b12c-launcher").click()
    expect(page.locator(".b12c-input")).to_be_focused()
    expect(page.locator(".b12c-log .b12c-bot").first).to_contain_text("not medical advice")


def open_at(page, site, size: str) -> None:
    """The demo page at one of SIZES, the chat open and greeted."""
    page.set_viewport_size(SIZES[size])
    page.goto(site.url)
    open_chat(page)


def send(page, text: str) -> None:
    page.locator(".b12c-input").fill(text)
    page.keyboard.press("Enter")


@pytest.mark.parametrize("size", SIZES)
def test_the_urgent_reply_is_an_alert_card_with_a_call_button(fake_site, page, artifacts, size):
    open_at(page, fake_site, size)
    send(page, "urgent please")
    card = page.get_by_role("alert")
    expect(card).to_be_visible()
    expect(card).to_contain_text(messages().urgent[:60])
    # Nothing in it but the urgent text and the general disclaimer (no "see your doctor").
    expect(card).to_contain_text(general_disclaimer())
    assert "doctor or clinician" not in card.inner_text()
    call = card.get_by_role("link", name="Call 999")
    expect(call).to_have_attribute("href", "tel:999")
    box = call.bounding_box()
    assert box and box["height"] >= 44  # a big target for a shaking hand
    # Red, unlike an ordinary bubble.
    background = card.evaluate("e => getComputedStyle(e).backgroundColor")
    ordinary = page.locator(".b12c-log .b12c-bot").first.evaluate(
        "e => getComputedStyle(e).backgroundColor")
    assert background != ordinary
    assert card.evaluate("e => e.getBoundingClientRect().top >= 0")
    page.screenshot(path=str(artifacts / f"widget-urgent-{size}.png"))
    # It survives a reload as the same card (the transcript keeps the kind).
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text(messages().urgent[:60])
    assert page.console_errors == []


@pytest.mark.parametrize("size", SIZES)
def test_the_crisis_card_offers_the_crisis_line_first(fake_site, page, artifacts, size):
    open_at(page, fake_site, size)
    send(page, "crisis please")
    card = page.get_by_role("alert")
    expect(card).to_contain_text(messages().crisis[:60])
    links = card.get_by_role("link")
    expect(links).to_have_count(2)
    expect(links.first).to_have_attribute("href", "tel:116123")
    expect(links.nth(1)).to_have_attribute("href", "tel:999")
    page.screenshot(path=str(artifacts / f"widget-crisis-{size}.png"))


def test_without_configured_numbers_the_card_has_no_call_button(fake_site, page):
    page.add_init_script("window.B12ChatConfig = {emergencyNumber: null, crisisNumber: null};")
    page.goto(fake_site.url)
    open_chat(page)
    send(page, "urgent please")
    card = page.get_by_role("alert")
    expect(card).to_contain_text(messages().urgent[:60])
    expect(card.get_by_role("link")).to_have_count(0)


@pytest.mark.parametrize("size", SIZES)
def test_a_long_reply_is_read_from_its_start(fake_site, page, artifacts, size):
    open_at(page, fake_site, size)
    send(page, "long please")
    parts = page.locator(".b12c-log .b12c-bot", has_text="of a long reply")
    expect(parts).to_have_count(12)
    page.wait_for_timeout(300)
    log = page.locator(".b12c-log")
    first_top = parts.first.evaluate("e => e.getBoundingClientRect().top")
    log_top = log.evaluate("e => e.getBoundingClientRect().top")
    log_bottom = log.evaluate("e => e.getBoundingClientRect().bottom")
    # The reply's first message is at the top of the view, not scrolled away above it.
    assert log_top - 1 <= first_top <= log_top + 60, (first_top, log_top)
    assert parts.last.evaluate("e => e.getBoundingClientRect().top") > log_bottom
    page.screenshot(path=str(artifacts / f"widget-long-reply-{size}.png"))
    # The next message from the person scrolls to the end again.
    send(page, "hello")
    expect(page.locator(".b12c-log .b12c-bot").last).to_have_text("Assistant: You said: hello")
    page.wait_for_timeout(300)
    assert log.evaluate("e => e.scrollHeight - e.scrollTop - e.clientHeight") < 30


def test_start_over_is_one_tap_in_the_header(fake_site, page):
    page.goto(fake_site.url)
    open_chat(page)
    page.get_by_role("button", name="Start over: clear the lab values you gave").click()
    expect(page.locator(".b12c-log .b12c-user").last).to_have_text("You: Start over")
    expect(page.locator(".b12c-log .b12c-bot").last).to_have_text(
        "Assistant: You said: /request_start_over")


@pytest.mark.parametrize("size", SIZES)
def test_a_message_the_server_did_not_get_is_marked_and_kept(fake_site, page, artifacts, size):
    open_at(page, fake_site, size)
    page.context.set_offline(True)
    page.evaluate("() => window.dispatchEvent(new Event('offline'))")
    send(page, "my b12 is 300 pg/mL")
    mine = page.locator(".b12c-log .b12c-user").last
    expect(mine).to_contain_text("Not delivered.")
    expect(mine).to_contain_text("If you feel very unwell")
    page.screenshot(path=str(artifacts / f"widget-not-delivered-{size}.png"))
    retry = mine.get_by_role("button", name="Retry")
    retry.click()
    expect(page.locator(".b12c-status")).to_contain_text("Still cannot reach the assistant")
    expect(mine).to_contain_text("Not delivered.")
    page.context.set_offline(False)
    page.wait_for_function("() => navigator.onLine")
    for _ in range(40):  # bounded: the socket may need a moment to reconnect
        if "Not delivered." not in mine.inner_text():
            break
        retry.click()
        page.wait_for_timeout(500)
    expect(mine).not_to_contain_text("Not delivered.")
    expect(page.locator(".b12c-log .b12c-bot").last).to_have_text(
        "Assistant: You said: my b12 is 300 pg/mL", timeout=30_000)


def test_the_launcher_icon_is_drawn_without_an_emoji_font(fake_site, page):
    page.goto(fake_site.url)
    launcher = page.locator(".b12c-launcher")
    icon = launcher.locator("svg")
    expect(icon).to_have_count(1)
    expect(icon).to_have_attribute("aria-hidden", "true")
    assert icon.evaluate("e => e.getBoundingClientRect().width") >= 16
    expect(launcher).to_have_accessible_name("Chat about your B12 results")


@pytest.mark.parametrize("size", SIZES)
def test_the_summary_card_comes_first_and_the_quotes_open_on_demand(fake_site, page, artifacts,
                                                                    size):
    open_at(page, fake_site, size)
    send(page, "four values please")
    card = page.locator(".b12c-log article.b12c-card")
    expect(card).to_have_count(1)
    title = card.locator("h3")
    expect(title).to_have_text("Your results against general reference ranges")
    expect(card).to_contain_text("Liver condition used: NASH / MASH")
    values = card.locator("li.b12c-value")
    expect(values).to_have_count(4)
    expect(values.first.locator("dt")).to_have_text(
        ["Your value", "In reference units", "Position", "Normal range", "Your lab's range"])
    expect(values.first.locator("dd")).to_have_text(
        ["250 pg/mL", "184.5 pmol/L", 'band "borderline"', "258 to 664 pmol/L",
         "197-771 pg/mL: within it"])
    expect(values.first.locator("dt").last).to_have_text("Your lab's range")
    expect(values.nth(1).locator("dt")).to_have_count(4)  # no range printed for this one
    # Nothing is cut off: no value block is wider than the card.
    assert card.evaluate("e => e.scrollWidth <= e.clientWidth")
    expect(card.locator(".b12c-card-questions li")).not_to_have_count(0)
    # Three bot messages for the interpretation: the card, the quotes, the closing.
    reply = page.locator(".b12c-log .b12c-bot:has(article.b12c-card)")
    page.wait_for_timeout(300)
    log_top = page.locator(".b12c-log").evaluate("e => e.getBoundingClientRect().top")
    card_top = reply.evaluate("e => e.getBoundingClientRect().top")
    assert log_top - 1 <= card_top <= log_top + 40, (card_top, log_top)
    if size == "desktop":  # the card's title and values are in view without scrolling
        assert title.evaluate("e => e.getBoundingClientRect().bottom") < 800
    quotes = page.locator(".b12c-log details.b12c-quotes")
    expect(quotes).to_have_count(1)
    expect(quotes.locator("blockquote").first).to_be_hidden()  # collapsed
    page.screenshot(path=str(artifacts / f"widget-summary-card-{size}.png"))
    quotes.locator("summary").click()
    expect(quotes.locator("blockquote").first).to_be_visible()
    expect(quotes.locator("cite").first).not_to_be_empty()
    closing = page.locator(".b12c-log .b12c-bot").last
    expect(closing).to_contain_text("Always consult a healthcare professional")
    expect(closing).to_contain_text("not medical advice")
    page.screenshot(path=str(artifacts / f"widget-quotes-open-{size}.png"))
    # On a reload the card is drawn again from the transcript.
    page.reload()
    expect(page.locator(".b12c-log article.b12c-card li.b12c-value")).to_have_count(4)
    assert page.console_errors == []


def test_reflow_at_320_px_and_focus_never_hidden(fake_site, page, artifacts):
    """WCAG reflow: at 320 CSS px nothing scrolls sideways, in any state; the focused control
    is inside the viewport (not under the panel or off screen)."""
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(fake_site.url)
    open_chat(page)
    for text in ("four values please", "urgent please", "table please"):
        send(page, text)
        page.wait_for_timeout(600)
        wide = page.evaluate("""() => [...document.querySelectorAll('.b12c-root *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth
                         + 1 && !e.closest('.b12c-table-wrap'))
            .map(e => e.className || e.tagName).slice(0, 5)""")
        assert wide == [], (text, wide)
        assert page.evaluate("() => document.documentElement.scrollWidth "
                             "<= document.documentElement.clientWidth")
    page.screenshot(path=str(artifacts / "widget-reflow-320.png"))
    checked = 0
    for _ in range(14):  # every stop of the widget's Tab order is on screen
        page.keyboard.press("Tab")
        box = page.evaluate("""() => { const e = document.activeElement;
            if (!e.closest('.b12c-panel')) return null;
            const r = e.getBoundingClientRect();
            return [r.top, r.bottom, r.left, r.right, e.className]; }""")
        if box is None:
            continue
        checked += 1
        top, bottom, left, right, name = box
        # The log itself is a scroll box as tall as the panel allows; its children scroll.
        assert left >= 0 and right <= 320 and top < 640 and bottom > 0, box
        assert name == "b12c-log" or (top >= 0 and bottom <= 640), box
    assert checked >= 5
