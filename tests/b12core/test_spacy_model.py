"""The project's spaCy pipeline: built here, loaded by path, lemmas fit for retrieval."""

from __future__ import annotations

import spacy

from b12core.spacy_model import MODEL_DIR, build_pipeline, load_pipeline


def test_saved_pipeline_exists_and_has_the_components_rasa_needs():
    nlp = spacy.load(MODEL_DIR)
    assert nlp.pipe_names == ["sentencizer", "lemmatizer"]


def test_loading_without_the_saved_tokenizer_tokenises_identically():
    text = "My B12 was 1,100 pg/mL (e.g. high) and homocysteine 17.2 umol/L. Don't worry?"
    full = spacy.load(MODEL_DIR)
    fast = load_pipeline(with_sentences=False)
    assert [t.text for t in full(text)] == [t.text for t in fast(text)]
    assert [t.lemma_ for t in full(text)] == [t.lemma_ for t in fast(text)]


def test_lemma_fixes_apply():
    nlp = build_pipeline()
    assert [t.lemma_ for t in nlp("liver livers does supplements")] == [
        "liver",
        "liver",
        "do",
        "supplement",
    ]


def test_sentences_split_at_full_stops_but_not_inside_abbreviations():
    nlp = load_pipeline()
    doc = nlp("A true deficiency is confirmed (e.g., via MMA test). The RDA is 2.4 mcg.")
    assert [s.text for s in doc.sents] == [
        "A true deficiency is confirmed (e.g., via MMA test).",
        "The RDA is 2.4 mcg.",
    ]
