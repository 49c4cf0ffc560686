"""Red flags override the intent, so urgent-care advice never depends on NLU confidence."""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from actions.safety import detect_red_flags
from nlu_components.overrides import IntentOverride

RED_FLAG_INTENT = "report_red_flag"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class RedFlagClassifier(IntentOverride):
    """Place last in the pipeline: a red-flag message gets ``report_red_flag`` at 1.0."""

    def intent_for(self, text: str) -> str | None:
        return RED_FLAG_INTENT if detect_red_flags(text) else None
