"""Small synthetic datasets made in NumPy, and a NumPy train/test split.

Every random generator takes ``seed`` (an int, a `numpy.random.Generator` or None), turned into a
Generator by `engram.validation.as_rng`: the same int gives the same arrays bit for bit. Inputs
are float32; class labels are int64 ``(n,)`` (XOR's targets are float32 ``(4, 1)``, ready for a
sigmoid output). Nothing here imports scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.validation import Seed, as_rng, check_fraction, check_positive, check_same_length

__all__ = [
    "make_gaussian_clusters",
    "make_moons",
    "make_spirals",
    "random_binary_labels",
    "train_test_split",
    "xor",
]


def xor() -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points: the smallest problem a single-layer network cannot learn.

    Returns:
        x float32 ``(4, 2)`` (rows 00, 01, 10, 11) and y float32 ``(4, 1)`` (0, 1, 1, 0).

    Example:
        >>> x, y = xor()
        >>> y.ravel().tolist()
        [0.0, 1.0, 1.0, 0.0]

    Reference:
        Minsky & Papert (1969), Perceptrons; Rumelhart, Hinton & Williams (1986).
    """
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    return x, y


def _check_count(value: Any, name: str, minimum: int = 1) -> int:
    check_positive(value, name, integer=True)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}. Got {value} instead.")
    return int(value)


def _check_noise(noise: Any, name: str = "noise") -> float:
    return float(check_positive(noise, name, strict=False))


def _shuffled(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple:
    order = rng.permutation(len(x))
    return x[order], y[order]


def make_moons(
    n_samples: int = 1000, noise: float = 0.1, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's ``make_moons``, rewritten in NumPy).

    Math:
        outer moon (class 0):  (cos t, sin t),              t in linspace(0, pi, n // 2)
        inner moon (class 1):  (1 - cos t, 0.5 - sin t),    t in linspace(0, pi, n - n // 2)
        then Gaussian noise of standard deviation ``noise`` on both coordinates, shuffled.

    Args:
        n_samples: total number of points (>= 2).
        noise: standard deviation of the Gaussian noise (>= 0).
        seed: int, Generator or None.

    Returns:
        x float32 ``(n_samples, 2)`` and y int64 ``(n_samples,)`` in {0, 1}.

    Example:
        >>> x, y = make_moons(200, noise=0.1, seed=0)
        >>> x.shape, y.dtype
        ((200, 2), dtype('int64'))
    """
    n_samples = _check_count(n_samples, "n_samples", 2)
    noise = _check_noise(noise)
    rng = as_rng(seed)
    n_outer = n_samples // 2
    t_outer = np.linspace(0.0, np.pi, n_outer)
    t_inner = np.linspace(0.0, np.pi, n_samples - n_outer)
    outer = np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1)
    inner = np.stack([1.0 - np.cos(t_inner), 0.5 - np.sin(t_inner)], axis=1)
    x = np.concatenate([outer, inner]) + rng.normal(0.0, noise, size=(n_samples, 2))
    y = np.repeat(np.arange(2, dtype=np.int64), [n_outer, n_samples - n_outer])
    x, y = _shuffled(x.astype(np.float32), y, rng)
    return x, y


def _class_sizes(n_samples: int, n_classes: int) -> np.ndarray:
    """Split ``n_samples`` as evenly as possible; the first classes get one more."""
    sizes = np.full(n_classes, n_samples // n_classes)
    sizes[: n_samples % n_classes] += 1
    return sizes


def make_spirals(
    n_samples: int = 1000, n_classes: int = 2, noise: float = 0.2, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class, each making 1.5 turns from the centre.

    Math:
        class k, point i of m:  r = i / (m - 1)
                                theta = 2 pi k / n_classes + 3 pi r + noise * N(0, 1)
                                x = r * (cos theta, sin theta)
        The noise perturbs the angle (as in the CS231n spiral), so it shrinks near the centre.

    Args:
        n_samples: total number of points, split as evenly as possible (>= 2 * n_classes).
        n_classes: number of arms (>= 2).
        noise: standard deviation of the angle noise in radians (>= 0).
        seed: int, Generator or None.

    Returns:
        x float32 ``(n_samples, 2)`` inside the unit disc, y int64 ``(n_samples,)`` in
        0..n_classes-1, shuffled.

    Example:
        >>> x, y = make_spirals(300, n_classes=3, seed=0)
        >>> np.bincount(y).tolist()
        [100, 100, 100]

    Reference:
        Lang & Witbrock (1988), Learning to tell two spirals apart.
    """
    n_classes = _check_count(n_classes, "n_classes", 2)
    n_samples = _check_count(n_samples, "n_samples", 2 * n_classes)
    noise = _check_noise(noise)
    rng = as_rng(seed)
    sizes = _class_sizes(n_samples, n_classes)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), sizes)
    r = np.concatenate([np.linspace(0.0, 1.0, m) for m in sizes])
    theta = 2 * np.pi * y / n_classes + 3 * np.pi * r + noise * rng.standard_normal(n_samples)
    x = (r[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)).astype(np.float32)
    return _shuffled(x, y, rng)


def make_gaussian_clusters(
    n_samples: int = 1000,
    n_clusters: int = 3,
    n_features: int = 2,
    cluster_std: float = 1.0,
    center_box: float = 5.0,
    seed: Seed = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters, one class each (like scikit-learn's ``make_blobs``).

    Math:
        centre_k ~ Uniform(-center_box, center_box)^n_features
        x ~ N(centre_k, cluster_std^2 I) for a point of class k

    Args:
        n_samples: total number of points, split as evenly as possible (>= n_clusters).
        n_clusters: number of clusters (classes), >= 1.
        n_features: dimension of each point, >= 1.
        cluster_std: standard deviation within a cluster (>= 0).
        center_box: the centres are drawn uniformly from ``[-center_box, center_box]``.
        seed: int, Generator or None.

    Returns:
        x float32 ``(n_samples, n_features)`` and y int64 ``(n_samples,)``, shuffled.

    Example:
        >>> x, y = make_gaussian_clusters(90, n_clusters=3, seed=0)
        >>> x.shape
        (90, 2)
    """
    n_clusters = _check_count(n_clusters, "n_clusters")
    n_samples = _check_count(n_samples, "n_samples", n_clusters)
    n_features = _check_count(n_features, "n_features")
    cluster_std = _check_noise(cluster_std, "cluster_std")
    center_box = float(check_positive(center_box, "center_box", strict=False))
    rng = as_rng(seed)
    centres = rng.uniform(-center_box, center_box, size=(n_clusters, n_features))
    y = np.repeat(np.arange(n_clusters, dtype=np.int64), _class_sizes(n_samples, n_clusters))
    x = centres[y] + rng.normal(0.0, cluster_std, size=(n_samples, n_features))
    return _shuffled(x.astype(np.float32), y, rng)


def random_binary_labels(
    n_samples: int = 1000, n_features: int = 2, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian inputs with coin-flip labels: nothing to learn, only to memorize.

    A network can fit the training set (memorization) but test accuracy stays at chance,
    since y is drawn independently of x.

    Args:
        n_samples: number of points (>= 1).
        n_features: dimension of each point (>= 1).
        seed: int, Generator or None.

    Returns:
        x float32 ``(n_samples, n_features)`` ~ N(0, 1) and y int64 ``(n_samples,)`` in {0, 1}.

    Example:
        >>> x, y = random_binary_labels(100, n_features=5, seed=0)
        >>> x.shape, set(y.tolist()) <= {0, 1}
        ((100, 5), True)

    Reference:
        Zhang, Bengio, Hardt, Recht & Vinyals (2017), Understanding deep learning requires
        rethinking generalization.
    """
    n_samples = _check_count(n_samples, "n_samples")
    n_features = _check_count(n_features, "n_features")
    rng = as_rng(seed)
    x = rng.standard_normal((n_samples, n_features)).astype(np.float32)
    y = rng.integers(0, 2, size=n_samples, dtype=np.int64)
    return x, y


def _stratified_test_counts(codes: np.ndarray, n_test: int) -> np.ndarray:
    """Test samples per class, proportional to class size, summing to ``n_test``.

    Largest-remainder rounding: each class gets floor(quota), then the classes with the largest
    fractional parts get one more (ties to the lower class index).
    """
    counts = np.bincount(codes)
    quota = counts * n_test / counts.sum()
    taken = np.floor(quota).astype(np.int64)
    extra = n_test - int(taken.sum())
    order = np.argsort(-(quota - taken), kind="stable")
    taken[order[:extra]] += 1
    return taken


def _stratified_test_index(y: np.ndarray, n_test: int, rng: np.random.Generator) -> np.ndarray:
    _, codes = np.unique(y.reshape(len(y), -1), axis=0, return_inverse=True)
    codes = codes.ravel()
    per_class = _stratified_test_counts(codes, n_test)
    picks = []
    for label, k in enumerate(per_class):
        members = np.flatnonzero(codes == label)
        picks.append(rng.permutation(members)[:k])
    return rng.permutation(np.concatenate(picks))


def train_test_split(
    x: Any,
    y: Any,
    test_fraction: float = 0.3,
    seed: Seed = None,
    stratify: bool = False,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Shuffle and split paired arrays into a training part and a test part.

    The test part has ``ceil(n * test_fraction)`` samples (as scikit-learn). With
    ``stratify=True`` every class (every distinct row of ``y``) keeps its share in both parts,
    up to rounding (largest remainders).

    Args:
        x: array-like with samples on the first axis. Dtype is kept.
        y: array-like with as many samples as ``x``. Dtype is kept.
        test_fraction: share of samples in the test part, in (0, 1).
        seed: int, Generator or None.
        stratify: keep class proportions equal in both parts.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``, each part in shuffled order.

    Raises:
        ValueError: lengths differ, test_fraction outside (0, 1), or a part would be empty.

    Example:
        >>> x, y = make_moons(100, seed=0)
        >>> (x_tr, y_tr), (x_te, y_te) = train_test_split(x, y, 0.3, seed=0, stratify=True)
        >>> len(x_tr), len(x_te)
        (70, 30)
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(
            f"x and y must have samples on the first axis. Got shapes {x.shape} and {y.shape}."
        )
    check_same_length(x, y)
    test_fraction = check_fraction(test_fraction, "test_fraction")
    if not isinstance(stratify, (bool, np.bool_)):
        raise TypeError(f"stratify must be True or False. Got {stratify!r} instead.")
    n = len(x)
    n_test = int(np.ceil(n * test_fraction - 1e-9))
    if not 0 < n_test < n:
        raise ValueError(
            f"test_fraction={test_fraction} of {n} samples leaves {n_test} test and "
            f"{n - n_test} training samples; both parts need at least one. Use more samples "
            "or another test_fraction."
        )
    rng = as_rng(seed)
    if stratify:
        test = _stratified_test_index(y, n_test, rng)
    else:
        test = rng.permutation(n)[:n_test]
    mask = np.ones(n, dtype=bool)
    mask[test] = False
    train = rng.permutation(np.flatnonzero(mask))
    return (x[train], y[train]), (x[test], y[test])
