"""Spiking classifier training speed: engram's hand-written BPTT against PyTorch, in one run.

The network and settings of SpyTorch tutorial 2 (and of `engram run spiking-classifier`):
latency-coded 28x28 images, 784-100-10, 100 steps of 1 ms, tau_mem 10 ms, tau_syn 5 ms,
current-based LIF hidden layer with SuperSpike surrogate (scale 100), leaky readout, max over
time, cross-entropy plus the two spike-count regularisers (2e-6), Adam 2e-4, batches of 256,
float32. Timed: one training step per batch, input encoding included, ``--batches`` batches a
run.

- engram: `SpikingClassifier.compute_gradients` + `Adam.step`, the input encoded by
  `latency_encode(..., sparse=True)` (a tree whose `latency_encode` has no ``sparse`` argument,
  given with ``--before``, gets the dense code it supports).
- torch: SpyTorch tutorial 2's code path: firing times computed once for the data, each batch
  built as a ``torch.sparse_coo_tensor`` and made dense, ``einsum`` input projection, the
  Python loop over time with autograd, ``torch.optim.Adam``.

Each side runs in its own long-lived worker process, BLAS/OpenMP threads fixed to ``--threads``
before NumPy or PyTorch loads; turns alternate ABBA after a pause; reported per side: median
and best samples/s, and the median of the paired ratios (each engram run against the torch run
beside it). Data: the first images of Fashion-MNIST's training split when installed, else
random images with the same fraction of dark pixels (printed).

Usage:
    python bench/bench_spiking.py [--repeats 5] [--batches 8] [--threads 2]
                                  [--before PATH/TO/OLD/src] [--json FILE]
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from _workers import abba, ask, thread_env

BATCH, STEPS, HIDDEN = 256, 100, 100
TAU_MEM, TAU_SYN, TAU_EFF, THRESHOLD = 10.0, 5.0, 20.0, 0.2


def _images(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from engram import data

        (x, y), _ = data.load("fashion-mnist")
        return x[:n].reshape(n, -1) / 255.0, np.asarray(y[:n], np.int64), "Fashion-MNIST"
    except Exception:  # noqa: BLE001 (any reason the files are not there: use random images)
        rng = np.random.default_rng(0)
        x = rng.random((n, 784)) * (rng.random((n, 784)) < 0.5)
        return x, rng.integers(0, 10, n), "random images (Fashion-MNIST not installed)"


def _engram(x: np.ndarray, y: np.ndarray) -> Callable[[int], None]:
    from engram.nn.optimizers import Adam
    from engram.spiking.surrogate import SpikingClassifier, latency_encode

    model = SpikingClassifier(784, HIDDEN, 10, TAU_MEM, TAU_SYN, seed=0)
    opt = Adam(2e-4, epsilon=1e-8)
    sparse = {"sparse": True} if "sparse" in inspect.signature(latency_encode).parameters else {}

    def step(i: int) -> None:
        batch = slice(i * BATCH, (i + 1) * BATCH)
        model.compute_gradients(latency_encode(x[batch], STEPS, **sparse), y[batch])
        opt.step(model.layers)

    return step


def _torch(x: np.ndarray, y: np.ndarray, threads: int) -> Callable[[int], None]:
    import torch

    torch.set_num_threads(threads)
    dtype = torch.float32
    alpha, beta = float(np.exp(-1 / TAU_SYN)), float(np.exp(-1 / TAU_MEM))

    class SurrGradSpike(torch.autograd.Function):
        scale = 100.0

        @staticmethod
        def forward(ctx, v):
            ctx.save_for_backward(v)
            out = torch.zeros_like(v)
            out[v > 0] = 1.0
            return out

        @staticmethod
        def backward(ctx, grad_output):
            (v,) = ctx.saved_tensors
            return grad_output / (SurrGradSpike.scale * torch.abs(v) + 1.0) ** 2

    spike_fn = SurrGradSpike.apply
    gen = torch.Generator().manual_seed(0)
    w1 = torch.empty((784, HIDDEN), dtype=dtype, requires_grad=True)
    w2 = torch.empty((HIDDEN, 10), dtype=dtype, requires_grad=True)
    torch.nn.init.normal_(w1, 0.0, 7.0 * (1 - beta) / np.sqrt(784), generator=gen)
    torch.nn.init.normal_(w2, 0.0, 7.0 * (1 - beta) / np.sqrt(HIDDEN), generator=gen)
    opt = torch.optim.Adam([w1, w2], lr=2e-4, betas=(0.9, 0.999))
    # SpyTorch's current2firing_time, once for the whole data
    with np.errstate(divide="ignore", invalid="ignore"):
        times = np.where(x > THRESHOLD, TAU_EFF * np.log(x / (x - THRESHOLD)), np.inf)
    times = np.round(times)
    labels = torch.tensor(y)

    def run_snn(inputs):
        h1 = torch.einsum("abc,cd->abd", (inputs, w1))
        syn = torch.zeros((inputs.shape[0], HIDDEN), dtype=dtype)
        mem = torch.zeros_like(syn)
        spk_rec = []
        for t in range(STEPS):
            out = spike_fn(mem - 1.0)
            rst = out.detach()
            new_syn = alpha * syn + h1[:, t]
            new_mem = (beta * mem + syn) * (1.0 - rst)
            spk_rec.append(out)
            mem, syn = new_mem, new_syn
        spk_rec = torch.stack(spk_rec, dim=1)
        h2 = torch.einsum("abc,cd->abd", (spk_rec, w2))
        flt = torch.zeros((inputs.shape[0], 10), dtype=dtype)
        out = torch.zeros_like(flt)
        out_rec = [out]
        for t in range(STEPS):
            new_flt = alpha * flt + h2[:, t]
            out = beta * out + flt
            flt = new_flt
            out_rec.append(out)
        return torch.stack(out_rec, dim=1), spk_rec

    loss_fn = torch.nn.NLLLoss()

    def step(i: int) -> None:
        batch = slice(i * BATCH, (i + 1) * BATCH)
        b, f = np.nonzero(times[batch] < STEPS)
        index = torch.tensor(np.stack([b, times[batch][b, f].astype(np.int64), f]))
        inputs = torch.sparse_coo_tensor(
            index, torch.ones(index.shape[1]), (BATCH, STEPS, 784)
        ).to_dense()
        output, spks = run_snn(inputs)
        m, _ = torch.max(output, 1)
        loss = loss_fn(torch.nn.functional.log_softmax(m, dim=1), labels[batch])
        loss = loss + 2e-6 * torch.sum(spks) + 2e-6 * torch.mean(torch.sum(spks, (0, 1)) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def worker(side: str, src: str | None, batches: int, threads: int) -> None:
    """Serve timed runs: "train" in, seconds for ``batches`` training steps out."""
    if src:
        sys.path.insert(0, src)
    x, y, source = _images(BATCH * batches)
    step = _engram(x, y) if side != "torch" else _torch(x, y, threads)
    step(0)  # warm-up
    print(json.dumps({"data": source}), flush=True)
    for line in sys.stdin:
        if line.strip() != "train":
            break
        start = time.perf_counter()
        for i in range(batches):
            step(i)
        print(time.perf_counter() - start, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per side")
    parser.add_argument("--batches", type=int, default=8, help="batches of 256 per run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.25, help="seconds before each run")
    parser.add_argument("--before", help="another engram tree's src/ to time beside this one")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.src, args.batches, args.threads)
        return
    sides = {"engram": None, "torch": None}
    if args.before:
        sides = {"engram": None, "engram-before": args.before, "torch": None}
    procs = {}
    for side, src in sides.items():
        cmd = [sys.executable, __file__, "--worker", side, "--batches", str(args.batches)]
        cmd += ["--threads", str(args.threads)] + (["--src", src] if src else [])
        procs[side] = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=thread_env(args.threads),
        )  # fmt: skip
    data = {s: json.loads(p.stdout.readline())["data"] for s, p in procs.items()}
    seconds: dict[str, list[float]] = {s: [] for s in sides}
    for side in abba(list(sides), args.repeats, args.pause):
        seconds[side].append(float(ask(procs[side], "train")))
    for p in procs.values():
        ask_stop(p)
    n = BATCH * args.batches
    rate = {s: [n / t for t in seconds[s]] for s in sides}
    print(
        f"Spiking classifier training (784-{HIDDEN}-10, {STEPS} steps, batch {BATCH}, Adam, "
        f"float32), {args.threads} threads, {args.repeats} alternating runs of {n:,} samples "
        f"each; data: {data['torch']}"
    )
    print(f"{'side':<14} {'median':>9} {'best':>9}  samples/s   paired median vs torch")
    result = {"samples_per_run": n, "threads": args.threads, "samples_per_s": rate}
    for s in sides:
        paired = statistics.median(e / t for e, t in zip(rate[s], rate["torch"], strict=True))
        result[f"paired_ratio_{s}"] = paired
        print(
            f"{s:<14} {statistics.median(rate[s]):>9,.0f} {max(rate[s]):>9,.0f}"
            f"{'':>14}{paired:>8.2f}x"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)


def ask_stop(proc: subprocess.Popen) -> None:
    proc.stdin.write("stop\n")
    proc.stdin.flush()
    proc.wait()


if __name__ == "__main__":
    main()
