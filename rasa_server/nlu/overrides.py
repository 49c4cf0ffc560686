"""The shape both deterministic intent components share: a table decides, at 1.0."""

from __future__ import annotations

import abc
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


class IntentOverride(GraphComponent, abc.ABC):
    """Sets a message's intent at confidence 1.0 when ``intent_for`` names one.

    Not registered itself (only its subclasses are, in rasa_server/nlu/*.py).
    """

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> IntentOverride:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    @abc.abstractmethod
    def intent_for(self, text: str) -> str | None:
        """The intent this message must have, or None to leave the NLU's choice."""

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            name = self.intent_for(message.get(TEXT) or "")
            if name is not None:
                set_intent(message, name)
        return messages


def set_intent(message: Message, name: str) -> None:
    """``name`` at 1.0, first in the ranking."""
    intent = {"name": name, "confidence": 1.0}
    ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != name]
    message.set(INTENT, intent, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [intent, *ranking], add_to_output=True)
