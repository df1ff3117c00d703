"""1-D pooling over sequences (batch, steps, channels), computed by the 2-D pooling layers on a
(1, steps) image view."""

from __future__ import annotations

from typing import Any

from engram.nn.layers.base import Layer, register_layer
from engram.nn.layers.conv1d import normalize_single, sequence_plan
from engram.nn.layers.conv2d import check_channels_last
from engram.nn.layers.global_pooling import check_sequence_input
from engram.nn.layers.pooling import AveragePooling2D, MaxPooling2D


class _Pooling1D(Layer):
    """Shared arguments, shapes and checks; ``pool2d`` (a 1 x pool_size 2-D pooling layer over
    (batch, 1, steps, channels)) does the arithmetic both ways."""

    pool2d_class: type[Layer] = MaxPooling2D

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = normalize_single(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else normalize_single(strides, "strides")
        word = padding.lower() if isinstance(padding, str) else padding
        if word not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same'. Got {padding!r} instead.")
        self.padding = word
        check_channels_last(data_format)
        self.pool2d = self.pool2d_class(
            (1, self.pool_size), (1, self.strides), self.padding, name=f"{self.name}/pool2d"
        )

    def compute_output_shape(self, input_shape):
        check_sequence_input(self, (None, *input_shape))
        steps = sequence_plan(input_shape[0], self.pool_size, self.strides, 1, self.padding)[0]
        if steps <= 0:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r}: pool_size {self.pool_size} is "
                f"larger than its input's {input_shape[0]} steps with padding='valid', which "
                "leaves no output. Use padding='same', a smaller pool_size, or longer sequences."
            )
        return (steps, input_shape[-1])

    def build(self, input_shape, rng):
        self.compute_output_shape(input_shape)
        super().build(input_shape, rng)

    def check_input(self, shape):
        check_sequence_input(self, tuple(shape), self.input_shape)

    def forward(self, x, training=False):
        # the image view is kept: MaxPooling2D holds its input weakly, to find the winners again
        # if a backward follows an inference forward
        self.x_view = x[:, None]
        return self.pool2d.forward(self.x_view, training)[:, 0]

    def backward(self, grad_y):
        return self.pool2d.backward(grad_y[:, None])[:, 0]

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": [self.pool_size],
            "strides": [self.strides],
            "padding": self.padding,
            "data_format": "channels_last",
        }


@register_layer
class MaxPooling1D(_Pooling1D):
    """Max pooling over steps: the largest value in each window, per channel.

    Math:
        forward:   y[b, t, ch] = max_{i < p} xp[b, t*s + i, ch]     (xp: x padded with -inf
                   for "same"); the first maximum wins ties, as in `MaxPooling2D`
        backward:  grad_x[b, t*s + i, ch] += grad_y[b, t, ch]  for the winner only

    Args:
        pool_size: an int (default 2).
        strides: an int; None (default) means pool_size.
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` or None.

    Example:
        >>> MaxPooling1D(2)(np.zeros((1, 9, 4), dtype="float32")).shape
        (1, 4, 4)
    """

    pool2d_class = MaxPooling2D


@register_layer
class AveragePooling1D(_Pooling1D):
    """Average pooling over steps: the mean of each window, per channel.

    Math:
        forward:   y[b, t, ch] = (1 / n[t]) * sum_{i < p} xp[b, t*s + i, ch]
                   n[t] = steps of the window inside the sequence: padding is not counted, as
                   in Keras's TensorFlow and JAX backends (its torch backend, when "same"
                   padding is odd in total, repeats the edge steps and counts them)
        backward:  grad_x[b, t*s + i, ch] += grad_y[b, t, ch] / n[t]

    Args:
        pool_size, strides, padding, data_format: as `MaxPooling1D`.
    """

    pool2d_class = AveragePooling2D
