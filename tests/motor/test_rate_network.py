"""RateRNN: the shared layer harness against the same recurrence written in torch, and its map."""

import numpy as np
import pytest
import torch

from engram.motor import find_fixed_points, rate_rnn_map
from engram.motor.rate_network import RateRNN, rate_activation
from engram.motor.training import masked_mse, train_step
from engram.nn import Sequential, gradcheck
from engram.nn.layers import Dense
from engram.nn.optimizers import SGD, Adam
from tests.helpers import check_layer, check_torch_parity

TORCH_RATES = {"tanh": torch.tanh, "relu": torch.relu, "softplus": torch.nn.functional.softplus}


def torch_rate_rnn(activation="tanh", alpha=0.2, return_sequences=True):
    """h_t = (1 - a) h_{t-1} + a (f(h_{t-1}) W + x_t B + b), r_t = f(h_t), in torch."""
    f = TORCH_RATES[activation]

    def fn(p, x):
        h = torch.zeros(x.shape[0], p["recurrent_weights"].shape[0])
        rates = []
        for t in range(x.shape[1]):
            h = (1 - alpha) * h + alpha * (f(h) @ p["recurrent_weights"] + x[:, t] @ p["weights"])
            h = h + alpha * p["bias"]
            rates.append(f(h))
        return torch.stack(rates, dim=1) if return_sequences else rates[-1]

    return fn


@pytest.mark.parametrize(
    ("activation", "return_sequences"), [("tanh", True), ("softplus", True), ("tanh", False)]
)
def test_rate_rnn_harness(activation, return_sequences, tmp_path):
    kwargs = {
        "units": 5,
        "activation": activation,
        "dt": 10.0,
        "tau": 50.0,
        "recurrent_gain": 1.5,
        "bias_initializer": "random_normal",
        "return_sequences": return_sequences,
    }
    check_layer(
        RateRNN,
        kwargs,
        (3, 7, 4),
        torch_rate_rnn(activation, 0.2, return_sequences),
        tmp_path=tmp_path,
    )


def test_relu_rate_rnn_matches_torch():
    # relu's kink makes finite differences unreliable, so only the torch parity is checked
    layer = RateRNN(6, activation="relu", dt=20.0, tau=40.0, bias_initializer="ones")
    layer.build((8, 3), np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((4, 8, 3)).astype(np.float32)
    check_torch_parity(layer, x, torch_rate_rnn("relu", 0.5))


def test_training_noise_is_seeded_and_absent_at_inference():
    x = np.random.default_rng(0).standard_normal((2, 20, 3)).astype(np.float32)
    outputs = []
    for _ in range(2):
        layer = RateRNN(8, noise_std=0.3, seed=5)
        layer.build((20, 3), np.random.default_rng(0))
        outputs.append((layer.forward(x, training=True), layer.forward(x, training=False)))
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    assert not np.allclose(outputs[0][0], outputs[0][1])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])
    # training noise in float64 keeps the gradients exact (the same noise in every pass)
    assert gradcheck(layer, x.astype(np.float64), training=True).passed


def test_simulate_and_map_agree_with_forward_and_rate_rnn_map():
    layer = RateRNN(6, dt=10.0, tau=40.0, recurrent_gain=1.2, bias_initializer="random_normal")
    x = np.random.default_rng(0).standard_normal((3, 9, 2)).astype(np.float32)
    rates = layer(x)
    states, rates_sim = layer.simulate(x)
    np.testing.assert_allclose(rates_sim, rates, atol=1e-6)
    step, jac = layer.recurrent_map()
    ref_step, ref_jac = rate_rnn_map(
        layer.params["recurrent_weights"],
        layer.params["weights"],
        layer.params["bias"],
        dt=10.0,
        tau=40.0,
    )
    h = states[:, 3].astype(np.float64)
    u = x[:, 4].astype(np.float64)
    np.testing.assert_allclose(step(h, u), ref_step(h, u), atol=1e-12)
    np.testing.assert_allclose(step(h, u), states[:, 4], atol=1e-5)  # the map is one step
    np.testing.assert_allclose(jac(h, u), ref_jac(h, u), atol=1e-12)
    # starting at a fixed point, the network stays there
    starts = np.random.default_rng(0).normal(size=(50, 6))
    found = find_fixed_points(step, jac, starts, inputs=u[0], max_iter=1000)
    held = np.broadcast_to(u[0], (1, 30, 2))
    after = layer.simulate(held, initial_state=found.points[0])[0]
    np.testing.assert_allclose(after[0, -1], found.points[0], atol=1e-5)


def test_rate_activations_and_their_slopes():
    h = np.linspace(-3, 3, 13)
    for name in ("tanh", "relu", "softplus"):
        r, slope = rate_activation(name, h)
        numeric = (rate_activation(name, h + 1e-6)[0] - rate_activation(name, h - 1e-6)[0]) / 2e-6
        keep = np.abs(h) > 1e-3  # relu's kink
        np.testing.assert_allclose(slope[keep], numeric[keep], atol=1e-8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"units": 4, "dt": 20.0, "tau": 10.0}, r"dt / tau must be <= 1"),
        ({"units": 4, "activation": "sigmoid"}, r"activation must be one of"),
        ({"units": 4, "noise_std": -1.0}, r"noise_std must be >= 0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RateRNN(**kwargs)


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, features\)"):
        RateRNN(4)(np.zeros((2, 3), dtype=np.float32))


def test_masked_mse_and_regularized_step_gradients():
    rng = np.random.default_rng(0)
    y, t = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 3))
    mask = (rng.random((2, 5, 3)) > 0.3).astype(float)
    loss, grad = masked_mse(y, t, mask)
    assert loss == pytest.approx(np.sum(mask * (y - t) ** 2) / mask.sum())
    numeric = np.zeros_like(y)
    for i in np.ndindex(y.shape):
        d = np.zeros_like(y)
        d[i] = 1e-6
        numeric[i] = (masked_mse(y + d, t, mask)[0] - masked_mse(y - d, t, mask)[0]) / 2e-6
    np.testing.assert_allclose(grad, numeric, atol=1e-8)

    # the penalties' gradients: the full regularized loss against finite differences
    model = Sequential([RateRNN(4, input_shape=(5, 2), dtype="float64"), Dense(3, dtype="float64")])
    model.build()
    x = rng.standard_normal((2, 5, 2))

    def total(params_only=False):
        r = model.layers[0].forward(x)
        out = model.layers[1].forward(r)
        w2 = sum(
            np.sum(layer.params[k] ** 2)
            for layer in model.layers
            for k in ("weights", "recurrent_weights")
            if k in layer.params
        )
        return masked_mse(out, t, mask)[0] + 0.3 * np.mean(r**2) + 0.01 * w2

    class Record(SGD):  # an optimizer that keeps the gradients instead of stepping
        def step(self, layers):
            self.grads = {(ly.name, k): g.copy() for ly in layers for k, g in ly.grads.items()}

    opt = Record()
    logs = train_step(model, x, t, mask, opt, rate_l2=0.3, weight_l2=0.01)
    assert logs["loss"] == pytest.approx(total())
    w = model.layers[0].params["recurrent_weights"]
    old = w[1, 2]
    w[1, 2] = old + 1e-6
    plus = total()
    w[1, 2] = old - 1e-6
    minus = total()
    w[1, 2] = old
    grad = opt.grads[(model.layers[0].name, "recurrent_weights")][1, 2]
    assert grad == pytest.approx((plus - minus) / 2e-6, rel=1e-6)


def test_a_rate_network_learns_with_the_masked_loop():
    rng = np.random.default_rng(0)
    model = Sequential([RateRNN(16, input_shape=(10, 1), seed=0), Dense(1)], seed=0)
    opt = Adam(learning_rate=0.02, global_clipnorm=1.0)
    x = rng.standard_normal((32, 10, 1)).astype(np.float32)
    y = np.cumsum(x, axis=1) * 0.2  # integrate the input
    mask = np.ones_like(y)
    first = train_step(model, x, y, mask, opt)["task_loss"]
    for _ in range(150):
        last = train_step(model, x, y, mask, opt)["task_loss"]
    assert last < 0.1 * first
