"""The project's own spaCy pipeline: blank English, a sentencizer and lookup lemmas.

No pretrained pipeline can be downloaded on our machines, so we build one from
``spacy.blank("en")`` and the ``spacy-lookups-data`` lemma table, save it under
``var/`` and load it by path (Rasa's SpacyNLP reads the same directory).

Run ``python -m b12core.spacy_model [PATH]`` to build it.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

from b12core.knowledge import PROJECT_ROOT

MODEL_DIR = PROJECT_ROOT / "var" / "spacy" / "en_b12_liver"

# The generic lookup table is wrong for a few words that matter here
# ("liver" -> "live" would make liver questions match "living").
LEMMA_FIXES = {
    "liver": "liver",
    "livers": "liver",
    "does": "do",
    "matter": "matter",
    "matters": "matter",
    "b12s": "b12",
    "fibrosis": "fibrosis",
}


def build_pipeline():
    """A fresh pipeline; deterministic for a given spaCy and lookups-data version."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    lemmatizer = nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    table = lemmatizer.lookups.get_table("lemma_lookup")
    for word, lemma in LEMMA_FIXES.items():
        table[word] = lemma
    nlp.meta["name"] = "b12_liver"
    nlp.meta["description"] = (
        "Blank English tokenizer, sentencizer and lookup lemmatizer "
        "(spacy-lookups-data), built by b12core/spacy_model.py"
    )
    return nlp


def save_pipeline(path: Path = MODEL_DIR) -> Path:
    nlp = build_pipeline()
    path.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(path)
    return path


@lru_cache(maxsize=2)
def load_pipeline(path: Path = MODEL_DIR, with_sentences: bool = True):
    """The saved pipeline, once per process; built in memory if it was never saved.

    The saved tokenizer is spaCy's stock English one, so it is not read back:
    rebuilding it from disk re-adds its 4,000 special cases (about 100 ms).
    Search needs no sentence boundaries and skips the sentencizer too.
    """
    import spacy

    if not (path / "config.cfg").exists():
        return build_pipeline()
    exclude = ["tokenizer"] if with_sentences else ["tokenizer", "sentencizer"]
    return spacy.load(path, exclude=exclude)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else MODEL_DIR
    print(f"spaCy pipeline saved to {save_pipeline(target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
