"""MLP training and inference: engram against PyTorch CPU, same shapes, threads and optimizer.

Workloads (issue 2, section 6):
    784-128-10, ReLU, softmax cross-entropy, Adam, batch 128, one epoch of 60,000 samples
    784-10-10-10, same, batch 32
Data: MNIST-shaped random inputs (uniform [0, 1), float32) and random labels 0..9, the same in
both frameworks; speed does not depend on the values.

Method. For each workload, engram and PyTorch each run in their own long-lived subprocess:
    1. BLAS threads are fixed before numpy/torch load (OMP/OPENBLAS/MKL_NUM_THREADS, and
       torch.set_num_threads) to --threads (default 2); nothing else about BLAS is changed
       (the kernel OpenBLAS runs with is printed: this machine's environment sets
       OPENBLAS_CORETYPE=Haswell, and it is left as it is);
    2. data, model, one warm-up epoch on 2,048 samples;
    3. the parent then asks the two processes for timed epochs in turn -- engram, torch,
       torch, engram, engram, torch, ... (--repeats each; shuffled every epoch, Adam) -- and
       likewise for timed inference passes (batched forward + softmax, no gradients), with a
       short pause before each so neither starts while the other's threads still spin. Load
       that drifts during the run hits both frameworks alike;
    4. reported: the best and the median samples/s of each, the ratio of the bests, and the
       median of the paired ratios (each engram epoch against the torch epoch next to it);
    5. peak memory = resource.getrusage(RUSAGE_SELF).ru_maxrss at the end: each process's peak
       resident set, everything included (interpreter, library, data, training, inference).

Usage:
    python bench/bench_mlp.py                 # both workloads, 5 repeats, 2 threads
    python bench/bench_mlp.py --repeats 9 --threads 2
    python bench/bench_mlp.py --quick         # 6,000 samples, 2 repeats: a smoke test

Targets (issue 2): training >= 1.5x PyTorch, inference >= 1.0x, peak memory <= PyTorch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from _workers import abba, ask, thread_env

WORKLOADS = {
    "784-128-10 b128": {"hidden": [128], "batch": 128},
    "784-10-10-10 b32": {"hidden": [10, 10], "batch": 32},
}
N_FEATURES, N_CLASSES = 784, 10
FRAMEWORKS = ("engram", "torch")


def _data(n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((n, N_FEATURES), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, n)
    return x, y


def _engram(spec: dict, n: int):
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

    def train() -> None:
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)

    def infer() -> None:
        model.predict(x, batch_size=batch)

    return train, infer


def _torch(spec: dict, n: int, threads: int, loop: str = "index"):
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

    def batches(count: int):
        if loop == "dataloader":  # the loop of PyTorch's tutorials
            data = torch.utils.data.TensorDataset(x[:count], y[:count])
            yield from torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True)
            return
        order = torch.randperm(count)  # the lean loop: one shuffled index, tensor indexing
        for start in range(0, count, batch):
            idx = order[start : start + batch]
            yield x[idx], y[idx]

    def epoch(count: int) -> None:
        for xb, yb in batches(count):
            optimizer.zero_grad()
            loss_fn(net(xb), yb).backward()
            optimizer.step()

    def infer() -> None:
        with torch.no_grad():
            torch.cat([torch.softmax(net(x[s : s + batch]), dim=-1) for s in range(0, n, batch)])

    epoch(2048)  # warm-up
    return (lambda: epoch(n)), infer


def _blas_kernel() -> str:
    from threadpoolctl import threadpool_info

    for info in threadpool_info():
        if info.get("user_api") == "blas":
            kernel = info.get("architecture") or "?"
            return f"{info.get('internal_api')} {info.get('version')}, {kernel} kernels"
    return "unknown"


def worker(framework: str, workload: str, n: int, threads: int, loop: str) -> None:
    """Serve timed runs: "train" or "infer" in, seconds out; "stop" ends with peak memory."""
    import resource

    spec = WORKLOADS[workload]
    if framework == "engram":
        train, infer = _engram(spec, n)
    else:
        train, infer = _torch(spec, n, threads, loop)
    if framework == "engram":
        blas = _blas_kernel()
    else:
        import torch

        mkl = "MKL" if torch.backends.mkl.is_available() else "its own BLAS"
        blas = f"{mkl}, {torch.backends.cpu.get_cpu_capability()} kernels"
    print(json.dumps({"blas": blas}), flush=True)
    tasks = {"train": train, "infer": infer}
    for line in sys.stdin:
        command = line.strip()
        if command not in tasks:
            break
        start = time.perf_counter()
        tasks[command]()
        print(time.perf_counter() - start, flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"peak_mb": peak}), flush=True)


def start_worker(
    framework: str, workload: str, n: int, threads: int, loop: str
) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--worker", framework, "--workload", workload]
    cmd += ["--samples", str(n), "--threads", str(threads), "--torch-loop", loop]
    return subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=thread_env(threads)
    )


def measure(workload: str, n: int, repeats: int, threads: int, pause: float, loop: str) -> dict:
    procs = {f: start_worker(f, workload, n, threads, loop) for f in FRAMEWORKS}
    blas = {f: json.loads(p.stdout.readline())["blas"] for f, p in procs.items()}
    result: dict = {"blas": blas}
    for task in ("train", "infer"):
        seconds: dict[str, list[float]] = {f: [] for f in FRAMEWORKS}
        for f in abba(FRAMEWORKS, repeats, pause):
            seconds[f].append(float(ask(procs[f], task)))
        rate = {f: [n / s for s in seconds[f]] for f in FRAMEWORKS}
        paired = [e / t for e, t in zip(rate["engram"], rate["torch"], strict=True)]
        result[task] = {
            "best": {f: max(rate[f]) for f in FRAMEWORKS},
            "median": {f: statistics.median(rate[f]) for f in FRAMEWORKS},
            "ratio_best": max(rate["engram"]) / max(rate["torch"]),
            "ratio_paired_median": statistics.median(paired),
        }
    result["peak_mb"] = {f: json.loads(ask(p, "stop"))["peak_mb"] for f, p in procs.items()}
    for p in procs.values():
        p.wait()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per framework")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.25, help="seconds before each run")
    parser.add_argument("--quick", action="store_true", help="6,000 samples, 2 repeats")
    parser.add_argument(
        "--torch-loop",
        choices=("index", "dataloader"),
        default="index",
        help="PyTorch's training loop: 'index' (default), shuffled tensor indexing, the leanest "
        "plain loop; 'dataloader', TensorDataset + DataLoader(shuffle=True) as the tutorials "
        "write it",
    )
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=list(WORKLOADS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.samples, args.repeats = 6_000, 2
    if args.worker:
        worker(args.worker, args.workload, args.samples, args.threads, args.torch_loop)
        return

    print(
        f"MLP benchmark: {args.samples:,} samples, Adam, float32, {args.threads} threads, "
        f"{args.repeats} alternating runs each; peak memory = ru_maxrss of each process; "
        f"PyTorch loop: {args.torch_loop}"
    )
    results = {}
    header = (
        f"{'workload':<18} {'':<6} {'engram best':>11} {'median':>8} {'torch best':>11} "
        f"{'median':>8} {'best':>6} {'paired':>7}"
    )
    for workload in WORKLOADS:
        r = results[workload] = measure(
            workload, args.samples, args.repeats, args.threads, args.pause, args.torch_loop
        )
        if workload == next(iter(WORKLOADS)):
            print(f"BLAS: engram (NumPy) {r['blas']['engram']}; torch {r['blas']['torch']}")
            if os.environ.get("OPENBLAS_CORETYPE"):
                print(f"(OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set here)")
            print(header)
            print("-" * len(header))
        for task in ("train", "infer"):
            t = r[task]
            print(
                f"{workload if task == 'train' else '':<18} {task:<6} "
                f"{t['best']['engram']:>11,.0f} {t['median']['engram']:>8,.0f} "
                f"{t['best']['torch']:>11,.0f} {t['median']['torch']:>8,.0f} "
                f"{t['ratio_best']:>5.2f}x {t['ratio_paired_median']:>6.2f}x"
            )
        mem = r["peak_mb"]
        print(
            f"{'':<18} {'memory':<6} {mem['engram']:>10,.0f}M {'':>8} {mem['torch']:>10,.0f}M "
            f"{'':>8} {mem['engram'] / mem['torch']:>5.2f}x"
        )
    print(
        "samples/s; best: best run against best run; paired: median of engram/torch over "
        "neighbouring runs.\ntargets: training >= 1.5x, inference >= 1.0x, peak memory <= 1.0x"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
