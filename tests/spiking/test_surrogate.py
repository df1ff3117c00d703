"""Surrogate-gradient BPTT written by hand, against PyTorch autograd on the same forward."""

import numpy as np
import pytest

from engram.spiking.surrogate import (
    LIFLayer,
    LIReadout,
    SparseSpikes,
    SpikingClassifier,
    latency_encode,
    superspike_grad,
)

torch = pytest.importorskip("torch")


class _SuperSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad / (100.0 * v.abs() + 1.0) ** 2


def _torch_loss(x, w1, w2, y, alpha, beta, l1, l2):
    """SpyTorch tutorial 2's forward (reset detached), in float64."""
    h1 = x @ w1
    batch, steps, hidden = h1.shape
    syn = torch.zeros(batch, hidden, dtype=x.dtype)
    mem = torch.zeros_like(syn)
    spikes = []
    for t in range(steps):
        out = _SuperSpike.apply(mem - 1.0)
        rst = out.detach()
        new_syn = alpha * syn + h1[:, t]
        mem = (beta * mem + syn) * (1.0 - rst)
        syn = new_syn
        spikes.append(out)
    s = torch.stack(spikes, dim=1)
    h2 = s @ w2
    flt = torch.zeros(batch, w2.shape[1], dtype=x.dtype)
    out = torch.zeros_like(flt)
    trace = [out]
    for t in range(steps):
        new_flt = alpha * flt + h2[:, t]
        out = beta * out + flt
        flt = new_flt
        trace.append(out)
    logits = torch.stack(trace, dim=1).max(dim=1).values
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss = loss + l1 * s.sum() + l2 * torch.mean(s.sum(dim=(0, 1)) ** 2)
    return loss, s


def test_bptt_gradients_match_torch_autograd_in_float64():
    rng = np.random.default_rng(0)
    x = (rng.random((6, 40, 20)) < 0.1).astype(np.float64)
    y = rng.integers(0, 4, 6)
    model = SpikingClassifier(20, hidden=15, classes=4, seed=1, dtype=np.float64, l1=1e-3, l2=1e-3)
    model.hidden.params["weights"] *= 3.0  # enough spikes that every path carries gradient
    loss, out = model.compute_gradients(x, y)
    assert out["spikes"].sum() > 20
    alpha, beta = np.exp(-1 / 5), np.exp(-1 / 10)
    w1 = torch.tensor(model.hidden.params["weights"], requires_grad=True)
    w2 = torch.tensor(model.readout.params["weights"], requires_grad=True)
    t_loss, t_spikes = _torch_loss(torch.tensor(x), w1, w2, torch.tensor(y), alpha, beta,
                                   1e-3, 1e-3)  # fmt: skip
    t_loss.backward()
    np.testing.assert_array_equal(out["spikes"], t_spikes.detach().numpy())
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    for mine, ref in ((model.hidden.grads["weights"], w1.grad), (model.readout.grads["weights"],
                                                                  w2.grad)):  # fmt: skip
        ref = ref.numpy()
        assert np.abs(mine - ref).max() <= 1e-6 * np.abs(ref).max()
        assert np.abs(ref).max() > 0


def test_layer_input_gradients_match_torch():
    rng = np.random.default_rng(1)
    x = rng.random((3, 25, 8)) * 0.6
    layer = LIFLayer(5, name="lif")
    layer.build(8, seed=2, dtype=np.float64)
    layer.params["weights"] *= 20
    spikes, _ = layer.forward(x)
    g = rng.normal(size=spikes.shape)
    gx = layer.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    w = torch.tensor(layer.params["weights"])
    h1, syn = tx @ w, torch.zeros(3, 5, dtype=torch.float64)
    mem, outs = torch.zeros_like(syn), []
    alpha, beta = np.exp(-1 / 5), np.exp(-1 / 10)
    for t in range(25):
        out = _SuperSpike.apply(mem - 1.0)
        mem, syn = (beta * mem + syn) * (1.0 - out.detach()), alpha * syn + h1[:, t]
        outs.append(out)
    (torch.stack(outs, 1) * torch.tensor(g)).sum().backward()
    assert spikes.sum() > 5
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-6, atol=1e-12)


def test_readout_gradient_by_finite_differences():
    rng = np.random.default_rng(2)
    layer = LIReadout(3)
    layer.build(4, seed=0, dtype=np.float64)
    x = rng.random((2, 10, 4))
    g = rng.normal(size=(2, 11, 3))
    layer.forward(x)
    gx = layer.backward(g)
    eps, k = 1e-6, (1, 4, 2)
    xp, xm = x.copy(), x.copy()
    xp[k] += eps
    xm[k] -= eps
    numeric = ((layer.forward(xp) - layer.forward(xm)) * g).sum() / (2 * eps)
    assert gx[k] == pytest.approx(numeric, rel=1e-6)


def test_latency_code_brighter_fires_earlier_and_dark_stays_silent():
    spikes = latency_encode(np.array([[1.0, 0.5, 0.1]]), steps=100)
    times = [np.flatnonzero(spikes[0, :, i]) for i in range(3)]
    assert times[0][0] < times[1][0] and times[2].size == 0
    assert times[0][0] == round(20 * np.log(1 / 0.8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        latency_encode(np.array([[2.0]]))


def test_surrogate_is_one_at_threshold_and_decays():
    assert superspike_grad(np.array([0.0, 0.01, -0.01]), 100.0).tolist() == [1.0, 0.25, 0.25]


def test_sparse_input_path_matches_the_dense_reference():
    """SparseSpikes (sparse products) against the dense GEMM path on the same latency code."""
    rng = np.random.default_rng(3)
    images = rng.random((9, 30)) * (rng.random((9, 30)) < 0.6)
    y = rng.integers(0, 3, 9)
    dense = latency_encode(images, steps=40)
    sparse = latency_encode(images, steps=40, sparse=True)
    np.testing.assert_array_equal(sparse.to_dense(), dense)
    runs = []
    for x in (dense, sparse):
        model = SpikingClassifier(30, hidden=12, classes=3, seed=4, dtype=np.float64)
        model.hidden.params["weights"] *= 4.0
        loss, out = model.compute_gradients(x, y)
        runs.append((loss, out["spikes"], [layer.grads["weights"] for layer in model.layers]))
    (loss_d, spikes_d, grads_d), (loss_s, spikes_s, grads_s) = runs
    assert spikes_d.sum() > 20
    np.testing.assert_array_equal(spikes_s, spikes_d)
    assert loss_s == pytest.approx(loss_d, rel=1e-12)
    for g_s, g_d in zip(grads_s, grads_d, strict=True):
        np.testing.assert_allclose(g_s, g_d, rtol=1e-10, atol=1e-14)
        assert np.abs(g_d).max() > 0
    layer = model.hidden  # the input gradient of a sparse input, as for a dense one
    layer.forward(sparse)
    g = rng.normal(size=(9, 40, 12))
    gx_sparse = layer.backward(g)
    layer.forward(dense)
    np.testing.assert_allclose(gx_sparse, layer.backward(g), rtol=1e-10, atol=1e-14)


def test_sparse_spikes_round_trip_and_shape_check():
    x = (np.random.default_rng(5).random((4, 6, 3)) < 0.2).astype(np.float32)
    spikes = SparseSpikes.from_dense(x)
    assert spikes.shape == (4, 6, 3) and spikes.matrix.nnz == int(x.sum())
    np.testing.assert_array_equal(spikes.to_dense(), x)
    with pytest.raises(ValueError, match=r"\(steps \* batch, features\) = \(24, 3\)"):
        SparseSpikes(spikes.matrix[:5], (4, 6, 3))


def test_backward_leaves_the_callers_gradient_untouched():
    layer = LIFLayer(4)
    layer.build(3, seed=0)
    layer.forward(np.ones((1, 5, 3), np.float32))  # batch 1: the time-major view is contiguous
    g = np.ones((1, 5, 4), np.float32)
    layer.backward(g)
    np.testing.assert_array_equal(g, 1.0)
