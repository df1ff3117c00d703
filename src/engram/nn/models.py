"""Keras's ``models`` module: ``from engram.nn.models import Sequential, load_model``."""

from engram.nn.model import Sequential
from engram.nn.saving import load_model

__all__ = ["Sequential", "load_model"]
