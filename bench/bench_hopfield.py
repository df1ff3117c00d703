"""Hopfield recall speed: engram (NumPy) against the same loop in PyTorch CPU, in one run.

1. The machine's float32 matmul peak: sgemm 2048 x 2048 (NumPy and PyTorch).
2. Classic Hopfield, N = 1,000 units, P = 100 Hebbian patterns (integer weights X^T X, zero
   diagonal: exact in float32), 10,000 cues (stored patterns
   with 10% of units flipped), synchronous updates up to 20 steps, float32:
   a. every one of the 20 steps computed (early_stop=False), as in REFERENCES.md;
   b. each cue leaving the computation once it reaches a fixed point (the default), in both
      libraries; FLOPs counted for the updates actually computed.
3. Modern Hopfield: 10,000 queries against 10,000 stored patterns of dimension 256, one update
   xi <- X^T softmax(beta X xi) (attention), against PyTorch's softmax loop and its fused
   scaled_dot_product_attention.

FLOPs counted: 2 N^2 per cue per synchronous step, plus 2 B N P for the final overlaps
(classic); 4 B P d per update (modern: the scores and the read-out), the softmax not counted.
Each figure is the median of ``--repeats`` runs; both libraries use the same number of threads.

Usage:
    python bench/bench_hopfield.py [--threads 2] [--repeats 3] [--json out.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from engram.memory import ModernHopfield, flip_bits, hebb_weights, recall


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm up: allocations, thread pools, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ----------------------------------------------------------------------------- matmul peak


def sgemm_peak(repeats: int) -> dict[str, float]:
    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    tout = torch.empty_like(ta)
    flops = 2 * n**3
    np_s = median_seconds(lambda: np.matmul(a, b, out=out), repeats + 2)
    t_s = median_seconds(lambda: torch.mm(ta, tb, out=tout), repeats + 2)
    return {"numpy_gflops": flops / np_s / 1e9, "torch_gflops": flops / t_s / 1e9}


# ----------------------------------------------------------------------------- classic


def torch_recall(w, cues, patterns, max_steps, chunk, early_stop):
    """The same chunked synchronous loop as engram.memory.recall, in PyTorch: cues that reach
    a fixed point leave the active set (with early_stop)."""
    states = torch.empty_like(cues)
    steps_run = 0
    n = cues.shape[1]
    for lo in range(0, len(cues), chunk):
        s = cues[lo : lo + chunk].clone()
        rows = torch.arange(lo, lo + len(s))
        for _ in range(max_steps):
            h = s @ w
            new = torch.sign(h)
            new = torch.where(new == 0, s, new)  # a zero field keeps the unit's state
            changed = (new != s).any(dim=1)
            steps_run += len(s)
            if early_stop and not bool(changed.all()):
                states[rows[~changed]] = new[~changed]
                rows, s = rows[changed], new[changed]
                if not len(rows):
                    break
            else:
                s = new
        states[rows] = s
    overlaps = states @ patterns.T / n
    return states, overlaps, steps_run


def engram_steps_run(steps: np.ndarray, max_steps: int, early_stop: bool) -> int:
    """Cue-updates engram's recall computed: each cue until the update that confirmed its fixed
    point (or all max_steps)."""
    if not early_stop:
        return max_steps * len(steps)
    return int(np.minimum(steps + 1, max_steps).sum())


def bench_classic(repeats: int, early_stop: bool, batch: int = 10_000) -> dict[str, float]:
    n, p, max_steps, chunk = 1000, 100, 20, 1024
    rng = np.random.default_rng(0)
    patterns = np.where(rng.random((p, n)) < 0.5, -1.0, 1.0).astype(np.float32)
    # Hebb's rule without the 1/N: integer weights, so every field is exact in float32 and
    # both libraries take identical steps (the same dynamics as hebb_weights, which is W / N)
    w = hebb_weights(patterns) * np.float32(n)
    np.round(w, out=w)
    cues = flip_bits(patterns[rng.integers(0, p, batch)], 0.1, rng)

    def run_engram():
        return recall(
            w, cues, max_steps=max_steps, track_energy=False, patterns=patterns,
            chunk_size=chunk, early_stop=early_stop,
        )  # fmt: skip

    tw, tc, tp = torch.from_numpy(w), torch.from_numpy(cues), torch.from_numpy(patterns)
    result = run_engram()
    t_states, _, t_steps = torch_recall(tw, tc, tp, max_steps, chunk, early_stop)
    if not np.array_equal(result.states, t_states.numpy()):
        raise AssertionError("engram and PyTorch recalls differ")
    e_steps = engram_steps_run(result.steps, max_steps, early_stop)
    if e_steps != t_steps:
        raise AssertionError(f"different work: {e_steps} vs {t_steps} cue-steps")
    flops = 2.0 * n * n * e_steps + 2.0 * batch * n * p
    e_s = median_seconds(run_engram, repeats)
    t_s = median_seconds(lambda: torch_recall(tw, tc, tp, max_steps, chunk, early_stop), repeats)
    return {
        "engram_cues_per_s": batch / e_s, "torch_cues_per_s": batch / t_s,
        "ratio": t_s / e_s, "engram_gflops": flops / e_s / 1e9, "torch_gflops": flops / t_s / 1e9,
        "mean_steps_per_cue": e_steps / batch,
        "retrieved": float(np.mean(result.best_overlap > 0.95)),
        "converged": float(result.converged.mean()),
    }  # fmt: skip


# ----------------------------------------------------------------------------- modern


def bench_modern(repeats: int, size: int = 10_000) -> dict[str, float]:
    n_patterns, n_queries, dim, chunk = size, size, 256, 1024
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n_patterns, dim), dtype=np.float32)
    q = (x[rng.integers(0, n_patterns, n_queries)] + rng.standard_normal((n_queries, dim))).astype(
        np.float32
    )
    beta = 1.0 / np.sqrt(dim)
    net = ModernHopfield(beta).store(x)
    tx, tq = torch.from_numpy(x), torch.from_numpy(q)

    def torch_loop():
        out = torch.empty_like(tq)
        for lo in range(0, n_queries, 1024):
            scores = (tq[lo : lo + 1024] * beta) @ tx.T
            out[lo : lo + 1024] = torch.softmax(scores, dim=1) @ tx
        return out

    def torch_sdpa():
        return torch.nn.functional.scaled_dot_product_attention(
            tq[None], tx[None], tx[None], scale=beta
        )[0]

    mine = net.recall(q, max_steps=1, chunk_size=chunk).states
    for other in (torch_loop(), torch_sdpa()):
        np.testing.assert_allclose(mine, other.numpy(), atol=2e-4)
    flops = 4.0 * n_queries * n_patterns * dim
    e_s = median_seconds(lambda: net.recall(q, max_steps=1, chunk_size=chunk), repeats)
    loop_s = median_seconds(torch_loop, repeats)
    sdpa_s = median_seconds(torch_sdpa, repeats)
    best = min(loop_s, sdpa_s)
    return {
        "engram_queries_per_s": n_queries / e_s, "torch_loop_queries_per_s": n_queries / loop_s,
        "torch_sdpa_queries_per_s": n_queries / sdpa_s, "ratio_vs_best_torch": best / e_s,
        "ratio_vs_torch_loop": loop_s / e_s, "ratio_vs_torch_sdpa": sdpa_s / e_s,
        "engram_gflops": flops / e_s / 1e9, "torch_best_gflops": flops / best / 1e9,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--quick", action="store_true", help="1,000 cues / queries: a smoke test")
    args = parser.parse_args()
    size = 1000 if args.quick else 10_000
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        blas = [f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)"
                for i in threadpool_info() if i["user_api"] == "blas"]  # fmt: skip
        peak = sgemm_peak(args.repeats)
        fixed = bench_classic(args.repeats, early_stop=False, batch=size)
        early = bench_classic(args.repeats, early_stop=True, batch=size)
        modern = bench_modern(args.repeats, size)
    results = {
        "machine": f"{platform.processor() or platform.machine()}, numpy {np.__version__} "
        f"[{'; '.join(blas)}], torch {torch.__version__} ({torch.get_num_threads()} threads)",
        "sgemm_2048": peak, "classic_fixed_20_steps": fixed, "classic_early_stop": early,
        "modern": modern,
    }  # fmt: skip
    ref = peak["numpy_gflops"]
    print(results["machine"])
    print(f"sgemm 2048: numpy {ref:.0f} GFLOP/s, torch {peak['torch_gflops']:.0f} GFLOP/s")
    for name, r in (("classic, all 20 steps", fixed), ("classic, early stop", early)):
        print(
            f"{name}: engram {r['engram_cues_per_s']:,.0f} cues/s, torch "
            f"{r['torch_cues_per_s']:,.0f} cues/s, ratio {r['ratio']:.2f}x; engram "
            f"{r['engram_gflops']:.0f} GFLOP/s = {r['engram_gflops'] / ref:.0%} of sgemm peak "
            f"(torch {r['torch_gflops']:.0f}); {r['mean_steps_per_cue']:.1f} steps per cue"
        )
    m = modern
    print(
        f"modern {size:,} x {size:,} x 256: engram {m['engram_queries_per_s']:,.0f} queries/s, "
        "torch loop "
        f"{m['torch_loop_queries_per_s']:,.0f}, torch sdpa {m['torch_sdpa_queries_per_s']:,.0f}; "
        f"ratio vs best torch {m['ratio_vs_best_torch']:.2f}x; engram {m['engram_gflops']:.0f} "
        f"GFLOP/s = {m['engram_gflops'] / ref:.0%} of sgemm peak"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
