"""Masked models exported: `Embedding(mask_zero=True)` and `Masking` before SimpleRNN, LSTM, GRU
and Bidirectional give engram's outputs in onnxruntime (right-padded sequences; a mask with a gap
is refused at run time by a node naming it) and in PyTorch (any mask, run step by step)."""

from __future__ import annotations

import numpy as np
import pytest

import engram.nn.layers as E
from engram.nn import Input, Model, Sequential

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from engram.nn.export import to_onnx, to_torch  # noqa: E402

STEPS = 7
LENGTHS = [7, 3, 0, 1, 5, 6]  # one full row, one empty row


def tokens(padding="post", seed=0):
    """Token rows (1..9) padded with 0 after (``post``) or before (``pre``) their length."""
    x = np.random.default_rng(seed).integers(1, 10, (len(LENGTHS), STEPS))
    for row, length in zip(x, LENGTHS, strict=True):
        if padding == "post":
            row[length:] = 0
        else:
            row[: STEPS - length] = 0
    return x


def features(seed=0):
    """Feature sequences with all-zero (masked) steps at the end of each row."""
    x = np.random.default_rng(seed).standard_normal((len(LENGTHS), STEPS, 3)).astype(np.float32)
    for row, length in zip(x, LENGTHS, strict=True):
        row[length:] = 0.0
    return x


def randomized(model, seed=1):
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.standard_normal(w.shape).astype(w.dtype) * 0.6 for w in model.get_weights()]
    )
    return model


def sequential(layers, shape):
    model = Sequential(layers, seed=0)
    model.build((None, *shape))
    return randomized(model)


RECURRENT = [
    (kind, go_backwards, sequences)
    for kind in (E.SimpleRNN, E.LSTM, E.GRU)
    for go_backwards in (False, True)
    for sequences in (False, True)
]


def recurrent_model(kind, go_backwards, sequences):
    layer = kind(4, return_sequences=sequences, go_backwards=go_backwards)
    return sequential([E.Embedding(10, 3, mask_zero=True), layer], (STEPS,))


def stacked():
    return sequential(
        [
            E.Embedding(10, 3, mask_zero=True),
            E.Bidirectional(E.LSTM(4, return_sequences=True)),
            E.Dense(3, activation="tanh"),
            E.GRU(3, return_sequences=True, go_backwards=True),
            E.Bidirectional(E.SimpleRNN(2), merge_mode="sum"),
        ],
        (STEPS,),
    )


def masking():
    return sequential(
        [E.Masking(), E.LSTM(4, return_sequences=True), E.Dropout(0.2), E.GRU(2)], (STEPS, 3)
    )


def functional():
    """A masked branch beside an unmasked one, merged after the mask is consumed."""
    words, series = Input((STEPS,), name="words"), Input((STEPS, 3), name="series")
    masked = E.Bidirectional(E.GRU(3), merge_mode="ave")(E.Embedding(10, 4, mask_zero=True)(words))
    plain = E.LSTM(3)(series)
    model = Model([words, series], E.Dense(2)(E.Concatenate()([masked, plain])), seed=0)
    return randomized(model)


def onnx_run(model, xs, tmp_path):
    path = to_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, xs, strict=True)))[0]


def torch_run(model, xs):
    with torch.no_grad():
        return to_torch(model)(*[torch.from_numpy(x) for x in xs]).numpy()


def assert_exports_match(model, xs, tmp_path, unmasked=None):
    expected = model.predict(xs if len(xs) > 1 else xs[0])
    assert expected.std() > 1e-2
    np.testing.assert_allclose(onnx_run(model, xs, tmp_path), expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(torch_run(model, xs), expected, atol=1e-5, rtol=0)
    if unmasked is not None:  # the masks matter: without them the outputs differ
        assert np.abs(unmasked.predict(xs[0]) - expected).max() > 1e-2


@pytest.mark.parametrize(
    ("kind", "go_backwards", "sequences"),
    RECURRENT,
    ids=[
        f"{k.__name__}-{'back' if b else 'fwd'}-{'seq' if s else 'last'}" for k, b, s in RECURRENT
    ],
)
def test_masked_recurrent_layers_export_exactly(tmp_path, kind, go_backwards, sequences):
    model = recurrent_model(kind, go_backwards, sequences)
    twin = Sequential(
        [E.Embedding(10, 3), kind(4, return_sequences=sequences, go_backwards=go_backwards)]
    )
    twin.build((None, STEPS))
    twin.set_weights(model.get_weights())
    assert_exports_match(model, [tokens()], tmp_path, unmasked=twin)


@pytest.mark.parametrize("make", [stacked, masking, functional])
def test_masks_through_stacks_masking_and_graphs_export_exactly(tmp_path, make):
    model = make()
    if make is functional:
        xs = [tokens(), features(seed=1)]
    else:
        xs = [features() if make is masking else tokens()]
    assert_exports_match(model, xs, tmp_path)


@pytest.mark.parametrize("padding", ["pre", "middle"])
def test_a_mask_with_a_gap_runs_in_torch_and_is_refused_by_onnx(tmp_path, padding):
    model = recurrent_model(E.LSTM, False, True)
    x = tokens("pre") if padding == "pre" else tokens()
    if padding == "middle":
        x[0, 3] = 0  # a 0 token inside the full row
    expected = model.predict(x)
    np.testing.assert_allclose(torch_run(model, [x]), expected, atol=1e-5, rtol=0)
    with pytest.raises(Exception, match=r"lstm\w*_mask_has_a_gap"):
        onnx_run(model, [x], tmp_path)
