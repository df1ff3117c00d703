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

Usage:
    python bench/bench_cnn.py                      # batch 32 and 128, 2 threads
    python bench/bench_cnn.py --epoch              # also seconds per Fashion-MNIST epoch
    python bench/bench_cnn.py --profile engram     # cProfile of engram's training steps
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from _workers import ask, rss_mb, thread_env

TARGETS = {("train", 32): 1.0, ("train", 128): 0.8, ("infer", 32): 1.0, ("infer", 128): 1.0}


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

    def __init__(self, framework: str, batch: int, steps: int, threads: int) -> None:
        args = ["--serve", framework, str(batch), "--steps", str(steps), "--threads", str(threads)]
        self.process = subprocess.Popen(
            [sys.executable, __file__, *args],
            env=thread_env(threads),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, command: str) -> float:
        return float(json.loads(ask(self.process, command)))

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def compare(batch: int, steps: int, repeats: int, threads: int) -> dict[str, dict[str, float]]:
    """Alternate timed runs between the two frameworks; medians and paired ratios."""
    workers = {name: Worker(name, batch, steps, threads) for name in ("engram", "torch")}
    results: dict[str, dict[str, float]] = {}
    try:
        for metric in ("train", "infer"):
            runs: dict[str, list[float]] = {"engram": [], "torch": []}
            for _ in range(repeats):
                for name, worker in workers.items():
                    runs[name].append(worker.ask(metric))
            ratios = [a / b for a, b in zip(runs["engram"], runs["torch"], strict=True)]
            results[metric] = {
                "engram": statistics.median(runs["engram"]),
                "torch": statistics.median(runs["torch"]),
                "ratio": statistics.median(ratios),
            }
        memory = {name: worker.ask("memory") for name, worker in workers.items()}
        memory["ratio"] = memory["engram"] / max(memory["torch"], 1e-9)
        results["memory"] = memory
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
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
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
        "alternating frameworks; medians (ratio: median of paired engram/PyTorch ratios)"
    )
    header = f"{'batch':>5} {'metric':<16} {'engram':>9} {'pytorch':>9} {'ratio':>7}  target"
    print(header)
    print("-" * (len(header) + 8))
    for batch in args.batch_sizes:
        results = compare(batch, args.steps, args.repeats, args.threads)
        for key, label in (("train", "train samples/s"), ("infer", "infer samples/s")):
            row = results[key]
            target = TARGETS.get((key, batch))
            mark = "" if target is None else f">={target:.1f} "
            mark += "" if target is None else ("ok" if row["ratio"] >= target else "MISS")
            print(
                f"{batch:>5} {label:<16} {row['engram']:>9.0f} {row['torch']:>9.0f} "
                f"{row['ratio']:>6.2f}x  {mark}"
            )
        mem = results["memory"]
        print(
            f"{batch:>5} {'peak memory MB':<16} {mem['engram']:>9.1f} {mem['torch']:>9.1f} "
            f"{mem['ratio']:>6.2f}x  <=1.0 {'ok' if mem['ratio'] <= 1 else 'MISS'}"
        )
    if args.epoch:
        for framework in ("engram", "torch"):
            result = run_worker(["--epoch-worker", framework, "32"], args.threads)
            print(
                f"Fashion-MNIST epoch (60,000 images, batch 32), {framework}: "
                f"{result['epoch_s']:.1f} s"
            )


if __name__ == "__main__":
    main()
