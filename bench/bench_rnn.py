"""Speed and memory of SimpleRNN and LSTM: engram beside PyTorch CPU, measured in one run.

The workload (the issue's): one recurrent layer, input 8 features, hidden 128 units, sequences
of 100 steps, batch 64, float32, ``return_sequences=True``; one training step is the forward
pass plus backpropagation through time with a fixed random gradient of the output sequence
(no optimizer). Reported for each (layer, framework):

* throughput in sequences/s: the best and the median of ``--repeats`` timed steps after a
  warm-up step;
* peak memory: the rise of the process's peak resident set (``ru_maxrss``) above its resident
  set after imports, data and layer creation, i.e. what the training step adds (activations
  kept for the backward pass, gradients, temporaries) -- the same measure for both frameworks.

Every (layer, framework) runs in its own fresh subprocess, so neither sees the other's memory or
warm caches; PyTorch runs with ``torch.set_num_threads(2)``, NumPy with OpenBLAS's default (2 on
the reference machine), engram's per-step loops splitting the batch between threads. The
subprocesses alternate for ``--rounds`` rounds (engram, torch, engram, torch, ...), so load from
other processes on a shared machine hits both alike; the ratio uses each side's best round.
Ratios: speed engram / PyTorch (> 1: engram faster), memory engram / PyTorch (< 1: engram
smaller).

Usage:
    python bench/bench_rnn.py                      # both layers, 3 rounds of 10 steps
    python bench/bench_rnn.py --rounds 5 --repeats 20
    python bench/bench_rnn.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

BATCH, STEPS, FEATURES, UNITS = 64, 100, 8, 128
TARGETS = {"speed": 1.0, "memory": 1.0}


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def data(seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, STEPS, FEATURES), dtype=np.float32)
    grad = rng.standard_normal((BATCH, STEPS, UNITS), dtype=np.float32)
    return x, grad


def engram_step(layer_name: str):
    from engram.nn.layers import LSTM, SimpleRNN

    x, grad = data()
    layer = {"simple_rnn": SimpleRNN, "lstm": LSTM}[layer_name](UNITS, return_sequences=True)
    import numpy as np

    layer.build((STEPS, FEATURES), np.random.default_rng(0))

    def step() -> None:
        layer.forward(x, training=True)
        layer.backward(grad)

    return step


def torch_step(layer_name: str):
    import torch

    torch.set_num_threads(2)
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


def worker(framework: str, layer_name: str, repeats: int) -> dict[str, float]:
    """Time ``repeats`` training steps in this process and measure the peak memory they add."""
    step = (engram_step if framework == "engram" else torch_step)(layer_name)
    base = rss_mb()
    step()  # warm-up: first-touch allocations, thread pools
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    return {
        "best_seq_per_s": BATCH / times[0],
        "median_seq_per_s": BATCH / times[len(times) // 2],
        "peak_mb": max(peak_mb() - base, 0.0),
    }


def run_worker(framework: str, layer_name: str, repeats: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, __file__, "--worker", framework, layer_name, "--repeats", str(repeats)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--layers", default="simple_rnn,lstm")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "LAYER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.repeats)))
        return

    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for _ in range(args.rounds):
        for layer_name in args.layers.split(","):
            for framework in ("engram", "torch"):
                entry = results.setdefault(layer_name, {}).setdefault(framework, [])
                entry.append(run_worker(framework, layer_name, args.repeats))
    print(
        f"input {FEATURES}, hidden {UNITS}, T={STEPS}, batch {BATCH}, forward + backward, "
        f"{args.rounds} rounds x {args.repeats} steps (best round; median step in brackets)"
    )
    header = f"{'layer':<11} {'engram seq/s':>18} {'torch seq/s':>18} {'speed':>7}"
    print(header + f" {'engram MB':>10} {'torch MB':>9} {'memory':>7}")
    summary = {}
    for layer_name, by_framework in results.items():
        best = {f: max(r["best_seq_per_s"] for r in rs) for f, rs in by_framework.items()}
        med = {f: max(r["median_seq_per_s"] for r in rs) for f, rs in by_framework.items()}
        mem = {f: min(r["peak_mb"] for r in rs) for f, rs in by_framework.items()}
        speed = best["engram"] / best["torch"]
        memory = mem["engram"] / max(mem["torch"], 1e-9)
        summary[layer_name] = {"seq_per_s": best, "median_seq_per_s": med, "peak_mb": mem}
        summary[layer_name].update(speed_ratio=speed, memory_ratio=memory, rounds=by_framework)
        print(
            f"{layer_name:<11} {best['engram']:>9.0f} ({med['engram']:>6.0f}) "
            f"{best['torch']:>9.0f} ({med['torch']:>6.0f}) {speed:>6.2f}x "
            f"{mem['engram']:>10.1f} {mem['torch']:>9.1f} {memory:>6.2f}x"
        )
    print(f"targets: speed >= {TARGETS['speed']:.1f}x, memory <= {TARGETS['memory']:.1f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)


if __name__ == "__main__":
    main()
