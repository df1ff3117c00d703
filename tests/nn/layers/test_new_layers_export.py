"""ONNX export of the Keras-port layers (onnxruntime gives engram's outputs; the export families
in tests/nn/export/families.py cover them for ONNX and PyTorch), and a refusal naming the layer
for what cannot export (ONNX and PyTorch); masks export (tests/nn/export/test_masks.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Sequential
from engram.nn import layers as L

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from engram.nn.export import to_onnx, to_torch  # noqa: E402


def built(layers, shape):
    model = Sequential(layers, seed=0)
    model.build((None, *shape))
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if layer.params:
            layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    return model


def adapted_normalization(shape, **kwargs):
    layer = L.Normalization(**kwargs)
    rng = np.random.default_rng(2)
    layer.adapt((rng.standard_normal((20, *shape)) * 3 + 1).astype(np.float32))
    return layer


CASES = {
    "image": (
        (5, 4, 3),
        lambda: [
            L.Rescaling(1 / 4, offset=-0.5),
            L.Rescaling([1.0, 2.0, 0.5]),
            adapted_normalization((5, 4, 3)),
            L.ZeroPadding2D(((1, 0), (2, 1))),
            L.Conv2D(2, 3),
            L.GlobalMaxPooling2D(keepdims=True),
            L.Flatten(),
        ],
    ),
    "sequence": (
        (6, 3),
        lambda: [
            adapted_normalization((6, 3), axis=None, invert=True),
            L.Dense(4),
            L.GlobalMaxPooling1D(keepdims=True),
            L.GlobalAveragePooling1D(),
        ],
    ),
    "global-average-keepdims": (
        (4, 5, 2),
        lambda: [L.Conv2D(3, 2), L.GlobalAveragePooling2D(keepdims=True)],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_onnxruntime_matches_engram(tmp_path, case):
    shape, make = CASES[case]
    model = built(make(), shape)
    path = to_onnx(model, tmp_path / "m.onnx")
    x = np.random.default_rng(3).standard_normal((4, *shape)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = model.predict(x)
    assert expected.std() > 1e-3
    np.testing.assert_allclose(session.run(["output"], {"input": x})[0], expected, atol=1e-5)


def _two_output_bidirectional():
    from engram.nn import Input, Model

    x = Input((6, 3), name="sequence")  # named: leaves the auto-name counter alone
    forward, backward = L.Bidirectional(L.LSTM(2), merge_mode=None)(x)
    return Model(x, L.Add()([forward, backward]))


@pytest.mark.parametrize(
    ("make", "message"),
    [(_two_output_bidirectional, "merge_mode=None")],
    ids=["Bidirectional-two-outputs"],
)
def test_export_refuses_what_it_cannot_match(tmp_path, make, message):
    model = make()
    with pytest.raises(ValueError, match=message):
        to_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match=message):
        to_torch(model)
