"""A learned second detector for red flags: wording the table does not know yet.

Character n-grams (2 to 5 letters, within words) weighted by tf-idf, and a multinomial
logistic regression over calm / urgent / crisis, trained by
``scripts/build_triage_model.py`` (scikit-learn, at build time only) on the tuning halves
of the outsider-written red-flag sets and on the project's ordinary messages, and saved as
plain numbers in ``knowledge/triage_learned.json``. Read here in pure Python: no
scikit-learn, no pickle, the same answer for the same text.

The table keeps precedence (b12core/safety/triage.py): this detector is asked only about
messages in which the table found nothing at all, not even a negated, past or general
mention of a symptom.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from b12core.knowledge import knowledge_file

MODEL_PATH = knowledge_file("triage_learned.json")
NGRAMS = (2, 5)
CLASSES = ("calm", "urgent", "crisis")
_SPACES = re.compile(r"\s\s+")


class LearnedModelError(ValueError):
    """knowledge/triage_learned.json is missing or malformed."""


def char_ngrams(text: str) -> list[str]:
    """scikit-learn's ``char_wb`` analyser: n-grams of each word padded with spaces."""
    grams = []
    for word in _SPACES.sub(" ", text).split():
        padded = f" {word} "
        for n in range(NGRAMS[0], NGRAMS[1] + 1):
            if len(padded) < n:
                break
            grams.extend(padded[i:i + n] for i in range(len(padded) - n + 1))
    return grams


@dataclass(frozen=True)
class LearnedModel:
    features: dict[str, tuple[float, ...]]  # n-gram -> (idf, weight per class)
    intercepts: tuple[float, ...]
    trained_on: dict[str, int]

    def probabilities(self, text: str) -> dict[str, float]:
        """Class -> probability, for text already normalised by the triage's reader."""
        features = self.features
        counts: dict[str, int] = {}
        for gram in char_ngrams(text):
            if gram in features:
                counts[gram] = counts.get(gram, 0) + 1
        weights = [((1.0 + math.log(n)) * features[g][0], features[g]) for g, n in counts.items()]
        norm = math.sqrt(sum(w * w for w, _ in weights)) or 1.0
        calm, urgent, crisis = self.intercepts
        for weight, (_, w_calm, w_urgent, w_crisis) in weights:
            weight /= norm
            calm += weight * w_calm
            urgent += weight * w_urgent
            crisis += weight * w_crisis
        top = max(calm, urgent, crisis)
        exps = (math.exp(calm - top), math.exp(urgent - top), math.exp(crisis - top))
        total = sum(exps)
        return {c: e / total for c, e in zip(CLASSES, exps, strict=True)}


def read_model(path: Path = MODEL_PATH) -> LearnedModel:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["classes"]) != CLASSES or tuple(data["ngram_range"]) != NGRAMS:
            raise ValueError("classes or n-gram range differ from this reader")
        features = {g: tuple(float(x) for x in v) for g, v in data["features"].items()}
        if not features or any(len(v) != len(CLASSES) + 1 for v in features.values()):
            raise ValueError("every feature needs an idf and one weight per class")
        intercepts = tuple(float(x) for x in data["intercepts"])
        if len(intercepts) != len(CLASSES):
            raise ValueError("one intercept per class")
        return LearnedModel(features, intercepts, dict(data["trained_on"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LearnedModelError(f"{path}: {exc} (rebuild: python scripts/build_triage_model.py)"
                                ) from None


@lru_cache(maxsize=1)
def load_model() -> LearnedModel:
    return read_model()
