"""What SimpleRNN, LSTM and GRU share: arguments, input checks, masks, states and time order.

A recurrent layer reads a batch of sequences ``x`` of shape (batch, time, features) and runs one
cell step per time step. The base class does everything that is not the cell:

* checks the input (3-D, at least one step, the built feature count) and the initial states;
* turns the input time-major, ``xs`` (time, batch, features), reversed when ``go_backwards``,
  with the input dropout mask applied (one mask per sequence, shared by all steps, as in Keras);
* packs the outputs: the whole sequence (``return_sequences``) or the last output, plus the final
  states for direct calls with ``return_state``;
* routes the gradients back: the output gradient time-major to the subclass's
  `_backward_sequence`, the input gradient back to (batch, time, features) order.

Subclasses implement `_build_weights`, `_forward_sequence(xs, states)` and
`_backward_sequence(grad_seq, grad_last)` with backpropagation through time written out, and
`_infer_sequence(xs, states)`: the same forward pass for inference (``training=False``, the
path of ``predict``), which keeps no per-step values for backward and reuses a few per-step
buffers instead. A ``backward`` after an inference forward first runs `_forward_sequence` on
the same inputs (dropout is off in inference, so it computes the same outputs).

Masks: with a (batch, time) ``mask`` (from ``Embedding(mask_zero=True)`` or ``Masking``, or
``layer(x, mask=...)``), a masked step leaves the states as they were (h_t = h_{t-1}, and for the
LSTM c_t = c_{t-1}) and its returned output repeats the previous one (zeros with
``zero_output_for_mask``, which `Bidirectional` sets, as in Keras); backward passes the state
gradients of a masked step straight on to the step before.

Direct calls and `Sequential`:
    ``layer(x)`` returns the output; with ``return_state=True`` it returns a list
    ``[output, *final_states]`` (``outputs, h = gru(x)``, ``outputs, h, c = lstm(x)``), and
    ``layer(x, initial_state=[h0])`` (``[h0, c0]`` for LSTM) starts from given states. After
    ``backward``, ``layer.grad_initial_state`` holds the gradients of the initial states, and
    ``backward(grad_y, grad_states=[...])`` accepts gradients for the returned final states.
    A `Sequential` passes one array from layer to layer, so ``return_state=True`` cannot be
    used inside one: ``forward`` (the method a `Sequential` calls) raises a clear error.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from engram.nn import activations, initializers
from engram.nn.graph import call_layer, is_symbolic
from engram.nn.layers.base import Layer, shape_str
from engram.validation import as_rng, check_fraction, check_positive

#: how the recurrence uses several cores. False (default): one Python thread runs the steps and
#: OpenBLAS's own threads share each per-step matmul. True: one BLAS thread per worker and the
#: batch split into row blocks run by engram's worker threads (`run_rows`, `split_matmul`).
#: Measured on 2 cores (bench/bench_rnn.py, input 8, hidden 128, T 100, batch 64, fwd + bwd,
#: runs alternating with PyTorch): False gave SimpleRNN 1.65-1.82x PyTorch and LSTM 0.95-1.06x,
#: True 1.13-1.30x and 0.65-0.76x. Each Python worker issues ~30 small NumPy calls a step and
#: hands the GIL back and forth; waking a sleeping thread costs tens of microseconds on a
#: virtual machine, while OpenBLAS's threads spin between the back-to-back matmuls. Set True
#: on machines where other processes load the cores: spinning BLAS threads suffer most there.
SINGLE_THREAD_STEPS = False
#: rows of the batch per worker thread below which the loop runs in one thread
MIN_ROWS_PER_WORKER = 16
#: multiply-adds per step per worker below which threads cost more than they save
MIN_WORK_PER_WORKER = 2**19
_controller: list[Any] = []
_pool: list[Any] = []


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def single_blas_thread() -> Any:
    """A context in which BLAS runs single-threaded (threadpoolctl, a scikit-learn dependency;
    the controller, slow to build, is built once). For loops of small matmuls, where BLAS
    threads cost more than they save, and far more when other processes share the cores."""
    if not _controller:
        from threadpoolctl import ThreadpoolController

        _controller.append(ThreadpoolController())
    return _controller[0].limit(limits=1, user_api="blas")


def workers_for(batch: int, work_per_row: int) -> int:
    """How many threads the per-step loop of a (batch, work_per_row) problem uses."""
    if not SINGLE_THREAD_STEPS:
        return 1
    by_work = batch * work_per_row // MIN_WORK_PER_WORKER
    return max(1, min(_workers(), batch // MIN_ROWS_PER_WORKER, by_work))


def blas_scope() -> Any:
    """With `SINGLE_THREAD_STEPS`: one BLAS thread for a whole forward or backward call, the
    threads being engram's own; otherwise nothing changes.

    On a machine shared with other processes OpenBLAS's spinning threads can make matmuls much
    slower (a (128, 6400) @ (6400, 512) product measured 12 ms on one thread, 240 ms on two
    while other processes ran). In that mode the parallelism comes from `run_rows` (row blocks
    of the batch, inside the loops) and `split_matmul` (column blocks, for the
    all-steps matmuls), whose threads wait on each other without spinning.
    """
    return single_blas_thread() if SINGLE_THREAD_STEPS else contextlib.nullcontext()


def parallel_for(fn: Callable[[int, int], None], size: int, workers: int) -> None:
    """Run ``fn(lo, hi)`` on ``workers`` contiguous blocks of ``range(size)``, in threads.

    NumPy releases the GIL inside matmuls and ufuncs, so the blocks run in parallel. Each
    block runs in a copy of the caller's context, so ``np.errstate`` applies there too.
    """
    if workers <= 1:
        fn(0, size)
        return
    import concurrent.futures  # here, not at import time: most layers never need threads

    if not _pool:
        _pool.append(concurrent.futures.ThreadPoolExecutor(_workers(), thread_name_prefix="rnn"))
    bounds = np.linspace(0, size, workers + 1).astype(int)
    futures = [
        _pool[0].submit(contextvars.copy_context().run, fn, lo, hi)
        for lo, hi in zip(bounds[1:-1], bounds[2:], strict=True)
    ]
    try:
        fn(bounds[0], bounds[1])  # the first block in this thread, the others in the pool
    finally:
        concurrent.futures.wait(futures)
    for future in futures:
        future.result()


def run_rows(fn: Callable[[int, int], None], batch: int, work_per_row: int) -> None:
    """Run ``fn(lo, hi)`` over the rows of a batch, split between threads when it pays.

    The sequences of a batch are independent during the recurrence, so the per-step loop can
    run on row blocks in parallel, each block's loop in one thread from start to end (no
    waiting between steps). Small problems (fewer than `MIN_ROWS_PER_WORKER` rows or
    `MIN_WORK_PER_WORKER` multiply-adds per step and thread; ``work_per_row`` is the
    multiply-adds of one row's step) run in the calling thread. Call it inside `blas_scope`.
    """
    parallel_for(fn, batch, workers_for(batch, work_per_row))


def split_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b, out=out)`` split between threads by blocks of ``b``'s columns.

    For the all-steps matmuls (the weight gradients, (width, time * batch) @
    (time * batch, units)): each thread runs single-threaded BLAS calls (see `blas_scope` for
    why not BLAS's own threads). Call it inside `blas_scope`.
    """
    size = out.shape[-1]
    workers = min(size, workers_for(size, out.size // size * a.shape[-1]))

    def block(lo: int, hi: int) -> None:
        np.matmul(a, b[..., lo:hi], out=out[..., lo:hi])

    parallel_for(block, size, workers)
    return out


def project_inputs(
    xs: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, out: np.ndarray
) -> np.ndarray:
    """``out = xs @ kernel + bias`` for all steps in one matmul, as ``[xs, 1] @ [kernel; bias]``.

    ``xs`` is (time * batch, features); ``kernel`` (..., features, n) and ``bias`` (..., n)
    may carry leading gate axes. Folding the bias into the matmul saves a pass over ``out``.
    """
    if bias is None:
        return np.matmul(xs, kernel, out=out)
    xs1 = np.empty((xs.shape[0], xs.shape[1] + 1), xs.dtype)
    xs1[:, :-1], xs1[:, -1] = xs, 1
    return np.matmul(xs1, np.concatenate([kernel, bias[..., None, :]], axis=-2), out=out)


def stacked_inputs(xs: np.ndarray, h0: np.ndarray, use_bias: bool) -> np.ndarray:
    """[h_{t-1}, x_t, 1] for every step, (time + 1, batch, units + features + use_bias), the
    training forward's matmul inputs, which backward reads: step t reads hx[t] (hx[0] holds
    the initial state) and writes h_t into hx[t + 1, :, :units]. The last row's x part is 0
    (never multiplied: h_T is read there, x_{T+1} does not exist)."""
    n_steps, batch, n_in = xs.shape
    u = h0.shape[1]
    hx = np.empty((n_steps + 1, batch, u + n_in + use_bias), xs.dtype)
    hx[0, :, :u] = h0
    hx[:-1, :, u : u + n_in] = xs
    hx[-1, :, u : u + n_in] = 0
    hx[:, :, u + n_in :] = 1
    return hx


def step_inputs(xs: np.ndarray, h0: np.ndarray, use_bias: bool) -> np.ndarray:
    """[h_0, x_1, 1]: one step's matmul input, (batch, units + features + use_bias), for the
    inference loops, which refresh it in place each step (`next_step_inputs`).

    Inference keeps one such buffer rather than the stacked inputs of all steps (the training
    forward's (time + 1, batch, width) array, which backward reads): a few megabytes less to
    allocate, and to fault in page by page, at every call.
    """
    batch, u = h0.shape
    n_in = xs.shape[2]
    inputs = np.empty((batch, u + n_in + use_bias), xs.dtype)
    inputs[:, :u] = h0
    inputs[:, u : u + n_in] = xs[0]
    inputs[:, u + n_in :] = 1
    return inputs


def next_step_inputs(inputs: np.ndarray, h_t: np.ndarray, xs: np.ndarray, t: int) -> None:
    """`step_inputs` after step t: [h_t, x_{t+1}, 1] (x_{t+1} only where it exists)."""
    u = h_t.shape[1]
    inputs[:, :u] = h_t
    if t + 1 < xs.shape[0]:
        inputs[:, u : u + xs.shape[2]] = xs[t + 1]


def needs_preactivation(*acts: Any) -> bool:
    """Whether backpropagating through ``acts`` needs the pre-activations (not just outputs)."""
    return not all(a.derivative_from_output for a in acts)


def sequence_error(layer: str, shape: tuple[int, ...]) -> ValueError:
    """The error for an input that is not (batch, time, features)."""
    hint = ""
    if len(shape) == 2:
        hint = (
            " A batch of sequences with one feature per step needs a feature axis: x[..., None];"
            " a single sequence (time, features) needs a batch axis: x[None]."
        )
    return ValueError(
        f"{layer} expects inputs of shape (batch, time, features), but received a "
        f"{len(shape)}-D input of shape {shape_str(tuple(shape))}.{hint}"
    )


class Recurrent(Layer):
    """Base class of the recurrent layers (not registered; use SimpleRNN, LSTM or GRU).

    Args:
        units: size of the hidden state.
        activation: activation of the hidden state (tanh).
        use_bias: whether the cell has biases.
        kernel_initializer: initializer of ``weights`` (Keras's "kernel"), (features, k*units).
        recurrent_initializer: initializer of ``recurrent_weights``, (units, k*units).
        bias_initializer: initializer of ``bias``.
        dropout: fraction of input features dropped in training (one mask per sequence).
        recurrent_dropout: fraction of the hidden state dropped before the recurrent product in
            training (one mask per sequence, Gal & Ghahramani 2016).
        return_sequences: return the output of every step, (batch, time, units), instead of the
            last one, (batch, units).
        return_state: direct calls return ``[output, *final_states]`` (not in a `Sequential`).
        go_backwards: process the sequence from its last step to its first; the returned
            sequence is in processing order (reversed), as in Keras.
        seed: seed of the dropout masks; None uses the generator given to ``build``.
    """

    weight_names = ("weights", "recurrent_weights", "bias")
    keras_weights = {"kernel": "weights", "recurrent": "recurrent_weights", "bias": "bias"}
    state_names: tuple[str, ...] = ("hidden_state",)
    #: number of units-wide blocks in the kernels (1 SimpleRNN, 4 LSTM, 3 GRU)
    blocks = 1

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive(units, "units", integer=True)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout = check_fraction(dropout, "dropout")
        self.recurrent_dropout = check_fraction(recurrent_dropout, "recurrent_dropout")
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.seed = seed
        self.rng = as_rng(seed) if seed is not None else None
        self.grad_initial_state: list[np.ndarray] = []
        self.states: list[np.ndarray] = []
        self.replay_states: list[np.ndarray] | None = None

    # ----------------------------------------------------------------- building
    def build(self, input_shape, rng):
        input_shape = tuple(input_shape)
        if len(input_shape) != 2:
            raise sequence_error(self._label(), (None, *input_shape))
        if self.rng is None:
            self.rng = rng
        self._build_weights(int(input_shape[1]), rng)
        super().build(input_shape, rng)

    def _build_weights(self, n_in: int, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _build_kernels(self, n_in: int, rng: np.random.Generator) -> None:
        """``weights`` (features, blocks units) and ``recurrent_weights`` (units, blocks units),
        drawn in that order; the subclass adds its bias."""
        width = self.blocks * self.units
        self.params["weights"] = self.kernel_initializer((n_in, width), rng, self.dtype)
        # C order: the orthogonal initializer returns a transposed (Fortran-order) wide matrix
        recurrent = self.recurrent_initializer((self.units, width), rng, self.dtype)
        self.params["recurrent_weights"] = np.ascontiguousarray(recurrent)

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], self.units)
        return (self.units,)

    def _label(self) -> str:
        return f"{type(self).__name__}(units={self.units}) layer {self.name!r}"

    def check_input(self, shape):
        shape = tuple(shape)
        if len(shape) != 3:
            raise sequence_error(self._label(), shape)
        if shape[1] == 0:
            raise ValueError(
                f"{self._label()} received sequences of length 0 (shape {shape_str(shape)}). "
                "Every sequence needs at least one time step."
            )
        if self.input_shape is not None:
            steps, features = self.input_shape
            if shape[2] != features or (steps is not None and shape[1] != steps):
                raise ValueError(
                    f"{self._label()} was built for inputs of shape "
                    f"{shape_str((None, steps, features))}, but received shape "
                    f"{shape_str(shape)}. Reshape or pad the data to match, or build a new "
                    "layer for the new shape."
                )

    def _check_initial_state(self, initial_state: Any, batch: int) -> list[np.ndarray]:
        if isinstance(initial_state, np.ndarray) or not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        n = len(self.state_names)
        want = f"({batch}, {self.units})"
        names = ", ".join(self.state_names)
        if len(initial_state) != n:
            raise ValueError(
                f"{self._label()} needs initial_state as a list of {n} array(s) [{names}], each "
                f"of shape {want}. Received {len(initial_state)}."
            )
        states = []
        for name, state in zip(self.state_names, initial_state, strict=True):
            arr = np.asarray(state, dtype=self.params["recurrent_weights"].dtype)
            if arr.shape != (batch, self.units):
                raise ValueError(
                    f"{self._label()} initial_state {name} must have shape {want} (batch, "
                    f"units) for this batch, but received shape {shape_str(arr.shape)}."
                )
            states.append(arr)
        return states

    # ------------------------------------------------------- forward / backward
    def __call__(
        self, x: Any, training: bool = False, initial_state: Any = None, mask: Any = None
    ) -> Any:
        """Run the layer on ``x`` (building it first); see the module docstring for states. On a
        symbolic tensor (from `Input`): record the call in the graph, as every layer does."""
        if is_symbolic(x):
            if initial_state is not None or mask is not None:
                raise NotImplementedError(
                    f"{self._label()}: initial_state= and mask= in a functional call are not "
                    "supported; masks flow from Embedding(mask_zero=True) or Masking by "
                    "themselves."
                )
            return call_layer(self, x)
        if not isinstance(x, np.ndarray):
            try:
                x = np.asarray(x, dtype=self.dtype)
            except ValueError:
                raise ValueError(
                    f"{self._label()} received sequences of different lengths (a ragged "
                    "list). Pad them to one length first, e.g. "
                    "engram.data.sequences.pad_sequences(sequences)."
                ) from None
        self.check_input(x.shape)
        if not self.built:
            self.build(tuple(x.shape[1:]), np.random.default_rng(0))
        output = self._forward(x, training, initial_state, mask)
        if self.return_state:
            return [output, *(s.copy() for s in self.states)]
        return output

    #: the layer reads the mask of its input (Embedding(mask_zero=True), Masking)
    supports_masking = uses_mask = True
    #: zero the outputs of masked steps instead of repeating the previous output (Bidirectional
    #: sets it on its layers when they return sequences, as Keras does)
    zero_output_for_mask = False

    def mask_flow(self, input_masked: bool) -> bool:
        return input_masked and self.return_sequences

    def compute_mask(self, x: Any, mask: Any = None) -> Any:
        """The output's mask: the input's when returning sequences (not reversed by
        ``go_backwards``, as in Keras), else None."""
        return mask if self.return_sequences else None

    def forward(self, x, training=False, initial_state=None, mask=None):
        if self.return_state:
            raise ValueError(
                f"{self._label()} has return_state=True, which makes it return several arrays "
                f"([output, {', '.join(self.state_names)}]); a Sequential passes one array "
                "between layers. Use return_state=False in a Sequential, or call the layer "
                "directly: outputs = layer(x)."
            )
        if x.ndim != 3 or x.shape[1] == 0:
            self.check_input(x.shape)
        return self._forward(x, training, initial_state, mask)

    def _step_masks(self, mask: Any, shape: tuple[int, ...], masked_start: bool) -> None:
        """From a (batch, time) mask: ``self.skip`` (time, batch, 1), True where a step is
        masked (its states carry over), in processing order; and ``self.output_keep``, the
        factor of the returned sequence (processing order): 0 at masked steps with
        `zero_output_for_mask`, else 0 only before the first unmasked step when the layer
        started from given states (Keras repeats the previous output there, zeros at first)."""
        self.skip = self.output_keep = None
        if mask is None:
            return
        mask = np.asarray(mask)
        if mask.shape != tuple(shape[:2]):
            raise ValueError(
                f"{self._label()} received a mask of shape {shape_str(mask.shape)} for inputs "
                f"of shape {shape_str(tuple(shape))}; it must be (batch, time)."
            )
        keep = (mask[:, ::-1] if self.go_backwards else mask).T.astype(bool)  # (time, batch)
        self.skip = np.ascontiguousarray(~keep[..., None])
        if self.return_sequences and self.zero_output_for_mask:
            self.output_keep = keep[..., None]
        elif self.return_sequences and masked_start:
            self.output_keep = np.logical_or.accumulate(keep, axis=0)[..., None]

    def _forward(self, x, training, initial_state, mask=None):
        dtype = self.params["recurrent_weights"].dtype
        batch = x.shape[0]
        if initial_state is None:
            states = [np.zeros((batch, self.units), dtype) for _ in self.state_names]
        else:
            states = self._check_initial_state(initial_state, batch)
        xs = x[:, ::-1] if self.go_backwards else x
        xs = xs.transpose(1, 0, 2)
        self.input_mask = self.recurrent_mask = None
        if training and self.dropout > 0:
            keep = self.rng.random((batch, x.shape[2]), dtype=np.float32) >= self.dropout
            self.input_mask = keep.astype(dtype) * dtype.type(1.0 / (1.0 - self.dropout))
            xs = xs * self.input_mask
        if training and self.recurrent_dropout > 0:
            keep = self.rng.random((batch, self.units), dtype=np.float32) >= self.recurrent_dropout
            self.recurrent_mask = keep.astype(dtype) * dtype.type(1 / (1 - self.recurrent_dropout))
        self.xs = np.ascontiguousarray(xs, dtype=dtype)
        self._step_masks(mask, x.shape, initial_state is not None)
        # inference keeps none of the per-step values backward reads; a backward after it
        # (a gradient check, compute_gradients(training=False)) first runs the caching forward
        self.replay_states = None if training else states
        with blas_scope():
            run = self._forward_sequence if training else self._infer_sequence
            outputs, self.states = run(self.xs, states)
        if self.return_sequences:
            if self.output_keep is not None:
                outputs = outputs * self.output_keep
            return outputs.transpose(1, 0, 2)
        return self.states[0].copy()

    def backward(self, grad_y, grad_states=None):
        grad_seq = grad_y.transpose(1, 0, 2) if self.return_sequences else None
        if grad_seq is not None and self.output_keep is not None:
            grad_seq = grad_seq * self.output_keep
        grad_last = [np.zeros_like(s) for s in self.states]
        if not self.return_sequences:
            grad_last[0] += grad_y
        if grad_states is not None:
            if len(grad_states) != len(self.states):
                raise ValueError(
                    f"{self._label()} backward needs {len(self.states)} state gradient(s) "
                    f"({', '.join(self.state_names)}). Received {len(grad_states)}."
                )
            for acc, g in zip(grad_last, grad_states, strict=True):
                acc += g
        with blas_scope():
            if self.replay_states is not None:  # the forward ran as inference: cache now
                self._forward_sequence(self.xs, self.replay_states)
                self.replay_states = None
            grad_xs, self.grad_initial_state = self._backward_sequence(grad_seq, grad_last)
        if self.input_mask is not None:
            grad_xs *= self.input_mask
        grad_x = grad_xs.transpose(1, 0, 2)
        return grad_x[:, ::-1] if self.go_backwards else grad_x

    def _forward_sequence(self, xs, states):
        """(time, batch, features) inputs and the initial states -> (time, batch, units)
        outputs (may be a view of a cache) and the final states, keeping what
        `_backward_sequence` reads: the reference forward pass."""
        raise NotImplementedError

    def _infer_sequence(self, xs, states):
        """The same outputs and final states as `_forward_sequence`, keeping nothing for
        backward (inference: `predict`, ``training=False``); tests check that they agree."""
        raise NotImplementedError

    def _backward_sequence(self, grad_seq, grad_last):
        raise NotImplementedError

    def _work_per_row(self) -> int:
        """Multiply-adds of one sequence's step: (units) @ (units, blocks * units)."""
        return self.blocks * self.units * self.units

    # ----------------------------------------------------------------- config
    def get_config(self):
        config = {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation.to_json(),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.to_json(self.kernel_initializer),
            "recurrent_initializer": initializers.to_json(self.recurrent_initializer),
            "bias_initializer": initializers.to_json(self.bias_initializer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "seed": self.seed,
        }
        return config
