"""engram.nn.ops: each op's values against keras.ops, its derivative against central differences.

Every differentiable op is checked the same way: L = sum(op(inputs) * R) for a fixed random R,
its gradient from the tape (the op's hand-written vjp) against (L(x + h) - L(x - h)) / 2h in
float64 for every entry of every input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engram.nn import ops
from engram.nn.tape import Tape
from tests.nn.keras_reference import import_keras


def _pos(shape: tuple[int, ...]) -> Any:
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def _any(shape: tuple[int, ...]) -> Any:
    return lambda rng: rng.normal(size=shape)


# name -> (the call, given the ops module and the inputs; the inputs' makers)
DIFFERENTIABLE: dict[str, tuple[Any, list[Any]]] = {
    "add": (lambda o, a, b: o.add(a, b), [_any((3, 4)), _any((4,))]),
    "add_broadcast_column": (lambda o, a, b: o.add(a, b), [_any((3, 1)), _any((1, 4))]),
    "subtract": (lambda o, a, b: o.subtract(a, b), [_any((3, 4)), _any((3, 1))]),
    "multiply": (lambda o, a, b: o.multiply(a, b), [_any((2, 3, 4)), _any((3, 4))]),
    "divide": (lambda o, a, b: o.divide(a, b), [_any((3, 4)), _pos((3, 4))]),
    "power": (lambda o, a, b: o.power(a, b), [_pos((3, 4)), _any((3, 4))]),
    "power_scalar": (lambda o, a: o.power(a, 3), [_any((3, 4))]),
    "maximum": (lambda o, a, b: o.maximum(a, b), [_any((3, 4)), _any((3, 4))]),
    "minimum": (lambda o, a, b: o.minimum(a, b), [_any((3, 4)), _any((4,))]),
    "negative": (lambda o, a: o.negative(a), [_any((3, 4))]),
    "square": (lambda o, a: o.square(a), [_any((3, 4))]),
    "sqrt": (lambda o, a: o.sqrt(a), [_pos((3, 4))]),
    "exp": (lambda o, a: o.exp(a), [_any((3, 4))]),
    "log": (lambda o, a: o.log(a), [_pos((3, 4))]),
    "log1p": (lambda o, a: o.log1p(a), [_pos((3, 4))]),
    "abs": (lambda o, a: o.abs(a), [_any((3, 4))]),
    "relu": (lambda o, a: o.relu(a), [_any((3, 4))]),
    "sigmoid": (lambda o, a: o.sigmoid(a), [_any((3, 4))]),
    "tanh": (lambda o, a: o.tanh(a), [_any((3, 4))]),
    "softplus": (lambda o, a: o.softplus(a), [_any((3, 4))]),
    "clip": (lambda o, a: o.clip(a, -0.5, 0.7), [_any((3, 4))]),
    "softmax": (lambda o, a: o.softmax(a), [_any((3, 5))]),
    "softmax_axis0": (lambda o, a: o.softmax(a, axis=0), [_any((3, 5))]),
    "log_softmax": (lambda o, a: o.log_softmax(a), [_any((3, 5))]),
    "sum": (lambda o, a: o.sum(a), [_any((3, 4))]),
    "sum_axis_keepdims": (lambda o, a: o.sum(a, axis=1, keepdims=True), [_any((3, 4, 2))]),
    "mean": (lambda o, a: o.mean(a, axis=-1), [_any((3, 4))]),
    "mean_axes": (lambda o, a: o.mean(a, axis=(0, 2)), [_any((3, 4, 2))]),
    "max": (lambda o, a: o.max(a, axis=0), [_any((3, 4))]),
    "min": (lambda o, a: o.min(a), [_any((3, 4))]),
    "reshape": (lambda o, a: o.reshape(a, (-1, 2)), [_any((3, 4))]),
    "transpose": (lambda o, a: o.transpose(a, (2, 0, 1)), [_any((2, 3, 4))]),
    "transpose_default": (lambda o, a: o.transpose(a), [_any((3, 4))]),
    "expand_dims": (lambda o, a: o.expand_dims(a, 1), [_any((3, 4))]),
    "squeeze": (lambda o, a: o.squeeze(a, axis=1), [_any((3, 1, 4))]),
    "concatenate": (lambda o, a, b: o.concatenate([a, b], axis=1), [_any((3, 2)), _any((3, 4))]),
    "stack": (lambda o, a, b: o.stack([a, b], axis=1), [_any((3, 4)), _any((3, 4))]),
    "where": (lambda o, a, b: o.where(a > 0, a, b), [_any((3, 4)), _any((3, 4))]),
    "matmul": (lambda o, a, b: o.matmul(a, b), [_any((3, 4)), _any((4, 2))]),
    "matmul_batched": (lambda o, a, b: o.matmul(a, b), [_any((2, 3, 4)), _any((4, 5))]),
    "matmul_vector": (lambda o, a, b: o.matmul(a, b), [_any((3, 4)), _any((4,))]),
    "cast": (lambda o, a: o.cast(a, "float64"), [_any((3, 4))]),
    "sin": (lambda o, a: o.sin(a), [_any((3, 4))]),
    "cos": (lambda o, a: o.cos(a), [_any((3, 4))]),
    "var": (lambda o, a: o.var(a, axis=-1), [_any((3, 4))]),
    "std": (lambda o, a: o.std(a, axis=0, keepdims=True), [_any((3, 4))]),
    "dot": (lambda o, a, b: o.dot(a, b), [_any((3, 4)), _any((4, 2))]),
    "dot_vectors": (lambda o, a, b: o.dot(a, b), [_any((4,)), _any((4,))]),
}

# Python's operators on traced tensors: the same ops
OPERATORS: dict[str, tuple[Any, list[Any]]] = {
    "a + b": (lambda a, b: a + b, [_any((3, 4)), _any((4,))]),
    "1.5 - a": (lambda a: 1.5 - a, [_any((3, 4))]),
    "a * b": (lambda a, b: a * b, [_any((3, 4)), _any((3, 4))]),
    "a / b": (lambda a, b: a / b, [_any((3, 4)), _pos((3, 4))]),
    "2 / a": (lambda a: 2 / a, [_pos((3, 4))]),
    "a ** 2": (lambda a: a**2, [_any((3, 4))]),
    "a @ b": (lambda a, b: a @ b, [_any((3, 4)), _any((4, 2))]),
    "-a": (lambda a: -a, [_any((3, 4))]),
    "abs(a)": (lambda a: abs(a), [_any((3, 4))]),
    "a[1:, ::2]": (lambda a: a[1:, ::2], [_any((3, 4))]),
    "a[:, 0]": (lambda a: a[:, 0], [_any((3, 4))]),
}


def _inputs(makers: list[Any], dtype: Any = np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [m(rng).astype(dtype) for m in makers]


def _check_gradient(fn: Any, xs: list[np.ndarray]) -> None:
    rng = np.random.default_rng(1)
    with Tape() as tape:
        leaves = [tape.watch(x) for x in xs]
        out = fn(*leaves)
    weights = rng.normal(size=out.shape)
    grads = tape.backward([(out, weights)])

    def loss(values: list[np.ndarray]) -> float:
        return float(np.sum(np.asarray(fn(*values)) * weights))

    h = 1e-6
    for k, (x, leaf) in enumerate(zip(xs, leaves, strict=True)):
        numeric = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            plus = [v.copy() for v in xs]
            minus = [v.copy() for v in xs]
            plus[k][idx] += h
            minus[k][idx] -= h
            numeric[idx] = (loss(plus) - loss(minus)) / (2 * h)
        analytic = grads[leaf.index]
        assert analytic is not None, f"no gradient reached input {k}"
        assert analytic.shape == x.shape
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_op_derivative_matches_central_differences(name):
    call, makers = DIFFERENTIABLE[name]
    _check_gradient(lambda *xs: call(ops, *xs), _inputs(makers))


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_python_operators_are_ops_with_their_derivatives(name):
    call, makers = OPERATORS[name]
    _check_gradient(call, _inputs(makers))


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_op_values_match_keras_ops(name):
    keras = import_keras()
    call, makers = DIFFERENTIABLE[name]
    xs = _inputs(makers, np.float32)
    ours = call(ops, *xs)
    theirs = keras.ops.convert_to_numpy(call(keras.ops, *xs))
    assert isinstance(ours, np.ndarray)  # eager on arrays: an array, no tape
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


NO_GRADIENT: dict[str, Any] = {
    "equal": lambda o, a, b: o.equal(a, b),
    "not_equal": lambda o, a, b: o.not_equal(a, b),
    "greater": lambda o, a, b: o.greater(a, b),
    "greater_equal": lambda o, a, b: o.greater_equal(a, b),
    "less": lambda o, a, b: o.less(a, b),
    "less_equal": lambda o, a, b: o.less_equal(a, b),
    "argmax": lambda o, a, b: o.argmax(a, axis=1),
    "argmin": lambda o, a, b: o.argmin(a, axis=0),
    "one_hot": lambda o, a, b: o.one_hot(o.argmax(a, axis=1), 4),
    "zeros_like": lambda o, a, b: o.zeros_like(a),
    "ones_like": lambda o, a, b: o.ones_like(b),
    "zeros": lambda o, a, b: o.zeros((2, 3)),
    "ones": lambda o, a, b: o.ones((2, 3)),
    "full": lambda o, a, b: o.full((2, 3), 1.5),
    "sign": lambda o, a, b: o.sign(a),
    "cast_int": lambda o, a, b: o.cast(a * 3, "int32"),
    "convert_to_tensor": lambda o, a, b: o.convert_to_tensor([[0.5, 1.0]]),
    "logical_and": lambda o, a, b: o.logical_and(a > 0, b > 0),
}


@pytest.mark.parametrize("name", sorted(NO_GRADIENT))
def test_value_ops_match_keras_ops(name):
    keras = import_keras()
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)
    ours = NO_GRADIENT[name](ops, a, b)
    theirs = keras.ops.convert_to_numpy(NO_GRADIENT[name](keras.ops, a, b))
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_array_equal(ours, theirs)
    assert ops.shape(a) == tuple(keras.ops.shape(a))


def test_comparisons_on_traced_tensors_carry_no_gradient():
    with Tape() as tape:
        x = tape.watch(np.array([1.0, -2.0]))
        out = x > 0
    assert isinstance(out, np.ndarray) and out.tolist() == [True, False]
    assert not tape.entries


def test_ties_split_the_gradient_as_pytorch_does():
    with Tape() as tape:
        a, b = tape.watch(np.array([1.0, 2.0])), tape.watch(np.array([1.0, 3.0]))
        out = ops.maximum(a, b)
    grads = tape.backward([(out, np.ones(2))])
    assert grads[a.index].tolist() == [0.5, 0.0]
    assert grads[b.index].tolist() == [0.5, 1.0]


def test_a_missing_op_names_keras_ops_and_lists_what_there_is():
    with pytest.raises(AttributeError, match=r"keras\.ops\.einsum is not implemented.*matmul"):
        ops.einsum  # noqa: B018


def test_numpy_ufuncs_on_a_traced_tensor_are_ops_or_refused():
    with Tape() as tape:
        x = tape.watch(np.array([0.5, 1.0]))
        out = np.exp(x) + (np.ones(2) - x)  # ufuncs ops has: the ops, with their derivatives
        with pytest.raises(TypeError, match="no sinh"):
            np.sinh(x)
        with pytest.raises(TypeError, match="no gradient"):
            np.asarray(x)
    grad = tape.backward([(out, np.ones(2))])[x.index]
    np.testing.assert_allclose(grad, np.exp([0.5, 1.0]) - 1)


def test_float32_stays_float32_with_python_numbers():
    x = np.ones(3, np.float32)
    assert (ops.multiply(x, 0.5)).dtype == np.float32
    with Tape() as tape:
        t = tape.watch(x)
        assert (0.5 * t + 1).dtype == np.float32
