import warnings

import numpy as np
import pytest
import torch
from torch.func import functional_call

from engram.nn import DivergenceWarning, Sequential, gradcheck, optimizers
from engram.nn.initializers import Orthogonal
from engram.nn.layers import Dense, SimpleRNN
from tests.helpers import check_layer


def torch_simple_rnn(return_sequences=False, go_backwards=False, initial_state=None):
    """torch.nn.RNN with engram's weights: weight_ih = weights.T, weight_hh = recurrent.T."""

    def fn(p, x):
        units = p["recurrent_weights"].shape[0]
        module = torch.nn.RNN(x.shape[-1], units, batch_first=True)
        weights = {
            "weight_ih_l0": p["weights"].T,
            "weight_hh_l0": p["recurrent_weights"].T,
            "bias_ih_l0": p["bias"],
            "bias_hh_l0": torch.zeros(units),
        }
        xs = x.flip(1) if go_backwards else x
        args = (xs,) if initial_state is None else (xs, initial_state[None])
        out, h = functional_call(module, weights, args)
        return out if return_sequences else out[:, -1]

    return fn


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_simple_rnn_harness(return_sequences, go_backwards, tmp_path):
    kwargs = {"units": 4, "return_sequences": return_sequences, "go_backwards": go_backwards}
    check_layer(
        SimpleRNN,
        kwargs,
        (2, 5, 3),
        torch_simple_rnn(return_sequences, go_backwards),
        tmp_path=tmp_path,
    )


def test_simple_rnn_relu_without_bias_gradcheck_through_20_steps():
    layer = SimpleRNN(3, activation="relu", use_bias=False, return_sequences=True)
    x = np.random.default_rng(1).standard_normal((2, 20, 2))
    layer.build((20, 2), np.random.default_rng(0))
    report = gradcheck(layer, x)
    assert report.passed, str(report)


def test_simple_rnn_initial_state_and_final_state_match_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6, 2)).astype(np.float32)
    h0 = rng.standard_normal((3, 5)).astype(np.float32)
    layer = SimpleRNN(5, return_sequences=True, return_state=True)
    outputs, h = layer(x, initial_state=[h0])
    g_out = rng.standard_normal(outputs.shape).astype(np.float32)
    g_h = rng.standard_normal(h.shape).astype(np.float32)
    grad_x = layer.backward(g_out, grad_states=[g_h])

    params = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    x_t, h0_t = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    module = torch.nn.RNN(2, 5, batch_first=True)
    weights = {
        "weight_ih_l0": params["weights"].T,
        "weight_hh_l0": params["recurrent_weights"].T,
        "bias_ih_l0": params["bias"],
        "bias_hh_l0": torch.zeros(5),
    }
    out_t, h_t = functional_call(module, weights, (x_t, h0_t[None]))
    ((out_t * torch.tensor(g_out)).sum() + (h_t[0] * torch.tensor(g_h)).sum()).backward()
    np.testing.assert_allclose(outputs, out_t.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(h, h_t[0].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(layer.grad_initial_state[0], h0_t.grad.numpy(), atol=1e-5)
    for key in ("weights", "recurrent_weights", "bias"):
        np.testing.assert_allclose(layer.grads[key], params[key].grad.numpy(), atol=1e-5)


def test_simple_rnn_keras_layout_and_defaults():
    layer = SimpleRNN(6)
    layer.build((10, 4), np.random.default_rng(0))
    weights, recurrent, bias = layer.get_weights()
    assert weights.shape == (4, 6) and recurrent.shape == (6, 6) and bias.shape == (6,)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(6), atol=1e-5)  # orthogonal
    assert layer.activation.name == "tanh" and not bias.any()
    assert layer.compute_output_shape((10, 4)) == (6,)


def test_simple_rnn_input_dropout_masks_each_sequence_once():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 7, 5)).astype(np.float32)
    layer = SimpleRNN(3, dropout=0.5, seed=1, return_sequences=True)
    plain = SimpleRNN(3, return_sequences=True)
    layer.build((7, 5), rng)
    plain.build((7, 5), rng)
    plain.set_weights(layer.get_weights())
    y = layer.forward(x, training=True)
    mask = layer.input_mask
    assert mask.shape == (4, 5) and set(np.unique(mask)) <= {0.0, 2.0}
    np.testing.assert_allclose(y, plain.forward(x * mask[:, None, :]), atol=1e-6)
    g = rng.standard_normal(y.shape).astype(np.float32)
    expected = plain.backward(g) * mask[:, None, :]
    np.testing.assert_allclose(layer.backward(g), expected, atol=1e-6)
    np.testing.assert_array_equal(layer.forward(x), plain.forward(x))  # inference: no mask


def test_simple_rnn_recurrent_dropout_gradients_are_exact():
    layer = SimpleRNN(4, recurrent_dropout=0.3, seed=3, return_sequences=True)
    x = np.random.default_rng(2).standard_normal((3, 6, 2))
    layer.build((6, 2), np.random.default_rng(0))
    layer.astype(np.float64)
    y = layer.forward(x, training=True)
    mask = layer.recurrent_mask
    g = np.random.default_rng(3).standard_normal(y.shape)
    layer.backward(g)
    analytic = layer.grads["recurrent_weights"].copy()
    # freeze the mask: a finite-difference check of the same masked network
    layer.rng = type("Fixed", (), {"random": lambda self, shape, dtype: (mask != 0) * 1.0})()
    u = layer.params["recurrent_weights"]
    numeric = np.zeros_like(u)
    for idx in np.ndindex(u.shape):
        old = u[idx]
        u[idx] = old + 1e-6
        plus = np.sum(g * layer.forward(x, training=True))
        u[idx] = old - 1e-6
        minus = np.sum(g * layer.forward(x, training=True))
        u[idx] = old
        numeric[idx] = (plus - minus) / 2e-6
    np.testing.assert_allclose(analytic, numeric, atol=1e-6)


def _explosion_run(clipnorm):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 60, 2)).astype(np.float32)
    y = x[:, :10, 0].sum(axis=1, keepdims=True)
    model = Sequential(
        [
            SimpleRNN(8, activation="linear", recurrent_initializer=Orthogonal(gain=1.15)),
            Dense(1),
        ],
        seed=0,
    )
    model.build((None, 60, 2))
    kwargs = {} if clipnorm is None else {"clipnorm": clipnorm}
    model.compile(optimizer=optimizers.SGD(learning_rate=0.01, **kwargs), loss="mse")
    with np.errstate(all="ignore"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DivergenceWarning)
        first = model.evaluate(x, y, verbose=0)
        history = model.fit(x, y, epochs=15, batch_size=32, verbose=0, shuffle=False)
    # a run that reaches NaN is named once, in one warning and in History
    losses = history.history["loss"]
    assert history.diverged == (not np.all(np.isfinite(losses)))
    assert len(caught) == int(history.diverged)
    return first, losses


def test_gradient_clipping_prevents_explosion():
    """Recurrent gain 1.15 over 60 steps: gradients ~1.15^60 ~ 4000x. SGD without clipping
    blows up; clipnorm keeps every step bounded and the loss falls."""
    first, unclipped = _explosion_run(None)
    assert not np.isfinite(unclipped[-1]) or unclipped[-1] > 1e6 * first
    first, clipped = _explosion_run(1.0)
    assert np.all(np.isfinite(clipped)) and clipped[-1] < first


def test_simple_rnn_rejects_2d_input():
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, features\).*"
                       r"received a 2-D input of shape \(4, 10\).*x\[\.\.\., None\]"):  # fmt: skip
        SimpleRNN(3)(np.zeros((4, 10), dtype="float32"))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, features\)"):
        Sequential([SimpleRNN(3, input_shape=(10,))])


def test_simple_rnn_rejects_zero_length_and_ragged_sequences():
    with pytest.raises(ValueError, match="sequences of length 0"):
        SimpleRNN(3)(np.zeros((4, 0, 2), dtype="float32"))
    ragged = [np.zeros((5, 2)), np.zeros((3, 2))]
    with pytest.raises(ValueError, match="sequences of different lengths.*pad_sequences"):
        SimpleRNN(3)(ragged)


def test_simple_rnn_rejects_wrong_features_and_initial_state_shapes():
    layer = SimpleRNN(3)
    layer(np.zeros((2, 4, 5), dtype="float32"))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, 4, 5\).*\(2, 4, 6\)"):
        layer(np.zeros((2, 4, 6), dtype="float32"))
    with pytest.raises(ValueError, match=r"initial_state hidden_state must have shape \(2, 3\)"):
        layer(np.zeros((2, 4, 5), dtype="float32"), initial_state=np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"list of 1 array\(s\) \[hidden_state\].*Received 2"):
        layer(np.zeros((2, 4, 5)), initial_state=[np.zeros((2, 3)), np.zeros((2, 3))])


def test_return_state_is_refused_inside_sequential():
    model = Sequential([SimpleRNN(3, return_state=True, input_shape=(4, 2))], seed=0)
    with pytest.raises(ValueError, match="return_state=True.*Sequential passes one array"):
        model.predict(np.zeros((1, 4, 2)))


def test_simple_rnn_learns_in_a_sequential():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(256, 6, 1)).astype(np.float32)
    y = x[:, 0, 0].astype(int)  # remember the first input
    model = Sequential([SimpleRNN(16, input_shape=(6, 1)), Dense(2, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
