"""Speed and memory of SimpleRNN and LSTM: engram beside PyTorch CPU, measured in one run.

The workload (issue 4's): one recurrent layer, input 8 features, hidden 128 units, sequences
of 100 steps, batch 64, float32, ``return_sequences=True``; one training step is the forward
pass plus backpropagation through time with a fixed random gradient of the output sequence
(no optimizer).

Method. For each layer, engram and PyTorch each run in their own long-lived subprocess, with
the same threads: ``--threads N`` pins both processes to the first N CPUs before NumPy or
PyTorch load (so OpenBLAS, engram's own thread pool and ``torch.set_num_threads`` all see N).
After one warm-up step each, the parent asks the two processes for single timed steps in
turn -- engram, torch, torch, engram, engram, torch, ... -- so load from other processes on a
shared machine hits both alike, step by step. Each step starts after a pause (``--pause``,
0.25 s): without it a step can start while the other process's threads still spin after their
own step (OpenBLAS's and PyTorch's OpenMP threads busy-wait for a while), and that costs
whichever framework runs second. Measured with the same engram build (AVX-512 kernels) in one
hour: engram's LSTM step alone 16.8 ms best, 18.2 ms median; back to back with PyTorch and no
pause, a 26 ms median. Reported for each (layer, framework):

* throughput in sequences/s: the best and the median of ``--repeats`` timed steps;
* the median of the paired ratios (each engram step against the torch step next to it), the
  estimate least moved by load that drifts during the run;
* peak memory: the rise of the process's peak resident set (``ru_maxrss``) above its resident
  set after imports, data and layer creation, i.e. what training steps add (activations kept
  for the backward pass, gradients, temporaries), measured the same way in both frameworks.

Ratios: speed engram / PyTorch (> 1: engram faster), memory engram / PyTorch (< 1: engram
smaller). Targets (issue 4): speed >= 1.0x, memory <= 1.0x.

Usage:
    python bench/bench_rnn.py                        # both layers, all CPUs, 30 steps each
    python bench/bench_rnn.py --threads 1 --repeats 60
    python bench/bench_rnn.py --layers lstm --json results.json
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

from _workers import abba, ask, rss_mb, thread_env

BATCH, STEPS, FEATURES, UNITS = 64, 100, 8, 128
TARGETS = {"speed": 1.0, "memory": 1.0}
FRAMEWORKS = ("engram", "torch")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def data(seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, STEPS, FEATURES), dtype=np.float32)
    grad = rng.standard_normal((BATCH, STEPS, UNITS), dtype=np.float32)
    return x, grad


def engram_step(layer_name: str, threads: int):
    import numpy as np

    from engram.nn.layers import LSTM, SimpleRNN

    x, grad = data()
    layer = {"simple_rnn": SimpleRNN, "lstm": LSTM}[layer_name](UNITS, return_sequences=True)
    layer.build((STEPS, FEATURES), np.random.default_rng(0))

    def step() -> None:
        layer.forward(x, training=True)
        layer.backward(grad)

    return step


def torch_step(layer_name: str, threads: int):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, grad = (torch.from_numpy(a) for a in data())
    cls = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM}[layer_name]
    module = cls(FEATURES, UNITS, batch_first=True)

    def step() -> None:
        for p in module.parameters():
            p.grad = None
        out, _ = module(x)
        out.backward(grad)

    return step


def pin(threads: int) -> int:
    """Pin this process to its first ``threads`` CPUs (before NumPy/PyTorch load)."""
    cpus = sorted(os.sched_getaffinity(0))
    threads = min(threads, len(cpus)) if threads > 0 else len(cpus)
    os.sched_setaffinity(0, cpus[:threads])
    os.environ.update(thread_env(threads))
    return threads


def worker(framework: str, layer_name: str, threads: int) -> None:
    """Serve timed steps: one line "step" in, one line with the seconds out; "stop" ends."""
    threads = pin(threads)
    step = (engram_step if framework == "engram" else torch_step)(layer_name, threads)
    base = rss_mb()
    step()  # warm-up: first-touch allocations, thread pools
    print("ready", threads, flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            break
        start = time.perf_counter()
        step()
        print(time.perf_counter() - start, flush=True)
    print(json.dumps({"peak_mb": max(peak_mb() - base, 0.0)}), flush=True)


def start_worker(framework: str, layer_name: str, threads: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, __file__, "--worker", framework, layer_name, "--threads", str(threads)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    return proc


def measure(layer_name: str, threads: int, repeats: int, pause: float = 0.25) -> dict:
    procs = {f: start_worker(f, layer_name, threads) for f in FRAMEWORKS}
    used = {f: int(p.stdout.readline().split()[1]) for f, p in procs.items()}
    times: dict[str, list[float]] = {f: [] for f in FRAMEWORKS}
    for f in abba(FRAMEWORKS, repeats, pause):
        times[f].append(float(ask(procs[f], "step")))
    peak = {f: json.loads(ask(p, "stop"))["peak_mb"] for f, p in procs.items()}
    for p in procs.values():
        p.wait()
    paired = [t / e for e, t in zip(times["engram"], times["torch"], strict=True)]
    return {
        "threads": used,
        "seq_per_s": {f: BATCH / min(t) for f, t in times.items()},
        "median_seq_per_s": {f: BATCH / statistics.median(t) for f, t in times.items()},
        "peak_mb": peak,
        "speed_ratio_best": min(times["torch"]) / min(times["engram"]),
        "speed_ratio_paired_median": statistics.median(paired),
        "memory_ratio": peak["engram"] / max(peak["torch"], 1e-9),
        "step_seconds": times,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per framework")
    parser.add_argument("--threads", type=int, default=0, help="CPUs for each (0: all)")
    parser.add_argument("--layers", default="simple_rnn,lstm")
    parser.add_argument("--pause", type=float, default=0.25, help="seconds before each step")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "LAYER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.threads)
        return

    layers = args.layers.split(",")
    summary = {name: measure(name, args.threads, args.repeats, args.pause) for name in layers}
    threads = next(iter(summary.values()))["threads"]["engram"]
    print(
        f"input {FEATURES}, hidden {UNITS}, T={STEPS}, batch {BATCH}, forward + backward, "
        f"{threads} thread(s) each, {args.repeats} alternating steps each"
    )
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"(OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set: NumPy's BLAS kernels)")
    print(
        f"{'layer':<11} {'engram seq/s':>13} {'(median)':>8} {'torch seq/s':>12} "
        f"{'(median)':>8} {'best':>6} {'paired':>7} {'engram MB':>10} {'torch MB':>9} "
        f"{'memory':>7}"
    )
    for name, r in summary.items():
        seq, med, mem = r["seq_per_s"], r["median_seq_per_s"], r["peak_mb"]
        print(
            f"{name:<11} {seq['engram']:>13.0f} {med['engram']:>8.0f} {seq['torch']:>12.0f} "
            f"{med['torch']:>8.0f} {r['speed_ratio_best']:>5.2f}x "
            f"{r['speed_ratio_paired_median']:>6.2f}x {mem['engram']:>10.1f} "
            f"{mem['torch']:>9.1f} {r['memory_ratio']:>6.2f}x"
        )
    print(
        f"speed: best step against best step, and the median of paired steps; targets: speed "
        f">= {TARGETS['speed']:.1f}x, memory <= {TARGETS['memory']:.1f}x"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)


if __name__ == "__main__":
    main()
