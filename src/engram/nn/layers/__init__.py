"""Layers, with Keras's names and arguments. Each registers itself in `layers`."""

from engram.nn.layers.activation import Activation, LeakyReLU, ReLU, Softmax
from engram.nn.layers.base import Layer, layers, register_layer
from engram.nn.layers.dense import Dense
from engram.nn.layers.dropout import Dropout
from engram.nn.layers.reshape import Flatten, Input, InputLayer, Reshape

__all__ = [
    "Activation",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "InputLayer",
    "Layer",
    "LeakyReLU",
    "ReLU",
    "Reshape",
    "Softmax",
    "layers",
    "register_layer",
]
