"""The Model API the keras.io guides use beyond layers, each checked against Keras 3.15.1:
dicts of inputs and outputs, summary before build and after compile, weighted metrics, masks
reaching the loss, get_config/from_config, exclude_from_weight_decay and pad_sequences.

Tests that compare summary rows name their Inputs and layers: the automatic names come from
global counters that differ between the two libraries once other tests ran.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import engram.nn
from tests.nn.keras_reference import check_against_keras, import_keras


@pytest.fixture(scope="module")
def keras() -> Any:
    return import_keras()


# --- dict inputs and outputs ------------------------------------------------------------------


def dict_model(keras: Any) -> Any:
    """Two inputs and two outputs given as dicts whose keys are not the layers' names (Keras
    flattens both in sorted key order)."""
    layers = keras.layers
    a = keras.Input((3,), name="in_a")
    b = keras.Input((2,), name="in_b")
    x = layers.concatenate([a, b], name="concat")
    hidden = layers.Dense(5, activation="tanh", name="hidden")(x)
    priority = layers.Dense(1, name="zz")(hidden)
    department = layers.Dense(4, activation="softmax", name="aa")(hidden)
    return keras.Model(
        inputs={"b_key": b, "a_key": a},
        outputs={"priority": priority, "department": department},
        name="dicts",
    )


def dict_data(n: int = 24) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    x = {
        "a_key": rng.normal(size=(n, 3)).astype("float32"),
        "b_key": rng.normal(size=(n, 2)).astype("float32"),
    }
    y = {
        "priority": rng.normal(size=(n, 1)).astype("float32"),
        "department": np.eye(4, dtype="float32")[rng.integers(0, 4, n)],
    }
    return x, y


def test_dict_inputs_and_outputs_match_keras(keras):
    """predict returns a dict, losses / loss_weights / metrics are keyed by the dict's keys, and
    History names the per-output losses and metrics after them, as Keras does."""
    keras.utils.set_random_seed(0)
    kmodel, model = dict_model(keras), dict_model(engram.nn)
    # Keras's own names: the layers' names, in sorted key order (department -> aa, priority -> zz)
    assert model.output_names == list(kmodel.output_names) == ["aa", "zz"]
    x, y = dict_data()
    histories = check_against_keras(
        model,
        kmodel,
        x,
        y,
        loss={"priority": "mse", "department": "categorical_crossentropy"},
        loss_weights={"priority": 1.0, "department": 0.2},
        metrics={"priority": ["mae"], "department": ["accuracy"]},
    )
    assert set(histories["engram"]) == {
        "loss",
        "priority_loss",
        "department_loss",
        "priority_mae",
        "department_accuracy",
    }
    out = model(x)
    assert isinstance(out, dict) and sorted(out) == ["department", "priority"]


def test_dict_inputs_refuse_a_list_and_keys_that_are_not_strings():
    """(Dict models nested, in files and configs: tests/nn/saving/test_dict_models.py.)"""
    model = dict_model(engram.nn)
    x, _ = dict_data(4)
    with pytest.raises(ValueError, match=r"x must be a dict keyed by .*\['a_key', 'b_key'\]"):
        model.predict([x["a_key"], x["b_key"]])
    with pytest.raises(ValueError, match=r"x has no arrays for the inputs \['b_key'\]"):
        model.predict({"a_key": x["a_key"]})
    with pytest.raises(TypeError, match="keys must be strings"):
        engram.nn.Model(inputs={1: engram.nn.Input((2,))}, outputs=engram.nn.Input((2,)))


# --- summary before build and after compile ---------------------------------------------------


def optimizers_to_compare(lib: Any) -> dict[str, Any]:
    opt = lib.optimizers
    return {
        "adam": opt.Adam(),
        "amsgrad": opt.Adam(amsgrad=True),
        "schedule": opt.Adam(opt.schedules.ExponentialDecay(0.1, 10, 0.9)),
        "nadam": opt.Nadam(),
        "adamw": opt.AdamW(),
        "adagrad": opt.Adagrad(),
        "rmsprop": opt.RMSprop(),
        "sgd": opt.SGD(),
        "momentum": opt.SGD(momentum=0.5),
    }


@pytest.mark.parametrize("which", list(optimizers_to_compare(engram.nn)))
def test_summary_counts_optimizer_params_as_keras(keras, which):
    """Keras's lines under the table, word for word: no "Optimizer params" after compile, then,
    once the optimizer made its first update, its variables (slots of the trained weights only:
    the frozen layer has none), which the total includes."""
    from tests.nn.keras_reference import summary_footer

    footers = []
    for lib in (keras, engram.nn):
        model = lib.Sequential(
            [
                lib.Input((3,), name="features"),
                lib.layers.Dense(4, name="frozen"),
                lib.layers.BatchNormalization(name="norm"),
                lib.layers.Dense(1, name="out"),
            ],
            name="counted",
        )
        model.get_layer("frozen").trainable = False
        model.compile(optimizers_to_compare(lib)[which], "mse")
        before = summary_footer(model)
        model.fit(np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32"), verbose=0)
        footers.append((before, summary_footer(model)))
    assert footers[1] == footers[0]
    assert not any("Optimizer" in line for line in footers[0][0])
    assert footers[0][1][-1].startswith(" Optimizer params: ")


def test_summary_of_a_model_without_build(keras):
    from tests.nn.keras_reference import engram_summary_rows, keras_summary_rows, summary_footer

    k, e = (
        lib.Sequential([lib.layers.Dense(4, name="d1"), lib.layers.Dense(1, name="d2")])
        for lib in (keras, engram.nn)
    )
    assert engram_summary_rows(e) == keras_summary_rows(k)
    assert keras_summary_rows(k) == [
        ("d1 (Dense)", "?", "0 (unbuilt)"),
        ("d2 (Dense)", "?", "0 (unbuilt)"),
    ]
    assert (
        summary_footer(e)
        == summary_footer(k)
        == [
            " Total params: 0 (0.00 B)",
            " Trainable params: 0 (0.00 B)",
            " Non-trainable params: 0 (0.00 B)",
        ]
    )


def test_readable_size_is_keras_s():
    from keras.src.utils.summary_utils import readable_memory_size

    from engram.nn.model import readable_size

    for n in (0, 8, 1023, 1024, 1536, 5_568_388, 3 * 1024**3, 2 * 1024**5):
        assert readable_size(n) == readable_memory_size(n)


# --- compile(weighted_metrics=...) ------------------------------------------------------------


def weighted_case(lib: Any, compile_kwargs: dict[str, Any]) -> Any:
    model = lib.Sequential(
        [lib.Input((3,), name="features"), lib.layers.Dense(3, activation="softmax", name="out")]
    )
    model.compile(
        lib.optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy", **compile_kwargs
    )
    return model


@pytest.mark.parametrize(
    ("compile_kwargs", "weighting"),
    [
        ({"weighted_metrics": ["accuracy"]}, "sample_weight"),
        ({"metrics": ["accuracy"], "weighted_metrics": ["accuracy"]}, "class_weight"),
        ({"metrics": ["accuracy"], "weighted_metrics": ["accuracy", "accuracy"]}, "sample_weight"),
        ({"metrics": ["accuracy"], "weighted_metrics": ["acc"]}, "sample_weight"),
    ],
    ids=["weighted_only", "both_class_weight", "twice", "other_name"],
)
def test_weighted_metrics_match_keras(keras, compile_kwargs, weighting):
    """History keys (Keras's ``weighted_`` prefix only where a name of ``metrics`` is taken)
    and values: ``weighted_metrics`` weighted by sample or class weights (in validation too),
    ``metrics`` not."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3)).astype("float32")
    y = rng.integers(0, 3, 20)
    w = rng.random(20).astype("float32")
    weights = (
        {"sample_weight": w}
        if weighting == "sample_weight"
        else {"class_weight": {0: 1.0, 1: 2.5, 2: 0.5}}
    )
    keras.utils.set_random_seed(0)
    kmodel = weighted_case(keras, compile_kwargs)
    model = weighted_case(engram.nn, compile_kwargs)
    model.set_weights([np.asarray(v) for v in kmodel.get_weights()])
    results = []
    for m in (kmodel, model):
        history = m.fit(
            x, y, batch_size=8, shuffle=False, verbose=0, validation_data=(x, y, w), **weights
        ).history
        plain = m.evaluate(x, y, verbose=0, return_dict=True)
        weighted = m.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
        results.append((history, plain, weighted))
    (k_hist, k_plain, k_weighted), (e_hist, e_plain, e_weighted) = results
    assert set(e_hist) == set(k_hist)
    for key in k_hist:
        assert e_hist[key][0] == pytest.approx(k_hist[key][0], rel=1e-4, abs=1e-5), key
    for ours, theirs in ((e_plain, k_plain), (e_weighted, k_weighted)):
        assert set(ours) == set(theirs)
        for key in theirs:
            assert ours[key] == pytest.approx(float(theirs[key]), rel=1e-5, abs=1e-6), key
    if "metrics" in compile_kwargs:  # the unweighted and weighted accuracies differ here
        assert e_weighted["accuracy"] != pytest.approx(
            e_weighted[sorted(set(e_weighted) - {"accuracy", "loss"})[0]]
        )


# --- a mask reaching the loss -----------------------------------------------------------------


def masked_tagger(lib: Any) -> Any:
    """Embedding(mask_zero=True) -> LSTM(return_sequences=True) -> Dense: a loss per step."""
    inputs = lib.Input((6,), dtype="int32", name="tokens")
    x = lib.layers.Embedding(12, 4, mask_zero=True, name="embed")(inputs)
    x = lib.layers.LSTM(5, return_sequences=True, name="lstm")(x)
    outputs = lib.layers.Dense(3, activation="softmax", name="tags")(x)
    return lib.Model(inputs, outputs, name="tagger")


def padded_tokens(rng: Any, n: int = 16) -> np.ndarray:
    x = rng.integers(1, 12, (n, 6)).astype("int32")
    lengths = rng.integers(0, 7, n)  # some rows all padding, some with none
    lengths[:2] = (0, 6)
    for row, length in zip(x, lengths, strict=True):
        row[length:] = 0
    return x


@pytest.mark.parametrize("with_weights", [False, True], ids=["mask", "mask_and_sample_weight"])
def test_masked_steps_are_left_out_of_the_loss_and_metrics_as_in_keras(keras, with_weights):
    """Keras's weights copied in: the loss, the accuracy (masked steps left out of both, in
    evaluate and in training), and the weights after one epoch of SGD (the gradients of the
    masked loss) equal Keras's; a masked step's target does not change the loss."""
    rng = np.random.default_rng(1)
    x = padded_tokens(rng)
    y = rng.integers(0, 3, (16, 6))
    w = rng.random(16).astype("float32") if with_weights else None
    # Keras 3.15.1 fails on (batch,) sample weights with a masked output (a torch broadcasting
    # error); it takes them per step, (batch, time): the same weight repeated over the steps
    kw = None if w is None else np.repeat(w[:, None], 6, axis=1)
    keras.utils.set_random_seed(0)
    kmodel, model = masked_tagger(keras), masked_tagger(engram.nn)
    model.set_weights([np.asarray(v) for v in kmodel.get_weights()])
    for m in (kmodel, model):
        m.compile(
            keras.optimizers.SGD(0.5) if m is kmodel else engram.nn.optimizers.SGD(0.5),
            "sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    k_eval = kmodel.evaluate(x, y, sample_weight=kw, verbose=0, return_dict=True)
    e_eval = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    assert set(e_eval) == set(k_eval) == {"loss", "accuracy"}
    for key in k_eval:
        assert e_eval[key] == pytest.approx(k_eval[key], rel=1e-5), key
    y_other = np.where(x == 0, (y + 1) % 3, y)  # other targets on masked steps only
    assert model.evaluate(x, y_other, sample_weight=w, verbose=0)[0] == pytest.approx(
        e_eval["loss"]
    )
    k_hist = kmodel.fit(x, y, sample_weight=kw, batch_size=8, shuffle=False, verbose=0).history
    e_hist = model.fit(x, y, sample_weight=w, batch_size=8, shuffle=False, verbose=0).history
    for key in k_hist:
        assert e_hist[key][0] == pytest.approx(k_hist[key][0], rel=1e-4), key
    for ours, theirs in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-5)


# --- utils.pad_sequences ----------------------------------------------------------------------

RAGGED = [[5, 1, 7], [], [2, 9, 4, 4, 8, 3], [6]]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"padding": "post"},
        {"maxlen": 4},
        {"maxlen": 4, "truncating": "post"},
        {"maxlen": 2, "padding": "post", "truncating": "post", "value": -1},
        {"maxlen": 8, "dtype": "float32", "value": 0.5},
        {"dtype": "int64", "padding": "post", "truncating": "pre", "maxlen": 3},
    ],
)
def test_pad_sequences_equals_keras(keras, kwargs):
    ours = engram.nn.utils.pad_sequences(RAGGED, **kwargs)
    theirs = keras.utils.pad_sequences(RAGGED, **kwargs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_pad_sequences_of_vectors_equals_keras_and_bad_arguments_are_named(keras):
    rng = np.random.default_rng(0)
    vectors = [rng.normal(size=(n, 2)).astype("float32") for n in (3, 1, 4)]
    for kwargs in ({"dtype": "float32"}, {"dtype": "float32", "maxlen": 2, "padding": "post"}):
        np.testing.assert_array_equal(
            engram.nn.utils.pad_sequences(vectors, **kwargs),
            keras.utils.pad_sequences(vectors, **kwargs),
        )
    pad = engram.nn.utils.pad_sequences
    with pytest.raises(ValueError, match="padding must be one of 'pre', 'post'. Got 'middle'"):
        pad(RAGGED, padding="middle")
    with pytest.raises(ValueError, match="truncating must be one of"):
        pad(RAGGED, truncating="both")
    with pytest.raises(ValueError, match="item 0 is 3"):
        pad([3, 4])
    with pytest.raises(ValueError, match="Sequence 1 has steps of shape \\(3,\\)"):
        pad([np.zeros((2, 2)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match="maxlen must be > 0|maxlen must be"):
        pad(RAGGED, maxlen=0)
    with pytest.raises(ValueError, match="dtype=object"):
        pad(RAGGED, value="x")


# --- get_config / from_config / clone_model ---------------------------------------------------


def two_branch(lib: Any) -> Any:
    layers = lib.layers
    a = lib.Input((4,), name="a")
    b = lib.Input((3,), name="b")
    shared = layers.Dense(5, activation="relu", name="shared")
    x = layers.add([shared(layers.Dense(4, name="pa")(a)), shared(layers.Dense(4, name="pb")(b))])
    out = layers.Dense(2, activation="softmax", name="out")(layers.Dropout(0.1, name="drop")(x))
    return lib.Model([a, b], out, name="two_branch")


def sequential_net(lib: Any) -> Any:
    return lib.Sequential(
        [
            lib.Input((6,), name="features"),
            lib.layers.Dense(8, activation="tanh", name="hidden"),
            lib.layers.Dense(3, name="logits"),
        ],
        name="seq",
    )


@pytest.mark.parametrize("build", [two_branch, sequential_net], ids=["functional", "sequential"])
def test_from_config_reads_keras_configs_and_keras_reads_engram_s(keras, build):
    """Keras's get_config() builds the same model in engram (same summary rows and, with
    Keras's weights, the same predictions); a functional model's engram config builds in Keras."""
    from tests.nn.keras_reference import engram_summary_rows, keras_summary_rows

    rng = np.random.default_rng(0)
    kmodel = build(keras)
    x = (
        [rng.normal(size=(5, 4)), rng.normal(size=(5, 3))]
        if len(kmodel.inputs) > 1
        else (rng.normal(size=(5, 6)))
    )
    cls = engram.nn.Sequential if build is sequential_net else engram.nn.Model
    model = cls.from_config(kmodel.get_config())
    assert type(model) is cls and model.name == kmodel.name
    assert engram_summary_rows(model) == keras_summary_rows(kmodel)
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    expected = np.asarray(kmodel.predict(x, verbose=0))
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-5)
    if build is two_branch:
        again = keras.Model.from_config(build(engram.nn).get_config())
        again.set_weights(kmodel.get_weights())
        np.testing.assert_allclose(np.asarray(again.predict(x, verbose=0)), expected, atol=1e-5)


def test_get_config_round_trip_and_clone_model_give_fresh_weights():
    for build in (two_branch, sequential_net):
        model = build(engram.nn)
        config = model.get_config()
        copy = type(model).from_config(config)
        clone = engram.nn.models.clone_model(model)
        for other in (copy, clone):
            assert other is not model and type(other) is type(model)
            assert [layer.name for layer in other.layers] == [layer.name for layer in model.layers]
            assert other.count_params() == model.count_params()
            assert not all(
                np.array_equal(a, b)
                for a, b in zip(other.get_weights(), model.get_weights(), strict=True)
            )
        assert copy.get_config() == config


def test_from_config_refuses_what_it_cannot_build_safely():
    config = two_branch(engram.nn).get_config()
    config["layers"][2]["class_name"] = "Lambda"
    with pytest.raises(ValueError, match="Lambda"):
        engram.nn.Model.from_config(config)
    with pytest.raises(NotImplementedError, match="custom_objects"):
        engram.nn.Model.from_config(config, custom_objects={"Mine": object})

    class Sub(engram.nn.Model):
        def __init__(self):
            super().__init__()
            self.dense = engram.nn.layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    with pytest.raises(NotImplementedError, match="subclassed model"):
        Sub().get_config()
    with pytest.raises(NotImplementedError, match="input_tensors"):
        engram.nn.models.clone_model(two_branch(engram.nn), input_tensors=[])


# --- optimizer.exclude_from_weight_decay ------------------------------------------------------


def decayed_net(lib: Any) -> Any:
    return lib.Sequential(
        [
            lib.Input((4, 3), name="steps"),
            lib.layers.LSTM(5, return_sequences=True, name="lstm"),
            lib.layers.LayerNormalization(name="norm"),
            lib.layers.Flatten(name="flat"),
            lib.layers.Dense(2, name="out"),
        ],
        name="decayed",
    )


@pytest.mark.parametrize("var_names", [["bias"], ["gamma", "beta", "recurrent"], None])
def test_exclude_from_weight_decay_matches_keras(keras, var_names):
    """AdamW with weight decay, Keras's weights copied in, one epoch without shuffling: every
    weight equals Keras's, the excluded ones having seen no decay."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4, 3)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    keras.utils.set_random_seed(0)
    kmodel, model = decayed_net(keras), decayed_net(engram.nn)
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    start = model.get_weights()
    for m, lib in ((kmodel, keras), (model, engram.nn)):
        optimizer = lib.optimizers.AdamW(learning_rate=0.05, weight_decay=0.5)
        if var_names is not None:
            optimizer.exclude_from_weight_decay(var_names=var_names)
        m.compile(optimizer, "mse")
        m.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    for ours, theirs in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-5)
    assert not np.allclose(model.get_weights()[0], start[0])


def test_exclude_from_weight_decay_by_array_and_only_before_the_first_update():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    runs = []
    for exclude in (False, True):
        model = engram.nn.Sequential([engram.nn.Input((3,)), engram.nn.layers.Dense(1)], seed=0)
        optimizer = engram.nn.optimizers.AdamW(learning_rate=0.1, weight_decay=0.9)
        if exclude:
            optimizer.exclude_from_weight_decay(var_list=[model.layers[-1].params["bias"]])
        model.compile(optimizer, "mse")
        model.fit(x, y, batch_size=2, epochs=1, verbose=0)  # the bias starts at 0: 4 steps
        runs.append(model.get_weights())
    # the bias decays only without the exclusion (the kernel's path then differs too)
    assert runs[1][1] != pytest.approx(runs[0][1], abs=1e-6)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        optimizer.exclude_from_weight_decay(var_names=["bias"])
    with pytest.raises((TypeError, ValueError), match="exclude_from_weight_decay"):
        engram.nn.optimizers.AdamW(exclude_from_weight_decay=["bias"])  # Keras refuses it too


def test_sequential_layers_leave_out_the_input_layer_as_keras_does(keras):
    """``Sequential([Input(...), ...]).layers`` starts at the first computing layer in Keras, so
    the transfer-learning line ``model.layers[0].trainable = False`` freezes that layer (engram
    listed the InputLayer first, and the line froze nothing)."""

    def build(lib):
        model = lib.Sequential(
            [
                lib.Input(shape=(4,), name="frozen_first_in"),
                lib.layers.Dense(3, name="frozen_first_a"),
                lib.layers.Dense(2, name="frozen_first_b"),
            ]
        )
        model.layers[0].trainable = False
        model.compile(optimizer="sgd", loss="mse")
        return model

    ours, theirs = build(engram.nn), build(keras)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert ours.get_layer("frozen_first_a").trainable is False
    before = ours.get_weights()
    ours.set_weights(before)
    x = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    ours.fit(x, np.zeros((8, 2), "float32"), epochs=1, verbose=0)
    after = ours.get_weights()
    np.testing.assert_array_equal(after[0], before[0])  # the frozen first Dense
    assert not np.array_equal(after[2], before[2])  # the second one learned
