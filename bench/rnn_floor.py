"""The floor the matrix products put under engram's recurrent passes, beside PyTorch.

bench_rnn.py compares wall-clock time with two threads, which a shared machine makes noisy.
This script answers a narrower question in single-thread CPU time (``time.thread_time``,
which other processes taking the cores inflate far less than wall-clock time): how long do
the matrix products of one pass take on their own, with the shapes and layouts the layers
use, how long does the whole pass take, and how long does PyTorch's pass take on one thread?
A pass can never be faster than its matrix products with NumPy's OpenBLAS, so a target below
that floor cannot be reached by rearranging the NumPy calls around them.

The workload is bench_rnn.py's (input 8, hidden 128, 100 steps, batch 64, float32). Run it
once per BLAS core type (OpenBLAS reads ``OPENBLAS_CORETYPE`` when NumPy loads):

    OPENBLAS_CORETYPE=Haswell python bench/rnn_floor.py --torch
    python bench/rnn_floor.py --torch          # OpenBLAS's own choice: AVX-512 here

The CPU-time part runs BLAS on one thread. ``--threads`` adds a wall-clock comparison of one
and two BLAS threads for the per-step products and the whole passes (needs
OPENBLAS_NUM_THREADS >= 2 or unset; run it under ``flock /work/wt/bench.lock`` on a quiet
machine: spinning BLAS threads on busy cores give meaningless numbers).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from bench_rnn import BATCH, FEATURES, STEPS, TARGETS, UNITS
from engram import runtime
from engram.nn.layers import GRU, LSTM, SimpleRNN

Fn = Callable[[], object]


def cpu_ms(fn: Fn, calls: int = 2, repeats: int = 9) -> float:
    """Single-thread CPU time of ``fn`` in ms (after one warm-up call): the fastest of
    ``repeats`` runs of ``calls`` calls. Other processes do not add to a thread's CPU time
    directly, but on a loaded machine they evict its caches between time slices, which does:
    the fastest run is the one least disturbed (at load 12 on 2 cores the median of the GRU's
    per-step products moved between 7.5 and 17 ms from one run to the next)."""
    fn()
    runs = []
    for _ in range(repeats):
        start = time.thread_time()
        for _ in range(calls):
            fn()
        runs.append((time.thread_time() - start) / calls * 1e3)
    return min(runs)


def _per_step(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> Fn:
    def run() -> None:
        for _ in range(STEPS):
            np.matmul(a, b, out=out)

    return run


BOTH, TRAIN, INFER = ("infer", "train"), ("train",), ("infer",)


def gemms(rng: np.random.Generator) -> dict[str, dict[str, tuple[Fn, tuple[str, ...]]]]:
    """Each layer's matrix products, as the layers run them: name -> (run, in which passes)."""
    b, u, f, n = BATCH, UNITS, FEATURES, STEPS * BATCH
    w = u + f + 1  # [h_{t-1}, x_t, 1]

    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32)

    def empty(*shape: int) -> np.ndarray:
        return np.empty(shape, np.float32)

    lstm_in, lstm_d, gru_in, gru_d = r(n, w), r(n, 4 * u), r(n, w), r(n, 3 * u)
    x1, k1, x, dhh, kx = r(n, f + 1), r(f + 1, u), r(n, f), r(n, u), r(f, 3 * u)
    h, dz, k = r(n, u), r(n, u), r(f, u)
    return {
        "simple_rnn": {
            f"inference step ({b},{w})@({w},{u}) x{STEPS}": (
                _per_step(r(b, w), r(w, u), empty(b, u)),
                INFER,
            ),
            f"input projection ({n},{f + 1})@({f + 1},{u})": (
                lambda: np.matmul(x1, k1, out=empty(n, u)),
                TRAIN,
            ),
            f"training step ({b},{u})@({u},{u}) x{STEPS}": (
                _per_step(r(b, u), r(u, u), empty(b, u)),
                TRAIN,
            ),
            f"back ({b},{u})@({u},{u}) x{STEPS}": (
                _per_step(r(b, u), r(u, u), empty(b, u)),
                TRAIN,
            ),
            f"weight grads ({f},{n})@({n},{u}) + ({u},{n})@({n},{u})": (
                lambda: (x.T @ dz, h.T @ dz),
                TRAIN,
            ),
            f"input grads ({n},{u})@({u},{f})": (lambda: dz @ k.T, TRAIN),
        },
        "lstm": {
            f"step ({b},{w})@(4,{w},{u}) x{STEPS}": (
                _per_step(r(b, w), r(4, w, u), empty(4, b, u)),
                BOTH,
            ),
            f"back ({b},{4 * u})@({4 * u},{u + f}) x{STEPS}": (
                _per_step(r(b, 4 * u), r(4 * u, u + f), empty(b, u + f)),
                TRAIN,
            ),
            f"weight grads ({w},{n})@({n},{4 * u})": (
                lambda: np.matmul(lstm_in.T, lstm_d, out=empty(w, 4 * u)),
                TRAIN,
            ),
        },
        "gru": {
            f"step ({b},{w})@(3,{w},{u}) x{STEPS}": (
                _per_step(r(b, w), r(3, w, u), empty(3, b, u)),
                BOTH,
            ),
            f"candidate input ({n},{f + 1})@({f + 1},{u})": (
                lambda: np.matmul(x1, k1, out=empty(n, u)),
                TRAIN,
            ),
            f"candidate input ({b},{f + 1})@({f + 1},{u}) x{STEPS}": (
                _per_step(r(b, f + 1), k1, empty(b, u)),
                INFER,
            ),
            f"back ({b},{3 * u})@({3 * u},{u}) x{STEPS}": (
                _per_step(r(b, 3 * u), r(3 * u, u), empty(b, u)),
                TRAIN,
            ),
            f"weight grads ({w},{n})@({n},{3 * u}) + ({f},{n})@({n},{u})": (
                lambda: (np.matmul(gru_in.T, gru_d, out=empty(w, 3 * u)), x.T @ dhh),
                TRAIN,
            ),
            f"input grads ({n},{2 * u})@({2 * u},{f}) + ({n},{u})@({u},{f})": (
                lambda: (gru_d[:, : 2 * u] @ kx[:, : 2 * u].T, dhh @ kx[:, 2 * u :].T),
                TRAIN,
            ),
        },
    }


def engram_passes(name: str) -> dict[str, Fn]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, STEPS, FEATURES), dtype=np.float32)
    grad = rng.standard_normal((BATCH, STEPS, UNITS), dtype=np.float32)
    layer = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}[name](UNITS, return_sequences=True)
    layer.build((STEPS, FEATURES), np.random.default_rng(0))

    def train() -> None:
        layer.forward(x, training=True)
        layer.backward(grad)

    return {"infer": lambda: layer(x), "train": train}


def torch_passes(name: str, threads: int) -> dict[str, Fn]:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((BATCH, STEPS, FEATURES), dtype=np.float32))
    grad = torch.from_numpy(rng.standard_normal((BATCH, STEPS, UNITS), dtype=np.float32))
    modules = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    module = modules[name](FEATURES, UNITS, batch_first=True)

    def train() -> None:
        for p in module.parameters():
            p.grad = None
        module(x)[0].backward(grad)

    def infer() -> None:
        with torch.inference_mode():
            module(x)

    return {"infer": infer, "train": train}


def set_blas_threads(threads: int) -> None:
    """OpenBLAS's thread count from now on (threadpoolctl, as engram's recurrent layers)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads, user_api="blas")


def wall_ms(fn: Fn, threads: int, calls: int = 3) -> float:
    set_blas_threads(threads)
    time.sleep(0.05)  # let the other count's spinning threads settle
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e3


def compare_threads(name: str, fn: Fn, repeats: int = 7) -> None:
    """Wall-clock time with one and two BLAS threads, alternating (ABBA)."""
    runs: dict[int, list[float]] = {1: [], 2: []}
    for counts in ((1, 2), (2, 1)):
        for n in counts:
            wall_ms(fn, n)  # warm-up
    for r in range(repeats):
        for n in (1, 2) if r % 2 == 0 else (2, 1):
            runs[n].append(wall_ms(fn, n))
    ratios = sorted(two / one for one, two in zip(runs[1], runs[2], strict=True))
    print(
        f"  {name:<44} 1 thread {statistics.median(runs[1]):7.2f} ms, 2 threads "
        f"{statistics.median(runs[2]):7.2f} ms: 2/1 {statistics.median(ratios):.2f} "
        f"({ratios[0]:.2f}-{ratios[-1]:.2f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", default="simple_rnn,lstm,gru")
    parser.add_argument("--torch", action="store_true", help="also time PyTorch on one thread")
    parser.add_argument("--threads", action="store_true", help="also compare 1 and 2 BLAS threads")
    args = parser.parse_args()
    threads = runtime.blas_threads()
    set_blas_threads(1)  # CPU time of one thread measures all the work only on one thread
    print(
        f"input {FEATURES}, hidden {UNITS}, T={STEPS}, batch {BATCH}; {runtime.blas_corename()} "
        f"kernels; single-thread CPU time, fastest of 9 runs of 2 calls",
        flush=True,
    )
    rng = np.random.default_rng(0)
    for name, products in gemms(rng).items():
        if name not in args.layers.split(","):
            continue
        floor = {"infer": 0.0, "train": 0.0}
        for label, (fn, modes) in products.items():
            ms = cpu_ms(fn)
            for mode in modes:
                floor[mode] += ms
            print(f"  {name} {label:<52} {ms:7.2f} ms")
        passes = engram_passes(name)
        theirs = torch_passes(name, 1) if args.torch else {}
        for mode in ("infer", "train"):
            whole = cpu_ms(passes[mode])
            line = (
                f"{name} {mode}: matrix products {floor[mode]:6.2f} ms = "
                f"{floor[mode] / whole:4.0%} of the whole pass {whole:6.2f} ms"
            )
            if theirs:
                torch_ms = cpu_ms(theirs[mode])
                target = TARGETS[name, mode]
                line += (
                    f"; PyTorch 1 thread {torch_ms:6.2f} ms: the {target}x target needs <= "
                    f"{torch_ms / target:6.2f} ms, the products alone "
                    f"{'fit' if floor[mode] <= torch_ms / target else 'do not fit'}"
                )
            print(line, flush=True)
        if args.threads:
            if threads < 2:
                parser.error("--threads needs OPENBLAS_NUM_THREADS >= 2 when NumPy loads")
            step_label, (step, _) = next(iter(products.items()))
            compare_threads(f"{name} {step_label}", step)
            for mode, fn in passes.items():
                compare_threads(f"{name} {mode} pass", fn)
            set_blas_threads(1)


if __name__ == "__main__":
    main()
