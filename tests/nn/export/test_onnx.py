"""ONNX export: onnxruntime's CPU provider gives engram's outputs within 1e-5 for every family."""

from __future__ import annotations

import numpy as np
import pytest

from tests.nn.export.families import FAMILIES, GRAPHS, graph_inputs, graph_model, inputs, model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from engram.nn.export import to_onnx  # noqa: E402
from engram.nn.export.onnx import IR_VERSION, OPSET  # noqa: E402


def run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": x})[0]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_onnxruntime_matches_engram(tmp_path, family):
    m = model(family)
    path = to_onnx(m, tmp_path / "m.onnx")
    x = inputs(family)
    expected = m.predict(x)
    assert expected.std() > 1e-3
    np.testing.assert_allclose(run(path, x), expected, atol=1e-5, rtol=0)
    # the batch axis is dynamic
    np.testing.assert_allclose(run(path, x[:2]), expected[:2], atol=1e-5, rtol=0)


def test_version_is_pinned_and_opset_chosen(tmp_path):
    m = model("lstm")
    loaded = onnx.load(to_onnx(m, tmp_path / "m.onnx"))
    assert loaded.ir_version == IR_VERSION and loaded.opset_import[0].version == OPSET
    loaded = onnx.load(to_onnx(m, tmp_path / "m13.onnx", opset=13))
    assert loaded.opset_import[0].version == 13
    np.testing.assert_allclose(
        run(tmp_path / "m13.onnx", inputs("lstm")), m.predict(inputs("lstm")), atol=1e-5, rtol=0
    )
    with pytest.raises(ValueError, match="opset must be between 13 and 17"):
        to_onnx(m, tmp_path / "x.onnx", opset=9)


@pytest.mark.parametrize("family", ["rescale_pad_upsample", "conv1d_pool1d", "bidirectional"])
def test_the_keras_port_layers_run_at_the_oldest_opset(tmp_path, family):
    """UpSampling2D (Resize), LayerNormalization (written out), Conv1D, the 1-D poolings and
    Bidirectional use only ops and attributes that opset 13 has."""
    m = model(family)
    path = to_onnx(m, tmp_path / "m13.onnx", opset=13)
    assert onnx.load(path).opset_import[0].version == 13
    x = inputs(family)
    np.testing.assert_allclose(run(path, x), m.predict(x), atol=1e-5, rtol=0)


def test_the_lstm_gate_order_matters():
    """The reorder is needed: ONNX's LSTM with Keras's gate order gives other outputs."""
    from engram.nn.export import onnx as export

    m = model("lstm")
    x = inputs("lstm")
    original = export._blocks
    try:
        export._blocks = lambda a, order, n: a  # keep Keras's i, f, c, o
        wrong = ort.InferenceSession(
            export.to_onnx_bytes(m), providers=["CPUExecutionProvider"]
        ).run(["output"], {"input": x})[0]
    finally:
        export._blocks = original
    assert np.abs(wrong - m.predict(x)).max() > 1e-3


def test_unknown_layer_is_refused_by_name(tmp_path):
    from engram.nn import Sequential
    from engram.nn.layers import Dense, Layer

    class Mystery(Layer):
        def forward(self, x, training=False):
            return x

    m = Sequential([Dense(2, input_dim=3), Mystery(name="mystery")])
    m.build()
    with pytest.raises((ValueError, KeyError), match="Mystery|mystery"):
        to_onnx(m, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_only_sequential_and_functional_models_are_written(tmp_path):
    """An object that is not a model with a graph (e.g. a subclassed model) is refused."""
    from engram.nn.export import to_torch
    from engram.nn.saving import keras_format

    class Graph:
        layers, built = [], True

    for write in (
        lambda: to_onnx(Graph(), tmp_path / "x.onnx"),
        lambda: to_torch(Graph()),
        lambda: keras_format.save_model(Graph(), tmp_path / "x.keras"),
        lambda: keras_format.save_weights(Graph(), tmp_path / "x.weights.h5"),
    ):
        with pytest.raises(TypeError, match="Sequential and functional models only.*got Graph"):
            write()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------- functional models
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_onnxruntime_matches_engram_on_functional_models(tmp_path, name):
    """Merge layers as ONNX ops, shared layers, nested models, several inputs and outputs."""
    m = graph_model(name)
    path = to_onnx(m, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xs = graph_inputs(m)
    feeds = dict(zip([i.name for i in session.get_inputs()], xs, strict=True))
    got = session.run(None, feeds)
    expected = m.predict(xs if len(xs) > 1 else xs[0])
    expected = expected if isinstance(expected, list) else [expected]
    assert len(got) == len(expected) == len(m.outputs)
    for a, b in zip(got, expected, strict=True):
        assert b.std() > 1e-3
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_functional_onnx_names_its_inputs_and_outputs_after_the_model(tmp_path):
    m = graph_model("two_in_two_out")
    loaded = onnx.load(to_onnx(m, tmp_path / "m.onnx"))
    assert [i.name for i in loaded.graph.input] == ["input_title", "input_body"]
    assert [o.name for o in loaded.graph.output] == [f"output_{n}" for n in m.output_names]
    ops = {node.op_type for node in loaded.graph.node}
    assert {"Sum", "Sub", "Mul", "Mean", "Max", "Min", "Concat", "MatMul"} <= ops
