"""A trial, not a feature: would Numba kernels for the seed CNN's non-GEMM work pay for themselves?

Issue 17 allows a compiled dependency only if it "wins big and installs offline everywhere",
with its import and compile time measured. This script measures exactly that for the two
pieces `cnn_floor.py --layers` shows to be the largest outside the matrix products that NumPy
cannot make cheaper (each NumPy pass over a strided 4-D view costs its per-row overhead):

* 2x2 max pooling (stride 2, valid) forward with the winner's index, and its backward, each
  one pass in a compiled loop (NumPy: copy + 3 x 4 passes forward, 4 x 2 backward);
* the first convolution (1 input channel, 3x3, 32 filters, ReLU) computed directly, forward
  and weight gradient, instead of im2col + product + ReLU.

It prints ``import numba`` (a fresh interpreter, best of 3), the first call's compile time
without a cache, with ``cache=True`` the first (compile and write) and second (load) process,
each kernel against NumPy's, and the whole training step with the kernels swapped in
(single-thread CPU time, alternating, paired ratios). The kernels are checked against
engram's NumPy path first. Needs numba (``pip install numba``); engram does not.

    OPENBLAS_NUM_THREADS=1 python bench/cnn_numba_trial.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np

CACHE = os.environ.get("CNN_TRIAL_CACHE") == "1"


@numba.njit(cache=CACHE, nogil=True)
def pool_forward(x, y, index):  # pragma: no cover - compiled
    n, oh, ow, c = y.shape
    for b in range(n):
        for r in range(oh):
            for q in range(ow):
                for ch in range(c):
                    best = x[b, 2 * r, 2 * q, ch]
                    k = 0
                    v = x[b, 2 * r, 2 * q + 1, ch]
                    if v > best:
                        best, k = v, 1
                    v = x[b, 2 * r + 1, 2 * q, ch]
                    if v > best:
                        best, k = v, 2
                    v = x[b, 2 * r + 1, 2 * q + 1, ch]
                    if v > best:
                        best, k = v, 3
                    y[b, r, q, ch] = best
                    index[b, r, q, ch] = k


@numba.njit(cache=CACHE, nogil=True)
def pool_backward(grad_y, index, grad_x):  # pragma: no cover - compiled
    n, oh, ow, c = grad_y.shape
    grad_x[:] = 0
    for b in range(n):
        for r in range(oh):
            for q in range(ow):
                for ch in range(c):
                    k = index[b, r, q, ch]
                    grad_x[b, 2 * r + k // 2, 2 * q + k % 2, ch] = grad_y[b, r, q, ch]


@numba.njit(cache=CACHE, nogil=True)
def conv1_forward(x, kernel9, bias, y):  # pragma: no cover - compiled
    n, oh, ow, f = y.shape
    acc = np.empty(f, np.float32)
    for b in range(n):
        for r in range(oh):
            for c in range(ow):
                for o in range(f):
                    acc[o] = bias[o]
                for i in range(3):
                    for j in range(3):
                        v = x[b, r + i, c + j, 0]
                        for o in range(f):
                            acc[o] += v * kernel9[i * 3 + j, o]
                for o in range(f):
                    y[b, r, c, o] = acc[o] if acc[o] > 0 else 0.0


@numba.njit(cache=CACHE, nogil=True)
def conv1_backward(x, y, grad_y, grad_kernel9, grad_bias):  # pragma: no cover - compiled
    n, oh, ow, f = y.shape
    grad_kernel9[:] = 0
    grad_bias[:] = 0
    g = np.empty(f, np.float32)
    for b in range(n):
        for r in range(oh):
            for c in range(ow):
                for o in range(f):
                    g[o] = grad_y[b, r, c, o] if y[b, r, c, o] > 0 else 0.0
                    grad_bias[o] += g[o]
                for i in range(3):
                    for j in range(3):
                        v = x[b, r + i, c + j, 0]
                        for o in range(f):
                            grad_kernel9[i * 3 + j, o] += v * g[o]


def first_calls() -> float:
    """Seconds for the first call of every kernel (compile, or load from the cache)."""
    x = np.ones((2, 28, 28, 1), np.float32)
    y = np.empty((2, 26, 26, 32), np.float32)
    start = time.perf_counter()
    conv1_forward(x, np.ones((9, 32), np.float32), np.ones(32, np.float32), y)
    conv1_backward(x, y, y, np.empty((9, 32), np.float32), np.empty(32, np.float32))
    pooled, index = np.empty((2, 13, 13, 32), np.float32), np.empty((2, 13, 13, 32), np.uint8)
    pool_forward(y, pooled, index)
    pool_backward(pooled, index, y)
    return time.perf_counter() - start


def cpu_ms(fn, repeats: int = 15) -> float:
    fn()
    runs = []
    for _ in range(repeats):
        start = time.thread_time()
        fn()
        runs.append(time.thread_time() - start)
    return statistics.median(runs) * 1e3


def check_and_time_kernels(batch: int) -> None:
    from engram.nn import conv_functional as C
    from engram.nn.layers import Conv2D

    rng = np.random.default_rng(0)
    x = rng.random((batch, 28, 28, 1), dtype=np.float32)
    grad = rng.standard_normal((batch, 26, 26, 32), dtype=np.float32)
    layer = Conv2D(32, 3, activation="relu")
    layer.build((28, 28, 1), np.random.default_rng(0))
    layer.needs_input_grad = False
    y_ref = layer.forward(x, training=True).copy()
    layer.backward(grad)
    y = np.empty_like(y_ref)
    dk, db = np.empty((9, 32), np.float32), np.empty(32, np.float32)
    kernel9, bias = layer.params["kernel"].reshape(9, 32), layer.params["bias"]
    conv1_forward(x, kernel9, bias, y)
    conv1_backward(x, y, grad, dk, db)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dk.reshape(3, 3, 1, 32), layer.grads["kernel"], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(db, layer.grads["bias"], rtol=1e-3, atol=1e-3)
    pooled, index = (
        np.empty((batch, 13, 13, 32), np.float32),
        np.empty((batch, 13, 13, 32), np.uint8),
    )
    pool_forward(y, pooled, index)
    ref_y, ref_index = C.max_pool2d(y, (2, 2), (2, 2))
    assert np.array_equal(pooled, ref_y) and np.array_equal(index, ref_index)
    gx = np.empty_like(y)
    pool_backward(pooled, index, gx)
    assert np.array_equal(gx, C.max_pool2d_backward(pooled, index, y.shape, (2, 2), (2, 2)))

    def numpy_conv1():
        layer.forward(x, training=True)
        layer.backward(grad)

    rows = {
        "pool forward + index": (
            lambda: C.max_pool2d(y, (2, 2), (2, 2), out=ref_y, index=ref_index),
            lambda: pool_forward(y, pooled, index),
        ),
        "pool backward": (
            lambda: C.max_pool2d_backward(pooled, index, y.shape, (2, 2), (2, 2), out=gx),
            lambda: pool_backward(pooled, index, gx),
        ),
        "conv1 forward": (
            lambda: layer.forward(x, training=True),
            lambda: conv1_forward(x, kernel9, bias, y),
        ),
        "conv1 forward + backward": (
            numpy_conv1,
            lambda: (conv1_forward(x, kernel9, bias, y), conv1_backward(x, y, grad, dk, db)),
        ),
    }
    for name, (ours, theirs) in rows.items():
        print(
            f"  batch {batch} {name:<26} NumPy {cpu_ms(ours):7.3f} ms, "
            f"Numba {cpu_ms(theirs):7.3f} ms"
        )


def whole_step(batch: int, rounds: int = 8) -> None:
    """engram's training step with NumPy's pooling and conv1 and with the kernels swapped in."""
    from bench_cnn import engram_model, synthetic_data
    from engram.nn import conv_functional as C

    steps = max(4, 640 // batch)
    x, y = synthetic_data(batch * steps)
    model = engram_model()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    conv1 = model.layers[0]
    numpy_pool = C.max_pool2d, C.max_pool2d_backward

    def pool(x, pool_size, strides, padding="valid", out=None, index=None, return_index=True):
        index = np.empty(out.shape, np.uint8) if index is None else index
        pool_forward(x, out, index)
        return out, index

    def unpool(grad_y, index, x_shape, pool_size, strides, padding="valid", out=None):
        pool_backward(grad_y, index, out)
        return out

    def forward(x, training=False):
        out = conv1.workspace.output("z", (len(x), 26, 26, 32), x.dtype)
        conv1_forward(x, conv1.params["kernel"].reshape(9, 32), conv1.params["bias"], out)
        conv1.x_in, conv1.y = x, out
        return out

    def backward(grad_y):
        dk = conv1.grad_array("kernel", conv1.params["kernel"].shape, grad_y.dtype)
        db = conv1.grad_array("bias", (32,), grad_y.dtype)
        conv1_backward(conv1.x_in, conv1.y, grad_y, dk.reshape(9, 32), db)
        conv1.grads["kernel"], conv1.grads["bias"] = dk, db

    def use(kernels: str) -> None:
        C.max_pool2d, C.max_pool2d_backward = (pool, unpool) if kernels != "numpy" else numpy_pool
        conv1.__dict__.pop("forward", None)
        conv1.__dict__.pop("backward", None)
        if kernels == "pool+conv1":
            conv1.forward, conv1.backward = forward, backward

    times: dict[str, list[float]] = {"numpy": [], "pool": [], "pool+conv1": []}
    try:
        for r in range(rounds):
            for kernels in list(times)[:: 1 if r % 2 == 0 else -1]:
                use(kernels)
                start = time.thread_time()
                model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
                times[kernels].append((time.thread_time() - start) / steps * 1e3)
    finally:
        use("numpy")
    base = times["numpy"]
    line = f"  batch {batch}: step NumPy {statistics.median(base):.2f} ms"
    for kernels in ("pool", "pool+conv1"):
        ratios = sorted(b / a for a, b in zip(base, times[kernels], strict=True))
        line += (
            f"; Numba {kernels} {statistics.median(times[kernels]):.2f} ms, paired time ratio "
            f"{statistics.median(ratios):.3f} [{ratios[0]:.3f}, {ratios[-1]:.3f}]"
        )
    print(line, flush=True)


def child(what: str) -> None:
    if what == "first-calls":
        print(json.dumps(first_calls()))


def run_child(env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, __file__, "--child", "first-calls"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    from engram import runtime

    runtime._openblas()[1](1)
    imports = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", "import time; t = time.perf_counter(); import numba; "
             "print(time.perf_counter() - t)"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        imports.append(float(done.stdout))
    with tempfile.TemporaryDirectory() as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        cold = run_child({**env, "CNN_TRIAL_CACHE": "0"})
        fill = run_child({**env, "CNN_TRIAL_CACHE": "1"})
        load = run_child({**env, "CNN_TRIAL_CACHE": "1"})
    print(
        f"numba {numba.__version__}: import {min(imports) * 1e3:.0f} ms (best of 3 fresh "
        f"interpreters); first calls of the 4 kernels: {cold:.2f} s compiling, "
        f"{fill:.2f} s compiling with cache=True, {load:.2f} s loading that cache"
    )
    print(f"{runtime.blas_corename()} kernels, one thread, CPU time (median of 15)")
    for batch in (32, 256):
        check_and_time_kernels(batch)
    print("Whole training step (model.fit), one thread, CPU time, 8 alternating rounds")
    for batch in (32, 256):
        whole_step(batch)


if __name__ == "__main__":
    main()
