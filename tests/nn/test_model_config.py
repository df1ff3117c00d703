"""Sequential.get_config() in Keras's format, to_json() and models.model_from_json, both ways
with Keras 3.15.1: each library builds the other's model (fresh weights; with the weights
copied, the same predictions), through the .keras reader's allowlist."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import engram.nn
from engram.nn.io import ModelFileError
from tests.nn.keras_reference import engram_summary_rows, import_keras, keras_summary_rows


@pytest.fixture(scope="module")
def keras():
    return import_keras()


def net(lib: Any, built: bool = True) -> Any:
    layers = lib.layers
    body = [
        layers.Dense(5, activation="relu", name="hidden"),
        layers.Dropout(0.2, name="drop"),
        layers.Dense(2, activation="softmax", name="probs"),
    ]
    first = [lib.Input((4,), name="features")] if built else []
    return lib.Sequential(first + body, name="classifier")


def functional(lib: Any) -> Any:
    inputs = lib.Input((4,), name="x")
    hidden = lib.layers.Dense(3, activation="tanh", name="h")(inputs)
    out = lib.layers.Dense(2, name="o")(lib.layers.concatenate([hidden, inputs], name="cat"))
    return lib.Model(inputs, out, name="f")


def _shape(config: dict) -> dict:
    """What a config says at the model level: its keys and each layer's module, class and name
    (layer options are written by each library's own defaults)."""
    config = json.loads(json.dumps(config))  # as a file holds it (Keras gives tuples)
    return {
        "keys": sorted(config),
        "top": {k: v for k, v in config.items() if k != "layers"},
        "layers": [(e["module"], e["class_name"], e["config"]["name"]) for e in config["layers"]],
    }


def _rows(model: Any, kmodel: Any) -> None:
    theirs = [tuple(" ".join(c.split()) for c in row) for row in keras_summary_rows(kmodel)]
    assert engram_summary_rows(model) == theirs


@pytest.mark.parametrize("built", [True, False], ids=["built", "unbuilt"])
def test_sequential_get_config_is_keras_s_both_ways(keras, built):
    ours, theirs = net(engram.nn, built).get_config(), net(keras, built).get_config()
    assert _shape(ours) == _shape(theirs)
    assert ("build_input_shape" in ours) is built
    kmodel = keras.Sequential.from_config(ours)  # Keras builds engram's config
    model = engram.nn.Sequential.from_config(theirs)  # and engram builds Keras's
    assert type(model) is engram.nn.Sequential and model.built is kmodel.built is built
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    if not built:  # (built by build(): Keras's summary after a call shows that call's batch)
        kmodel.build((None, 4))
        model.build((None, 4))
    _rows(model, kmodel)
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    np.testing.assert_allclose(model.predict(x), kmodel.predict(x, verbose=0), atol=1e-6)
    again = engram.nn.Sequential.from_config(model.get_config())
    assert again.get_config() == model.get_config()  # round trip, the Input's name kept


def test_engram_s_own_sequential_config_is_still_read():
    """`.engram` files keep engram's own config (its seed, any registered layer): still read."""
    model = engram.nn.Sequential(
        [engram.nn.layers.Dense(3, input_dim=4, name="d")], name="m", seed=3
    )
    old = model._engram_config()
    assert old["seed"] == 3 and old["layers"][0]["class_name"] == "Dense"
    copy = engram.nn.Sequential.from_config(old)
    assert copy.seed == 3 and copy.count_params() == model.count_params()


@pytest.mark.parametrize("build", [net, functional], ids=["sequential", "functional"])
def test_to_json_and_model_from_json_both_ways(keras, build):
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    model, kmodel = build(engram.nn), build(keras)
    for m in (model, kmodel):
        m.compile(optimizer="adam", loss="mse", metrics=["mae"])
    ours, theirs = json.loads(model.to_json()), json.loads(kmodel.to_json())
    assert sorted(ours) == sorted(theirs)
    assert (ours["module"], ours["class_name"]) == (theirs["module"], theirs["class_name"])
    assert ours["compile_config"]["loss"] in ("mse", "mean_squared_error")
    from_ours = keras.models.model_from_json(model.to_json())
    from_theirs = engram.nn.models.model_from_json(kmodel.to_json())
    assert type(from_theirs) is type(model)
    assert from_theirs.optimizer.name == "adam" and from_theirs.metric_names == ["mae"]
    assert from_ours.optimizer.__class__.__name__ == "Adam"
    _rows(from_theirs, from_ours)
    weights = [np.asarray(w) for w in kmodel.get_weights()]
    from_ours.set_weights(weights)
    from_theirs.set_weights(weights)
    np.testing.assert_allclose(from_theirs.predict(x), from_ours.predict(x, verbose=0), atol=1e-6)
    uncompiled = json.loads(build(engram.nn).to_json())
    assert uncompiled["compile_config"] == json.loads(build(keras).to_json())["compile_config"]


def test_model_from_json_refuses_what_is_not_a_checked_model():
    good = json.loads(net(engram.nn).to_json())
    lambda_layer = json.loads(json.dumps(good))
    lambda_layer["config"]["layers"][1]["class_name"] = "Lambda"
    cases = [
        ("{", ModelFileError, "not JSON"),
        (json.dumps({**good, "module": "os", "class_name": "system"}), ModelFileError, "os.system"),
        (json.dumps(lambda_layer), ModelFileError, "Lambda"),
        (b"[1, 2]", ModelFileError, "model_from_json"),
        (3, TypeError, "JSON string that to_json"),
    ]
    for text, error, message in cases:
        with pytest.raises(error, match=message):
            engram.nn.models.model_from_json(text)
    with pytest.raises(NotImplementedError, match="custom_objects"):
        engram.nn.models.model_from_json(json.dumps(good), custom_objects={"Mine": object})


def test_configs_of_models_holding_code_are_refused_by_name():
    class Linear(engram.nn.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2))

        def call(self, inputs):
            return engram.nn.ops.matmul(inputs, self.w)

    model = engram.nn.Sequential([engram.nn.Input((3,)), Linear()])
    for action in (model.get_config, model.to_json):
        with pytest.raises(NotImplementedError, match="custom layer Linear"):
            action()
