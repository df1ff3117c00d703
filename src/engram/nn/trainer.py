"""Training and inference loops: ``fit``, ``evaluate``, ``predict`` and the ``*_on_batch``
methods, with every Keras callback hook in Keras's order and Keras's logs.

`Trainer` holds these methods; `engram.nn.model.Model` inherits them (as Keras's ``Model``
inherits its ``Trainer``). A train step is `Compiled._gradients` plus ``optimizer.step``; the
batch sources (arrays, `Sequence`, generators) come from `engram.nn.data_adapters`.
"""

from __future__ import annotations

import itertools
import math
import types
import warnings
from typing import Any

import numpy as np

from engram.nn.callbacks import Callback, CallbackList, History, ProgbarLogger, as_callbacks
from engram.nn.compile_utils import holding_threads
from engram.nn.data_adapters import (
    ArrayBatches,
    EpochIterator,
    GeneratorBatches,
    Sequence,
    SequenceBatches,
    check_class_weight,
    check_steps,
    class_sample_weight,
    refuse_unsupported,
    unpack,
)
from engram.validation import check_fraction, check_positive


def _check_verbose(verbose: Any) -> int:
    """Keras's verbose: "auto" (= 1), 0 silent, 1 progress bar, 2 one line per epoch."""
    if verbose == "auto" and isinstance(verbose, str):
        return 1
    if isinstance(verbose, str) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2. Got {verbose!r} instead.")
    return int(verbose)


def _check_validation_freq(freq: Any) -> None:
    """Keras's validation_freq: an int >= 1 (every that many epochs) or a list of epochs."""
    if isinstance(freq, list):
        for epoch in freq:
            check_positive(epoch, "validation_freq entries", integer=True)
    elif isinstance(freq, bool) or not isinstance(freq, int):
        raise ValueError(
            "validation_freq must be an int (validate every that many epochs) or a list of "
            f"epochs counted from 1. Got {freq!r} instead."
        )
    else:
        check_positive(freq, "validation_freq", integer=True)


def _should_eval(epoch: int, freq: int | list[int]) -> bool:
    """Keras's rule: epochs counted from 1; every ``freq``-th, or those listed."""
    return epoch + 1 in freq if isinstance(freq, list) else (epoch + 1) % freq == 0


def _returned(logs: dict[str, float], return_dict: bool) -> Any:
    """Keras's return convention: the dict, or its values in order (one value unwrapped)."""
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


class Trainer:
    """``fit``, ``evaluate``, ``predict`` and ``train/test/predict_on_batch`` (mixed into
    `Model`)."""

    @holding_threads
    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: Any = None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """One gradient step on one batch: the loss (and metrics) on that batch, before the
        step's update, as Keras returns them (a number without metrics, else a list in
        `metrics_names` order, or a dict with ``return_dict=True``)."""
        self._require_compiled("train_on_batch")
        xs, ys = self._check_xy(x, y)
        class_weight = check_class_weight(class_weight)
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("You cannot use class_weight and sample_weight at the same time.")
            sample_weight = class_sample_weight(ys[0], class_weight)
        sws = self._sample_weights(sample_weight, len(xs[0]))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, per, outs = self._train_step(xs, ys, sws, True)
        totals = {key: [0.0, 0] for key in self._log_keys()}
        logs = self._batch_logs(loss, per, outs, ys, totals, len(xs[0]), sws)
        return _returned(logs, return_dict)

    @holding_threads
    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> float | list[float] | dict[str, float]:
        """Loss and metrics on one batch (inference mode), returned as `train_on_batch` does."""
        self._require_compiled("test_on_batch")
        xs, ys = self._check_xy(x, y)
        sws = self._sample_weights(sample_weight, len(xs[0]))
        totals = {key: [0.0, 0] for key in self._log_keys()}
        return _returned(self._test_batch(xs, ys, sws, totals), return_dict)

    @holding_threads
    def predict_on_batch(self, x: Any) -> Any:
        """The outputs for one batch (inference mode); a list for several outputs."""
        xs = self._check_x(x)
        with self._step_threads():  # a subclassed model traced by the check: known now
            outs = [out.copy() for out in self.graph.forward(xs, False)]
        return self._structured(outs)

    @holding_threads
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: list[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int | list[int] = 1,
    ) -> History:
        """Train for ``epochs`` passes over the data; returns a `History` (Keras's keys).

        Args:
            x: inputs, (samples, ...); a list (or dict by name) for several inputs. Integer and
                float64 data are cast to float32. Or a `utils.Sequence`, or a Python generator
                yielding ``(x, y)`` or ``(x, y, sample_weight)`` batches (then ``y`` and
                ``sample_weight`` stay None).
            y: targets: integer labels (n,) or (n, 1) for sparse cross-entropy, one-hot for
                categorical, values in [0, 1] for binary cross-entropy, anything for mse/mae;
                a list (or dict by output name) for several outputs.
            batch_size: samples per gradient step (default 32, or ceil(n / steps_per_epoch)).
            epochs: number of passes.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch ("auto" = 1).
            callbacks: `Callback` objects (EarlyStopping, ModelCheckpoint, ...), or one.
            validation_split: fraction of the data, taken from the end before shuffling, held
                out for validation.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``, a
                `Sequence` or a generator; used instead of validation_split.
            shuffle: reshuffle the training samples (a Sequence's batches) before each epoch.
            class_weight: ``{class index: weight}``: each sample's loss is weighted by its
                class's weight (single-output models).
            sample_weight: one weight per sample (n,) (for several outputs: one array for all,
                or one per output): the loss is sum_i(w_i L_i) / n per batch, as in Keras;
                compiled metrics stay unweighted, as Keras's ``metrics=`` are.
            initial_epoch: epoch to start counting from (to resume training), an int >= 0.
            steps_per_epoch: batches per epoch (Keras's rules: see `engram.nn.data_adapters`).
            validation_steps: batches per validation (default: all).
            validation_batch_size: batch size for validation (default: ``batch_size``).
            validation_freq: validate every ``validation_freq`` epochs, or at the epochs
                (counted from 1) in a list.

        Callbacks get every Keras hook in Keras's order (`Callback`); ``model.stop_training =
        True`` from a callback ends the epoch after the current batch, then training.

        A loss that becomes NaN or infinite is named once, in a `DivergenceWarning`, and
        recorded in ``History.diverged_epoch``; training goes on, as in Keras, unless a
        `TerminateOnNaN` callback stops it (NumPy's own overflow warnings are silenced).

        Raises:
            ValueError: not compiled, bad shapes, labels or values (each message says the fix).
        """
        self._require_compiled("fit")
        check_positive(epochs, "epochs", integer=True, strict=False)
        check_positive(initial_epoch, "initial_epoch", integer=True, strict=False)
        check_fraction(validation_split, "validation_split")
        verbose = _check_verbose(verbose)
        _check_validation_freq(validation_freq)
        if isinstance(shuffle, str):
            raise ValueError(
                f"shuffle={shuffle!r} (Keras's shuffling in batch-sized chunks) is not supported; "
                "pass shuffle=True or False."
            )
        steps_per_epoch = check_steps(steps_per_epoch, "steps_per_epoch")
        validation_steps = check_steps(validation_steps, "validation_steps")
        if validation_data is None and validation_split:
            x, y, sample_weight, validation_data = self._split(
                x, y, sample_weight, validation_split
            )
        train = self._source(
            x, y, sample_weight, class_weight, batch_size, shuffle, steps_per_epoch
        )
        val = None
        if validation_data is not None:
            refuse_unsupported(validation_data, "validation_data")
            if not isinstance(validation_data, (tuple, list, Sequence, types.GeneratorType)):
                raise ValueError(
                    "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                    "sample_weight_val), a Sequence or a generator."
                )
            vx, vy, vsw = unpack(validation_data)
            if vy is None and not isinstance(vx, (Sequence, types.GeneratorType)):
                raise ValueError("validation_data must be a tuple (x_val, y_val).")
            vbatch = validation_batch_size or batch_size
            val = self._source(vx, vy, vsw, None, vbatch, False, validation_steps, "val_")
        keys = self._log_keys()
        if val is not None:
            keys += ["val_" + key for key in keys]
        params = {"epochs": epochs, "steps": train.num_batches, "metrics": keys}
        # params["metrics"]: the keys each epoch logs, so callbacks can check before training
        callback_list = self._callback_list(callbacks, verbose, params, history=True)
        self.stop_training = False
        training_logs: dict[str, float] = {}
        # where training stands, for BackupAndRestore: the batch source, and (epoch, next step,
        # the epoch's running sums) after every step
        self._fit_iterator, self._fit_position = train, (initial_epoch, 0, None)
        callback_list.on_train_begin()
        # BackupAndRestore's on_train_begin may leave where a killed run stood
        resume = self.__dict__.pop("_resume", None) or {"epoch": initial_epoch}
        if "history" in resume and self.history is not None:
            self.history.history = resume["history"]
            self.history.epoch = resume["history_epochs"]
        if "step" in resume:
            train.resume(resume["seen"], resume["order"], resume["step"])
            states = resume.get("metric_states") or {}
            for _, key, metric in self._resolved_metrics():  # where the epoch's metrics stood
                if key in states:
                    metric.set_state(states[key])
        # a diverging run is named once by History's DivergenceWarning, not by NumPy's
        # overflow warnings at every step
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in range(resume["epoch"], epochs):
                callback_list.on_epoch_begin(epoch)
                totals = resume.get("totals") if epoch == resume["epoch"] else None
                logs = self._train_epoch(train, callback_list, epoch, totals)
                if val is not None and _should_eval(epoch, validation_freq):
                    val.reset()
                    val_logs = self._test_loop(val, callback_list)
                    logs.update({"val_" + k: v for k, v in val_logs.items()})
                self._fit_position = (epoch + 1, 0, None)
                callback_list.on_epoch_end(epoch, logs)
                training_logs = logs
                if self.stop_training or train.ran_out:
                    break
        callback_list.on_train_end(training_logs)
        self._fit_iterator = None  # the model does not keep the training data alive
        return self.history

    def _split(self, x, y, sample_weight, validation_split):
        """Keras's validation_split: the first floor(n * (1 - split)) samples train, the rest
        validate."""
        if isinstance(x, (Sequence, types.GeneratorType)):
            raise ValueError(
                "validation_split is only supported for arrays, not for a Sequence or a "
                "generator. Pass validation_data instead."
            )
        xs, ys = self._check_xy(x, y)
        n = len(xs[0])
        split_at = math.floor(n * (1.0 - validation_split))
        if split_at == 0 or split_at == n:
            raise ValueError(
                f"validation_split={validation_split} leaves {split_at} training and "
                f"{n - split_at} validation samples out of {n}. Use a split that leaves both."
            )
        sws = self._sample_weights(sample_weight, n)

        def part(arrays, s, multi):  # one array back for one input or output
            if arrays is None:
                return None
            return [a[s] for a in arrays] if multi else arrays[0][s]

        head, tail = slice(None, split_at), slice(split_at, None)
        multi_in, multi_out = len(xs) > 1, len(ys) > 1
        val = (part(xs, tail, multi_in), part(ys, tail, multi_out), part(sws, tail, multi_out))
        return part(xs, head, multi_in), part(ys, head, multi_out), part(sws, head, multi_out), val

    def _train_epoch(self, iterator, callback_list, epoch, totals=None) -> dict[str, float]:
        """One epoch of train steps; ``totals``: the running sums of a resumed epoch."""
        need_output = bool(self._resolved_metrics())
        logs = {key: total / count for key, (total, count) in (totals or {}).items()}
        totals = totals or {key: [0.0, 0] for key in self._log_keys()}
        checked = iterator.source.checked
        # per-step calls only when some callback listens
        begin, end = (
            getattr(callback_list, hook) if callback_list.listens(hook) else None
            for hook in ("on_train_batch_begin", "on_train_batch_end")
        )
        for step, batch in iterator:
            if begin is not None:
                begin(step)
            xs, ys, sws = batch if checked else self._batch_arrays(batch, iterator, True, "x")
            loss, per, outs = self._train_step(xs, ys, sws, need_output)
            logs = self._batch_logs(loss, per, outs, ys, totals, len(xs[0]), sws)
            self._fit_position = (epoch, step + 1, totals)  # what a backup saves
            if end is not None:
                end(step, logs)
            if self.stop_training:
                break
        return dict(logs)

    def _test_batch(self, xs, ys, sws, totals) -> dict[str, float]:
        fused = self._fused_outputs()
        with self._step_threads():
            outs = self.graph.forward(xs, False)
        # fused outputs: the loss from the logits their layers cached (stable on huge ones)
        scored = self._scored_outputs(outs) if fused else outs
        loss, per, _ = self._losses_of(scored, ys, fused, sws, False)
        return self._batch_logs(loss, per, outs, ys, totals, len(xs[0]), sws)

    def _test_loop(self, iterator, callback_list, what: str = "val_x") -> dict[str, float]:
        """The on_test_* hooks around one pass; returns the logs (running means)."""
        totals = {key: [0.0, 0] for key in self._log_keys()}
        logs: dict[str, float] = {}
        self.stop_evaluating = False
        callback_list.on_test_begin()
        for step, batch in iterator:
            callback_list.on_test_batch_begin(step)
            xs, ys, sws = self._batch_arrays(batch, iterator, True, what)
            logs = self._test_batch(xs, ys, sws, totals)
            callback_list.on_test_batch_end(step, logs)
            if self.stop_evaluating:
                break
        if not logs:
            raise ValueError(
                f"{what} gave no batches to evaluate (a generator that ran dry?). Pass a "
                "generator that loops forever with steps, or a Sequence."
            )
        logs = dict(logs)
        callback_list.on_test_end(logs)
        return logs

    @holding_threads
    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: list[Callback] | None = None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """Loss and metrics on ``(x, y)`` (arrays, a `Sequence` or a generator): a scalar if
        no metrics, else ``[loss, *metrics]``; ``sample_weight`` weighs the loss as in `fit`.
        Callbacks get the on_test_* hooks."""
        self._require_compiled("evaluate")
        verbose = _check_verbose(verbose)
        steps = check_steps(steps, "steps")
        source = self._source(x, y, sample_weight, None, batch_size, False, steps)
        callback_list = self._callback_list(
            callbacks, 0, {"epochs": 1, "steps": source.num_batches}
        )
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            logs = self._test_loop(source, callback_list, "x")
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        return _returned(logs, return_dict)

    @holding_threads
    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = 0,
        steps: int | None = None,
        callbacks: list[Callback] | None = None,
    ) -> Any:
        """The model's outputs for ``x`` (arrays, a `Sequence` or a generator; targets in its
        batches are ignored), computed in batches (inference mode); a list of arrays for
        several outputs. Callbacks get the on_predict_* hooks; each on_predict_batch_end's
        logs hold ``{"outputs": that batch's outputs}``."""
        _check_verbose(verbose)
        steps = check_steps(steps, "steps")
        source = self._source(x, None, None, None, batch_size, False, steps, need_y=False)
        callback_list = self._callback_list(
            callbacks, 0, {"epochs": 1, "steps": source.num_batches}
        )
        forward = self.graph.forward
        checked = source.source.checked
        batches = []
        self.stop_predicting = False
        callback_list.on_predict_begin()
        begin = callback_list.on_predict_batch_begin if callback_list.callbacks else None
        for step, batch in source:
            if begin is not None:
                begin(step)
            xs = batch[0] if checked else self._batch_arrays(batch, source, False, "x")[0]
            with self._step_threads():
                outs = forward(xs, False)
            batches.append(outs)
            if callback_list.callbacks:
                callback_list.on_predict_batch_end(step, {"outputs": self._structured(outs)})
            if self.stop_predicting:
                break
        callback_list.on_predict_end()
        if not batches:
            raise ValueError("x gave no batches to predict (a generator that ran dry?).")
        if len(batches) == 1:  # a copy: the graph keeps its last outputs
            outs = [out.copy() for out in batches[0]]
        else:
            outs = [np.concatenate([b[k] for b in batches], axis=0) for k in range(len(batches[0]))]
        return self._structured(outs)

    def _source(
        self, x, y, sample_weight, class_weight, batch_size, shuffle, steps, prefix="", need_y=True
    ):
        """An `EpochIterator` over arrays, a `Sequence` or a Python generator (predict: no
        targets, ``need_y=False``)."""
        what = prefix + "x"
        class_weight = check_class_weight(class_weight)
        if class_weight is not None and len(self._output_keys) > 1:
            raise ValueError("class_weight is only supported for models with a single output.")
        if isinstance(x, (Sequence, types.GeneratorType)):
            kind = "Sequence" if isinstance(x, Sequence) else "generator"
            for name, value in (("y", y), ("sample_weight", sample_weight)):
                if value is not None:
                    raise ValueError(
                        f"When {what} is a {kind}, {name} must not be passed: the {kind} yields "
                        "it, in batches (x, y) or (x, y, sample_weight)."
                    )
            if batch_size is not None:
                warnings.warn(
                    f"batch_size={batch_size} is ignored: {what} is a {kind}, whose batches "
                    "have the sizes it makes.",
                    UserWarning,
                    3,
                )
            if kind == "generator":
                if class_weight is not None:
                    raise ValueError("class_weight is not supported for Python generator inputs.")
                if shuffle:
                    warnings.warn(
                        "shuffle=True was passed, but will be ignored since the data x was "
                        "provided as a generator. The generator is expected to yield "
                        "already-shuffled data.",
                        UserWarning,
                        3,
                    )
                if not self.built:  # build from the first batch, then yield it first
                    first = next(x, None)
                    if first is None:
                        raise ValueError(f"{what} is a generator that yields no batches.")
                    self._check_x(unpack(first)[0], what)
                    x = itertools.chain([first], x)
                source = GeneratorBatches(x)
            else:
                source = SequenceBatches(x, shuffle, self.rng)
                if not self.built:  # build from the first batch
                    self._check_x(unpack(x[0])[0], what)
        else:
            refuse_unsupported(x, what)
            xs = self._check_x(x, what)
            n = len(xs[0])
            ys = self._check_y(y, xs[0], prefix) if need_y else None
            if class_weight is not None and ys is not None:
                if sample_weight is not None:
                    raise ValueError(
                        "You cannot use class_weight and sample_weight at the same time."
                    )
                sample_weight = class_sample_weight(ys[0], class_weight)
            sws = None if ys is None else self._sample_weights(sample_weight, n, prefix)
            if batch_size is None:
                batch_size = math.ceil(n / steps) if steps else 32
            batch_size = check_positive(batch_size, prefix + "batch_size", integer=True)
            source = ArrayBatches(xs, ys, sws, batch_size, shuffle, self.rng)
        iterator = EpochIterator(source, steps)
        iterator.class_weight = class_weight
        return iterator

    def _batch_arrays(self, batch: Any, iterator: Any, need_y: bool, what: str):
        """A batch from a source as checked arrays (xs, ys, sample weights per output)."""
        if iterator.source.checked:
            return batch
        x, y, sw = unpack(batch)
        xs = self._check_x(x, what)
        if not need_y:
            return xs, None, None
        if y is None:
            raise ValueError(
                f"{what} yielded a batch without targets. Yield (x, y) or (x, y, sample_weight)."
            )
        ys = self._check_y(y, xs[0], what[:-1])
        class_weight = getattr(iterator, "class_weight", None)
        if class_weight is not None:
            if sw is not None:
                raise ValueError(
                    "You cannot use class_weight and sample_weight at the same time: "
                    f"{what} yielded (x, y, sample_weight) batches. Drop one of them."
                )
            sw = class_sample_weight(ys[0], class_weight)
        return xs, ys, self._sample_weights(sw, len(xs[0]), what[:-1])

    def _callback_list(self, callbacks, verbose, params, history=False) -> CallbackList:
        cbs = [*as_callbacks(callbacks)]
        if history:  # after the user's callbacks, as Keras: it sees what they add to the logs
            self.history = History()
            cbs.append(self.history)
        if verbose:
            cbs.append(ProgbarLogger(verbose))
        callback_list = CallbackList(cbs, self)
        callback_list.set_params({"verbose": verbose, **params})
        return callback_list
