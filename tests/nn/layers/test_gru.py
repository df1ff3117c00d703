import numpy as np
import pytest
import torch
from torch.func import functional_call

from engram.nn import gradcheck
from engram.nn.layers import GRU
from tests.helpers import check_layer


def torch_weights(p, units):
    """Keras's GRU (z, r, h blocks; bias (2, 3 units)) -> torch.nn.GRU (r, z, n blocks)."""
    u = units
    order = torch.tensor(np.r_[u : 2 * u, 0:u, 2 * u : 3 * u])
    bias = p.get("bias", torch.zeros(2, 3 * u))
    return {
        "weight_ih_l0": p["weights"][:, order].T,
        "weight_hh_l0": p["recurrent_weights"][:, order].T,
        "bias_ih_l0": bias[0][order],
        "bias_hh_l0": bias[1][order],
    }


def torch_gru(return_sequences=False, go_backwards=False):
    def fn(p, x):
        units = p["recurrent_weights"].shape[0]
        module = torch.nn.GRU(x.shape[-1], units, batch_first=True)
        out, _ = functional_call(
            module, torch_weights(p, units), (x.flip(1) if go_backwards else x,)
        )
        return out if return_sequences else out[:, -1]

    return fn


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gru_harness(return_sequences, go_backwards, tmp_path):
    kwargs = {
        "units": 3,
        "return_sequences": return_sequences,
        "go_backwards": go_backwards,
        "bias_initializer": "random_normal",
    }
    check_layer(
        GRU, kwargs, (2, 5, 3), torch_gru(return_sequences, go_backwards), tmp_path=tmp_path
    )


def test_gru_without_bias_harness(tmp_path):
    check_layer(GRU, {"units": 3, "use_bias": False}, (2, 4, 2), torch_gru(), tmp_path=tmp_path)


def test_gru_states_and_initial_state_gradient_match_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6, 2)).astype(np.float32)
    h0 = rng.standard_normal((3, 4)).astype(np.float32)
    layer = GRU(4, return_sequences=True, return_state=True, bias_initializer="random_normal")
    outputs, h = layer(x, initial_state=h0)
    g_out, g_h = (rng.standard_normal(a.shape).astype(np.float32) for a in (outputs, h))
    grad_x = layer.backward(g_out, grad_states=[g_h])

    params = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    x_t, h0_t = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    module = torch.nn.GRU(2, 4, batch_first=True)
    out_t, h_t = functional_call(module, torch_weights(params, 4), (x_t, h0_t[None]))
    ((out_t * torch.tensor(g_out)).sum() + (h_t[0] * torch.tensor(g_h)).sum()).backward()
    np.testing.assert_allclose(outputs, out_t.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(h, h_t[0].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(layer.grad_initial_state[0], h0_t.grad.numpy(), atol=1e-5)
    for key in ("weights", "recurrent_weights", "bias"):
        np.testing.assert_allclose(layer.grads[key], params[key].grad.numpy(), atol=1e-5)


def test_gru_gradcheck_through_25_steps_with_relu_candidate_and_dropout_free():
    layer = GRU(3, activation="relu", return_sequences=True, bias_initializer="random_normal")
    layer.build((25, 2), np.random.default_rng(0))
    report = gradcheck(layer, np.random.default_rng(1).standard_normal((2, 25, 2)))
    assert report.passed, str(report)


def test_gru_keras_layout():
    layer = GRU(5)
    layer.build((7, 3), np.random.default_rng(0))
    weights, recurrent, bias = layer.get_weights()
    assert weights.shape == (3, 15) and recurrent.shape == (5, 15) and bias.shape == (2, 15)
    assert layer.get_config()["reset_after"] is True


def test_gru_reset_before_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="reset_after=False.*not implemented"):
        GRU(4, reset_after=False)


def test_gru_rejects_zero_length_sequences():
    with pytest.raises(ValueError, match="GRU.*sequences of length 0"):
        GRU(4)(np.zeros((2, 0, 3)))
