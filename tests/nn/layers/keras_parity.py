"""One layer against the same Keras 3.15.1 layer (torch backend): Keras's weights copied in
with ``set_weights``, then the forward pass (atol 1e-5) and, through torch's autograd on Keras's
own call, the input and weight gradients (atol 1e-4)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.nn.keras_reference import import_keras


def check_layer_against_keras(
    ours: Any, theirs: Any, x: np.ndarray, *, training: bool = False, seed: int = 0
) -> Any:
    """Compare ``ours`` (an unbuilt engram layer) with ``theirs`` (the same Keras layer).

    Returns the built engram layer.
    """
    import_keras()
    import torch

    x_t = torch.tensor(x, requires_grad=True)
    y_t = theirs(x_t, training=training)
    ours.build(tuple(x.shape[1:]), np.random.default_rng(seed))
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    assert ours.count_params() == theirs.count_params()
    assert ours.compute_output_shape(tuple(x.shape[1:])) == tuple(y_t.shape[1:])
    y = ours.forward(x, training)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, y_t.detach().numpy(), atol=1e-5, rtol=1e-5, err_msg="forward")

    upstream = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(np.float32)
    grad_x = ours.backward(upstream)
    (y_t * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), atol=1e-4, rtol=1e-4, err_msg="grad x")
    keys = [k for k in ours.weight_names if k in ours.params]
    assert len(keys) == len(theirs.trainable_weights)
    for key, variable in zip(keys, theirs.trainable_weights, strict=True):
        np.testing.assert_allclose(
            ours.grads[key], variable.value.grad.numpy(), atol=1e-4, rtol=1e-4, err_msg=key
        )
    return ours
