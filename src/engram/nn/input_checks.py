"""The model's input checks: arrays for ``x``, ``y`` and ``sample_weight`` checked once, at the
API boundary (``fit``/``evaluate``/``predict``/``compute_gradients``), and cast to float32, with
errors that name the argument and the fix.

`InputChecks` holds these methods; `engram.nn.model.Model` inherits them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.layers.base import shape_str
from engram.nn.subclassing import trace_for_data
from engram.validation import check_array, check_same_length, shape_fits


class InputChecks:
    """Checks of the arrays given to a model (mixed into `Model`)."""

    def _check_x(self, x: Any, name: str = "x") -> list[np.ndarray]:
        """The input arrays, one per model input, checked and cast."""
        if x is None:
            raise ValueError(f"{name} is required: pass the input data as an array.")
        if self.graph is None and self._is_subclassed():
            trace_for_data(self, x, name)
        inputs = self.graph.inputs
        if isinstance(x, dict):
            missing = [n for n in self._input_keys if n not in x]
            if missing:
                raise ValueError(f"{name} has no arrays for the inputs {missing}.")
            x = [x[n] for n in self._input_keys]
        elif self.__dict__.get("_input_dict") and len(inputs) > 1:
            raise ValueError(
                f"{name} must be a dict keyed by the model's input names {self._input_keys} "
                "(its inputs were given as a dict), as in Keras."
            )
        if len(inputs) > 1:
            if not isinstance(x, (list, tuple)) or len(x) != len(inputs):
                raise ValueError(
                    f"{name} must be a list of {len(inputs)} arrays, one per input "
                    f"({self._input_keys}), or a dict keyed by input name."
                )
        else:
            x = [x[0]] if isinstance(x, (list, tuple)) and len(x) == 1 else [x]
        out = []
        for k, (t, arr) in enumerate(zip(inputs, x, strict=True)):
            label = name if len(inputs) == 1 else f"{name}[{k}]"
            dtype = t.dtype if np.dtype(t.dtype).kind in "iu" else self.dtype
            arr = check_array(arr, label, dtype=dtype)
            expected = t.shape[1:]
            if arr.ndim == 1 and expected == (1,):
                arr = arr[:, None]
            if not shape_fits(arr.shape[1:], expected):
                raise ValueError(
                    f"{label} has shape {arr.shape}, but the model expects inputs of shape "
                    f"{shape_str((None, *expected))}."
                )
            out.append(arr)
        for arr in out[1:]:
            check_same_length(out[0], arr, f"{name}[0]", f"{name}[...]")
        return out

    def _check_y(self, y: Any, x0: np.ndarray, prefix: str = "") -> list[np.ndarray]:
        name = prefix + "y"
        if y is None:
            raise ValueError(f"{name} is required: pass the targets for {prefix}x.")
        if isinstance(y, dict):
            missing = [k for k in self._output_keys if k not in y]
            if missing:
                raise ValueError(f"{name} has no targets for the outputs {missing}.")
            y = [y[k] for k in self._output_keys]
        outputs = self.graph.outputs
        if len(outputs) > 1:
            if not isinstance(y, (list, tuple)) or len(y) != len(outputs):
                raise ValueError(
                    f"{name} must be a list of {len(outputs)} arrays, one per output "
                    f"({self._output_keys}), or a dict keyed by output name."
                )
        else:
            y = [y]
        out = []
        for k, (t, loss, arr) in enumerate(zip(outputs, self._losses, y, strict=True)):
            label = name if len(outputs) == 1 else f"{name}[{k}]"
            arr = check_array(arr, label, dtype=None)
            check_same_length(x0, arr, prefix + "x", label)
            out.append(loss.prepare_targets(arr, t.shape, label))
        return out

    def _check_xy(self, x: Any, y: Any, prefix: str = ""):
        xs = self._check_x(x, prefix + "x")
        return xs, self._check_y(y, xs[0], prefix)

    def _check_sample_weight(
        self, sample_weight: Any, n: int, name: str = "sample_weight", y=None, loss=None
    ) -> np.ndarray | None:
        """One weight per sample, (n,); or, for a loss that weighs entries itself
        (``forward_weighted``: a mask), weights shaped like the targets' leading axes."""
        if sample_weight is None:
            return None
        w = check_array(sample_weight, name, dtype=np.float64)
        if (
            y is not None
            and w.ndim > 1
            and hasattr(loss, "forward_weighted")
            and w.shape == y.shape[: w.ndim]
        ):
            return w  # weights per time step or per entry, for losses that take them
        if w.shape == (n, 1):
            w = w[:, 0]
        if w.shape != (n,):
            raise ValueError(
                f"{name} must have one weight per sample, shape ({n},). Received shape {w.shape}."
            )
        return w

    def _sample_weights(
        self, sample_weight: Any, n: int, prefix: str = "", ys: Any = None
    ) -> list | None:
        """``sample_weight`` as one (n,) array per output, or None: one array for every output,
        or (several outputs) a list in output order or a dict keyed by output name. With the
        targets ``ys``, a loss that weighs entries itself may take weights per entry."""
        if sample_weight is None:
            return None
        names = self._output_keys
        if len(names) > 1 and isinstance(sample_weight, dict):
            missing = [k for k in names if k not in sample_weight]
            if missing:
                raise ValueError(f"{prefix}sample_weight has no weights for outputs {missing}.")
            sample_weight = [sample_weight[k] for k in names]
        per_output = (
            len(names) > 1
            and isinstance(sample_weight, (list, tuple))
            and len(sample_weight) == len(names)
            and all(np.ndim(w) == 1 for w in sample_weight)
        )
        weights = list(sample_weight) if per_output else [sample_weight] * len(names)
        ys = ys if ys is not None else [None] * len(names)
        return [
            self._check_sample_weight(w, n, prefix + "sample_weight", y, loss)
            for w, y, loss in zip(weights, ys, self._losses, strict=True)
        ]
