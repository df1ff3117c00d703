"""engram: brain-inspired neural networks from first principles.

- `engram.nn`: a NumPy engine with hand-written backpropagation behind a Keras-like API.
- `engram.memory`: Hebbian plasticity, Hopfield networks, working memory.
- `engram.motor`: motor cortex tasks and population-dynamics analyses.
- `engram.data`: embedded and real datasets.
- `engram.experiments`: runnable experiments (``engram run NAME``).
- `engram.sweep`: experiments over grids of settings and seeds (``engram sweep NAME``).

Subpackages load on first use (``import engram; engram.nn.Sequential``), so ``import engram``
itself costs nothing.
"""

import importlib
from typing import Any

from engram.registry import declare

__version__ = "0.1.0"

# Names that packages above the engine register in its registries, imported on first lookup
# (a model file naming RateRNN loads in a fresh process; engram.nn names no package above it)
declare("layer", "engram.motor.rate_network", "RateRNN")
declare("loss", "engram.motor.training", "masked_mean_squared_error")

SUBPACKAGES = ("nn", "memory", "motor", "data", "experiments", "viz", "sweep")

__all__ = ["__version__", *SUBPACKAGES]


def __getattr__(name: str) -> Any:
    if name in SUBPACKAGES:
        return importlib.import_module(f"engram.{name}")
    raise AttributeError(f"module 'engram' has no attribute {name!r}")
