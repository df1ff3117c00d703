"""Speed and memory of the article's CNN: engram beside PyTorch CPU, measured in one run.

The network (the Keras article's): Conv2D(32, 3x3, relu) - MaxPooling2D(2x2) - Conv2D(64, 3x3,
relu) - MaxPooling2D(2x2) - Flatten - Dense(64, relu) - Dense(10, softmax), Adam, sparse
categorical cross-entropy, float32, 28x28x1 inputs. For each batch size the script measures

* training throughput (samples/s): ``model.fit`` for engram, the usual zero_grad / forward /
  loss / backward / step loop for PyTorch, over the same number of shuffled batches;
* inference throughput (samples/s): ``model.predict`` / a ``torch.inference_mode`` loop;
* peak memory: the rise of the process's peak resident set (``ru_maxrss``) above its resident
  set after imports and data creation, i.e. what the model, its training and its buffers add.

Each framework runs in its own subprocess with the same thread count (OpenBLAS/OpenMP threads
for NumPy, ``torch.set_num_threads`` for PyTorch), so neither sees the other's memory. The
parent alternates timed runs between the two workers (engram, PyTorch, engram, ...), so slow
drifts in machine load hit both alike; throughputs are medians of ``--repeats`` runs after a
warm-up, and each ratio is the median of the paired engram / PyTorch ratios (> 1: engram is
faster or, for memory, uses more).

Beside the throughputs, the engram worker times each Conv2D layer's forward and backward pass
alone (median of ``--layer-repeats`` passes on the same batch, after the timed runs) and prints
the GFLOP/s they achieve (2 * rows * patch * filters per matrix product: one forward, two
backward, one for the first layer, whose input gradient nobody reads) beside the measured sgemm
peak: the best of 2048 x 2048 x 2048 float32 products in the same process, same threads.

``--coretypes Haswell default`` runs everything once per OpenBLAS kernel set: the workers get
``OPENBLAS_CORETYPE=Haswell`` (AVX2) or no such variable (OpenBLAS's own choice, AVX-512 on this
CPU); each worker reports the kernels OpenBLAS runs.

Usage:
    python bench/bench_cnn.py                      # batch 32, 128 and 256, 2 threads
    python bench/bench_cnn.py --coretypes Haswell default
    python bench/bench_cnn.py --epoch              # also seconds per Fashion-MNIST epoch
    python bench/bench_cnn.py --profile engram     # cProfile of engram's training steps
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from _workers import ask, rss_mb, thread_env

# issue 17: training >= 1.5x PyTorch at batch 32 and >= 1.2x at 128 and 256; inference >= 1.5x;
# engram's samples/s at batch 256 >= 90% of batch 32's; each convolution >= 50% of sgemm's peak
TARGETS = {
    **{("train", b): 1.5 if b <= 32 else 1.2 for b in (32, 64, 128, 256)},
    **{("infer", b): 1.5 for b in (32, 64, 128, 256)},
}
SCALING_TARGET = 0.9
PEAK_FRACTION_TARGET = 0.5


def peak_mb() -> float:
    """The peak resident set (VmHWM) since the last `reset_peak`, in MB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Restart the peak-RSS count from the current RSS (Linux: /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def synthetic_data(n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.int64)
    return x, y


# ------------------------------------------------------------------------------ engram


def engram_model(seed: int = 0):
    """The article's CNN, as the vision experiments build it (Adam, learning rate 1e-3)."""
    from engram.experiments._vision import build_cnn

    return build_cnn(seed, 1e-3)


def engram_runner(x, y, batch: int):
    """(one training epoch over x, one prediction pass over x) for engram."""
    model = engram_model()

    def train() -> None:
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)

    def infer() -> None:
        model.predict(x, batch_size=batch)

    return train, infer


LAYER_REPEATS = 20


def sgemm_peak() -> float:
    """GFLOP/s of the best of five 2048^3 float32 products (NumPy's BLAS, this process's
    threads)."""
    import numpy as np

    n = 2048
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, a, out=out)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        np.matmul(a, a, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def conv_layer_rates(x, y, batch: int) -> dict[str, list[float]]:
    """Per Conv2D layer of a trained-for-one-batch model: [forward GFLOP/s, backward GFLOP/s]
    (medians of LAYER_REPEATS passes on one batch), plus the sgemm peak under "peak"."""
    import numpy as np

    from engram.nn.layers import Conv2D

    model = engram_model()
    model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)
    rates: dict[str, list[float]] = {}
    h = x[:batch]
    for index, layer in enumerate(model.layers):
        if not isinstance(layer, Conv2D):
            h = layer.forward(h, training=True)
            continue
        out = layer.forward(h, training=True)
        rows = int(np.prod(out.shape[:3]))
        flops = 2 * rows * layer.patch_size * layer.filters
        grad = np.ones_like(out)
        layer.needs_input_grad = index > 0  # as in training: the first layer's is not needed
        forward, backward = [], []
        for _ in range(LAYER_REPEATS):
            start = time.perf_counter()
            layer.forward(h, training=True)
            forward.append(time.perf_counter() - start)
            start = time.perf_counter()
            layer.backward(grad)
            backward.append(time.perf_counter() - start)
        layer.needs_input_grad = True
        products = 2 if index > 0 else 1
        rates[f"conv{len(rates) + 1}"] = [
            flops / statistics.median(forward) / 1e9,
            products * flops / statistics.median(backward) / 1e9,
        ]
        h = layer.forward(h, training=True).copy()
    rates["peak"] = [sgemm_peak(), 0.0]
    return rates


def blas_info() -> dict[str, str]:
    """Which kernels NumPy's OpenBLAS runs, and with how many threads."""
    from engram import runtime

    return {"core": runtime.blas_corename(), "threads": str(runtime.blas_threads())}


# ------------------------------------------------------------------------------ PyTorch


def torch_model(torch):
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1600, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )
    return model, torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)


def torch_epoch(torch, model, optimizer, x, y, batch: int) -> None:
    loss_fn = torch.nn.functional.cross_entropy
    order = torch.randperm(len(x))
    model.train()
    for start in range(0, len(x), batch):
        idx = order[start : start + batch]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()


def torch_predict(torch, model, x, batch: int) -> None:
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(x), batch):
            model(x[start : start + batch])


def torch_runner(x, y, batch: int):
    """(one training epoch over x, one prediction pass over x) for PyTorch."""
    import torch

    model, optimizer = torch_model(torch)

    def train() -> None:
        torch_epoch(torch, model, optimizer, x, y, batch)

    def infer() -> None:
        torch_predict(torch, model, x, batch)

    return train, infer


def serve(framework: str, batch: int, steps: int, threads: int) -> None:
    """Worker loop: build the model, then time one run per command read from stdin.

    Commands: ``train`` / ``infer`` (answer: samples per second of one run over the data) and
    ``memory`` (answer: the peak resident set since the model was built, above the resident set
    after imports and data, in MB). The parent alternates commands between the two
    frameworks' workers, so both see the same machine load; the idle one waits on its stdin.
    """
    x, y = synthetic_data(batch * steps)
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())  # PyTorch's native NCHW layout
        y = torch.from_numpy(y)
    else:
        import engram.experiments._vision  # noqa: F401  (imports count as baseline, as torch's do)
    base = rss_mb()
    reset_peak()
    train, infer = (engram_runner if framework == "engram" else torch_runner)(x, y, batch)
    train()  # warm-up: buffers, optimizer state, lazy initialization
    infer()
    for line in sys.stdin:
        command = line.strip()
        if command == "memory":
            answer = peak_mb() - base
        elif command == "layers":
            answer = conv_layer_rates(x, y, batch) if framework == "engram" else {}
        elif command == "blas":
            answer = blas_info() if framework == "engram" else {}
        elif command in ("train", "infer"):
            start = time.perf_counter()
            (train if command == "train" else infer)()
            answer = len(x) / (time.perf_counter() - start)
        else:
            return
        print(json.dumps(answer), flush=True)


# ------------------------------------------------------------------------------ epochs


def epoch_worker(framework: str, batch: int, threads: int) -> dict[str, float]:
    """Seconds for one training epoch on the full Fashion-MNIST training set (60,000 images)."""
    import numpy as np

    from engram.data import load_fashion_mnist

    (x_train, y_train), _ = load_fashion_mnist(download=False)
    x = (x_train.astype(np.float32) / 255.0)[..., None]
    y = y_train.astype(np.int64)
    if framework == "engram":
        model = engram_model()
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        return {"epoch_s": time.perf_counter() - start}
    import torch

    torch.set_num_threads(threads)
    model, optimizer = torch_model(torch)
    xt, yt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)
    start = time.perf_counter()
    torch_epoch(torch, model, optimizer, xt, yt, batch)
    return {"epoch_s": time.perf_counter() - start}


# ------------------------------------------------------------------------------ driver


class Worker:
    """A benchmark subprocess for one framework and batch size, driven line by line."""

    def __init__(self, framework: str, batch: int, steps: int, threads: int, core: str) -> None:
        args = ["--serve", framework, str(batch), "--steps", str(steps), "--threads", str(threads)]
        self.process = subprocess.Popen(
            [sys.executable, __file__, *args],
            env=core_env(thread_env(threads), core),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, command: str) -> Any:
        return json.loads(ask(self.process, command))

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def core_env(env: dict[str, str], core: str) -> dict[str, str]:
    """``env`` with OPENBLAS_CORETYPE set to ``core``, or removed for ``"default"``."""
    env = dict(env)
    env.pop("OPENBLAS_CORETYPE", None)
    if core != "default":
        env["OPENBLAS_CORETYPE"] = core
    return env


def compare(batch: int, steps: int, repeats: int, threads: int, core: str) -> dict[str, Any]:
    """Alternate timed runs between the two frameworks (engram first, then PyTorch first,
    ...); medians, paired ratios and their range; then engram's per-layer rates."""
    workers = {name: Worker(name, batch, steps, threads, core) for name in ("engram", "torch")}
    results: dict[str, Any] = {}
    try:
        results["blas"] = workers["engram"].ask("blas")
        for metric in ("train", "infer"):
            runs: dict[str, list[float]] = {"engram": [], "torch": []}
            for r in range(repeats):
                for name in ("engram", "torch") if r % 2 == 0 else ("torch", "engram"):
                    runs[name].append(float(workers[name].ask(metric)))
            ratios = [a / b for a, b in zip(runs["engram"], runs["torch"], strict=True)]
            results[metric] = {
                "engram": statistics.median(runs["engram"]),
                "torch": statistics.median(runs["torch"]),
                "ratio": statistics.median(ratios),
                "spread": (min(ratios), max(ratios)),
                "runs": runs,
            }
        memory = {name: float(worker.ask("memory")) for name, worker in workers.items()}
        memory["ratio"] = memory["engram"] / max(memory["torch"], 1e-9)
        results["memory"] = memory
        results["layers"] = workers["engram"].ask("layers")
    finally:
        for worker in workers.values():
            worker.close()
    return results


def run_worker(args: list[str], threads: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, *args, "--threads", str(threads)],
        env=thread_env(threads),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def profile_engram(batch: int, steps: int) -> None:
    import cProfile
    import pstats

    x, y = synthetic_data(batch * steps)
    model = engram_model()
    model.fit(x[: batch * 3], y[: batch * 3], batch_size=batch, epochs=1, verbose=0)
    profiler = cProfile.Profile()
    profiler.enable()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 256])
    parser.add_argument(
        "--coretypes",
        nargs="+",
        default=["as-set"],
        help="OPENBLAS_CORETYPE values for the workers ('default': unset; 'as-set': as here)",
    )
    parser.add_argument("--steps", type=int, default=30, help="batches per timed run")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per framework")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epoch", action="store_true", help="also time a Fashion-MNIST epoch")
    parser.add_argument("--profile", choices=["engram"], help="profile instead of benchmark")
    parser.add_argument("--serve", nargs=2, metavar=("FRAMEWORK", "BATCH"), help=argparse.SUPPRESS)
    parser.add_argument("--epoch-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.steps, args.threads)
        return
    if args.epoch_worker:
        result = epoch_worker(args.epoch_worker[0], int(args.epoch_worker[1]), args.threads)
        print(json.dumps(result))
        return
    if args.profile:
        profile_engram(args.batch_sizes[0], args.steps)
        return

    print(
        "CNN 28x28x1 Conv32-Pool-Conv64-Pool-Flatten-Dense64-Dense10, Adam, float32, "
        f"{args.threads} threads; {args.steps} batches per run, {args.repeats} runs each, "
        "alternating frameworks; medians (ratio: median of paired engram/PyTorch ratios, "
        "[lowest, highest] pair)"
    )
    for core in args.coretypes:
        if core == "as-set":
            core = os.environ.get("OPENBLAS_CORETYPE", "default")
        report(core, args)
    epochs(args)


def report(core: str, args: argparse.Namespace) -> None:
    """Run and print the comparison at every batch size for one OpenBLAS kernel set."""
    header = f"{'batch':>5} {'metric':<16} {'engram':>9} {'pytorch':>9} {'ratio':>7} {'pairs':>13}"
    results = {}
    for batch in args.batch_sizes:
        results[batch] = compare(batch, args.steps, args.repeats, args.threads, core)
        if batch == args.batch_sizes[0]:
            blas = results[batch]["blas"]
            print(f"\nOPENBLAS_CORETYPE={core}: NumPy's OpenBLAS runs {blas['core']} kernels")
            print(header + "  target")
            print("-" * (len(header) + 12))
        for key, label in (("train", "train samples/s"), ("infer", "infer samples/s")):
            row = results[batch][key]
            low, high = row["spread"]
            target = TARGETS.get((key, batch))
            mark = "" if target is None else f">={target:.1f} "
            mark += "" if target is None else ("ok" if row["ratio"] >= target else "MISS")
            print(
                f"{batch:>5} {label:<16} {row['engram']:>9.0f} {row['torch']:>9.0f} "
                f"{row['ratio']:>6.2f}x [{low:.2f}, {high:.2f}]  {mark}"
            )
        mem = results[batch]["memory"]
        print(
            f"{batch:>5} {'peak memory MB':<16} {mem['engram']:>9.1f} {mem['torch']:>9.1f} "
            f"{mem['ratio']:>6.2f}x {'':>13}  <=1.0 {'ok' if mem['ratio'] <= 1 else 'MISS'}"
        )
    print_scaling(results)
    print_layers(results)


def print_scaling(results: dict[int, Any]) -> None:
    """engram's samples/s at the largest batch against the smallest (target >= 90%)."""
    small, large = min(results), max(results)
    if small == large:
        return
    for key in ("train", "infer"):
        ratio = results[large][key]["engram"] / results[small][key]["engram"]
        torch_ratio = results[large][key]["torch"] / results[small][key]["torch"]
        verdict = "ok" if ratio >= SCALING_TARGET else "MISS"
        print(
            f"{key} samples/s at batch {large} / batch {small}: engram {ratio:.2f} "
            f"(target >= {SCALING_TARGET:.1f} {verdict}), PyTorch {torch_ratio:.2f}"
        )


def print_layers(results: dict[int, Any]) -> None:
    """Each convolution's achieved GFLOP/s beside the sgemm peak measured in the same worker."""
    for batch, result in results.items():
        layers = dict(result["layers"])
        peak = layers.pop("peak")[0]
        cells = []
        for name, (forward, backward) in layers.items():
            cells.append(
                f"{name} forward {forward:.0f} ({forward / peak:.0%}), "
                f"backward {backward:.0f} ({backward / peak:.0%})"
            )
        print(f"batch {batch:>3} GFLOP/s (of sgemm peak {peak:.0f}): " + "; ".join(cells))
    print(f"(target: each convolution >= {PEAK_FRACTION_TARGET:.0%} of the sgemm peak)")


def epochs(args: argparse.Namespace) -> None:
    if args.epoch:
        for framework in ("engram", "torch"):
            result = run_worker(["--epoch-worker", framework, "32"], args.threads)
            print(
                f"Fashion-MNIST epoch (60,000 images, batch 32), {framework}: "
                f"{result['epoch_s']:.1f} s"
            )


if __name__ == "__main__":
    main()
