"""Train the triage's learned detector and write knowledge/triage_learned.json.

    .venv/bin/python scripts/build_triage_model.py

Training data: the tuning halves of the outsider-written red-flag sets (never a held-out
half: tests/b12core/safety/redflag_sets.py says which is which), labelled calm / urgent / crisis
(self-harm), and every other message of the project's test sets as calm. The file stores
the n-grams' idf and weights as plain numbers, and a digest of the training data, so a
test can tell when the model is older than its data (b12core/safety/learned.py reads it).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

C = 10.0
MIN_DF = 2
DECIMALS = 6


def training_data() -> tuple[list[str], list[str]]:
    from b12core.safety.triage import normalise
    from tests.b12core.safety.redflag_sets import ordinary_messages, tune_cases

    texts, labels = [], []
    for case in tune_cases():
        texts.append(normalise(case.text))
        labels.append("calm" if not case.urgent else
                      "crisis" if case.klass == "self_harm" else "urgent")
    for text in ordinary_messages():
        texts.append(normalise(text))
        labels.append("calm")
    return texts, labels


def digest(texts: list[str], labels: list[str]) -> str:
    joined = "\n".join(sorted(f"{label}\t{text}" for text, label in zip(texts, labels,
                                                                         strict=True)))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def train(texts: list[str], labels: list[str]) -> dict:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from b12core.safety.learned import CLASSES, NGRAMS

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAMS, min_df=MIN_DF,
                                 sublinear_tf=True, lowercase=False, dtype=np.float64)
    matrix = vectorizer.fit_transform(texts)
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=5000)
    model.fit(matrix, labels)
    order = [list(model.classes_).index(c) for c in CLASSES]
    features = {}
    for gram, column in sorted(vectorizer.vocabulary_.items()):
        weights = [round(float(model.coef_[k][column]), DECIMALS) for k in order]
        features[gram] = [round(float(vectorizer.idf_[column]), DECIMALS), *weights]
    return {
        "version": 1,
        "classes": list(CLASSES),
        "ngram_range": list(NGRAMS),
        "intercepts": [round(float(model.intercept_[k]), DECIMALS) for k in order],
        "trained_on": {"messages": len(texts), **{c: labels.count(c) for c in CLASSES},
                       "digest": digest(texts, labels)},
        "features": features,
    }


def main() -> int:
    from b12core.safety.learned import MODEL_PATH

    texts, labels = training_data()
    data = train(texts, labels)
    MODEL_PATH.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n",
                          encoding="utf-8")
    print(f"{MODEL_PATH.relative_to(PROJECT_ROOT)}: {len(data['features'])} n-grams, "
          f"trained on {data['trained_on']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
