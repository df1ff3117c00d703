"""The recurrent layers' fast paths agree with their reference implementations.

Each layer has a reference forward pass (`_forward_sequence`, which keeps what backward reads)
and an inference pass (`_infer_sequence`, ``training=False``, keeping nothing): same outputs
and final states, masked and unmasked, in both time directions, from given or zero states; a
backward after an inference forward gives the gradients of the reference.
"""

import numpy as np
import pytest

from engram.nn.activations import Activation
from engram.nn.layers import GRU, LSTM, Bidirectional, SimpleRNN

CASES = [
    (SimpleRNN, {}),
    (SimpleRNN, {"activation": "relu", "use_bias": False}),
    (LSTM, {}),
    (LSTM, {"activation": "relu", "recurrent_activation": "tanh"}),
    (LSTM, {"use_bias": False, "unit_forget_bias": False}),
    (GRU, {}),
    (GRU, {"activation": "relu", "use_bias": False}),
    # the GRU's inference folds the constants of tanh forms s * tanh(k * a) + c: c = 0 for sigma,
    # k, s != 1 and c != 0 for act, and a sigma without a tanh form (the unfolded loop)
    (GRU, {"recurrent_activation": "tanh"}),
    (GRU, {"activation": "sigmoid", "use_bias": False}),
    (GRU, {"recurrent_activation": "relu"}),
]
IDS = [
    f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}"
    for cls, kw in CASES
]


def _data(seed=0, batch=6, steps=9, features=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, features)).astype(np.float32)
    mask = rng.random((batch, steps)) > 0.35
    mask[0] = False  # a sequence with every step masked
    mask[1, :4] = False  # one that starts masked
    return x, mask


def _layer(cls, kwargs, go_backwards, units=5):
    layer = cls(
        units,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        bias_initializer="random_normal",
        **kwargs,
    )
    layer.build((9, 3), np.random.default_rng(1))
    return layer


@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("given_states", [False, True])
def test_inference_pass_matches_the_reference_forward(
    cls, kwargs, go_backwards, masked, given_states
):
    x, mask = _data()
    layer = _layer(cls, kwargs, go_backwards)
    rng = np.random.default_rng(2)
    initial = None
    if given_states:
        initial = [rng.standard_normal((6, 5)).astype(np.float32) for _ in layer.state_names]
    mask = mask if masked else None
    reference, *ref_states = layer(x, training=True, initial_state=initial, mask=mask)
    fast, *states = layer(x, training=False, initial_state=initial, mask=mask)
    assert fast.dtype == np.float32 and all(s.dtype == np.float32 for s in states)
    np.testing.assert_allclose(fast, reference, rtol=1e-6, atol=1e-6)
    for got, want in zip(states, ref_states, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=IDS)
@pytest.mark.parametrize("masked", [False, True])
def test_backward_after_an_inference_forward_gives_the_reference_gradients(cls, kwargs, masked):
    x, mask = _data(seed=3)
    mask = mask if masked else None
    layer = _layer(cls, kwargs, go_backwards=False)
    grad_y = np.random.default_rng(4).standard_normal((6, 9, 5)).astype(np.float32)
    grad_states = [np.full((6, 5), 0.5, np.float32) for _ in layer.state_names]
    results = []
    for training in (True, False):
        layer(x, training=training, mask=mask)
        grad_x = layer.backward(grad_y, grad_states)
        grads = {k: v.copy() for k, v in layer.grads.items()}
        results.append((grad_x, grads, [g.copy() for g in layer.grad_initial_state]))
    (gx_ref, grads_ref, h0_ref), (gx, grads, h0) = results
    assert gx.dtype == np.float32
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-5, atol=1e-6)
    assert grads.keys() == grads_ref.keys()
    for key in grads:
        assert grads[key].dtype == np.float32
        np.testing.assert_allclose(grads[key], grads_ref[key], rtol=1e-5, atol=1e-6)
    for got, want in zip(h0, h0_ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


class _ShiftedTanh(Activation):
    """2 tanh(z / 2) + 1: a tanh form (k, s, c) = (1/2, 2, 1) with s != c, which no built-in
    activation has (sigmoid's s = c); the GRU's inference folds c and scales by s / c."""

    name = "shifted_tanh"
    tanh_form = (0.5, 2.0, 1.0)

    def forward(self, z):
        return 2 * np.tanh(z / 2) + 1

    def backward(self, z, a, grad_a):
        return grad_a * (1 - np.tanh(z / 2) ** 2)


@pytest.mark.parametrize("role", ["recurrent_activation", "activation"])
def test_gru_inference_folds_any_tanh_form(role):
    x, mask = _data(seed=6)
    layer = _layer(GRU, {role: _ShiftedTanh()}, go_backwards=False)
    for m in (None, mask):
        reference, *ref_states = layer(x, training=True, mask=m)
        fast, *states = layer(x, training=False, mask=m)
        # the two passes round differently (folded constants); this activation's values reach
        # 3, so float32 rounding over 9 steps reaches a few 1e-6 (sigmoid's cases meet 1e-6)
        np.testing.assert_allclose(fast, reference, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(states[0], ref_states[0], rtol=1e-5, atol=1e-5)
        assert np.abs(fast).max() > 1.5  # the scale and the shift did reach the outputs


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_bidirectional_inference_matches_its_training_forward(cls):
    x, mask = _data(seed=5)
    layer = Bidirectional(cls(4, return_sequences=True))
    layer.build((9, 3), np.random.default_rng(0))
    for m in (None, mask):
        np.testing.assert_allclose(
            layer.forward(x, False, mask=m), layer.forward(x, True, mask=m), rtol=1e-6, atol=1e-6
        )


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _plain_cell(layer, p, x_t, states):
    """One step of the plain textbook cell (Keras's gate orders and layouts), float64."""
    h = states[0]
    if isinstance(layer, SimpleRNN):
        return [np.tanh(x_t @ p["weights"] + h @ p["recurrent_weights"] + p["bias"])]
    if isinstance(layer, LSTM):
        a = x_t @ p["weights"] + h @ p["recurrent_weights"] + p["bias"]
        i, f, g, o = np.split(a, 4, axis=-1)
        c = _sigmoid(f) * states[1] + _sigmoid(i) * np.tanh(g)
        return [_sigmoid(o) * np.tanh(c), c]
    xz, xr, xh = np.split(x_t @ p["weights"] + p["bias"][0], 3, axis=-1)
    rz, rr, rh = np.split(h @ p["recurrent_weights"] + p["bias"][1], 3, axis=-1)
    z, r = _sigmoid(xz + rz), _sigmoid(xr + rr)
    return [z * h + (1 - z) * np.tanh(xh + r * rh)]


def _plain_forward(layer, x, mask):
    """The plain per-step loop: a masked step keeps the states (and repeats the output)."""
    p = {k: v.astype(np.float64) for k, v in layer.params.items()}
    states = [np.zeros((x.shape[0], layer.units)) for _ in layer.state_names]
    outputs = []
    for t in range(x.shape[1]):
        new = _plain_cell(layer, p, x[:, t].astype(np.float64), states)
        keep = mask[:, t, None]
        states = [np.where(keep, n, s) for n, s in zip(new, states, strict=True)]
        outputs.append(states[0])
    return np.stack(outputs, axis=1), states


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_both_passes_match_a_plain_per_step_loop(cls, masked, training):
    x, mask = _data(seed=6)
    mask = mask if masked else np.ones(mask.shape, bool)
    layer = _layer(cls, {}, go_backwards=False)
    outputs, *states = layer(x, training=training, mask=mask)
    want_outputs, want_states = _plain_forward(layer, x, mask)
    np.testing.assert_allclose(outputs, want_outputs, rtol=1e-5, atol=1e-6)
    for got, want in zip(states, want_states, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


class _Float32Numpy:
    """NumPy as the recurrent modules see it, recording every array argument of the
    arithmetic calls that is neither float32 nor bool (a float64 matmul runs at half speed,
    and with ``out=`` float32 NumPy casts its result back silently)."""

    checked = ("matmul", "multiply", "add", "subtract", "tanh", "exp", "copyto", "where")

    def __init__(self):
        self.upcasts = []

    def __getattr__(self, name):
        value = getattr(np, name)
        if name not in self.checked:
            return value

        def call(*args, **kwargs):
            for arg in (*args, *kwargs.values()):
                if isinstance(arg, np.ndarray) and arg.dtype not in (np.float32, np.bool_):
                    self.upcasts.append((name, arg.dtype, arg.shape))
            return value(*args, **kwargs)

        return call


@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=IDS)
def test_every_product_and_kept_array_is_float32_even_from_float64_inputs(cls, kwargs, monkeypatch):
    """No silent float64 upcast: the arguments of every matmul and elementwise call of the
    recurrent modules, what the training forward keeps for backward, the outputs, the input
    gradient and the weight gradients are float32."""
    from engram.nn import activations
    from engram.nn.layers import gru, lstm, recurrent_base, simple_rnn

    numpy = _Float32Numpy()
    for module in (gru, lstm, recurrent_base, simple_rnn, activations):
        monkeypatch.setattr(module, "np", numpy)
    x, mask = _data(seed=7)
    layer = _layer(cls, {**kwargs, "dropout": 0.2, "recurrent_dropout": 0.2}, go_backwards=False)
    outputs, *states = layer(x.astype(np.float64), training=True, mask=mask)
    kept = {k: v for k, v in vars(layer).items() if isinstance(v, np.ndarray) and v.size > 1}
    assert kept, "the training forward keeps its per-step values on the layer"
    for name, value in {**kept, "outputs": outputs, "state": states[0]}.items():
        assert value.dtype in (np.float32, np.bool_), (name, value.dtype)
    grad_x = layer.backward(np.ones((6, 9, 5), np.float64))
    assert grad_x.dtype == np.float32
    for name, grad in layer.grads.items():
        assert grad.dtype == np.float32, (name, grad.dtype)
    layer(x, training=False, mask=mask)  # the inference pass
    assert numpy.upcasts == []
