"""Modern Hopfield network and dense associative memory."""

import numpy as np
import pytest

from engram.memory import Hopfield
from engram.memory.modern_hopfield import (
    DenseAssociativeMemory,
    ModernHopfield,
    _dense_fields,
    _softmax_read,
    _softmax_read_plain,
    attention,
    dense_energy,
    modern_energy,
)


def random_patterns(p, n, seed=0):
    rng = np.random.default_rng(seed)
    return np.where(rng.random((p, n)) < 0.5, -1.0, 1.0).astype(np.float32)


def flip(x, fraction, seed=1):
    rng = np.random.default_rng(seed)
    return x * np.where(rng.random(x.shape) < fraction, -1.0, 1.0).astype(np.float32)


def test_one_update_is_attention_with_query_xi_and_keys_values_the_memories():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 16)).astype(np.float32)
    q = rng.normal(size=(7, 16)).astype(np.float32)
    beta = 0.7
    net = ModernHopfield(beta=beta).store(x)
    updated = net.recall(q, max_steps=1).states
    np.testing.assert_allclose(updated, attention(q, x, x, scale=beta), atol=1e-5)
    np.testing.assert_allclose(net.attention_weights(q) @ x, updated, atol=1e-5)
    torch = pytest.importorskip("torch")
    t = torch.nn.functional.scaled_dot_product_attention(
        torch.from_numpy(q)[None], torch.from_numpy(x)[None], torch.from_numpy(x)[None],
        scale=beta,
    )[0].numpy()  # fmt: skip
    np.testing.assert_allclose(updated, t, atol=1e-5)


def test_retrieves_one_of_many_more_patterns_than_units():
    xs = random_patterns(2000, 64)
    net = ModernHopfield(beta=1.0).store(xs)
    result = net.recall(flip(xs[:200], 0.1), max_steps=3)  # 2000 patterns in 64 units
    np.testing.assert_array_equal(result.best_match, np.arange(200))
    np.testing.assert_allclose(result.states, xs[:200], atol=1e-3)
    assert result.max_attention.min() > 0.99 and result.converged.all()


def test_small_beta_gives_a_metastable_mixture():
    xs = random_patterns(100, 64)
    cue = flip(xs[:1], 0.2)
    sharp = ModernHopfield(beta=1.0).store(xs).recall(cue)
    soft = ModernHopfield(beta=0.005).store(xs).recall(cue)
    assert sharp.max_attention[0] > 0.99 and soft.max_attention[0] < 0.05
    mean = xs.mean(axis=0)
    assert np.abs(soft.states[0] - mean).max() < np.abs(soft.states[0] - xs[0]).max()


def test_energy_decreases_under_the_update():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 10))
    net = ModernHopfield(beta=2.0).store(x)
    s = rng.normal(size=(5, 10)).astype(np.float32)
    energies = [net.energy(s)]
    for _ in range(4):
        s = net.recall(s, max_steps=1).states
        energies.append(net.energy(s))
    assert np.all(np.diff(np.array(energies), axis=0) <= 1e-5)
    np.testing.assert_allclose(modern_energy(x, s, 2.0), energies[-1], rtol=1e-5)


def test_chunked_recall_matches_unchunked():
    xs = random_patterns(300, 32)
    net = ModernHopfield(beta=0.3).store(xs)
    cues = flip(xs[:50], 0.3)
    a = net.recall(cues, max_steps=3, chunk_size=7)
    b = net.recall(cues, max_steps=3, chunk_size=512)
    np.testing.assert_allclose(a.states, b.states, atol=1e-5)  # BLAS blocking differs
    np.testing.assert_array_equal(a.best_match, b.best_match)


@pytest.mark.parametrize(
    "kind, degree, beta", [("polynomial", 2, 1.0), ("polynomial", 3, 1.0), ("polynomial", 5, 1.0),
                           ("exponential", 3, 0.5)]
)  # fmt: skip
def test_dense_fields_match_the_definition(kind, degree, beta):
    x = random_patterns(6, 11).astype(np.float64)
    s = random_patterns(3, 11, seed=4).astype(np.float64)
    f = (lambda z: z**degree) if kind == "polynomial" else (lambda z: np.exp(beta * z))
    brute = np.zeros_like(s)
    for b in range(len(s)):
        for i in range(x.shape[1]):
            z = x @ s[b] - x[:, i] * s[b, i]
            brute[b, i] = np.sum(f(z + x[:, i]) - f(z - x[:, i]))
    fields = _dense_fields(x, s, kind, degree, beta)
    np.testing.assert_array_equal(np.sign(fields), np.sign(np.round(brute, 9)))


def test_degree_two_is_the_classic_hopfield_network():
    xs = random_patterns(8, 64)  # N a power of two keeps the classic weights exact in float32
    cues = flip(xs, 0.3)
    dense = DenseAssociativeMemory("polynomial", degree=2).store(xs).recall(cues)
    classic = Hopfield("hebb").store(xs).recall(cues)
    np.testing.assert_array_equal(dense.states, classic.states)


@pytest.mark.parametrize("kind", ["polynomial", "exponential"])
def test_dense_memory_beats_the_classic_capacity(kind):
    xs = random_patterns(40, 64)  # load 0.63
    cues = flip(xs, 0.1)
    net = DenseAssociativeMemory(kind, degree=4, beta=0.5).store(xs)
    result = net.recall(cues)
    assert (np.diag(result.overlaps) == 1).all()
    with pytest.warns(UserWarning, match="above"):
        classic = Hopfield("hebb").store(xs)
    assert np.diag(classic.recall(cues).overlaps).mean() < 0.9


@pytest.mark.parametrize("kind", ["polynomial", "exponential"])
def test_dense_energy_never_increases_under_async_updates(kind):
    xs = random_patterns(30, 40)
    cues = random_patterns(4, 40, seed=9)
    net = DenseAssociativeMemory(kind, degree=3, beta=0.2).store(xs)
    result = net.recall(cues, update="async", seed=0)
    assert np.all(np.diff(result.energy, axis=0) <= 1e-9 * np.abs(result.energy).max())
    np.testing.assert_allclose(result.energy[0], dense_energy(xs, cues, kind, 3, 0.2))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("beta", [0, -1.0, float("nan"), float("inf")])
def test_beta_must_be_positive(beta):
    with pytest.raises(ValueError, match=r"beta must be > 0 \(the inverse temperature"):
        ModernHopfield(beta=beta)
    with pytest.raises(ValueError, match="beta must be > 0"):
        DenseAssociativeMemory("exponential", beta=beta)


def test_beta_must_be_a_number():
    with pytest.raises(TypeError, match="beta must be a positive number"):
        ModernHopfield(beta="1")


def test_query_and_pattern_shapes_are_checked():
    net = ModernHopfield().store(np.ones((3, 8)))
    with pytest.raises(ValueError, match=r"queries must have dimension 8.*shape \(2, 7\)"):
        net.recall(np.ones((2, 7)))
    with pytest.raises(ValueError, match=r"patterns must have dimension 8"):
        net.store(np.ones((1, 9)))
    with pytest.raises(ValueError, match="rectangular"):
        ModernHopfield().store([[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match="stores no patterns yet"):
        ModernHopfield().recall(np.ones(3))


def test_dense_memory_input_checks():
    with pytest.raises(ValueError, match="kind must be one of 'polynomial', 'exponential'"):
        DenseAssociativeMemory("cubic")
    with pytest.raises(ValueError, match=r"only -1 and \+1.*binarize"):
        DenseAssociativeMemory().store(np.array([[0, 1, 1]]))
    net = DenseAssociativeMemory().store(random_patterns(2, 10))
    with pytest.raises(ValueError, match=r"10 units per cue"):
        net.recall(np.ones(9))


@pytest.mark.parametrize("batch, chunk", [(1, 4), (7, 3), (50, 16), (50, 512)])
def test_parallel_recall_matches_the_serial_reference(batch, chunk):
    xs = random_patterns(300, 32)
    net = ModernHopfield(beta=0.3).store(xs)
    cues = flip(xs[:batch], 0.3)
    fast = net.recall(cues, max_steps=3, chunk_size=chunk)
    ref = net.recall_serial(cues, max_steps=3, chunk_size=chunk)
    np.testing.assert_allclose(fast.states, ref.states, atol=1e-6)
    for name in ("converged", "steps", "best_match"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(ref, name))
    np.testing.assert_allclose(fast.max_attention, ref.max_attention, rtol=1e-6)


def test_parallel_recall_on_two_workers_matches_one(monkeypatch):
    """Two shares run on two threads write only their own rows: the same as one thread."""
    import engram.runtime as runtime

    xs = random_patterns(200, 24)
    net = ModernHopfield(beta=0.5).store(xs)
    cues = flip(xs[:40], 0.25)
    monkeypatch.setattr(runtime, "blas_threads", lambda: 1)
    one = net.recall(cues, max_steps=2, chunk_size=8)
    monkeypatch.setattr(runtime, "blas_threads", lambda: 2)
    two = net.recall(cues, max_steps=2, chunk_size=8)
    np.testing.assert_allclose(two.states, one.states, atol=1e-6)
    np.testing.assert_array_equal(two.best_match, one.best_match)


def test_recall_rejects_a_bad_chunk_size():
    net = ModernHopfield(beta=0.5).store(random_patterns(5, 8))
    with pytest.raises(ValueError, match="chunk_size"):
        net.recall(random_patterns(2, 8), chunk_size=0)


@pytest.mark.parametrize("block_bytes", [1 << 20, 3 * 4 * 70])
@pytest.mark.parametrize("beta", [0.05, 1.0, 40.0])
def test_blocked_softmax_read_matches_the_plain_reference(monkeypatch, block_bytes, beta):
    """Blocks of rows in cache (one block, or 3 rows each with a ragged last block): the same
    read-out, best match and largest weight as one pass over the whole chunk, also where beta
    makes the scores overflow float32's exp without the shift (beta 40: scores ~ 1,000)."""
    import engram.memory.modern_hopfield as modern

    monkeypatch.setattr(modern, "SOFTMAX_BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(70, 24)).astype(np.float32)
    q = (x[rng.integers(0, 70, 11)] + rng.normal(size=(11, 24))).astype(np.float32) * beta
    out, ref = np.empty((11, 24), np.float32), np.empty((11, 24), np.float32)
    best, weight = _softmax_read(q, x, np.empty((11, 70), np.float32), out, np.ones(70, np.float32))
    ref_best, ref_weight = _softmax_read_plain(q, x, np.empty((11, 70), np.float32), ref)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(best, ref_best)
    np.testing.assert_allclose(weight, ref_weight, rtol=1e-5)
