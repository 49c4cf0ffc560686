"""Short replies ("no", "not sure", "start over") get the same intent at every step.

A message that is exactly one of knowledge/replies.yml's phrasings gets its intent at
1.0, whatever the intent model thought: a one-word answer must never depend on a
classifier's confidence. Placed after FallbackClassifier and before RedFlagClassifier
(red flags still win).
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from b12core.replies import reply_table
from rasa_server.nlu.overrides import IntentOverride


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class ReplyClassifier(IntentOverride):
    """Exact short replies get their intent at 1.0 (knowledge/replies.yml)."""

    def __init__(self) -> None:
        self.table = reply_table()  # loaded (and validated) with the model, not per message

    def intent_for(self, text: str) -> str | None:
        return self.table.intent(text)
