"""Bidirectional: the shared harness, then Keras's own layer with its weights copied in."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Input, Model, Sequential
from engram.nn import layers as L
from tests.helpers import check_layer
from tests.nn.keras_reference import check_against_keras, import_keras

STEPS, FEATURES = 5, 3


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_harness(merge_mode, return_sequences, tmp_path):
    inner = L.LSTM(3, return_sequences=return_sequences, bias_initializer="random_normal")
    layer = check_layer(
        L.Bidirectional,
        {"layer": inner, "merge_mode": merge_mode},
        (2, STEPS, FEATURES),
        tmp_path=tmp_path,
    )
    assert [w.shape for w in layer.get_weights()] == [(3, 12), (3, 12), (12,)] * 2


@pytest.mark.parametrize("cls", [L.SimpleRNN, L.GRU])
def test_bidirectional_gradcheck_around_simple_rnn_and_gru(cls):
    check_layer(L.Bidirectional, {"layer": cls(4, return_sequences=True)}, (2, 4, 3))


def _keras_pair(keras, make_inner, merge_mode, return_sequences, **wrapper):
    """The same model in engram and Keras: Input -> Bidirectional -> Dense(2)."""
    models = []
    for lib, nn in (("engram", L), ("keras", keras.layers)):
        extra = {k: v(nn) for k, v in wrapper.items()}
        bi = nn.Bidirectional(
            make_inner(nn, return_sequences), merge_mode=merge_mode, name="bi", **extra
        )
        inp = (Input if lib == "engram" else keras.Input)(shape=(STEPS, FEATURES))
        layers = [inp, bi, nn.Dense(2, name="out")]
        models.append((Sequential if lib == "engram" else keras.Sequential)(layers, name="m"))
    return models


def _data(return_sequences, n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, STEPS, FEATURES)).astype(np.float32)
    y_shape = (n, STEPS, 2) if return_sequences else (n, 2)
    return x, rng.standard_normal(y_shape).astype(np.float32)


CASES = [
    *[("LSTM", mode, seq) for mode in ("concat", "sum", "mul", "ave") for seq in (True, False)],
    ("SimpleRNN", "concat", False),
    ("SimpleRNN", "mul", True),
    ("GRU", "concat", True),
    ("GRU", "ave", False),
]


@pytest.mark.parametrize(("cls_name", "merge_mode", "return_sequences"), CASES)
def test_bidirectional_matches_keras(cls_name, merge_mode, return_sequences):
    """predict (1e-5), evaluate, one SGD epoch (weights 1e-4), count_params, summary rows."""
    keras = import_keras()

    def make_inner(nn, seq):
        return getattr(nn, cls_name)(4, return_sequences=seq)

    model, kmodel = _keras_pair(keras, make_inner, merge_mode, return_sequences)
    x, y = _data(return_sequences)
    check_against_keras(model, kmodel, x, y, loss="mse")


def test_bidirectional_with_its_own_backward_layer_matches_keras():
    keras = import_keras()

    def make_inner(nn, seq):
        return nn.LSTM(4, return_sequences=seq)

    backward = {"backward_layer": lambda nn: nn.GRU(4, go_backwards=True, return_sequences=True)}
    model, kmodel = _keras_pair(keras, make_inner, "concat", True, **backward)
    assert [w.shape for w in model.get_weights()][3:6] == [(3, 12), (4, 12), (2, 12)]
    x, y = _data(True)
    check_against_keras(model, kmodel, x, y, loss="mse")


def test_merge_mode_none_gives_two_outputs_as_keras():
    keras = import_keras()
    models = []
    for lib, nn in (("engram", L), ("keras", keras.layers)):
        inp = (Input if lib == "engram" else keras.Input)(shape=(STEPS, FEATURES), name="x")
        fwd, bwd = nn.Bidirectional(nn.GRU(4), merge_mode=None, name="bi")(inp)
        out = nn.Dense(2, name="out")(nn.concatenate([nn.Dense(3, name="f")(fwd), bwd], name="cat"))
        models.append((Model if lib == "engram" else keras.Model)(inp, out, name="m"))
    x, y = _data(False)
    check_against_keras(*models, x, y, loss="mse")


def test_bidirectional_in_a_sequential_matches_keras():
    keras = import_keras()
    model = Sequential(
        [Input((STEPS, FEATURES)), L.Bidirectional(L.LSTM(4), name="bi"), L.Dense(2, name="out")]
    )
    kmodel = keras.Sequential(
        [
            keras.Input((STEPS, FEATURES)),
            keras.layers.Bidirectional(keras.layers.LSTM(4), name="bi"),
            keras.layers.Dense(2, name="out"),
        ]
    )
    x, y = _data(False)
    check_against_keras(model, kmodel, x, y, loss="mse")


def test_return_state_in_direct_calls_matches_keras():
    keras = import_keras()
    x, _ = _data(True, n=3)
    ours = L.Bidirectional(L.LSTM(4, return_sequences=True, return_state=True))
    theirs = keras.layers.Bidirectional(
        keras.layers.LSTM(4, return_sequences=True, return_state=True)
    )
    expected = theirs(x)
    ours.build((STEPS, FEATURES), np.random.default_rng(0))
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    got = ours(x)
    assert len(got) == len(expected) == 5  # output, h_f, c_f, h_b, c_b
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, np.asarray(b.detach()), atol=1e-5)
    h0 = [np.full((3, 4), 0.1 * k, np.float32) for k in range(4)]
    expected = theirs(x, initial_state=h0)
    got = ours(x, initial_state=h0)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, np.asarray(b.detach()), atol=1e-5)


def test_default_names_and_weights_argument():
    inner = L.GRU(2, name="enc")
    layer = L.Bidirectional(inner, merge_mode="sum")
    assert layer.forward_layer.name == "forward_enc" and layer.backward_layer.name == "backward_enc"
    assert not layer.forward_layer.go_backwards and layer.backward_layer.go_backwards
    weights = [np.full(w.shape, k, np.float32) for k, w in enumerate(_built(inner).get_weights())]
    preset = L.Bidirectional(L.GRU(2), weights=weights * 2)
    preset.build((STEPS, FEATURES), np.random.default_rng(0))
    for a, b in zip(preset.get_weights(), weights * 2, strict=True):
        np.testing.assert_array_equal(a, b)


def _built(layer):
    layer.build((STEPS, FEATURES), np.random.default_rng(0))
    return layer


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"layer": L.Dense(3)}, TypeError, "must be a SimpleRNN, LSTM or GRU layer.*Dense"),
        ({"layer": L.LSTM(3), "merge_mode": "max"}, ValueError, "merge_mode must be one of"),
        (
            {"layer": L.LSTM(3), "backward_layer": L.LSTM(3)},
            ValueError,
            "different go_backwards",
        ),
        (
            {
                "layer": L.LSTM(3),
                "backward_layer": L.LSTM(3, go_backwards=True, return_sequences=True),
            },
            ValueError,
            "same return_sequences",
        ),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        L.Bidirectional(**kwargs)


def test_return_state_in_a_model_is_refused():
    model = Sequential([Input((STEPS, FEATURES)), L.Bidirectional(L.GRU(2, return_state=True))])
    with pytest.raises(ValueError, match="return_state=True.*call the layer directly"):
        model.predict(np.zeros((1, STEPS, FEATURES), np.float32))


def _bidirectional_stack(nn):
    return [
        nn.Bidirectional(nn.LSTM(4, return_sequences=True)),
        nn.Bidirectional(
            nn.GRU(3), merge_mode="ave", backward_layer=nn.SimpleRNN(3, go_backwards=True)
        ),
        nn.Dense(2),
    ]


def test_keras_written_file_loads_and_resumes_training(tmp_path):
    """A .keras file with two Bidirectional layers (one with its own backward layer): the same
    outputs, and one more Adam epoch from the file's optimizer state gives Keras's weights."""
    keras = import_keras()
    from engram.nn.models import load_model

    kmodel = keras.Sequential([keras.Input((STEPS, FEATURES)), *_bidirectional_stack(keras.layers)])
    kmodel.compile(optimizer="adam", loss="mse")
    x, y = _data(False)
    kmodel.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    kmodel.save(tmp_path / "bi.keras")
    model = load_model(tmp_path / "bi.keras")
    assert [type(layer).__name__ for layer in model.layers] == ["Bidirectional"] * 2 + ["Dense"]
    assert model.layers[1].backward_layer.name == kmodel.layers[1].backward_layer.name
    expected = keras.ops.convert_to_numpy(kmodel(x))
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-5)
    kmodel.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-4)


def test_engram_written_keras_file_opens_in_keras(tmp_path):
    keras = import_keras()
    model = Sequential([Input((STEPS, FEATURES)), *_bidirectional_stack(L)], seed=0)
    model.save(tmp_path / "bi.keras")
    kmodel = keras.models.load_model(tmp_path / "bi.keras")
    x, _ = _data(False)
    expected = keras.ops.convert_to_numpy(kmodel(x))
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-5)


@pytest.mark.parametrize("key", ["layer", "backward_layer"])
def test_a_keras_file_asking_for_huge_weights_is_refused_before_allocating(tmp_path, key):
    import json
    import time
    import zipfile

    from engram.nn import ModelFileError
    from engram.nn.models import load_model

    keras = import_keras()
    kmodel = keras.Sequential([keras.Input((STEPS, FEATURES)), *_bidirectional_stack(keras.layers)])
    kmodel.save(tmp_path / "bi.keras")
    with zipfile.ZipFile(tmp_path / "bi.keras") as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(entries["config.json"])
    config["config"]["layers"][1]["config"][key]["config"]["units"] = 10**9
    with zipfile.ZipFile(tmp_path / "huge.keras", "w") as archive:
        for name, value in {**entries, "config.json": json.dumps(config).encode()}.items():
            archive.writestr(name, value)
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="needs a weight of shape .* larger than"):
        load_model(tmp_path / "huge.keras")
    assert time.perf_counter() - start < 5


def test_shared_wrappers_keep_each_calls_cache_as_keras():
    """Bidirectional and TimeDistributed called on two inputs: each call's backward reads its
    own inner layers' cache (the graph saves the wrapped layers' caches too)."""
    keras = import_keras()
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((8, STEPS, FEATURES)).astype(np.float32) for _ in range(2)]
    y = rng.standard_normal((8, 2)).astype(np.float32)
    models = []
    for nn, inp, model in ((L, Input, Model), (keras.layers, keras.Input, keras.Model)):
        a, b = inp((STEPS, FEATURES), name="a"), inp((STEPS, FEATURES), name="b")
        bi = nn.Bidirectional(nn.GRU(3), name="bi")
        td = nn.TimeDistributed(nn.Dense(3), name="td")
        out = nn.Dense(2, name="out")(nn.concatenate([bi(td(a)), bi(td(b))], name="cat"))
        models.append(model([a, b], out, name="m"))
    check_against_keras(*models, xs, y, loss="mse")


def test_merge_mode_none_in_a_sequential_is_refused():
    with pytest.raises(ValueError, match="returns 2 outputs, but every layer of a Sequential"):
        Sequential([Input((STEPS, FEATURES)), L.Bidirectional(L.GRU(2), merge_mode=None)])
