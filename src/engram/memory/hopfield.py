"""Classic Hopfield network: binary +/-1 units, recall as descent on an energy.

A memory is stored by changing connections (the weight matrix) and recalled as a pattern of
activity: a cue relaxes, one unit flip at a time (asynchronous) or all at once (synchronous),
into a fixed point of the dynamics, ideally the stored pattern closest to it.

`recall` is a pure function of a weight matrix and cues, batched over cues; `Hopfield` is the
class that keeps the stored patterns and weights. The learning rules (``hebb_weights``,
``storkey_weights``, ``pseudo_inverse_weights``) live in `engram.memory.hopfield_rules`, the
published capacities in `engram.memory.capacity`, and the +/-1 pattern helpers (``binarize``,
``flip_bits``, the input checks) in `engram.memory.patterns`.

Reference:
    Hopfield (1982), PNAS 79:2554. Amit, Gutfreund & Sompolinsky (1985), Phys. Rev. Lett.
    55:1530. Storkey (1997), ICANN. Personnaz, Guyon & Dreyfus (1985); Kanter & Sompolinsky
    (1987), Phys. Rev. A 35:380.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from engram.memory.capacity import CapacityWarning, published_capacity
from engram.memory.hopfield_rules import RULES, update_weights
from engram.memory.patterns import check_cues, check_patterns
from engram.validation import Seed, as_rng, check_choice, check_positive

UPDATES = ("sync", "async")


# ----------------------------------------------------------------------------- dynamics


@dataclass
class RecallResult:
    """What recall returns, batched over cues.

    Args:
        states: (batch, n_units) final states.
        converged: (batch,) whether a fixed point was reached within the step limit.
        steps: (batch,) number of updates (sweeps for async) that changed the state.
        overlaps: (batch, n_patterns) overlap m = xi . s / N of each final state with every
            stored pattern (1 is perfect recall, -1 the inverted pattern).
        energy: (n_steps + 1, batch) energy of the states visited, or None if not tracked.
    """

    states: np.ndarray
    converged: np.ndarray
    steps: np.ndarray
    overlaps: np.ndarray
    energy: np.ndarray | None = None

    @property
    def best_match(self) -> np.ndarray:
        """(batch,) index of the stored pattern each final state overlaps most."""
        return np.argmax(self.overlaps, axis=1)

    @property
    def best_overlap(self) -> np.ndarray:
        """(batch,) the largest overlap of each final state with a stored pattern."""
        return np.max(self.overlaps, axis=1)


def energy(weights: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Hopfield energy of each state.

    Math:
        E(s) = -1/2 s^T W s          s: (N,) in {-1, +1}; batched over rows of ``states``

    Returns:
        (batch,) float64 energies (a single state gives shape (1,)).
    """
    s = np.atleast_2d(np.asarray(states, dtype=np.float64))
    return -0.5 * np.einsum("bi,bi->b", s @ np.asarray(weights, np.float64), s)


#: float32 bit patterns: the sign bit, and 1.0 (a sign bit OR-ed into it gives +1.0 or -1.0)
_SIGN_BIT = np.int32(-(2**31))
_ONE_BITS = np.int32(0x3F800000)


def _sign_keep_ties(fields: np.ndarray, states: np.ndarray, ties: np.ndarray) -> None:
    """fields <- sign(fields) in place, where a zero field keeps the unit's current state.

    Plain form: ``np.where(fields > 0, 1, np.where(fields < 0, -1, states))`` (tested equal).
    ``ties`` is a boolean scratch buffer of the same shape. The sign is written as bits: each
    float32 keeps its sign bit and takes 1.0's exponent and mantissa, two integer passes that
    run at copy speed (np.copysign(1, fields) is the same numbers at half that speed, np.sign
    ~10x slower); exact zeros, which that maps to +/-1, are found first.
    """
    np.equal(fields, 0, out=ties)
    has_ties = ties.any()
    bits = fields.view(np.int32)
    np.bitwise_and(bits, _SIGN_BIT, out=bits)
    np.bitwise_or(bits, _ONE_BITS, out=bits)
    if has_ties:
        np.copyto(fields, states, where=ties)


def _sync_recall(w, cues, max_steps, trace, early_stop, chunk_size):
    """Synchronous updates of all cues; returns (states, moving, steps), ``cues`` unchanged.

    The states live in one array, in the cues' order, updated in place chunk by chunk: the
    first step reads the cues and writes its signs straight into the states; later steps write
    each chunk's fields into a scratch buffer of its worker (reused, so it stays in cache),
    take their signs there and copy the chunk back. With ``early_stop`` a cue that reaches a
    fixed point stays where it is (its state is final) and leaves the active set: later steps
    gather the active cues chunk by chunk into scratch (the product then reads them from
    cache) and scatter them back, so all of them are multiplied together and no rows move
    between buffers. (Two buffers the steps alternated between, with the active cues
    compacted in them and the finished ones copied to a third, spent 25-35 ms of a 0.35-0.54 s
    two-thread recall between the steps, on one core: those copies and the first writes to
    the third buffer; bench/README.md, "Issue 17, Hopfield, early stop in place".)
    """
    from engram.runtime import blas_threads, parallel_map

    batch, units = cues.shape
    states = cues.copy() if not max_steps else np.empty_like(cues)
    active = None  # the cues still updated, ascending, once some stopped (None: all)
    steps = np.zeros(batch, np.int64)
    moving = np.ones(batch, bool)
    workers = blas_threads()
    size = min(chunk_size, batch)
    # per worker: fields, gathered states, ties (untouched pages cost nothing)
    scratch = [
        (np.empty((size, units), np.float32), np.empty((size, units), np.float32),
         np.empty((size, units), bool))
        for _ in range(workers)
    ]  # fmt: skip
    for t in range(max_steps):
        m = batch if active is None else len(active)
        changed = np.empty(m, bool)
        shares = _shares(m, workers, chunk_size)
        source = cues if t == 0 else states
        step = functools.partial(
            _sync_share, w, source, states, active, changed, trace, t, chunk_size, scratch
        )
        parallel_map(step, shares)
        if active is None:
            steps += changed
        else:
            steps[active] += changed
        if early_stop and not changed.all():
            done = np.flatnonzero(~changed) if active is None else active[~changed]
            moving[done] = False
            if trace is not None:
                trace[t + 1 :, done] = trace[t, done]
            active = np.flatnonzero(changed) if active is None else active[changed]
            if not len(active):
                break
    if not early_stop and max_steps:
        moving = changed
    return states, moving, steps


def _shares(m: int, workers: int, chunk_size: int) -> list[tuple[int, int, int]]:
    """(worker, lo, hi): one contiguous share of the ``m`` active cues per BLAS thread, all
    at once (the sign and the comparisons, which NumPy runs on one core, then run on every
    core); fewer than ``chunk_size`` cues make one share, whose product runs on OpenBLAS's
    threads."""
    n_shares = min(workers, -(-m // chunk_size))
    bounds = np.linspace(0, m, n_shares + 1).astype(int)
    return [(i, int(bounds[i]), int(bounds[i + 1])) for i in range(n_shares)]


def _sync_share(w, source, states, active, changed, trace, t, chunk_size, scratch, share):
    """One synchronous update of the active cues lo:hi (places in ``active``, or cue indices
    when all are active) from ``source`` into ``states``, chunk by chunk, writing their
    ``changed`` flags (and energies into ``trace``); ``scratch[i]`` is this share's."""
    i, lo, hi = share
    fields, gathered, ties = scratch[i]
    units = states.shape[1]
    direct = active is None and source is not states  # the first step: no copy back
    for start in range(lo, hi, chunk_size):
        stop = min(start + chunk_size, hi)
        k = stop - start
        if active is None:
            rows = slice(start, stop)
            s = source[rows]
        else:
            rows = active[start:stop]
            s = np.take(source, rows, axis=0, out=gathered[:k], mode="clip")  # unbuffered
        h = states[rows] if direct else fields[:k]
        np.matmul(s, w, out=h)  # local fields h = s W
        if trace is not None:
            trace[t, rows] = -0.5 * np.einsum("bi,bi->b", s, h)
        _sign_keep_ties(h, s, ties[:k])
        # rows are +/-1, so s . s_new == N exactly when nothing changed
        flags = changed[start:stop]
        np.not_equal(np.einsum("bi,bi->b", s, h), units, out=flags)
        if direct:
            continue
        # a cue that did not change has h equal to its state: only the changed rows go back
        # (after the first few steps of a 20-step run, about 1 in 100)
        if flags.all():
            states[rows] = h
        elif flags.any():
            moved = np.flatnonzero(flags)
            states[start + moved if active is None else rows[moved]] = h[moved]


def _async_chunk(w, s, rng, max_steps, energy_rows):
    """Asynchronous sweeps, in place in ``s`` (one random unit order per sweep, shared by the
    chunk); returns (changed, steps)."""
    n = s.shape[1]
    wt = np.ascontiguousarray(w.T)
    steps = np.zeros(len(s), np.int64)
    changed = np.ones(len(s), bool)
    for t in range(max_steps):
        if energy_rows is not None:
            energy_rows[t] = -0.5 * np.einsum("bi,bi->b", s @ w, s)
        changed = np.zeros(len(s), bool)
        for i in rng.permutation(n):
            h = s @ wt[i]
            new = np.where(h > 0, np.float32(1), np.where(h < 0, np.float32(-1), s[:, i]))
            changed |= new != s[:, i]
            s[:, i] = new
        steps += changed
        if not changed.any():
            if energy_rows is not None:
                energy_rows[t + 1 :] = energy_rows[t]
            return changed, steps
    return changed, steps


def recall(
    weights: np.ndarray,
    cues: np.ndarray,
    *,
    update: str = "sync",
    max_steps: int = 20,
    seed: Seed = None,
    track_energy: bool = True,
    patterns: np.ndarray | None = None,
    chunk_size: int = 1024,
    early_stop: bool = True,
) -> RecallResult:
    """Let cues relax under the network's dynamics until a fixed point or ``max_steps``.

    Math:
        h = W s                              (local fields)
        s_i <- sign(h_i),  s_i unchanged when h_i = 0
        sync:  all units at once, one matrix product per step for the whole batch
        async: one unit at a time in a random order; a step is one sweep over all units;
               with symmetric W and zero diagonal, E = -1/2 s^T W s never increases

    Args:
        weights: (N, N) float32 weights.
        cues: (batch, N) +/-1 float32 (checked by the caller).
        update: ``"sync"`` or ``"async"``.
        max_steps: most updates (sync) or sweeps (async) per cue.
        seed: randomness for the async unit order.
        track_energy: record the energy of every state visited.
        patterns: (P, N) stored patterns to report overlaps with; None gives an empty overlap.
        chunk_size: cues multiplied together (keeps buffers in cache; the result is the same).
        early_stop: (sync) stop updating each cue once it reaches a fixed point, so later steps
            multiply only the cues still moving; False runs all ``max_steps`` updates for every
            cue, which changes nothing but the time (for benchmarks).

    Returns:
        `RecallResult`.
    """
    check_choice(update, "update", UPDATES)
    w = np.ascontiguousarray(weights, dtype=np.float32)
    cues = np.ascontiguousarray(cues, dtype=np.float32)  # read only: never written to
    batch, n = cues.shape
    rng = as_rng(seed)
    steps = np.zeros(batch, np.int64)
    converged = np.zeros(batch, bool)
    trace = np.empty((max_steps + 1, batch), np.float64) if track_energy else None
    if update == "sync":
        states, changed, steps = _sync_recall(w, cues, max_steps, trace, early_stop, chunk_size)
        converged = ~changed
    else:
        states = cues.copy()
        for lo in range(0, batch, chunk_size):
            hi = min(lo + chunk_size, batch)
            rows = None if trace is None else trace[:, lo:hi]
            changed, k = _async_chunk(w, states[lo:hi], rng, max_steps, rows)
            steps[lo:hi], converged[lo:hi] = k, ~changed
    if trace is not None and not converged.all():  # limit reached: the last row is kept
        trace[max_steps] = energy(w, states)
    if patterns is None:
        overlaps = np.zeros((batch, 0), np.float32)
    else:
        overlaps = states @ np.asarray(patterns, np.float32).T / np.float32(n)
    if trace is not None:  # keep the steps up to the last change of any cue
        trace = trace[: int(steps.max(initial=0)) + 1]
    return RecallResult(states, converged, steps, overlaps, trace)


def retrieved_fraction(
    weights: np.ndarray,
    patterns: np.ndarray,
    cues: np.ndarray | None = None,
    *,
    overlap: float = 0.95,
    update: str = "sync",
    max_steps: int = 20,
    seed: Seed = None,
) -> float:
    """Share of stored patterns whose recall ends with overlap > ``overlap`` with the pattern.

    With ``cues=None`` recall starts at the stored patterns themselves: this measures whether
    a retrieval state near each pattern exists and is stable, the quantity whose breakdown at
    alpha_c = 0.138 Amit, Gutfreund & Sompolinsky (1985) computed. With cues (row i a corrupted
    copy of pattern i) it measures the basin of attraction instead, which shrinks before the
    retrieval state disappears.

    Math:
        m_i = xi_i . s_i(final) / N;   fraction = mean_i [m_i > overlap]

    Args:
        weights: (N, N) float32 weights.
        patterns: (P, N) +/-1 stored patterns.
        cues: (P, N) +/-1 starting states, or None to start at ``patterns``.
        overlap: the final overlap above which a pattern counts as retrieved.
        update, max_steps, seed: as in `recall`.

    Returns:
        The fraction in [0, 1].

    Example:
        >>> from engram.memory.hopfield_rules import hebb_weights
        >>> xs = np.where(np.random.default_rng(0).random((5, 200)) < 0.5, -1.0, 1.0)
        >>> retrieved_fraction(hebb_weights(xs), xs)
        1.0
    """
    x = np.asarray(patterns, np.float32)
    start = x if cues is None else cues
    out = recall(weights, start, update=update, max_steps=max_steps, seed=seed,
                 track_energy=False)  # fmt: skip
    m = np.einsum("ij,ij->i", out.states, x) / np.float32(x.shape[1])
    return float(np.mean(m > overlap))


# ----------------------------------------------------------------------------- the network


class Hopfield:
    """Classic Hopfield network of binary +/-1 units.

    Math:
        store:   W from the patterns by ``rule`` (see `engram.memory.hopfield_rules`); zero
                 diagonal, symmetric
        recall:  s_i <- sign(sum_j W_ij s_j) until nothing changes (see `recall`)
        energy:  E(s) = -1/2 s^T W s
        load:    alpha = P / N; published capacity per rule in `published_capacity`

    Args:
        rule: ``"hebb"``, ``"storkey"`` or ``"pseudo_inverse"``.

    Attributes (after `store`):
        patterns: (P, N) stored patterns; weights: (N, N) float32.

    Raises:
        ValueError: unknown rule; patterns or cues that are not +/-1, ragged or of the wrong
            length.

    Warns:
        CapacityWarning: storing more than the rule's published capacity (allowed: the load
            and capacity stay readable as ``load``, ``capacity``, ``above_capacity``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> xs = np.where(rng.random((5, 100)) < 0.5, -1, 1)
        >>> net = Hopfield("hebb").store(xs)
        >>> cue = xs[:1].copy(); cue[0, :10] *= -1
        >>> float(net.recall(cue).overlaps[0, 0])
        1.0

    Reference:
        Hopfield (1982), PNAS 79:2554.
    """

    def __init__(self, rule: str = "hebb") -> None:
        self.rule = rule
        check_choice(rule, "rule", RULES)
        self.patterns: np.ndarray | None = None
        self.weights: np.ndarray | None = None

    @property
    def n_units(self) -> int:
        return 0 if self.patterns is None else self.patterns.shape[1]

    @property
    def n_patterns(self) -> int:
        return 0 if self.patterns is None else self.patterns.shape[0]

    @property
    def load(self) -> float:
        """alpha = P / N."""
        return self.n_patterns / self.n_units if self.n_units else 0.0

    @property
    def capacity(self) -> float:
        """The rule's published capacity, in patterns, at this network size."""
        return published_capacity(self.rule, self.n_units) if self.n_units else 0.0

    @property
    def above_capacity(self) -> bool:
        return self.n_patterns > self.capacity

    def store(self, patterns: Any) -> Hopfield:
        """Add patterns ((P, N) or (N,), +/-1) to the memory; returns self.

        Hebb and Storkey add them incrementally (one outer product / rank-2 update each);
        the pseudo-inverse rule recomputes W from all stored patterns.
        """
        new = check_patterns(patterns)
        if self.patterns is not None and new.shape[1] != self.n_units:
            raise ValueError(
                f"patterns must have {self.n_units} units, like those already stored, but "
                f"received shape {new.shape}. Start a new Hopfield() for another size."
            )
        n_stored = self.n_patterns
        self.patterns = new if self.patterns is None else np.concatenate([self.patterns, new])
        self.weights = update_weights(self.rule, self.patterns, self.weights, n_stored)
        if self.above_capacity:
            warnings.warn(
                f"Storing {self.n_patterns} patterns in {self.n_units} units (load "
                f"{self.load:.3f}) is above the {self.rule} rule's published capacity of "
                f"{self.capacity:.1f} patterns: recall will fail for many of them.",
                CapacityWarning,
                stacklevel=2,
            )
        return self

    def _check_ready(self) -> None:
        if self.weights is None:
            raise ValueError("This Hopfield network stores no patterns yet. Call store() first.")

    def recall(
        self,
        cues: Any,
        update: str = "sync",
        max_steps: int = 20,
        seed: Seed = None,
        track_energy: bool = True,
    ) -> RecallResult:
        """Recall from (batch, N) or (N,) +/-1 cues; see the module function `recall`."""
        self._check_ready()
        check_choice(update, "update", UPDATES)
        check_positive(max_steps, "max_steps", integer=True)
        x = check_cues(cues, self.n_units)
        return recall(
            self.weights,
            x,
            update=update,
            max_steps=max_steps,
            seed=seed,
            track_energy=track_energy,
            patterns=self.patterns,
        )

    def energy(self, states: Any) -> np.ndarray:
        """(batch,) energies E = -1/2 s^T W s of +/-1 states."""
        self._check_ready()
        return energy(self.weights, check_cues(states, self.n_units, "states"))
