"""Keras's ``models`` module: ``from engram.nn.models import Model, Sequential, load_model``."""

from engram.nn.model import Model
from engram.nn.saving import load_model
from engram.nn.sequential import Sequential

__all__ = ["Model", "Sequential", "load_model"]
