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

# Recurrent layers, Embedding and TimeDistributed (sequence models)
from engram.nn.layers.embedding import Embedding  # noqa: E402
from engram.nn.layers.gru import GRU  # noqa: E402
from engram.nn.layers.lstm import LSTM  # noqa: E402
from engram.nn.layers.simple_rnn import SimpleRNN  # noqa: E402
from engram.nn.layers.wrappers import TimeDistributed  # noqa: E402

__all__ += ["Embedding", "GRU", "LSTM", "SimpleRNN", "TimeDistributed"]

# Image layers: convolution, pooling and batch normalization
from engram.nn.layers.conv2d import Conv2D  # noqa: E402
from engram.nn.layers.normalization import BatchNormalization  # noqa: E402
from engram.nn.layers.pooling import (  # noqa: E402
    AveragePooling2D,
    GlobalAveragePooling2D,
    MaxPooling2D,
)

__all__ += [
    "AveragePooling2D",
    "BatchNormalization",
    "Conv2D",
    "GlobalAveragePooling2D",
    "MaxPooling2D",
]

# Merge layers (functional models): the classes and Keras's lower-case helpers
from engram.nn.layers.merge import (  # noqa: E402
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)

__all__ += [
    "Add",
    "Average",
    "Concatenate",
    "Dot",
    "Maximum",
    "Minimum",
    "Multiply",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "dot",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]

# Preprocessing, image reshaping and global pooling layers
from engram.nn.layers.global_pooling import (  # noqa: E402
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
)
from engram.nn.layers.preprocessing import Rescaling  # noqa: E402
from engram.nn.layers.spatial import UpSampling2D, ZeroPadding2D  # noqa: E402

__all__ += [
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Rescaling",
    "UpSampling2D",
    "ZeroPadding2D",
]

# Sequence convolution and pooling
from engram.nn.layers.conv1d import Conv1D  # noqa: E402
from engram.nn.layers.pooling1d import AveragePooling1D, MaxPooling1D  # noqa: E402

__all__ += ["AveragePooling1D", "Conv1D", "MaxPooling1D"]

# Normalization of each sample, and of the data (preprocessing)
from engram.nn.layers.layer_normalization import LayerNormalization  # noqa: E402
from engram.nn.layers.preprocessing import Normalization  # noqa: E402

__all__ += ["LayerNormalization", "Normalization"]
# Bidirectional: a recurrent layer run both ways in time
from engram.nn.layers.bidirectional import Bidirectional  # noqa: E402

__all__ += ["Bidirectional"]

# Masking: a (batch, time) mask from the data, for the recurrent layers
from engram.nn.layers.masking import Masking  # noqa: E402

__all__ += ["Masking"]

# Transposed convolution (decoders, autoencoders)
from engram.nn.layers.conv2d_transpose import Conv1DTranspose, Conv2DTranspose  # noqa: E402

__all__ += ["Conv1DTranspose", "Conv2DTranspose"]

# Shaping, noise and regularization layers
from engram.nn.layers.regularization import (  # noqa: E402
    ActivityRegularization,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
)
from engram.nn.layers.shaping import (  # noqa: E402
    Cropping1D,
    Cropping2D,
    Identity,
    Permute,
    RepeatVector,
)
from engram.nn.layers.unit_normalization import UnitNormalization  # noqa: E402

__all__ += [
    "ActivityRegularization",
    "Cropping1D",
    "Cropping2D",
    "GaussianDropout",
    "GaussianNoise",
    "Identity",
    "Permute",
    "RepeatVector",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "UnitNormalization",
]

# Depthwise and separable convolution
from engram.nn.layers.depthwise_conv2d import DepthwiseConv2D, SeparableConv2D  # noqa: E402

__all__ += ["DepthwiseConv2D", "SeparableConv2D"]

# ops calls on symbolic tensors (a node per op): registers itself where engram.nn.ops finds it
from engram.nn.layers import op_call  # noqa: E402, F401
