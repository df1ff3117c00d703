"""The seed CNN from two source trees, alternating, timed as CPU time: robust to other load.

On a machine shared with other work, wall-clock time measures the load as much as the code.
CPU time does not (much): this script runs bench_cnn.py's engram workload (``model.fit`` over
``--steps`` batches, then ``model.predict``) from two trees (``--before``, ``--after``: folders
holding the ``engram`` package, e.g. ``git archive <commit> src | tar -x -C /tmp/before``),
each in its own long-lived process with the same BLAS threads, the runs in ABBA order, and
reports per batch for each tree the medians of

* wall: elapsed time (meaningful only on a quiet machine);
* cpu: the process's CPU time, all threads (busy-waiting threads count here);
* main: the calling thread's CPU time (with 1 thread: all the work; with 2: its share)

and the median of the paired after / before ratios (< 1: the after tree is cheaper).

Usage:
    python bench/bench_cnn_cpu.py --before /tmp/before/src --after src --batch 32 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from _workers import ask, thread_env

METRICS = ("train", "infer")


def worker(batch: int, steps: int) -> None:
    """Serve timed runs: "train" / "infer" in, [wall, cpu, main] in ms per batch out."""
    from bench_cnn import engram_runner, synthetic_data

    x, y = synthetic_data(batch * steps)
    runs = dict(zip(METRICS, engram_runner(x, y, batch), strict=True))
    for run in runs.values():
        run()  # warm-up
    print("ready", flush=True)
    for line in sys.stdin:
        run = runs.get(line.strip())
        if run is None:
            break
        clocks = (time.perf_counter, time.process_time, time.thread_time)
        starts = [clock() for clock in clocks]
        run()
        spent = [
            (clock() - start) / steps * 1e3 for clock, start in zip(clocks, starts, strict=True)
        ]
        print(json.dumps(spent), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=False, help="folder holding the old engram package")
    parser.add_argument("--after", default="src", help="folder holding the new engram package")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="batches per run")
    parser.add_argument("--repeats", type=int, default=7, help="runs per tree and metric")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.batch, args.steps)
        return
    if args.before is None:
        parser.error("--before is required")
    trees = {"before": args.before, "after": args.after}
    procs = {}
    for name, tree in trees.items():
        env = {**thread_env(args.threads), "PYTHONPATH": os.path.abspath(tree)}
        command = [sys.executable, __file__, "--worker", "--batch", str(args.batch)]
        procs[name] = subprocess.Popen(
            [*command, "--steps", str(args.steps)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    for proc in procs.values():
        proc.stdout.readline()
    results = {(name, metric): [] for name in trees for metric in METRICS}
    for r in range(args.repeats):
        for metric in METRICS:
            for name in list(trees) if r % 2 == 0 else list(trees)[::-1]:
                results[(name, metric)].append(json.loads(ask(procs[name], metric)))
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    for metric in METRICS:
        cells = []
        for name in trees:
            runs = results[(name, metric)]
            wall, cpu, own = (statistics.median(run[i] for run in runs) for i in range(3))
            cells.append(f"{name}: wall {wall:.1f} cpu {cpu:.1f} main {own:.1f}")
        pairs = list(zip(results[("after", metric)], results[("before", metric)], strict=True))
        main_ratio = statistics.median(a[2] / b[2] for a, b in pairs)
        cpu_ratio = statistics.median(a[1] / b[1] for a, b in pairs)
        print(
            f"batch {args.batch} threads {args.threads} {metric} (ms per batch): "
            + " | ".join(cells)
            + f" | after/before main {main_ratio:.3f} cpu {cpu_ratio:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
