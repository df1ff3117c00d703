"""PCA, soft normalization, condition averaging, jPCA and its surrogate test, on known answers."""

import numpy as np
import pytest
from scipy.linalg import expm, subspace_angles

from engram.motor.analysis import condition_average, jpca, pca, soft_normalize
from engram.motor.surrogates import jpca_surrogate_test

DT = 0.01  # seconds per step
FREQS = (3.0, 1.5, 0.75)  # Hz, one per rotation plane, fastest first


def rotational_data(seed, n_cond=24, n_time=50, n_neurons=20, noise=0.02):
    """Three planar rotations (FREQS) embedded in 6 of n_neurons dimensions, plus noise.

    Each condition has its own initial phase and amplitude per plane. Returns the activity
    (conditions, time, neurons), the times in seconds and the (neurons, 6) embedding whose first
    two columns span the fastest plane.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_time) * DT
    embed = np.linalg.qr(rng.normal(size=(n_neurons, 6)))[0]
    latent = np.zeros((n_cond, n_time, 6))
    for p, (freq, amp) in enumerate(zip(FREQS, (1.0, 0.6, 0.4), strict=True)):
        phase = rng.uniform(0, 2 * np.pi, (n_cond, 1))
        radius = amp * rng.uniform(0.5, 1.5, (n_cond, 1))
        latent[:, :, 2 * p] = radius * np.cos(2 * np.pi * freq * t + phase)
        latent[:, :, 2 * p + 1] = radius * np.sin(2 * np.pi * freq * t + phase)
    activity = latent @ embed.T + 10.0 + noise * rng.normal(size=(n_cond, n_time, n_neurons))
    return activity, t, embed


def linear_data(seed, generator, n_cond=24, n_time=50, n_neurons=20, noise=0.02):
    """dz/dt = generator z in 6 latent dimensions from random initial states, embedded."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_time) * DT
    embed = np.linalg.qr(rng.normal(size=(n_neurons, 6)))[0]
    z0 = rng.normal(size=(n_cond, 6))
    latent = np.stack([z0 @ expm(generator * s).T for s in t], axis=1)
    return latent @ embed.T + 5.0 + noise * rng.normal(size=(n_cond, n_time, n_neurons)), t


def decay_generator(seed):
    return -np.diag(np.random.default_rng(seed).uniform(2.0, 6.0, 6))


def symmetric_generator(seed):
    a = np.random.default_rng(seed).normal(size=(6, 6))
    sym = (a + a.T) / 2
    return 4.0 * sym / np.abs(np.linalg.eigvalsh(sym)).max()  # growth and decay, no rotation


# ------------------------------------------------------------------------- PCA & co


def test_pca_matches_numpy_svd():
    activity = np.random.default_rng(0).normal(size=(6, 30, 15)).cumsum(axis=1)
    result = pca(activity, n_components=4)
    flat = activity.reshape(-1, 15)
    centered = flat - flat.mean(axis=0)
    _, sing, vt = np.linalg.svd(centered, full_matrices=False)
    signs = np.sign(np.sum(result.components * vt[:4], axis=1))
    np.testing.assert_allclose(result.components, vt[:4] * signs[:, None], atol=1e-10)
    np.testing.assert_allclose(result.explained_variance_ratio, (sing**2 / np.sum(sing**2))[:4])
    np.testing.assert_allclose(result.projections.reshape(-1, 4), centered @ result.components.T)
    np.testing.assert_allclose(result.mean, flat.mean(axis=0))
    np.testing.assert_allclose(result.transform(activity), result.projections, atol=1e-12)
    np.testing.assert_allclose(result.components @ result.components.T, np.eye(4), atol=1e-12)


def test_soft_normalize_divides_by_range_plus_constant():
    activity = np.zeros((2, 3, 2))
    activity[0, :, 0] = [0.0, 10.0, 20.0]  # range 20
    activity[1, :, 1] = [1.0, 1.5, 2.0]  # with the zeros of condition 0: range 2
    out = soft_normalize(activity, soft=5.0)
    np.testing.assert_allclose(out[0, :, 0], [0.0, 10 / 25, 20 / 25])
    np.testing.assert_allclose(out[1, :, 1], np.array([1.0, 1.5, 2.0]) / 7.0)  # range 0..2
    np.testing.assert_allclose(soft_normalize(activity, soft=0.0)[0, :, 0], [0.0, 0.5, 1.0])


def test_condition_average_aligns_windows():
    activity = np.arange(4 * 10, dtype=float).reshape(4, 10, 1)  # trial i: 10 i .. 10 i + 9
    out = condition_average(activity, [0, 1, 0, 1], align=[5, 3, 7, 3], before=2, after=2)
    np.testing.assert_allclose(out[0, :, 0], (np.arange(3, 7) + np.arange(25, 29)) / 2)
    np.testing.assert_allclose(out[1, :, 0], (np.arange(11, 15) + np.arange(31, 35)) / 2)
    np.testing.assert_allclose(condition_average(activity, [0, 0, 0, 0])[0], activity.mean(0))
    with pytest.raises(ValueError, match="Drop catch trials"):
        condition_average(activity, [0, 1, 0, 1], align=[-1, 3, 7, 3], before=2, after=2)
    with pytest.raises(ValueError, match=r"No trials of condition\(s\) \[2\]"):
        condition_average(activity, [0, 1, 0, 1], n_conditions=3)


# ------------------------------------------------------------------- jPCA: known answers


@pytest.mark.parametrize("soft", [None, 5.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_jpca_recovers_a_known_rotation(seed, soft):
    activity, t, embed = rotational_data(seed)
    result = jpca(activity, n_pcs=6, times=t, soft_normalize=soft)
    # The true top plane, seen in the soft-normalized space the jPCs live in.
    true_plane = embed[:, :2] / result.norm_factors[:, None]
    angle = np.degrees(subspace_angles(result.jpcs[:2].T, true_plane)).max()
    assert angle < 5.0  # measured 0.2-1.2 degrees
    assert result.r2_ratio > 0.99  # measured 0.996-1.000
    assert result.r2_skew > 0.85  # noise in the derivative limits both R^2 (~0.9)
    np.testing.assert_allclose(result.frequencies, FREQS, rtol=0.05)  # measured < 0.6%
    np.testing.assert_allclose(result.jpcs @ result.jpcs.T, np.eye(6), atol=1e-10)
    assert result.variance_per_plane[0] > result.variance_per_plane[1]
    assert 0.95 < result.variance_per_plane.sum() <= 1.0
    # counter-clockwise: the angle in the top plane increases at every step in every condition
    proj = result.projections[:, :, :2]
    angles = np.unwrap(np.arctan2(proj[..., 1], proj[..., 0]), axis=1)
    assert np.all(np.diff(angles, axis=1) > 0)
    np.testing.assert_allclose(
        np.abs(result.eigenvalues[::2].imag) / (2 * np.pi), result.frequencies
    )


def test_jpca_exact_rotation_is_fit_exactly_by_a_skew_matrix():
    activity, t, _ = rotational_data(3, noise=0.0)
    result = jpca(activity, n_pcs=6, times=t, soft_normalize=None)
    assert result.r2_skew == pytest.approx(1.0, abs=1e-10)
    assert result.r2_best == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(result.m_skew, result.m_best, atol=1e-6)
    np.testing.assert_allclose(result.m_skew, -result.m_skew.T)
    # the midpoint state leaves only the tan(w dt / 2) / (w dt / 2) discretization bias
    omega_dt = 2 * np.pi * np.asarray(FREQS) * DT
    expected = np.asarray(FREQS) * np.tan(omega_dt / 2) / (omega_dt / 2)
    np.testing.assert_allclose(result.frequencies, expected, rtol=1e-8)
    np.testing.assert_allclose(result.project(activity), result.projections, atol=1e-10)


def test_jpca_ratio_of_a_damped_spiral_is_its_rotational_share():
    # dz/dt = (-lam I + w J) z from states spread evenly on a circle: R2_skew / R2_best is
    # w^2 / (w^2 + lam^2), the fraction of the flow that is rotation. Here lam = w: 0.5.
    omega = 2 * np.pi * 2.0
    generator = np.array([[-omega, -omega], [omega, -omega]])
    t = np.arange(40) * DT
    phase = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    z0 = np.stack([np.cos(phase), np.sin(phase)], axis=1)
    latent = np.stack([z0 @ expm(generator * s).T for s in t], axis=1)
    embed = np.linalg.qr(np.random.default_rng(0).normal(size=(10, 2)))[0]
    result = jpca(latent @ embed.T, n_pcs=2, times=t, soft_normalize=None)
    assert result.r2_best == pytest.approx(1.0, abs=1e-10)
    assert result.r2_ratio == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("make", [decay_generator, symmetric_generator])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jpca_ratio_is_low_without_rotation(make, seed):
    # For a 2-D spiral, ratio = w^2 / (w^2 + lam^2) (test above): 0.1 means w / lam = 1/3, a
    # turn of a third of a radian per e-fold of decay. Pure decay and symmetric (saddle-like)
    # dynamics have no rotation; the measured ratios are 0.005-0.03, all from noise.
    activity, t = linear_data(seed, make(seed))
    result = jpca(activity, n_pcs=6, times=t)
    assert result.r2_ratio < 0.1
    assert result.r2_best > 0.2


def test_jpca_is_unchanged_by_rotating_the_neurons():
    activity, t, _ = rotational_data(4)
    rotation = np.linalg.qr(np.random.default_rng(1).normal(size=(20, 20)))[0]
    a = jpca(activity, times=t, soft_normalize=None)
    b = jpca(activity @ rotation, times=t, soft_normalize=None)
    assert a.r2_skew == pytest.approx(b.r2_skew) and a.r2_best == pytest.approx(b.r2_best)
    np.testing.assert_allclose(a.frequencies, b.frequencies)
    np.testing.assert_allclose(a.projections, b.projections, atol=1e-8)


def planar_rotation(freq=2.0, n_cond=8, n_time=40, n_neurons=10):
    """An exact rotation at ``freq`` Hz in one plane; conditions at equally spaced phases."""
    t = np.arange(n_time) * DT
    phases = np.linspace(0, 2 * np.pi, n_cond, endpoint=False)[:, None]
    angle = 2 * np.pi * freq * t + phases
    axes = np.linalg.qr(np.random.default_rng(0).normal(size=(n_neurons, 2)))[0]
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1) @ axes.T, t


def test_jpca_earlier_state_misses_an_exact_rotation_by_cos_squared_half_angle():
    # z_{t+1} = R z_t with R a rotation by theta: dz = (R - I) z / dt, whose skew part is
    # sin(theta) J / dt and whose symmetric part (cos(theta) - 1) I / dt. With conditions at
    # equally spaced phases the states are isotropic, so fitting on the earlier state gives
    # R2_best = 1 and R2_skew = sin^2 / (sin^2 + (1 - cos)^2) = cos^2(theta / 2); the midpoint
    # state fits it exactly.
    activity, t = planar_rotation(freq=2.0)
    theta = 2 * np.pi * 2.0 * DT
    earlier = jpca(activity, n_pcs=2, times=t, soft_normalize=None, state="earlier")
    midpoint = jpca(activity, n_pcs=2, times=t, soft_normalize=None)
    assert earlier.state == "earlier" and midpoint.state == "midpoint"
    assert earlier.r2_best == pytest.approx(1.0, abs=1e-12)
    assert earlier.r2_skew == pytest.approx(np.cos(theta / 2) ** 2, abs=1e-12)
    assert midpoint.r2_skew == pytest.approx(1.0, abs=1e-12)


def test_jpca_earlier_state_is_least_squares_on_the_earlier_state():
    activity, t, _ = rotational_data(3, n_cond=10, n_time=25, n_neurons=12, noise=0.2)
    result = jpca(activity, times=t, soft_normalize=5.0, state="earlier")
    z = result.pc_projections
    dz = (np.diff(z, axis=1) / DT).reshape(-1, 6)
    before = z[:, :-1].reshape(-1, 6)
    m_best = np.linalg.lstsq(before, dz, rcond=None)[0].T
    np.testing.assert_allclose(result.m_best, m_best, atol=1e-9)
    residual = dz - before @ result.m_skew.T
    assert result.r2_skew == pytest.approx(1 - np.sum(residual**2) / np.sum(dz**2))


def test_jpca_normalize_over_takes_the_ranges_of_the_whole_trial():
    activity, t, _ = rotational_data(4, n_cond=8, n_time=40, n_neurons=10)
    window = activity[:, 10:30]
    whole = jpca(window, times=t[10:30], soft_normalize=5.0, normalize_over=activity)
    expected = np.ptp(activity.reshape(-1, 10), axis=0) + 5.0
    np.testing.assert_allclose(whole.norm_factors, expected)
    own = jpca(window, times=t[10:30], soft_normalize=5.0)
    np.testing.assert_allclose(own.norm_factors, np.ptp(window.reshape(-1, 10), axis=0) + 5.0)
    assert np.all(whole.norm_factors >= own.norm_factors)
    with pytest.raises(ValueError, match="normalize_over must hold the same 10 neurons"):
        jpca(window, normalize_over=activity[:, :, :4])
    with pytest.raises(ValueError, match="state must be one of 'midpoint', 'earlier'"):
        jpca(window, state="before")


def test_surrogate_test_fits_surrogates_with_the_same_state():
    activity, t = planar_rotation(freq=2.0, n_time=30)
    test = jpca_surrogate_test(
        activity, n_surrogates=5, n_pcs=2, times=t, soft_normalize=None, state="earlier", seed=0
    )
    assert test.observed.state == "earlier"
    theta = 2 * np.pi * 2.0 * DT
    assert test.r2_skew == pytest.approx(np.cos(theta / 2) ** 2, abs=1e-12)
    same = jpca_surrogate_test(
        activity, n_surrogates=5, n_pcs=2, times=t, soft_normalize=None, state="midpoint", seed=0
    )
    assert not np.allclose(test.null_r2_skew, same.null_r2_skew)  # the surrogates differ too


# ----------------------------------------------------------------------- surrogates


@pytest.mark.parametrize("method", ["tensor_normal", "shuffle", "cmpt"])
def test_surrogates_find_rotations_significant(method):
    activity, t, _ = rotational_data(0, n_cond=16, n_time=30, n_neurons=12)
    test = jpca_surrogate_test(activity, n_surrogates=39, method=method, times=t, seed=0)
    assert test.null_r2_skew.shape == (39,) == test.null_r2_ratio.shape
    assert test.p_value == pytest.approx(1 / 40)  # the data beat every surrogate
    assert test.r2_skew > np.max(test.null_r2_skew)


@pytest.mark.parametrize("make", [decay_generator, symmetric_generator])
@pytest.mark.parametrize("seed", [0, 1])
def test_tensor_normal_surrogates_do_not_flag_non_rotational_dynamics(make, seed):
    activity, t = linear_data(seed, make(seed), n_cond=16, n_time=30, n_neurons=12)
    test = jpca_surrogate_test(activity, n_surrogates=39, times=t, seed=seed)
    assert test.p_value > 0.05 and test.p_value_ratio > 0.05  # measured 0.22-0.68, 0.85-1.0


def test_tensor_normal_surrogates_keep_the_marginal_covariances():
    from engram.motor.surrogates import _tensor_normal_sampler, _unfold_cov

    activity, _, _ = rotational_data(5, n_cond=8, n_time=20, n_neurons=6, noise=0.1)
    x = activity - activity.mean(axis=0)
    sample = _tensor_normal_sampler(x)
    gen = np.random.default_rng(0)
    draws = [sample(gen) for _ in range(4000)]
    for axis in range(3):
        mean_cov = np.mean([_unfold_cov(d, axis) for d in draws], axis=0)
        target = _unfold_cov(x, axis)
        assert np.abs(mean_cov - target).max() < 0.06 * np.abs(target).max()
    assert np.abs(np.sum(draws[0], axis=0)).max() < 1e-9  # cross-condition mean stays zero


def test_surrogate_test_is_seeded():
    activity, t, _ = rotational_data(6, n_cond=8, n_time=20, n_neurons=8)
    a = jpca_surrogate_test(activity, n_surrogates=5, method="cmpt", times=t, seed=3)
    b = jpca_surrogate_test(activity, n_surrogates=5, method="cmpt", times=t, seed=3)
    np.testing.assert_array_equal(a.null_r2_skew, b.null_r2_skew)


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "fn", [jpca, lambda a: pca(a, 2), soft_normalize, lambda a: jpca_surrogate_test(a, 3)]
)
def test_wrong_rank_says_conditions_time_neurons(fn):
    with pytest.raises(
        ValueError,
        match=r"must be a 3-D array shaped \(conditions, time, "
        r"neurons\)\. Got shape \(50, 20\)",
    ):
        fn(np.zeros((50, 20)))


def test_bad_jpca_input_raises_clear_errors():
    good, t, _ = rotational_data(0, n_cond=6, n_time=10, n_neurons=8)
    with pytest.raises(
        ValueError,
        match="1 time point.*at least 2 are needed to take a finite-difference derivative",
    ):
        jpca(good[:, :1])
    bad = good.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        jpca(bad)
    with pytest.raises(ValueError, match="n_pcs must be even"):
        jpca(good, n_pcs=5)
    with pytest.raises(ValueError, match="n_pcs must be even .* <= neurons = 8"):
        jpca(good, n_pcs=10)
    with pytest.raises(ValueError, match="no variance left after subtracting the cross-condition"):
        jpca(good[:1])
    with pytest.raises(ValueError, match="times must be strictly increasing"):
        jpca(good, times=t[::-1])
    with pytest.raises(ValueError, match="fewer than n_pcs"):
        jpca(good[:2, :3], n_pcs=6)
    with pytest.raises(ValueError, match="method must be one of 'tensor_normal', 'shuffle'"):
        jpca_surrogate_test(good, 3, method="tme")
    with pytest.raises(ValueError, match=r"n_components must be <= min\(conditions \* time, "):
        pca(good, n_components=9)
