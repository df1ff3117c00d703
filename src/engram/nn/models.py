"""Keras's ``models`` module: ``from engram.nn.models import Sequential, load_model``."""

from engram.nn.io import load_model
from engram.nn.model import Sequential

__all__ = ["Sequential", "load_model"]
