"""The floor the matrix products put under the seed CNN's training step and inference pass.

bench_cnn.py compares wall-clock time on two threads, which a shared machine makes noisy. This
script answers a narrower question first in single-thread CPU time (``time.thread_time``, which
other processes taking the cores do not inflate): how long do the unavoidable matrix products
of one step take on their own, each in the best of the layouts it can be run in, against the
whole engram step and PyTorch's step on one thread? A step can never be faster than its
products with NumPy's OpenBLAS, so the time left for everything else (im2col, col2im, ReLU,
pooling, bias, Adam, the loss, Python) to meet a target is ``PyTorch / target - floor``.

The products (bench_cnn.py's network: Conv2D 32 3x3 - pool - Conv2D 64 3x3 - pool - Dense 64 -
Dense 10; the bias folded in as one more row of the weights, as engram's Conv2D does):

* conv1: forward and weight gradient ((batch * 676) x 10 patches, 32 filters); its input
  gradient is not needed (the first layer);
* conv2: forward, weight gradient and input gradient ((batch * 121) x 289 patches, 64 filters);
* the two Dense layers: forward, weight gradient, input gradient (not for inference).

Inference is the forward products alone. Run it once per BLAS core type (OpenBLAS reads
``OPENBLAS_CORETYPE`` when NumPy loads):

    OPENBLAS_CORETYPE=Haswell python bench/cnn_floor.py
    python bench/cnn_floor.py                  # OpenBLAS's own choice: AVX-512 here

``--layers`` prints where engram's step spends its CPU time: each layer's forward and backward,
the optimizer's update and the rest (loss, fit's loop), one thread.

``--threads`` adds the same on two threads as wall-clock time (the products on OpenBLAS's two
threads, beside half the one-thread floor, which is what splitting each product over two
single-threaded workers, as engram's blocks do, would give at best; engram's step as
``model.fit`` runs it; PyTorch with ``torch.set_num_threads(2)``); run that under
``flock /work/wt/bench.lock`` on a quiet machine (on a loaded one the two-thread products and
PyTorch's step come out 5-50x slower and say nothing).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from bench_cnn import TARGETS, engram_runner, synthetic_data, torch_runner
from engram import runtime

Fn = Callable[[], object]
#: batches per timed engram / PyTorch run (one epoch over this many batches)
STEPS = 6
#: rounds of (products, engram, PyTorch); each figure printed is the median over the rounds
ROUNDS = 5


def cpu_ms(fn: Fn, calls: int = 1, repeats: int = 5, clock=time.thread_time) -> float:
    """Median time of ``fn`` in ms by ``clock`` (after one warm-up call)."""
    fn()
    runs = []
    for _ in range(repeats):
        start = clock()
        for _ in range(calls):
            fn()
        runs.append((clock() - start) / calls * 1e3)
    return statistics.median(runs)


def products(batch: int, rng: np.random.Generator) -> dict[str, tuple[bool, dict[str, Fn]]]:
    """name -> (needed for inference, {layout: run}) for each product of one training step."""

    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32)

    def mm(a: np.ndarray, b: np.ndarray) -> Fn:
        out = np.empty((a.shape[0], b.shape[1]), np.float32)
        return lambda: np.matmul(a, b, out=out)

    def stacked(a: np.ndarray, b: np.ndarray) -> Fn:
        out = np.empty((b.shape[0], a.shape[0], b.shape[2]), np.float32)
        return lambda: np.matmul(a, b, out=out)

    r1, r2 = batch * 26 * 26, batch * 11 * 11
    k1, k2 = 9 + 1, 9 * 32 + 1  # patch length + the bias's column of ones
    c1, c1t, g1, g1t = r(r1, k1), r(k1, r1), r(r1, 32), r(32, r1)
    c2, c2t, g2, g2t = r(r2, k2), r(k2, r2), r(r2, 64), r(64, r2)
    w1, w2 = r(k1, 32), r(k2, 64)
    d1, d2 = r(batch, 1601), r(batch, 65)
    v1, v2, e1, e2 = r(1601, 64), r(65, 10), r(batch, 64), r(batch, 10)
    return {
        f"conv1 forward ({r1},{k1})@({k1},32)": (
            True,
            {
                "rows": mm(c1, w1),
                "rows, patches stored transposed": mm(c1t.T, w1),
                "channels first (32,k)@(k,rows)": mm(w1.T.copy(), c1t),
            },
        ),
        f"conv1 weight grad ({k1},{r1})@({r1},32)": (
            False,
            {
                "patches transposed": mm(c1t, g1),
                "patches by rows (view .T)": mm(c1.T, g1),
                "(32,rows)@(rows,k)": mm(g1t, c1),
            },
        ),
        f"conv2 forward ({r2},{k2})@({k2},64)": (
            True,
            {"rows": mm(c2, w2), "channels first (64,k)@(k,rows)": mm(w2.T.copy(), c2t)},
        ),
        f"conv2 weight grad ({k2},{r2})@({r2},64)": (
            False,
            {
                "patches by rows (view .T)": mm(c2.T, g2),
                "patches transposed": mm(c2t, g2),
                "(64,rows)@(rows,k)": mm(g2t, c2),
            },
        ),
        f"conv2 input grad ({r2},64)@(64,288)": (
            False,
            {
                "one product": mm(g2, r(64, 288)),
                "per kernel offset (9,64,32) stacked": stacked(g2, r(9, 64, 32)),
                "channels first (288,64)@(64,rows)": mm(r(288, 64), g2t),
            },
        ),
        f"dense1 forward ({batch},1601)@(1601,64)": (True, {"rows": mm(d1, v1)}),
        f"dense1 weight grad (1601,{batch})@({batch},64)": (False, {"view .T": mm(d1.T, e1)}),
        f"dense1 input grad ({batch},64)@(64,1600)": (False, {"rows": mm(e1, r(64, 1600))}),
        f"dense2 forward ({batch},65)@(65,10)": (True, {"rows": mm(d2, v2)}),
        f"dense2 weight grad (65,{batch})@({batch},10)": (False, {"view .T": mm(d2.T, e2)}),
        f"dense2 input grad ({batch},10)@(10,64)": (False, {"rows": mm(e2, r(10, 64))}),
    }


def floors(batch: int, clock, verbose: bool) -> dict[str, float]:
    """{"train": ms, "infer": ms}: the sum over the products of the best layout's time."""
    total = {"train": 0.0, "infer": 0.0}
    calls = max(1, 256 // batch)
    for name, (in_inference, layouts) in products(batch, np.random.default_rng(0)).items():
        times = {label: cpu_ms(fn, calls, clock=clock) for label, fn in layouts.items()}
        best = min(times, key=times.get)
        total["train"] += times[best]
        total["infer"] += times[best] if in_inference else 0.0
        if verbose:
            others = ", ".join(f"{k} {v:.3f}" for k, v in times.items() if k != best)
            print(
                f"    {name:<44} {times[best]:7.3f} ms  ({best}{'; ' + others if others else ''})"
            )
    return total


def steps(batch: int) -> dict[str, dict[str, Fn]]:
    """{"engram"|"torch": {"train": fn, "infer": fn}}, each call one epoch of STEPS batches."""
    x, y = synthetic_data(batch * STEPS)
    import torch

    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    yt = torch.from_numpy(y)
    torch.manual_seed(0)
    return {
        "engram": dict(zip(("train", "infer"), engram_runner(x, y, batch), strict=True)),
        "torch": dict(zip(("train", "infer"), torch_runner(xt, yt, batch), strict=True)),
    }


def per_layer(batch: int, steps: int = 12) -> None:
    """Print engram's training step split by layer (forward / backward), optimizer and rest,
    single-thread CPU time in ms per batch (median of 3 epochs of ``steps`` batches)."""
    from bench_cnn import engram_model

    x, y = synthetic_data(batch * steps)
    model = engram_model()
    model.fit(x[: 2 * batch], y[: 2 * batch], batch_size=batch, epochs=1, verbose=0)
    spent: dict[str, float] = {}

    def timed(function: Callable, label: str) -> Callable:
        def run(*args, **kwargs):
            start = time.thread_time()
            result = function(*args, **kwargs)
            spent[label] = spent.get(label, 0.0) + time.thread_time() - start
            return result

        return run

    for i, layer in enumerate(model.layers):
        for method in ("forward", "backward"):
            label = f"{i} {type(layer).__name__} {method}"
            setattr(layer, method, timed(getattr(layer, method), label))
    model.optimizer.step = timed(model.optimizer.step, "optimizer step")
    totals, parts = [], []
    for _ in range(3):
        spent.clear()
        start = time.thread_time()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        totals.append((time.thread_time() - start) / steps * 1e3)
        parts.append({k: v / steps * 1e3 for k, v in spent.items()})
    total = statistics.median(totals)
    print(f"  batch {batch}: engram's step {total:.2f} ms (one thread, CPU time)")
    for label in parts[0]:
        print(f"    {label:<28} {statistics.median(p[label] for p in parts):7.3f} ms")
    rest = statistics.median(t - sum(p.values()) for t, p in zip(totals, parts, strict=True))
    print(f"    {'rest (loss, fit loop)':<28} {rest:7.3f} ms")


def report(batch: int, threads: int, clock, verbose: bool, half: float | None = None) -> dict:
    """Print the floor against engram's and PyTorch's step; returns the floor."""
    import torch

    torch.set_num_threads(threads)
    if half is not None:
        print(
            f"  batch {batch}: half the one-thread products: train {half['train']:.2f} ms, "
            f"infer {half['infer']:.2f} ms"
        )
    runs = steps(batch)
    floor_runs: list[dict[str, float]] = []
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(ROUNDS):  # products, engram and PyTorch in turn: drifting load hits all
        floor_runs.append(floors(batch, clock, verbose and r == 0))
        for mode in ("train", "infer"):
            for framework in ("engram", "torch"):
                ms = cpu_ms(runs[framework][mode], repeats=1, clock=clock) / STEPS
                times.setdefault((framework, mode), []).append(ms)
    floor = {mode: statistics.median(f[mode] for f in floor_runs) for mode in ("train", "infer")}
    for mode in ("train", "infer"):
        e = statistics.median(times[("engram", mode)])
        t = statistics.median(times[("torch", mode)])
        target = TARGETS[(mode, batch)]
        budget = t / target
        print(
            f"  batch {batch:3d} {mode}: products {floor[mode]:6.2f} ms, engram {e:6.2f} ms "
            f"(outside the products {e - floor[mode]:6.2f} ms = {1 - floor[mode] / e:4.0%}), "
            f"PyTorch {t:6.2f} ms: engram {t / e:4.2f}x, products alone {t / floor[mode]:4.2f}x; "
            f"target {target}x needs <= {budget:6.2f} ms, leaving {budget - floor[mode]:6.2f} ms "
            "beside the products",
            flush=True,
        )
    return floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 256])
    parser.add_argument("--threads", action="store_true", help="also 2 threads, wall-clock")
    parser.add_argument("--quiet", action="store_true", help="totals only, no per-product lines")
    parser.add_argument("--layers", action="store_true", help="engram's step split by layer")
    args = parser.parse_args()
    threads = runtime.blas_threads()
    set_threads = runtime._openblas()[1]
    set_threads(1)
    print(
        f"{runtime.blas_corename()} kernels. One thread, CPU time (time.thread_time), ms per "
        "batch; each product the best of its layouts (median of 5), each figure the median of "
        f"{ROUNDS} rounds of products, engram and PyTorch in turn (per-product lines: round 1)"
    )
    one = {b: report(b, 1, time.thread_time, not args.quiet) for b in args.batch_sizes}
    if args.layers:
        print("engram's training step by layer, one thread, CPU time")
        for batch in args.batch_sizes:
            per_layer(batch)
    if args.threads:
        if threads < 2:
            parser.error("--threads needs OPENBLAS_NUM_THREADS >= 2 (or unset) when NumPy loads")
        set_threads(2)
        print("Two threads, wall-clock (time.perf_counter): needs a quiet machine")
        for batch in args.batch_sizes:
            half = {mode: ms / 2 for mode, ms in one[batch].items()}
            report(batch, 2, time.perf_counter, not args.quiet, half)


if __name__ == "__main__":
    main()
