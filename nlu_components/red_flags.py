"""Red flags override the intent, so urgent-care advice never depends on NLU confidence."""

from __future__ import annotations

import logging

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from actions.safety import load_triage_table, triage
from nlu_components.overrides import IntentOverride, set_intent

RED_FLAG_INTENT = "report_red_flag"
NO_INTENT = {"name": "out_of_scope", "confidence": 0.0}
logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class RedFlagClassifier(IntentOverride):
    """Place last in the pipeline: the triage table decides ``report_red_flag``.

    A message triaged urgent or crisis gets it at 1.0. A message the model guessed as
    ``report_red_flag`` keeps it only if the table found nothing in it at all and the
    model is all but sure (``model_backup_confidence`` in knowledge/triage.yml); when the
    table found a symptom negated, past or asked about, the model's next intent is used,
    so the message is answered, not alarmed.
    """

    def intent_for(self, text: str) -> str | None:
        return RED_FLAG_INTENT if triage(text).urgent else None

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            verdict = triage(message.get(TEXT) or "")
            intent = message.get(INTENT) or {}
            if verdict.urgent:
                set_intent(message, RED_FLAG_INTENT)
            elif intent.get("name") == RED_FLAG_INTENT and not verdict.findings and (
                intent.get("confidence") or 0.0
            ) >= load_triage_table().model_backup_confidence:
                # Wording the table does not know, that the model is all but sure of: a
                # second detector, never the only one (it cannot overrule the table's
                # negation, history or question context: those have findings).
                logger.info("report_red_flag from the model alone, kept (confidence >= %s)",
                            load_triage_table().model_backup_confidence)
            elif intent.get("name") == RED_FLAG_INTENT:
                ranking = [r for r in message.get(INTENT_RANKING_KEY) or []
                           if r.get("name") != RED_FLAG_INTENT]
                fallback = dict(ranking[0]) if ranking else dict(NO_INTENT)
                logger.info("report_red_flag guessed by the model, not by the triage "
                            "table: %s instead", fallback["name"])
                message.set(INTENT, fallback, add_to_output=True)
                message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
