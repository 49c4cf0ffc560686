"""The parser's vocabulary file: required groups, one owner per spelling."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from b12core.labs.vocabulary import VOCABULARY_PATH, VocabularyError, load_vocabulary


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(VOCABULARY_PATH.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "lab_vocabulary.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_project_vocabulary_loads():
    vocabulary = load_vocabulary()
    assert "cobalamin" in vocabulary.spellings("analytes", "b12")
    assert set(vocabulary.units) == {
        "pmol/L", "pg/mL", "ng/L", "µmol/L", "nmol/L", "nmol/mL", "ng/mL", "µg/L"
    }


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["analytes"].pop("mma"), r"'analytes' must have exactly"),
        (lambda d: d["other_tests"].append("B12"), r"'B12' is listed under both analytes.b12"),
        (lambda d: d["conditions"]["nash"].append(""), r"conditions.nash: '' is not a spelling"),
        (lambda d: d.pop("negations"), r"negations must be a non-empty list"),
    ],
)
def test_malformed_vocabulary_fails_fast(tmp_path, mutate, message):
    with pytest.raises(VocabularyError, match=message):
        load_vocabulary(_write(tmp_path, mutate))
