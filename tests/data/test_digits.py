"""The embedded 8x8 digits and the bilinear upsampling."""

import numpy as np
import pytest

from engram.data.digits import load_digits, load_digits_28, resize_bilinear


def test_shapes_range_and_dtypes():
    (x_tr, y_tr), (x_te, y_te) = load_digits()
    assert x_tr.shape == (1257, 8, 8) and x_te.shape == (540, 8, 8)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.uint8 and y_tr.shape == (1257,)
    both = np.concatenate([x_tr, x_te])
    assert both.min() == 0.0 and both.max() == 1.0
    assert set(np.unique(both * 16)) <= set(range(17))  # grey levels 0..16 divided by 16
    assert set(np.unique(np.concatenate([y_tr, y_te]))) == set(range(10))


def test_split_is_stratified():
    (_, y_tr), (_, y_te) = load_digits(test_fraction=0.3, seed=0)
    counts = np.bincount(np.concatenate([y_tr, y_te]))
    assert counts.sum() == 1797
    assert np.all(np.abs(np.bincount(y_te, minlength=10) - counts * 0.3) < 1)


def test_seed_reproducibility():
    first, again, other = load_digits(seed=5), load_digits(seed=5), load_digits(seed=6)
    assert first[0][0].tobytes() == again[0][0].tobytes()
    np.testing.assert_array_equal(first[1][1], again[1][1])
    assert not np.array_equal(first[1][0], other[1][0])


def test_returned_arrays_are_independent_copies():
    (x_tr, _), _ = load_digits(seed=0)
    x_tr[:] = -1.0
    (x_again, _), _ = load_digits(seed=0)
    assert x_again.min() == 0.0


def test_flat_and_upsampled_shapes():
    (x_flat, _), (x_flat_te, _) = load_digits(flat=True)
    assert x_flat.shape == (1257, 64) and x_flat_te.shape == (540, 64)
    (x28, y28), (x28_te, _) = load_digits_28()
    assert x28.shape == (1257, 28, 28) and x28_te.shape == (540, 28, 28)
    assert x28.dtype == np.float32 and 0.0 <= x28.min() and x28.max() <= 1.0
    (x28_flat, _), _ = load_digits(flat=True, upsample=28)
    assert x28_flat.shape == (1257, 784)
    (_, y8), _ = load_digits()
    np.testing.assert_array_equal(y28, y8)  # same split whatever the image size


def test_resize_keeps_constants_and_the_mean_of_an_integer_upscale():
    np.testing.assert_allclose(resize_bilinear(np.full((1, 8, 8), 0.25), 28), 0.25, atol=1e-7)
    rng = np.random.default_rng(0)
    images = rng.random((3, 8, 8))
    up = resize_bilinear(images, 8)
    np.testing.assert_allclose(up, images, atol=1e-6)  # same size is the identity


def test_resize_matches_torch_bilinear():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    images = rng.random((4, 8, 8)).astype(np.float32)
    for size in (28, 5, 13):
        ours = resize_bilinear(images, size)
        theirs = torch.nn.functional.interpolate(
            torch.from_numpy(images)[:, None],
            size=(size, size),
            mode="bilinear",
            align_corners=False,
        )[:, 0].numpy()
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_resize_errors():
    with pytest.raises(ValueError, match=r"\(batch, side, side\)"):
        resize_bilinear(np.zeros((8, 8)), 28)
    with pytest.raises(ValueError, match="size must be > 0"):
        resize_bilinear(np.zeros((1, 8, 8)), 0)
