"""The article copy and the KB built from it: verbatim, deterministic, fresh."""

from __future__ import annotations

import hashlib
import re

from b12core.kb.build import KB_PATH, build_kb_json, extract_passages

# sha256 of ../shared/seeds/000_07cf97bd7481066e.txt, the article as provided.
SEED_SHA256 = "b27c0760748533e54a01006fa91b1efa410dd0699b9b251953e877fbe36f76d1"


def test_article_is_the_seed_with_headings_marked(article_text):
    unmarked = re.sub(r"(?m)^#{1,2} ", "", article_text)
    assert unmarked.endswith("\n")
    assert hashlib.sha256(unmarked[:-1].encode("utf-8")).hexdigest() == SEED_SHA256
    headings = re.findall(r"(?m)^(#{1,2}) (.+)$", article_text)
    assert headings[0] == ("#", "The Complex Role of Vitamin B12 in Liver Health")
    assert [h for _, h in headings[1:]] == [
        "B12, the Liver, and Misleading Blood Levels",
        "Potential Benefits of B12 for Advanced Fatty Liver",
        "Recommended B12 Dosages",
        "Sources of B12: Food vs. Supplements",
        "Important Considerations for Fatty Liver Patients",
        "Conclusion: Navigating B12 for Liver Health",
    ]


def test_kb_json_is_not_stale(article_text):
    """Fails when article.md or the builder changed without `make kb`."""
    assert KB_PATH.read_text(encoding="utf-8") == build_kb_json(article_text)


def test_build_is_deterministic(article_text):
    assert build_kb_json(article_text) == build_kb_json(article_text)


def test_every_passage_is_verbatim_at_its_offsets(kb, article_text):
    assert len(kb.passages) == 32
    for p in kb.passages:
        assert article_text[p.start : p.end] == p.text, p.passage_id
        for cell in p.cells:
            assert article_text[cell.start : cell.end] == cell.text


def test_passage_kinds_follow_the_article_structure(kb):
    kinds = {}
    for p in kb.passages:
        kinds.setdefault(p.kind, []).append(p)
    assert len(kinds["table_row"]) == 4
    assert [p.cells[0].text for p in kinds["table_row"]] == [
        "Availability",
        "Absorption Rate",
        "Dose Control",
        "Monitoring Needs",
    ]
    assert [c.header for c in kinds["table_row"][0].cells] == [
        "Feature",
        "B12 from Food",
        "B12 from Supplements",
    ]
    assert [p.text.split(":")[0] for p in kinds["bullet"]] == [
        "Low B12",
        "High Homocysteine",
        "Functional Deficiency",
        "Overall Nutrition",
    ]
    assert len(kinds["sentence"]) == 24
    # "(e.g., via MMA test)" must not split a sentence; the bullet stays whole.
    assert "e.g., via MMA test" in kinds["bullet"][0].text


def test_passage_ids_are_stable_and_unique(kb):
    ids = [p.passage_id for p in kb.passages]
    assert len(set(ids)) == len(ids)
    assert ids[0] == "the-complex-role-of-vitamin-b12-in-liver-health-01"
    assert "recommended-b12-dosages-03" in ids
    assert kb.passage("recommended-b12-dosages-03").text == (
        "Studies exploring B12 in NAFLD have used doses like 1000 mcg daily."
    )


def test_text_before_a_heading_is_rejected():
    import pytest

    with pytest.raises(ValueError, match="before the first heading"):
        extract_passages("orphan sentence.\n# Title\n")
