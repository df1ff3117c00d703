"""Where the seed CNN's two-thread step goes: 1 against 2 threads in one process.

bench_cnn.py's model and data; OpenBLAS's thread count switched between runs in the same
process (engram's workers follow it, `engram.runtime.worker_count`), runs alternating (1, 2,
2, 1, ...), so that drifts in machine speed hit both. Printed per batch size and mode
(``fit`` one epoch of ``--steps`` batches, ``predict`` the same data):

* wall ms per step at 1 and 2 threads (medians), the scaling (1-thread / 2-thread time,
  median of the pairs, [lowest, highest]); 2.0 would be perfect;
* CPU ms per step of each thread of the process (from /proc/self/task: the main thread,
  engram's pool worker and, if it ran, OpenBLAS's own worker);
* per kind of `parallel_map` region (Conv2D forward/backward blocks, pooling, Dense's split
  products): calls per step, wall ms per step at 1 and 2 threads, and at 2 threads each
  worker's busy time (its share, including any wait for the GIL inside it); the time
  outside every region (loss, Adam, the loop's Python) on its own line;
* ``--framework torch``: the same 1 against 2 threads for PyTorch (``torch.set_num_threads``
  switched between runs; wall and per-thread CPU only), to set engram's scaling beside it;
* ``--handoff``: what one `parallel_map` hand-off costs here (two no-op items), and what two
  workers give on a chain of small NumPy calls (each call releases and takes back the GIL).

Usage (a speed measurement: under the shared lock on the 2-core machine):
    flock /work/wt/bench.lock python bench/cnn_threads.py --batch-sizes 32 128 256 --pairs 7
    OPENBLAS_CORETYPE=Haswell flock /work/wt/bench.lock python bench/cnn_threads.py
    flock /work/wt/bench.lock python bench/cnn_threads.py --handoff
    flock /work/wt/bench.lock python bench/cnn_threads.py --framework torch
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import statistics
import sys
import threading
import time

from bench_cnn import engram_runner, synthetic_data, torch_runner


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each thread of this process, by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for folder in glob.glob(f"/proc/{os.getpid()}/task/*"):
        try:
            with open(folder + "/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        out[folder.rsplit("/", 1)[1]] = (int(fields[11]) + int(fields[12])) / tick
    return out


class Regions:
    """Wraps `parallel_map` (in runtime and in the layer modules that imported it) to time
    each region and each worker's share of it."""

    def __init__(self) -> None:
        from engram import runtime
        from engram.nn.layers import conv2d, pooling

        self.modules = (runtime, conv2d, pooling)
        # one call per worker per region: `_drain` (or `_run`, before dynamic scheduling)
        self.worker_loop = "_drain" if hasattr(runtime, "_drain") else "_run"
        self.real_map = runtime.parallel_map
        self.real_run = getattr(runtime, self.worker_loop)
        self.calls: list[tuple[str, float, list[float]]] = []
        self.busy: dict[int, float] = {}

    def __enter__(self) -> Regions:
        from engram import runtime

        def drain(*args):
            start = time.perf_counter()
            result = self.real_run(*args)
            self.busy[threading.get_ident()] = time.perf_counter() - start
            return result

        def mapped(function, items):
            self.busy = {}
            start = time.perf_counter()
            result = self.real_map(function, items)
            wall = time.perf_counter() - start
            name = getattr(function, "__qualname__", "?").replace(".<locals>", "")
            self.calls.append((name, wall, sorted(self.busy.values(), reverse=True)))
            return result

        setattr(runtime, self.worker_loop, drain)
        for module in self.modules:
            module.parallel_map = mapped
        return self

    def __exit__(self, *exc) -> None:
        from engram import runtime

        setattr(runtime, self.worker_loop, self.real_run)
        for module in self.modules:
            module.parallel_map = self.real_map


def set_threads(threads: int, framework: str = "engram") -> None:
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
        return
    from engram import runtime

    runtime._openblas()[1](threads)


def measure(batch: int, steps: int, pairs: int, mode: str, framework: str = "engram") -> None:
    x, y = synthetic_data(batch * steps)
    if framework == "torch":
        import torch

        x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        train, infer = torch_runner(x, torch.from_numpy(y), batch)
    else:
        train, infer = engram_runner(x, y, batch)
    run = train if mode == "fit" else infer
    for threads in (1, 2):
        set_threads(threads, framework)
        run()  # warm-up: buffers, the pool
    walls = {1: [], 2: []}
    cpus = {1: [], 2: []}
    regions = {1: collections.defaultdict(list), 2: collections.defaultdict(list)}
    with Regions() as recorder:
        for r in range(pairs):
            for threads in (1, 2) if r % 2 == 0 else (2, 1):
                set_threads(threads, framework)
                time.sleep(0.2)  # any spinning thread of the other run has stopped
                recorder.calls.clear()
                before = thread_cpu()
                start = time.perf_counter()
                run()
                walls[threads].append((time.perf_counter() - start) / steps * 1e3)
                after = thread_cpu()
                used = [(after[k] - before.get(k, 0.0)) / steps * 1e3 for k in after]
                cpus[threads].append(sorted((u for u in used if u > 0.02), reverse=True))
                per = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0])
                for name, wall, busy in recorder.calls:
                    entry = per[name]
                    entry[0] += 1
                    entry[1] += wall
                    entry[2] += busy[0] if busy else 0.0
                    entry[3] += busy[1] if len(busy) > 1 else 0.0
                for name, entry in per.items():
                    regions[threads][name].append([v / steps for v in entry])
    set_threads(2, framework)
    ratios = [a / b for a, b in zip(walls[1], walls[2], strict=True)]
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    print(
        f"\n{framework} batch {batch} {mode}: 1 thread {one:.2f} ms/step, "
        f"2 threads {two:.2f} ms/step, "
        f"scaling {statistics.median(ratios):.2f}x [{min(ratios):.2f}, {max(ratios):.2f}] "
        f"({pairs} pairs)"
    )
    for threads in (1, 2):
        width = max(len(c) for c in cpus[threads])
        columns = [
            statistics.median(c[i] if i < len(c) else 0.0 for c in cpus[threads])
            for i in range(width)
        ]
        print(f"  CPU ms/step per thread at {threads}: " + " + ".join(f"{c:.2f}" for c in columns))
    if framework == "torch":
        return
    print(f"  {'region':40s} {'calls':>5s} {'1 thread':>9s} {'2 threads':>9s} {'busy a/b':>13s}")
    total = {1: 0.0, 2: 0.0}
    for name in regions[2].keys() | regions[1].keys():
        rows = {t: regions[t].get(name) for t in (1, 2)}
        med = {
            t: [statistics.median(v[i] for v in rows[t]) for i in range(4)] if rows[t] else None
            for t in (1, 2)
        }
        for t in (1, 2):
            total[t] += med[t][1] if med[t] else 0.0
        calls = (med[2] or med[1])[0]
        one_ms = f"{med[1][1] * 1e3:9.2f}" if med[1] else f"{'-':>9s}"
        two_ms = f"{med[2][1] * 1e3:9.2f}" if med[2] else f"{'-':>9s}"
        busy = f"{med[2][2] * 1e3:6.2f}/{med[2][3] * 1e3:.2f}" if med[2] else ""
        print(f"  {name:40s} {calls:5.0f} {one_ms} {two_ms} {busy:>13s}")
    print(
        f"  {'outside the regions':40s} {'':5s} {one - total[1] * 1e3:9.2f} "
        f"{two - total[2] * 1e3:9.2f}"
    )


def handoff() -> None:
    """The fixed cost of a `parallel_map` call, and two workers on chains of small calls."""
    import numpy as np

    from engram import runtime

    set_threads(2)
    noop = [0, 1]
    for _ in range(200):
        runtime.parallel_map(abs, noop)
    times = []
    for _ in range(2000):
        start = time.perf_counter()
        runtime.parallel_map(abs, noop)
        times.append(time.perf_counter() - start)
    times.sort()
    print(
        f"parallel_map of 2 no-op items: median {times[1000] * 1e6:.1f} us "
        f"[p10 {times[200] * 1e6:.1f}, p90 {times[1800] * 1e6:.1f}]"
    )
    for size, count in ((2_000, 200), (20_000, 50), (100_000, 10), (250_000, 40)):
        a = np.ones(size, np.float32)
        outs = [np.empty_like(a) for _ in range(2)]

        def chain(i, a=a, outs=outs, count=count):
            for _ in range(count):
                np.multiply(a, 2, out=outs[i])

        serial, parallel = [], []
        for _ in range(100):
            start = time.perf_counter()
            chain(0), chain(1)
            serial.append(time.perf_counter() - start)
            start = time.perf_counter()
            runtime.parallel_map(chain, noop)
            parallel.append(time.perf_counter() - start)
        s, p = statistics.median(serial), statistics.median(parallel)
        print(
            f"2 items of {count} multiplies of {size} floats ({s / 2 / count * 1e6:.1f} us each): "
            f"serial {s * 1e3:.2f} ms, 2 workers {p * 1e3:.2f} ms: {s / p:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 256])
    parser.add_argument("--modes", nargs="+", default=["fit", "predict"])
    parser.add_argument("--samples", type=int, default=2560, help="samples per run")
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--handoff", action="store_true")
    parser.add_argument("--framework", choices=["engram", "torch"], default="engram")
    args = parser.parse_args()
    from engram import runtime

    if runtime._openblas() is None:
        sys.exit("NumPy's BLAS is not OpenBLAS: engram's thread policy does not apply.")
    print(f"OpenBLAS kernels: {runtime.blas_corename()}")
    if args.handoff:
        handoff()
        return
    for batch in args.batch_sizes:
        for mode in args.modes:
            measure(batch, max(10, args.samples // batch), args.pairs, mode, args.framework)


if __name__ == "__main__":
    main()
