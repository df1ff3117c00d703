"""engram.nn: a neural-network engine in NumPy with hand-written backpropagation.

A Keras program ports by changing its import: ``from engram.nn.models import Sequential``,
``from engram.nn.layers import Dense``, ``engram.nn.Sequential([...])``, and the functional API:
``inputs = engram.nn.Input(shape=(784,))``, ``engram.nn.Model(inputs, outputs)``.
"""

from engram.nn import (
    activations,
    callbacks,
    constraints,
    datasets,
    functional,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    random,
    regularizers,
    utils,
)
from engram.nn.callbacks import DivergenceWarning
from engram.nn.gradcheck import GradcheckReport, gradcheck
from engram.nn.io import ModelFileError
from engram.nn.layers import Input
from engram.nn.model import Model, set_random_seed
from engram.nn.saving import load_model
from engram.nn.sequential import Sequential

__all__ = [
    "DivergenceWarning",
    "GradcheckReport",
    "Input",
    "Model",
    "ModelFileError",
    "Sequential",
    "activations",
    "callbacks",
    "constraints",
    "datasets",
    "functional",
    "gradcheck",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "models",
    "ops",
    "optimizers",
    "random",
    "regularizers",
    "set_random_seed",
    "utils",
]
