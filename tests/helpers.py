"""The shared layer harness: every layer test starts with one call to `check_layer`.

It checks, for one layer configuration:
1. output shape (against ``compute_output_shape``) and float32 dtype;
2. float64 central-difference gradients of the input and every weight (relative error < 1e-6);
3. PyTorch parity of the forward pass, the backward pass (input and weight gradients) and one
   optimizer step (SGD with momentum and Adam), float32, atol 1e-5 — when a torch reference
   function is given;
4. config round trip: ``from_config(get_config())`` rebuilds a layer with the same config and,
   with the same weights, the same outputs;
5. save/load round trip inside a `Sequential`: weights and predictions bit-exact.

A merge layer takes a list of inputs: pass ``input_shape`` as a list of shapes (or ``x`` as a
list); the gradient check then covers every input, the torch function receives a list of
tensors, and step 5 is skipped (a merge layer is not a Sequential's layer).

The torch reference is a function ``torch_fn(params, x) -> y`` of torch tensors, where
``params`` holds the engram weights *in engram's layout* as leaf tensors, so the harness can
compare gradients key by key (the function does any transposing, e.g. to NCHW).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engram.nn import Sequential, gradcheck, load_model
from engram.nn import optimizers as engram_optimizers

ATOL = 1e-5


def _random_input(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def check_layer(
    cls: type,
    kwargs: dict[str, Any],
    input_shape: tuple[int, ...],
    torch_fn: Callable | None = None,
    *,
    x: np.ndarray | None = None,
    training: bool = False,
    seed: int = 0,
    tmp_path: Any = None,
    atol: float = ATOL,
) -> Any:
    """Run the whole harness on ``cls(**kwargs)`` with inputs of ``input_shape`` (batch first).

    Returns the built float32 layer for further, layer-specific checks.
    """
    rng = np.random.default_rng(seed)
    multi = isinstance(input_shape, list) or isinstance(x, list)
    if x is None:
        x = (
            [_random_input(s, rng) for s in input_shape]
            if multi
            else _random_input(input_shape, rng)
        )
    xs = x if multi else [x]
    sample_shape = [tuple(v.shape[1:]) for v in xs] if multi else tuple(x.shape[1:])
    layer = cls(**kwargs)
    layer.build(sample_shape, np.random.default_rng(seed))

    # 1. shape and dtype
    y = layer.forward(x, training)
    expected = (xs[0].shape[0], *layer.compute_output_shape(sample_shape))
    assert y.shape == expected, f"output shape {y.shape} != compute_output_shape {expected}"
    assert y.dtype == np.float32, f"output dtype {y.dtype}, expected float32"
    grad_x = layer.backward(np.ones_like(y))
    for v, g in zip(xs, grad_x if multi else [grad_x], strict=True):
        assert g.shape == v.shape and g.dtype == np.float32
    for key, grad in layer.grads.items():
        assert grad.shape == layer.params[key].shape, key
        assert grad.dtype == np.float32, f"grad {key} dtype {grad.dtype}"

    # 2. float64 gradient check
    x64 = [v.astype(np.float64) for v in xs] if multi else x.astype(np.float64)
    # the upstream gradient from another seed than the input's: drawn from the same seed it
    # equals the input, and a layer whose input gradient along x is zero (UnitNormalization)
    # would then be checked against an all-zero gradient
    report = gradcheck(layer, x64, training=training, seed=seed + 1)
    assert report.passed, str(report)

    # 3. PyTorch parity
    if torch_fn is not None:
        check_torch_parity(layer, x, torch_fn, training=training, seed=seed, atol=atol)

    # 4. config round trip
    config = layer.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config
    clone.build(sample_shape, np.random.default_rng(seed + 1))
    clone.set_weights(layer.get_weights())
    if not training:
        np.testing.assert_array_equal(clone.forward(x, False), layer.forward(x, False))

    # 5. save / load round trip, bit-exact
    if tmp_path is not None and not multi:
        check_save_load(cls(**kwargs), x, tmp_path)
    return layer


def check_save_load(layer: Any, x: np.ndarray, tmp_path: Any) -> None:
    """Save a one-layer model and load it back: identical weights and predictions."""
    model = Sequential([layer], seed=0)
    model.build((None, *x.shape[1:]))
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / f"{layer.name}.engram"
    model.save(path)
    loaded = load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x), loaded.predict(x))


def check_torch_parity(
    layer: Any,
    x: np.ndarray,
    torch_fn: Callable,
    *,
    training: bool = False,
    seed: int = 0,
    atol: float = ATOL,
) -> None:
    """Forward, backward and one optimizer step of ``layer`` against ``torch_fn``, float32."""
    import torch

    rng = np.random.default_rng(seed + 7)
    y = layer.forward(x, training)
    upstream = rng.standard_normal(y.shape).astype(np.float32)
    grad_x = layer.backward(upstream)
    grads = {k: v.copy() for k, v in layer.grads.items()}

    params_t = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    multi = isinstance(x, list)
    xs_t = [torch.tensor(v, requires_grad=True) for v in (x if multi else [x])]
    y_t = torch_fn(params_t, xs_t if multi else xs_t[0])
    y_t.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y, y_t.detach().numpy(), atol=atol, rtol=1e-5, err_msg="forward")
    for g, x_t in zip(grad_x if multi else [grad_x], xs_t, strict=True):
        np.testing.assert_allclose(
            g, x_t.grad.numpy(), atol=atol, rtol=1e-5, err_msg="input gradient"
        )
    for key, tensor in params_t.items():
        np.testing.assert_allclose(
            grads[key], tensor.grad.numpy(), atol=atol, rtol=1e-5, err_msg=f"grad {key}"
        )
    if layer.params:
        check_optimizer_step(layer, grads, atol=atol)


def check_optimizer_step(layer: Any, grads: dict[str, np.ndarray], atol: float = ATOL) -> None:
    """One SGD-momentum step and one Adam step on the layer's weights match torch.optim."""
    import torch

    cases = [
        (
            engram_optimizers.SGD(learning_rate=0.1, momentum=0.9),
            torch.optim.SGD,
            {"lr": 0.1, "momentum": 0.9},
        ),
        # Keras adds epsilon to sqrt(v), torch to sqrt(v / (1 - beta_2^t)): with a tiny epsilon
        # the two forms agree, so the step itself is compared.
        (
            engram_optimizers.Adam(learning_rate=0.01, epsilon=1e-10),
            torch.optim.Adam,
            {"lr": 0.01, "eps": 1e-10},
        ),
    ]
    original = {k: v.copy() for k, v in layer.params.items()}
    for ours, torch_cls, torch_kwargs in cases:
        for key in layer.params:
            layer.params[key] = original[key].copy()
        layer.grads = {k: v.copy() for k, v in grads.items()}
        tensors = {k: torch.tensor(v, requires_grad=True) for k, v in original.items()}
        for key, tensor in tensors.items():
            tensor.grad = torch.tensor(grads[key])
        theirs = torch_cls(list(tensors.values()), **torch_kwargs)
        for _ in range(2):
            ours.step([layer])
            theirs.step()
        for key, tensor in tensors.items():
            np.testing.assert_allclose(
                layer.params[key],
                tensor.detach().numpy(),
                atol=atol,
                rtol=1e-5,
                err_msg=f"{ours.name} step on {key}",
            )
    for key in layer.params:
        layer.params[key] = original[key]
