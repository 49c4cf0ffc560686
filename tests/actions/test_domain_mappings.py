"""domain.yml's slot mappings call the extraction action exactly when it would read values."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.lab_check import FORM, reads_lab_values

DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text())
INTENTS = [*DOMAIN["intents"], "nlu_fallback"]


def mapping_calls(mapping: dict, intent: str, form_active: bool) -> bool:
    """Rasa's rule for a custom mapping: intent/not_intent, then active_loop conditions."""
    if mapping.get("intent") and intent not in mapping["intent"]:
        return False
    if intent in mapping.get("not_intent", []):
        return False
    loops = [c["active_loop"] for c in mapping.get("conditions", [])]
    return not loops or (form_active and FORM in loops)


def extraction_slots() -> dict[str, list[dict]]:
    return {name: slot["mappings"] for name, slot in DOMAIN["slots"].items()
            if any(m.get("action") == "action_extract_lab_values" for m in slot["mappings"])}


def test_every_lab_slot_is_filled_by_the_extraction_action():
    assert {"b12", "homocysteine", "mma", "folate", "condition", "lab_issues",
            "pending_value", "quick_check"} <= set(extraction_slots())


@pytest.mark.parametrize("form_active", [False, True])
@pytest.mark.parametrize("intent", INTENTS)
def test_mappings_agree_with_the_action(intent, form_active):
    # Rasa runs the action once if any slot's mapping applies, and keeps every slot it sets.
    called = any(mapping_calls(m, intent, form_active)
                 for mappings in extraction_slots().values() for m in mappings)
    assert called == reads_lab_values(intent, form_active)
