"""The seed CNN's first convolution: how close to the sgemm peak can its product get?

Issue 17 asks each convolution for >= 50% of the measured sgemm peak. The first layer (1 input
channel, 3x3, 32 filters) is, after im2col, a (batch x 676, 9) @ (9, 32) product: 9 deep, it
reads and writes more numbers than it multiplies. This script times that bare product (patches
already built; no im2col, bias or ReLU) beside NumPy's 2048^3 sgemm in the same process, and
PyTorch's own first convolution (``F.conv2d``, oneDNN) beside PyTorch's sgemm, 3 rounds per
batch size, medians of 15 calls (5 for the sgemm).

Usage (run once per OpenBLAS kernel set, on a quiet machine):
    OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=2 python bench/conv1_floor.py
    OPENBLAS_NUM_THREADS=2 python bench/conv1_floor.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch


def gflops(fn: Callable[[], object], flop: float, calls: int = 15) -> float:
    """GFLOP/s of ``fn`` from the median of ``calls`` timed calls after one warm-up."""
    fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return flop / statistics.median(times) / 1e9


def main() -> None:
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 2048), dtype=np.float32)
    b = a.copy()
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    for batch in (32, 256):
        rows = batch * 26 * 26
        flop = 2 * rows * 9 * 32
        patches = rng.standard_normal((rows, 9), dtype=np.float32)
        kernel = rng.standard_normal((9, 32), dtype=np.float32)
        out = np.empty((rows, 32), np.float32)
        images = torch.from_numpy(rng.standard_normal((batch, 1, 28, 28), dtype=np.float32))
        filters = torch.from_numpy(rng.standard_normal((32, 1, 3, 3), dtype=np.float32))
        for _ in range(3):
            peak_np = gflops(lambda: np.matmul(a, b), 2 * 2048**3, 5)
            conv_np = gflops(lambda p=patches, k=kernel, o=out: np.matmul(p, k, out=o), flop)
            peak_t = gflops(lambda: torch.mm(ta, tb), 2 * 2048**3, 5)
            with torch.inference_mode():
                conv_t = gflops(lambda x=images, k=filters: torch.nn.functional.conv2d(x, k), flop)
            print(
                f"batch {batch}: NumPy (rows, 9) @ (9, 32) {conv_np:.1f} GFLOP/s = "
                f"{conv_np / peak_np:.0%} of NumPy's sgemm {peak_np:.0f}; PyTorch conv2d "
                f"{conv_t:.1f} GFLOP/s = {conv_t / peak_t:.0%} of PyTorch's sgemm {peak_t:.0f}"
            )


if __name__ == "__main__":
    main()
