"""Input checks: every message names the argument, the expectation and what was received."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from engram.validation import (
    as_rng,
    check_array,
    check_choice,
    check_fraction,
    check_labels,
    check_positive,
    check_same_length,
    describe,
)


def test_as_rng():
    g = np.random.default_rng(0)
    assert as_rng(g) is g
    assert as_rng(5).random() == np.random.default_rng(5).random()
    assert isinstance(as_rng(None), np.random.Generator)
    assert as_rng(np.int64(3)).random() == np.random.default_rng(3).random()
    with pytest.raises(
        TypeError,
        match=r"seed must be None, an int or a numpy\.random\.Generator\."
        r" Got float 1\.5 instead\.",
    ):
        as_rng(1.5)
    with pytest.raises(TypeError, match="Got bool True"):
        as_rng(True)
    with pytest.raises(ValueError, match="seed must be a non-negative int. Got -3 instead."):
        as_rng(-3)


def test_check_array_casts_numeric_input_to_float32():
    for value in (
        [[1, 2], [3, 4]],
        np.arange(4, dtype=np.int64).reshape(2, 2),
        np.ones((2, 2), dtype=bool),
        np.ones((2, 2), dtype=np.float16),
        np.ones((2, 2), dtype=np.float64),
    ):
        out = check_array(value)
        assert out.dtype == np.float32 and out.shape == (2, 2)
    same = np.ones(3, np.float32)
    assert check_array(same) is same  # no copy when nothing changes
    assert check_array(np.arange(3), dtype=None).dtype == np.int64


def test_check_array_refusals():
    with pytest.raises(
        TypeError,
        match=r"x must be a numeric array \(int, bool or float\)\. Got "
        r"dtype <U1 instead",
    ):
        check_array(np.array(["a"]))
    with pytest.raises(TypeError, match="Got dtype object instead"):
        check_array([None, 1])
    with pytest.raises(TypeError, match="Got dtype complex128"):
        check_array(np.ones(2, complex))
    with pytest.raises(ValueError, match="must be a rectangular numeric array"):
        check_array([[1, 2], [3]])
    with pytest.raises(ValueError, match=r"inputs must be a 2-D array\. Got shape \(3,\) \(1-D\)"):
        check_array(np.ones(3), "inputs", ndim=2)
    with pytest.raises(ValueError, match=r"must be a 2 or 3-D array"):
        check_array(np.ones(3), ndim=(2, 3))
    with pytest.raises(ValueError, match=r"x must have at least 2 dimensions\. Got shape \(3,\)"):
        check_array(np.ones(3), min_ndim=2)
    with pytest.raises(ValueError, match=r"x is empty \(shape \(0, 3\)\)"):
        check_array(np.ones((0, 3)))
    assert check_array(np.ones((0, 3)), allow_empty=True).shape == (0, 3)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_check_array_finds_every_nan_and_inf(dtype):
    x = np.ones((10, 10), dtype)
    x[0, 0], x[5, 5], x[9, 9] = np.nan, np.inf, -np.inf
    with pytest.raises(ValueError, match=r"x contains 3 NaN or Inf value\(s\)"):
        check_array(x, dtype=None)
    x = np.ones(4, dtype)
    x[1], x[2] = np.inf, -np.inf  # inf + -inf = nan in a sum: still caught
    with pytest.raises(ValueError, match=r"contains 2 NaN or Inf"):
        check_array(x, dtype=None)
    assert check_array(np.full(3, np.nan, dtype), finite=False, dtype=None).shape == (3,)


def test_huge_but_finite_float32_values_pass():
    x = np.full(8, 3e38, np.float32)  # their float32 sum overflows
    assert check_array(x) is x


def test_huge_but_finite_float64_values_pass_when_kept_in_float64():
    x = np.full(4, 1e308)  # their sum overflows: the exact check must still pass them
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_array(x, dtype=None) is x
        with pytest.raises(ValueError, match=r"after conversion to float32"):
            check_array(x)


def test_check_same_length():
    check_same_length(np.ones(3), np.ones((3, 2)))
    with pytest.raises(
        ValueError,
        match=r"a and b must have the same number of samples\. Got 3 in "
        r"a \(shape \(3,\)\) and 2 in b \(shape \(2,\)\)",
    ):
        check_same_length(np.ones(3), np.ones(2), "a", "b")


def test_check_labels():
    np.testing.assert_array_equal(check_labels(np.array([[0], [2]]), 3), [0, 2])
    assert check_labels(np.array([0.0, 1.0]), 2).dtype == np.int64
    with pytest.raises(ValueError, match=r"labels outside \[0, 3\): found values from 0 to 3"):
        check_labels(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="non-integer values such as \\[0.5\\]"):
        check_labels(np.array([0.5, 1.0]), 3)
    with pytest.raises(ValueError, match=r"one integer class label per sample.*Got shape \(2, 3\)"):
        check_labels(np.eye(3)[:2], 3)
    with pytest.raises(TypeError, match="must hold integer class labels. Got dtype <U1"):
        check_labels(np.array(["a"]), 3)


def test_check_choice_positive_fraction():
    assert check_choice("min", "mode", ["min", "max"]) == "min"
    with pytest.raises(ValueError, match="mode must be one of 'min', 'max'. Got 'mid' instead."):
        check_choice("mid", "mode", ["min", "max"])
    assert check_positive(3, "n", integer=True) == 3
    assert check_positive(0, "n", strict=False) == 0
    with pytest.raises(ValueError, match="n must be > 0. Got 0 instead."):
        check_positive(0, "n")
    with pytest.raises(ValueError, match="n must be > 0. Got nan instead."):
        check_positive(float("nan"), "n")
    with pytest.raises(TypeError, match="n must be an int. Got float 2.0 instead."):
        check_positive(2.0, "n", integer=True)
    with pytest.raises(TypeError, match="n must be a number. Got bool True instead."):
        check_positive(True, "n")
    assert check_fraction(0.5, "p") == 0.5 and check_fraction(1, "p", inclusive_high=True) == 1.0
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)\. Got 1 instead\."):
        check_fraction(1, "p")
    with pytest.raises(TypeError, match=r"p must be a number in \[0, 1\)\. Got str"):
        check_fraction("0.5", "p")


def test_describe():
    assert describe(np.ones((2, 3))) == "an array of shape (2, 3) and dtype float64"
    assert describe("abc") == "str 'abc'"
