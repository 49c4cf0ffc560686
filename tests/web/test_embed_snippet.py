"""The embed snippet of docs/embedding.md, copied as a site would copy it, in headless Chromium.

The snippet is taken from the docs page as written (the first ```html block under
"## The snippet"); only its two placeholder addresses are replaced: the Rasa server by the
real stack's socket.io URL, the widget's host by web/serve.py's. The page it goes into is a
fresh one on another origin than the widget files (http://localhost:<port> against
http://127.0.0.1:<port>, both allowed by the stack's cors_allowed_origins), answered by the
browser itself (Playwright routing), so no config.js, CSP or demo markup can help it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import yaml
from playwright.sync_api import expect

from b12core.disclaimer import full_disclaimer
from tests.e2e.stack import PROJECT_ROOT

pytestmark = pytest.mark.e2e

EMBEDDING = PROJECT_ROOT / "docs" / "embedding.md"
SNIPPET_HEADING = "## The snippet"
THEME_HEADING = "## Theme"
SOCKET_PLACEHOLDER = "https://bot.example.org"
WIDGET_PLACEHOLDER = "https://chat.example.org/"
REPLY_TIMEOUT_MS = 60_000  # a first reply may include the model's warm-up

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>A clinic's own page</title></head>
<body>
<h1>A clinic's own page</h1>
<p>Nothing here but the copied snippet.</p>
{snippet}
</body>
</html>
"""


def fenced_block(markdown: str, heading: str, language: str) -> str:
    """The first ```<language> block after the heading line, before the next heading."""
    lines = markdown.splitlines()
    assert heading in lines, f"docs/embedding.md has no heading {heading!r}"
    start = lines.index(heading) + 1
    block: list[str] | None = None
    for line in lines[start:]:
        if block is None:
            if line.startswith("## "):
                break
            if line.strip() == f"```{language}":
                block = []
        elif line.strip() == "```":
            return "\n".join(block) + "\n"
        else:
            block.append(line)
    raise AssertionError(f"no ```{language} block under {heading!r} in docs/embedding.md")


def greeting() -> str:
    """The bot's greeting as domain.yml words it (folded to one line)."""
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return " ".join(domain["responses"]["utter_greet"][0]["text"].split())


def embed(page, real_site, snippet: str, extra_head: str = "") -> None:
    """Serve a fresh page holding the snippet on the other loopback origin, and open it."""
    assert snippet.count(SOCKET_PLACEHOLDER) == 1, "the snippet's Rasa address changed"
    assert snippet.count(WIDGET_PLACEHOLDER) == 1, "the snippet's widget address changed"
    widget_origin = real_site.url  # http://127.0.0.1:<port>/
    port = urlsplit(widget_origin).port
    html = PAGE.format(snippet=snippet.replace(SOCKET_PLACEHOLDER, real_site.socket_url)
                       .replace(WIDGET_PLACEHOLDER, widget_origin))
    if extra_head:
        html = html.replace("</head>", f"{extra_head}</head>")
    page_origin = f"http://localhost:{port}"
    page_url = f"{page_origin}/clinic.html"
    page.route(page_url, lambda route: route.fulfill(
        status=200, content_type="text/html; charset=utf-8", body=html))
    # A page the browser answers itself has no address: Chromium counts it as public and asks
    # before it reaches loopback servers. On a real site both sides are public; here the
    # permission stands in for that.
    page.context.grant_permissions(["local-network-access"], origin=page_origin)
    page.goto(page_url)


def test_the_copied_snippet_opens_with_the_greeting_and_the_full_disclaimer(real_site, page):
    snippet = fenced_block(EMBEDDING.read_text(encoding="utf-8"), SNIPPET_HEADING, "html")
    embed(page, real_site, snippet)

    launcher = page.locator(".b12c-launcher")
    expect(launcher).to_be_visible()
    launcher.click()
    log = page.locator(".b12c-log")
    expect(log).to_contain_text(greeting(), timeout=REPLY_TIMEOUT_MS)
    disclaimer = " ".join(full_disclaimer().split())
    expect(log).to_contain_text(disclaimer)
    assert "not medical advice" in disclaimer
    # The disclaimer comes before the greeting, each once.
    texts = [" ".join(t.split()) for t in page.locator(".b12c-log .b12c-bot").all_inner_texts()]
    first_disclaimer = next(i for i, t in enumerate(texts) if disclaimer in t)
    first_greeting = next(i for i, t in enumerate(texts) if greeting() in t)
    assert first_disclaimer <= first_greeting
    assert sum(disclaimer in t for t in texts) == 1
    assert page.console_errors == []


def test_the_theme_example_recolours_the_widget(real_site, page):
    markdown = EMBEDDING.read_text(encoding="utf-8")
    snippet = fenced_block(markdown, SNIPPET_HEADING, "html")
    css = fenced_block(markdown, THEME_HEADING, "css")
    accent = re.search(r"--b12c-accent:\s*(#[0-9a-fA-F]{6})", css)
    assert accent, "the theme example no longer sets --b12c-accent"
    embed(page, real_site, snippet, extra_head=f"<style>{css}</style>")

    launcher = page.locator(".b12c-launcher")
    expect(launcher).to_be_visible()
    # widget.css arrives after the page's own styles: the example must still win.
    page.wait_for_function(
        "() => [...document.styleSheets].some(s => s.href && s.href.endsWith('widget.css'))")
    hex_colour = accent.group(1).lower()
    expected = "rgb({}, {}, {})".format(*(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)))
    expect(launcher).to_have_css("background-color", expected)
