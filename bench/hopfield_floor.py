"""The floor the matrix products put under engram's Hopfield recall, in single-thread CPU time.

bench_hopfield.py compares wall-clock time on two threads, which a shared machine makes
noisy. This script answers narrower questions in single-thread CPU time (``time.thread_time``;
run it with ``OPENBLAS_NUM_THREADS=1``): how fast is NumPy's sgemm 2048 on one core, how long
do the recalls' matrix products take on their own (the same shapes, chunks and, for early stop,
the same shrinking active sets step by step), how long does the whole recall take, and so
what share of the sgemm rate could each recall reach if everything besides its products cost
nothing? With ``--before`` (a folder holding an older ``engram`` package, e.g. ``git archive
<commit> src | tar -x -C /tmp/before``) it also times that tree's recalls in the same rounds,
in this process (bench_versions.py's renamed copy), and prints after / before.

Workloads: bench_hopfield.py's (classic N 1,000, P 100, 10,000 cues, 20 steps or early stop,
chunks of 1,024; modern 10,000 x 10,000 x 256, chunks of 1,024). All the calls of a round take
turns (ABBA between rounds), so drifting load hits them alike; medians over ``--repeats``.

Usage:
    OPENBLAS_NUM_THREADS=1 python bench/hopfield_floor.py [--repeats 7] [--before /tmp/before/src]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

from bench_hopfield import engram_steps_run

Fn = Callable[[], object]
N, P, CUES, MAX_STEPS, CHUNK = 1000, 100, 10_000, 20, 1024
MODERN_P, MODERN_Q, DIM = 10_000, 10_000, 256


def classic_data(memory):
    rng = np.random.default_rng(0)
    patterns = np.where(rng.random((P, N)) < 0.5, -1.0, 1.0).astype(np.float32)
    w = memory.hebb_weights(patterns) * np.float32(N)
    np.round(w, out=w)
    return w, patterns, memory.flip_bits(patterns[rng.integers(0, P, CUES)], 0.1, rng)


def modern_data():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((MODERN_P, DIM), dtype=np.float32)
    q = x[rng.integers(0, MODERN_P, MODERN_Q)] + rng.standard_normal((MODERN_Q, DIM))
    return x, q.astype(np.float32)


def products_only(w, active: list[int], patterns) -> Fn:
    """The recall's matrix products alone: chunks of the active cues, step by step, then the
    overlaps with the patterns."""
    s = np.ones((CUES, N), np.float32)
    h = np.empty_like(s)

    def run():
        for m in active:
            for lo in range(0, m, CHUNK):
                np.matmul(s[lo : min(lo + CHUNK, m)], w, out=h[lo : min(lo + CHUNK, m)])
        return s @ patterns.T

    return run


def modern_products_only(x, q) -> Fn:
    scores = np.empty((CHUNK, MODERN_P), np.float32)
    out = np.empty((CHUNK, DIM), np.float32)

    def run():
        for lo in range(0, MODERN_Q, CHUNK):
            n = min(CHUNK, MODERN_Q - lo)
            np.matmul(q[lo : lo + n], x.T, out=scores[:n])
            np.matmul(scores[:n], x, out=out[:n])

    return run


def active_counts(memory, w, cues, patterns) -> list[int]:
    """How many cues each early-stop step multiplies (from the recall's step counts)."""
    steps = memory.recall(w, cues, max_steps=MAX_STEPS, track_energy=False, patterns=patterns,
                          chunk_size=CHUNK, early_stop=True).steps  # fmt: skip
    work = np.minimum(steps + 1, MAX_STEPS)  # updates computed per cue
    return [int((work > t).sum()) for t in range(MAX_STEPS) if (work > t).any()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--before", default=None, help="folder holding an older engram package")
    args = parser.parse_args()
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        sys.exit("Run with OPENBLAS_NUM_THREADS=1: this script measures single-thread CPU time.")
    import engram.memory as memory

    trees = {"": memory}
    if args.before:
        from bench_versions import renamed_copy

        folder = tempfile.mkdtemp()
        renamed_copy(args.before, folder)
        sys.path.insert(0, folder)
        import engram_before.memory

        trees["before "] = engram_before.memory

    w, patterns, cues = classic_data(memory)
    x, q = modern_data()
    active = active_counts(memory, w, cues, patterns)
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    out = np.empty_like(a)
    fns: dict[str, Fn] = {"sgemm 2048": lambda: np.matmul(a, a, out=out)}
    for label, mem in trees.items():
        net = mem.ModernHopfield(1 / np.sqrt(DIM)).store(x)
        for early in (False, True):
            fns[f"{label}classic {'early stop' if early else '20 steps'}"] = (
                lambda mem=mem, early=early: mem.recall(
                    w, cues, max_steps=MAX_STEPS, track_energy=False, patterns=patterns,
                    chunk_size=CHUNK, early_stop=early,
                )
            )  # fmt: skip
        fns[f"{label}modern"] = lambda net=net: net.recall(q, max_steps=1, chunk_size=CHUNK)
    fns["products: classic 20 steps"] = products_only(w, [CUES] * MAX_STEPS, patterns)
    fns["products: classic early stop"] = products_only(w, active, patterns)
    fns["products: modern"] = modern_products_only(x, q)

    names = list(fns)
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.thread_time()
            fns[name]()
            times[name].append(time.thread_time() - start)
    med = {name: statistics.median(t) for name, t in times.items()}

    steps = memory.recall(w, cues, max_steps=MAX_STEPS, track_energy=False, patterns=patterns,
                          chunk_size=CHUNK).steps  # fmt: skip
    overlaps = 2.0 * CUES * N * P
    flops = {
        "classic 20 steps": 2.0 * N * N * engram_steps_run(steps, MAX_STEPS, False) + overlaps,
        "classic early stop": 2.0 * N * N * engram_steps_run(steps, MAX_STEPS, True) + overlaps,
        "modern": 4.0 * MODERN_Q * MODERN_P * DIM,
    }
    peak = 2.0 * 2048**3 / med["sgemm 2048"]
    print(f"single-thread CPU time, medians of {args.repeats} rounds; numpy {np.__version__}")
    print(f"sgemm 2048: {peak / 1e9:.0f} GFLOP/s")
    print(f"early stop: cues multiplied per step {active}")
    for case, f in flops.items():
        floor = med[f"products: {case}"]
        line = (
            f"{case}: recall {med[case]:.3f} s = {f / med[case] / 1e9:.0f} GFLOP/s "
            f"({f / med[case] / peak:.0%} of sgemm); its products alone {floor:.3f} s = "
            f"{f / floor / 1e9:.0f} GFLOP/s ({f / floor / peak:.0%}: the ceiling); the rest "
            f"{(med[case] - floor) / med[case]:.0%} of the recall"
        )
        if args.before:
            before = times[f"before {case}"]
            ratio = statistics.median(t / b for t, b in zip(times[case], before, strict=True))
            line += f"; after / before {ratio:.3f} (before {statistics.median(before):.3f} s)"
        print(line)


if __name__ == "__main__":
    main()
