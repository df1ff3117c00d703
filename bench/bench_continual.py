"""How long the full split benchmark of `engram run continual-learning` takes: every method in the
three scenarios, one seed, the paper's settings (784-400-400, batch 128, 2000 iterations per
context, 5 contexts), measured by parts.

For each method, in the class-incremental scenario (the one with the most output units in play),
the stream is learned twice, with N and 2N iterations per context; the difference gives the
time of one step (the method's extra terms included) and the rest the fixed cost per stream
(testing, Fisher estimates, snapshots, memories). The full benchmark's time is then
3 scenarios x sum over methods of (fixed + 5 x 2000 x step), plus the strength search that
runs before them: for each regularised method (EWC, online EWC, SI) and scenario, one stream per
candidate strength (4 by default, ``--candidates``) on the held-out split (80% of the training
images, the same iterations: its step costs the same, its testing a little less; counted as one
stream each). This is an extrapolation from measured parts, not a timing of the full run. Wall
and CPU seconds (this process, all threads) are both measured: on a machine shared with other
processes the wall time moves with the load and the CPU time much less (say which you quote).

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
from engram.experiments.continual_learning import METHOD_NAMES, REGULARISED, method_options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--methods", default=",".join(METHOD_NAMES))
    parser.add_argument("--candidates", type=int, default=4, help="strengths the search tries")
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
    rows: dict = {}
    total = {"wall": 0.0, "cpu": 0.0}
    search = {"wall": 0.0, "cpu": 0.0}
    methods = args.methods.split(",")
    steps = len(stream) * args.iterations
    for method in methods:
        row: dict[str, list[float]] = {"wall": [], "cpu": []}
        for n in (args.iterations, 2 * args.iterations):
            start = time.perf_counter(), time.process_time()
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
            row["wall"].append(time.perf_counter() - start[0])
            row["cpu"].append(time.process_time() - start[1])
        rows[method] = {}
        for clock, (t1, t2) in row.items():
            step = (t2 - t1) / steps
            fixed = max(0.0, t1 - steps * step)
            full = fixed + len(stream) * 2000 * step
            total[clock] += 3 * full
            if method in REGULARISED:
                search[clock] += 3 * args.candidates * full
            rows[method][clock] = {"step_ms": 1e3 * step, "fixed_s": fixed, "stream_s": full}
        w, c = rows[method]["wall"], rows[method]["cpu"]
        print(
            f"{method:20s} step {w['step_ms']:6.1f} ms wall, {c['step_ms']:6.1f} ms CPU; fixed "
            f"{w['fixed_s']:5.1f} s wall, {c['fixed_s']:5.1f} s CPU; stream "
            f"{w['stream_s'] / 60:5.1f} min wall, {c['stream_s'] / 60:5.1f} min CPU",
            flush=True,
        )
    for clock in ("wall", "cpu"):
        whole = total[clock] + search[clock]
        print(
            f"full split benchmark (3 scenarios x {len(methods)} methods, one seed), {clock}: "
            f"{whole / 60:.1f} min = runs {total[clock] / 60:.1f} + strength search "
            f"{search[clock] / 60:.1f} ({search[clock] / max(whole, 1e-9):.0%}) (extrapolated)"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"methods": rows, "total_s": total, "search_s": search, "dataset": args.dataset},
                fh,
                indent=1,
            )


if __name__ == "__main__":
    main()
