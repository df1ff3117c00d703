"""Modern Hopfield networks: dense associative memory and the continuous (attention) update.

Two members of the family with energies sharper than the classic quadratic one:

- `DenseAssociativeMemory` (Krotov & Hopfield 2016): binary +/-1 states, energy
  E = -sum_mu F(xi_mu . s) with F(z) = z^n (polynomial) or exp(beta z) (exponential,
  Demircigil et al. 2017). Capacity grows like N^(n-1), or exponentially in N.
- `ModernHopfield` (Ramsauer et al. 2020): continuous states, update
  xi <- X^T softmax(beta X xi), usually converging in one step. With Q = beta * xi and
  K = V = X this is exactly transformer attention softmax(Q K^T) V (see `attention`). Its
  capacity is exponential too, with its own constant: Ramsauer et al.'s Theorem 3 stores at
  least sqrt(p) c^((d-1)/4) random patterns on a sphere with failure probability p (c = 1.37
  or 3.15 in their examples); the 2^(N/2) of the binary exponential network does not carry
  over.

Both are batched: recall of many cues is one pair of matrix products per step.

Reference:
    Krotov & Hopfield (2016), NeurIPS; Demircigil, Heusel, Loewe, Upgang & Vermet (2017),
    J. Stat. Phys. 168:288; Ramsauer et al. (2020), "Hopfield Networks is All You Need",
    arXiv:2008.02217 (ICLR 2021).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from engram.memory.hopfield import UPDATES, RecallResult
from engram.memory.patterns import check_cues, check_patterns
from engram.nn.functional import logsumexp
from engram.validation import Seed, as_rng, check_array, check_choice, check_positive

KINDS = ("polynomial", "exponential")


def check_beta(beta: Any) -> float:
    """Check the inverse temperature ``beta`` (> 0) and return it as a float."""
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
        raise TypeError(f"beta must be a positive number. Got {type(beta).__name__} {beta!r}.")
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(
            f"beta must be > 0 (the inverse temperature of the softmax: large beta retrieves "
            f"single patterns, small beta gives mixtures). Got {beta!r} instead. Try beta=1.0 "
            "for +/-1 patterns, or 1/sqrt(dim) as in attention."
        )
    return float(beta)


# ----------------------------------------------------------------------------- continuous


def attention(
    queries: np.ndarray, keys: np.ndarray, values: np.ndarray, scale: float | None = None
) -> np.ndarray:
    """Scaled dot-product attention, written out.

    Math:
        attention(Q, K, V) = softmax(scale * Q K^T) V      Q: (B, d), K: (P, d), V: (P, d_v)
        scale defaults to 1 / sqrt(d)

    Returns:
        (B, d_v) float32.
    """
    q = np.asarray(queries, np.float32)
    k = np.asarray(keys, np.float32)
    s = np.float32(1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    z = (q * s) @ k.T
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z @ np.asarray(values, np.float32)


#: bytes of scores the softmax works on at once: a block of rows that stays in the L2 cache
SOFTMAX_BLOCK_BYTES = 1 << 20


def _softmax_read_plain(q_scaled, x, scores, out):
    """out <- softmax(q_scaled X^T) X for one chunk, in place; returns (best, max_weight).

    The plain reference of `_softmax_read`: one pass over the whole (chunk, P) scores for
    each of the argmax, the shift, the exp and the row sums.
    """
    np.matmul(q_scaled, x.T, out=scores)
    best = np.argmax(scores, axis=1)
    top = scores[np.arange(len(scores)), best]
    scores -= top[:, None]
    np.exp(scores, out=scores)
    total = scores.sum(axis=1)
    np.matmul(scores, x, out=out)
    out /= total[:, None]
    return best, 1.0 / total


def _softmax_read(q_scaled, x, scores, out, ones):
    """`_softmax_read_plain`, with the softmax run block by block in the cache.

    The scores of a chunk (chunk * P * 4 bytes, 40 MB for 1,024 queries and 10,000 patterns)
    outgrow the caches, so four passes over them each came from memory; here the argmax, the
    shift and the exp of a block of rows (about `SOFTMAX_BLOCK_BYTES`) run while the block
    sits in L2, and its row sums are a matrix-vector product with ``ones`` ((P,) float32) in
    BLAS instead of NumPy's pairwise sum. The same values up to the order the row sums add
    in (tested against the plain reference).
    """
    np.matmul(q_scaled, x.T, out=scores)
    n, p = scores.shape
    best = np.empty(n, np.intp)
    total = np.empty(n, np.float32)
    rows = max(1, SOFTMAX_BLOCK_BYTES // (4 * p))
    for lo in range(0, n, rows):
        z = scores[lo : lo + rows]
        b = best[lo : lo + rows]
        np.argmax(z, axis=1, out=b)
        z -= z[np.arange(len(z)), b][:, None]
        np.exp(z, out=z)
        np.matmul(z, ones, out=total[lo : lo + rows])
    np.matmul(scores, x, out=out)
    out /= total[:, None]
    return best, 1.0 / total


def _empty_result(states: np.ndarray) -> ModernRecallResult:
    batch = len(states)
    return ModernRecallResult(
        states,
        np.zeros(batch, bool),
        np.zeros(batch, np.int64),
        np.zeros(batch, np.int64),
        np.zeros(batch, np.float32),
    )


def _recall_share(x, beta, result, share, max_steps, tol, chunk_size) -> None:
    """Recall queries lo:hi of `result.states` in place, chunk by chunk, with buffers of
    this share's own (each share writes only its rows of `result`)."""
    lo, hi = share
    size = min(chunk_size, hi - lo)
    scores = np.empty((size, len(x)), np.float32)
    ones = np.ones(len(x), np.float32)
    q = np.empty((size, x.shape[1]), np.float32)
    out = np.empty_like(q)
    for start in range(lo, hi, chunk_size):
        stop = min(start + chunk_size, hi)
        s = result.states[start:stop]
        n = stop - start
        for _ in range(max_steps):
            np.multiply(s, beta, out=q[:n])
            b, w = _softmax_read(q[:n], x, scores[:n], out[:n], ones)
            moved = np.abs(out[:n] - s).max(axis=1) >= tol
            result.steps[start:stop] += moved
            s[...] = out[:n]
            result.best_match[start:stop], result.max_attention[start:stop] = b, w
            if not moved.any():
                break
        result.converged[start:stop] = ~moved


def modern_energy(patterns: np.ndarray, states: np.ndarray, beta: float) -> np.ndarray:
    """Energy of the continuous modern Hopfield network, per state.

    Math:
        E(xi) = -1/beta log sum_mu exp(beta x_mu . xi) + 1/2 xi . xi + 1/beta log P + 1/2 M^2
        M = max_mu |x_mu|;  the update xi <- X^T softmax(beta X xi) never increases E

    Returns:
        (batch,) float64.

    Reference:
        Ramsauer et al. (2020), eq. (2).
    """
    x = np.asarray(patterns, np.float64)
    s = np.atleast_2d(np.asarray(states, np.float64))
    z = beta * (s @ x.T)
    lse = logsumexp(z, axis=1)
    big_m = np.sqrt((x * x).sum(axis=1).max())
    return -lse / beta + 0.5 * (s * s).sum(axis=1) + math.log(len(x)) / beta + 0.5 * big_m**2


@dataclass
class ModernRecallResult:
    """What `ModernHopfield.recall` returns, batched over queries.

    Args:
        states: (batch, dim) final states.
        converged: (batch,) whether the last update moved every coordinate by less than tol.
        steps: (batch,) updates that moved the state (by tol or more in some coordinate).
        best_match: (batch,) index of the stored pattern with the largest attention weight in
            the last update.
        max_attention: (batch,) that weight: near 1 is single-pattern retrieval, well below 1
            a metastable mixture.
    """

    states: np.ndarray
    converged: np.ndarray
    steps: np.ndarray
    best_match: np.ndarray
    max_attention: np.ndarray


class ModernHopfield:
    """Continuous modern Hopfield network (dense associative memory with softmax update).

    Math:
        update:  xi <- X^T softmax(beta X xi)            X: (P, d) stored patterns as rows
               = attention(Q = xi, K = X, V = X, scale = beta)
        energy:  see `modern_energy`
        beta large: converges to the nearest pattern in one step; beta small: to mixtures

    Args:
        beta: inverse temperature, > 0.

    Raises:
        ValueError: beta <= 0; patterns with NaN or of the wrong rank; queries of the wrong
            length.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> xs = np.where(rng.random((1000, 64)) < 0.5, -1.0, 1.0)
        >>> net = ModernHopfield(beta=1.0).store(xs)
        >>> cue = xs[7] * np.where(rng.random(64) < 0.2, -1, 1)
        >>> int(net.recall(cue).best_match[0])
        7

    Reference:
        Ramsauer et al. (2020), "Hopfield Networks is All You Need", arXiv:2008.02217.
    """

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = check_beta(beta)
        self.patterns: np.ndarray | None = None

    @property
    def n_patterns(self) -> int:
        return 0 if self.patterns is None else len(self.patterns)

    def store(self, patterns: Any) -> ModernHopfield:
        """Add (P, d) or (d,) real-valued patterns; storing one more is appending one row."""
        new = check_array(patterns, "patterns", ndim=(1, 2), dtype=np.float32)
        new = np.atleast_2d(new)
        if self.patterns is not None and new.shape[1] != self.patterns.shape[1]:
            raise ValueError(
                f"patterns must have dimension {self.patterns.shape[1]}, like those already "
                f"stored, but received shape {new.shape}."
            )
        old = self.patterns
        self.patterns = np.ascontiguousarray(new if old is None else np.concatenate([old, new]))
        return self

    def _queries(self, queries: Any) -> np.ndarray:
        if self.patterns is None:
            raise ValueError("This ModernHopfield stores no patterns yet. Call store() first.")
        q = check_array(queries, "queries", ndim=(1, 2), dtype=np.float32)
        d = self.patterns.shape[1]
        if q.shape[-1] != d:
            raise ValueError(
                f"queries must have dimension {d} (the stored patterns' length), but received "
                f"shape {q.shape}. Pass queries of shape (batch, {d}) or ({d},)."
            )
        return np.array(np.atleast_2d(q), np.float32, order="C")

    def recall(
        self, queries: Any, max_steps: int = 1, tol: float = 1e-4, chunk_size: int = 1024
    ) -> ModernRecallResult:
        """Apply the update to (batch, d) queries up to ``max_steps`` times (or until stable).

        Per chunk of queries and step: one (chunk, d) x (d, P) product for the scores, a
        softmax in place, one (chunk, P) x (P, d) product for the read-out. The scores take
        chunk_size * P * 4 bytes per worker: lower chunk_size for very many stored patterns.
        The queries are split into one contiguous share per BLAS thread and the shares run at
        once (`engram.runtime.parallel_map`), so the softmax, which NumPy runs on one core,
        runs on all of them; `recall_serial` is the same computation in one loop.
        """
        from engram.runtime import blas_threads, parallel_map

        check_positive(max_steps, "max_steps", integer=True)
        check_positive(chunk_size, "chunk_size", integer=True)
        states = self._queries(queries)
        result = _empty_result(states)
        workers = min(blas_threads(), -(-len(states) // chunk_size))
        bounds = np.linspace(0, len(states), workers + 1).astype(int)
        shares = [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]
        beta = np.float32(self.beta)
        parallel_map(
            lambda share: _recall_share(
                self.patterns, beta, result, share, max_steps, tol, chunk_size
            ),
            shares,
        )
        return result

    def recall_serial(
        self, queries: Any, max_steps: int = 1, tol: float = 1e-4, chunk_size: int = 1024
    ) -> ModernRecallResult:
        """`recall` in one loop on the calling thread: the reference the parallel path is
        tested against."""
        check_positive(max_steps, "max_steps", integer=True)
        check_positive(chunk_size, "chunk_size", integer=True)
        states = self._queries(queries)
        result = _empty_result(states)
        share = (0, len(states))
        _recall_share(self.patterns, np.float32(self.beta), result, share, max_steps, tol,
                      chunk_size)  # fmt: skip
        return result

    def attention_weights(self, queries: Any) -> np.ndarray:
        """(batch, P) softmax(beta X xi) for each query: how much each memory is read."""
        q = self._queries(queries) * np.float32(self.beta)
        z = q @ self.patterns.T
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        return z / z.sum(axis=1, keepdims=True)

    def energy(self, states: Any) -> np.ndarray:
        """(batch,) energies, `modern_energy`."""
        return modern_energy(self.patterns, self._queries(states), self.beta)


# ----------------------------------------------------------------------------- binary (dense)


def _interaction(kind: str, z: np.ndarray, degree: int, beta: float, shift: np.ndarray):
    """F(z) scaled by a positive per-row factor (the sign of any F difference is unchanged)."""
    if kind == "polynomial":
        return (z / shift) ** degree
    return np.exp(beta * (z - shift))


def dense_energy(
    patterns: np.ndarray,
    states: np.ndarray,
    kind: str = "polynomial",
    degree: int = 3,
    beta: float = 1.0,
) -> np.ndarray:
    """Energy of the dense associative memory, per state.

    Math:
        E(s) = -sum_mu F(xi_mu . s),  F(z) = z^degree  or  F(z) = exp(beta z)

    Returns:
        (batch,) float64 (exponential energies overflow to -inf once beta * N > ~700).
    """
    z = np.atleast_2d(np.asarray(states, np.float64)) @ np.asarray(patterns, np.float64).T
    if kind == "polynomial":
        return -(z**degree).sum(axis=1)
    with np.errstate(over="ignore"):
        return -np.exp(beta * z).sum(axis=1)


def _dense_fields(x, s, kind, degree, beta):
    """Local fields of every unit, all at once, with unit i left out of its own overlaps.

    With Z = s X^T and D(z) = F(z + 1) - F(z - 1), the Krotov-Hopfield field
    sum_mu [F(xi_mui + z_mu^(i)) - F(-xi_mui + z_mu^(i))] equals
    (A X)_i + s_i b, A = (F(Z + 2) - F(Z - 2)) / 2, b = sum_mu (2 F(Z) - F(Z + 2) - F(Z - 2)) / 2.
    """
    z = s @ x.T
    if kind == "exponential":
        shift = z.max(axis=1, keepdims=True)
    else:  # exact integer arithmetic while z^degree fits a float64 mantissa, else rescale
        shift = np.max(np.abs(z), axis=1, keepdims=True) + 2
        shift = np.where(shift**degree < 2.0**52, 1.0, shift)
    f0, fp, fm = (_interaction(kind, z + k, degree, beta, shift) for k in (0, 2, -2))
    return 0.5 * (fp - fm) @ x + s * (0.5 * (2 * f0 - fp - fm).sum(axis=1, keepdims=True))


class DenseAssociativeMemory:
    """Krotov-Hopfield dense associative memory for binary +/-1 states.

    Math:
        E(s) = -sum_mu F(xi_mu . s)
        s_i <- sign( sum_mu [F(xi_mui + sum_{j!=i} xi_muj s_j) - F(-xi_mui + sum_{j!=i} ...)] )
        F(z) = z^degree (capacity ~ N^(degree-1)) or exp(beta z) (capacity ~ 2^(N/2))
        degree=2 is the classic Hopfield network

    Args:
        kind: ``"polynomial"`` or ``"exponential"``.
        degree: the polynomial's power n (>= 2).
        beta: the exponential's inverse temperature (> 0).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> xs = np.where(rng.random((40, 64)) < 0.5, -1, 1)    # load 0.6, hopeless for Hebb
        >>> net = DenseAssociativeMemory("polynomial", degree=4).store(xs)
        >>> cue = xs[:1] * np.where(rng.random(64) < 0.1, -1, 1)
        >>> float(net.recall(cue).overlaps[0, 0])
        1.0

    Reference:
        Krotov & Hopfield (2016), "Dense associative memory for pattern recognition", NeurIPS;
        Demircigil et al. (2017), J. Stat. Phys. 168:288.
    """

    def __init__(self, kind: str = "polynomial", degree: int = 3, beta: float = 1.0) -> None:
        self.kind = check_choice(kind, "kind", KINDS)
        self.degree = check_positive(degree, "degree", integer=True)
        self.beta = check_beta(beta)
        self.patterns: np.ndarray | None = None

    def store(self, patterns: Any) -> DenseAssociativeMemory:
        """Add (P, N) or (N,) +/-1 patterns; the memory is the pattern matrix itself."""
        new = check_patterns(patterns)
        old = self.patterns
        if old is not None and new.shape[1] != old.shape[1]:
            raise ValueError(
                f"patterns must have {old.shape[1]} units, like those already stored, but "
                f"received shape {new.shape}."
            )
        self.patterns = new if old is None else np.concatenate([old, new])
        return self

    def energy(self, states: Any) -> np.ndarray:
        """(batch,) energies, `dense_energy`."""
        s = check_cues(states, self.patterns.shape[1], "states")
        return dense_energy(self.patterns, s, self.kind, self.degree, self.beta)

    def recall(
        self, cues: Any, update: str = "sync", max_steps: int = 20, seed: Seed = None
    ) -> RecallResult:
        """Recall from +/-1 cues; returns a `engram.memory.RecallResult` (with energies)."""
        if self.patterns is None:
            raise ValueError("This memory stores no patterns yet. Call store() first.")
        check_choice(update, "update", UPDATES)
        x = self.patterns.astype(np.float64)
        s = check_cues(cues, x.shape[1]).astype(np.float64)
        rng = as_rng(seed)
        trace = [dense_energy(x, s, self.kind, self.degree, self.beta)]
        steps = np.zeros(len(s), np.int64)
        changed = np.ones(len(s), bool)
        for _ in range(max_steps):
            old = s.copy()
            if update == "sync":
                h = _dense_fields(x, s, self.kind, self.degree, self.beta)
                s = np.where(h > 0, 1.0, np.where(h < 0, -1.0, s))
            else:
                for i in rng.permutation(x.shape[1]):
                    h = _dense_fields(x, s, self.kind, self.degree, self.beta)[:, i]
                    s[:, i] = np.where(h > 0, 1.0, np.where(h < 0, -1.0, s[:, i]))
            changed = (s != old).any(axis=1)
            steps += changed
            trace.append(dense_energy(x, s, self.kind, self.degree, self.beta))
            if not changed.any():
                break
        states = s.astype(np.float32)
        overlaps = states @ self.patterns.T / np.float32(x.shape[1])
        return RecallResult(states, ~changed, steps, overlaps, np.array(trace))
