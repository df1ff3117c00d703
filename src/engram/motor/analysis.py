"""Population analyses of condition-averaged activity: PCA, soft normalization and jPCA.

Every function takes arrays shaped ``(conditions, time, neurons)`` (the condition-averaged
firing rates of recorded neurons or the hidden units of a network) and works on any data, not
only engram's networks. `condition_average` turns single trials into that shape. jPCA's
surrogate-data test is in `engram.motor.surrogates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engram.validation import check_array, check_choice, check_positive

__all__ = [
    "JPCA_STATES",
    "JPCAResult",
    "PCAResult",
    "condition_average",
    "jpca",
    "pca",
    "soft_normalize",
]

#: the states jPCA fits each derivative against (see `jpca`)
JPCA_STATES = ("midpoint", "earlier")

_SHAPE_HINT = (
    "Condition-average single trials first (engram.motor.analysis.condition_average); for one "
    "condition use activity[None]."
)


def _check_activity(activity, name: str = "activity", *, min_time: int = 1) -> np.ndarray:
    """Check a (conditions, time, neurons) array and return it as float64."""
    x = check_array(activity, name, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(
            f"{name} must be a 3-D array shaped (conditions, time, neurons). Got shape "
            f"{x.shape} ({x.ndim}-D) instead. {_SHAPE_HINT}"
        )
    if x.shape[1] < min_time:
        raise ValueError(
            f"{name} has {x.shape[1]} time point(s) (shape {x.shape} = (conditions, time, "
            f"neurons)), but at least {min_time} are needed to take a finite-difference "
            "derivative. Pass a longer time window."
        )
    return x


def condition_average(
    activity,
    conditions,
    align=None,
    *,
    before: int = 0,
    after: int | None = None,
    n_conditions: int | None = None,
) -> np.ndarray:
    """Average single trials per condition, optionally in a window around an event.

    Math:
        out[c, k] = mean over trials i with conditions[i] = c of
                    activity[i, align[i] - before + k],   k = 0 .. before + after - 1

    Args:
        activity: single trials, (trials, time, neurons).
        conditions: condition index per trial, (trials,) ints in [0, n_conditions).
        align: event step per trial (e.g. a `ReachTask` batch's ``go`` or ``movement_onset``),
            (trials,); None keeps the whole trial.
        before: steps kept before the event.
        after: steps kept from the event on (required with ``align``).
        n_conditions: number of conditions; ``max(conditions) + 1`` when None.

    Returns:
        (n_conditions, before + after, neurons) float64 (whole trials when ``align`` is None).

    Raises:
        ValueError: a window that leaves the trial (catch trials have align = -1: drop them
            first), or a condition without trials.

    Example:
        >>> rates = np.random.default_rng(0).random((6, 20, 4))
        >>> condition_average(rates, [0, 1, 2, 0, 1, 2], [10] * 6, before=5, after=5).shape
        (3, 10, 4)
    """
    x = check_array(activity, "activity", ndim=3, dtype=np.float64)
    cond = np.asarray(conditions)
    if cond.shape != (x.shape[0],) or cond.dtype.kind not in "iu":
        raise ValueError(
            f"conditions must hold one integer per trial, shape ({x.shape[0]},). Got "
            f"{cond.dtype} array of shape {cond.shape} instead."
        )
    n_cond = int(cond.max()) + 1 if n_conditions is None else int(n_conditions)
    if cond.min() < 0 or cond.max() >= n_cond:
        raise ValueError(f"conditions must lie in [0, {n_cond}). Got {cond.min()}..{cond.max()}.")
    if align is None:
        segments = x
    else:
        if after is None:
            raise ValueError("condition_average with align needs after= (steps from the event).")
        start = np.asarray(align, dtype=np.int64) - int(before)
        width = int(before) + int(after)
        bad = (start < 0) | (start + width > x.shape[1])
        if bad.any():
            raise ValueError(
                f"{int(bad.sum())} trial(s) have a window [align - {before}, align + {after}) "
                f"outside their {x.shape[1]} steps (e.g. trial {int(np.argmax(bad))} with align "
                f"= {int(start[bad][0] + before)}). Drop catch trials (align = -1) and trials "
                "too close to the edges, or shorten before/after."
            )
        idx = start[:, None] + np.arange(width)[None, :]
        segments = np.take_along_axis(x, idx[:, :, None], axis=1)
    counts = np.bincount(cond, minlength=n_cond)
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0)[:5].tolist()
        raise ValueError(f"No trials of condition(s) {missing}. Sample more trials.")
    sums = np.zeros((n_cond, *segments.shape[1:]))
    np.add.at(sums, cond, segments)
    return sums / counts[:, None, None]


# ----------------------------------------------------------------------------- PCA


@dataclass
class PCAResult:
    """Principal components of condition-averaged activity.

    Attributes:
        projections: (conditions, time, n_components), the centered activity on the components.
        components: (n_components, neurons), orthonormal rows, sign-fixed so each row's largest
            absolute loading is positive.
        explained_variance_ratio: (n_components,), fraction of the total variance.
        mean: (neurons,), the mean over conditions and time that was subtracted.
    """

    projections: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    mean: np.ndarray

    def transform(self, activity) -> np.ndarray:
        """Project other (..., neurons) activity onto the same components."""
        return (np.asarray(activity, dtype=np.float64) - self.mean) @ self.components.T


def _principal_axes(flat: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Sign-fixed top right singular vectors of centered ``flat`` and all variance ratios."""
    _, sing, vt = np.linalg.svd(flat, full_matrices=False)
    comps = vt[:n_components]
    signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
    power = sing**2
    ratio = power / power.sum() if power.sum() > 0 else np.zeros_like(power)
    return comps * signs[:, None], ratio[:n_components]


def pca(activity, n_components: int) -> PCAResult:
    """PCA of condition-averaged activity, conditions and time pooled as samples.

    Math:
        X = activity reshaped to (conditions * time, neurons);  mu = mean over rows
        X - mu = U S V^T (SVD);  components = V[:, :k]^T;  projections = (X - mu) V[:, :k]
        explained_variance_ratio_i = S_i^2 / sum_j S_j^2

    Args:
        activity: (conditions, time, neurons).
        n_components: number of components, at most min(conditions * time, neurons).

    Returns:
        A `PCAResult`.

    Raises:
        ValueError: activity not 3-D or not finite, or too many components.

    Example:
        >>> result = pca(np.random.default_rng(0).random((8, 50, 30)), n_components=3)
        >>> result.projections.shape, result.components.shape
        ((8, 50, 3), (3, 30))
    """
    x = _check_activity(activity)
    n_cond, n_time, n_neurons = x.shape
    limit = min(n_cond * n_time, n_neurons)
    check_positive(n_components, "n_components", integer=True)
    if n_components > limit:
        raise ValueError(
            f"n_components must be <= min(conditions * time, neurons) = {limit} for activity of "
            f"shape {x.shape}. Got {n_components} instead."
        )
    flat = x.reshape(-1, n_neurons)
    mean = flat.mean(axis=0)
    comps, ratio = _principal_axes(flat - mean, n_components)
    proj = ((flat - mean) @ comps.T).reshape(n_cond, n_time, n_components)
    return PCAResult(proj, comps, ratio, mean)


def _norm_factors(x: np.ndarray, soft: float | None) -> np.ndarray:
    if soft is None:
        return np.ones(x.shape[-1])
    soft = float(check_positive(soft, "soft_normalize", strict=False))
    factors = np.ptp(x.reshape(-1, x.shape[-1]), axis=0) + soft
    return np.where(factors > 0, factors, 1.0)


def soft_normalize(activity, soft: float = 5.0) -> np.ndarray:
    """Divide each neuron by its response range plus a soft constant (Churchland 2012).

    Math:
        out[..., n] = activity[..., n] / (max(activity[..., n]) - min(activity[..., n]) + soft)
        High-rate neurons end up with a range near 1; weak ones (range << soft) are shrunk
        rather than amplified, so noise does not dominate. Ranges are taken over conditions and
        time together. A neuron with range 0 and soft = 0 is left unchanged.

    Args:
        activity: (conditions, time, neurons), rates in spikes/s for the usual soft = 5.
        soft: the soft constant, >= 0 (0 is plain range normalization).

    Returns:
        The normalized array, same shape, float64.

    Example:
        >>> soft_normalize(np.array([[[0.0], [10.0]]]), soft=5.0)[0, :, 0].tolist()
        [0.0, 0.6666666666666666]

    Reference:
        Churchland et al. 2012, Nature 487:51, Methods ("soft normalization").
    """
    x = _check_activity(activity)
    return x / _norm_factors(x, soft)


# ---------------------------------------------------------------------------- jPCA


@dataclass
class JPCAResult:
    """What `jpca` returns. Plane ``p`` is jPCs ``2p`` and ``2p + 1``, fastest rotation first.

    Attributes:
        projections: (conditions, time, 2 * n_planes), preprocessed activity on the jPCs; within
            each plane the rotation runs counter-clockwise.
        jpcs: (2 * n_planes, neurons), orthonormal jPC axes in the soft-normalized neuron space.
        pc_components: (n_pcs, neurons), the PCs the dynamics were fitted in.
        pc_projections: (conditions, time, n_pcs).
        pc_variance_ratio: (n_pcs,), fraction of the total variance on each PC.
        m_best: (n_pcs, n_pcs), least-squares M of dz/dt = M z in PC coordinates.
        m_skew: (n_pcs, n_pcs), the best skew-symmetric M.
        r2_best: R^2 of the unconstrained fit (the original code's R2_Mbest).
        r2_skew: R^2 of the skew-symmetric fit (R2_Mskew).
        r2_ratio: r2_skew / r2_best: how much of the linear dynamics is rotational.
        eigenvalues: (n_pcs,) of m_skew, +i w, -i w per plane, planes in order.
        frequencies: (n_planes,), w / (2 pi) in cycles per unit of ``times`` (Hz for seconds,
            cycles per step when times is None).
        variance_per_jpc: (2 * n_planes,), fraction of the total preprocessed variance.
        variance_per_plane: (n_planes,), the sum over each plane's two jPCs.
        norm_factors: (neurons,), the soft-normalization divisors (ones when off).
        cc_mean: (time, neurons), the cross-condition mean subtracted (zeros when off).
        mean: (neurons,), the remaining mean over conditions and time subtracted before PCA.
        times: (time,), the sample times used for the derivative.
        state: the state the derivatives were fitted against (``"midpoint"`` or
            ``"earlier"``).
    """

    projections: np.ndarray
    jpcs: np.ndarray
    pc_components: np.ndarray
    pc_projections: np.ndarray
    pc_variance_ratio: np.ndarray
    m_best: np.ndarray
    m_skew: np.ndarray
    r2_best: float
    r2_skew: float
    r2_ratio: float
    eigenvalues: np.ndarray
    frequencies: np.ndarray
    variance_per_jpc: np.ndarray
    variance_per_plane: np.ndarray
    norm_factors: np.ndarray
    cc_mean: np.ndarray
    mean: np.ndarray
    times: np.ndarray = field(repr=False)
    state: str = "midpoint"

    @property
    def n_planes(self) -> int:
        return len(self.frequencies)

    def preprocess(self, activity) -> np.ndarray:
        """Apply the same normalization and mean subtraction to (conditions, time, neurons)."""
        x = _check_activity(activity)
        return x / self.norm_factors - self.cc_mean - self.mean

    def project(self, activity) -> np.ndarray:
        """Project other activity with the same time axis onto the jPCs."""
        return self.preprocess(activity) @ self.jpcs.T


def _fit_skew(z: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """Least-squares skew-symmetric M for dz ~ z M^T, over its n(n-1)/2 free entries."""
    n = z.shape[1]
    rows, cols = np.triu_indices(n, k=1)
    design = np.zeros((n, len(z), len(rows)))
    for k, (i, j) in enumerate(zip(rows, cols, strict=True)):
        design[i, :, k] = z[:, j]  # M[i, j] = +p_k feeds dz[:, i]
        design[j, :, k] = -z[:, i]  # M[j, i] = -p_k feeds dz[:, j]
    params = np.linalg.lstsq(design.reshape(n * len(z), -1), dz.T.reshape(-1), rcond=None)[0]
    m = np.zeros((n, n))
    m[rows, cols] = params
    return m - m.T


def _r2(dz: np.ndarray, fit: np.ndarray) -> float:
    return float(1.0 - np.sum((dz - fit) ** 2) / np.sum(dz**2))


def _jpc_planes(m_skew: np.ndarray, first_states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal, counter-clockwise jPC axes (2 * n_planes, n) and angular speeds w."""
    n = len(m_skew)
    # i M is Hermitian: orthonormal eigenvectors even for repeated frequencies. i M v = -w v
    # exactly when M v = i w v, so the most negative eigenvalues are the fastest rotations.
    mu, vecs = np.linalg.eigh(1j * m_skew)
    axes, omegas = [], []
    for idx in np.argsort(mu)[: n // 2]:
        v = vecs[:, idx]
        # v = a + i b with M a = -w b, M b = w a: in the basis (a, -b) the flow is
        # counter-clockwise (as the original code's V1 + V2, i (V1 - V2)).
        basis = np.stack([v.real, -v.imag], axis=1)
        basis /= np.linalg.norm(basis, axis=0, keepdims=True)
        axes.append(_align_plane(basis, first_states))
        omegas.append(-mu[idx])
    return np.concatenate(axes, axis=1).T, np.asarray(omegas)


def _align_plane(basis: np.ndarray, first_states: np.ndarray) -> np.ndarray:
    """Rotate a plane's basis (n, 2) so axis 1 lies along the spread of the first states."""
    proj = first_states @ basis
    if not np.any(proj):
        return basis
    rot = np.linalg.svd(proj, full_matrices=False)[2].T
    if np.linalg.det(rot) < 0:  # keep a proper rotation: the flow stays counter-clockwise
        rot[:, 1] *= -1
    basis = basis @ rot
    first = first_states @ basis[:, 0]
    if first[np.argmax(np.abs(first))] < 0:  # a 180-degree turn, for a deterministic sign
        basis = -basis
    return basis


def _range_source(normalize_over, x: np.ndarray) -> np.ndarray:
    """The activity whose per-neuron ranges set the soft normalization of ``x``."""
    if normalize_over is None:
        return x
    source = _check_activity(normalize_over, "normalize_over")
    if source.shape[2] != x.shape[2]:
        raise ValueError(
            f"normalize_over must hold the same {x.shape[2]} neurons as activity (last axis). "
            f"Got shape {source.shape} instead."
        )
    return source


def _check_times(times, n_time: int) -> np.ndarray:
    if times is None:
        return np.arange(n_time, dtype=np.float64)
    t = check_array(times, "times", ndim=1, dtype=np.float64)
    if t.shape != (n_time,) or np.any(np.diff(t) <= 0):
        raise ValueError(
            f"times must be strictly increasing with one entry per time point ({n_time},). "
            f"Got {t.shape} {t[:4].tolist()}... instead."
        )
    return t


def _check_n_pcs(n_pcs, shape: tuple[int, int, int]) -> int:
    check_positive(n_pcs, "n_pcs", integer=True)
    n_cond, n_time, n_neurons = shape
    if n_pcs % 2 or n_pcs > n_neurons:
        raise ValueError(
            f"n_pcs must be even (jPCA pairs dimensions into planes) and <= neurons = "
            f"{n_neurons}. Got {n_pcs} instead; the usual choice is 6."
        )
    if n_cond * (n_time - 1) < n_pcs:
        raise ValueError(
            f"activity of shape {shape} gives {n_cond * (n_time - 1)} derivative samples, fewer "
            f"than n_pcs = {n_pcs}, so M cannot be fitted. Use more conditions or time points."
        )
    return int(n_pcs)


def jpca(
    activity,
    n_pcs: int = 6,
    times: Sequence[float] | np.ndarray | None = None,
    soft_normalize: float | None = 5.0,
    subtract_cc_mean: bool = True,
    *,
    state: str = "midpoint",
    normalize_over=None,
) -> JPCAResult:
    """jPCA: the rotational structure of population dynamics (Churchland et al. 2012).

    Math:
        1. x <- x / (range per neuron + soft_normalize)                     (soft normalization;
           the ranges of ``normalize_over`` when given)
        2. x <- x - mean over conditions, per time and neuron       (cross-condition mean)
        3. z = (x - mean) V_k, V_k the top n_pcs principal axes              (c, t, n_pcs)
        4. dz_t = (z_{t+1} - z_t) / (t_{t+1} - t_t), fitted against the state s_t:
           state="midpoint": s_t = (z_t + z_{t+1}) / 2;  state="earlier": s_t = z_t
        5. M_best = argmin |dz - s M^T|^2 (ordinary least squares)
           M_skew = argmin over M = -M^T (least squares in the n(n-1)/2 free entries)
           R2 = 1 - |dz - s M^T|^2 / |dz|^2 for each; ratio = R2_skew / R2_best
        6. M_skew's eigenvalues come in pairs +-i w; each pair's eigenvector v = a + i b gives a
           plane spanned by (a, -b), in which the fitted flow is counter-clockwise; planes are
           ordered by w (fastest first), and each is rotated within itself so its first axis
           follows the largest spread of the conditions' first states (as the original code).
        7. variance per jPC = sum of squared projections / total sum of squares after step 2;
           frequency = w / (2 pi).
        Two conventions. Churchland et al. 2012's code fits dz on the earlier state and takes
        the soft-normalization ranges over every time point it is given (the whole trial),
        then analyses a window: ``state="earlier"`` with ``normalize_over`` = the whole trial.
        The default fits on the step's midpoint and normalizes over the analysed window: an
        exact rotation is then fitted exactly by a skew-symmetric M (frequency bias
        tan(w dt / 2) / (w dt / 2) - 1, 0.3% at 3 Hz in 10 ms steps), where the earlier state
        gives R2_skew < 1 (a rotation by w dt per step is z_{t+1} = R z_t, and (R - I) / dt is
        not skew-symmetric).

    Args:
        activity: condition-averaged activity, (conditions, time, neurons), at least 2 time
            points (choose the window, e.g. -50..+150 ms around movement onset, by slicing).
        n_pcs: even number of PCs in which the dynamics are fitted (6 in the paper).
        times: (time,) sample times, strictly increasing; in seconds for frequencies in Hz.
            None uses steps 0, 1, 2, ...
        soft_normalize: the soft constant (5 spikes/s in the paper); None skips normalization.
        subtract_cc_mean: subtract the cross-condition mean (the paper does).
        state: ``"midpoint"`` (default) or ``"earlier"`` (the original code): the state each
            derivative is fitted against.
        normalize_over: (conditions', time', neurons) activity whose per-neuron ranges set the
            soft normalization (e.g. the whole trial, as the original code); None uses
            ``activity`` itself.

    Returns:
        A `JPCAResult`.

    Raises:
        ValueError: activity not (conditions, time, neurons), not finite, fewer than 2 time
            points, no variance left after preprocessing, or n_pcs odd or too large.

    Example:
        >>> t = np.arange(40) * 0.01
        >>> phases = np.linspace(0, 2 * np.pi, 8, endpoint=False)[:, None]
        >>> plane = np.stack([np.cos(2 * np.pi * 2 * t + phases),
        ...                   np.sin(2 * np.pi * 2 * t + phases)], axis=-1)   # 2 Hz
        >>> axes = np.linalg.qr(np.random.default_rng(0).normal(size=(10, 2)))[0]
        >>> rates = plane @ axes.T                      # 8 conditions, 40 steps, 10 neurons
        >>> result = jpca(rates, n_pcs=2, times=t, soft_normalize=None)
        >>> round(result.r2_skew, 3), round(float(result.frequencies[0]), 2)
        (1.0, 2.0)

    Reference:
        Churchland, Cunningham, Kaufman, Foster, Nuyujukian, Ryu & Shenoy 2012, "Neural
        population dynamics during reaching", Nature 487:51; their jPCA MATLAB code.
    """
    x = _check_activity(activity, min_time=2)
    shape = x.shape
    n_pcs = _check_n_pcs(n_pcs, shape)
    t = _check_times(times, x.shape[1])
    check_choice(state, "state", JPCA_STATES)
    norm = _norm_factors(_range_source(normalize_over, x), soft_normalize)
    x = x / norm
    cc_mean = x.mean(axis=0) if subtract_cc_mean else np.zeros(x.shape[1:])
    x = x - cc_mean
    mean = x.reshape(-1, x.shape[2]).mean(axis=0)
    x = x - mean
    total = float(np.sum(x**2))
    if total <= 1e-300:
        raise ValueError(
            f"activity of shape {shape} has no variance left after "
            "subtracting the cross-condition mean: a single condition, or identical conditions. "
            "jPCA needs several conditions whose activity differs."
        )
    comps, pc_ratio = _principal_axes(x.reshape(-1, x.shape[2]), n_pcs)
    z = x @ comps.T
    dz = (np.diff(z, axis=1) / np.diff(t)[None, :, None]).reshape(-1, n_pcs)
    zm = (0.5 * (z[:, 1:] + z[:, :-1]) if state == "midpoint" else z[:, :-1]).reshape(-1, n_pcs)
    if not np.any(dz):
        raise ValueError("activity does not change over time; there are no dynamics to fit.")
    m_best = np.linalg.lstsq(zm, dz, rcond=None)[0].T
    m_skew = _fit_skew(zm, dz)
    r2_best, r2_skew = _r2(dz, zm @ m_best.T), _r2(dz, zm @ m_skew.T)
    axes, omegas = _jpc_planes(m_skew, z[:, 0, :])
    proj = z @ axes.T
    var_jpc = np.sum(proj**2, axis=(0, 1)) / total
    return JPCAResult(
        projections=proj,
        jpcs=axes @ comps,
        pc_components=comps,
        pc_projections=z,
        pc_variance_ratio=pc_ratio,
        m_best=m_best,
        m_skew=m_skew,
        r2_best=r2_best,
        r2_skew=r2_skew,
        r2_ratio=r2_skew / r2_best if r2_best > 0 else float("nan"),
        eigenvalues=np.stack([1j * omegas, -1j * omegas], axis=1).reshape(-1),
        frequencies=omegas / (2 * np.pi),
        variance_per_jpc=var_jpc,
        variance_per_plane=var_jpc.reshape(-1, 2).sum(axis=1),
        norm_factors=norm,
        cc_mean=cc_mean,
        mean=mean,
        times=t,
        state=state,
    )
