"""Hebbian rules: known answers (principal components, BCM selectivity, the STDP window)."""

import numpy as np
import pytest

from engram.memory.hebbian import (
    HebbianTrainer,
    bcm_update,
    hebb_update,
    oja_update,
    sanger_update,
    stdp_step,
    stdp_weight_change,
    stdp_window,
)


def gaussian_data(n=4000, seed=0):
    """Zero-mean data with covariance eigenvalues 9, 4, 2.25, 1, 0.25, 0.25 in a random basis."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    scales = np.array([3.0, 2.0, 1.5, 1.0, 0.5, 0.5])
    x = (rng.normal(size=(n, 6)) * scales) @ basis.T
    return x - x.mean(axis=0), basis.T  # rows of basis.T: eigenvectors, largest first


def test_oja_converges_to_the_top_principal_component():
    x, eigvecs = gaussian_data()
    trainer = HebbianTrainer("oja", learning_rate=0.005, epochs=10, seed=0).fit(x)
    w = trainer.weights[0]
    assert abs(w @ eigvecs[0]) / np.linalg.norm(w) > 0.99
    assert np.linalg.norm(w) == pytest.approx(1.0, abs=0.02)


def test_sanger_converges_to_the_top_k_components_in_order():
    x, eigvecs = gaussian_data()
    w = HebbianTrainer("sanger", n_components=3, learning_rate=0.005, epochs=20, seed=1).fit(x)
    cos = np.abs(np.sum(w.weights * eigvecs[:3], axis=1)) / np.linalg.norm(w.weights, axis=1)
    assert (cos > 0.99).all(), cos
    np.testing.assert_allclose(w.weights @ w.weights.T, np.eye(3), atol=0.05)


def test_plain_hebb_grows_along_the_top_component_and_decay_does_not_stabilise_it():
    x, eigvecs = gaussian_data(n=1000)
    grown = HebbianTrainer("hebb", learning_rate=0.01, epochs=3, seed=0).fit(x)
    norms = [np.linalg.norm(h) for h in grown.history]
    assert norms[-1] > 100 * norms[0]  # dW = lr C W: exponential growth at rate lr * 9
    assert abs(grown.weights[0] @ eigvecs[0]) / norms[-1] > 0.99
    # decay only shifts the rate lr * lambda_max - decay (lambda_max = 9): no fixed point
    below = HebbianTrainer("hebb", learning_rate=0.01, decay=0.05, epochs=3, seed=0).fit(x)
    above = HebbianTrainer("hebb", learning_rate=0.01, decay=0.2, epochs=3, seed=0).fit(x)
    below_norms = [np.linalg.norm(h) for h in below.history]
    above_norms = [np.linalg.norm(h) for h in above.history]
    assert np.all(np.diff(below_norms) > 0) and below_norms[-1] > 10 * below_norms[0]
    assert np.all(np.diff(above_norms) < 0) and above_norms[-1] < 0.1 * above_norms[0]
    with pytest.raises(FloatingPointError, match="diverged.*passive decay does not bound it"):
        HebbianTrainer("hebb", learning_rate=1.0, epochs=50, seed=0).fit(x)


def test_update_functions_match_their_formulas():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4))
    w = rng.normal(size=(3, 4))
    y = x @ w.T
    np.testing.assert_allclose(
        hebb_update(w, x, y, 0.1, decay=0.01), w + 0.1 * y.T @ x / 5 - 0.01 * w
    )
    terms = [yi * (xi - yi * w[0]) for xi, yi in zip(x, y[:, 0], strict=True)]
    expected = w[0] + 0.1 * np.mean(terms, axis=0)
    np.testing.assert_allclose(oja_update(w[0], x, 0.1), expected)
    g = sanger_update(w, x, 0.1)
    for j in range(3):  # neuron j: Oja's rule on the input minus the first j reconstructions
        resid = x - y[:, :j] @ w[:j]
        dj = np.mean(y[:, j : j + 1] * (resid - y[:, j : j + 1] * w[j]), axis=0)
        np.testing.assert_allclose(g[j], w[j] + 0.1 * dj)


def test_bcm_becomes_selective_for_one_of_two_patterns():
    patterns = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    rng = np.random.default_rng(0)
    w = np.array([[0.5, 0.5, 0.45, 0.45]])  # nearly unselective start
    theta = np.zeros(1)
    for _ in range(4000):
        w, theta = bcm_update(w, theta, patterns[rng.integers(0, 2, 1)], 0.02, 0.2)
    responses = np.maximum(patterns @ w.T, 0)[:, 0]
    assert responses[0] > 0.5 and responses[1] < 0.05 * responses[0]
    # selective fixed point: theta = <y^2> = y1^2 / 2 = y1, so y1 = 2 (1 / how often it is shown)
    assert responses[0] == pytest.approx(2.0, rel=0.3)


def test_stdp_window_is_asymmetric():
    dt = np.array([-40.0, -10.0, -1.0, 0.0, 1.0, 10.0, 40.0])
    dw = stdp_window(dt, a_plus=0.01, a_minus=0.012, tau_plus=20.0, tau_minus=20.0)
    assert (dw[dt > 0] > 0).all() and (dw[dt < 0] < 0).all() and dw[3] == 0
    assert dw[4] > dw[5] > dw[6] and dw[2] < dw[1] < dw[0]  # decay with |dt|
    assert dw[5] == pytest.approx(0.01 * np.exp(-0.5))
    assert dw[1] == pytest.approx(-0.012 * np.exp(-0.5))


def test_trace_stdp_on_spike_pairs_reproduces_the_window():
    lags = np.arange(-50, 51, 5)
    t0, steps = 60, 130
    pre = np.zeros((steps, len(lags)))
    post = np.zeros((steps, len(lags)))
    pre[t0, :] = 1
    post[t0 + lags, np.arange(len(lags))] = 1
    dw = np.diag(stdp_weight_change(pre, post, dt=1.0))  # synapse k sees one pair at lag k
    np.testing.assert_allclose(dw, stdp_window(lags), atol=1e-12)


def test_stdp_step_clips_and_keeps_traces():
    w = np.full((1, 2), 0.99)
    w, x, y = stdp_step(w, np.zeros(2), np.zeros(1), np.array([1, 0]), np.array([0]), w_max=1.0)
    assert x.tolist() == [1.0, 0.0] and y.tolist() == [0.0]
    w, x, y = stdp_step(w, x, y, np.array([0, 0]), np.array([1]), a_plus=0.5, w_max=1.0)
    assert w[0, 0] == 1.0 and w[0, 1] == 0.99


def test_bad_settings():
    x = np.ones((10, 3))
    with pytest.raises(ValueError, match="rule must be one of 'hebb', 'oja', 'sanger', 'bcm'"):
        HebbianTrainer("ojas").fit(x)
    with pytest.raises(ValueError, match="rule='oja' trains one neuron.*rule='sanger'"):
        HebbianTrainer("oja", n_components=2).fit(x)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        HebbianTrainer("oja", learning_rate=0).fit(x)
    with pytest.raises(ValueError, match="must be a 2-D array"):
        HebbianTrainer("oja").fit(np.ones(5))
    with pytest.raises(ValueError, match="same time steps"):
        stdp_weight_change(np.zeros((5, 1)), np.zeros((6, 1)))
