"""MLP training and inference: engram against PyTorch CPU, same shapes, threads and optimizer.

Workloads (issue 2, section 6):
    784-128-10, ReLU, softmax cross-entropy, Adam, batch 128, one epoch of 60,000 samples
    784-10-10-10, same, batch 32
Data: MNIST-shaped random inputs (uniform [0, 1), float32) and random labels 0..9, the same in
both frameworks; speed does not depend on the values.

Each (framework, workload) runs in its own subprocess, so imports, allocations and peak memory
do not leak between them. In that subprocess:
    1. BLAS threads are fixed before numpy/torch load (OMP/OPENBLAS/MKL_NUM_THREADS, and
       torch.set_num_threads) to --threads (default 2);
    2. one warm-up epoch on 2,048 samples;
    3. --repeats timed epochs over all samples (shuffled every epoch, Adam), the median reported
       as training throughput (samples/s);
    4. --repeats timed inference passes (batched forward + softmax, no gradients), median;
    5. peak memory = resource.getrusage(RUSAGE_SELF).ru_maxrss at the end: the process's peak
       resident set, everything included (interpreter, library, data, training, inference).

Usage:
    python bench/bench_mlp.py                 # both workloads, 3 repeats, 2 threads
    python bench/bench_mlp.py --repeats 5 --threads 2
    python bench/bench_mlp.py --quick         # 6,000 samples, 1 repeat: a smoke test

Targets (issue 2): training >= 1.5x PyTorch, inference >= 1.0x, peak memory <= PyTorch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

WORKLOADS = {
    "784-128-10 b128": {"hidden": [128], "batch": 128},
    "784-10-10-10 b32": {"hidden": [10, 10], "batch": 32},
}
N_FEATURES, N_CLASSES = 784, 10


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _data(n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((n, N_FEATURES), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, n)
    return x, y


def _engram(spec: dict, n: int, repeats: int) -> dict:
    from engram.nn import Sequential
    from engram.nn.layers import Dense
    from engram.nn.optimizers import Adam

    x, y = _data(n)
    batch = spec["batch"]
    layers = [Dense(spec["hidden"][0], activation="relu", input_shape=(N_FEATURES,))]
    layers += [Dense(units, activation="relu") for units in spec["hidden"][1:]]
    layers.append(Dense(N_CLASSES, activation="softmax"))
    model = Sequential(layers, seed=0)
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x[:2048], y[:2048], batch_size=batch, epochs=1, verbose=0)  # warm-up
    train, infer = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        train.append(n / (time.perf_counter() - start))
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(x, batch_size=batch)
        infer.append(n / (time.perf_counter() - start))
    return {"train": _median(train), "infer": _median(infer)}


def _torch(spec: dict, n: int, repeats: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x_np, y_np = _data(n)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    batch = spec["batch"]
    modules, width = [], N_FEATURES
    for units in spec["hidden"]:
        modules += [torch.nn.Linear(width, units), torch.nn.ReLU()]
        width = units
    modules.append(torch.nn.Linear(width, N_CLASSES))
    net = torch.nn.Sequential(*modules)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(count: int) -> None:
        order = torch.randperm(count)
        for start in range(0, count, batch):
            idx = order[start : start + batch]
            optimizer.zero_grad()
            loss_fn(net(x[idx]), y[idx]).backward()
            optimizer.step()

    epoch(2048)  # warm-up
    train, infer = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        epoch(n)
        train.append(n / (time.perf_counter() - start))
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            outs = [torch.softmax(net(x[s : s + batch]), dim=-1) for s in range(0, n, batch)]
            torch.cat(outs)
            infer.append(n / (time.perf_counter() - start))
    return {"train": _median(train), "infer": _median(infer)}


def worker(framework: str, workload: str, n: int, repeats: int, threads: int) -> None:
    """Run one (framework, workload) pair and print a JSON line with its numbers."""
    import resource

    spec = WORKLOADS[workload]
    if framework == "engram":
        result = _engram(spec, n, repeats)
    else:
        result = _torch(spec, n, repeats, threads)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps(result))


def run_one(framework: str, workload: str, n: int, repeats: int, threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        framework,
        "--workload",
        workload,
        "--samples",
        str(n),
        "--repeats",
        str(repeats),
        "--threads",
        str(threads),
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="6,000 samples, 1 repeat")
    parser.add_argument("--worker", choices=["engram", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=list(WORKLOADS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.samples, args.repeats = 6_000, 1
    if args.worker:
        worker(args.worker, args.workload, args.samples, args.repeats, args.threads)
        return

    print(
        f"MLP benchmark: {args.samples:,} samples, Adam, float32, {args.threads} threads, "
        f"median of {args.repeats}; peak memory = ru_maxrss of each framework's own process"
    )
    header = (
        f"{'workload':<18} {'train/s engram':>14} {'torch':>9} {'ratio':>6}   "
        f"{'infer/s engram':>14} {'torch':>9} {'ratio':>6}   "
        f"{'peak MB engram':>14} {'torch':>7} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for workload in WORKLOADS:
        ours = run_one("engram", workload, args.samples, args.repeats, args.threads)
        theirs = run_one("torch", workload, args.samples, args.repeats, args.threads)
        print(
            f"{workload:<18} {ours['train']:>14,.0f} {theirs['train']:>9,.0f} "
            f"{ours['train'] / theirs['train']:>5.2f}x   "
            f"{ours['infer']:>14,.0f} {theirs['infer']:>9,.0f} "
            f"{ours['infer'] / theirs['infer']:>5.2f}x   "
            f"{ours['peak_mb']:>14,.0f} {theirs['peak_mb']:>7,.0f} "
            f"{ours['peak_mb'] / theirs['peak_mb']:>5.2f}x"
        )
    print("targets: training >= 1.5x, inference >= 1.0x, peak memory <= 1.0x (engram / torch)")


if __name__ == "__main__":
    main()
