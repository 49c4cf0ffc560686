"""axe-core (web/node_modules, from npm) over the demo page in every widget state, at
desktop and phone size: zero violations of WCAG 2.0-2.2 A/AA and axe's best practices.

The states come from the scripted server (tests/web/fake_rasa.py, the real server's wire
format; the summary card from the real action). axe is evaluated through the DevTools
protocol, so the page's Content-Security-Policy stays as it is served.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from b12core.knowledge import PROJECT_ROOT

pytestmark = pytest.mark.e2e

AXE = PROJECT_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


def violations(page) -> list[dict]:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    found = page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))
            .violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                   nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""",
        TAGS)
    return found


def assert_clean(page, state: str) -> None:
    found = violations(page)
    assert found == [], f"{state}: " + json.dumps(found, indent=1)


def bot(page):
    return page.locator(".b12c-log .b12c-bot")


def send(page, text: str) -> None:
    page.locator(".b12c-input").fill(text)
    page.keyboard.press("Enter")


@pytest.mark.parametrize("size", SIZES)
def test_every_widget_state_has_no_axe_violation(fake_site, page, size):
    assert AXE.is_file(), "web/node_modules/axe-core missing: npm ci --prefix web"
    page.set_viewport_size(SIZES[size])
    page.goto(fake_site.url)
    expect(page.locator(".b12c-launcher")).to_be_visible()
    assert_clean(page, "closed")

    page.locator(".b12c-launcher").click()
    expect(bot(page).first).to_contain_text("not medical advice")
    assert_clean(page, "open, with buttons")

    # Typing: the indicator shows until the reply's pause.
    send(page, "long please")
    expect(page.locator(".b12c-typing")).to_be_visible()
    assert_clean(page, "typing")
    expect(bot(page).filter(has_text="of a long reply")).to_have_count(12)

    send(page, "form please")  # the lab form's unit question with its buttons
    expect(page.locator(".b12c-log .b12c-button", has_text="pg/mL")).to_be_visible()
    assert_clean(page, "form question")
    send(page, "error please")  # the service's apology
    expect(bot(page).last).to_contain_text("something went wrong")
    assert_clean(page, "service error")

    send(page, "four values please")
    expect(page.locator(".b12c-log article.b12c-card")).to_have_count(1)
    assert_clean(page, "summary card")
    page.locator(".b12c-log details.b12c-quotes summary").click()
    expect(page.locator(".b12c-log details.b12c-quotes blockquote").first).to_be_visible()
    assert_clean(page, "quotes expanded")

    send(page, "urgent please")
    expect(page.get_by_role("alert")).to_be_visible()
    assert_clean(page, "urgent card")
    send(page, "crisis please")
    expect(page.get_by_role("alert")).to_have_count(2)
    assert_clean(page, "crisis card")

    send(page, "four values please")  # a second interpretation in the same conversation
    expect(page.locator(".b12c-log article.b12c-card")).to_have_count(2)
    assert_clean(page, "two summary cards")

    send(page, "table please")
    expect(page.locator(".b12c-log table.b12c-table")).to_have_count(1)
    assert_clean(page, "results table")

    page.context.set_offline(True)
    send(page, "my b12 is 300 pg/mL")
    expect(page.locator(".b12c-log .b12c-user").last).to_contain_text("Not delivered.")
    assert_clean(page, "not delivered (offline)")
    expect(page.locator(".b12c-status")).not_to_be_empty(timeout=30_000)  # connection lost
    assert_clean(page, "connection error status")
    page.context.set_offline(False)

    page.locator(".b12c-close").click()
    expect(page.locator(".b12c-launcher")).to_be_focused()
    assert_clean(page, "closed again")
    assert page.console_errors == []


def test_the_check_finds_a_real_violation(fake_site, page):
    """The check itself can fail: a button with no accessible name is reported."""
    page.goto(fake_site.url)
    page.evaluate("() => document.body.appendChild(document.createElement('button'))")
    assert "button-name" in {v["id"] for v in violations(page)}
