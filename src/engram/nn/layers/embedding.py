"""Embedding: a lookup table from integer tokens to dense vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn import initializers
from engram.nn.layers.base import Layer, register_layer
from engram.validation import check_positive

#: how far a float index may lie from a whole number and still be read as that token
WHOLE_TOLERANCE = 1e-3


@register_layer
class Embedding(Layer):
    """Turns integer indices into rows of a trainable table.

    Math:
        forward:   y[b, t] = embeddings[x[b, t]]       x: (batch, time) ints  y: (batch, time, dim)
        backward:  grad_embeddings[k] = sum over (b, t) with x[b, t] = k of grad_y[b, t]
                   (a scatter-add, ``np.add.at``: a token seen twice gets both gradients)
                   grad_x = 0 (indices are not differentiable)

    Args:
        input_dim: size of the vocabulary; indices must lie in [0, input_dim).
        output_dim: length of each embedding vector.
        embeddings_initializer: initializer of ``embeddings`` (Keras's "uniform",
            U(-0.05, 0.05)).

    Inputs may be integer arrays or floats holding integers (a `Sequential` casts its input to
    float32, exact for indices below 2**24). A float more than 0.001 from a whole number is
    refused (Keras truncates 4.99 to token 4 without a word); closer ones, such as the
    2.000001 of a finite-difference check, are rounded.

        mask_zero: index 0 is padding: the output carries the mask ``x != 0``, with which
            the recurrent layers skip padded steps (their state carries over), as in Keras.

    Raises:
        ValueError: an index outside [0, input_dim), or a float index with a fractional part.

    Example:
        >>> Embedding(100, 8)(np.array([[1, 2, 3]])).shape
        (1, 3, 8)

    Reference: Bengio et al. 2003, JMLR 3:1137.
    """

    weight_names = ("embeddings",)
    keras_weights = {"embeddings": "embeddings"}

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "random_uniform",
        mask_zero: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mask_zero = bool(mask_zero)
        self.input_dim = int(check_positive(input_dim, "input_dim", integer=True))
        self.output_dim = int(check_positive(output_dim, "output_dim", integer=True))
        self.embeddings_initializer = initializers.get(embeddings_initializer)

    def build(self, input_shape, rng):
        shape = (self.input_dim, self.output_dim)
        self.params["embeddings"] = self.embeddings_initializer(shape, rng, self.dtype)
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def _indices(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        idx = x.astype(np.intp) if x.dtype.kind in "biu" else self._whole(x)
        if idx.size and (idx.min() < 0 or idx.max() >= self.input_dim):
            bad = idx[(idx < 0) | (idx >= self.input_dim)]
            raise ValueError(
                f"Embedding(input_dim={self.input_dim}) layer {self.name!r} received indices "
                f"outside [0, {self.input_dim}), such as {bad[:3].tolist()}. Use "
                "input_dim = vocabulary size (largest index + 1), or re-encode the tokens."
            )
        return idx

    def _whole(self, x: np.ndarray) -> np.ndarray:
        """Float indices as ints; each must be a whole number (NaN and Inf are not)."""
        rounded = np.rint(x)
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(x - rounded) <= WHOLE_TOLERANCE)  # NaN and Inf compare False
        if bad.any():
            raise ValueError(
                f"Embedding(input_dim={self.input_dim}) layer {self.name!r} received indices "
                f"that are not whole numbers, such as {x[bad][:3].tolist()}. Token indices must "
                "be integers: pass an int array, or round the data first (np.rint)."
            )
        return rounded.astype(np.intp)

    def mask_flow(self, input_masked: bool) -> bool:
        return self.mask_zero

    def compute_mask(self, x: Any, mask: Any = None) -> Any:
        """``x != 0`` with ``mask_zero`` (index 0 is padding), else None."""
        return np.not_equal(x, 0) if self.mask_zero else None

    def forward(self, x, training=False):
        self.idx = self._indices(x)
        self.x_shape, self.x_dtype = x.shape, x.dtype
        return self.params["embeddings"][self.idx]

    def backward(self, grad_y):
        table = self.params["embeddings"]
        grad = np.zeros_like(table)
        np.add.at(grad, self.idx.reshape(-1), grad_y.reshape(-1, self.output_dim))
        self.grads["embeddings"] = grad
        dtype = self.x_dtype if np.dtype(self.x_dtype).kind == "f" else table.dtype
        return np.zeros(self.x_shape, dtype=dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.to_json(self.embeddings_initializer),
            "mask_zero": self.mask_zero,
        }
