"""``engram export MODEL_FILE --to onnx|keras|torch --out PATH``."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from engram.cli import cli
from engram.nn.saving import load_model
from tests.nn.export.families import inputs, model


def invoke(*args):
    return CliRunner().invoke(cli, ["export", *map(str, args)])


@pytest.fixture
def saved(tmp_path):
    m = model("lstm")
    m.save(tmp_path / "m.engram")
    return m, tmp_path / "m.engram"


def test_export_to_keras_and_back(saved, tmp_path):
    pytest.importorskip("h5py")
    m, path = saved
    result = invoke(path, "--to", "keras", "--out", tmp_path / "m.keras")
    assert result.exit_code == 0, result.output
    x = inputs("lstm")
    np.testing.assert_array_equal(load_model(tmp_path / "m.keras").predict(x), m.predict(x))


def test_export_to_onnx(saved, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    m, path = saved
    result = invoke(path, "--to", "onnx", "--out", tmp_path / "m.onnx", "--opset", 15)
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = inputs("lstm")
    np.testing.assert_allclose(session.run(None, {"input": x})[0], m.predict(x), atol=1e-5)


def test_export_to_torch_state(saved, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    from engram.nn.export import to_torch

    m, path = saved
    result = invoke(path, "--to", "torch", "--out", tmp_path / "m.safetensors")
    assert result.exit_code == 0, result.output
    fresh = model("lstm", seed=9)  # other weights, same architecture
    module = to_torch(fresh)
    module.load_state_dict(load_file(tmp_path / "m.safetensors"))
    x = inputs("lstm")
    with torch.no_grad():
        got = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, m.predict(x), atol=1e-5)


def test_hostile_file_exits_1_with_the_reason(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    result = invoke(bad, "--to", "onnx", "--out", tmp_path / "x.onnx")
    assert result.exit_code == 1
    assert "not a valid zip archive" in result.output
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("target", ["onnx", "torch", "keras"])
def test_export_of_a_functional_keras_file(tmp_path, target):
    """A functional model's .keras file exports to each target with the same outputs."""
    pytest.importorskip("h5py")
    torch = pytest.importorskip("torch")
    from tests.nn.export.families import graph_inputs, graph_model

    m = graph_model("shared_nested")
    m.save(tmp_path / "f.keras")
    out = tmp_path / {"onnx": "f.onnx", "torch": "f.safetensors", "keras": "g.keras"}[target]
    result = invoke(tmp_path / "f.keras", "--to", target, "--out", out)
    assert result.exit_code == 0, result.output
    xs = graph_inputs(m)
    expected = m.predict(xs)
    if target == "onnx":
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = session.run(None, {"input_left": xs[0], "input_right": xs[1]})
    elif target == "torch":
        from safetensors.torch import load_file

        from engram.nn.export import to_torch

        module = to_torch(graph_model("shared_nested", seed=9))  # same graph, other weights
        module.load_state_dict(load_file(out))
        with torch.no_grad():
            got = [y.numpy() for y in module(*map(torch.from_numpy, xs))]
    else:
        got = load_model(out).predict(xs)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
