"""Held-out NLU evaluation: patient messages never used for training.

Intent accuracy uses the trained model (loaded once, in process); lab-value
extraction uses the one parser in b12core/labs, exactly as the dialogue does.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest
import yaml

from b12core.labs import parse
from tests.e2e.stack import model_path


@pytest.fixture(scope="module")
def heldout(heldout_messages):
    return heldout_messages


@pytest.fixture(scope="module")
def predictions(heldout):
    from rasa.core.agent import Agent

    async def run():
        agent = Agent.load(str(model_path()))
        return [await agent.parse_message(m["text"]) for m in heldout]

    return asyncio.run(run())


def test_heldout_set_is_large_and_unseen(heldout, project_root):
    assert len(heldout) >= 150
    training = set()
    for path in (project_root / "data" / "nlu").glob("*.yml"):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            training.update(
                line[2:].strip().lower() for line in block["examples"].splitlines() if line
            )
    assert not [m["text"] for m in heldout if m["text"].strip().lower() in training]


def test_intent_accuracy_on_heldout_messages(heldout, predictions, report_figure):
    misses = [
        (m["text"], m["intent"], p["intent"]["name"])
        for m, p in zip(heldout, predictions, strict=True)
        if p["intent"]["name"] != m["intent"]
    ]
    accuracy = 1 - len(misses) / len(heldout)
    report_figure(f"NLU held-out intent accuracy: {len(heldout) - len(misses)}/{len(heldout)} "
                  f"= {accuracy:.1%}")
    for text, want, got in misses:
        print(f"  miss: {text!r}: want {want}, got {got}")
    per_intent = Counter(want for _, want, _ in misses)
    print(f"  misses per intent: {dict(per_intent)}")
    assert accuracy >= 0.95


def _expected(message) -> tuple:
    labs = tuple(sorted(
        (lab["analyte"], Decimal(str(lab["value"])), lab["unit"]) for lab in message["labs"]
    ))
    return labs, message.get("condition", "unknown")


def _extracted(text: str) -> tuple:
    panel = parse(text)
    labs = tuple(sorted((v.analyte, v.value, v.unit) for v in panel.values))
    return labs, panel.condition


def test_lab_value_extraction_on_heldout_messages(heldout, report_figure):
    with_labs = [m for m in heldout if m.get("labs")]
    misses = [
        (m["text"], _expected(m), _extracted(m["text"]))
        for m in with_labs
        if _extracted(m["text"]) != _expected(m)
    ]
    rate = 1 - len(misses) / len(with_labs)
    report_figure(f"NLU held-out lab-value extraction (values, units and condition exact): "
                  f"{len(with_labs) - len(misses)}/{len(with_labs)} = {rate:.1%}")
    for text, want, got in misses:
        print(f"  miss: {text!r}\n    want {want}\n    got  {got}")
    assert len(with_labs) >= 40
    assert rate >= 0.98
