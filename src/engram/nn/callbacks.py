"""Callbacks: hooks that run during `Sequential.fit`, with Keras's names and arguments.

Every argument is checked when the callback is made, and everything that depends on the
training run (a monitored key, the keys a checkpoint's file name uses) when training begins,
before the first step: a typo never costs an epoch of compute.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import string
import warnings
from typing import Any

import numpy as np

from engram.validation import check_positive, describe


class DivergenceWarning(RuntimeWarning):
    """Training diverged: the loss became NaN or infinite (`History.diverged_epoch`)."""


class Callback:
    """Base class; override any of the ``on_*`` hooks. ``self.model`` is the model in training."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    # Keras's hooks, in the order fit calls them: on_train_begin; per epoch on_epoch_begin,
    # (on_train_batch_begin, on_train_batch_end) per batch, the validation's on_test_* hooks,
    # on_epoch_end; on_train_end. evaluate calls the on_test_* hooks, predict the on_predict_*.
    # Batch logs hold the running means since the epoch (or evaluation) began; predict's batch
    # logs hold {"outputs": that batch's outputs}.
    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)  # Keras's alias: on_batch_* are the train hooks

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


def as_callbacks(callbacks: Any) -> list[Callback]:
    """``fit(callbacks=...)`` as a list: None, one `Callback` (Keras accepts one too) or a
    list or tuple of them."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if isinstance(callbacks, (list, tuple)):
        return list(callbacks)
    raise TypeError(
        f"callbacks must be a list of Callback instances such as [EarlyStopping()]. Got "
        f"{describe(callbacks)} instead."
    )


class CallbackList:
    """Calls every callback's hook in order: ``callback_list.on_epoch_end(epoch, logs)``.

    Every hook of `Callback` is forwarded with its arguments; ``logs`` defaults to ``{}`` as
    in Keras (on_train_begin, on_epoch_begin, the *_batch_begin hooks get an empty dict).
    """

    def __init__(self, callbacks: list[Callback], model: Any) -> None:
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks must be Callback instances such as EarlyStopping(). Got "
                    f"{type(cb).__name__} instead."
                )
            cb.set_model(model)
        self.callbacks = callbacks
        self._listeners: dict[str, list[Any]] = {}  # hook -> the bound methods that listen

    def set_params(self, params):
        for cb in self.callbacks:
            cb.set_params(params)

    def listens(self, hook: str) -> bool:
        """Whether any callback does something in ``hook``."""
        return any(_overrides(cb, hook) for cb in self.callbacks)


def _overrides(cb: Callback, hook: str) -> bool:
    """Whether ``cb`` does anything in ``hook`` (Callback's own hooks do nothing but pass
    on_train_batch_* to on_batch_*)."""
    names = [hook, hook.replace("train_batch", "batch")] if "train_batch" in hook else [hook]
    return any(
        name in vars(cb) or getattr(type(cb), name) is not getattr(Callback, name) for name in names
    )


def _forward(hook: str):
    """CallbackList's ``hook``: call it on every callback that overrides it, with ``logs`` ({}
    when None). (Skipping the rest keeps the per-batch hooks free when nobody listens.)"""

    def listeners(self) -> list[Any]:
        methods = self._listeners.get(hook)
        if methods is None:
            methods = [getattr(cb, hook) for cb in self.callbacks if _overrides(cb, hook)]
            self._listeners[hook] = methods
        return methods

    if "batch" in hook or "epoch" in hook:

        def call(self, index, logs=None):
            logs = {} if logs is None else logs
            for method in listeners(self):
                method(index, logs)

    else:

        def call(self, logs=None):
            logs = {} if logs is None else logs
            for method in listeners(self):
                method(logs)

    call.__name__ = hook
    return call


HOOKS = tuple(
    f"on_{stage}_{when}"
    for stage in ("train", "epoch", "train_batch", "test", "test_batch", "predict", "predict_batch")
    for when in ("begin", "end")
)
for _hook in HOOKS:
    setattr(CallbackList, _hook, _forward(_hook))


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]``, ``["val_accuracy"]``, ...

    It also names divergence, once: the first epoch whose ``loss`` or ``val_loss`` is NaN or
    infinite is stored in ``diverged_epoch`` (None while training is sound) and reported in one
    `DivergenceWarning` that says what to change. Training goes on, as Keras's does; add
    `TerminateOnNaN` to stop at the first bad batch. (Checked once per epoch on the logged
    means: a NaN batch makes the epoch's mean NaN, so no batch is missed and no step slows.)
    """

    def on_train_begin(self, logs=None):
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}
        self.diverged_epoch: int | None = None

    @property
    def diverged(self) -> bool:
        """Whether the loss became NaN or infinite during training."""
        return self.diverged_epoch is not None

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if self.diverged_epoch is None:
            bad = [k for k in ("loss", "val_loss") if not math.isfinite((logs or {}).get(k, 0.0))]
            if bad:
                self.diverged_epoch = epoch
                warnings.warn(_divergence_message(epoch, bad, logs), DivergenceWarning, 2)


def _divergence_message(epoch: int, keys: list[str], logs: dict[str, float]) -> str:
    values = ", ".join(f"{k} = {logs[k]}" for k in keys)
    return (
        f"Training diverged at epoch {epoch + 1}: {values}. The weights are no longer "
        "finite, and every later epoch and prediction is meaningless. Lower the "
        "learning_rate, clip the gradients (e.g. optimizer=Adam(clipnorm=1.0)) or scale the "
        "inputs; add callbacks=[TerminateOnNaN()] to stop at the first bad batch."
    )


_SHORT_NAMES = {
    "accuracy": "acc",
    "sparse_categorical_accuracy": "acc",
    "categorical_accuracy": "acc",
    "binary_accuracy": "acc",
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
}
# a narrow bar, then the description that `short_logs` fills: the numbers fit in 80 columns
BAR_FORMAT = "{n_fmt}/{total_fmt} {bar:8} {desc}"


def short_logs(logs: dict[str, float] | None) -> str:
    """Training logs in few columns, validation after a bar: ``loss 0.253 acc 0.923 | val loss
    0.338 acc 0.865`` (so that an 80-column progress line still shows the validation numbers).

    Example:
        >>> short_logs({"loss": 0.25, "accuracy": 0.9, "val_loss": 0.3, "val_accuracy": 0.85})
        'loss 0.250 acc 0.900 | val loss 0.300 acc 0.850'
    """
    train, val = [], []
    for key, value in (logs or {}).items():
        name = key.removeprefix("val_")
        text = f"{_SHORT_NAMES.get(name, name)} {value:.3f}"
        (val if key.startswith("val_") else train).append(text)
    return " ".join(train) + (" | val " + " ".join(val) if val else "")


class ProgbarLogger(Callback):
    """The progress bar shown by ``fit(verbose=1)`` (tqdm), or one line per epoch (verbose=2).

    The bar is narrow and the numbers short (`short_logs`: ``loss 0.253 acc
    0.923 | val loss 0.338 acc 0.865``), so an 80-column terminal still shows the validation
    numbers at the end of each epoch.
    """

    def __init__(self, verbose: int = 1) -> None:
        super().__init__()
        self.verbose = verbose
        self.bar = None

    def _title(self, epoch: int) -> str:
        return f"Epoch {epoch + 1}/{self.params.get('epochs')}"

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose == 1:
            from tqdm.auto import tqdm

            self.epoch = epoch
            self.bar = tqdm(
                total=self.params.get("steps"),
                desc=self._title(epoch),
                unit="batch",
                leave=True,
                dynamic_ncols=True,
                bar_format=BAR_FORMAT,
            )

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(1)
            if batch % 20 == 0:
                self.bar.set_description_str(f"{self._title(self.epoch)}  {short_logs(logs)}")

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            self.bar.set_description_str(f"{self._title(epoch)}  {short_logs(logs)}")
            self.bar.close()
            self.bar = None
        elif self.verbose == 2:
            text = " - ".join(f"{k}: {v:.4f}" for k, v in (logs or {}).items())
            print(f"{self._title(epoch)} - {text}")


def _check_monitor(callback: str, monitor: str, params: dict[str, Any]) -> None:
    """Fail before training, not after an epoch, when ``monitor`` will never be logged."""
    keys = params.get("metrics")
    if keys is not None and monitor not in keys:
        hint = " Pass validation data for val_* keys." if monitor.startswith("val_") else ""
        raise ValueError(
            f"{callback} is watching {monitor!r}, which is not among the logged values: "
            f"{', '.join(keys)}.{hint}"
        )


def _check_finite(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number. Got {describe(value)} instead.")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number. Got {value!r} instead.")


def _monitor_mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max'. Got {mode!r} instead.")
    if mode != "auto":
        return mode
    return "max" if any(k in monitor for k in ("acc", "auc", "precision", "recall")) else "min"


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has stopped improving for ``patience`` epochs.

    Args:
        monitor: the log key watched (default ``"val_loss"``).
        min_delta: smallest change counted as an improvement.
        patience: epochs without improvement before stopping.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracies).
        baseline: a value the monitor must beat.
        restore_best_weights: at the end, put back the weights of the best epoch.
        start_from_epoch: epochs to wait before starting to watch.

    Raises:
        ValueError: a negative ``patience`` or ``start_from_epoch`` (Keras accepts
            ``patience=-3`` and stops as with 0), or an unknown ``mode``.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        check_positive(patience, "patience", integer=True, strict=False)
        check_positive(start_from_epoch, "start_from_epoch", integer=True, strict=False)
        _check_finite(min_delta, "min_delta")  # its sign is ignored, as in Keras
        if baseline is not None:
            _check_finite(baseline, "baseline")
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.mode = _monitor_mode(monitor, mode)
        self.min_delta = abs(float(min_delta))
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = int(start_from_epoch)

    def _improved(self, value: float, reference: float) -> bool:
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def on_train_begin(self, logs=None):
        _check_monitor("EarlyStopping", self.monitor, self.params)
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(
                f"EarlyStopping is watching {self.monitor!r}, which is not among the logged "
                f"values: {', '.join(logs or {})}. Pass validation data for val_* keys."
            )
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improved(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        # a snapshot taken after training diverged (no epoch ever improved) holds NaN: there is
        # nothing better to restore, and set_weights refuses it
        if self.restore_best_weights and self.best_weights is not None:
            if all(np.isfinite(w).all() for w in self.best_weights):
                self.model.set_weights(self.best_weights)
        if self.stopped_epoch and self.verbose:
            print(
                f"Epoch {self.stopped_epoch + 1}: early stopping (best epoch "
                f"{self.best_epoch + 1})."
            )


class ModelCheckpoint(Callback):
    """Saves the model (or its weights) after epochs, atomically.

    Args:
        filepath: where to save; may contain ``{epoch}`` and log keys, e.g.
            ``"ckpt-{epoch:02d}-{val_loss:.3f}.engram"``.
        monitor: the log key compared when ``save_best_only``.
        save_best_only: only save when ``monitor`` improves.
        save_weights_only: save only the weights.
        mode: ``"min"``, ``"max"`` or ``"auto"``.

    A file name that uses a key the run will not log (``"m-{val_loss}.engram"`` without
    validation data) is refused when training begins, before the first step (Keras fails with
    a KeyError after the first epoch). An epoch whose loss or weights are NaN or infinite is
    never saved: the last good checkpoint stays, and a `DivergenceWarning` says so.
    """

    def __init__(
        self,
        filepath: str,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
    ) -> None:
        super().__init__()
        self.filepath, self.monitor, self.verbose = str(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = _monitor_mode(monitor, mode)
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_train_begin(self, logs=None):
        self._warned = False
        _check_filepath(self.filepath, self.params)
        if self.save_best_only:
            _check_monitor("ModelCheckpoint", self.monitor, self.params)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise ValueError(
                    f"ModelCheckpoint is watching {self.monitor!r}, which is not among the "
                    f"logged values: {', '.join(logs)}."
                )
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
            self.best = value
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if not self._sound(epoch, logs, path):
            return
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved model to {path}")

    def _sound(self, epoch: int, logs: dict[str, float], path: str) -> bool:
        """Whether this epoch's model may be saved: finite loss and finite weights."""
        from engram.nn.io import nonfinite_tensors

        bad = [k for k in ("loss", "val_loss") if not math.isfinite(logs.get(k, 0.0))]
        bad += nonfinite_tensors(self.model)
        if bad and not getattr(self, "_warned", False):  # once per run, as History names it
            self._warned = True
            warnings.warn(
                f"ModelCheckpoint did not save epoch {epoch + 1} to {path}: training diverged "
                f"(not finite: {', '.join(bad[:4])}). The last good checkpoint is kept; no "
                "later epoch whose loss or weights are not finite is saved either.",
                DivergenceWarning,
                3,
            )
        return not bad


def _check_filepath(filepath: str, params: dict[str, Any]) -> None:
    """A checkpoint's file name may use ``{epoch}`` and the logged keys only; check it now."""
    keys = params.get("metrics")
    if keys is None:
        return
    try:
        fields = [
            field for _, field, _, _ in string.Formatter().parse(filepath) if field is not None
        ]
    except ValueError as exc:
        message = f"ModelCheckpoint filepath {filepath!r} is not a valid pattern: {exc}."
        raise ValueError(message) from None
    for field in fields:
        name = re.split(r"[.\[]", field, maxsplit=1)[0]
        if name != "epoch" and name not in keys:
            hint = " Pass validation data for val_* keys." if name.startswith("val_") else ""
            raise ValueError(
                f"ModelCheckpoint filepath {filepath!r} uses {{{field}}}, which is not among "
                f"the values this run logs: epoch, {', '.join(keys)}.{hint}"
            )
    try:
        filepath.format(epoch=1, **dict.fromkeys(keys, 0.0))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(
            f"ModelCheckpoint filepath {filepath!r} cannot be formatted with the epoch and the "
            f"logged values: {exc}. Use e.g. 'ckpt-{{epoch:02d}}-{{loss:.3f}}.engram'."
        ) from None


class TerminateOnNaN(Callback):
    """Stops training as soon as the loss becomes NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: invalid loss, terminating training")
            self.model.stop_training = True


class BackupAndRestore(Callback):
    """Backs training up to ``backup_dir`` so that a killed ``fit`` resumes where it stood.

    Run the same program again with the same callback: ``fit`` restores the weights, the
    optimizer's state, the random generators (shuffling, dropout), the position in the epoch
    and the History, and goes on from the step after the last backup, ending with the same
    weights, bit for bit, as a run never interrupted (Keras restores the weights of a
    mid-epoch backup but restarts that epoch; engram resumes the step). The backup is one
    data-only file, ``backup_dir/backup.engram`` (`engram.nn.backup`), written atomically.

    Args:
        backup_dir: the folder for the backup (created if needed).
        save_freq: ``"epoch"`` (after every epoch) or an int: after every that many batches.
        double_checkpoint: also keep the previous backup (``backup.engram.bkp``), used when
            the latest cannot be read.
        delete_checkpoint: remove the backup when training ends (the folder too, if that
            leaves it empty; Keras removes the whole folder).

    Callbacks' own state (EarlyStopping's patience count, ...) is not backed up, as in
    Keras. A Python generator resumes only at epoch boundaries: its position is its own.

    Raises:
        ValueError: an empty ``backup_dir`` or a ``save_freq`` that is not "epoch" or an int.
    """

    def __init__(
        self,
        backup_dir: Any,
        save_freq: Any = "epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
    ) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore needs a backup_dir (a folder path).")
        if save_freq != "epoch":
            check_positive(save_freq, "save_freq (when not 'epoch')", integer=True)
        self.backup_dir = str(backup_dir)
        self.save_freq, self.double_checkpoint = save_freq, bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._path = os.path.join(self.backup_dir, "backup.engram")
        self._since_save = 0

    def on_train_begin(self, logs=None):
        from engram.nn.backup import load_backup
        from engram.nn.io import ModelFileError

        self.model._refuse_unsaveable("BackupAndRestore")
        if any(hasattr(layer, "graph_layers") for layer in self.model.layers):
            raise NotImplementedError(
                "BackupAndRestore of a model that contains another model is not supported yet "
                "(its backup matches layers by their top-level names). Save the model with "
                "ModelCheckpoint or model.save('model.engram') instead."
            )
        source = getattr(getattr(self.model, "_fit_iterator", None), "source", None)
        if self.save_freq != "epoch" and getattr(source, "num_batches", 0) is None:
            raise NotImplementedError(
                "BackupAndRestore(save_freq=<int>) cannot resume a Python generator mid-epoch: "
                "its position is its own. Use save_freq='epoch', or a utils.Sequence."
            )
        self._since_save = 0
        paths = [self._path, self._path + ".bkp"] if self.double_checkpoint else [self._path]
        present = [path for path in paths if os.path.exists(path)]
        for i, path in enumerate(present):  # the latest; the previous if it cannot be read
            try:
                self.model._resume = load_backup(self.model, path)
                return
            except ModelFileError:
                if i == len(present) - 1:
                    raise

    def _save(self, epoch_logs=None) -> None:
        from engram.nn.backup import save_backup

        if self.double_checkpoint and os.path.exists(self._path):
            os.replace(self._path, self._path + ".bkp")
        save_backup(self.model, self._path, epoch_logs)

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._since_save += 1
        if self._since_save >= self.save_freq:
            self._since_save = 0
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save((epoch, logs))

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint:
            return
        for path in (self._path, self._path + ".bkp"):
            if os.path.exists(path):
                os.remove(path)
        with contextlib.suppress(OSError):
            os.rmdir(self.backup_dir)  # only when empty


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``;
    any other hook by keyword, as in Keras (``on_batch_end=``, ``on_test_begin=``, ...).

    Raises:
        ValueError: a keyword that names no hook.
    """

    def __init__(
        self,
        on_epoch_end=None,
        on_train_batch_end=None,
        on_train_begin=None,
        on_train_end=None,
        **hooks,
    ) -> None:
        super().__init__()
        known = (*HOOKS, "on_batch_begin", "on_batch_end")
        for name, fn in hooks.items():
            if name not in known:
                raise ValueError(
                    f"LambdaCallback got {name!r}, which is not a callback hook. Hooks: "
                    f"{', '.join(known)}."
                )
            if fn:
                setattr(self, name, fn)
        if on_epoch_end:
            self.on_epoch_end = on_epoch_end
        if on_train_batch_end:
            self.on_train_batch_end = on_train_batch_end
        if on_train_begin:
            self.on_train_begin = on_train_begin
        if on_train_end:
            self.on_train_end = on_train_end


# ------------------------------------------------------------- learning rate and CSV log
def _check_settable_rate(callback: str, model: Any) -> None:
    """A callback that sets the learning rate needs an optimizer built with a number."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "schedule", None) is not None:
        raise TypeError(
            f"{callback} sets the learning rate, but this {type(optimizer).__name__} was "
            f"created with a LearningRateSchedule ({optimizer.schedule!r}), whose rate cannot "
            "be set (Keras fails the same way, at the first change). Use one or the other: "
            "a float learning_rate with the callback, or the schedule alone."
        )


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` when ``monitor`` stops improving.

    Keras's rule, epoch by epoch: the epoch's logs get ``learning_rate`` (the rate the epoch
    trained with); in cooldown, the cooldown counter falls and the wait is reset; an
    improvement (``value < best - min_delta`` in min mode, ``> best + min_delta`` in max mode)
    becomes the new best and resets the wait; otherwise, outside cooldown, the wait grows, and
    at ``patience`` the rate becomes ``max(rate * factor, min_lr)`` (if the rate is above
    ``min_lr``), the cooldown starts and the wait is reset.

    Args:
        monitor: the log key watched (default ``"val_loss"``).
        factor: the multiplier, in (0, 1).
        patience: epochs without improvement before the rate is reduced, >= 0.
        verbose: 1 prints a line at each reduction.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracies, min otherwise).
        min_delta: smallest change counted as an improvement.
        cooldown: epochs to wait after a reduction before counting again, >= 0.
        min_lr: the rate is never reduced below this, >= 0.

    Raises:
        ValueError / TypeError: a bad argument, when the callback is made (Keras accepts
            ``factor=0``, negative patience and unknown keyword arguments); an optimizer with
            a learning-rate schedule, or a monitored key the run never logs, when training
            begins.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        _check_finite(factor, "factor")
        if not 0 < factor < 1:
            raise ValueError(
                f"ReduceLROnPlateau's factor must be in (0, 1) (the rate is multiplied by it). "
                f"Received factor={factor!r}."
            )
        check_positive(patience, "patience", integer=True, strict=False)
        check_positive(cooldown, "cooldown", integer=True, strict=False)
        _check_finite(min_delta, "min_delta")  # its sign is ignored, as in Keras
        _check_finite(min_lr, "min_lr")
        check_positive(min_lr, "min_lr", strict=False)
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.verbose, self.mode = verbose, _monitor_mode(monitor, mode)
        self.min_delta, self.cooldown = abs(float(min_delta)), int(cooldown)
        self.min_lr = float(min_lr)
        self.best: float | None = None
        self.wait = self.cooldown_counter = 0

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        _check_monitor("ReduceLROnPlateau", self.monitor, self.params)
        _check_settable_rate("ReduceLROnPlateau", self.model)
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        optimizer = self.model.optimizer
        logs["learning_rate"] = optimizer.learning_rate
        value = logs.get(self.monitor)
        if value is None:  # an epoch without validation (validation_freq): Keras warns too
            warnings.warn(
                f"ReduceLROnPlateau is watching {self.monitor!r}, which epoch {epoch + 1} did "
                f"not log (logged: {', '.join(logs)}); the rate is left as it is.",
                RuntimeWarning,
                2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(optimizer, epoch):
                self.cooldown_counter, self.wait = self.cooldown, 0

    def _reduce(self, optimizer: Any, epoch: int) -> bool:
        old = optimizer.learning_rate
        if np.float32(old) <= np.float32(self.min_lr):  # Keras's rate and min_lr are float32
            return False
        optimizer.learning_rate = max(old * self.factor, self.min_lr)
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                f"{optimizer.learning_rate}."
            )
        return True


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch from ``schedule(epoch, lr)``.

    ``schedule`` takes the epoch index (from 0) and the current rate and returns the new rate,
    or (Keras's older form) takes the epoch alone; which form is read from its signature, so a
    TypeError raised inside your function is not taken for the other form. The epoch's logs
    get ``learning_rate``, as in Keras.

    Args:
        schedule: a function ``(epoch, lr) -> lr`` or ``(epoch) -> lr``.
        verbose: 1 prints the rate set at each epoch.

    Raises:
        TypeError: ``schedule`` is not callable (when made); the optimizer has a
            learning-rate schedule (when training begins).
        ValueError: ``schedule`` returned something other than a positive finite number.
    """

    def __init__(self, schedule: Any, verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"schedule must be a function (epoch, lr) -> lr. Got {describe(schedule)} instead."
            )
        self.schedule, self.verbose = schedule, verbose
        self._takes_rate = _takes_two_arguments(schedule)

    def on_train_begin(self, logs=None):
        _check_settable_rate("LearningRateScheduler", self.model)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if self._takes_rate:
            rate = self.schedule(epoch, optimizer.learning_rate)
        else:
            rate = self.schedule(epoch)
        if (
            isinstance(rate, bool)
            or not isinstance(rate, (int, float, np.number))
            or not math.isfinite(rate)
            or rate <= 0
        ):
            raise ValueError(
                f"LearningRateScheduler's schedule returned {describe(rate)} for epoch {epoch};"
                " it must return the learning rate, a positive float."
            )
        optimizer.learning_rate = float(rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


def _takes_two_arguments(function: Any) -> bool:
    """Whether ``function`` can be called with (epoch, lr)."""
    import inspect

    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: the current form
        return True
    try:
        signature.bind(0, 0.1)
    except TypeError:
        return False
    return True


class CSVLogger(Callback):
    """Writes each epoch's logs to a CSV file, in the same bytes Keras writes.

    The header is ``epoch`` and the logged keys, sorted, as the first epoch logs them (when
    that epoch has no ``val_*`` keys, ``val_<key>`` columns are added and hold ``NA``, as
    Keras does); rows end with ``\\r\\n`` (the csv module's excel dialect). With
    ``append=True`` the rows follow the file's earlier content, and the header is written only
    if the file was empty or absent.

    Unlike Keras, which keeps the file open and appends a row per epoch, each epoch writes the
    whole file again atomically (temporary file, then rename): if the run dies, the file holds
    the header and every finished epoch, never a half-written row. The file is emptied when
    training begins (``append=False``), as Keras's opening it for writing does.

    Args:
        filename: the CSV file's path.
        separator: the character between fields (default ``","``).
        append: keep the file's earlier content and add to it.
    """

    def __init__(self, filename: Any, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        import os

        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"filename must be a path. Got {describe(filename)} instead.")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(
                f"separator must be one character, e.g. ',' or ';'. Got {separator!r} instead."
            )
        if not isinstance(append, (bool, np.bool_)):
            raise TypeError(f"append must be True or False. Got {describe(append)} instead.")
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self.keys: list[str] | None = None

    def on_train_begin(self, logs=None):
        from pathlib import Path

        from engram.fileio import atomic_write_bytes

        path = Path(self.filename)
        self._earlier = path.read_bytes() if self.append and path.exists() else b""
        first_line = self._earlier.split(b"\n", 1)[0]
        self._header = not first_line  # Keras: a header unless the file's first line has text
        self._rows: list[dict[str, Any]] = []
        self.keys = None
        atomic_write_bytes(self.filename, self._earlier)

    def on_epoch_end(self, epoch, logs=None):
        from engram.fileio import atomic_write_bytes

        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self._rows.append(row)
        atomic_write_bytes(self.filename, self._earlier + self._csv_text().encode("utf-8"))

    def _csv_text(self) -> str:
        import csv
        import io

        class Dialect(csv.excel):
            delimiter = self.sep

        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=["epoch", *self.keys], dialect=Dialect)
        if self._header:
            writer.writeheader()
        writer.writerows(self._rows)
        return text.getvalue()


def _csv_value(value: Any) -> Any:
    """A log value as Keras's CSVLogger writes it: text and numbers as they are, a sequence
    as ``"[a, b]"``."""
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return f'"[{", ".join(map(str, value))}]"'
    return value
