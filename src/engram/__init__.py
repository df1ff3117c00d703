"""engram: brain-inspired neural networks from first principles.

- `engram.nn`: a NumPy engine with hand-written backpropagation behind a Keras-like API.
- `engram.memory`: Hebbian plasticity, Hopfield networks, working memory.
- `engram.motor`: motor cortex tasks and population-dynamics analyses.
- `engram.data`: embedded and real datasets.
- `engram.experiments`: runnable experiments (``engram run NAME``).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
