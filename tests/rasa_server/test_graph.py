"""The in-order graph runner and the fast paths give Rasa's own results."""

from __future__ import annotations

import dask
import pytest
from rasa.core.agent import Agent
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.shared.core.events import Event, SlotSet
from rasa.shared.nlu.training_data.features import Features

from rasa_server import fastpaths, graph, patches
from rasa_server.nlu import serving
from tests.e2e.stack import model_path


def test_same_results_as_dask_on_a_graph_with_shared_nodes_and_inputs():
    calls = []

    def node(name):
        def run(*inputs):
            calls.append(name)
            return name, [value for _, value in inputs]
        return run

    toy = {
        "a": (node("a"), "input"),
        "b": (node("b"), "a"),
        "c": (node("c"), "a", "b"),
        "d": (node("d"), "c", "b"),
        "input": ("input", 7),
        "unused": (node("unused"), "a"),
    }
    assert graph.run_in_order(toy, ["d", "b"]) == dask.get(toy, ["d", "b"])
    calls.clear()
    graph.run_in_order(toy, ["d"])
    assert sorted(calls) == ["a", "b", "c", "d"]  # each needed node once, nothing else


def test_runtime_errors_become_graph_run_errors_as_with_dask():
    def broken(*_):
        raise RuntimeError("boom")

    runner = DaskGraphRunner.__new__(DaskGraphRunner)
    runner._graph_schema = type("Schema", (), {
        "target_names": ["x"],
        "minimal_graph_schema": lambda self, targets: self,
        "nodes": {},
    })()
    runner._build_dask_graph = lambda schema: {"x": (broken,)}
    with pytest.raises(GraphRunError):
        graph._run(runner)


@pytest.fixture(scope="module")
def agent():
    return Agent.load(str(model_path()))


def components(agent, name: str) -> list:
    """The model's graph components of the class called ``name``, in graph order."""
    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    return [node._component for node in nodes
            if type(getattr(node, "_component", None)).__name__ == name]


MESSAGES = ["hi", "my b12 is 300 pg/ml and i have nash", "what is mma?",
            "i feel numb and confused", "skip", "asdfgh"]


async def test_our_model_parses_and_predicts_the_same(agent, monkeypatch):
    async def run_all():
        results = []
        for text in MESSAGES:
            parsed = await agent.parse_message(text)
            results.append((parsed["intent"], parsed["intent_ranking"]))
            tracker = await agent.processor.get_tracker(f"graph-{text}")
            tracker.update_with_events([], agent.domain)
            prediction = agent.processor._predict_next_with_tracker(tracker)
            results.append((prediction.max_confidence_index, prediction.policy_name))
        return results

    diet = components(agent, "DIETClassifier")
    # config.yml names the serving subclasses; stock until the speed-ups are on
    assert type(diet[0]) is serving.DIETClassifier and type(diet[0].model) is serving.DIET
    assert {type(c) for c in components(agent, "CountVectorsFeaturizer")} == {
        serving.CountVectorsFeaturizer}
    stock = await run_all()
    assert "_b12_concrete" not in diet[0].model.__dict__  # Rasa's own call so far
    monkeypatch.setitem(patches._SPEEDUPS, "on", True)
    monkeypatch.setattr(DaskGraphRunner, "run", graph._run)
    monkeypatch.setattr(Event, "resolve_by_type", staticmethod(fastpaths._resolve_by_type))
    monkeypatch.setattr(Features, "_combine_sparse_features",
                        fastpaths._fast_combine(Features._combine_sparse_features))
    monkeypatch.setattr(RulePolicy, "_get_possible_keys",
                        fastpaths._indexed_possible_keys(RulePolicy._get_possible_keys))
    assert await run_all() == stock
    assert "_b12_concrete" in diet[0].model.__dict__  # the direct call was taken


def test_event_types_resolve_as_before():
    original = fastpaths._ORIGINAL_RESOLVE
    for name in ("slot", "user", "bot", "action", "session_started", "active_loop"):
        assert fastpaths._resolve_by_type(name) is original(name)
        assert fastpaths._resolve_by_type(name) is original(name)  # from the table
    assert fastpaths._resolve_by_type("slot") is SlotSet
    assert fastpaths._resolve_by_type("topic") is None
    assert fastpaths._resolve_by_type("nonsense", SlotSet) is SlotSet
    with pytest.raises(ValueError, match="Unknown event name"):
        fastpaths._resolve_by_type("nonsense")


async def test_diet_loaded_for_serving_predicts_exactly_as_rasa_loads_it(agent, monkeypatch):
    expected = [await agent.parse_message(text) for text in MESSAGES]
    assert not components(agent, "DIETClassifier")[0].model.__dict__.get("_b12_fast_loaded")
    monkeypatch.setitem(patches._SPEEDUPS, "on", True)
    fast = Agent.load(str(model_path()))
    diet = components(fast, "DIETClassifier")
    assert diet[0].model.__dict__.get("_b12_fast_loaded")  # the fast load was taken
    got = [await fast.parse_message(text) for text in MESSAGES]
    for want, have in zip(expected, got, strict=True):
        assert have["intent"] == want["intent"]
        assert have["intent_ranking"] == want["intent_ranking"]  # same floats, all of them


def assert_same_coo(got, want):
    """Every attribute: arrays equal with the same dtype, the rest equal."""
    import numpy as np

    assert type(got) is type(want) and set(vars(got)) == set(vars(want))
    for name, value in vars(want).items():
        if isinstance(value, np.ndarray):
            assert value.dtype == vars(got)[name].dtype and np.array_equal(value, vars(got)[name])
        else:
            assert vars(got)[name] == value, name


def test_sparse_features_join_like_scipy_hstack():
    import numpy as np
    import scipy.sparse

    rng = np.random.RandomState(7)
    compared = 0
    for rows in (1, 2, 9):
        for left_cols, right_cols in ((1, 1), (40, 3), (900, 3000)):
            for density in (0.0, 0.02, 0.3):
                for dtype in (np.float64, np.float32, np.int64):
                    left = scipy.sparse.random(rows, left_cols, density, "coo", dtype, rng)
                    right = scipy.sparse.random(rows, right_cols, density, "coo", np.float64, rng)
                    want = scipy.sparse.hstack([left, right])
                    got = fastpaths.hstack_coo(left, right)
                    assert type(got) is type(want) and got.shape == want.shape
                    assert_same_coo(got, want)
                    compared += 1
    assert compared == 81
    assert fastpaths.hstack_coo(scipy.sparse.csr_matrix((2, 2)), left) is None  # not coo: scipy


def test_slots_copy_as_copy_copy_does(agent):
    import copy

    from rasa.shared.core.slots import Slot

    assert "__copy__" not in Slot.__dict__ and not hasattr(Slot, "__setstate__")
    assert all("__reduce__" not in type(slot).__dict__ for slot in agent.domain.slots)
    for original in agent.domain.slots:
        slot = copy.copy(original)  # the agent's own slots stay as they are
        slot.value = {"b12": "300 pg/mL"} if slot.name == "b12" else slot.value
        stock, fast = copy.copy(slot), fastpaths.copy_slot(slot)
        assert type(fast) is type(stock) and fast is not slot
        assert fast.__dict__ == stock.__dict__
        assert all(fast.__dict__[k] is stock.__dict__[k] for k in stock.__dict__)  # shallow


def test_rule_index_finds_the_rules_rasa_finds(agent, project_root):
    """Every prefix of every story and rule in data/ (and every rule's own states),
    against each lookup table: the indexed search returns Rasa's exact key set."""
    import json

    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.generator import TrainingDataGenerator
    from rasa.shared.importers.importer import TrainingDataImporter

    policy = components(agent, "RulePolicy")[0]
    stock = RulePolicy._get_possible_keys
    fast = fastpaths._indexed_possible_keys(stock)
    importer = TrainingDataImporter.load_from_dict(
        domain_path=str(project_root / "domain.yml"),
        training_data_paths=[str(project_root / "data")])
    trackers = TrainingDataGenerator(importer.get_stories(), agent.domain,
                                     augmentation_factor=0).generate()
    histories = [tracker.past_states(agent.domain) for tracker in trackers]
    lookups = [policy.lookup[name] for name in ("rules", "rules_for_loop_unhappy_path")]
    histories += [json.loads(key) for lookup in lookups for key in lookup]
    compared = matched = 0
    for lookup in lookups:
        for states in histories:
            for end in range(len(states) + 1):
                want = stock(policy, lookup, states[:end])
                assert fast(policy, lookup, states[:end]) == want
                compared += 1
                matched += bool(want) and end > 0
    assert compared > 1000 and matched > 100  # rules did apply along the way


def test_count_vectors_as_sklearn_and_rasa_make_them(agent, project_root, heldout_messages):
    """Every NLU example (training and held-out), tokenised as the model does, and odd
    token lists: the same COO arrays, dtypes and shapes as Rasa's sklearn path."""
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.message import Message

    featurizers = components(agent, "CountVectorsFeaturizer")
    tokenizer = components(agent, "SpacyTokenizer")[0]
    spacy_nlp = components(agent, "SpacyNLP")[0]
    training = load_data(str(project_root / "data" / "nlu")).intent_examples
    texts = [example.get("text") for example in training]
    texts += [message["text"] for message in heldout_messages]
    messages = [Message({TEXT: text}) for text in texts]
    spacy_nlp.process(messages, spacy_nlp.provide())
    tokenizer.process(messages)
    token_lists = [[t.text for t in m.get("text_tokens")] for m in messages]
    token_lists += [[], ["b12", "b12", "B12", "µmol/L"], ["qwzx"], ["a"], ["", " "], ["zzzz"] * 40]
    stock = CountVectorsFeaturizer._create_features
    fast = fastpaths._fast_create_features(stock)
    assert len(featurizers) == 2 and len(texts) > 500
    compared = 0
    for featurizer in featurizers:
        for tokens in token_lists:
            want, got = stock(featurizer, TEXT, [tokens]), fast(featurizer, TEXT, [tokens])
            for a, b in zip(want, got, strict=True):  # sequence, then sentence features
                if a[0] is None:
                    assert b[0] is None
                    continue
                assert_same_coo(b[0], a[0])
                compared += 1
    assert compared > 2000
