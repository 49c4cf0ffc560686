"""The chat widget in headless Chromium: the real stack, then a scripted socket.io server.

Waits are bounded (Playwright timeouts); every server listens on loopback.
Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from b12core.disclaimer import full_disclaimer, short_disclaimer

pytestmark = pytest.mark.e2e

BANNER = "General information only, not medical advice."
QUICK_CHECK = "My B12 is 1100 pg/mL and I have NASH"
REPLY_TIMEOUT_MS = 60_000  # a first reply includes the model's warm-up
LAB_TABLE_COLUMNS = ["Test", "Your value", "In reference units", "Position", "Normal range"]


def open_chat(page) -> None:
    """Open the widget from the keyboard: focus the launcher, press Enter."""
    launcher = page.locator(".b12c-launcher")
    launcher.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".b12c-panel")).to_be_visible()
    expect(page.locator(".b12c-input")).to_be_focused()


def send(page, text: str) -> None:
    """Type a message and press Enter."""
    box = page.locator(".b12c-input")
    box.focus()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def bot(page):
    return page.locator(".b12c-log .b12c-bot")


def horizontal_overflow(page) -> int:
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth")


def assert_lab_table(page) -> None:
    """The lab_table custom payload drawn as an accessible table (a missing one fails)."""
    table = page.locator(".b12c-log table.b12c-table")
    expect(table).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    expect(table.locator("caption")).not_to_be_empty()
    headers = table.locator("thead th[scope=col]")
    expect(headers).to_have_text(LAB_TABLE_COLUMNS)
    rows = table.locator("tbody tr")
    expect(rows.first.locator("th[scope=row]")).to_have_count(1)
    expect(rows.first.locator("td")).to_have_count(len(LAB_TABLE_COLUMNS) - 1)


def assert_summary_card(page) -> None:
    """The interpretation's summary card: a titled section, a block per value with every
    column labelled (a missing card fails)."""
    card = page.locator(".b12c-log article.b12c-card")
    expect(card).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    expect(card.locator("h3")).to_have_text("Your results against general reference ranges")
    expect(card).to_contain_text("Liver condition used:")
    value = card.locator("li.b12c-value").first
    expect(value.locator("dt")).to_have_text(LAB_TABLE_COLUMNS[1:])


# ---------------------------------------------------------------- the real stack


def test_quick_check_in_the_browser(real_site, page, artifacts):
    page.goto(real_site.url)
    banner = page.locator(".b12c-banner")
    open_chat(page)
    expect(banner).to_have_text(BANNER)
    expect(page.get_by_role("log")).to_have_attribute("aria-live", "polite")

    # The conversation opens with the full disclaimer (initPayload /greet starts the session).
    first_paragraph = full_disclaimer().split("\n\n")[0]
    expect(bot(page).first).to_contain_text(first_paragraph[:80], timeout=REPLY_TIMEOUT_MS)
    expect(bot(page).first).to_contain_text("not medical advice")

    send(page, QUICK_CHECK)
    expect(page.locator(".b12c-log .b12c-user").last).to_have_text(f"You: {QUICK_CHECK}")
    expect(page.locator(".b12c-typing")).to_be_visible()
    offer = page.get_by_role("button", name="No, thanks")
    expect(offer).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(page.locator(".b12c-log")).to_contain_text("Would you like to add your other results")

    # A quote is a blockquote, its section a <cite>; the short disclaimer is in the turn.
    # The article's quotes are collapsed under their heading; the referral quote is not.
    expect(page.locator(".b12c-log details.b12c-quotes")).not_to_have_attribute("open", "")
    quote = page.locator(".b12c-log > .b12c-bot > figure.b12c-quote").first
    expect(quote.locator("blockquote")).not_to_be_empty()
    expect(quote.locator("cite")).not_to_be_empty()
    assert '"' not in quote.locator("blockquote").inner_text()[:1]
    expect(page.locator(".b12c-log")).to_contain_text(short_disclaimer())
    expect(page.locator(".b12c-log")).to_contain_text("1100 pg/mL")
    assert_summary_card(page)
    expect(page.locator(".b12c-typing")).to_be_hidden(timeout=5_000)

    # "No, thanks" from the keyboard: the title is shown as the user's message.
    offer.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".b12c-log .b12c-user").last).to_have_text("You: No, thanks")
    expect(page.get_by_role("button", name="No, thanks")).to_be_disabled()
    expect(bot(page).last).to_contain_text("anything else", timeout=REPLY_TIMEOUT_MS)
    page.wait_for_timeout(1_000)  # let the turn finish before counting
    page.screenshot(path=str(artifacts / "widget-desktop-1280x800.png"))
    before = page.locator(".b12c-log .b12c-msg").all_inner_texts()

    # A reload keeps the conversation (same session id, transcript re-rendered), kept in
    # this tab's sessionStorage only: nothing outlives the tab on a shared computer.
    session = page.evaluate("() => sessionStorage.getItem('b12chat:session')")
    assert session and page.evaluate("() => localStorage.length") == 0
    page.reload()
    expect(page.locator(".b12c-panel")).to_be_visible()
    expect(page.locator(".b12c-log .b12c-msg")).to_have_count(len(before))
    assert page.locator(".b12c-log .b12c-msg").all_inner_texts() == before
    assert_summary_card(page)
    expect(page.locator(".b12c-log > .b12c-bot > figure.b12c-quote blockquote").first
           ).to_be_visible()
    expect(page.locator(".b12c-status")).to_be_empty(timeout=REPLY_TIMEOUT_MS)
    assert page.evaluate("() => sessionStorage.getItem('b12chat:session')") == session
    # ... and the server still knows it: the conversation goes on where it was.
    send(page, "thanks")
    expect(bot(page).last).to_contain_text("welcome", timeout=REPLY_TIMEOUT_MS)
    page.wait_for_timeout(1_000)

    # Phone width: no horizontal scroll, open or closed.
    page.set_viewport_size({"width": 375, "height": 812})
    page.wait_for_timeout(300)
    assert horizontal_overflow(page) <= 0
    assert page.evaluate("() => document.querySelector('.b12c-log').scrollWidth"
                         " <= document.querySelector('.b12c-log').clientWidth")
    page.screenshot(path=str(artifacts / "widget-phone-375x812.png"))
    page.locator(".b12c-log article.b12c-card").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "widget-phone-375x812-table.png"))
    page.locator(".b12c-close").click()
    expect(page.locator(".b12c-launcher")).to_be_focused()
    assert horizontal_overflow(page) <= 0
    page.screenshot(path=str(artifacts / "widget-phone-375x812-closed.png"), full_page=True)
    assert page.console_errors == []


def test_clear_this_conversation_wipes_the_browser_and_the_server(real_site, page):
    import json
    import sqlite3
    import time

    def stored_events(sender: str) -> int:
        with sqlite3.connect(real_site.stack.db) as db:
            return db.execute("SELECT COUNT(*) FROM events WHERE sender_id = ?",
                              (sender,)).fetchone()[0]

    page.goto(real_site.url)
    open_chat(page)
    first_paragraph = full_disclaimer().split("\n\n")[0]
    expect(bot(page).first).to_contain_text(first_paragraph[:80], timeout=REPLY_TIMEOUT_MS)
    send(page, "my b12 is 190 pmol/L")
    expect(page.locator(".b12c-log")).to_contain_text("190 pmol/L", timeout=REPLY_TIMEOUT_MS)
    page.wait_for_timeout(1_000)  # the turn is saved after its replies
    session = page.evaluate("() => sessionStorage.getItem('b12chat:session')")
    assert session and stored_events(session) > 0

    # Cancelling the question changes nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Clear this conversation").click()
    expect(page.locator(".b12c-log")).to_contain_text("190 pmol/L")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Clear this conversation").click()
    expect(page.locator(".b12c-status")).to_have_text("Conversation cleared.")
    # A fresh session starts from the beginning: the full disclaimer again.
    expect(bot(page).first).to_contain_text(first_paragraph[:80], timeout=REPLY_TIMEOUT_MS)
    expect(page.locator(".b12c-log")).not_to_contain_text("190 pmol/L")
    kept = page.evaluate("() => JSON.stringify(Object.assign({}, sessionStorage))")
    assert "190" not in kept and session not in json.loads(kept).values()
    deadline = time.monotonic() + 15
    while stored_events(session) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stored_events(session) == 0
    assert page.console_errors == []


def tab_to(page, target, key: str, tries: int) -> None:
    """Press ``key`` (Tab or Shift+Tab) until ``target`` has the focus, at most ``tries`` times."""
    for _ in range(tries):
        page.keyboard.press(key)
        if target.evaluate("e => e === document.activeElement"):
            break
    expect(target).to_be_focused()


def test_a_full_lab_check_from_the_keyboard_alone(real_site, page, artifacts):
    """Four values and the condition, typed and chosen with Tab and Enter only; the form says
    each answer back; the summary card opens the interpretation, at the top of the view."""
    page.goto(real_site.url)
    launcher = page.locator(".b12c-launcher")
    tab_to(page, launcher, "Tab", 20)
    page.keyboard.press("Enter")
    expect(bot(page).first).to_contain_text("not medical advice", timeout=REPLY_TIMEOUT_MS)
    for text, expected in (("check my results", "Step 1 of 5: vitamin B12."),
                           ("250 pg/mL", "Got it: vitamin B12 250 pg/mL (= 184.5 pmol/L)."),
                           ("18 umol/L", "Step 3 of 5: MMA"),
                           ("0.5 umol/L", "Step 4 of 5: folate."),
                           ("3 ng/mL", "Step 5 of 5: your liver condition.")):
        page.keyboard.type(text)
        page.keyboard.press("Enter")
        expect(bot(page).last).to_contain_text(expected, timeout=REPLY_TIMEOUT_MS)
    # The condition by its button: Shift+Tab from the message box reaches the last button.
    nash = page.get_by_role("button", name="NASH / MASH")
    tab_to(page, nash, "Shift+Tab", 8)
    page.keyboard.press("Enter")
    card = page.locator(".b12c-log article.b12c-card")
    expect(card).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    expect(card).to_contain_text("Liver condition used: NASH / MASH")
    expect(card.locator("li.b12c-value")).to_have_count(4)
    expect(page.locator(".b12c-log details.b12c-quotes")).to_have_count(1)
    expect(bot(page).last).to_contain_text(short_disclaimer(), timeout=REPLY_TIMEOUT_MS)
    page.wait_for_timeout(1_000)
    log_top = page.locator(".b12c-log").evaluate("e => e.getBoundingClientRect().top")
    card_top = page.locator(".b12c-log .b12c-bot:has(article.b12c-card)").evaluate(
        "e => e.getBoundingClientRect().top")
    assert log_top - 1 <= card_top <= log_top + 40, (card_top, log_top)
    page.screenshot(path=str(artifacts / "widget-full-check-keyboard-desktop.png"))
    assert page.console_errors == []


# Typed into the widget, sent to the real assistant, answered, stored for reloads.
HOSTILE_INPUTS = (
    '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>',
    "<svg/onload=window.__xss=3><b>bold</b>",
    '"><iframe src="javascript:window.parent.__xss=4"></iframe><a href="javascript:x">a</a>',
    "'; DROP TABLE events; -- my b12 is 300 pg/mL",
    "1' OR '1'='1",
)
MARKUP = ".b12c-log img, .b12c-log script, .b12c-log svg, .b12c-log iframe, .b12c-log b, " \
         ".b12c-log a[href^='javascript']"


def test_typed_html_script_and_sql_are_shown_as_text(real_site, page):
    page.goto(real_site.url)
    open_chat(page)
    expect(bot(page).first).to_contain_text("not medical advice", timeout=REPLY_TIMEOUT_MS)
    for hostile in HOSTILE_INPUTS:
        answered = bot(page).count()
        send(page, hostile)
        expect(page.locator(".b12c-log .b12c-user").last).to_have_text(f"You: {hostile}")
        # The assistant answers each one (so its reply is rendered too) and stays up.
        expect(bot(page)).not_to_have_count(answered, timeout=REPLY_TIMEOUT_MS)
    page.wait_for_timeout(1_500)  # let the last turn finish
    users = page.locator(".b12c-log .b12c-user")
    shown = users.count()
    for stage in ("live", "after a reload"):
        if stage == "after a reload":
            page.reload()  # the transcript is re-rendered from storage
        expect(users).to_have_count(shown)
        for i, hostile in enumerate(HOSTILE_INPUTS, start=shown - len(HOSTILE_INPUTS)):
            expect(users.nth(i)).to_have_text(f"You: {hostile}")
        assert page.locator(MARKUP).count() == 0, stage
        assert page.evaluate("() => window.__xss") is None, stage
    assert page.console_errors == []


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]])
def test_each_transport_reaches_rasa(real_site, page, transports):
    page.add_init_script(f"window.B12ChatConfig = {{transports: {transports!r}}};")
    page.goto(real_site.url)
    open_chat(page)
    expect(bot(page).first).to_contain_text("not medical advice", timeout=REPLY_TIMEOUT_MS)
    assert page.console_errors == []


@pytest.mark.parametrize("origin", ["http://evil.example", "null"])
def test_rasa_refuses_other_origins(real_site, origin):
    """engineio checks Origin on every request (polling here; websocket alike)."""
    request = urllib.request.Request(f"{real_site.socket_url}/socket.io/?EIO=4&transport=polling",
                                     headers={"Origin": origin})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    allowed = real_site.url.rstrip("/")
    request = urllib.request.Request(f"{real_site.socket_url}/socket.io/?EIO=4&transport=polling",
                                     headers={"Origin": allowed})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers.get_all("Access-Control-Allow-Origin") == [allowed]


# ---------------------------------------------------------------- the scripted server


def test_lab_table_and_quotes_from_rasa_wire_format(fake_site, page):
    page.goto(fake_site.url)
    open_chat(page)
    expect(bot(page).first).to_contain_text("not medical advice")
    send(page, "table please")
    assert_lab_table(page)
    table = page.locator(".b12c-log table.b12c-table")
    expect(table.locator("caption")).to_have_text("Your results against general reference ranges")
    expect(table.locator("tbody th[scope=row]")).to_have_text(
        ["Vitamin B12", "Homocysteine <script>"])
    expect(table.locator("tbody tr").first.locator("td")).to_have_text(
        ["1100 pg/mL", "811.8 pmol/L", "high", "258 to 664 pmol/L"])
    quote = page.locator(".b12c-log figure.b12c-quote")
    expect(quote.locator("blockquote")).to_have_text(
        "High serum B12 can coexist with functional deficiency.")
    expect(quote.locator("cite")).to_have_text("B12, the Liver, and Misleading Blood Levels")
    expect(page.locator(".b12c-log")).to_contain_text("- Vitamin B12: high")
    assert page.locator(".b12c-log script").count() == 0
    # The table comes before the text of the same turn.
    order = page.evaluate("""() => [...document.querySelectorAll('.b12c-log .b12c-bot')]
        .map(m => m.querySelector('table') ? 'table' : m.textContent.slice(11, 24))""")
    assert order.index("table") < order.index("Your results:")


def test_bot_html_is_shown_as_text(fake_site, page):
    page.goto(fake_site.url)
    open_chat(page)
    send(page, "html please")
    hostile = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> & <b>bold</b>'
    expect(bot(page).filter(has_text="<script>")).to_have_text(f"Assistant: {hostile}")
    button = page.get_by_role("button", name='<img src=y onerror="window.__xss=3">')
    expect(button).to_be_visible()
    page.wait_for_timeout(500)
    assert page.locator(".b12c-log img, .b12c-log script, .b12c-log b").count() == 0
    assert page.evaluate("() => window.__xss") is None


def test_keyboard_only(fake_site, page):
    page.goto(fake_site.url)
    launcher = page.locator(".b12c-launcher")
    for _ in range(20):  # Tab through the page until the launcher has focus
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('b12c-launcher')"):
            break
    expect(launcher).to_be_focused()
    assert launcher.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page.locator(".b12c-input")).to_be_focused()
    choice = page.get_by_role("button", name="Check my results")
    expect(choice).to_be_visible()
    # Backwards from the input: the log's buttons, then the log itself (scrollable).
    page.keyboard.press("Shift+Tab")
    expect(choice).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("log")).to_be_focused()
    page.keyboard.press("Tab")
    expect(choice).to_be_focused()
    assert choice.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page.locator(".b12c-log .b12c-user").last).to_have_text("You: Check my results")
    expect(bot(page).last).to_have_text("Assistant: You said: /request_lab_check")
    send(page, "hello there")
    expect(bot(page).last).to_have_text("Assistant: You said: hello there")
    page.keyboard.press("Escape")
    expect(page.locator(".b12c-panel")).to_be_hidden()
    expect(launcher).to_be_focused()


def test_new_bot_messages_are_announced(fake_site, page):
    page.goto(fake_site.url)
    open_chat(page)
    log = page.get_by_role("log", name="Conversation")
    expect(log).to_have_attribute("aria-live", "polite")
    expect(log.locator(".b12c-bot").first).to_contain_text("not medical advice")
    expect(page.get_by_role("note")).to_have_text(BANNER)
