"""engram models of every layer family, with random weights, for the export tests."""

from __future__ import annotations

import numpy as np

import engram.nn.layers as E
from engram.nn import Input, Model, Sequential
from engram.nn.graph import call_layer

# family -> (input shape, layers, integer inputs?)
FAMILIES = {
    "dense": ((4,), lambda: [E.Dense(5, activation="relu"), E.Dropout(0.3), E.Dense(3)], False),
    "activations": (
        (4,),
        lambda: [
            E.Dense(6, activation="elu"),
            E.Activation("tanh"),
            E.LeakyReLU(0.2),
            E.Dense(4, activation="sigmoid"),
            E.ReLU(),
            E.Dense(3),
            E.Softmax(),
        ],
        False,
    ),
    "conv_pool_bn": (
        (9, 9, 2),
        lambda: [
            E.Conv2D(3, 3, padding="same", strides=2, activation="relu"),
            E.MaxPooling2D(pool_size=2, padding="same"),
            E.Conv2D(4, (2, 2)),
            E.BatchNormalization(),
            E.AveragePooling2D(pool_size=2, strides=1, padding="same"),
            E.Flatten(),
            E.Dense(2),
        ],
        False,
    ),
    "global_pool_reshape": (
        (12,),
        lambda: [E.Reshape((2, 2, 3)), E.Conv2D(2, 1), E.GlobalAveragePooling2D(), E.Dense(2)],
        False,
    ),
    "simple_rnn": (
        (5, 3),
        lambda: [
            E.SimpleRNN(4, return_sequences=True, go_backwards=True),
            E.SimpleRNN(2, activation="relu"),
        ],
        False,
    ),
    "lstm": (
        (5, 3),
        lambda: [E.LSTM(4, return_sequences=True), E.LSTM(3, go_backwards=True)],
        False,
    ),
    "gru": ((5, 3), lambda: [E.GRU(4, return_sequences=True), E.GRU(3)], False),
    "embedding": ((6,), lambda: [E.Embedding(10, 4), E.GRU(3)], True),
    "time_distributed": (
        (4, 3),
        lambda: [E.TimeDistributed(E.Dense(2, activation="tanh")), E.BatchNormalization()],
        False,
    ),
    # the Keras-port layers
    "rescale_pad_upsample": (
        (5, 4, 3),
        lambda: [
            E.Rescaling(1 / 4, offset=-0.5),
            E.Rescaling([1.0, 2.0, 0.5]),
            E.Normalization(mean=[0.5, -1.0, 2.0], variance=[4.0, 0.25, 1.0]),
            E.ZeroPadding2D(((1, 0), (2, 1))),
            E.Conv2D(2, 3),
            E.UpSampling2D((2, 3)),
            E.LayerNormalization(axis=(1, 3)),
            E.UpSampling2D(2, interpolation="bilinear"),
            E.Normalization(axis=None, mean=1.0, variance=9.0, invert=True),
            E.Flatten(),
        ],
        False,
    ),
    "global_pools_2d": (
        (5, 4, 3),
        lambda: [
            E.LayerNormalization(),
            E.Conv2D(4, 2),
            E.GlobalMaxPooling2D(keepdims=True),
            E.Flatten(),
        ],
        False,
    ),
    "global_pools_1d": (
        (6, 4),
        lambda: [
            E.Dense(6),
            E.GlobalMaxPooling1D(keepdims=True),
            E.Reshape((2, 3)),
            E.GlobalAveragePooling1D(),
        ],
        False,
    ),
    "global_average_keepdims": (
        (4, 5, 2),
        lambda: [E.Conv2D(3, 2), E.GlobalAveragePooling2D(keepdims=True)],
        False,
    ),
    "conv1d_pool1d": (
        (9, 3),
        lambda: [
            E.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="tanh"),
            E.Conv1D(4, 2, padding="same", strides=2),
            E.MaxPooling1D(2, padding="same"),
            E.Conv1D(3, 2, padding="same", dilation_rate=2),
            E.AveragePooling1D(3, strides=2, padding="same"),
            E.LayerNormalization(epsilon=0.1, center=False),
        ],
        False,
    ),
    "conv1d_valid": (
        (16, 3),
        lambda: [
            E.Conv1D(4, 3, dilation_rate=3),
            E.AveragePooling1D(2),
            E.Conv1D(3, 2, strides=2, activation="relu"),
            E.MaxPooling1D(2, strides=1),
            E.Flatten(),
        ],
        False,
    ),
    "bidirectional": (
        (5, 3),
        lambda: [
            E.Bidirectional(E.LSTM(3, return_sequences=True)),
            E.Bidirectional(E.SimpleRNN(3, return_sequences=True), merge_mode="ave"),
            E.Bidirectional(E.GRU(2, return_sequences=True), merge_mode="mul"),
            E.Bidirectional(E.GRU(2), merge_mode="sum"),
        ],
        False,
    ),
}


def inputs(family: str, n: int = 7, seed: int = 0) -> np.ndarray:
    shape, _, integer = FAMILIES[family]
    rng = np.random.default_rng(seed)
    if integer:
        return rng.integers(0, 10, (n, *shape))
    return rng.standard_normal((n, *shape)).astype(np.float32)


def model(family: str, seed: int = 2) -> Sequential:
    """The family's model, built, with random weights (BatchNormalization's variances > 0)."""
    shape, layers, _ = FAMILIES[family]
    m = Sequential(layers(), seed=0)
    m.build((None, *shape))
    rng = np.random.default_rng(seed)
    weights = [(rng.standard_normal(w.shape) * 0.5).astype(w.dtype) for w in m.get_weights()]
    i = 0
    for layer in m.layers:
        n = len(layer.get_weights())
        if type(layer).__name__ == "BatchNormalization":
            weights[i + 3] = np.abs(weights[i + 3]) + 0.5
        i += n
    m.set_weights(weights)
    return m


# ------------------------------------------------------------------- functional models
def _resnet() -> Model:
    x = inputs_ = Input((8, 8, 2), name="img")
    x = E.Conv2D(4, 3, activation="relu")(x)
    block = E.MaxPooling2D(2)(x)
    x = E.Conv2D(4, 3, padding="same", activation="relu")(block)
    x = E.BatchNormalization()(E.Conv2D(4, 3, padding="same")(x))
    x = E.GlobalAveragePooling2D()(E.Add()([x, block]))
    return Model(inputs_, E.Dense(3)(x), name="resnet", seed=0)


def _two_in_two_out() -> Model:
    a, b = Input((6,), name="title"), Input((6,), name="body")
    x, y = E.Dense(4, activation="tanh")(a), E.Dense(4, activation="sigmoid")(b)
    merges = [cls()([x, y]) for cls in (E.Add, E.Subtract, E.Multiply, E.Average, E.Maximum)]
    merges += [E.Minimum()([x, y, x]), E.Dot(axes=1)([x, y])]
    joined = E.Concatenate()(merges)
    return Model([a, b], [E.Dense(1)(joined), E.Dense(3)(E.Concatenate()([joined, a]))], seed=0)


def _shared_nested() -> Model:
    inner_in = Input((5,), name="inner_in")
    inner = Model(inner_in, [E.Dense(3)(inner_in), E.Dense(2)(inner_in)], name="inner", seed=0)
    head = Sequential([E.Dense(4, activation="relu"), E.Dense(2)], name="head", seed=0)
    head.build((None, 3))
    a, b = Input((5,), name="left"), Input((5,), name="right")
    shared = E.Dense(5, activation="tanh", name="shared")
    code, aux = inner(shared(shared(a)))
    return Model([a, b], [head(code), E.Add()([aux, E.Dense(2)(shared(b))])], seed=0)


def _shared_models() -> Model:
    """Models called at several nodes (the siamese pattern): a two-output functional encoder
    and a recurrent Sequential one, each applied to both inputs."""
    enc_in = Input((6,), name="enc_in")
    h = E.Dense(5, activation="tanh")(enc_in)
    encoder = Model(enc_in, [E.Dense(3)(h), E.Dense(2)(h)], name="encoder", seed=0)
    reader = Sequential([E.Reshape((3, 2)), E.GRU(3)], name="reader", seed=0)
    reader.build((None, 6))
    a, b = Input((6,), name="left"), Input((6,), name="right")
    (ca, xa), (cb, xb) = encoder(a), encoder(b)
    ra, rb = reader(a), reader(b)
    distance = E.Dense(1)(E.Concatenate()([E.Subtract()([ca, cb]), E.Multiply()([ra, rb]), xa]))
    return Model([a, b], [distance, xb, rb], seed=0)


def _sequences() -> Model:
    # call_layer records the recurrent layers' calls: their own __call__ takes arrays only
    tokens, series = Input((6,), name="tokens"), Input((6, 4), name="series")
    emb = E.Embedding(10, 4)(tokens)
    seq = call_layer(E.LSTM(4, return_sequences=True), E.Concatenate(axis=-1)([emb, series]))
    attn = E.Dot(axes=2)([seq, series])  # (batch, 6, 6)
    mixed = E.Dot(axes=(2, 1))([attn, seq])  # (batch, 6, 4)
    pooled = E.Dot(axes=(1, 1), normalize=True)([mixed, series])  # (batch, 4, 4)
    last = call_layer(E.GRU(3), mixed)
    cos = E.Dot(axes=1, normalize=True)([last, E.Dense(3)(E.Flatten()(pooled))])
    vec = E.Dot(axes=(1, 2))([last, E.Dense(3)(seq)])  # (batch, 6)
    return Model([tokens, series], [cos, vec], seed=0)


#: name -> builder of an engram functional model
GRAPHS = {
    "resnet": _resnet,
    "two_in_two_out": _two_in_two_out,
    "shared_nested": _shared_nested,
    "sequences": _sequences,
    "shared_models": _shared_models,
}


def graph_model(name: str, seed: int = 2) -> Model:
    """The functional model, with random weights of unit-scale outputs (BN variances > 0)."""
    m = GRAPHS[name]()
    rng = np.random.default_rng(seed)
    weights = []
    for w in m.get_weights():
        scale = 0.5 if w.ndim == 1 else np.prod(w.shape[:-1]) ** -0.5
        weights.append((rng.standard_normal(w.shape) * scale).astype(w.dtype))
    i = 0
    for layer in m.layers:
        n = len(layer.get_weights())
        if type(layer).__name__ == "BatchNormalization":
            weights[i + 3] = np.abs(weights[i + 3]) + 0.5
        i += n
    m.set_weights(weights)
    return m


def graph_inputs(m: Model, n: int = 7, seed: int = 0) -> list[np.ndarray]:
    """Arrays for each input: token indices for an Embedding's input, else normal floats."""
    rng = np.random.default_rng(seed)
    out = []
    for t in m.inputs:
        if t.node.layer.name == "tokens":
            out.append(rng.integers(0, 10, (n, *t.shape[1:])))
        else:
            out.append(rng.standard_normal((n, *t.shape[1:])).astype(np.float32))
    return out
