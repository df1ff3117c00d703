"""The Model API the keras.io guides use beyond layers, each checked against Keras 3.15.1:
dicts of inputs and outputs, summary before build and after compile, weighted metrics, masks
reaching the loss, get_config/from_config, exclude_from_weight_decay and pad_sequences.

Tests that compare summary rows name their Inputs and layers: the automatic names come from
global counters that differ between the two libraries once other tests ran.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import engram.nn
from tests.nn.keras_reference import check_against_keras, import_keras


@pytest.fixture(scope="module")
def keras() -> Any:
    return import_keras()


# --- dict inputs and outputs ------------------------------------------------------------------


def dict_model(keras: Any) -> Any:
    """Two inputs and two outputs given as dicts whose keys are not the layers' names (Keras
    flattens both in sorted key order)."""
    layers = keras.layers
    a = keras.Input((3,), name="in_a")
    b = keras.Input((2,), name="in_b")
    x = layers.concatenate([a, b], name="concat")
    hidden = layers.Dense(5, activation="tanh", name="hidden")(x)
    priority = layers.Dense(1, name="zz")(hidden)
    department = layers.Dense(4, activation="softmax", name="aa")(hidden)
    return keras.Model(
        inputs={"b_key": b, "a_key": a},
        outputs={"priority": priority, "department": department},
        name="dicts",
    )


def dict_data(n: int = 24) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    x = {
        "a_key": rng.normal(size=(n, 3)).astype("float32"),
        "b_key": rng.normal(size=(n, 2)).astype("float32"),
    }
    y = {
        "priority": rng.normal(size=(n, 1)).astype("float32"),
        "department": np.eye(4, dtype="float32")[rng.integers(0, 4, n)],
    }
    return x, y


def test_dict_inputs_and_outputs_match_keras(keras):
    """predict returns a dict, losses / loss_weights / metrics are keyed by the dict's keys, and
    History names the per-output losses and metrics after them, as Keras does."""
    keras.utils.set_random_seed(0)
    kmodel, model = dict_model(keras), dict_model(engram.nn)
    # Keras's own names: the layers' names, in sorted key order (department -> aa, priority -> zz)
    assert model.output_names == list(kmodel.output_names) == ["aa", "zz"]
    x, y = dict_data()
    histories = check_against_keras(
        model,
        kmodel,
        x,
        y,
        loss={"priority": "mse", "department": "categorical_crossentropy"},
        loss_weights={"priority": 1.0, "department": 0.2},
        metrics={"priority": ["mae"], "department": ["accuracy"]},
    )
    assert set(histories["engram"]) == {
        "loss",
        "priority_loss",
        "department_loss",
        "priority_mae",
        "department_accuracy",
    }
    out = model(x)
    assert isinstance(out, dict) and sorted(out) == ["department", "priority"]


def test_dict_inputs_refuse_a_list_and_dict_models_refuse_nesting_and_saving(tmp_path):
    model = dict_model(engram.nn)
    x, _ = dict_data(4)
    with pytest.raises(ValueError, match=r"x must be a dict keyed by .*\['a_key', 'b_key'\]"):
        model.predict([x["a_key"], x["b_key"]])
    with pytest.raises(ValueError, match=r"x has no arrays for the inputs \['b_key'\]"):
        model.predict({"a_key": x["a_key"]})
    inner = engram.nn.Input((3,), name="a")
    with pytest.raises(NotImplementedError, match="takes or returns a dict, inside another"):
        model({"a_key": inner, "b_key": engram.nn.Input((2,), name="b")})
    with pytest.raises(NotImplementedError, match="inputs or outputs are a dict"):
        model.save(str(tmp_path / "m.keras"))
    with pytest.raises(TypeError, match="keys must be strings"):
        engram.nn.Model(inputs={1: engram.nn.Input((2,))}, outputs=engram.nn.Input((2,)))
