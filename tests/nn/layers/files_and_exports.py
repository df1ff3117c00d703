"""A layer's model both ways through .keras files (Keras 3.15.1 writes, engram reads; engram
writes, Keras reads: the same outputs, atol 1e-5) and through engram's exports (to_torch and
to_onnx within 1e-5 of ``predict``), for the layer tests of the layers added for Keras ports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from engram.nn import Sequential
from engram.nn import layers as L
from engram.nn.models import load_model
from tests.nn.keras_reference import import_keras


def random_weights(model: Any, seed: int = 1) -> None:
    """Replace every weight with normal values of standard deviation 0.5 (either library's
    model): outputs of order 1, so that atol 1e-5 compares float32 results, not their rounding."""
    rng = np.random.default_rng(seed)
    model.set_weights(
        [0.5 * rng.standard_normal(np.shape(w)).astype(np.float32) for w in model.get_weights()]
    )


def check_keras_files(make: Callable[[Any], list], shape: tuple[int, ...], tmp_path: Any) -> None:
    """``make(layers_module)`` gives the layers: Keras's model saved by Keras loads in engram
    with Keras's outputs and parameter count; engram's saved as .keras opens in Keras with
    engram's outputs."""
    keras = import_keras()
    pytest.importorskip("h5py")
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)

    theirs = keras.Sequential([keras.Input(shape), *make(keras.layers)])
    random_weights(theirs)
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    expected = keras.ops.convert_to_numpy(theirs(x, training=False))
    assert expected.std() > 1e-3
    np.testing.assert_allclose(ours.predict(x), expected, atol=1e-5, rtol=0)
    assert ours.count_params() == theirs.count_params()
    assert [type(a).__name__ for a in ours.layers] == [type(b).__name__ for b in theirs.layers]

    mine = Sequential(make(L), seed=0)
    mine.build((None, *shape))
    random_weights(mine, seed=2)
    mine.save(tmp_path / "e.keras")
    reopened = keras.saving.load_model(tmp_path / "e.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reopened(x, training=False)), mine.predict(x), atol=1e-5
    )


def check_exports(model: Any, x: np.ndarray, tmp_path: Any) -> None:
    """to_torch and to_onnx (onnxruntime, CPU) give ``model.predict(x)`` within 1e-5."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from engram.nn.export import to_onnx, to_torch

    expected = model.predict(x)
    assert expected.std() > 1e-3
    module = to_torch(model).eval()
    with torch.no_grad():
        got = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0, err_msg="to_torch")
    path = to_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["output"], {"input": x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0, err_msg="to_onnx")


def check_layers_export(
    make: Callable[[Any], list], shape: tuple[int, ...], tmp_path: Any, batch: int = 3
) -> None:
    """``make(layers_module)``'s layers in a built engram model with random weights:
    ``check_exports`` on a batch of normal inputs of ``shape``."""
    model = built_model(make(L), shape)
    x = np.random.default_rng(5).standard_normal((batch, *shape)).astype(np.float32)
    check_exports(model, x, tmp_path)


def built_model(layers: list, shape: tuple[int, ...], seed: int = 1) -> Any:
    model = Sequential(layers, seed=0)
    model.build((None, *shape))
    random_weights(model, seed)
    return model
