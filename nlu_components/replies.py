"""Short replies ("no", "not sure", "start over") get the same intent at every step.

A message that is exactly one of knowledge/replies.yml's phrasings gets its intent at
1.0, whatever the intent model thought: a one-word answer must never depend on a
classifier's confidence. Placed after FallbackClassifier and before RedFlagClassifier
(red flags still win).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from actions.replies import reply_table


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class ReplyClassifier(GraphComponent):
    """Exact short replies get their intent at 1.0 (knowledge/replies.yml)."""

    def __init__(self) -> None:
        self.table = reply_table()  # loaded (and validated) with the model, not per message

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ReplyClassifier:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            name = self.table.intent(message.get(TEXT) or "")
            if name is None:
                continue
            intent = {"name": name, "confidence": 1.0}
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != name]
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [intent, *ranking], add_to_output=True)
        return messages
