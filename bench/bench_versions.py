"""The same engram training step from two source trees, alternating: is a change slower?

For a refactoring that must not cost speed: each tree (``--before`` and ``--after``, folders
holding the ``engram`` package, e.g. a ``git archive`` of the old commit's ``src``) runs in its
own long-lived worker process with the same threads, and the parent asks them for timed steps
in ABBA order (before, after, after, before, ...), each after a pause, so drifting load from
other processes hits both alike. Reported per workload: the median and best seconds per step
of each tree and the median of the paired after / before ratios (< 1: the change is faster).

Workloads (one step each):
    cnn         the article's CNN (bench_cnn.py's model), one ``train_on_batch`` of 32 images
                (``cnn128``, ``cnn256``: of that many images)
    mlp         bench_mlp.py's 784-128-10 (Adam): one ``fit`` epoch of 6,400 samples, batch 128
    lstm        bench_rnn.py's LSTM: input 8, hidden 128, 100 steps, batch 64, forward +
                backward with a fixed output gradient
    simple_rnn  the same with SimpleRNN;  gru  the same with GRU

``--same-process`` runs both trees in this one process instead, alternating step by step: the
old tree is copied to a temporary folder as the package ``engram_before`` (its imports
rewritten), so both import side by side. Separate processes can differ by a few percent for
reasons that have nothing to do with the code (where each process's arrays land); in one
process both share the allocator, the BLAS threads and the machine's load.

Usage:
    git archive <old-commit> src | tar -x -C /tmp/before
    python bench/bench_versions.py --before /tmp/before/src --after src --repeats 20
    python bench/bench_versions.py --before /tmp/before/src --same-process --repeats 40
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from _workers import abba, ask, thread_env

WORKLOADS = ("cnn", "lstm", "simple_rnn", "gru")


def make_step(workload: str, package: str = "engram"):
    import importlib

    import numpy as np

    rng = np.random.default_rng(0)
    if workload.startswith("cnn"):  # "cnn" is batch 32; "cnn128", "cnn256": that batch
        batch = int(workload[3:] or 32)
        build_cnn = importlib.import_module(f"{package}.experiments._vision").build_cnn
        model = build_cnn(0, 1e-3)
        x = rng.random((batch, 28, 28, 1), dtype=np.float32)
        y = rng.integers(0, 10, batch)
        return lambda: model.train_on_batch(x, y)
    if workload == "mlp":  # bench_mlp.py's 784-128-10: one fit epoch of 6,400 samples, batch 128
        nn = importlib.import_module(f"{package}.nn")
        model = nn.Sequential(
            [
                nn.layers.Dense(128, activation="relu", input_shape=(784,)),
                nn.layers.Dense(10, activation="softmax"),
            ],
            seed=0,
        )
        model.compile(optimizer=nn.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
        x = rng.random((6400, 784), dtype=np.float32)
        y = rng.integers(0, 10, 6400)
        return lambda: model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    layers = importlib.import_module(f"{package}.nn.layers")

    cls = {"lstm": layers.LSTM, "simple_rnn": layers.SimpleRNN, "gru": layers.GRU}[workload]
    layer = cls(128, return_sequences=True)
    layer.build((100, 8), np.random.default_rng(0))
    x = rng.standard_normal((64, 100, 8), dtype=np.float32)
    grad = rng.standard_normal((64, 100, 128), dtype=np.float32)

    def step() -> None:
        layer.forward(x, training=True)
        layer.backward(grad)

    return step


def worker(workload: str) -> None:
    """Serve timed steps: "step" in, seconds out; anything else ends."""
    step = make_step(workload)
    step()
    step()  # warm-up: first-touch allocations, thread pools
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            break
        start = time.perf_counter()
        step()
        print(time.perf_counter() - start, flush=True)


def start(tree: str, workload: str, threads: int) -> subprocess.Popen:
    env = {**thread_env(threads), "PYTHONPATH": os.path.abspath(tree)}
    cmd = [sys.executable, __file__, "--worker", workload]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def measure(trees: dict[str, str], workload: str, repeats: int, threads: int, pause: float):
    procs = {name: start(tree, workload, threads) for name, tree in trees.items()}
    for proc in procs.values():
        proc.stdout.readline()
    times: dict[str, list[float]] = {name: [] for name in trees}
    for name in abba(list(trees), repeats, pause):
        times[name].append(float(ask(procs[name], "step")))
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    paired = [a / b for b, a in zip(times["before"], times["after"], strict=True)]
    return times, statistics.median(paired)


def renamed_copy(tree: str, folder: str) -> None:
    """Copy the ``engram`` package of ``tree`` into ``folder`` as ``engram_before``."""
    import re
    import shutil
    from pathlib import Path

    target = Path(folder) / "engram_before"
    shutil.copytree(Path(tree) / "engram", target)
    for path in target.rglob("*.py"):
        text = path.read_text()
        text = re.sub(r"\bengram\.", "engram_before.", text)
        text = re.sub(r"\bfrom engram import", "from engram_before import", text)
        path.write_text(re.sub(r"^import engram$", "import engram_before", text, flags=re.M))


def same_process(before: str, after: str, workload: str, repeats: int):
    """Both trees in this process, steps alternating (ABBA); returns times and the ratio."""
    import tempfile

    folder = tempfile.mkdtemp()
    renamed_copy(before, folder)
    sys.path[:0] = [folder, os.path.abspath(after)]
    steps = {"before": make_step(workload, "engram_before"), "after": make_step(workload)}
    for step in steps.values():
        step()
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for name in abba(list(steps), repeats, 0.0):
        start = time.perf_counter()
        steps[name]()
        times[name].append(time.perf_counter() - start)
    paired = [a / b for b, a in zip(times["before"], times["after"], strict=True)]
    return times, statistics.median(paired)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", help="folder holding the old engram package")
    parser.add_argument("--after", default="src", help="folder holding the new engram package")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=20, help="timed steps per tree")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.1, help="seconds before each step")
    parser.add_argument("--same-process", action="store_true", help="alternate in one process")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    trees = {"before": args.before, "after": args.after}
    for workload in args.workloads.split(","):
        if args.same_process:  # threads: set OPENBLAS_NUM_THREADS before starting
            times, ratio = same_process(args.before, args.after, workload, args.repeats)
        else:
            times, ratio = measure(trees, workload, args.repeats, args.threads, args.pause)
        cells = "  ".join(
            f"{name} median {statistics.median(t) * 1e3:.2f} ms best {min(t) * 1e3:.2f} ms"
            for name, t in times.items()
        )
        print(f"{workload:<11} {cells}  after/before paired median {ratio:.3f}", flush=True)


if __name__ == "__main__":
    main()
