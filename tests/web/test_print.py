""""Print / save for my doctor": the latest interpretation alone on one page, on A4 and
Letter, read back from the PDF Chromium prints (pypdf): every value, the condition, every
quote with its section, the questions, the sources of the ranges, the date and the
disclaimer; nothing of the host page or the chat around it."""

from __future__ import annotations

import io
import re
import unicodedata

import pytest
from playwright.sync_api import expect

from b12core.disclaimer import short_disclaimer

pytestmark = pytest.mark.e2e


def open_chat(page) -> None:
    page.locator(".b12c-launcher").click()
    expect(page.locator(".b12c-log .b12c-bot").first).to_contain_text("not medical advice")


def send(page, text: str) -> None:
    page.locator(".b12c-input").fill(text)
    page.keyboard.press("Enter")


def printed_text(page, paper: str) -> tuple[int, str]:
    from pypdf import PdfReader

    pdf = PdfReader(io.BytesIO(page.pdf(format=paper, print_background=True)))
    text = "\n".join(p.extract_text() for p in pdf.pages)
    # NFKC: the PDF's ligatures ("ﬁ", "ﬀ") back to letters.
    return len(pdf.pages), " ".join(unicodedata.normalize("NFKC", text).split())


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_the_printed_summary_is_one_page_with_everything_a_doctor_needs(fake_site, page,
                                                                      artifacts, paper):
    page.goto(fake_site.url)
    open_chat(page)
    send(page, "four values please")
    card = page.locator(".b12c-log article.b12c-card")
    expect(card).to_have_count(1)
    expect(page.locator(".b12c-log .b12c-bot").last).to_contain_text("not medical advice")
    send(page, "hello")  # a later message is not printed
    expect(page.locator(".b12c-log .b12c-bot").last).to_contain_text("You said: hello")
    quotes = page.evaluate("""() => [...document.querySelectorAll(
        '.b12c-log details.b12c-quotes figure')].map(f => [
        f.querySelector('blockquote').textContent, f.querySelector('cite').textContent])""")
    values = card.locator("li.b12c-value").all_inner_texts()
    questions = card.locator(".b12c-card-questions li").all_inner_texts()
    sources = page.evaluate("""() => [...document.querySelectorAll(
        '.b12c-log .b12c-card-sources li')].map(li => li.textContent)""")
    assert len(values) == 4 and quotes and questions and len(sources) == 4

    page.evaluate("() => { window.print = () => { window.__printed = true; }; }")
    page.get_by_role("button", name="Print or save a summary for your doctor").click()
    assert page.evaluate("() => window.__printed") is True
    page.emulate_media(media="print")
    page.screenshot(path=str(artifacts / f"widget-print-{paper}.png"), full_page=True)
    pages, text = printed_text(page, paper)
    assert pages == 1, f"{pages} pages on {paper}: {text[-300:]}"
    flat = lambda s: " ".join(unicodedata.normalize("NFKC", s).split())  # noqa: E731
    assert "Summary for my doctor" in text and re.search(r"Printed on \w+ \d+, 20\d\d|"
                                                         r"Printed on \d+ \w+ 20\d\d", text)
    assert "Liver condition used: NASH / MASH" in text
    for value in values:  # on paper a table row: the name, then each column's value
        name, *lines = value.splitlines()
        assert flat(name) in text, name
        for line in lines:
            assert flat(line.split("\t")[-1]) in text, line
    for quote, section in quotes:
        assert flat(quote)[:80] in text and flat(section) in text
    for question in questions:
        assert flat(question) in text
    for source in sources:
        assert flat(source)[:60] in text
    assert "Always consult a healthcare professional" in text
    assert flat(short_disclaimer()) in text
    # Only the interpretation: not the host page, the chat's other messages or its controls.
    for absent in ("Riverside Liver Clinic", "You said: hello", "Type your message", "Send"):
        assert absent not in text, absent


def test_print_says_so_when_there_is_nothing_to_print(fake_site, page):
    page.goto(fake_site.url)
    open_chat(page)
    page.evaluate("() => { window.print = () => { window.__printed = true; }; }")
    page.get_by_role("button", name="Print or save a summary for your doctor").click()
    expect(page.locator(".b12c-status")).to_have_text(
        "There is nothing to print yet: check your results first.")
    assert page.evaluate("() => window.__printed") is None
