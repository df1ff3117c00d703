"""What the side-by-side benchmarks share: talking to a worker process, and the run order.

Each benchmark runs engram and PyTorch in long-lived worker processes that read one command
per line on stdin and answer one line on stdout.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Sequence

#: the variables that fix the BLAS/OpenMP thread count of NumPy's OpenBLAS, MKL and PyTorch
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """This process's environment with every BLAS thread count set to ``threads`` (for a
    worker: the count must be fixed before NumPy or PyTorch loads)."""
    return {**os.environ, **dict.fromkeys(THREAD_VARS, str(threads))}


def rss_mb() -> float:
    """The resident set of this process now, in MB (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def ask(proc: subprocess.Popen, command: str) -> str:
    """Send one command line to a worker and return its one-line answer."""
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"a benchmark worker stopped (exit code {proc.wait()})")
    return line.strip()


def abba(names: Sequence[str], repeats: int, pause: float) -> Iterator[str]:
    """The workers' turns, ABBA order (A B, B A, A B, ...: neither always runs right after
    the other), each after ``pause`` seconds, so the other process's threads have stopped
    spinning after their own call before this one starts."""
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            time.sleep(pause)
            yield name
