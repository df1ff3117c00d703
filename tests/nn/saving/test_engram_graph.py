"""Functional models (and models holding nested models) in engram's own ``.engram`` files: the
graph stored as data (the ``.keras`` writer's architecture JSON), read back through the same
allowlist and wiring checks; bit-exact round trips and resumed training, and hostile graphs
refused with nothing imported, run or written."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest

import engram.nn.layers as E
from engram.nn import Input, Model, ModelFileError, Sequential
from engram.nn.models import load_model
from engram.nn.saving import engram_graph
from tests.nn.export.families import GRAPHS, graph_inputs, graph_model
from tests.nn.saving.test_hostile_files import PAYLOAD, trap  # noqa: F401 - a fixture

pytest.importorskip("h5py")
pytest.importorskip("safetensors")


def as_list(value):
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_functional_models_round_trip_bit_for_bit(tmp_path, name):
    model = graph_model(name)
    model.save(tmp_path / "m.engram")
    back = load_model(tmp_path / "m.engram")
    xs = graph_inputs(model)
    xs = xs if len(xs) > 1 else xs[0]
    for a, b in zip(as_list(model.predict(xs)), as_list(back.predict(xs)), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [layer.name for layer in back.layers] == [layer.name for layer in model.layers]
    assert back.count_params() == model.count_params()


def two_outputs(seed=0):
    """Two inputs, a shared encoder model called on both, two outputs."""
    enc_in = Input((4,), name="enc_in")
    encoder = Model(
        enc_in, E.Dense(3, activation="tanh")(E.Dense(5)(enc_in)), name="encoder", seed=seed
    )
    a, b = Input((4,), name="a"), Input((4,), name="b")
    ea, eb = encoder(a), encoder(b)
    head = E.Dense(1, name="head")(E.Concatenate()([ea, eb]))
    label = E.Dense(2, activation="softmax", name="label")(E.Dropout(0.3)(ea))
    return Model([a, b], [head, label], name="pair", seed=seed)


def pair_data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    xa, xb = (rng.standard_normal((n, 4)).astype(np.float32) for _ in range(2))
    return [xa, xb], [xa[:, :1] - xb[:, :1], (xa[:, 0] > 0).astype(np.int64)]


def test_training_resumed_from_a_functional_engram_file_continues_bit_for_bit(tmp_path):
    def compiled():
        model = two_outputs()
        model.compile(
            "adam",
            ["mse", "sparse_categorical_crossentropy"],
            loss_weights=[1.0, 0.3],
            metrics=[["mae"], ["accuracy"]],
        )
        return model

    x, y = pair_data()
    straight = compiled()
    straight.fit(x, y, batch_size=8, epochs=2, verbose=0)
    resumed = compiled()
    resumed.fit(x, y, batch_size=8, epochs=1, verbose=0)
    resumed.save(tmp_path / "m.engram")
    loaded = load_model(tmp_path / "m.engram")
    assert loaded._loss_weights == [1.0, 0.3]
    assert loaded.metric_names == [["mae"], ["accuracy"]]
    assert loaded.optimizer.iterations == 4
    history = loaded.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert set(history) == {"loss", "head_loss", "label_loss", "head_mae", "label_accuracy"}
    for a, b in zip(straight.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # weights, Adam's state, shuffling and dropout


def test_save_weights_and_load_weights_of_a_model_with_a_nested_model(tmp_path):
    model = two_outputs(seed=1)
    model.save_weights(tmp_path / "w.engram")
    other = two_outputs(seed=2)
    assert not np.array_equal(other.get_weights()[0], model.get_weights()[0])
    other.load_weights(tmp_path / "w.engram")
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_sequential_holding_a_model_saves_its_graph(tmp_path):
    inner = Sequential([E.Dense(3, input_shape=(4,))], seed=0, name="inner")
    model = Sequential([inner, E.Softmax()], name="outer")
    model.save(tmp_path / "m.engram")
    back = load_model(tmp_path / "m.engram")
    x = pair_data()[0][0]
    np.testing.assert_array_equal(back.predict(x), model.predict(x))


# ------------------------------------------------------------------ hostile graph data
def read_header(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def with_graph(src, dst, edit):
    """A copy of ``src`` whose stored graph ``edit`` changed (the tensors as they were)."""
    header, payload = read_header(src)
    graph = json.loads(header["__metadata__"][engram_graph.KEY])
    edit(graph)
    header["__metadata__"][engram_graph.KEY] = json.dumps(graph)
    text = json.dumps(header).encode()
    dst.write_bytes(struct.pack("<Q", len(text)) + text + payload)
    return dst


def layer_entry(graph, name):
    return next(e for e in graph["config"]["layers"] if e["name"] == name)


def evil(graph):
    entry = layer_entry(graph, "head")
    entry.update({"module": PAYLOAD, "class_name": "Evil"})


def lambda_in_the_encoder(graph):
    dense = layer_entry(graph, "encoder")["config"]["layers"][1]
    dense.update({"class_name": "Lambda", "config": {"function": {"module": PAYLOAD}}})


def node_out_of_range(graph):
    merge = next(e for e in graph["config"]["layers"] if e["class_name"] == "Concatenate")
    tensors = merge["inbound_nodes"][0]["args"][0]  # [encoder node 0, encoder node 1]
    tensors[1]["config"]["keras_history"][1] = 2  # the encoder has 2 calls: 0 and 1


def huge_units(graph):
    layer_entry(graph, "head")["config"]["units"] = 10**12


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (evil, rf"is the class {PAYLOAD}\.Evil, not on engram's allowlist"),
        (lambda_in_the_encoder, r"keras\.layers\.Lambda.*Python code"),
        (node_out_of_range, r"reads node 2 of 'encoder', which has 2 node"),
        (huge_units, r"larger than the arrays left in the weights file"),
        (lambda g: g["config"].update(layers="run"), r"keras_architecture has no list of layers"),
        (lambda g: g.update(config=[1, 2]), r"config \[1, 2\] \(a function, not a class\)"),
        (lambda g: g.update(module=PAYLOAD), rf"{PAYLOAD}\.Functional, not a Sequential"),
    ],
    ids=["evil-module", "lambda-nested", "node-index", "huge-units", "layers-type", "config-type",
         "model-class"],
)  # fmt: skip
def test_hostile_graph_data_in_an_engram_file_is_refused(tmp_path, trap, edit, match):  # noqa: F811
    source = tmp_path / "src" / "good.engram"
    source.parent.mkdir()
    two_outputs().save(source)
    path = with_graph(source, tmp_path / "src" / "bad.engram", edit)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(ModelFileError, match=match) as refused:
        load_model(path)
    assert "config.json" not in str(refused.value)  # an .engram file has none: name its part
    assert not trap.exists() and PAYLOAD not in sys.modules
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_backup_and_restore_of_a_model_holding_a_model_is_refused_by_name(tmp_path):
    from engram.nn.callbacks import BackupAndRestore

    model = two_outputs()
    model.compile("sgd", ["mse", "sparse_categorical_crossentropy"])
    x, y = pair_data(8)
    with pytest.raises(NotImplementedError, match="BackupAndRestore of a model that contains"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[BackupAndRestore(str(tmp_path / "b"))])
