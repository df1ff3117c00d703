"""The floor for NumPy: a minimal hand-written MLP training loop, no engine around it.

784-128-10, ReLU, fused softmax cross-entropy, Adam (Keras's formula, lr 1e-3, eps 1e-7), batch
128, one epoch of 60,000 MNIST-shaped samples gathered with the same ``np.take`` engram uses:
the same arithmetic as ``bench_mlp.py``'s engram model, written as straight-line NumPy. It prints
samples/s (best of ``N`` epochs after a warm-up epoch). Compare it with bench_mlp.py's engram
column in the same session: the difference is what engram's layers, model loop, input checks
and optimizer bookkeeping cost. Run: ``python bench/plain_numpy_mlp.py [N]``.
"""

import math
import sys
import time

import numpy as np

rng = np.random.default_rng(0)
n = 60000
x = rng.random((n, 784), dtype=np.float32)
y = rng.integers(0, 10, n)


def glorot(a, b):
    l = math.sqrt(6 / (a + b))
    return rng.uniform(-l, l, (a, b)).astype(np.float32)


P = [glorot(784, 128), np.zeros(128, np.float32), glorot(128, 10), np.zeros(10, np.float32)]
M = [np.zeros_like(p) for p in P]
V = [np.zeros_like(p) for p in P]
S = [np.empty_like(p) for p in P]
t_ = [0]
xb = np.empty((128, 784), np.float32)
rows = np.arange(128)


def step(xb, yb):
    W1, b1, W2, b2 = P
    z1 = xb @ W1
    z1 += b1
    h = np.maximum(z1, 0)
    z2 = h @ W2
    z2 += b2
    m = z2.max(axis=1, keepdims=True)
    e = np.exp(z2 - m)
    e /= e.sum(axis=1, keepdims=True)
    e[rows, yb] -= 1
    e /= len(yb)
    g = [None] * 4
    g[2] = h.T @ e
    g[3] = e.sum(0)
    dh = e @ W2.T
    dh *= z1 > 0
    g[0] = xb.T @ dh
    g[1] = dh.sum(0)
    t_[0] += 1
    t = t_[0]
    lr = 1e-3 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
    for p, gg, mm, vv, s in zip(P, g, M, V, S, strict=True):
        np.subtract(gg, mm, out=s)
        s *= 0.1
        mm += s
        np.square(gg, out=s)
        s -= vv
        s *= 0.001
        vv += s
        np.sqrt(vv, out=s)
        s += 1e-7
        np.divide(mm, s, out=s)
        s *= lr
        p -= s


def epoch():
    order = rng.permutation(n)
    for s in range(0, n - 127, 128):
        idx = order[s : s + 128]
        np.take(x, idx, axis=0, out=xb, mode="clip")
        step(xb, y[idx])


epoch()
ts = []
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
    t = time.perf_counter()
    epoch()
    ts.append(time.perf_counter() - t)
print(int(60000 / min(ts)))
