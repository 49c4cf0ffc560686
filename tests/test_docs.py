"""The README is a map, and the map's links lead somewhere.

README.md stays short (issue 18: what it is, the commands, where things live, links); every
relative link in it and in docs/*.md names an existing file (and, for a Markdown page, an
existing heading when it names one); every docs page the README names exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 220
# Pages that point into docs/ (the pointers left where the text used to be).
POINTERS = [ROOT / "rasa_server" / "channels" / "README.md", ROOT / "web" / "README.md"]
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), *POINTERS]

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def prose(path: Path) -> str:
    """The page without its fenced code blocks (links there are examples, not links)."""
    kept, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(line)
    return "\n".join(kept)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip())
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in prose(path).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            anchor, n = base, 1
            while anchor in found:  # GitHub numbers repeated headings
                anchor, n = f"{base}-{n}", n + 1
            found.add(anchor)
    return found


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)]


def test_the_readme_is_a_map_not_a_manual():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines (at most {MAX_README_LINES}): move details to docs/")


def test_the_readme_keeps_the_commands_ci_and_newcomers_use():
    text = README.read_text(encoding="utf-8")
    for command in ("make run", "make test", "make shell"):  # .ci/run runs the README's `make test`
        assert command in text, command


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_an_existing_file(page):
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_every_docs_page_the_readme_names_exists():
    named = set(re.findall(r"docs/[\w.-]+\.md", README.read_text(encoding="utf-8")))
    assert named, "the README links no docs page"
    missing = sorted(name for name in named if not (ROOT / name).is_file())
    assert not missing, f"README.md names missing docs pages: {missing}"


def test_every_docs_page_is_reachable_from_the_readme():
    text = README.read_text(encoding="utf-8")
    orphans = sorted(p.name for p in (ROOT / "docs").glob("*.md")
                     if f"docs/{p.name}" not in text and p.name != "performance-history.md")
    assert not orphans, f"docs pages the README does not link: {orphans}"
