"""Red flags override the intent, so urgent-care advice never depends on NLU confidence."""

from __future__ import annotations

import logging

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from b12core.safety import triage
from rasa_server.nlu.overrides import IntentOverride, set_intent

RED_FLAG_INTENT = "report_red_flag"
NO_INTENT = {"name": "out_of_scope", "confidence": 0.0}
logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class RedFlagClassifier(IntentOverride):
    """Place last in the pipeline: the triage alone decides ``report_red_flag``.

    A message triaged urgent or crisis gets it at 1.0; a message the intent model guessed
    as ``report_red_flag`` that the triage does not flag (a question about a symptom, a
    negation, history) gets the model's next intent, so it is answered, not alarmed.
    """

    def intent_for(self, text: str) -> str | None:
        return RED_FLAG_INTENT if triage(text).urgent else None

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            verdict = triage(message.get(TEXT) or "")
            intent = message.get(INTENT) or {}
            if verdict.urgent:
                set_intent(message, RED_FLAG_INTENT)
            elif intent.get("name") == RED_FLAG_INTENT:
                ranking = [r for r in message.get(INTENT_RANKING_KEY) or []
                           if r.get("name") != RED_FLAG_INTENT]
                fallback = dict(ranking[0]) if ranking else dict(NO_INTENT)
                logger.info("report_red_flag guessed by the model, not by the triage "
                            "table: %s instead", fallback["name"])
                message.set(INTENT, fallback, add_to_output=True)
                message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
