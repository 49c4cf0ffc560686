"""Per-message and start-up costs of Rasa 3.6 removed without changing any result.

- ``Event.resolve_by_type`` walks every Event subclass (with ``inspect``) for
  each event Rasa deserialises: every event an action returns, every stored
  event it loads. A table of the names found is consulted first; a name not in
  it goes the original way (and is added if found then).
- DIET (``RasaModel._rasa_predict``) calls its ``tf.function`` with a fixed
  input signature, so there is exactly one concrete function; calling it
  with the inputs already converted to the signature's types skips matching
  them against the signature on every message. That uses
  ``ConcreteFunction._call_flat``, TensorFlow's own inner call (TF is pinned
  at 2.12; tests/rasa_server/test_graph.py compares every output with
  Rasa's). The first call, which builds the function, still goes through Rasa.
  Its array inputs become tensors the way ``tf.convert_to_tensor`` ends up
  making them when executing eagerly, without its dispatch layers.
- Each message's sparse features (word and character counts) are joined side by
  side with ``scipy.sparse.hstack``, a general block builder; two
  coordinate-format matrices are joined directly, giving the same arrays in the
  same order (tested); anything else goes to scipy as before.
- Every tracker Rasa builds (one per past turn, each time a policy reads the
  conversation) copies each slot with ``copy.copy``, which goes through the
  generic pickle protocol. ``Slot.__copy__`` does the same shallow copy
  directly (a new instance with the same attribute dict).
- Loading DIET (``RasaModel.load``), Rasa runs one training step on an example
  to create the weights, tracing the whole training graph (gradients,
  optimiser): about half of the server's start-up. For serving, one prediction
  on Rasa's own example creates the weights the prediction uses; the saved
  weights are then loaded into them, and the load must have matched every one
  of them (``assert_existing_objects_matched``), else Rasa's own load runs
  instead; then Rasa's warm-up prediction, from the loaded weights.
- ``RulePolicy._get_possible_keys`` tests every rule (100 here) against the
  latest state, two or three times per message. A rule can only apply if every
  previous-action value it names equals the conversation's; rules are indexed by
  those values once, and only the rules whose values the conversation has (and
  those naming none) go through Rasa's own check, for every turn as before.
- Each CountVectorsFeaturizer turns a message into two count matrices
  (per token, and the whole message) with sklearn's ``transform``, which builds
  a CSR matrix, sorts it, and Rasa converts it to COO: matrix bookkeeping
  around a few microseconds of counting, four times per message.
  ``count_matrix`` counts with the same analyzer and vocabulary and builds the
  COO matrix directly (the same arrays and dtypes: tests/rasa_server/test_graph.py
  compares every NLU example); anything but a fitted CountVectorizer goes to
  Rasa's own code.
``install`` (through rasa_server.patches) installs the patches among these; the count
vectors and DIET ones are used by the subclasses of rasa_server.nlu.serving, which
config.yml names. Serving gets them and training does not. What each is worth:
docs/performance.md (``scripts/bench_patches.py``).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import scipy.sparse
from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET
from rasa.shared.core.events import Event
from scipy.sparse._sputils import get_index_dtype, upcast

_INSTALLED = "_b12_fastpaths"
_BY_TYPE: dict[str, type[Event]] = {}


def _resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    found = _BY_TYPE.get(type_name)
    if found is not None:
        return found
    found = _ORIGINAL_RESOLVE(type_name, default)
    if found is not None and getattr(found, "type_name", None) == type_name:
        _BY_TYPE[type_name] = found  # a real match, not the caller's default
    return found


_ORIGINAL_RESOLVE = Event.resolve_by_type


def _concrete_predict(original):
    import tensorflow as tf
    from keras.utils import tf_utils
    from rasa.shared.constants import DIAGNOSTIC_DATA
    from tensorflow.python.eager import context
    from tensorflow.python.framework import constant_op

    def to_tensor(value, dtype):
        # What tf.convert_to_tensor does for an array when executing eagerly
        # (registry -> constant -> _constant_eager_impl), without the dispatch layers.
        if type(value) is np.ndarray and context.executing_eagerly():
            return constant_op.convert_to_eager_tensor(value, context.context(), dtype)
        return tf.convert_to_tensor(value, dtype=dtype)

    def _rasa_predict(self, batch_in) -> dict[str, Any]:
        step = getattr(self, "_tf_predict_step", None)
        if self._run_eagerly or step is None or not self.prepared_for_prediction:
            return original(self, batch_in)
        cached = self.__dict__.get("_b12_concrete")
        if cached is None or cached[0] is not step:
            function = step.get_concrete_function()
            dtypes = [spec.dtype for spec in tf.nest.flatten(function.structured_input_signature)]
            cached = self.__dict__["_b12_concrete"] = (step, function, dtypes)
        _, function, dtypes = cached
        inputs = tf.nest.flatten(batch_in)
        if len(inputs) != len(dtypes):
            return original(self, batch_in)
        self._training = False
        args = [to_tensor(value, dtype) for value, dtype in zip(inputs, dtypes, strict=True)]
        outputs = tf_utils.sync_to_numpy_or_python_type(
            function._call_flat(args, function.captured_inputs)
        )
        if DIAGNOSTIC_DATA in outputs:
            outputs[DIAGNOSTIC_DATA] = self._empty_lists_to_none_in_dict(
                outputs[DIAGNOSTIC_DATA]
            )
        return outputs

    return _rasa_predict


def _fast_load(original):
    import tensorflow as tf
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY

    def load(cls, model_file_name, model_data_example, predict_data_example=None,
             finetune_mode: bool = False, *args: Any, **kwargs: Any):
        if finetune_mode or predict_data_example is None:
            return original(cls, model_file_name, model_data_example, predict_data_example,
                            finetune_mode, *args, **kwargs)
        config = kwargs.get("config", {})
        model = cls(*args, **kwargs)
        model.compile(optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
                      run_eagerly=config.get(RUN_EAGERLY))
        model.run_inference(predict_data_example)
        status = model.load_weights(model_file_name)
        try:
            status.assert_existing_objects_matched()
        except (AssertionError, AttributeError):
            return original(cls, model_file_name, model_data_example, predict_data_example,
                            finetune_mode, *args, **kwargs)
        status.expect_partial()  # the optimiser's saved state is not needed to predict
        # The first prediction also computed what Rasa derives from the weights once
        # (e.g. DIET's label embeddings) and traced it into the function: from the
        # initial weights. Both again, from the loaded ones, as Rasa's load ends.
        model.prepared_for_prediction = False
        model._tf_predict_step = None
        model.run_inference(predict_data_example)
        model.__dict__["_b12_fast_loaded"] = True
        return model

    return classmethod(load)


def coo(data: np.ndarray, row: np.ndarray, col: np.ndarray, shape: tuple[int, int]):
    """``coo_matrix((data, (row, col)), shape=shape)``: scipy's own constructor and checks
    (skipping them was measured within the A/B noise and dropped)."""
    return scipy.sparse.coo_matrix((data, (row, col)), shape=shape)


def hstack_coo(left, right):
    """``scipy.sparse.hstack([left, right])`` for two coo_matrix, or None for other inputs.

    The same steps as scipy's ``bmat`` for coordinate blocks (scipy is pinned),
    without its general block bookkeeping.
    """
    if not (type(left) is scipy.sparse.coo_matrix and type(right) is scipy.sparse.coo_matrix):
        return None
    shape = (left.shape[0], left.shape[1] + right.shape[1])
    index = get_index_dtype(maxval=max(shape))
    data = np.concatenate([left.data, right.data]).astype(upcast(left.dtype, right.dtype),
                                                           copy=False)
    row = np.concatenate([left.row.astype(index, copy=False), right.row.astype(index, copy=False)])
    col = np.concatenate([left.col.astype(index, copy=False),
                          np.add(right.col, left.shape[1], dtype=index)])
    return coo(data, row, col, shape)


def _fast_combine(original):
    def _combine_sparse_features(self, additional_features) -> None:
        if self.features.shape[0] == additional_features.features.shape[0]:
            joined = hstack_coo(self.features, additional_features.features)
            if joined is not None:
                self.features = joined
                self._cached_fingerprint = None
                return
        original(self, additional_features)

    return _combine_sparse_features


_ANALYZERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def count_matrix(vectorizer, documents: list[str]) -> scipy.sparse.coo_matrix:
    """``vectorizer.transform(documents)``, indices sorted, as COO (what Rasa makes of it)."""
    analyze = _ANALYZERS.get(vectorizer)
    if analyze is None:
        analyze = _ANALYZERS[vectorizer] = vectorizer.build_analyzer()
    vocabulary = vectorizer.vocabulary_
    rows: list[int] = []
    columns: list[int] = []
    counts: list[int] = []
    for row, document in enumerate(documents):
        counter: dict[int, int] = {}
        for feature in analyze(document):
            column = vocabulary.get(feature)
            if column is not None:
                counter[column] = counter.get(column, 0) + 1
        for column in sorted(counter):
            rows.append(row)
            columns.append(column)
            counts.append(counter[column])
    shape = (len(documents), len(vocabulary))
    index = get_index_dtype(maxval=max(shape))
    data = np.array([1] * len(counts) if vectorizer.binary else counts, dtype=vectorizer.dtype)
    return coo(data, np.array(rows, dtype=index), np.array(columns, dtype=index), shape)


def _fast_create_features(original):
    from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES
    from sklearn.feature_extraction.text import CountVectorizer

    def _create_features(self, attribute, all_tokens):
        vectorizer = self.vectorizers.get(attribute)
        if (type(vectorizer) is not CountVectorizer
                or not hasattr(vectorizer, "vocabulary_")):
            return original(self, attribute, all_tokens)
        sequence_features: list = []
        sentence_features: list = []
        for tokens in all_tokens:
            if isinstance(tokens, str):  # sklearn refuses a bare string: let it say so
                return original(self, attribute, all_tokens)
            if not tokens:
                sequence_features.append(None)
                sentence_features.append(None)
                continue
            sequence_features.append(count_matrix(vectorizer, tokens))
            if attribute in DENSE_FEATURIZABLE_ATTRIBUTES:
                sentence_features.append(count_matrix(vectorizer, [" ".join(tokens)]))
            else:
                sentence_features.append(None)
        return sequence_features, sentence_features

    return _create_features


class RuleIndex:
    """A rule policy lookup's rule keys grouped by the previous-action values their
    last state requires (a superset of the rules that can apply, never fewer)."""

    def __init__(self, lookup: dict[str, Any]) -> None:
        from rasa.core.policies.rule_policy import RulePolicy

        self.lookup = lookup
        self.size = len(lookup)
        self.unindexed: list[str] = []
        self.by_values: dict[frozenset, list[str]] = {}
        for key in lookup:
            states = RulePolicy._rule_key_to_state(key)
            previous = states[-1].get(PREVIOUS_ACTION) if states else None
            if not previous:
                self.unindexed.append(key)
                continue
            required = frozenset((name, value) for name, value in previous.items()
                                 if isinstance(value, str) and value
                                 and value != SHOULD_NOT_BE_SET)
            self.by_values.setdefault(required, []).append(key)

    def candidates(self, last_state: dict[str, Any]) -> set[str]:
        previous = last_state.get(PREVIOUS_ACTION) or {}
        have = {(name, value) for name, value in previous.items() if isinstance(value, str)}
        found = set(self.unindexed)
        for required, keys in self.by_values.items():
            if required <= have:
                found.update(keys)
        return found


def _indexed_possible_keys(original):
    indexes: dict[int, RuleIndex] = {}

    def _get_possible_keys(self, lookup: dict[str, Any], states: list) -> set[str]:
        if not states:
            return original(self, lookup, states)
        index = indexes.get(id(lookup))
        if index is None or index.lookup is not lookup or index.size != len(lookup):
            if len(indexes) > 32:  # models loaded one after another: keep it bounded
                indexes.clear()
            index = indexes[id(lookup)] = RuleIndex(lookup)
        # Rasa's own filter, from the candidates instead of every key.
        possible_keys = index.candidates(states[-1])
        for i, state in enumerate(reversed(states)):
            possible_keys = {key for key in possible_keys
                             if self._is_rule_applicable(key, i, state)}
        return possible_keys

    return _get_possible_keys


def copy_slot(self):
    """What copy.copy does for a plain instance (Slot defines no __reduce__ or state hooks)."""
    new = self.__class__.__new__(self.__class__)
    new.__dict__.update(self.__dict__)
    return new


def _event_lookup_table() -> None:
    Event.resolve_by_type = staticmethod(_resolve_by_type)


def _sparse_features_joined_directly() -> None:
    from rasa.shared.nlu.training_data.features import Features

    Features._combine_sparse_features = _fast_combine(Features._combine_sparse_features)


def _slot_copy() -> None:
    from rasa.shared.core.slots import Slot

    Slot.__copy__ = copy_slot


def _rule_index() -> None:
    from rasa.core.policies.rule_policy import RulePolicy

    RulePolicy._get_possible_keys = _indexed_possible_keys(RulePolicy._get_possible_keys)


# By the names of rasa_server.patches.PATCHES, so each can be measured alone
# (scripts/bench_patches.py).
INSTALLERS = {
    "event lookup table": _event_lookup_table,
    "sparse features joined directly": _sparse_features_joined_directly,
    "slot copy": _slot_copy,
    "rule index": _rule_index,
}


def install() -> None:
    """Install every fast path in this process (idempotent)."""
    if getattr(Event, _INSTALLED, False):
        return
    for installer in INSTALLERS.values():
        installer()
    setattr(Event, _INSTALLED, True)
