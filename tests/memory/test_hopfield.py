"""Classic Hopfield network: known answers, the energy property, and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engram.memory import (
    CapacityWarning,
    DependentPatternsWarning,
    Hopfield,
    binarize,
    critical_load,
    energy,
    flip_bits,
    hebb_weights,
    pseudo_inverse_weights,
    published_capacity,
    recall,
    retrieved_fraction,
    storkey_weights,
)


def random_patterns(p, n, seed=0):
    rng = np.random.default_rng(seed)
    return np.where(rng.random((p, n)) < 0.5, -1.0, 1.0).astype(np.float32)


def flip(x, fraction, seed=1):
    rng = np.random.default_rng(seed)
    out = x.copy()
    for row in out:
        row[rng.choice(x.shape[1], int(fraction * x.shape[1]), replace=False)] *= -1
    return out


@pytest.mark.parametrize("rule", ["hebb", "storkey", "pseudo_inverse"])
@pytest.mark.parametrize("update", ["sync", "async"])
def test_recall_from_noisy_cues_below_capacity(rule, update):
    xs = random_patterns(8, 100)
    net = Hopfield(rule).store(xs)
    result = net.recall(flip(xs, 0.1), update=update, seed=0)
    assert result.states.dtype == np.float32 and net.weights.dtype == np.float32
    np.testing.assert_array_equal(result.states, xs)
    assert result.converged.all()
    np.testing.assert_allclose(np.diag(result.overlaps), 1.0)
    np.testing.assert_array_equal(result.best_match, np.arange(8))
    assert result.overlaps.shape == (8, 8)


def test_weights_are_symmetric_with_zero_diagonal():
    xs = random_patterns(10, 40)
    for w in (hebb_weights(xs), storkey_weights(xs), pseudo_inverse_weights(xs)):
        np.testing.assert_allclose(w, w.T, atol=1e-6)
        assert not np.diag(w).any()


def test_storkey_matches_the_formula_written_out():
    xs = random_patterns(4, 10).astype(np.float64)
    n = xs.shape[1]
    w = np.zeros((n, n))
    for xi in xs:
        h = np.array(
            [[sum(w[i, k] * xi[k] for k in range(n) if k not in (i, j)) for j in range(n)]
             for i in range(n)]
        )  # fmt: skip
        w = w + (np.outer(xi, xi) - xi[:, None] * h.T - h * xi[None, :]) / n
        np.fill_diagonal(w, 0)
    np.testing.assert_allclose(storkey_weights(xs), w, atol=1e-6)


def test_incremental_store_equals_batch_store():
    xs = random_patterns(6, 50)
    for rule in ("hebb", "storkey", "pseudo_inverse"):
        one = Hopfield(rule).store(xs)
        two = Hopfield(rule).store(xs[:4]).store(xs[4:])
        np.testing.assert_allclose(one.weights, two.weights, atol=1e-5)


def test_batched_and_chunked_recall_match_single_cues():
    xs = random_patterns(15, 60)
    w = hebb_weights(xs)
    cues = flip(xs, 0.25)
    whole = recall(w, cues, patterns=xs)
    chunked = recall(w, cues, patterns=xs, chunk_size=4)
    np.testing.assert_array_equal(whole.states, chunked.states)
    np.testing.assert_array_equal(whole.steps, chunked.steps)
    for i in range(len(cues)):
        single = recall(w, cues[i : i + 1], patterns=xs)
        np.testing.assert_array_equal(single.states[0], whole.states[i])
        assert single.steps[0] == whole.steps[i]


def test_sync_updates_can_oscillate_and_report_it():
    w = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    result = recall(w, np.array([[1.0, -1.0]], np.float32), max_steps=7)
    assert not result.converged[0] and result.steps[0] == 7
    np.testing.assert_array_equal(result.states, [[-1.0, 1.0]])  # odd number of flips
    async_result = recall(w, np.array([[1.0, -1.0]], np.float32), update="async", seed=0)
    assert async_result.converged[0]  # asynchronous dynamics always settle


def test_zero_fields_keep_the_current_state():
    w = np.zeros((5, 5), np.float32)
    cue = np.array([[1, -1, 1, 1, -1]], np.float32)
    for update in ("sync", "async"):
        result = recall(w, cue, update=update)
        np.testing.assert_array_equal(result.states, cue)
        assert result.converged[0] and result.steps[0] == 0


def test_energy_function_and_trace():
    xs = random_patterns(3, 30)
    net = Hopfield().store(xs)
    s = random_patterns(4, 30, seed=5)
    expected = -0.5 * np.einsum("bi,ij,bj->b", s, net.weights.astype(np.float64), s)
    np.testing.assert_allclose(net.energy(s), expected, rtol=1e-6)
    result = net.recall(s, update="async", seed=1)
    np.testing.assert_allclose(result.energy[0], expected, rtol=1e-6)
    np.testing.assert_allclose(result.energy[-1], net.energy(result.states), rtol=1e-6)
    assert net.energy(xs).max() < net.energy(s).min()  # stored patterns lie low


@st.composite
def symmetric_problem(draw):
    n = draw(st.integers(2, 14))
    upper = draw(arrays(np.int8, (n, n), elements=st.integers(-3, 3)))
    w = np.triu(upper, 1).astype(np.float32)
    w = w + w.T  # symmetric, zero diagonal; integers keep float32 arithmetic exact
    batch = draw(st.integers(1, 3))
    bits = draw(arrays(np.bool_, (batch, n)))
    return w, np.where(bits, 1.0, -1.0).astype(np.float32), draw(st.integers(0, 2**16))


@settings(max_examples=60, deadline=None)
@given(symmetric_problem())
def test_energy_never_increases_under_async_updates(problem):
    w, cues, seed = problem
    result = recall(w, cues, update="async", max_steps=50, seed=seed)
    assert np.all(np.diff(result.energy, axis=0) <= 0)
    assert result.converged.all()  # a finite state space and strict descent: a fixed point


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 30))
def test_energy_never_increases_with_learned_weights(seed, n_patterns):
    xs = random_patterns(n_patterns, 40, seed)
    for w in (hebb_weights(xs), storkey_weights(xs)):
        cues = random_patterns(3, 40, seed + 1)
        trace = recall(w, cues, update="async", seed=seed).energy
        assert np.all(np.diff(trace, axis=0) <= 1e-4)


def test_pseudo_inverse_stores_correlated_patterns_that_hebb_cannot():
    base = random_patterns(1, 100, seed=3)[0]
    xs = np.stack([flip(base[None], 0.15, seed=s)[0] for s in range(6)])  # overlaps ~0.7
    assert Hopfield("hebb").store(xs).recall(xs).best_overlap.min() < 0.95
    result = Hopfield("pseudo_inverse").store(xs).recall(xs)
    np.testing.assert_array_equal(result.states, xs)  # each one a fixed point


def test_pseudo_inverse_warns_on_dependent_patterns_and_still_works():
    xs = random_patterns(5, 50)
    dependent = np.concatenate([xs, xs[:2]])  # duplicates: rank 5 < 7
    with pytest.warns(DependentPatternsWarning, match=r"linearly dependent \(rank 5 < 7\)"):
        net = Hopfield("pseudo_inverse").store(dependent)
    np.testing.assert_array_equal(net.recall(xs).states, xs)


def test_storing_above_capacity_is_allowed_and_reported():
    xs = random_patterns(20, 100)
    with pytest.warns(CapacityWarning, match=r"load 0\.200\) is above the hebb rule"):
        net = Hopfield("hebb").store(xs)
    assert net.n_patterns == 20 and net.load == pytest.approx(0.2)
    assert net.capacity == pytest.approx(13.8) and net.above_capacity
    assert Hopfield("pseudo_inverse").store(xs).above_capacity is False


def test_published_capacity():
    assert published_capacity("hebb", 500) == pytest.approx(69.0)
    assert published_capacity("storkey", 100) == pytest.approx(100 / np.sqrt(2 * np.log(100)))
    assert published_capacity("pseudo_inverse", 64) == 64
    with pytest.raises(ValueError, match="rule must be one of"):
        published_capacity("hebbian", 10)


def test_binarize():
    np.testing.assert_array_equal(binarize([[0.0, 0.4, 0.6, 1.0]]), [[-1, -1, 1, 1]])
    np.testing.assert_array_equal(binarize([-3.0, 0.5, 2.0], threshold=0.0), [-1, 1, 1])
    assert binarize(np.zeros((2, 2))).dtype == np.float32


# ----------------------------------------------------------------------------- bad input


def test_patterns_not_plus_minus_one_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"only -1 and \+1.*such as \[0\.0\].*binarize"):
        Hopfield().store(np.array([[0, 1, 1, 0], [1, 1, 0, 0]]))
    with pytest.raises(ValueError, match=r"such as \[0\.5\]"):
        Hopfield().store([[0.5, 1, -1]])


def test_ragged_pattern_sets_are_refused():
    with pytest.raises(ValueError, match="rectangular numeric array.*same length"):
        Hopfield().store([[1, -1, 1], [1, -1]])


def test_non_numeric_and_nan_patterns_are_refused():
    with pytest.raises(TypeError, match="numeric array"):
        Hopfield().store([["a", "b"]])
    with pytest.raises(ValueError, match="NaN"):
        Hopfield().store([[1.0, np.nan]])


def test_cue_length_must_match_the_network():
    net = Hopfield().store(random_patterns(3, 100))
    with pytest.raises(ValueError, match=r"100 units per cue.*received shape \(2, 99\)"):
        net.recall(np.ones((2, 99)))
    with pytest.raises(ValueError, match=r"cues must contain only -1 and \+1"):
        net.recall(np.zeros(100))
    with pytest.raises(ValueError, match=r"patterns must have 100 units, like those already"):
        net.store(np.ones((1, 50)))


def test_bad_settings():
    with pytest.raises(ValueError, match="rule must be one of 'hebb', 'storkey', 'pseudo_inverse'"):
        Hopfield("oja")
    with pytest.raises(ValueError, match="stores no patterns yet"):
        Hopfield().recall(np.ones(4))
    net = Hopfield().store(random_patterns(1, 10))
    with pytest.raises(ValueError, match="update must be one of 'sync', 'async'"):
        net.recall(np.ones(10), update="parallel")
    with pytest.raises(ValueError, match="max_steps must be > 0"):
        net.recall(np.ones(10), max_steps=0)


def test_early_stop_drops_settled_cues_without_changing_the_result():
    xs = random_patterns(30, 100)
    w = hebb_weights(xs)
    cues = flip(xs, 0.3)
    fast = recall(w, cues, patterns=xs, chunk_size=8)
    full = recall(w, cues, patterns=xs, chunk_size=8, early_stop=False)
    np.testing.assert_array_equal(fast.states, full.states)
    np.testing.assert_array_equal(fast.steps, full.steps)
    np.testing.assert_array_equal(fast.converged, full.converged)
    np.testing.assert_allclose(fast.energy, full.energy, rtol=1e-5)  # float32 fields


def plain_sync_recall(w, cues, max_steps):
    """The synchronous dynamics written out: every cue, every step, no chunks, no early stop."""
    s = cues.copy()
    steps = np.zeros(len(s), np.int64)
    changed = np.ones(len(s), bool)
    for _ in range(max_steps):
        h = s @ w
        new = np.where(h > 0, 1.0, np.where(h < 0, -1.0, s)).astype(np.float32)
        changed = (new != s).any(axis=1)
        steps += changed
        s = new
    return s, steps, ~changed


@pytest.mark.parametrize("early_stop", [True, False])
def test_sync_recall_matches_the_plain_loop(early_stop):
    """Cues that settle after 1, 2, ... steps, and some that never do (two-cycles at a load
    past capacity), leave the active set in many orders across chunks of 5: the states, step
    counts and convergence equal the plain loop's (integer weights: exact fields, ties too)."""
    xs = random_patterns(40, 64)
    w = hebb_weights(xs) * np.float32(64)
    np.round(w, out=w)
    cues = np.concatenate([flip(xs, 0.1), flip(xs, 0.3, seed=2), random_patterns(40, 64, 3)])
    states, steps, converged = plain_sync_recall(w, cues, 12)
    assert 0 < converged.sum() < len(cues) and len(np.unique(steps)) > 4  # a varied workload
    cues.setflags(write=False)  # recall reads the cues in place and must never write them
    got = recall(w, cues, max_steps=12, chunk_size=5, early_stop=early_stop)
    np.testing.assert_array_equal(got.states, states)
    np.testing.assert_array_equal(got.steps, steps)
    np.testing.assert_array_equal(got.converged, converged)


def test_sign_keep_ties_matches_the_plain_sign():
    """The sign written as bits equals np.where's, zeros (of either sign) keeping the state."""
    from engram.memory.hopfield import _sign_keep_ties

    rng = np.random.default_rng(0)
    fields = rng.integers(-3, 4, (50, 40)).astype(np.float32) * rng.random((50, 40)).astype(
        np.float32
    )
    fields[0, :4] = [-0.0, np.inf, -np.inf, 1e-45]
    states = random_patterns(50, 40, seed=1)
    want = np.where(fields > 0, 1.0, np.where(fields < 0, -1.0, states)).astype(np.float32)
    assert (fields == 0).sum() > 10
    _sign_keep_ties(fields, states, np.empty(fields.shape, bool))
    np.testing.assert_array_equal(fields, want)


def test_flip_bits_flips_exactly_the_asked_share():
    xs = random_patterns(50, 100)
    cues = flip_bits(xs, 0.1, seed=0)
    np.testing.assert_array_equal((cues != xs).sum(axis=1), 10)
    np.testing.assert_array_equal(flip_bits(xs, 0.0), xs)
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\]"):
        flip_bits(xs, 1.5)


def test_critical_load_interpolates_the_half_way_crossing():
    found = critical_load([0.1, 0.2, 0.3], [1.0, 0.8, 0.2])
    assert found.status == "crossed" and found.crossed
    assert found.value == pytest.approx(0.25)
    assert found.text() == "0.250"


def test_critical_load_tells_never_below_from_below_at_the_first_load():
    never = critical_load([0.1, 0.2], [1.0, 0.9])
    first = critical_load([0.1, 0.2], [0.3, 0.1])
    assert never.status == "not_reached" and never.value is None and not never.crossed
    assert first.status == "below_at_first" and first.value is None and not first.crossed
    assert never.text().startswith("> 0.2") and first.text().startswith("< 0.1")
    assert never.as_dict()["status"] != first.as_dict()["status"]
    assert critical_load([0.1, 0.2], [0.8, 0.7], level=0.75).status == "crossed"


def test_critical_load_refuses_mismatched_curves():
    with pytest.raises(ValueError, match="same length"):
        critical_load([0.1, 0.2], [1.0])


@pytest.mark.parametrize("rule", ["hebb", "storkey"])
def test_retrieval_state_exists_well_below_alpha_c_and_not_well_above(rule):
    """AGS's measure (recall started at the stored pattern) at N = 400: alpha = 0.05 keeps
    every pattern, alpha = 0.35 (Hebb) / 0.9 (Storkey) loses most of them."""
    rng = np.random.default_rng(0)
    n = 400
    for load, lo, hi in ((0.05, 0.99, 1.0), (0.35 if rule == "hebb" else 0.9, 0.0, 0.2)):
        xs = np.where(rng.random((int(load * n), n)) < 0.5, -1.0, 1.0).astype(np.float32)
        weights = storkey_weights(xs) if rule == "storkey" else hebb_weights(xs)
        assert lo <= retrieved_fraction(weights, xs, max_steps=50) <= hi


def test_retrieved_fraction_from_cues_measures_the_basin():
    xs = random_patterns(10, 200)
    w = hebb_weights(xs)
    assert retrieved_fraction(w, xs, flip(xs, 0.1)) == 1.0  # small load: wide basins
    assert retrieved_fraction(w, xs, flip(xs, 0.5)) < 0.5  # half the units flipped: no basin


@pytest.mark.parametrize("early_stop", [True, False])
def test_sync_recall_on_two_workers_matches_one(monkeypatch, early_stop):
    """The active cues split into shares that run on two threads: each share writes only its
    rows, so states, steps, convergence and the energy trace equal the one-thread run's."""
    import engram.runtime as runtime

    xs = random_patterns(12, 64)
    w = hebb_weights(xs) * np.float32(64)  # integer weights: every field exact
    cues = flip(np.repeat(xs, 5, axis=0), 0.3)
    runs = []
    for threads in (1, 2):
        monkeypatch.setattr(runtime, "blas_threads", lambda threads=threads: threads)
        runs.append(recall(w, cues, patterns=xs, chunk_size=7, early_stop=early_stop))
    one, two = runs
    np.testing.assert_array_equal(two.states, one.states)
    np.testing.assert_array_equal(two.steps, one.steps)
    np.testing.assert_array_equal(two.converged, one.converged)
    np.testing.assert_array_equal(two.energy, one.energy)


@pytest.mark.parametrize("early_stop", [True, False])
def test_sync_recall_in_place_on_two_workers_matches_the_plain_loop(monkeypatch, early_stop):
    """The states are updated in place: the first step writes straight into them, later steps
    copy back only the changed rows of each chunk, and once cues stop the active ones are
    gathered by index into each worker's scratch. Over two workers and chunks of 3 the states,
    steps, convergence and every row of the energy trace equal the plain loop's (integer
    weights: exact fields and energies)."""
    import engram.runtime as runtime

    xs = random_patterns(40, 64)
    w = hebb_weights(xs) * np.float32(64)
    np.round(w, out=w)
    cues = np.concatenate([flip(xs, 0.1), flip(xs, 0.3, seed=2), random_patterns(40, 64, 3)])
    s, visited = cues.copy(), [cues]
    for _ in range(12):  # the plain loop, keeping every state visited
        h = s @ w
        s = np.where(h > 0, 1.0, np.where(h < 0, -1.0, s)).astype(np.float32)
        visited.append(s)
    states, steps, converged = plain_sync_recall(w, cues, 12)
    monkeypatch.setattr(runtime, "blas_threads", lambda: 2)
    got = recall(w, cues, max_steps=12, chunk_size=3, early_stop=early_stop)
    np.testing.assert_array_equal(got.states, states)
    np.testing.assert_array_equal(got.steps, steps)
    np.testing.assert_array_equal(got.converged, converged)
    plain_energy = np.stack([energy(w, v) for v in visited])[: steps.max() + 1]
    np.testing.assert_array_equal(got.energy, plain_energy)
    np.testing.assert_array_equal(got.states, visited[-1])
    assert 0 < converged.sum() < len(cues) and steps.max() == 12
