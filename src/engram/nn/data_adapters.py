"""Batch sources for `Model.fit` / ``evaluate`` / ``predict``, walked as Keras walks them.

A source yields batches ``(x, y, sample_weight)``: `ArrayBatches` slices (and shuffles) arrays,
`SequenceBatches` indexes a `Sequence` (``__len__``, ``__getitem__``, ``on_epoch_end``), and
`GeneratorBatches` draws from a Python generator. `EpochIterator` cuts a source into epochs
with Keras 3's ``steps_per_epoch`` rules:

    known length n, no steps:      every epoch is one full pass (a fresh order when shuffled)
    known length n, steps s:       epochs take s batches each, going on where the last stopped;
                                   a pass that ends inside an epoch ends that epoch early
                                   (with Keras's "ran out of data" warning) and the next epoch
                                   starts a fresh pass
    generator, no steps:           one epoch runs the generator dry
    generator, steps s:            epochs take s batches each from the same generator

A generator that runs dry warns as Keras does and ends training after that epoch. (Keras then
goes on, replaying the first batches it peeked at to build the model; engram does not peek.)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from engram.validation import check_positive, describe

RAN_OUT = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or "
    "generator can generate at least `steps_per_epoch * epochs` batches."
)


def unpack(batch: Any) -> tuple[Any, Any, Any]:
    """Keras's ``unpack_x_y_sample_weight``: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sw)``."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None
    if len(batch) in (1, 2, 3):
        return (*batch, *([None] * (3 - len(batch))))
    raise ValueError(
        "A batch must be x, (x,), (x, y) or (x, y, sample_weight). Received a tuple of "
        f"{len(batch)} items."
    )


def check_steps(steps: Any, name: str) -> int | None:
    """``steps_per_epoch`` / ``validation_steps`` / ``steps``: None or an int > 0."""
    return None if steps is None else int(check_positive(steps, name, integer=True))


def check_class_weight(class_weight: Any) -> dict[int, float] | None:
    """``class_weight``: a dict from class index to weight."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise TypeError(
            "class_weight must be a dict from class index to weight, e.g. {0: 1.0, 1: 5.0}. "
            f"Got {describe(class_weight)} instead."
        )
    out = {}
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"class_weight keys must be class indices (ints). Got {key!r}.")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise TypeError(f"class_weight[{key}] must be a number. Got {describe(value)}.")
        out[int(key)] = float(value)
    return out


def class_sample_weight(y: np.ndarray, class_weight: dict[int, float]) -> np.ndarray:
    """Keras's ``class_weight_to_sample_weights``: each sample weighs its class's weight (1
    for a class not listed); the class is the label, or the arg-max of a one-hot row.

    Math:
        c_i = argmax_k y_ik  (one-hot rows)   or   round(y_i)  (labels)
        w_i = class_weight.get(c_i, 1)
    """
    y = np.asarray(y)
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else np.squeeze(y, axis=-1)
    labels = np.round(y).astype(np.int64).reshape(len(y), -1)[:, 0]
    return np.array([class_weight.get(int(c), 1.0) for c in labels], dtype=np.float32)


def refuse_unsupported(x: Any, what: str = "x") -> None:
    """Name the input types Keras takes that engram does not (tf.data, torch DataLoader, ...)."""
    names = [f"{c.__module__}.{c.__name__}" for c in type(x).__mro__]
    for prefix, feature in (
        ("tensorflow.", "a tf.data.Dataset"),
        ("torch.utils.data", "a torch DataLoader or Dataset"),
        ("grain", "a grain dataset"),
        ("keras.", "a Keras PyDataset"),
    ):
        if prefix == "keras." and not any(n.endswith(".PyDataset") for n in names):
            continue  # other Keras objects (tensors) are checked as arrays
        if any(n.startswith(prefix) for n in names):
            raise TypeError(
                f"{what} is {feature} ({type(x).__name__}), which engram does not take. Pass "
                "NumPy arrays, an engram.nn.utils.Sequence, or a Python generator that yields "
                "(x, y) or (x, y, sample_weight) NumPy batches."
            )


class Sequence:
    """Keras's ``utils.Sequence`` (``PyDataset``): a batch source you index.

    Subclass it with ``__len__`` (the number of batches) and ``__getitem__(index)`` (batch
    ``index`` as ``x``, ``(x, y)`` or ``(x, y, sample_weight)``); ``on_epoch_begin`` and
    ``on_epoch_end`` run around every epoch. ``fit(shuffle=True)`` visits the batches in a
    fresh order each epoch, drawn from the model's seed.

    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted for Keras
    programs; engram reads the batches in the training thread, one at a time, so they change
    no result and no speed.

    Example:
        >>> class Batches(Sequence):
        ...     def __init__(self, x, y, batch_size, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.x, self.y, self.batch_size = x, y, batch_size
        ...     def __len__(self):
        ...         return math.ceil(len(self.x) / self.batch_size)
        ...     def __getitem__(self, i):
        ...         s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        ...         return self.x[s], self.y[s]
    """

    def __init__(
        self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ) -> None:
        self.workers = check_positive(workers, "workers", integer=True)
        self.use_multiprocessing = bool(use_multiprocessing)
        self.max_queue_size = check_positive(max_queue_size, "max_queue_size", integer=True)

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (its batch count).")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index).")

    def on_epoch_begin(self) -> None:
        """Called before every epoch."""

    def on_epoch_end(self) -> None:
        """Called after every epoch (e.g. to reshuffle)."""


class ArrayBatches:
    """Checked arrays cut into batches of ``batch_size`` (a fresh permutation from ``rng`` for
    every pass when ``shuffle``). ``ys``/``sws`` may be None; ``sws`` holds one (n,) array per
    output or None."""

    checked = True

    def __init__(self, xs, ys, sws, batch_size: int, shuffle: bool, rng: Any) -> None:
        self.xs, self.ys, self.sws = xs, ys, sws
        self.batch_size, self.shuffle, self.rng = batch_size, bool(shuffle), rng
        self.num_batches = math.ceil(len(xs[0]) / batch_size)

    def __iter__(self) -> Iterator[tuple[Any, Any, Any]]:
        return self.iterate()

    def iterate(self, order: np.ndarray | None = None, start: int = 0):
        """One pass from batch ``start``, in ``order`` (a saved permutation, to resume one);
        ``self.order`` is the pass's permutation (None unshuffled)."""
        xs, ys, sws, size = self.xs, self.ys, self.sws, self.batch_size
        n = len(xs[0])
        if self.shuffle and order is None:
            order = self.rng.permutation(n)
        self.order = order
        if order is None:
            if len(xs) == 1 and (ys is None or len(ys) == 1) and sws is None:  # no list building
                x0, y0 = xs[0], None if ys is None else ys[0]
                for s in range(start * size, n, size):
                    yield [x0[s : s + size]], None if y0 is None else [y0[s : s + size]], None
                return
            for s in range(start * size, n, size):
                yield (
                    [a[s : s + size] for a in xs],
                    None if ys is None else [a[s : s + size] for a in ys],
                    None if sws is None else [w[s : s + size] for w in sws],
                )
            return
        # shuffled batches are gathered into reused arrays, not a fresh allocation per step
        # (safe: the layers read their cached inputs only within the step); mode="clip": the
        # indices are a permutation, always in range; the default mode="raise" buffers the
        # output against a bad index (42 -> 31 us a batch)
        buffers = [np.empty((size, *a.shape[1:]), a.dtype) for a in xs]
        if len(xs) == 1 and ys is not None and len(ys) == 1 and sws is None:  # the common case
            x0, y0, buf = xs[0], ys[0], buffers[0]
            for s in range(start * size, n, size):
                idx = order[s : s + size]
                xb = np.take(x0, idx, axis=0, out=buf, mode="clip") if len(idx) == size else x0[idx]
                yield [xb], [y0[idx]], None
            return
        for s in range(start * size, n, size):
            idx = order[s : s + size]
            if len(idx) == size:
                xb = [
                    np.take(a, idx, axis=0, out=buf, mode="clip")
                    for a, buf in zip(xs, buffers, strict=True)
                ]
            else:
                xb = [a[idx] for a in xs]
            yield (
                xb,
                None if ys is None else [a[idx] for a in ys],
                None if sws is None else [w[idx] for w in sws],
            )

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


class SequenceBatches:
    """A `Sequence`'s batches, in index order or (``shuffle``) a fresh permutation of the
    indices each pass, as Keras shuffles a PyDataset."""

    checked = False

    def __init__(self, sequence: Any, shuffle: bool, rng: Any) -> None:
        self.sequence, self.shuffle, self.rng = sequence, bool(shuffle), rng
        n = len(sequence)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"A Sequence must have at least one batch; len() gave {n!r}.")
        self.num_batches = int(n)

    def __iter__(self) -> Iterator[Any]:
        return self.iterate()

    def iterate(self, order: np.ndarray | None = None, start: int = 0):
        """One pass from batch ``start`` (in ``order``, a saved permutation, to resume one)."""
        if self.shuffle and order is None:
            order = self.rng.permutation(self.num_batches)
        self.order = order
        for i in range(start, self.num_batches):
            yield self.sequence[int(i if order is None else order[i])]

    def on_epoch_begin(self) -> None:
        self.sequence.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.sequence.on_epoch_end()


class GeneratorBatches:
    """A Python generator's batches, drawn as they come (its length is unknown)."""

    checked = False
    num_batches = None

    def __init__(self, generator: Iterator[Any]) -> None:
        self.generator = generator

    def __iter__(self) -> Iterator[Any]:
        return self.generator

    def iterate(self, order: Any = None, start: int = 0) -> Iterator[Any]:
        if start:
            raise NotImplementedError(
                "A generator's position cannot be restored: BackupAndRestore resumes a "
                "generator only at an epoch boundary (save_freq='epoch'). Use a Sequence to "
                "resume mid-epoch."
            )
        return self.generator

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


class EpochIterator:
    """Walks a source epoch by epoch with Keras's ``steps_per_epoch`` rules (module docstring).

    ``for step, batch in iterator:`` runs one epoch; ``ran_out`` turns True once a generator
    has no more batches.
    """

    def __init__(self, source: Any, steps: int | None = None) -> None:
        self.source, self.steps = source, steps
        self._iterator: Iterator[Any] | None = None
        self._seen = 0
        self._next_step, self._resumed = 0, False
        self.ran_out = False

    @property
    def num_batches(self) -> int | None:
        return self.steps or self.source.num_batches

    def reset(self) -> None:
        """Start the next epoch from a fresh pass (evaluate does, at every call)."""
        self._iterator, self._seen = None, 0

    def state(self) -> dict[str, Any]:
        """Where the walk stands, to resume it exactly: batches seen of the current pass and
        the pass's order (None: unshuffled, or no pass under way)."""
        if self._iterator is None:
            return {"seen": 0, "order": None}
        return {"seen": self._seen, "order": getattr(self.source, "order", None)}

    def resume(self, seen: int, order: np.ndarray | None, step: int) -> None:
        """Make the next epoch go on from a saved `state`, its first step numbered ``step``."""
        self._next_step = step
        if seen or order is not None:
            self._iterator, self._seen = self.source.iterate(order, seen), seen
            self._resumed = True

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        n = self.source.num_batches
        limit = self.steps or n
        self.source.on_epoch_begin()
        resumed, self._resumed = self._resumed, False
        if self._iterator is None or (self.steps is None and not resumed):
            self._iterator, self._seen = iter(self.source), 0
        step, self._next_step = self._next_step, 0
        while limit is None or step < limit:
            if n is not None and self._seen >= n:
                warnings.warn(RAN_OUT, UserWarning, 4)
                break
            try:
                batch = next(self._iterator)
            except StopIteration:
                self.ran_out = True
                warnings.warn(RAN_OUT, UserWarning, 4)
                break
            self._seen += 1
            yield step, batch
            step += 1
        if n is not None and self._seen >= n:
            self._iterator, self._seen = None, 0
        self.source.on_epoch_end()
