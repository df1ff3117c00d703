"""Brunel (2000) network speed: engram's vectorised NumPy simulator against Brian2, in one run.

Model A of Brunel (2000) at the asynchronous irregular point (g = 5, nu_ext = 2 nu_thr), scaled
to N = 10,000 neurons (8,000 E, 2,000 I, eps = 0.1: C_E = 800, C_I = 200, J = 0.1 mV, D = 1.5 ms,
dt = 0.1 ms), one second of model time. Both simulators get the same synapses (engram's
`fixed_indegree`, handed to Brian2's ``connect(i=..., j=...)``); Brian2 uses its own
``PoissonInput`` for the external drive. Reported: wall-clock time of the simulation (setup and
connectivity separately), spikes and mean rate of each, so that a speed-up is never bought with
a different network state.

Brian2 is optional (``pip install brian2``); without it only engram runs. Brian2's first run
generates and compiles code (Cython), so it is run once for 20 ms first and then timed.

Usage:
    python bench/bench_brunel.py [--n 10000] [--duration 1000] [--target cython|numpy] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def run_engram(n: int, duration: float, seed: int) -> dict:
    from engram.spiking.networks import BrunelParams, brunel_network, fixed_indegree

    p = BrunelParams(n=n, g=5.0, nu_ext_ratio=2.0)
    start = time.perf_counter()
    conn = fixed_indegree(p.n_exc, n - p.n_exc, p.c_exc, int(round(0.1 * (n - p.n_exc))), seed)
    setup = time.perf_counter() - start
    cpu = time.process_time()
    run = brunel_network(p, duration, seed=seed, conn=conn)
    return {
        "setup_s": setup,
        "simulate_s": run.wall_s,
        "simulate_cpu_s": time.process_time() - cpu,
        "spikes": int(run.spike_times.size),
        "rate_hz": float(run.spike_times.size / n / (duration / 1000)),
        "synapses": conn.n_synapses,
    }


def run_brian2(n: int, duration: float, seed: int, target: str) -> dict:
    import brian2 as b2

    from engram.spiking.networks import BrunelParams, fixed_indegree

    b2.prefs.codegen.target = target
    b2.seed(seed)
    p = BrunelParams(n=n, g=5.0, nu_ext_ratio=2.0)
    conn = fixed_indegree(p.n_exc, n - p.n_exc, p.c_exc, int(round(0.1 * (n - p.n_exc))), seed)
    sources = np.repeat(np.arange(n), np.diff(conn.indptr))
    ms, mv, hz = b2.ms, b2.mV, b2.Hz
    start = time.perf_counter()
    b2.start_scope()
    b2.defaultclock.dt = 0.1 * ms
    group = b2.NeuronGroup(
        n, "dv/dt = -v / (20*ms) : volt (unless refractory)", threshold="v > 20*mV",
        reset="v = 10*mV", refractory=2 * ms, method="exact",
    )  # fmt: skip
    group.v = "rand() * 20*mV"
    exc = b2.Synapses(group, group, on_pre="v_post += 0.1*mV", delay=1.5 * ms)
    inh = b2.Synapses(group, group, on_pre=f"v_post += {-p.g * p.j}*mV", delay=1.5 * ms)
    is_exc = sources < p.n_exc
    exc.connect(i=sources[is_exc], j=conn.targets[is_exc].astype(np.int64))
    inh.connect(i=sources[~is_exc], j=conn.targets[~is_exc].astype(np.int64))
    drive = b2.PoissonInput(  # noqa: F841 (a name, so that b2.collect() finds it)
        group, "v", p.c_exc, p.nu_ext_ratio * p.nu_thr * hz, weight=0.1 * mv
    )
    monitor = b2.SpikeMonitor(group)
    net = b2.Network(b2.collect())
    net.run(20 * ms)  # code generation and compilation
    setup = time.perf_counter() - start
    before = monitor.num_spikes
    start, cpu = time.perf_counter(), time.process_time()
    net.run(duration * ms)
    sim, cpu = time.perf_counter() - start, time.process_time() - cpu
    spikes = int(monitor.num_spikes - before)
    return {
        "setup_s": setup,
        "simulate_s": sim,
        "simulate_cpu_s": cpu,
        "spikes": spikes,
        "rate_hz": spikes / n / (duration / 1000),
        "target": target,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--duration", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target", default="cython", choices=("cython", "numpy"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    load = os.getloadavg()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {load}")
    results = {"engram": run_engram(args.n, args.duration, args.seed)}
    try:
        import brian2  # noqa: F401
    except Exception as exc:  # not installed, or built against another NumPy: say which
        print(f"brian2 cannot be imported ({type(exc).__name__}: {exc}): engram only")
        results["brian2_error"] = f"{type(exc).__name__}: {exc}"
    else:
        results["brian2"] = run_brian2(args.n, args.duration, args.seed, args.target)
    results["load_before"], results["load_after"] = load, os.getloadavg()
    print(f"N = {args.n}, {args.duration:g} ms of model time, g = 5, nu_ext = 2 nu_thr")
    head = f"{'simulator':<10} {'setup s':>9} {'simulate s':>11} {'CPU s':>7} {'spikes':>9}"
    print(head + f" {'rate Hz':>8}")
    for name in ("engram", "brian2"):
        if name in results:
            r = results[name]
            print(
                f"{name:<10} {r['setup_s']:>9.2f} {r['simulate_s']:>11.2f} "
                f"{r['simulate_cpu_s']:>7.2f} {r['spikes']:>9} {r['rate_hz']:>8.2f}"
            )
    if "brian2" in results:
        for key in ("simulate_s", "simulate_cpu_s"):
            ratio = results["brian2"][key] / results["engram"][key]
            print(f"brian2 / engram {key}: {ratio:.2f} (above 1: engram faster)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
