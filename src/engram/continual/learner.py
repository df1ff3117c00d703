"""The learner: a network, its scenario and stream, and the one training step all methods share.

Each step sums the gradients of the method's loss terms (the current batch, and for replay or
distillation methods their extra batches), each from one `Model.compute_gradients` call; adds
the method's penalty gradient (EWC, SI); writes the sum into the layers' ``grads`` and applies
the model's optimizer to them, exactly as ``fit`` does after ``compute_gradients``.

Parameters and gradients are handled as one flat vector (the layers' params in order), which is
what the regularisation methods' formulas are written in.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engram.continual.metrics import average_accuracy, backward_transfer, forward_transfer
from engram.continual.objective import ContextCrossEntropy, pack
from engram.continual.scenarios import SCENARIOS, Scenario
from engram.continual.streams import Stream
from engram.nn.layers.recurrent_base import single_blas_thread
from engram.validation import Seed, as_rng, check_positive


@dataclass
class Term:
    """One loss term of a step: inputs, packed targets, its weight and temperature."""

    x: np.ndarray
    targets: np.ndarray
    weight: float = 1.0
    temperature: float = 1.0


def build_network(n_inputs: int, hidden: tuple[int, ...], n_units: int, learning_rate: float, seed):
    """A ReLU MLP with linear outputs (the logits), Adam, and the masked cross-entropy."""
    from engram.nn import Sequential
    from engram.nn.layers import Dense
    from engram.nn.optimizers import Adam

    sizes = [int(h) for h in hidden]
    layers = [Dense(sizes[0], activation="relu", input_shape=(n_inputs,))] if sizes else []
    layers += [Dense(h, activation="relu") for h in sizes[1:]]
    layers.append(Dense(n_units) if sizes else Dense(n_units, input_shape=(n_inputs,)))
    model = Sequential(layers, seed=seed)
    loss = ContextCrossEntropy()
    model.compile(optimizer=Adam(learning_rate), loss=loss)
    return model, loss


class Learner:
    """A network learning ``stream`` in ``scenario``.

    Args:
        stream: the contexts.
        scenario: "task", "domain" or "class" (or a `Scenario`).
        hidden: hidden layer sizes.
        learning_rate: Adam's learning rate.
        seed: initial weights and every random choice of the learner and its method.
    """

    def __init__(
        self,
        stream: Stream,
        scenario: str | Scenario,
        hidden: tuple[int, ...] = (400, 400),
        learning_rate: float = 1e-3,
        seed: Seed = 0,
    ) -> None:
        self.stream = stream
        self.scenario = scenario if isinstance(scenario, Scenario) else SCENARIOS.get(scenario)
        self.hidden = tuple(hidden)
        self.learning_rate = learning_rate
        self.rng = as_rng(seed)
        net_seed = int(self.rng.integers(2**31))
        self.n_units = self.scenario.n_units(stream)
        self.model, self.loss = build_network(
            stream.n_features, self.hidden, self.n_units, learning_rate, net_seed
        )
        self.layers = list(self.model.layers)
        self._keys = [(layer, key) for layer in self.layers for key in layer.params]

    # ------------------------------------------------------------ flat vectors
    def parameters(self) -> np.ndarray:
        """A copy of all weights as one float32 vector."""
        return np.concatenate([layer.params[key].ravel() for layer, key in self._keys])

    def _read_grads(self) -> np.ndarray:
        return np.concatenate([layer.grads[key].ravel() for layer, key in self._keys])

    def _write_grads(self, flat: np.ndarray) -> None:
        start = 0
        for layer, key in self._keys:
            g = layer.grads[key]
            g[...] = flat[start : start + g.size].reshape(g.shape)
            start += g.size

    # ------------------------------------------------------------ targets
    def targets(self, origins: Any, labels: np.ndarray, current: int) -> np.ndarray:
        """Packed one-hot targets for samples of contexts ``origins`` (an int or one per
        sample) while learning context ``current``."""
        labels = np.asarray(labels, np.int64)
        origins = np.broadcast_to(np.asarray(origins, np.int64), labels.shape)
        onehot = np.zeros((len(labels), self.n_units), np.float32)
        mask = np.zeros_like(onehot)
        for k in np.unique(origins):
            rows = np.flatnonzero(origins == k)
            units = self.scenario.targets(self.stream, int(k), labels[rows])
            onehot[rows, units] = 1.0
            mask[rows] = self.scenario.mask(self.stream, int(k), current)
        return pack(onehot, mask)

    def soft_targets(
        self, logits: np.ndarray, mask: np.ndarray, temperature: float, active: Any = None
    ) -> np.ndarray:
        """Packed targets: softmax(logits / T) over the mask's units (a teacher's outputs), 0 on
        the other units of ``active`` (the student's softmax units, a superset of the mask;
        default: the mask itself)."""
        s = np.where(mask > 0, logits.astype(np.float64) / temperature, -np.inf)
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        return pack(p.astype(np.float32), mask if active is None else active)

    # ------------------------------------------------------------ the step
    def gradient(self, x: np.ndarray, targets: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """The flat gradient of one loss term (one `compute_gradients` call)."""
        self.loss.temperature = temperature
        self.model.compute_gradients(x, targets)
        return self._read_grads()

    def step(self, terms: list[Term], method: Any) -> None:
        """One optimizer step on the weighted sum of the terms' gradients plus the method's
        penalty gradient; then the method sees the gradient and the old weights (SI).

        A step of one unweighted term, for a method with no penalty and nothing to do after
        the step (none, joint, replay and LwF before anything is stored), leaves the gradient
        where `compute_gradients` puts it, in the layers' ``grads``: the same step without
        the flat copies, which cost a tenth of a 784-400-400 step."""
        if len(terms) == 1 and terms[0].weight == 1.0 and not method.acts_in_step():
            self.loss.temperature = terms[0].temperature
            self.model.compute_gradients(terms[0].x, terms[0].targets)
            self.model.optimizer.step(self.layers)
            return
        grad = self.gradient(terms[0].x, terms[0].targets, terms[0].temperature)
        if terms[0].weight != 1.0:
            grad *= np.float32(terms[0].weight)
        for t in terms[1:]:  # the weighted sum, in place (the flat gradient is a fresh array)
            g = self.gradient(t.x, t.targets, t.temperature)
            if t.weight != 1.0:
                g *= np.float32(t.weight)
            grad += g
        theta = self.parameters()
        penalty = method.penalty_gradient(theta)
        if penalty is not None:
            grad += penalty
        self._write_grads(grad)
        self.model.optimizer.step(self.layers)
        method.after_step(self, grad, theta)

    # ------------------------------------------------------------ testing
    def logits(self, x: np.ndarray, batch: int = 2048) -> np.ndarray:
        return np.concatenate(
            [self.model.forward(x[i : i + batch]) for i in range(0, len(x), batch)]
        )

    def accuracy(self, k: int, current: int) -> float:
        """Test accuracy on context ``k`` when the last context learned is ``current``."""
        ctx = self.stream.contexts[k]
        units = self.scenario.active(self.stream, k, current)
        pred = units[np.argmax(self.logits(ctx.x_test)[:, units], axis=1)]
        return float(np.mean(pred == self.scenario.targets(self.stream, k, ctx.y_test)))

    def snapshot(self):
        """A frozen copy of the network (same architecture and weights), for teachers."""
        model, _ = build_network(
            self.stream.n_features, self.hidden, self.n_units, self.learning_rate, 0
        )
        model.set_weights(self.model.get_weights())
        return model


@dataclass
class StreamResult:
    """What one method learned over one stream in one scenario."""

    method: str
    scenario: str
    accuracy: np.ndarray  # R[i, j]
    baseline: np.ndarray  # untrained accuracy per context
    curve_steps: np.ndarray  # the iterations (over the whole stream) where curves were taken
    curves: np.ndarray  # (points, contexts) test accuracy over the stream
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def average(self) -> float:
        return average_accuracy(self.accuracy)

    @property
    def bwt(self) -> float:
        return backward_transfer(self.accuracy)

    @property
    def fwt(self) -> float:
        return forward_transfer(self.accuracy, self.baseline)


def shuffled_batches(n: int, batch_size: int, iterations: int, rng: np.random.Generator):
    """Indices of ``iterations`` batches, going through shuffled epochs of ``n`` samples."""
    order, pos = rng.permutation(n), 0
    for _ in range(iterations):
        if pos + batch_size > n:
            order, pos = rng.permutation(n), 0
        yield order[pos : pos + min(batch_size, n)]
        pos += batch_size


def train_stream(
    method: Any,
    stream: Stream,
    scenario: str | Scenario,
    iterations: int = 2000,
    batch_size: int = 128,
    hidden: tuple[int, ...] = (400, 400),
    learning_rate: float = 1e-3,
    seed: Seed = 0,
    curve_points: int = 4,
    progress: Any = None,
    **options: Any,
) -> StreamResult:
    """Learn the contexts of ``stream`` one after another with ``method``; test after each.

    Args:
        method: a method name (`engram.continual.methods.METHODS`) or instance.
        iterations: optimizer steps per context.
        curve_points: test points per context for the accuracy-over-the-stream curves.
        progress: an object with ``update(n)`` called once per context (a progress bar).
        **options: the method's settings (e.g. ``strength=1e5`` for EWC).

    Returns:
        A `StreamResult` with the accuracy matrix R[i, j] and the curves.
    """
    (result,) = train_streams(
        method, stream, (scenario,), iterations, batch_size, hidden, learning_rate, seed,
        curve_points, progress, **options,
    )  # fmt: skip
    return result


def train_streams(
    method: Any,
    stream: Stream,
    scenarios: Sequence[str | Scenario],
    iterations: int = 2000,
    batch_size: int = 128,
    hidden: tuple[int, ...] = (400, 400),
    learning_rate: float = 1e-3,
    seed: Seed = 0,
    curve_points: int = 4,
    progress: Any = None,
    **options: Any,
) -> list[StreamResult]:
    """`train_stream` in several scenarios at once, step by step side by side: one learner and
    one method instance per scenario, each result the same, bit for bit, as `train_stream`'s
    for its scenario alone (with an int ``seed``).

    What a method does the same way in every scenario is then done once: a method whose
    ``share`` accepts the first scenario's instance (generative replay: its generator learns
    the inputs, which are the same batches in every scenario, and never sees a label or
    output unit) hands that work to it. ``progress`` is updated once per context of each
    scenario.
    """
    from engram.continual.methods import make

    check_positive(iterations, "iterations", integer=True)
    check_positive(batch_size, "batch_size", integer=True)
    if not scenarios:
        raise ValueError("scenarios must name at least one scenario (task, domain, class).")
    if len(scenarios) > 1 and not isinstance(seed, numbers.Integral):
        raise ValueError(
            "Several scenarios side by side need an int seed (each learner draws from its own "
            f"generator seeded with it). Got {seed!r} instead."
        )
    learners = [Learner(stream, s, hidden, learning_rate, seed) for s in scenarios]
    methods = [make(method, **options) for _ in scenarios]
    if len(methods) > 1 and len({id(m) for m in methods}) < len(methods):
        raise ValueError("A method instance can learn one scenario; give its name for several.")
    t = len(stream)
    baselines = [np.array([lr.accuracy(j, j) for j in range(t)]) for lr in learners]
    rs = [np.zeros((t, t)) for _ in learners]
    steps: list[int] = []
    curves: list[list[list[float]]] = [[] for _ in learners]
    with single_blas_thread():  # small matmuls: BLAS threads cost more than they save
        for lr, m in zip(learners, methods, strict=True):
            m.begin(lr)
            if m is not methods[0]:
                m.share(methods[0])
        _learn(learners, methods, iterations, batch_size, curve_points, rs, steps, curves,
               progress)  # fmt: skip
    return [
        StreamResult(
            m.name, lr.scenario.name, r, baseline, np.array(steps), np.array(curve), dict(m.info())
        )
        for lr, m, r, baseline, curve in zip(learners, methods, rs, baselines, curves, strict=True)
    ]


def _learn(learners, methods, iterations, batch_size, curve_points, rs, steps, curves, progress):
    """The stream loop, the scenarios' learners side by side (each sees the same calls, in the
    same order, as alone)."""
    t = len(rs[0])
    every = max(1, iterations // max(1, curve_points))
    pairs = list(zip(learners, methods, strict=True))
    for k in range(t):
        feeds = [m.batches(lr, k, iterations, batch_size) for lr, m in pairs]
        for it in range(iterations):
            for (lr, m), feed in zip(pairs, feeds, strict=True):
                x, targets = next(feed)
                lr.step(m.terms(lr, k, x, targets), m)
            if (it + 1) % every == 0 and it + 1 < iterations:
                steps.append(k * iterations + it + 1)
                for (lr, _), curve in zip(pairs, curves, strict=True):
                    curve.append([lr.accuracy(j, k) for j in range(t)])
        for (lr, m), r, curve in zip(pairs, rs, curves, strict=True):
            m.end_context(lr, k)
            r[k] = [lr.accuracy(j, k) for j in range(t)]
            curve.append(r[k].copy())
            if progress is not None:
                progress.update(1)
        steps.append((k + 1) * iterations)
