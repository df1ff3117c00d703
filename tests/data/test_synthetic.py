"""Synthetic datasets and the NumPy train/test split."""

import numpy as np
import pytest

from engram.data.synthetic import (
    make_gaussian_clusters,
    make_moons,
    make_spirals,
    random_binary_labels,
    train_test_split,
    xor,
)

GENERATORS = {
    "moons": lambda seed: make_moons(120, noise=0.1, seed=seed),
    "spirals": lambda seed: make_spirals(120, n_classes=3, noise=0.2, seed=seed),
    "clusters": lambda seed: make_gaussian_clusters(120, n_clusters=4, n_features=3, seed=seed),
    "random": lambda seed: random_binary_labels(120, n_features=5, seed=seed),
}


def test_xor_points_and_targets():
    x, y = xor()
    assert x.shape == (4, 2) and x.dtype == np.float32
    assert y.shape == (4, 1) and y.dtype == np.float32
    np.testing.assert_array_equal(y[:, 0], np.logical_xor(x[:, 0], x[:, 1]))


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_shapes_dtypes_and_seed_reproducibility(name):
    make = GENERATORS[name]
    x, y = make(7)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.ndim == 2 and y.shape == (len(x),) == (120,)
    assert np.isfinite(x).all()
    x_again, y_again = make(7)
    assert x.tobytes() == x_again.tobytes() and y.tobytes() == y_again.tobytes()
    x_other, _ = make(8)
    assert not np.array_equal(x, x_other)
    x_gen, y_gen = make(np.random.default_rng(7))
    np.testing.assert_array_equal(x_gen, x)
    np.testing.assert_array_equal(y_gen, y)


def test_class_balance():
    assert np.bincount(make_moons(101, seed=0)[1]).tolist() == [50, 51]
    assert np.bincount(make_spirals(301, n_classes=3, seed=0)[1]).tolist() == [101, 100, 100]
    assert np.bincount(make_gaussian_clusters(10, n_clusters=3, seed=0)[1]).tolist() == [4, 3, 3]


def test_noiseless_moons_lie_on_their_half_circles():
    x, y = make_moons(200, noise=0.0, seed=0)
    outer, inner = x[y == 0], x[y == 1]
    np.testing.assert_allclose(np.hypot(*outer.T), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0, atol=1e-6)
    assert outer[:, 1].min() >= -1e-6 and inner[:, 1].max() <= 0.5 + 1e-6


def test_moons_are_separable_by_nearest_neighbour_but_random_labels_are_not():
    def nn_accuracy(x, y):
        (x_tr, y_tr), (x_te, y_te) = train_test_split(x, y, 0.25, seed=0)
        dist = ((x_te[:, None, :] - x_tr[None, :, :]) ** 2).sum(-1)
        return float((y_tr[dist.argmin(1)] == y_te).mean())

    assert nn_accuracy(*make_moons(400, noise=0.1, seed=0)) > 0.95
    assert nn_accuracy(*random_binary_labels(400, seed=0)) < 0.65


def test_spiral_noise_zero_radius_grows_along_each_arm():
    x, y = make_spirals(40, n_classes=2, noise=0.0, seed=0)
    radius = np.hypot(*x.T)
    assert radius.max() <= 1.0 + 1e-6
    assert sorted(np.round(radius[y == 0], 5)) == sorted(np.round(radius[y == 1], 5))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: make_moons(1), ValueError, "n_samples must be >= 2"),
        (lambda: make_moons(10, noise=-1), ValueError, "noise must be >= 0"),
        (lambda: make_spirals(10, n_classes=1), ValueError, "n_classes must be >= 2"),
        (lambda: make_moons(10.5), TypeError, "n_samples must be an int"),
        (lambda: random_binary_labels(5, seed="a"), TypeError, "seed must be"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_split_sizes_disjoint_and_complete():
    x = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.arange(50)
    (x_tr, y_tr), (x_te, y_te) = train_test_split(x, y, test_fraction=0.3, seed=1)
    assert (len(x_tr), len(x_te)) == (35, 15)
    np.testing.assert_array_equal(x_tr[:, 0] // 2, y_tr)  # rows stay paired
    np.testing.assert_array_equal(np.sort(np.concatenate([y_tr, y_te])), y)
    assert x_tr.dtype == np.float32 and y_tr.dtype == y.dtype


def test_split_is_reproducible_and_seed_dependent():
    x, y = make_moons(60, seed=0)
    first = train_test_split(x, y, seed=3)
    again = train_test_split(x, y, seed=3)
    other = train_test_split(x, y, seed=4)
    np.testing.assert_array_equal(first[1][1], again[1][1])
    np.testing.assert_array_equal(first[0][0], again[0][0])
    assert not np.array_equal(first[1][0], other[1][0])


def test_stratified_split_keeps_class_shares():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    x = np.arange(100)
    (_, y_tr), (_, y_te) = train_test_split(x, y, test_fraction=0.2, seed=0, stratify=True)
    assert np.bincount(y_te).tolist() == [12, 6, 2]
    assert np.bincount(y_tr).tolist() == [48, 24, 8]


def test_stratified_split_rounds_to_the_exact_test_size():
    y = np.repeat(np.arange(7), [5, 6, 7, 8, 9, 10, 11])  # 56 samples, awkward quotas
    (_, y_tr), (_, y_te) = train_test_split(np.zeros(56), y, 0.33, seed=0, stratify=True)
    assert len(y_te) == int(np.ceil(56 * 0.33)) and len(y_tr) + len(y_te) == 56
    assert np.all(np.abs(np.bincount(y_te, minlength=7) - np.bincount(y) * 0.33) < 1)


@pytest.mark.parametrize(
    "x, y, kwargs, match",
    [
        (np.zeros(5), np.zeros(4), {}, "same number of samples"),
        (np.zeros(5), np.zeros(5), {"test_fraction": 1.0}, r"test_fraction must be in \[0, 1\)"),
        (np.zeros(1), np.zeros(1), {"test_fraction": 0.5}, "both parts need at least one"),
        (np.float32(1), np.zeros(1), {}, "samples on the first axis"),
    ],
)
def test_split_errors(x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_test_split(x, y, **kwargs)
