"""Compiling a model and its one gradient step: losses, loss weights, metrics, penalties.

The training step, written out (one `Graph` executor; `Sequential` is the graph of one chain):

    forward:   y_k = graph.forward(x)                         every output k
    loss:      L = sum_k w_k L_k(y_k, t_k)                     loss_weights w_k
               g_k = w_k dL_k/dy_k
               (softmax or sigmoid + cross-entropy: L_k, g_k = loss.forward_logits(z_k, t_k), the
                fused, stable gradient with respect to the logits z_k)
               L += sum_w R_w(w) + sum_a R_a(y_a) / batch      the regularizers' penalties,
                                                               as Keras adds them (`_penalty`)
    backward:  graph.backward(g)                               fills every layer's grads; nodes
                                                               behind nothing that learns are
                                                               skipped; + dR/dw and dR_a/dy_a
    update:    optimizer.step(layers)                          params -= f(grads), then each
                                                               weight's constraint w <- c(w)

`compute_gradients` is the first three lines, the one public gradient step (fit's train step,
`gradcheck` and teaching code call it); `fit` adds the update. Inputs are checked once, at the
boundary (``fit``/``evaluate``/``predict``/``compute_gradients``), and cast to float32.

`Compiled` holds these methods; `engram.nn.model.Model` inherits them (as Keras's ``Model``
inherits its ``Trainer``). They read the model's ``graph`` and layers and never import
`engram.nn.model`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from engram.nn import losses as losses_module
from engram.nn import metrics as metrics_module
from engram.nn import optimizers as optimizers_module
from engram.runtime import worker_threads


def holding_threads(method: Any) -> Any:
    """Run the model method ``method`` whole, from its input checks to its return, inside the
    model's thread policy (`Compiled._step_threads`: OpenBLAS held on one thread for a model
    whose layers run parallel blocks, e.g. Conv2D).

    One scope per call, not only per step: the input check's finiteness sum (a
    matrix-vector product, `engram.validation`) then also runs on one BLAS thread. On two
    threads it woke OpenBLAS's worker, which busy-waits about 0.1 s after each multi-threaded
    product, beside the first steps' own workers, on the core they need. The steps keep their
    own (nested) scopes: a subclassed model is traced by its first call's input check, so its
    layers, and the policy, are known only from then on.
    """

    @functools.wraps(method)
    def held(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._step_threads():
            return method(self, *args, **kwargs)

    return held


def _per_output(value: Any, names: list[str], what: str) -> list[Any]:
    """Keras's per-output arguments: one value for all, a list in output order, or a dict."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(
                f"{what} names outputs {unknown} that the model does not have. Its outputs: "
                f"{names}."
            )
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)) and len(names) == 1 and len(value) == 1:
        return list(value)  # Keras takes loss=["mse"] for one output too
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(
                f"{what} has {len(value)} entries, but the model has {len(names)} outputs "
                f"({names}). Pass one per output, or a dict keyed by output name."
            )
        return list(value)
    return [value] * len(names)


class Compiled:
    """``compile``, the loss of a batch and `compute_gradients`: the part of a model that
    turns outputs and targets into a loss and gradients (mixed into `Model`)."""

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
    ) -> None:
        """Choose the optimizer, the loss(es) and the metrics (names, functions or objects).

        With several outputs, ``loss``, ``loss_weights`` and ``metrics`` are one value for all
        outputs, a list in output order, or a dict keyed by output name (Keras's forms).
        ``metrics`` ignore sample and class weights; ``weighted_metrics`` (the same forms) are
        weighted by them, as Keras weights them, and logged under their own names, or
        ``weighted_<name>`` where that name is taken by a metric of ``metrics`` (Keras's rule).

        Raises:
            ValueError: an unknown name (with close matches), a missing loss, or per-output
                arguments that do not match the outputs.
        """
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='sparse_categorical_crossentropy'.")
        names = self._output_keys if self.built else ["output"]
        losses = _per_output(loss, names, "loss")
        if any(entry is None for entry in losses):
            missing = [n for n, entry in zip(names, losses, strict=True) if entry is None]
            raise ValueError(f"compile() needs a loss for every output; none for {missing}.")
        self._losses = [losses_module.get(entry) for entry in losses]
        # the names as given: files write loss="mse" as "mse", as Keras writes them
        self._loss_names_given = [entry if isinstance(entry, str) else None for entry in losses]
        weights = _per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights")
        for w in weights:
            if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float))):
                raise ValueError(
                    f"loss_weights must be numbers (one per output). Received: {w!r}. Keras's "
                    "compile order is (optimizer, loss, loss_weights, metrics): pass metrics "
                    "by name, metrics=[...]."
                )
        self._loss_weights = [1.0 if w is None else float(w) for w in weights]
        optimizer = optimizers_module.get(optimizer)
        optimizer.bind(self)  # one model per optimizer instance (Keras refuses a second too)
        self.optimizer = optimizer
        self.loss = self._losses[0] if len(self._losses) == 1 else self._losses
        if isinstance(metrics, str):
            metrics = [metrics]
        self._metric_specs = _metric_specs(metrics, names, "metrics")
        self._weighted_specs = _metric_specs(weighted_metrics, names, "weighted_metrics")
        self.metric_names = list(metrics or []) if len(names) == 1 else metrics
        self._metrics = None
        self._fused_cache = None
        # resolved again once traced
        self._compile_args = (loss, loss_weights, metrics, weighted_metrics)

    def _require_compiled(self, method: str) -> None:
        if not self._losses or self.optimizer is None:
            raise ValueError(
                f"The model must be compiled before {method}(). Call "
                "model.compile(optimizer='adam', loss=...) first."
            )

    def _resolved_metrics(self) -> list[tuple[int, str, metrics_module.Metric]]:
        """(output index, history key, metric object) for every metric: those of ``metrics``,
        then those of ``weighted_metrics`` (their keys in ``_weighted_keys``)."""
        if self._metrics is None:
            prefix = len(self._losses) > 1
            self._metrics, self._weighted_keys = [], set()
            seen: dict[str, int] = {}  # a repeated key gets _1, _2, ... as Keras names it
            weighted = self.__dict__.get("_weighted_specs") or [[]] * len(self._metric_specs)
            for specs, is_weighted in ((self._metric_specs, False), (weighted, True)):
                for k, spec in enumerate(specs):
                    shape = self.graph.outputs[k].shape
                    head = f"{self._output_keys[k]}_" if prefix else ""
                    for m in spec:
                        name, fn = metrics_module.resolve(m, self._losses[k].name, shape)
                        key = head + name
                        if is_weighted and key in seen:  # Keras: weighted_<name>, then _1, ...
                            key = f"{head}weighted_{name}"
                        seen[key] = seen.get(key, 0) + 1
                        key = key if seen[key] == 1 else f"{key}_{seen[key] - 1}"
                        self._metrics.append((k, key, fn))
                        if is_weighted:
                            self._weighted_keys.add(key)
        return self._metrics

    def _fused_outputs(self) -> tuple[int, ...]:
        """The outputs whose last activation and loss combine into the stable logits path."""
        if self._fused_cache is None:
            consumed = {id(t) for n in self.graph.nodes for t in n.inputs}
            fused = []
            for k, (t, loss) in enumerate(zip(self.graph.outputs, self._losses, strict=True)):
                layer = t.node.layer
                activation = getattr(layer, "activation", None)
                if (
                    loss.fuses_with is not None
                    and not loss.from_logits
                    and activation is not None
                    and activation.name == loss.fuses_with
                    and getattr(activation, "axis", -1) == -1
                    and hasattr(layer, "backward_from_logits")
                    and layer.activity_regularizer is None  # its penalty reads the activation
                    and id(t) not in consumed
                    and [id(o) for o in self.graph.outputs].count(id(t)) == 1
                    and sum(n.layer is layer for n in self.graph.nodes) == 1
                    and getattr(layer, "activity_regularizer", None) is None
                ):
                    fused.append(k)
            self._fused_cache = tuple(fused)
        return self._fused_cache

    def _fused(self) -> bool:
        """Whether any output takes the fused softmax/sigmoid + cross-entropy path."""
        return bool(self._fused_outputs())

    def _losses_of(self, outs, ys, fused, sample_weight, grads: bool):
        """Total and per-output losses, and the weighted output gradients."""
        masks = self.graph.output_masks if self.graph.masked_outputs else None
        total, per, out_grads = 0.0, [], []
        for k, (loss, weight) in enumerate(zip(self._losses, self._loss_weights, strict=True)):
            fn = loss.forward_logits if k in fused else loss.forward
            w = sample_weight[k] if isinstance(sample_weight, list) else sample_weight
            if masks is not None and masks[k] is not None:
                value, grad = _masked(fn, outs[k], ys[k], masks[k], w)
            elif w is not None and hasattr(loss, "forward_weighted"):
                # a loss that defines its own weighting (per time step or entry: a mask)
                value, grad = loss.forward_weighted(outs[k], ys[k], w)
            else:
                value, grad = fn(outs[k], ys[k])
                if w is not None:
                    value, grad = _weighted(fn, outs[k], ys[k], grad, w)
            per.append(value)
            total += weight * value
            if grads:
                out_grads.append(grad if weight == 1.0 else grad * np.asarray(weight, grad.dtype))
        return total + self._penalty(), per, out_grads

    def _penalty(self) -> float:
        """The regularizers' term of the loss, as Keras adds it: every trainable weight's
        penalty R_w(w), plus R_a(y) / batch for each layer output y with an activity
        regularizer in the last forward pass (`engram.nn.regularizers`)."""
        return self.graph.activity_penalty() + sum(
            layer.regularization_penalty() for layer in self._leaves()
        )

    def _gradients(self, xs, ys, sample_weight=None, training=True, need_output=False):
        """Forward, loss and backward on checked arrays; fills every layer's ``grads``.

        Returns (total loss, per-output losses, outputs or None).
        """
        fused = self._fused_cache
        if fused is None:
            fused = self._fused_outputs()
        outs = self.graph.forward(xs, training, fused)
        total, per, out_grads = self._losses_of(outs, ys, fused, sample_weight, True)
        self.graph.backward(out_grads, fused)
        for layer in self._leaves():  # the weight penalties' gradients (activity: in backward)
            layer.add_regularization_grads()
        if need_output:
            for k in fused:  # the loss took logits: apply the activation for the metrics
                outs[k] = self.graph.outputs[k].node.layer.activation.forward(outs[k])
        return total, per, outs if need_output else None

    @holding_threads
    def compute_gradients(
        self, x: Any, y: Any, sample_weight: Any = None, *, training: bool = True
    ) -> float:
        """One forward pass, the loss and one backward pass, without updating any weight.

        Every layer's ``grads`` then holds dL/d(its params) for this batch (a layer called
        several times holds the sum over its calls). `fit`'s train step is this plus
        ``optimizer.step``.

        Args:
            x: inputs (one array, or one per model input).
            y: targets (one array, or one per output).
            sample_weight: one weight per sample (n,): each sample's loss is multiplied by it,
                then averaged over the batch as Keras does (sum(w_i L_i) / n); with several
                outputs, one array for all or one per output (a list, or a dict by name). A
                loss that defines ``forward_weighted(y_pred, y_true, weights)`` (a masked loss)
                also takes weights per time step or per entry, shaped like the targets'
                leading axes.
            training: run dropout and batch statistics as in training (True, as fit does).

        Returns:
            The loss (weighted over the outputs by ``loss_weights``), plus the regularizers'
            penalties (`losses`), as Keras adds them.
        """
        self._require_compiled("compute_gradients")
        xs, ys = self._check_xy(x, y)
        weights = self._sample_weights(sample_weight, len(xs[0]), ys=ys)
        with self._step_threads():  # a subclassed model traced by the check: known now
            return self._gradients(xs, ys, weights, training)[0]

    def _train_step(self, xs, ys, sample_weight, need_output: bool):
        """fit's train step: `compute_gradients` on checked arrays, then the update."""
        with self._step_threads():
            loss, per, outs = self._gradients(xs, ys, sample_weight, True, need_output)
            self.optimizer.step(self._leaves())
        return loss, per, outs

    def _step_threads(self):
        """The thread policy of a call (`engram.runtime`): a model with a layer that runs its
        work in parallel blocks (``parallel_blocks``, e.g. Conv2D) holds OpenBLAS on one thread
        (`runtime.worker_threads`) for the whole of each fit, evaluate, predict, *_on_batch
        and compute_gradients call, its input checks and callbacks included; other models
        leave it as it is."""
        blocks = any(getattr(layer, "parallel_blocks", False) for layer in self._leaves())
        return worker_threads(blocks)

    def _batch_logs(self, loss, per, outs, ys, totals, n, sample_weight=None) -> dict[str, float]:
        entry = totals["loss"]
        entry[0] += loss * n
        entry[1] += n
        if len(per) > 1:
            for name, value in zip(self._output_keys, per, strict=True):
                entry = totals[f"{name}_loss"]
                entry[0] += value * n
                entry[1] += n
        masks = self.graph.output_masks if self.graph.masked_outputs else None
        weighted = self._weighted_keys
        for k, key, metric in self._metrics:  # resolved when the totals were made (_log_keys)
            # a metric object keeps its own state: a fresh entry (count 0) starts it again
            # (each epoch, each evaluate, as Keras resets them); the entry holds its result
            entry = totals[key]
            if not entry[1]:
                metric.reset_state()
            w = sample_weight[k] if sample_weight is not None and key in weighted else None
            mask = masks[k] if masks is not None else None
            if mask is not None and isinstance(metric, metrics_module.MeanMetricWrapper):
                # Keras's mean metrics weigh each step by its mask (times the sample weight)
                w = mask.astype(np.float32) * (1.0 if w is None else _expand(w, mask.ndim))
            if w is not None:
                metric.update_state(ys[k], outs[k], w)
            else:
                metric.update_state(ys[k], outs[k])
            entry[0], entry[1] = metric.result(), 1
        return {key: total / count for key, (total, count) in totals.items()}

    def _log_keys(self) -> list[str]:
        keys = ["loss"]
        if len(self._losses) > 1:
            keys += [f"{name}_loss" for name in self._output_keys]
        return keys + [key for _, key, _ in self._resolved_metrics()]

    def _scored_outputs(self, outs: list[np.ndarray]) -> list[np.ndarray]:
        """The outputs a loss reads: the fused ones replaced by the logits their layers cached
        (stable on huge logits)."""
        fused = self._fused_outputs()
        outs = list(outs)
        for k in fused:
            outs[k] = self.graph.outputs[k].node.layer.z
        return outs


def _metric_specs(metrics: Any, names: list[str], what: str) -> list[list[Any]]:
    """``metrics`` or ``weighted_metrics`` as one list of metrics per output, each checked."""
    if isinstance(metrics, str):
        metrics = [metrics]
    if len(names) > 1 and isinstance(metrics, (list, tuple)):
        if metrics and not all(isinstance(m, (list, tuple)) for m in metrics):
            raise ValueError(
                f"With several outputs, {what} must be a list of lists (one per output) or "
                f"a dict keyed by output name ({names}). Received: {metrics!r}."
            )
    specs = _per_output(metrics, names, what) if len(names) > 1 else [metrics]
    specs = [[entry] if isinstance(entry, str) else list(entry or []) for entry in specs]
    for spec in specs:
        for name in spec:
            metrics_module.check(name)
    return specs


def _masked(fn, out, y, mask, sample_weight):
    """Keras's loss on an output that carries a (batch, time) mask: masked steps are left out.

    Math (L_bt: the loss of sample b at step t, m_bt in {0, 1}, w_b the sample weight or 1):
        L = sum_bt w_b m_bt L_bt / sum_bt m_bt          (0 when every step is masked)
        dL/dy_bt = w_b m_bt dL_bt/dy_bt / sum_bt m_bt

    Every loss here is a mean over the rows of a (rows, features) batch, so L is the loss of
    the valid steps taken as one batch of rows (weighted as `_weighted` weighs samples).
    """
    valid = mask.reshape(-1).astype(bool)
    rows = valid.size
    flat_out = out.reshape(rows, *out.shape[mask.ndim :])
    flat_y = y.reshape(rows, *y.shape[mask.ndim :])
    grad = np.zeros_like(flat_out)
    if not valid.any():
        return 0.0, grad.reshape(out.shape)
    value, grad_valid = fn(flat_out[valid], flat_y[valid])
    if sample_weight is not None:
        w = np.broadcast_to(_expand(sample_weight, mask.ndim), mask.shape).reshape(-1)
        value, grad_valid = _weighted(fn, flat_out[valid], flat_y[valid], grad_valid, w[valid])
    grad[valid] = grad_valid
    return value, grad.reshape(out.shape)


def _expand(weights: np.ndarray, ndim: int) -> np.ndarray:
    """Sample weights (n,) given trailing axes of length 1 up to ``ndim`` axes."""
    return weights.reshape(weights.shape + (1,) * (ndim - weights.ndim))


def _weighted(fn, out, y, grad, sample_weight):
    """Keras's weighted loss: (sum_i w_i L_i) / n, with L_i each sample's own loss; the
    gradient of sample i is w_i times its unweighted gradient (every loss averages over the
    batch, so L = mean_i L_i)."""
    n = len(out)
    per_sample = np.array([fn(out[i : i + 1], y[i : i + 1])[0] for i in range(n)])
    value = float(np.dot(sample_weight, per_sample) / n)
    w = sample_weight.astype(grad.dtype).reshape((n,) + (1,) * (grad.ndim - 1))
    return value, grad * w
