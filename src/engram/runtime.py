"""BLAS threads and the worker policy, in one place.

NumPy runs element-wise work (copies, additions, ReLU, pooling) on one core and its matrix
products on OpenBLAS's threads. A layer whose work splits into independent blocks of samples
(Conv2D: im2col, matrix products and activation per block) can instead run the blocks on
all the cores at once, each with a single-threaded OpenBLAS: `parallel_map` does that.

Policy:
    * the number of workers is OpenBLAS's thread count (``OPENBLAS_NUM_THREADS`` /
      ``OMP_NUM_THREADS``, or what a program set), so a process limited to one thread stays on
      one thread, and one given two uses two, as PyTorch's ``torch.set_num_threads`` does;
    * while the workers run, OpenBLAS is set to one thread (each worker's products run in that
      worker), then back to its count, so that the threads never oversubscribe the cores;
    * where NumPy's OpenBLAS cannot be found (another BLAS), everything runs in the calling
      thread, unchanged;
    * a model with a layer that runs blocks (``parallel_blocks``: Conv2D, MaxPooling2D) runs
      each fit, evaluate, predict, *_on_batch and compute_gradients call whole (input checks
      and callbacks included) inside `worker_threads`: OpenBLAS stays on one thread
      throughout, `parallel_map` uses the cores, and large products outside the blocks
      (Dense's) are split by rows over the same workers (`matmul`). OpenBLAS's own threads
      busy-wait for about 0.1 s after each multi-threaded product (its THREAD_TIMEOUT, fixed
      when the library loads), so one Dense product per step kept one of them spinning
      throughout and took a core from the workers: at 2 threads the seed CNN's batch-256
      training step used 160 ms of CPU for the 95 ms of work it does on one thread (measured
      on a loaded 2-core machine). A scope per step only still let the input check's
      finiteness sum (a matrix-vector product over the whole data) wake them once per call.
NumPy releases the GIL inside copies, ufuncs and matrix products of large arrays, so the
workers run in parallel on threads of this process (no processes, no pickling).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

# ctypes and concurrent.futures load on first use: `import engram` stays fast

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}
_HOLD_LOCK = threading.Lock()
#: [how many `worker_threads` scopes are open, OpenBLAS's thread count when the first opened]
_HOLD = [0, 1]


def _openblas() -> tuple[Callable[[], int], Callable[[int], None], Any] | None:
    """(get_num_threads, set_num_threads, get_corename or None) of the OpenBLAS that NumPy
    loaded, or None."""
    if "blas" not in _STATE:
        _STATE["blas"] = None
        import ctypes
        import glob

        import numpy as np

        folder = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
        for path in sorted(glob.glob(os.path.join(folder, "*openblas*"))):
            try:
                lib = ctypes.CDLL(path)  # already loaded by NumPy: the same library
            except OSError:
                continue
            for prefix, suffix in (
                ("scipy_openblas", "64_"),
                ("openblas", "64_"),
                ("openblas", ""),
            ):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    put.argtypes = [ctypes.c_int]
                    put.restype = None
                    core = getattr(lib, f"{prefix}_get_corename{suffix}", None)
                    if core is not None:
                        core.restype = ctypes.c_char_p
                    _STATE["blas"] = (get, put, core)
                    break
            if _STATE["blas"] is not None:
                break
    return _STATE["blas"]


def blas_corename() -> str:
    """The kernels OpenBLAS picked for this CPU (e.g. "Haswell", "SkylakeX"), or "unknown"."""
    blas = _openblas()
    name = blas[2] if blas is not None else None
    return name().decode() if name is not None else "unknown"


def blas_threads() -> int:
    """OpenBLAS's thread count now (1 when NumPy's BLAS is not OpenBLAS)."""
    blas = _openblas()
    return max(1, int(blas[0]())) if blas is not None else 1


def worker_count() -> int:
    """How many workers `parallel_map` uses: OpenBLAS's thread count, or inside
    `worker_threads` the count it had before the scope set it to one."""
    return _HOLD[1] if _HOLD[0] else blas_threads()


@contextlib.contextmanager
def worker_threads(active: bool = True) -> Iterator[None]:
    """Hold NumPy's OpenBLAS on one thread for the body; `parallel_map` keeps the threads.

    For a model step whose heavy work runs in `parallel_map` blocks: matrix products outside
    the blocks (a Dense layer's) then run on one thread, and OpenBLAS's threads, never woken,
    do not busy-wait beside the workers. Scopes nest and may be open in several threads at
    once; the last one to close restores the count. ``active=False`` makes it a no-op.
    """
    blas = _openblas() if active else None
    if blas is None:
        yield
        return
    with _HOLD_LOCK:
        if _HOLD[0] == 0:
            _HOLD[1] = max(1, int(blas[0]()))
            if _HOLD[1] > 1:
                blas[1](1)
        _HOLD[0] += 1
    try:
        yield
    finally:
        with _HOLD_LOCK:
            _HOLD[0] -= 1
            if _HOLD[0] == 0 and _HOLD[1] > 1:
                blas[1](_HOLD[1])


#: multiply-adds below which `matmul` does not split a product (the workers' hand-off costs
#: tens of microseconds)
MIN_SPLIT_MACS = 1 << 20


def matmul(a: Any, b: Any, out: Any = None) -> Any:
    """``a @ b`` for 2-D arrays; inside `worker_threads`, a product of at least
    `MIN_SPLIT_MACS` multiply-adds is split by rows of ``a`` over the workers.

    Each row of the result is a product of its own, so the numbers are the same whatever the
    split, up to the order OpenBLAS's kernels sum in (fixed for a given split: deterministic
    for a given thread count). Outside `worker_threads` it is plain `numpy.matmul`, on
    OpenBLAS's own threads.
    """
    import numpy as np

    rows, inner = a.shape
    workers = min(worker_count(), rows) if _HOLD[0] else 1
    if workers <= 1 or rows * inner * b.shape[1] < MIN_SPLIT_MACS:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((rows, b.shape[1]), dtype=np.result_type(a, b))
    bounds = [rows * w // workers for w in range(workers + 1)]
    blocks = [slice(bounds[w], bounds[w + 1]) for w in range(workers)]
    parallel_map(lambda block: np.matmul(a[block], b, out=out[block]), blocks)
    return out


def _forget_pool_after_fork() -> None:
    """A forked child has none of the parent's pool threads (and maybe a held lock): start
    afresh, or its first `parallel_map` would wait forever on threads that do not exist."""
    global _LOCK, _HOLD_LOCK
    _LOCK = threading.Lock()
    _HOLD_LOCK = threading.Lock()
    _STATE.pop("pool", None)
    _STATE.pop("pool_size", None)


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _pool(workers: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    pool = _STATE.get("pool")
    if pool is None or _STATE.get("pool_size", 0) < workers:
        if pool is not None:
            pool.shutdown(wait=False)
        pool = _STATE["pool"] = ThreadPoolExecutor(workers, thread_name_prefix="engram")
        _STATE["pool_size"] = workers
    return pool


def parallel_map(function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[function(item) for item in items]``, the items spread over `worker_count` workers.

    The calling thread is one worker, pool threads the others; each worker takes the next
    item not yet taken whenever it is free (so a worker that starts late, or runs slower
    while the machine is shared, does less, instead of the others waiting for it). Which
    worker runs an item never changes what it computes: ``function`` must only write to what
    its item owns (its block of an output), and results come back in the items' order, so
    the numbers are the same run to run. OpenBLAS runs single-threaded meanwhile. An exception
    in any worker is raised here after all finished.
    """
    workers = min(worker_count(), len(items))
    if workers <= 1 or not _LOCK.acquire(blocking=False):  # nested or concurrent: inline
        return [function(item) for item in items]
    from concurrent.futures import wait

    results: list[Any] = [None] * len(items)
    # taking a number from the counter is one C call under the GIL: atomic
    take = itertools.count().__next__
    try:
        blas = _openblas()
        threads = blas[0]()
        blas[1](1)
        try:
            futures = [
                _pool(workers - 1).submit(_drain, function, items, results, take)
                for _ in range(workers - 1)
            ]
            try:
                _drain(function, items, results, take)
            finally:
                wait(futures)  # no worker may still run when BLAS's thread count goes back
            for future in futures:
                future.result()  # a pool worker's exception
        finally:
            blas[1](threads)
    finally:
        _LOCK.release()
    return results


def _drain(
    function: Callable[[Any], Any],
    items: Sequence[Any],
    results: list[Any],
    take: Callable[[], int],
) -> None:
    """One worker's loop: run the next item not yet taken until none is left."""
    count = len(items)
    while (index := take()) < count:
        results[index] = function(items[index])
