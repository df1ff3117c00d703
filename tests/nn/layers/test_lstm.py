import numpy as np
import pytest
import torch
from torch.func import functional_call

from engram.nn import Sequential, gradcheck
from engram.nn.layers import LSTM, Dense
from tests.helpers import check_layer


def torch_weights(p, units):
    """Keras's LSTM layout -> torch.nn.LSTM: same gate order (i, f, c=g, o), transposed."""
    return {
        "weight_ih_l0": p["weights"].T,
        "weight_hh_l0": p["recurrent_weights"].T,
        "bias_ih_l0": p["bias"],
        "bias_hh_l0": torch.zeros(4 * units),
    }


def torch_lstm(return_sequences=False, go_backwards=False):
    def fn(p, x):
        units = p["recurrent_weights"].shape[0]
        module = torch.nn.LSTM(x.shape[-1], units, batch_first=True)
        out, _ = functional_call(
            module, torch_weights(p, units), (x.flip(1) if go_backwards else x,)
        )
        return out if return_sequences else out[:, -1]

    return fn


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_harness(return_sequences, go_backwards, tmp_path):
    kwargs = {"units": 3, "return_sequences": return_sequences, "go_backwards": go_backwards}
    # a random bias, so the parity check exercises every bias entry (the default is 0 / 1)
    kwargs["bias_initializer"] = "random_normal"
    check_layer(
        LSTM, kwargs, (2, 5, 3), torch_lstm(return_sequences, go_backwards), tmp_path=tmp_path
    )


def test_lstm_states_and_initial_state_gradients_match_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6, 2)).astype(np.float32)
    h0, c0 = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2))
    layer = LSTM(4, return_sequences=True, return_state=True, bias_initializer="random_normal")
    outputs, h, c = layer(x, initial_state=[h0, c0])
    g_out, g_h, g_c = (rng.standard_normal(a.shape).astype(np.float32) for a in (outputs, h, c))
    grad_x = layer.backward(g_out, grad_states=[g_h, g_c])

    params = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    x_t = torch.tensor(x, requires_grad=True)
    h0_t, c0_t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    module = torch.nn.LSTM(2, 4, batch_first=True)
    out_t, (h_t, c_t) = functional_call(
        module, torch_weights(params, 4), (x_t, (h0_t[None], c0_t[None]))
    )
    loss = (out_t * torch.tensor(g_out)).sum() + (h_t[0] * torch.tensor(g_h)).sum()
    (loss + (c_t[0] * torch.tensor(g_c)).sum()).backward()
    np.testing.assert_allclose(outputs, out_t.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(h, h_t[0].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(c, c_t[0].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(layer.grad_initial_state[0], h0_t.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(layer.grad_initial_state[1], c0_t.grad.numpy(), atol=1e-5)
    for key in ("weights", "recurrent_weights", "bias"):
        np.testing.assert_allclose(layer.grads[key], params[key].grad.numpy(), atol=1e-5)


def test_lstm_gradcheck_through_30_steps_with_other_activations():
    layer = LSTM(
        3,
        activation="relu",
        recurrent_activation="tanh",
        return_sequences=True,
        bias_initializer="random_normal",
    )
    layer.build((30, 2), np.random.default_rng(0))
    report = gradcheck(layer, np.random.default_rng(1).standard_normal((2, 30, 2)))
    assert report.passed, str(report)


def test_lstm_batch_split_across_threads_is_exact(monkeypatch):
    """Large batches run the recurrence on row blocks in threads: same numbers as one block."""
    import engram.nn.layers.recurrent_base as base

    x = np.random.default_rng(0).standard_normal((64, 7, 3)).astype(np.float32)
    layer = LSTM(5, return_sequences=True)
    monkeypatch.setattr(base, "SINGLE_THREAD_STEPS", True)  # the row-block mode
    monkeypatch.setattr(base, "MIN_WORK_PER_WORKER", 1)
    monkeypatch.setattr(base, "_workers", lambda: 3)
    y = layer(x)
    grads = (layer.backward(np.ones_like(y)), {k: v.copy() for k, v in layer.grads.items()})
    monkeypatch.setattr(base, "MIN_ROWS_PER_WORKER", 10**6)
    y1 = layer(x)
    g1 = layer.backward(np.ones_like(y1))
    np.testing.assert_allclose(y, y1, atol=1e-6)
    np.testing.assert_allclose(grads[0], g1, atol=1e-6)
    for key, value in grads[1].items():
        np.testing.assert_allclose(value, layer.grads[key], atol=1e-5)


def test_lstm_weight_gradients_split_across_threads_are_exact(monkeypatch):
    """The all-steps weight-gradient matmul split between threads by gate: same numbers."""
    import engram.nn.layers.recurrent_base as base

    x = np.random.default_rng(0).standard_normal((8, 5, 3)).astype(np.float32)
    layer = LSTM(32, return_sequences=True, bias_initializer="random_normal")
    y = layer(x)
    layer.backward(np.ones_like(y))
    single = {k: v.copy() for k, v in layer.grads.items()}
    workers, parallel_for = [], base.parallel_for
    monkeypatch.setattr(base, "SINGLE_THREAD_STEPS", True)  # the row-block mode
    monkeypatch.setattr(base, "MIN_WORK_PER_WORKER", 1)
    monkeypatch.setattr(base, "_workers", lambda: 2)
    monkeypatch.setattr(
        base, "parallel_for", lambda fn, n, w: workers.append(w) or parallel_for(fn, n, w)
    )
    y = layer(x)
    layer.backward(np.ones_like(y))
    assert 2 in workers  # the weight gradients ran in two threads (the loops, 8 rows, in one)
    for key, value in single.items():
        np.testing.assert_allclose(layer.grads[key], value, atol=1e-6)


def test_lstm_keras_layout_and_unit_forget_bias():
    layer = LSTM(5)
    layer.build((7, 3), np.random.default_rng(0))
    weights, recurrent, bias = layer.get_weights()
    assert weights.shape == (3, 20) and recurrent.shape == (5, 20) and bias.shape == (20,)
    np.testing.assert_array_equal(bias, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    plain = LSTM(5, unit_forget_bias=False)
    plain.build((7, 3), np.random.default_rng(0))
    assert not plain.params["bias"].any()
    assert layer.recurrent_activation.name == "sigmoid" and layer.activation.name == "tanh"


def test_lstm_return_state_shapes_and_sequential_refusal():
    x = np.zeros((2, 4, 3), dtype="float32")
    out, h, c = LSTM(6, return_state=True)(x)
    assert out.shape == h.shape == c.shape == (2, 6)
    np.testing.assert_array_equal(out, h)
    with pytest.raises(ValueError, match=r"\[output, hidden_state, cell_state\]"):
        Sequential([LSTM(6, return_state=True, input_shape=(4, 3))], seed=0).predict(x)


def test_lstm_initial_state_errors():
    layer = LSTM(4)
    x = np.zeros((2, 3, 1), dtype="float32")
    with pytest.raises(ValueError, match=r"list of 2 array\(s\) \[hidden_state, cell_state\]"):
        layer(x, initial_state=np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"initial_state cell_state must have shape \(2, 4\)"):
        layer(x, initial_state=[np.zeros((2, 4)), np.zeros((3, 4))])


def test_lstm_rejects_2d_input():
    with pytest.raises(ValueError, match=r"LSTM\(units=4\).*\(batch, time, features\)"):
        LSTM(4)(np.zeros((8, 5)))


def test_lstm_remembers_a_bit_over_a_delay():
    rng = np.random.default_rng(0)
    x = np.zeros((256, 12, 1), dtype=np.float32)
    bits = rng.integers(0, 2, 256)
    x[:, 0, 0] = 2 * bits - 1
    model = Sequential([LSTM(8, input_shape=(12, 1)), Dense(2, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, bits, epochs=25, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.95


@pytest.mark.parametrize(
    "activation, recurrent_activation",
    [("elu", "sigmoid"), ("tanh", "relu"), ("sigmoid", "tanh"), ("linear", "sigmoid")],
)
def test_lstm_gradcheck_with_partly_folded_gates(activation, recurrent_activation):
    """Gates whose activation has a tanh form are activated by the folded tanh pass, the
    others by their own forward_into; elu keeps its pre-activations."""
    layer = LSTM(
        3,
        activation=activation,
        recurrent_activation=recurrent_activation,
        return_sequences=True,
        bias_initializer="random_normal",
    )
    layer.build((6, 2), np.random.default_rng(0))
    report = gradcheck(layer, np.random.default_rng(1).standard_normal((2, 6, 2)))
    assert report.passed, str(report)
