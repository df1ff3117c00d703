"""Hopfield recall speed: engram (NumPy) against the same loop in PyTorch CPU, in one run.

1. The machine's float32 matmul peak: sgemm 2048 x 2048 (NumPy and PyTorch).
2. Classic Hopfield, N = 1,000 units, P = 100 Hebbian patterns (integer weights X^T X, zero
   diagonal: exact in float32), 10,000 cues (stored patterns with 10% of units flipped),
   synchronous updates up to 20 steps, float32; the recalls are checked equal:
   a. every one of the 20 steps computed (early_stop=False), as in REFERENCES.md;
   b. each cue leaving the computation once it reaches a fixed point (the default), in both
      libraries; FLOPs counted for the updates actually computed.
3. Modern Hopfield: 10,000 queries against 10,000 stored patterns of dimension 256, one update
   xi <- X^T softmax(beta X xi) (attention), against PyTorch's softmax loop and its fused
   scaled_dot_product_attention.

FLOPs counted: 2 N^2 per cue per synchronous step, plus 2 B N P for the final overlaps
(classic); 4 B P d per update (modern: the scores and the read-out), the softmax not counted.
Every round times the sgemm, engram and PyTorch back to back (``--repeats`` rounds): throughputs
are medians, ratios and the share of the sgemm peak are medians of the per-round pairs, so a
change in the machine's load between rounds hits both sides alike. Each timed call starts 0.25 s
after the one before (OpenBLAS's threads spin after a multi-threaded product and took a core
from whatever ran next: `PAUSE`). Both libraries use the same number of threads (``--threads``,
default 2).

Usage:
    python bench/bench_hopfield.py [--threads 2] [--repeats 5] [--json out.json] [--quick]
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


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


#: seconds of rest before each timed call: OpenBLAS's threads busy-wait after a multi-threaded
#: product (0.06 s of CPU in the 0.5 s after NumPy's 2-thread sgemm 2048, measured; PyTorch's
#: threads under 0.01 s), so without it the call after the sgemm shared the cores with a
#: spinning thread at its start
PAUSE = 0.25


def rounds(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call, the functions taking turns in every round (after one warm-up each), so
    a change in the machine's load hits all of them alike and paired ratios stay meaningful;
    each call starts `PAUSE` seconds after the one before."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            time.sleep(PAUSE)
            times[name].append(timed(fn))
    return times


def paired(times: dict[str, list[float]], a: str, b: str) -> float:
    """Median over rounds of time[a] / time[b] (above 1: b is faster)."""
    return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))


def sgemm() -> tuple[Callable[[], object], Callable[[], object], float]:
    """NumPy and PyTorch 2048 x 2048 float32 matmuls, and their FLOPs."""
    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    tout = torch.empty_like(ta)
    return (
        lambda: np.matmul(a, b, out=out),
        lambda: torch.mm(ta, tb, out=tout),
        2.0 * n**3,
    )


def summarize(times, flops, work, unit, peak_flops, torch_names) -> dict[str, float]:
    """Throughputs (medians), ratios to PyTorch and share of the sgemm peak (paired medians)."""
    med = {name: statistics.median(t) for name, t in times.items()}
    out = {
        f"engram_{unit}_per_s": work / med["engram"],
        "engram_gflops": flops / med["engram"] / 1e9,
        "sgemm_gflops": peak_flops / med["sgemm"] / 1e9,
        "engram_share_of_sgemm_peak": statistics.median(
            (flops / e) / (peak_flops / g)
            for e, g in zip(times["engram"], times["sgemm"], strict=True)
        ),
    }
    for name in torch_names:
        out[f"{name}_{unit}_per_s"] = work / med[name]
        out[f"{name}_gflops"] = flops / med[name] / 1e9
        out[f"ratio_vs_{name}"] = paired(times, name, "engram")
    return out


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
    peak, _, peak_flops = sgemm()
    times = rounds(
        {"sgemm": peak, "engram": run_engram,
         "torch": lambda: torch_recall(tw, tc, tp, max_steps, chunk, early_stop)},
        repeats,
    )  # fmt: skip
    return {
        **summarize(times, flops, batch, "cues", peak_flops, ["torch"]),
        "mean_steps_per_cue": e_steps / batch,
        "retrieved": float(np.mean(result.best_overlap > 0.95)),
        "converged": float(result.converged.mean()),
    }


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
    peak, _, peak_flops = sgemm()
    times = rounds(
        {"sgemm": peak, "engram": lambda: net.recall(q, max_steps=1, chunk_size=chunk),
         "torch_loop": torch_loop, "torch_sdpa": torch_sdpa},
        repeats,
    )  # fmt: skip
    return summarize(times, flops, n_queries, "queries", peak_flops, ["torch_loop", "torch_sdpa"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--quick", action="store_true", help="1,000 cues / queries: a smoke test")
    args = parser.parse_args()
    size = 1000 if args.quick else 10_000
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        blas = [f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)"
                for i in threadpool_info() if i["user_api"] == "blas"]  # fmt: skip
        np_peak, torch_peak, peak_flops = sgemm()
        peaks = rounds({"numpy": np_peak, "torch": torch_peak}, args.repeats)
        fixed = bench_classic(args.repeats, early_stop=False, batch=size)
        early = bench_classic(args.repeats, early_stop=True, batch=size)
        modern = bench_modern(args.repeats, size)
    results = {
        "machine": f"{platform.processor() or platform.machine()}, numpy {np.__version__} "
        f"[{'; '.join(blas)}], torch {torch.__version__} ({torch.get_num_threads()} threads)",
        "sgemm_2048_gflops": {k: peak_flops / statistics.median(v) / 1e9 for k, v in peaks.items()},
        "classic_fixed_20_steps": fixed, "classic_early_stop": early, "modern": modern,
    }  # fmt: skip
    print(results["machine"])
    print(
        "sgemm 2048 (medians): "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in results["sgemm_2048_gflops"].items())
    )
    for name, r in (("classic, all 20 steps", fixed), ("classic, early stop", early)):
        print(
            f"{name}: engram {r['engram_cues_per_s']:,.0f} cues/s, torch "
            f"{r['torch_cues_per_s']:,.0f} cues/s, ratio {r['ratio_vs_torch']:.2f}x; engram "
            f"{r['engram_gflops']:.0f} GFLOP/s = {r['engram_share_of_sgemm_peak']:.0%} of the "
            f"sgemm peak timed beside it; {r['mean_steps_per_cue']:.1f} updates per cue"
        )
    m = modern
    print(
        f"modern {size:,} x {size:,} x 256: engram {m['engram_queries_per_s']:,.0f} queries/s, "
        f"torch loop {m['torch_loop_queries_per_s']:,.0f} ({m['ratio_vs_torch_loop']:.2f}x), "
        f"torch sdpa {m['torch_sdpa_queries_per_s']:,.0f} ({m['ratio_vs_torch_sdpa']:.2f}x); "
        f"engram {m['engram_gflops']:.0f} GFLOP/s = {m['engram_share_of_sgemm_peak']:.0%} of the "
        "sgemm peak timed beside it"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
