"""Masks (Embedding(mask_zero=True), Masking) through SimpleRNN, LSTM, GRU and Bidirectional,
against Keras 3.15.1: outputs, gradients, and whole models trained one epoch."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Input, Model, Sequential
from engram.nn import layers as L
from tests.nn.keras_reference import check_against_keras, import_keras

torch = pytest.importorskip("torch")

STEPS, FEATURES, UNITS = 6, 3, 5
MASK = np.array(
    [[1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 1, 1], [1, 1, 1, 1, 1, 1]], bool
)


def _keras_grads(keras, klayer, x, mask, upstream):
    """Keras's output, input gradient and weight gradients (torch autograd) for sum(y * g)."""
    x_t = torch.tensor(x, requires_grad=True)
    y = klayer(x_t, mask=torch.tensor(mask))
    (y * torch.tensor(upstream)).sum().backward()
    weights = [w.value.grad.numpy() for w in klayer.weights]
    return y.detach().numpy(), x_t.grad.numpy(), weights


@pytest.mark.parametrize("cls_name", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_steps_match_keras_forward_and_backward(cls_name, return_sequences, go_backwards):
    keras = import_keras()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, STEPS, FEATURES)).astype(np.float32)
    kwargs = {"return_sequences": return_sequences, "go_backwards": go_backwards}
    klayer = getattr(keras.layers, cls_name)(UNITS, **kwargs)
    klayer.build((None, STEPS, FEATURES))
    layer = getattr(L, cls_name)(UNITS, **kwargs)
    layer.build((STEPS, FEATURES), rng)
    layer.set_weights([np.asarray(w) for w in klayer.get_weights()])
    y = layer.forward(x, mask=MASK)
    upstream = rng.standard_normal(y.shape).astype(np.float32)
    grad_x = layer.backward(upstream)
    ky, kgrad_x, kgrads = _keras_grads(keras, klayer, x, MASK, upstream)
    np.testing.assert_allclose(y, ky, atol=1e-5)
    np.testing.assert_allclose(grad_x, kgrad_x, atol=1e-5)
    for key, kgrad in zip(layer.weight_names, kgrads, strict=True):
        np.testing.assert_allclose(layer.grads[key], kgrad, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("merge_mode", ["concat", "mul"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_masked_bidirectional_matches_keras(merge_mode, return_sequences):
    """Keras zeroes the masked steps of both directions' sequences (zero_output_for_mask)."""
    keras = import_keras()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, STEPS, FEATURES)).astype(np.float32)
    klayer = keras.layers.Bidirectional(
        keras.layers.GRU(UNITS, return_sequences=return_sequences), merge_mode=merge_mode
    )
    klayer.build((None, STEPS, FEATURES))
    layer = L.Bidirectional(L.GRU(UNITS, return_sequences=return_sequences), merge_mode=merge_mode)
    layer.build((STEPS, FEATURES), rng)
    layer.set_weights([np.asarray(w) for w in klayer.get_weights()])
    y = layer.forward(x, mask=MASK)
    upstream = rng.standard_normal(y.shape).astype(np.float32)
    grad_x = layer.backward(upstream)
    ky, kgrad_x, kgrads = _keras_grads(keras, klayer, x, MASK, upstream)
    np.testing.assert_allclose(y, ky, atol=1e-5)
    np.testing.assert_allclose(grad_x, kgrad_x, atol=1e-5)
    for key, kgrad in zip(layer.weight_names, kgrads, strict=True):
        np.testing.assert_allclose(layer.grads[key], kgrad, atol=1e-5, err_msg=key)


def _padded_tokens(n=16, vocab=20, seed=0):
    """Integer sequences of lengths 1..STEPS, padded with 0 at the end (Keras's masking guide)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, STEPS), np.int64)
    for i, length in enumerate(rng.integers(1, STEPS + 1, n)):
        x[i, :length] = rng.integers(1, vocab, length)
    return x, rng.standard_normal((n, 2)).astype(np.float32)


def test_masking_guide_model_matches_keras():
    """keras.io's masking guide: Embedding(mask_zero=True) -> LSTM, here with a Dense head."""
    keras = import_keras()
    x, y = _padded_tokens()
    models = []
    for nn, seq in ((L, Sequential), (keras.layers, keras.Sequential)):
        models.append(
            seq(
                [
                    (Input if nn is L else keras.Input)((STEPS,)),
                    nn.Embedding(20, 4, mask_zero=True, name="emb"),
                    nn.LSTM(5, name="lstm"),
                    nn.Dense(2, name="out"),
                ],
                name="m",
            )
        )
    check_against_keras(*models, x.astype(np.float32), y, loss="mse")


def test_masking_layer_through_stacked_and_bidirectional_layers_matches_keras():
    keras = import_keras()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, STEPS, FEATURES)).astype(np.float32)
    x[:, 4:][rng.random((16, 2)) < 0.5] = 0.0  # padded steps at the end of some sequences
    x[3, :2] = 0.0  # and at the start of one
    y = rng.standard_normal((16, 2)).astype(np.float32)
    models = []
    for nn, seq in ((L, Sequential), (keras.layers, keras.Sequential)):
        stack = [
            (Input if nn is L else keras.Input)((STEPS, FEATURES)),
            nn.Masking(mask_value=0.0, name="mask"),
            nn.Bidirectional(nn.LSTM(4, return_sequences=True), name="bi"),
            nn.Dropout(0.0, name="drop"),
            nn.GRU(3, name="gru"),
            nn.Dense(2, name="out"),
        ]
        models.append(seq(stack, name="m"))
    check_against_keras(*models, x, y, loss="mse")


def test_a_mask_reaching_an_unaware_layer_is_refused():
    model = Sequential(
        [Input((STEPS,)), L.Embedding(9, 2, mask_zero=True), L.GRU(2, return_sequences=True)]
    )
    x = np.ones((2, STEPS), np.float32)
    assert model.predict(x).shape == (2, STEPS, 2)
    model.compile("sgd", "mse")  # the loss leaves masked steps out (tests/nn/test_model_surface)
    assert np.isfinite(model.fit(x, np.zeros((2, STEPS, 2)), verbose=0).history["loss"][0])
    with pytest.raises(ValueError, match="Flatten layer 'flat' receives a mask"):
        Sequential([Input((STEPS,)), L.Embedding(9, 2, mask_zero=True), L.Flatten(name="flat")])
    inp = Input((STEPS, FEATURES))
    fwd, bwd = L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode=None)(L.Masking()(inp))
    with pytest.raises(ValueError, match="single outputs only"):
        Model(inp, L.concatenate([fwd, bwd]))


def test_keras_file_with_mask_zero_loads_with_the_same_outputs(tmp_path):
    keras = import_keras()
    from engram.nn.models import load_model

    kmodel = keras.Sequential(
        [keras.Input((STEPS,)), keras.layers.Embedding(20, 4, mask_zero=True), keras.layers.GRU(3)]
    )
    kmodel.save(tmp_path / "m.keras")
    model = load_model(tmp_path / "m.keras")
    assert model.layers[0].mask_zero
    x, _ = _padded_tokens()
    expected = keras.ops.convert_to_numpy(kmodel(x))
    np.testing.assert_allclose(model.predict(x.astype(np.float32)), expected, atol=1e-5)


def test_the_refusal_lists_the_layers_that_pass_or_read_a_mask_and_each_does():
    """The refusal's lists come from the layers' own flags: each layer listed as passing a mask
    on passes it to a GRU (whose output then differs from the unmasked run's), and each listed
    as reading one is a recurrent layer."""
    from engram.nn.layers.base import mask_layers

    read, passed = mask_layers()
    assert read == ["Bidirectional", "GRU", "LSTM", "SimpleRNN"]
    makers = {
        "Activation": lambda: L.Activation("tanh"),
        "ActivityRegularization": lambda: L.ActivityRegularization(l2=0.1),
        "Dense": lambda: L.Dense(2),
        "Dropout": lambda: L.Dropout(0.5),
        "GaussianDropout": lambda: L.GaussianDropout(0.5),
        "GaussianNoise": lambda: L.GaussianNoise(0.5),
        "Identity": L.Identity,
        "LeakyReLU": L.LeakyReLU,
        "ReLU": L.ReLU,
        "SpatialDropout1D": lambda: L.SpatialDropout1D(0.5),
        "UnitNormalization": L.UnitNormalization,
    }
    assert set(passed) == {*makers, "SpatialDropout2D"}  # 2-D: images carry no (batch, time) mask
    x = np.array([[3, 1, 0, 0, 0, 0], [2, 5, 7, 1, 4, 0]], "int32")
    for name, make in makers.items():
        outputs = []
        for mask_zero in (True, False):
            model = Sequential(
                [Input((STEPS,)), L.Embedding(9, 2, mask_zero=mask_zero), make(), L.GRU(2)],
                seed=0,
            )
            outputs.append(model.predict(x, verbose=0))
        assert not np.allclose(outputs[0], outputs[1]), name  # the mask reached the GRU
    with pytest.raises(ValueError, match=r"passes only into Bidirectional, GRU, LSTM, SimpleRNN"):
        Sequential([Input((STEPS,)), L.Embedding(9, 2, mask_zero=True), L.Flatten()])
