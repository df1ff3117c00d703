"""How long the full split benchmark of `engram run continual-learning` takes: every method in the
three scenarios, one seed, the paper's settings (784-400-400, batch 128, 2000 iterations per
context, 5 contexts), measured by parts and extrapolated.

For each method, in the class-incremental scenario (the one with the most output units in play;
``--scenario`` for another: LwF's distillation in the task scenario has one copy of the batch
per earlier head, so its step there costs more), the stream is learned twice, with N and 2N
iterations per context; the difference gives the CPU time of one step (the method's extra
terms included) and the rest the fixed cost per stream
(testing, Fisher estimates, snapshots, memories). A method that shares work across scenarios
(generative replay's generator, `Method.share`) is measured as the full run runs it: one job of
the three scenarios side by side, whose "step" is then one step of each scenario. Nothing in a
step grows with the length of training any more (the optimizer flushes subnormal state, see
bench/README), so the short runs' step stands for the full run's. The parts run as
`engram.continual.jobs` jobs (``--workers`` processes; each job's CPU time is measured in the
process that ran it, so the parts may run in parallel without changing what is measured, apart
from the cores' contention).

The full benchmark's CPU time is then 3 scenarios x sum over methods of (fixed + 5 x 2000 x
step), plus the strength search: for each regularised method (EWC, online EWC, SI) and scenario,
one stream per candidate strength (4 by default, ``--candidates``) on the held-out split with
``--search-iterations`` per context (the experiment's default: a quarter of 2000, 500; its step
costs the same, its testing about the same: counted as fixed + 5 x 500 x step). The idle wall
time on W cores is at least CPU / W (perfect balance over W single-threaded workers) and at
least the longest chain (a regularised method's search candidate, then its run): both printed.
This is an extrapolation from measured parts, not a timing of the full run (the full run's
metrics.json holds its own wall and CPU seconds). On a machine shared with other processes the
CPU time moves much less with the load than the wall time, but it moves (caches, memory).

Usage:
    python bench/bench_continual.py [--dataset fashion-mnist] [--iterations 100]
        [--methods none,ewc] [--workers 2] [--search-iterations 500] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from engram.continual.jobs import Job, Source, run_jobs
from engram.experiments.continual_learning import (
    EXPERIMENT,
    METHOD_NAMES,
    REGULARISED,
    SCENARIO_NAMES,
    method_options,
    shares_across_scenarios,
)

RUN_ITERATIONS, CONTEXTS, SCENARIOS = 2000, 5, 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--methods", default=",".join(METHOD_NAMES))
    parser.add_argument("--candidates", type=int, default=4, help="strengths the search tries")
    parser.add_argument("--search-iterations", type=int, default=RUN_ITERATIONS // 4)
    parser.add_argument("--workers", type=int, default=1, help="processes for the parts")
    parser.add_argument("--cores", type=int, default=2, help="W of the idle wall estimate")
    parser.add_argument(
        "--scenario", default="class", choices=SCENARIO_NAMES,
        help="the scenario measured (and counted for all three) for the methods that share nothing",
    )  # fmt: skip
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    config = {**EXPERIMENT.defaults, "benchmark": "split"}  # the full run's settings
    source = Source(args.dataset, "split", seed=0)
    methods = args.methods.split(",")
    rows, runs, search, chain, cpu_all = {}, 0.0, 0.0, 0.0, 0.0
    steps = CONTEXTS * args.iterations
    start = time.perf_counter()
    for method in methods:  # the N and 2N streams of one method side by side, then the next
        settings = {
            "batch_size": 128,
            "hidden": (400, 400),
            "learning_rate": 1e-3,
            "seed": 0,
            **method_options(config, method, args.scenario),
        }
        together = shares_across_scenarios(method)  # one job of all three scenarios
        scenario = SCENARIO_NAMES if together else args.scenario
        jobs = [
            Job(source, method, scenario, {**settings, "iterations": n}, key=n)
            for n in (args.iterations, 2 * args.iterations)
        ]
        t1, t2 = (d.cpu_seconds for d in run_jobs(jobs, args.workers))
        cpu_all += t1 + t2
        step = (t2 - t1) / steps
        fixed = max(0.0, t1 - steps * step)
        stream = fixed + CONTEXTS * RUN_ITERATIONS * step
        searched = fixed + CONTEXTS * args.search_iterations * step
        runs += stream if together else SCENARIOS * stream
        if method in REGULARISED:
            search += SCENARIOS * args.candidates * searched
            chain = max(chain, searched + stream)
        chain = max(chain, stream)
        rows[method] = {"step_ms": 1e3 * step, "fixed_s": fixed, "stream_s": stream,
                        "scenarios_per_job": 3 if together else 1}  # fmt: skip
        print(
            f"{method:20s} step {1e3 * step:6.2f} ms CPU"
            + (" (3 scenarios side by side)" if together else "")
            + f"; fixed {fixed:5.1f} s CPU; stream "
            f"{stream / 60:5.2f} min CPU; searched stream {searched / 60:5.2f} min CPU "
            f"(load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    wall = time.perf_counter() - start
    load = os.getloadavg()
    whole = runs + search
    print(
        f"full split benchmark (3 scenarios x {len(methods)} methods, one seed, search "
        f"{args.candidates} candidates x {args.search_iterations} iterations per context), CPU: "
        f"{whole / 60:.1f} min = runs {runs / 60:.1f} + strength search {search / 60:.1f} "
        f"({search / max(whole, 1e-9):.0%}) (extrapolated)"
    )
    print(
        f"idle wall on {args.cores} cores, single-threaded workers: at least "
        f"{max(whole / args.cores, chain) / 60:.1f} min (CPU / {args.cores}: "
        f"{whole / args.cores / 60:.1f}; longest chain {chain / 60:.1f}) (extrapolated)"
    )
    print(
        f"these parts: {wall:.0f} s wall on {args.workers} worker(s), "
        f"{cpu_all:.0f} s CPU; load average {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} (1 / 5 / 15 min) at the end"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "methods": rows,
                    "runs_cpu_s": runs,
                    "search_cpu_s": search,
                    "chain_s": chain,
                    "dataset": args.dataset,
                    "search_iterations": args.search_iterations,
                    "load": load,
                },
                fh,
                indent=1,
            )


if __name__ == "__main__":
    main()
