"""Recurrent training when other processes keep the cores busy: which thread setting holds up?

OpenBLAS's threads busy-wait between products. When another process takes one of the two
cores, a 2-thread product waits for its second thread to get a time slice, and the recurrent
layers issue 100 such products per pass. This script times one LSTM and one GRU training pass
(forward + backward; input 8, hidden 128, 100 steps, batch 64, bench_rnn.py's workload) in
three settings, in rotating order, 9 rounds, medians:

* ``default``: OpenBLAS's own threads share each step's product (what engram does unless told);
* ``held 1``: OpenBLAS held on one thread (`engram.runtime.worker_threads`; what
  ``OPENBLAS_NUM_THREADS=1`` gives);
* ``single steps``: ``recurrent_base.SINGLE_THREAD_STEPS = True`` (one BLAS thread per engram
  worker, the batch split in row blocks), the setting the README names for loaded machines.

``--busy N`` starts N processes that spin on a core for the whole run (0: a quiet machine).

Usage:
    python bench/rnn_loaded.py --busy 0
    python bench/rnn_loaded.py --busy 1
    OPENBLAS_CORETYPE=Haswell python bench/rnn_loaded.py --busy 1
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

from bench_rnn import BATCH, FEATURES, STEPS, UNITS
from engram import runtime
from engram.nn.layers import GRU, LSTM, recurrent_base

MODES = ("default", "held 1", "single steps")


def time_pass(layer, x: np.ndarray, grad: np.ndarray, mode: str) -> float:
    """ms of one training pass (mean of two) in ``mode``."""
    recurrent_base.SINGLE_THREAD_STEPS = mode == "single steps"
    try:
        hold = runtime.worker_threads(mode == "held 1")
        with hold:
            start = time.perf_counter()
            for _ in range(2):
                layer.forward(x, training=True)
                layer.backward(grad)
            return (time.perf_counter() - start) / 2 * 1e3
    finally:
        recurrent_base.SINGLE_THREAD_STEPS = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--busy", type=int, default=0, help="spinning processes to start")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((BATCH, STEPS, FEATURES), dtype=np.float32)
        grad = rng.standard_normal((BATCH, STEPS, UNITS), dtype=np.float32)
        print(
            f"{runtime.blas_corename()} kernels, {runtime.blas_threads()} BLAS threads, "
            f"{args.busy} busy process(es); ms per training pass, medians of {args.rounds}"
        )
        for cls in (LSTM, GRU):
            layer = cls(UNITS, return_sequences=True)
            layer.build((STEPS, FEATURES), np.random.default_rng(0))
            time_pass(layer, x, grad, "default")  # warm-up
            times: dict[str, list[float]] = {mode: [] for mode in MODES}
            for r in range(args.rounds):
                for k in range(len(MODES)):
                    mode = MODES[(r + k) % len(MODES)]
                    time.sleep(0.1)
                    times[mode].append(time_pass(layer, x, grad, mode))
            cells = [f"{mode} {statistics.median(v):.1f}" for mode, v in times.items()]
            print(f"  {cls.__name__}: " + ", ".join(cells))
    finally:
        for process in spin:
            process.kill()


if __name__ == "__main__":
    main()
