"""engram.continual: known answers for the metrics, scenarios, loss and every method's core."""

from __future__ import annotations

import numpy as np
import pytest

from engram.continual import (
    SCENARIOS,
    Learner,
    average_accuracy,
    backward_transfer,
    forward_transfer,
    permuted_stream,
    split_stream,
    train_stream,
)
from engram.continual.methods import EWC, METHODS, SI, OnlineEWC, ReplayBuffer, make
from engram.continual.methods.ewc import fisher_diagonal
from engram.continual.objective import masked_cross_entropy


def tiny_stream(n_per_class=12, classes=4, features=6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, (classes, features))
    y = np.repeat(np.arange(classes), n_per_class)
    x = (centers[y] + rng.normal(0, 0.5, (len(y), features))).astype(np.float32)
    return split_stream((x, y), (x, y), 2)


# ------------------------------------------------------------------ metrics
R = np.array([[0.9, 0.1, 0.2], [0.6, 0.8, 0.3], [0.5, 0.7, 0.95]])


def test_metrics_on_a_hand_made_matrix():
    assert average_accuracy(R) == pytest.approx((0.5 + 0.7 + 0.95) / 3)
    assert backward_transfer(R) == pytest.approx(((0.5 - 0.9) + (0.7 - 0.8)) / 2)
    assert forward_transfer(R, [0.1, 0.2, 0.25]) == pytest.approx(((0.1 - 0.2) + (0.3 - 0.25)) / 2)


def test_metrics_refuse_a_non_square_matrix():
    with pytest.raises(ValueError, match="square"):
        average_accuracy(np.zeros((2, 3)))


# ------------------------------------------------------------------ streams and scenarios
def test_split_and_permuted_streams():
    x = np.arange(40 * 4, dtype=np.float32).reshape(40, 4)
    y = np.arange(40) % 10
    split = split_stream((x, y), (x, y), 2)
    assert [c.classes for c in split.contexts] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert set(split.contexts[2].y_train) == {4, 5}
    perm = permuted_stream((x, y), (x, y), 3, seed=0)
    np.testing.assert_array_equal(perm.contexts[0].x_train, x)  # the first is unpermuted
    p = perm.contexts[1].x_train[0]
    assert sorted(p) == sorted(x[0]) and not np.array_equal(p, x[0])
    # one permutation per context, the same for its training and test images
    order = np.argsort(perm.contexts[2].x_train[0])
    np.testing.assert_array_equal(perm.contexts[2].x_test[:, order], x)


def test_the_three_scenarios_units():
    x = np.zeros((10, 2), np.float32)
    stream = split_stream((x, np.arange(10)), (x, np.arange(10)), 2)
    task, domain, cls = (SCENARIOS.get(n) for n in ("task", "domain", "class"))
    assert (task.n_units(stream), domain.n_units(stream), cls.n_units(stream)) == (10, 2, 10)
    labels = np.array([4, 5])
    np.testing.assert_array_equal(task.targets(stream, 2, labels), [4, 5])
    np.testing.assert_array_equal(domain.targets(stream, 2, labels), [0, 1])
    np.testing.assert_array_equal(cls.targets(stream, 2, labels), [4, 5])
    np.testing.assert_array_equal(task.active(stream, 2, 4), [4, 5])  # its own head
    np.testing.assert_array_equal(domain.active(stream, 2, 4), [0, 1])
    np.testing.assert_array_equal(cls.active(stream, 1, 3), np.arange(8))  # all seen so far
    np.testing.assert_array_equal(cls.active(stream, 3, 1), np.arange(8))


# ------------------------------------------------------------------ the loss
def test_masked_cross_entropy_matches_finite_differences_and_plain_softmax():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 5))
    mask = np.array([[1, 1, 0, 0, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], float)
    q = rng.random((3, 5)) * mask
    q /= q.sum(axis=1, keepdims=True)
    loss, grad = masked_cross_entropy(z, q, mask, temperature=2.0)
    num = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        d = np.zeros_like(z)
        d[idx] = 1e-6
        num[idx] = (
            masked_cross_entropy(z + d, q, mask, 2.0)[0]
            - masked_cross_entropy(z - d, q, mask, 2.0)[0]
        ) / 2e-6
    np.testing.assert_allclose(grad, num, atol=1e-7)
    assert np.all(grad[mask == 0] == 0)
    # all units active, T = 1: the ordinary softmax cross-entropy
    y = np.array([1, 3, 0])
    full, _ = masked_cross_entropy(z, np.eye(5)[y], np.ones_like(z))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert full == pytest.approx(-np.mean(np.log(p[np.arange(3), y])))


# ------------------------------------------------------------------ EWC
def test_ewc_penalty_and_gradient_by_hand():
    f1, a1 = np.array([1.0, 2.0, 0.0]), np.array([0.5, -1.0, 3.0])
    f2, a2 = np.array([0.5, 0.0, 4.0]), np.array([1.0, 1.0, -2.0])
    theta = np.array([0.0, 1.0, 1.0])
    ewc = EWC(strength=3.0)
    ewc.consolidate(f1, a1)
    ewc.consolidate(f2, a2)
    # (3/2) [1*0.25 + 2*4 + 0 + 0.5*1 + 0 + 4*9] = 1.5 * 44.75
    assert ewc.penalty(theta) == pytest.approx(1.5 * 44.75)
    expected = 3.0 * (f1 * (theta - a1) + f2 * (theta - a2))
    np.testing.assert_allclose(ewc.penalty_gradient(theta.astype(np.float32)), expected, rtol=1e-6)
    online = OnlineEWC(strength=3.0, gamma=0.5)
    online.consolidate(f1, a1)
    online.consolidate(f2, a2)
    fisher = 0.5 * f1 + f2
    assert online.penalty(theta) == pytest.approx(1.5 * np.sum(fisher * (theta - a2) ** 2))
    np.testing.assert_allclose(online.penalty_gradient(theta), 3.0 * fisher * (theta - a2))


def test_ewc_gradient_is_zero_where_no_fisher_was_seen():
    ewc = EWC(strength=2.0)
    ewc.consolidate(np.array([0.0, 1.0], np.float32), np.array([5.0, 1.0], np.float32))
    grad = ewc.penalty_gradient(np.array([3.0, 4.0], np.float32))
    assert grad.dtype == np.float32
    np.testing.assert_array_equal(grad, [0.0, 6.0])  # no pull on the weight with F = 0
    ewc.consolidate(np.array([2.0, 0.0], np.float32), np.array([1.0, 0.0], np.float32))
    np.testing.assert_allclose(ewc.penalty_gradient(np.zeros(2, np.float32)), [-4.0, -2.0])


def test_fisher_of_a_linear_softmax_by_hand():
    stream = tiny_stream()
    learner = Learner(stream, "task", hidden=(), seed=0)
    n = len(stream.contexts[0].x_train)
    fisher = fisher_diagonal(learner, 0, n_samples=0, labels="pred")
    x = stream.contexts[0].x_train.astype(np.float64)
    w, b = (p.astype(np.float64) for p in learner.model.get_weights())
    z = (x @ w + b)[:, :2]  # context 0's head: units 0 and 1
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    delta = np.zeros((n, 4))
    delta[:, :2] = p - np.eye(2)[np.argmax(p, axis=1)]
    expected_w = np.mean(x[:, :, None] ** 2 * delta[:, None, :] ** 2, axis=0)
    expected_b = np.mean(delta**2, axis=0)
    np.testing.assert_allclose(
        fisher, np.concatenate([expected_w.ravel(), expected_b]), rtol=1e-4, atol=1e-9
    )


@pytest.mark.parametrize("scenario", ["task", "class"])
def test_batched_fisher_of_a_dense_chain_equals_the_per_sample_fisher(scenario):
    from engram.continual.methods.ewc import _fisher_dense_chain, fisher_per_sample

    stream = tiny_stream()
    learner = Learner(stream, scenario, hidden=(7, 5), seed=1)
    x = stream.contexts[1].x_train
    rng = np.random.default_rng(0)
    units = learner.scenario.active(stream, 1, 1)
    chosen = units[rng.integers(0, len(units), len(x))]
    mask = learner.scenario.mask(stream, 1, 1)
    reference = fisher_per_sample(learner, x, chosen, mask)
    batched = _fisher_dense_chain(learner, x, chosen, mask, batch=10)  # several batches
    assert reference.shape == batched.shape and reference.max() > 0
    np.testing.assert_allclose(batched, reference, rtol=1e-5, atol=1e-9)


# ------------------------------------------------------------------ SI
class _Params:
    def __init__(self, theta):
        self.theta = theta

    def parameters(self):
        return self.theta.copy()


def test_si_path_integral_on_a_quadratic_is_exact():
    """L = sum_w h_w (theta_w - a_w)^2 / 2 under SGD with step lr: theta - a shrinks by
    (1 - lr h) each step, so sum_t g_t^2 lr = (loss decrease) * 2 / (2 - lr h), exactly."""
    h, a = np.array([1.0, 4.0, 0.5]), np.array([1.0, -2.0, 0.5])
    start, lr, steps = np.array([3.0, 0.0, -1.0]), 0.05, 60
    holder = _Params(start.copy())
    si = SI(strength=1.0, damping=0.1)
    si.begin(holder)
    for _ in range(steps):
        g = h * (holder.theta - a)
        before = holder.theta.copy()
        holder.theta = holder.theta - lr * g
        si.after_step(holder, g, before)
    omega = si.omega.copy()
    drop = 0.5 * h * ((start - a) ** 2 - (holder.theta - a) ** 2)
    np.testing.assert_allclose(omega, drop * 2 / (2 - lr * h), rtol=1e-12)
    si.end_context(holder, 0)
    np.testing.assert_allclose(si.importance, omega / ((holder.theta - start) ** 2 + 0.1))
    np.testing.assert_allclose(si.anchor, holder.theta)
    theta = np.zeros(3)
    np.testing.assert_allclose(
        si.penalty_gradient(theta), 2 * si.importance * (theta - holder.theta), rtol=1e-6
    )


class _FlatPath(make("none").__class__):
    """Fine-tuning through the learner's flat-vector path (an after_step that does nothing)."""

    def after_step(self, learner, grad, theta_before):
        pass


def test_a_plain_step_equals_the_flat_vector_step():
    """The step that leaves the gradient in the layers (no penalty, one term) is the same step
    as the general one through flat copies, bit for bit; weighted terms sum as before."""
    from engram.continual.learner import Term

    stream = tiny_stream()
    ctx = stream.contexts[0]
    a, b = (Learner(stream, "class", hidden=(5,), seed=3) for _ in range(2))
    plain, flat = make("none"), _FlatPath()
    assert not plain.acts_in_step() and flat.acts_in_step()
    targets = a.targets(0, ctx.y_train[:8], 0)
    for _ in range(3):
        a.step([Term(ctx.x_train[:8], targets)], plain)
        b.step([Term(ctx.x_train[:8], targets)], flat)
    np.testing.assert_array_equal(a.parameters(), b.parameters())
    # two weighted terms: the sum of the weighted gradients, as the flat path computes it
    terms = [Term(ctx.x_train[:8], targets, 0.25), Term(ctx.x_train[8:16], targets, 0.75)]
    expected = 0.25 * a.gradient(terms[0].x, targets) + 0.75 * a.gradient(terms[1].x, targets)
    before = a.parameters()
    a.step(terms, flat)
    assert not np.array_equal(a.parameters(), before)
    np.testing.assert_allclose(a._read_grads(), expected, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ replay
def test_replay_buffer_keeps_classes_balanced_within_capacity():
    buf = ReplayBuffer(60, seed=0)
    rng = np.random.default_rng(1)
    for k, (c0, c1, n0, n1) in enumerate([(0, 1, 50, 8), (2, 3, 30, 40), (4, 5, 100, 100)]):
        y = np.array([c0] * n0 + [c1] * n1)
        buf.add(rng.normal(size=(len(y), 3)), y, context=k)
        counts = buf.counts()
        quota = 60 // len(counts)
        assert sum(counts.values()) <= 60
        assert max(counts.values()) == quota  # no class holds more than its share
    assert buf.counts() == {(0, 0): 10, (0, 1): 8, (1, 2): 10, (1, 3): 10, (2, 4): 10, (2, 5): 10}
    x, y, ctx = buf.arrays()
    assert len(x) == len(y) == len(ctx) == 58 and set(ctx) == {0, 1, 2}


def test_make_refuses_unknown_methods_with_a_suggestion():
    with pytest.raises(ValueError, match="Did you mean 'replay'"):
        make("replya")


# ------------------------------------------------------------------ whole streams
@pytest.mark.parametrize("method", sorted(METHODS.names()))  # a new method brings its test
def test_every_method_learns_a_stream(method):
    # 30 iterations left the first context at 0.54-0.88 over seeds 0-2 (float32 initial
    # weights); 100 learn it fully at each of them
    result = train_stream(
        method, tiny_stream(), "class", iterations=100, batch_size=8, hidden=(16,)
    )
    assert result.accuracy.shape == (2, 2) and np.all(np.isfinite(result.accuracy))
    assert result.accuracy[0, 0] > 0.9  # the first context is learned
    assert result.curves.shape[1] == 2


def test_training_is_reproducible_bit_for_bit():
    a = train_stream(
        "si", tiny_stream(), "domain", iterations=10, batch_size=8, hidden=(8,), seed=3
    )
    b = train_stream(
        "si", tiny_stream(), "domain", iterations=10, batch_size=8, hidden=(8,), seed=3
    )
    np.testing.assert_array_equal(a.curves, b.curves)


@pytest.mark.parametrize("scenario", ["task", "domain", "class"])
def test_permuted_stream_trains_in_every_scenario(scenario):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 10)
    x = (np.eye(3)[y] @ rng.normal(0, 2, (3, 6)) + rng.normal(0, 0.3, (30, 6))).astype(np.float32)
    stream = permuted_stream((x, y), (x, y), 3, seed=0)
    result = train_stream("lwf", stream, scenario, iterations=200, batch_size=10, hidden=(16,))
    units = {"task": 9, "domain": 3, "class": 9}[scenario]
    assert result.accuracy.shape == (3, 3) and result.accuracy[0, 0] > 0.9
    assert Learner(stream, scenario, hidden=(4,)).n_units == units
