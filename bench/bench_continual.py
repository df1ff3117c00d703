"""How long the full split benchmark of `engram run continual-learning` takes: every method in the
three scenarios, one seed, the paper's settings (784-400-400, batch 128, 2000 iterations per
context, 5 contexts), measured by parts.

For each method, in the class-incremental scenario (the one with the most output units in play),
the stream is learned twice, with N and 2N iterations per context; the difference gives the
time of one step (the method's extra terms included) and the rest the fixed cost per stream
(testing, Fisher estimates, snapshots, memories). The full benchmark's time is then
3 scenarios x sum over methods of (fixed + 5 x 2000 x step). This is an extrapolation from
measured parts, not a timing of the full run; on a machine shared with other processes the
numbers move with the load (say so when quoting them).

Usage:
    python bench/bench_continual.py [--dataset fashion-mnist] [--iterations 50]
        [--methods none,ewc] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from engram.continual import load_stream, train_stream
from engram.experiments.continual_learning import METHOD_NAMES, method_options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--methods", default=",".join(METHOD_NAMES))
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    stream = load_stream(args.dataset, "split", seed=0)
    config = {
        "benchmark": "split",
        "ewc_strength": 0.0,
        "si_strength": 0.0,
        "fisher_samples": 1000,
        "replay_capacity": 1000,
    }
    rows, total = {}, 0.0
    methods = args.methods.split(",")
    for method in methods:
        times = []
        for n in (args.iterations, 2 * args.iterations):
            start = time.perf_counter()
            train_stream(
                method,
                stream,
                "class",
                iterations=n,
                batch_size=128,
                hidden=(400, 400),
                learning_rate=1e-3,
                seed=0,
                **method_options(config, method, "class"),
            )
            times.append(time.perf_counter() - start)
        step = (times[1] - times[0]) / (len(stream) * args.iterations)
        fixed = max(0.0, times[0] - len(stream) * args.iterations * step)
        full = fixed + len(stream) * 2000 * step
        total += 3 * full
        rows[method] = {"step_ms": 1e3 * step, "fixed_s": fixed, "stream_s": full}
        print(
            f"{method:20s} step {1e3 * step:6.1f} ms  fixed {fixed:6.1f} s  "
            f"stream {full / 60:5.1f} min",
            flush=True,
        )
    print(
        f"full split benchmark (3 scenarios x {len(methods)} methods, one seed): "
        f"{total / 60:.1f} min (extrapolated; load average {os.getloadavg()[0]:.1f})"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"methods": rows, "total_s": total, "dataset": args.dataset}, fh, indent=1)


if __name__ == "__main__":
    main()
