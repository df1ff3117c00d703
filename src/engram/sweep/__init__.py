"""Sweeps: an experiment over a grid of settings and many seeds, on this machine or on Dask.

- `grid`: the plan (settings x seeds) and each cell's seed from one `numpy.random.SeedSequence`.
- `cell`: one cell in a worker: the runner's `run_resolved`, BLAS threads limited.
- `backends`: serial, joblib processes, Dask (``engram[cluster]``, imported only when asked).
- `results`: ``sweep.json`` and ``results.csv``, written per finished cell; resuming.
- `aggregate` and `report`: the aggregate over seeds and ``report.html``.
- `run`: `run_sweep`, which ties them together (``engram sweep`` on the command line).
"""

from engram.sweep.backends import BACKENDS, SweepError
from engram.sweep.grid import Cell, Plan, make_plan
from engram.sweep.run import SweepOutput, run_sweep

__all__ = ["BACKENDS", "Cell", "Plan", "SweepError", "SweepOutput", "make_plan", "run_sweep"]
