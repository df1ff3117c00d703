"""Import time of engram against the 0.3 s target, and against NumPy's own import.

Each import runs in a fresh interpreter; the best of ``--repeats`` runs is reported (single runs
vary 2-3x on a busy machine). Run: ``python bench/bench_import.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

TARGET_S = 0.3
PROBE = "import time; t = time.perf_counter(); import {m}; print(time.perf_counter() - t)"


def best_import_time(module: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(m=module)],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(out.stdout))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    numpy_s = best_import_time("numpy", args.repeats)
    print(f"{'module':<20} {'best (s)':>9}  target")
    print(f"{'numpy':<20} {numpy_s:>9.3f}  -")
    for module in ("engram", "engram.nn", "engram.experiments"):
        seconds = best_import_time(module, args.repeats)
        verdict = "ok" if seconds < TARGET_S else "MISSED"
        print(
            f"{module:<20} {seconds:>9.3f}  < {TARGET_S} s {verdict} "
            f"(engram's own share {seconds - numpy_s:+.3f} s)"
        )


if __name__ == "__main__":
    main()
