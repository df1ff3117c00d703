"""Speed and memory of the recurrent layers: engram beside PyTorch CPU, training and inference.

The workload (issue 17's): one recurrent layer, input 8 features, hidden 128 units, sequences
of 100 steps, batch 64, float32, ``return_sequences=True``. Two measurements per layer:

* training step: the forward pass in training mode plus backpropagation through time with a
  fixed random gradient of the output sequence (no optimizer): engram's ``layer.forward(x,
  training=True)`` + ``layer.backward(grad)``, PyTorch's ``module(x)`` + ``out.backward(grad)``;
* inference: the forward pass alone, engram's ``layer(x)`` (``training=False``, the path of
  ``model.predict``), PyTorch's ``module(x)`` under ``torch.inference_mode()``.

Layers: ``simple_rnn`` (torch.nn.RNN), ``lstm`` (torch.nn.LSTM), ``gru`` (torch.nn.GRU) and
``bilstm`` (engram's ``Bidirectional(LSTM)``, concatenated, against
``torch.nn.LSTM(bidirectional=True)``).

Method. For each BLAS core type, layer and framework, a long-lived worker process is pinned
to the same ``--threads`` CPUs before NumPy or PyTorch load (so OpenBLAS and
``torch.set_num_threads`` see the same count). After warm-up steps, the parent asks the two
workers for timed runs in turn, ABBA order (engram, torch, torch, engram, ...), each run
``--steps`` back-to-back steps after a pause (``--pause``, 0.25 s: OpenBLAS's and OpenMP's
threads spin for a while after a call, and a run starting then pays for the other's spinning).
Reported per (layer, mode): the median sequences/s of each framework over ``--repeats`` runs,
and the median of the paired ratios (each engram run against the torch run next to it) with
their spread (lowest and highest paired ratio), the estimate least moved by load that drifts
during the run. Peak memory: the rise of the worker's peak resident set above its resident set
after imports, data and layer creation (training steps; the same way in both frameworks).

BLAS core types (``--coretypes``, default ``Haswell,auto``): NumPy's OpenBLAS picks its
kernels from the CPU unless ``OPENBLAS_CORETYPE`` names them. The CI environment sets
``Haswell`` (AVX2 kernels); without it OpenBLAS picks its AVX-512 ("SkylakeX") kernels on this
machine. ``auto`` runs the workers with the variable removed, ``env`` as this process has it,
any other word with it set to that word; the table names the kernels the engram worker's
OpenBLAS reports. PyTorch's MKL does not read the variable; its worker gets the same
environment all the same.

Ratios: speed engram / PyTorch (> 1: engram faster), memory engram / PyTorch (< 1: engram
smaller). Targets (issue 17): LSTM and GRU training >= 1.3x and inference >= 1.5x; SimpleRNN
(issue 4) >= 1.0x; memory <= 1.0x.

Usage:
    python bench/bench_rnn.py                                   # all layers, both core types
    python bench/bench_rnn.py --layers lstm,gru --repeats 9 --json rnn.json
    python bench/bench_rnn.py --coretypes env --modes infer --threads 1
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
LAYERS = ("simple_rnn", "lstm", "gru", "bilstm")
MODES = ("train", "infer")
FRAMEWORKS = ("engram", "torch")
#: speed targets per (layer, mode); memory <= 1.0x everywhere
TARGETS = {
    ("simple_rnn", "train"): 1.0,
    ("simple_rnn", "infer"): 1.0,
    ("lstm", "train"): 1.3,
    ("lstm", "infer"): 1.5,
    ("gru", "train"): 1.3,
    ("gru", "infer"): 1.5,
}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def data(layer_name: str, seed: int = 0):
    """The input and the output gradient (twice as wide for the bidirectional layer)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, STEPS, FEATURES), dtype=np.float32)
    width = 2 * UNITS if layer_name == "bilstm" else UNITS
    grad = rng.standard_normal((BATCH, STEPS, width), dtype=np.float32)
    return x, grad


def engram_steps(layer_name: str, threads: int):
    import numpy as np

    from engram.nn.layers import GRU, LSTM, Bidirectional, SimpleRNN

    x, grad = data(layer_name)
    if layer_name == "bilstm":
        layer = Bidirectional(LSTM(UNITS, return_sequences=True))
    else:
        cls = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}[layer_name]
        layer = cls(UNITS, return_sequences=True)
    layer.build((STEPS, FEATURES), np.random.default_rng(0))

    def train() -> None:
        layer.forward(x, training=True)
        layer.backward(grad)

    def infer() -> None:
        layer(x)

    return {"train": train, "infer": infer}


def torch_steps(layer_name: str, threads: int):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, grad = (torch.from_numpy(a) for a in data(layer_name))
    cls = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    module = cls.get(layer_name, torch.nn.LSTM)(
        FEATURES, UNITS, batch_first=True, bidirectional=layer_name == "bilstm"
    )

    def train() -> None:
        for p in module.parameters():
            p.grad = None
        out, _ = module(x)
        out.backward(grad)

    def infer() -> None:
        with torch.inference_mode():
            module(x)

    return {"train": train, "infer": infer}


def pin(threads: int) -> int:
    """Pin this process to its first ``threads`` CPUs (before NumPy/PyTorch load)."""
    cpus = sorted(os.sched_getaffinity(0))
    threads = min(threads, len(cpus)) if threads > 0 else len(cpus)
    os.sched_setaffinity(0, cpus[:threads])
    os.environ.update(thread_env(threads))
    return threads


def blas_kernels() -> str:
    """The kernels NumPy's BLAS runs in this process (threadpoolctl), e.g. "Haswell"."""
    from threadpoolctl import threadpool_info

    found = [i.get("architecture") for i in threadpool_info() if i["user_api"] == "blas"]
    return str(found[0]) if found else "unknown"


def worker(framework: str, layer_name: str, threads: int) -> None:
    """Serve timed runs: "MODE STEPS" in, the seconds of STEPS steps out; "stop" ends."""
    threads = pin(threads)
    steps = (engram_steps if framework == "engram" else torch_steps)(layer_name, threads)
    base = rss_mb()
    for _ in range(2):  # warm-up: first-touch allocations, thread pools
        steps["train"]()
        steps["infer"]()
    peak = max(peak_mb() - base, 0.0)
    print("ready", threads, blas_kernels(), flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) != 2 or words[0] not in steps:
            break
        run, count = steps[words[0]], int(words[1])
        start = time.perf_counter()
        for _ in range(count):
            run()
        print(time.perf_counter() - start, flush=True)
    print(json.dumps({"peak_mb": peak}), flush=True)


def worker_env(coretype: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    if coretype == "auto":
        env.pop("OPENBLAS_CORETYPE", None)
    elif coretype != "env":
        env["OPENBLAS_CORETYPE"] = coretype
    return env


def start_worker(framework: str, layer_name: str, threads: int, coretype: str):
    env = worker_env(coretype)
    cmd = [sys.executable, __file__, "--worker", framework, layer_name, "--threads", str(threads)]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def summarize(times: dict[str, list[float]], steps: int) -> dict:
    paired = sorted(t / e for e, t in zip(times["engram"], times["torch"], strict=True))
    return {
        "median_seq_per_s": {f: BATCH * steps / statistics.median(t) for f, t in times.items()},
        "paired_median": statistics.median(paired),
        "paired_low": paired[0],
        "paired_high": paired[-1],
        "run_seconds": times,
    }


def measure(layer_name: str, args: argparse.Namespace, coretype: str) -> dict:
    procs = {f: start_worker(f, layer_name, args.threads, coretype) for f in FRAMEWORKS}
    ready = {f: p.stdout.readline().split() for f, p in procs.items()}
    used = {f: int(words[1]) for f, words in ready.items()}
    result: dict = {"threads": used, "kernels": ready["engram"][2]}
    for mode in args.modes.split(","):
        steps = args.steps if mode == "train" else 2 * args.steps
        times: dict[str, list[float]] = {f: [] for f in FRAMEWORKS}
        for f in abba(FRAMEWORKS, args.repeats, args.pause):
            times[f].append(float(ask(procs[f], f"{mode} {steps}")))
        result[mode] = summarize(times, steps)
    peak = {f: json.loads(ask(p, "stop"))["peak_mb"] for f, p in procs.items()}
    for p in procs.values():
        p.wait()
    result["peak_mb"] = peak
    result["memory_ratio"] = peak["engram"] / max(peak["torch"], 1e-9)
    return result


def verdict(ratio: float, target: float | None) -> str:
    if target is None:
        return ""
    return f">={target:.1f} " + ("ok" if ratio >= target else "MISS")


def report_header(coretype: str, kernels: str) -> None:
    shown = {"env": os.environ.get("OPENBLAS_CORETYPE", "unset"), "auto": "unset"}
    name = shown.get(coretype, coretype)
    print(f"\nOPENBLAS_CORETYPE={name}: NumPy's OpenBLAS runs {kernels} kernels")
    print(
        f"{'layer':<11} {'mode':<6} {'engram seq/s':>12} {'torch seq/s':>12} "
        f"{'paired':>7} {'(low-high)':>12} {'target':>9}",
        flush=True,
    )


def report(name: str, r: dict, args: argparse.Namespace) -> None:
    """One layer's rows, printed as soon as it is measured (a run cut short keeps them)."""
    for mode in args.modes.split(","):
        m = r[mode]
        seq = m["median_seq_per_s"]
        print(
            f"{name:<11} {mode:<6} {seq['engram']:>12.0f} {seq['torch']:>12.0f} "
            f"{m['paired_median']:>6.2f}x {m['paired_low']:>5.2f}-{m['paired_high']:<5.2f}x "
            f"{verdict(m['paired_median'], TARGETS.get((name, mode))):>9}"
        )
    mem = r["peak_mb"]
    mem_verdict = "ok" if r["memory_ratio"] <= 1.0 else "MISS"
    print(
        f"{name:<11} memory {mem['engram']:>9.1f} MB {mem['torch']:>9.1f} MB "
        f"{r['memory_ratio']:>6.2f}x {'':>12} {'<=1.0 ' + mem_verdict:>9}",
        flush=True,
    )


def write_json(path: str, summary: dict) -> None:
    """Write the results atomically (a temporary file, then a rename)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(summary, handle, indent=2)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per framework")
    parser.add_argument("--steps", type=int, default=8, help="training steps per run (2x infer)")
    parser.add_argument("--threads", type=int, default=2, help="CPUs for each (0: all)")
    parser.add_argument("--layers", default=",".join(LAYERS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--coretypes", default="Haswell,auto", help="auto, env or a core type")
    parser.add_argument("--pause", type=float, default=0.25, help="seconds before each run")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "LAYER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.threads)
        return
    for name in args.layers.split(","):
        if name not in LAYERS:
            parser.error(f"unknown layer {name!r}; choose from {', '.join(LAYERS)}")
    print(
        f"input {FEATURES}, hidden {UNITS}, T={STEPS}, batch {BATCH}, return_sequences; "
        f"{args.repeats} alternating runs per framework of {args.steps} training steps or "
        f"{2 * args.steps} inference passes; medians, ratio = median of paired engram/torch "
        f"ratios (lowest-highest pair)"
    )
    summary: dict = {}
    for coretype in args.coretypes.split(","):
        results = summary[coretype] = {}
        for name in args.layers.split(","):
            results[name] = measure(name, args, coretype)
            if len(results) == 1:
                report_header(coretype, results[name]["kernels"])
            report(name, results[name], args)
            if args.json:  # after every layer, so a run cut short keeps what it measured
                write_json(args.json, summary)
        threads = next(iter(results.values()))["threads"]["engram"]
        print(f"({threads} thread(s) each)", flush=True)


if __name__ == "__main__":
    main()
