"""Rasa's CountVectorsFeaturizer and DIETClassifier with their serving speed-ups.

Named in config.yml (``rasa_server.nlu.serving.CountVectorsFeaturizer`` and
``rasa_server.nlu.serving.DIETClassifier``), so the model says what runs. They train and
persist exactly as Rasa's own (same configuration, same files: the classes keep Rasa's
names, which Rasa uses for file names and for ``rasa test``'s extractor checks), and
behave as Rasa's own unless ``rasa_server.patches.speedups_on()``: only the launcher turns
that on, after its version gate, so ``rasa train``, a bare ``rasa run`` and
``B12_SPEEDUPS=off`` run Rasa's code.

- Count vectors: sklearn's ``transform`` builds and sorts a CSR matrix that Rasa converts
  to COO, four times a message; the same analyzer and vocabulary fill the COO arrays
  directly (``fastpaths.count_matrix``).
- DIET predicts through its one concrete TensorFlow function with inputs already typed,
  and is loaded for serving without tracing a training step (``fastpaths``).

Parity with Rasa's own: tests/rasa_server/test_graph.py.
"""

from __future__ import annotations

import functools
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers import diet_classifier
from rasa.nlu.featurizers.sparse_featurizer import count_vectors_featurizer
from rasa.utils.tensorflow.models import RasaModel

from rasa_server import fastpaths, patches


@functools.cache
def _fast_create_features():
    return fastpaths._fast_create_features(
        count_vectors_featurizer.CountVectorsFeaturizer._create_features)


@functools.cache
def _fast_predict():
    return fastpaths._concrete_predict(RasaModel._rasa_predict)


@functools.cache
def _fast_load():
    return fastpaths._fast_load(RasaModel.__dict__["load"].__func__).__func__


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class CountVectorsFeaturizer(count_vectors_featurizer.CountVectorsFeaturizer):
    """Rasa's featurizer; count matrices built directly when serving with the speed-ups."""

    def _create_features(self, attribute, all_tokens):
        if patches.speedups_on():
            return _fast_create_features()(self, attribute, all_tokens)
        return super()._create_features(attribute, all_tokens)


class DIET(diet_classifier.DIET):
    """Rasa's DIET model; the direct call and the serving load with the speed-ups."""

    def _rasa_predict(self, batch_in) -> dict[str, Any]:
        if patches.speedups_on():
            return _fast_predict()(self, batch_in)
        return super()._rasa_predict(batch_in)

    @classmethod
    def load(cls, *args: Any, **kwargs: Any) -> DIET:
        if patches.speedups_on():
            return _fast_load()(cls, *args, **kwargs)
        return super().load(*args, **kwargs)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
     DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=True,
)
class DIETClassifier(diet_classifier.DIETClassifier):
    """Rasa's DIETClassifier, building the DIET model above."""

    @staticmethod
    def model_class() -> type[RasaModel]:
        return DIET
