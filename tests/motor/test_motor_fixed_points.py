"""The fixed-point finder on maps whose fixed points are known exactly."""

import itertools

import numpy as np
import pytest
from scipy.optimize import brentq as _brentq

from engram.motor.fixed_points import (
    find_fixed_points,
    finite_difference_jacobian,
    rate_rnn_map,
    speed_of_euler_q,
    tanh_rnn_map,
)


def brentq(f, a, b):
    """A root of f in [a, b] to machine precision (scipy's default xtol is 2e-12)."""
    return _brentq(f, a, b, xtol=1e-16, rtol=4 * np.finfo(float).eps)


def linear_map(matrix, offset):
    """F(h) = A h + c in column notation, i.e. h @ A.T + c on row vectors."""

    def step(h):
        return h @ matrix.T + offset

    def jacobian(h):
        return np.broadcast_to(matrix, (len(h), *matrix.shape)).copy()

    return step, jacobian


def with_eigenvalues(values, seed):
    basis = np.random.default_rng(seed).normal(size=(len(values), len(values)))
    return basis @ np.diag(values) @ np.linalg.inv(basis)


@pytest.mark.parametrize(
    ("eigenvalues", "n_unstable"),
    [((0.9, -0.5, 0.3, 0.1), 0), ((1.5, 0.5, -1.2, 0.3), 2), ((2.0, 3.0, -1.5, 1.1), 4)],
)
def test_linear_map_has_one_exact_fixed_point(eigenvalues, n_unstable):
    rng = np.random.default_rng(0)
    matrix = with_eigenvalues(eigenvalues, seed=1)
    offset = rng.normal(size=4)
    step, jac = linear_map(matrix, offset)
    found = find_fixed_points(step, jac, rng.normal(scale=3.0, size=(20, 4)))
    exact = np.linalg.solve(np.eye(4) - matrix, offset)
    assert len(found) == 1 and found.n_converged == 20 and found.n_initial == 20
    np.testing.assert_allclose(found.points[0], exact, atol=1e-12)
    assert found.q[0] < 1e-24
    assert found.n_unstable[0] == n_unstable and found.is_stable[0] == (n_unstable == 0)
    np.testing.assert_allclose(
        np.sort(np.abs(found.eigenvalues[0])), np.sort(np.abs(eigenvalues)), rtol=1e-10
    )


def test_bistable_unit_two_attractors_and_a_repeller():
    # h' = tanh(2 h): fixed points 0 (slope 2: unstable) and +-h* with h* = tanh(2 h*).
    h_star = brentq(lambda h: np.tanh(2 * h) - h, 0.5, 1.5)
    step, jac = tanh_rnn_map([[2.0]])
    found = find_fixed_points(step, jac, np.linspace(-3, 3, 61)[:, None])
    np.testing.assert_allclose(found.points[:, 0], [-h_star, h_star, 0.0], atol=1e-14)
    np.testing.assert_array_equal(found.n_unstable, [0, 0, 1])
    np.testing.assert_array_equal(found.is_stable, [True, True, False])
    np.testing.assert_allclose(found.eigenvalues[:2, 0], 2 * (1 - h_star**2), rtol=1e-12)
    assert found.eigenvalues[2, 0] == pytest.approx(2.0)


def test_two_attractor_network_with_a_saddle_at_the_origin():
    # W = [[1.5, 1], [1, 1.5]]: eigenvalue 2.5 along (1, 1) (bistable), 0.5 along (1, -1).
    # Fixed points: the origin, a saddle (eigenvalues 2.5 and 0.5), and +-(a, a) with
    # a = tanh(2.5 a), both attractors. Nothing else.
    a = brentq(lambda h: np.tanh(2.5 * h) - h, 0.5, 1.5)
    step, jac = tanh_rnn_map([[1.5, 1.0], [1.0, 1.5]])
    grid = np.stack(np.meshgrid(np.linspace(-2, 2, 15), np.linspace(-2, 2, 15)), -1)
    found = find_fixed_points(step, jac, grid.reshape(-1, 2))
    assert len(found) == 3
    np.testing.assert_allclose(found.points, [[-a, -a], [a, a], [0.0, 0.0]], atol=1e-13)
    np.testing.assert_array_equal(found.n_unstable, [0, 0, 1])
    np.testing.assert_allclose(found.eigenvalues[2], [2.5, 0.5], atol=1e-12)
    np.testing.assert_allclose(found.stable_points, [[-a, -a], [a, a]], atol=1e-13)


def test_three_bistable_units_give_27_points_8_of_them_stable():
    # Three uncoupled h' = tanh(2 h) units: every combination of {-h*, 0, h*}; a point with k
    # zero coordinates has k unstable dimensions: 8 attractors, 12 + 6 saddles, 1 repeller.
    h_star = brentq(lambda h: np.tanh(2 * h) - h, 0.5, 1.5)
    step, jac = tanh_rnn_map(2.0 * np.eye(3))
    grid = np.array(list(itertools.product(np.linspace(-1.5, 1.5, 7), repeat=3)))
    found = find_fixed_points(step, jac, grid)
    assert len(found) == 27
    np.testing.assert_array_equal(np.bincount(found.n_unstable), [8, 12, 6, 1])
    expected = np.array(list(itertools.product([-h_star, 0.0, h_star], repeat=3)))
    dist = np.linalg.norm(found.points[:, None] - expected[None], axis=-1)
    assert np.all(dist.min(axis=1) < 1e-13)
    zeros = np.sum(np.abs(found.points) < 1e-9, axis=1)
    np.testing.assert_array_equal(zeros, found.n_unstable)


def test_rate_network_fixed_points_and_stability():
    # h = 2 tanh(h): 0 and +-x with x = 2 tanh(x); the Euler map keeps them and their stability.
    x = brentq(lambda h: 2 * np.tanh(h) - h, 1.0, 3.0)
    step, jac = rate_rnn_map([[2.0]], dt=10.0, tau=50.0)
    found = find_fixed_points(step, jac, np.linspace(-4, 4, 41)[:, None])
    np.testing.assert_allclose(found.points[:, 0], [-x, x, 0.0], atol=1e-12)
    np.testing.assert_array_equal(found.n_unstable, [0, 0, 1])
    alpha = 0.2
    assert found.eigenvalues[2, 0].real == pytest.approx(1 + alpha)  # 1 - a + 2 a
    assert found.eigenvalues[0, 0].real == pytest.approx(1 - alpha + 2 * alpha / np.cosh(x) ** 2)


def test_euler_q_converts_to_sussillo_and_barak_continuous_time_speed():
    # q of the map is 1/2 |F(h) - h|^2 = 1/2 |dt dh/dt|^2; their q is 1/2 |dh/dt|^2.
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(4, 4)), rng.normal(size=4)
    dt, tau = 10.0, 50.0
    step, _ = rate_rnn_map(w, bias=b, dt=dt, tau=tau)
    h = rng.normal(size=(3, 4))
    q_map = 0.5 * np.sum((step(h) - h) ** 2, axis=1)
    velocity = (-h + np.tanh(h) @ w + b) / tau  # dh/dt of the ODE, per ms
    np.testing.assert_allclose(speed_of_euler_q(q_map, dt), 0.5 * np.sum(velocity**2, axis=1))
    np.testing.assert_allclose(
        speed_of_euler_q(q_map, dt / 1000), 1e6 * speed_of_euler_q(q_map, dt)
    )
    with pytest.raises(ValueError, match="dt"):
        speed_of_euler_q(q_map, 0.0)


@pytest.mark.parametrize("builder", [tanh_rnn_map, rate_rnn_map])
def test_map_jacobians_match_finite_differences(builder):
    rng = np.random.default_rng(0)
    units, n_in = 5, 2
    step, jac = builder(
        rng.normal(size=(units, units)), rng.normal(size=(n_in, units)), rng.normal(size=units)
    )
    h, u = rng.normal(size=(7, units)), rng.normal(size=(7, n_in))
    np.testing.assert_allclose(jac(h, u), finite_difference_jacobian(step)(h, u), atol=1e-8)
    np.testing.assert_allclose(jac(h), finite_difference_jacobian(step)(h), atol=1e-8)


def test_constant_inputs_move_the_fixed_point():
    # h' = tanh(0.5 h + 1.0 u): a single attractor, solving h = tanh(0.5 h + u).
    step, jac = tanh_rnn_map([[0.5]], input_weights=[[1.0]])
    found = find_fixed_points(step, jac, np.linspace(-2, 2, 9)[:, None], inputs=[0.3])
    exact = brentq(lambda h: np.tanh(0.5 * h + 0.3) - h, -1, 1)
    assert len(found) == 1 and found.is_stable[0]
    assert found.points[0, 0] == pytest.approx(exact, abs=1e-14)
    per_state = find_fixed_points(step, jac, np.zeros((2, 1)), inputs=[[0.3], [-0.3]])
    np.testing.assert_allclose(np.sort(per_state.points[:, 0]), [-exact, exact], atol=1e-14)


def test_finite_difference_jacobian_and_adam_also_find_the_points():
    h_star = brentq(lambda h: np.tanh(2 * h) - h, 0.5, 1.5)
    step, _ = tanh_rnn_map([[2.0]])
    found = find_fixed_points(step, None, np.linspace(-3, 3, 13)[:, None])
    np.testing.assert_allclose(found.points[:, 0], [-h_star, h_star, 0.0], atol=1e-10)
    step, jac = tanh_rnn_map(2.0 * np.eye(2))
    starts = np.random.default_rng(0).uniform(-2, 2, size=(40, 2))
    adam = find_fixed_points(
        step, jac, starts, method="adam", max_iter=3000, tol_q=1e-10, dedup_tol=1e-3
    )
    stable = adam.stable_points
    assert len(stable) == 4
    np.testing.assert_allclose(np.abs(stable), h_star, atol=1e-4)


def test_slow_points_need_a_looser_tolerance():
    # F(h) = h + 0.1 (h^2 + 0.01): no fixed point; q has a minimum 5e-7 at h = 0 (a slow point).
    def step(h):
        return h + 0.1 * (h**2 + 0.01)

    def jac(h):
        return (1 + 0.2 * h)[:, :, None]

    starts = np.linspace(-0.5, 0.5, 11)[:, None]
    assert len(find_fixed_points(step, jac, starts)) == 0
    slow = find_fixed_points(step, jac, starts, tol_q=1e-5)
    assert len(slow) == 1 and slow.points[0, 0] == pytest.approx(0.0, abs=1e-8)
    assert slow.q[0] == pytest.approx(0.5 * 0.001**2)


def test_noise_on_initial_states_is_seeded():
    step, jac = tanh_rnn_map(2.0 * np.eye(2))
    starts = np.full((10, 2), 0.5)
    a = find_fixed_points(step, jac, starts, noise_scale=0.5, seed=0)
    b = find_fixed_points(step, jac, starts, noise_scale=0.5, seed=0)
    np.testing.assert_array_equal(a.points, b.points)


def test_bad_input_raises_clear_errors():
    step, jac = tanh_rnn_map(np.eye(3))
    with pytest.raises(ValueError, match=r"initial_states must be a 2-D array \(n, units\)"):
        find_fixed_points(step, jac, np.zeros(3))
    with pytest.raises(ValueError, match="step must map states of shape"):
        find_fixed_points(lambda h: h[:, :2], jac, np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"jacobian must return dF/dh of shape \(n, units, units"):
        find_fixed_points(step, lambda h: np.zeros((len(h), 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="NaN or Inf"):
        find_fixed_points(step, jac, np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="recurrent_weights must be square"):
        tanh_rnn_map(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"input_weights must have shape \(inputs, 3\)"):
        rate_rnn_map(np.eye(3), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="method must be one of 'lm', 'adam'"):
        find_fixed_points(step, jac, np.zeros((2, 3)), method="newton")
    with pytest.raises(ValueError, match="inputs must be one constant input"):
        find_fixed_points(step, jac, np.zeros((2, 3)), inputs=np.zeros((3, 1)))
