"""Keras 3 files against Keras 3.15.1 itself (torch backend): files Keras writes load in engram
with the same outputs, files engram writes load in Keras with the same outputs, and training
resumed from a loaded file continues as it would have."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

import engram.nn.layers as E  # noqa: E402
from engram.nn import ModelFileError, Sequential, optimizers  # noqa: E402
from engram.nn.models import load_model  # noqa: E402

if keras.backend.backend() != "torch":  # pragma: no cover
    pytest.skip("these tests compare against Keras's torch backend", allow_module_level=True)

K = keras.layers

# family -> (input shape, Keras layers, engram layers, integer inputs?)
FAMILIES = {
    "dense_dropout": (
        (4,),
        lambda: [K.Dense(5, activation="relu"), K.Dropout(0.3), K.Dense(3, activation="softmax")],
        lambda: [E.Dense(5, activation="relu"), E.Dropout(0.3), E.Dense(3, activation="softmax")],
        False,
    ),
    "activations": (
        (4,),
        lambda: [K.Dense(4), K.Activation("tanh"), K.LeakyReLU(0.2), K.Dense(3), K.Softmax()],
        lambda: [E.Dense(4), E.Activation("tanh"), E.LeakyReLU(0.2), E.Dense(3), E.Softmax()],
        False,
    ),
    "conv_pool_bn": (
        (8, 8, 2),
        lambda: [
            K.Conv2D(3, 3, padding="same", activation="relu"),
            K.MaxPooling2D(),
            K.Conv2D(4, (2, 2), strides=2),
            K.BatchNormalization(),
            K.AveragePooling2D(pool_size=2),
            K.Flatten(),
            K.Dense(2),
        ],
        lambda: [
            E.Conv2D(3, 3, padding="same", activation="relu"),
            E.MaxPooling2D(),
            E.Conv2D(4, (2, 2), strides=2),
            E.BatchNormalization(),
            E.AveragePooling2D(pool_size=2),
            E.Flatten(),
            E.Dense(2),
        ],
        False,
    ),
    "global_pool_reshape": (
        (12,),
        lambda: [K.Reshape((2, 2, 3)), K.Conv2D(2, 1), K.GlobalAveragePooling2D(), K.ReLU()],
        lambda: [E.Reshape((2, 2, 3)), E.Conv2D(2, 1), E.GlobalAveragePooling2D(), E.ReLU()],
        False,
    ),
    "simple_rnn": (
        (5, 3),
        lambda: [K.SimpleRNN(4, return_sequences=True), K.SimpleRNN(2, go_backwards=True)],
        lambda: [E.SimpleRNN(4, return_sequences=True), E.SimpleRNN(2, go_backwards=True)],
        False,
    ),
    "lstm": (
        (5, 3),
        lambda: [K.LSTM(4, return_sequences=True), K.LSTM(3)],
        lambda: [E.LSTM(4, return_sequences=True), E.LSTM(3)],
        False,
    ),
    "gru": (
        (5, 3),
        lambda: [K.GRU(4, return_sequences=True), K.GRU(3)],
        lambda: [E.GRU(4, return_sequences=True), E.GRU(3)],
        False,
    ),
    "embedding": (
        (6,),
        lambda: [K.Embedding(10, 4), K.Flatten(), K.Dense(2)],
        lambda: [E.Embedding(10, 4), E.Flatten(), E.Dense(2)],
        True,
    ),
    "time_distributed": (
        (4, 3),
        lambda: [K.TimeDistributed(K.Dense(2, activation="tanh")), K.SimpleRNN(2)],
        lambda: [E.TimeDistributed(E.Dense(2, activation="tanh")), E.SimpleRNN(2)],
        False,
    ),
}


def inputs(family, n=7, seed=0):
    shape, _, _, integer = FAMILIES[family]
    rng = np.random.default_rng(seed)
    if integer:
        return rng.integers(0, 10, (n, *shape))
    return rng.standard_normal((n, *shape)).astype(np.float32)


def random_weights(weights, seed=1):
    """Random values of the same shapes; positive where a variance is expected (BN)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in weights]


def positive_variances(model_layers, weights):
    """BatchNormalization's moving variance (its 4th weight) made positive."""
    out, i = list(weights), 0
    for layer in model_layers:
        n = len(layer.get_weights())
        if type(layer).__name__ == "BatchNormalization":
            out[i + 3] = np.abs(out[i + 3]) + 0.5
        i += n
    return out


def keras_model(family):
    shape, keras_layers, _, _ = FAMILIES[family]
    model = keras.Sequential([keras.Input(shape), *keras_layers()])
    model.set_weights(positive_variances(model.layers, random_weights(model.get_weights())))
    return model


def engram_model(family):
    shape, _, engram_layers, _ = FAMILIES[family]
    model = Sequential(engram_layers(), seed=0)
    model.build((None, *shape))
    model.set_weights(positive_variances(model.layers, random_weights(model.get_weights(), 2)))
    return model


def keras_predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_keras_written_file_loads_with_the_same_outputs(tmp_path, family):
    theirs = keras_model(family)
    path = tmp_path / "model.keras"
    theirs.save(path)
    ours = load_model(path)
    x = inputs(family)
    expected = keras_predict(theirs, x)
    assert expected.std() > 1e-3  # a comparison of non-trivial outputs
    np.testing.assert_allclose(ours.predict(x), expected, atol=1e-5, rtol=0)
    assert [type(a).__name__ for a in ours.layers] == [type(b).__name__ for b in theirs.layers]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_engram_written_file_opens_in_keras_with_the_same_outputs(tmp_path, family):
    ours = engram_model(family)
    path = tmp_path / "model.keras"
    ours.save(path)
    theirs = keras.saving.load_model(path)
    x = inputs(family, seed=3)
    expected = ours.predict(x)
    assert expected.std() > 1e-3
    np.testing.assert_allclose(keras_predict(theirs, x), expected, atol=1e-5, rtol=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b))


@pytest.mark.parametrize("family", ["conv_pool_bn", "lstm", "time_distributed"])
def test_weights_h5_both_ways(tmp_path, family):
    theirs, ours = keras_model(family), engram_model(family)
    x = inputs(family, seed=4)
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(ours.predict(x), keras_predict(theirs, x), atol=1e-5, rtol=0)

    ours = engram_model(family)  # fresh weights, then the other way
    ours.save_weights(tmp_path / "e.weights.h5")
    theirs.load_weights(tmp_path / "e.weights.h5")
    np.testing.assert_allclose(keras_predict(theirs, x), ours.predict(x), atol=1e-5, rtol=0)


def test_load_weights_refuses_another_architecture(tmp_path):
    keras_model("lstm").save_weights(tmp_path / "k.weights.h5")
    with pytest.raises(ModelFileError, match="lacks|does not have"):
        engram_model("gru").load_weights(tmp_path / "k.weights.h5")


# ------------------------------------------------------------------------ resumed training
def regression_data(n=32, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = np.stack([x[:, 0] - x[:, 1], x[:, 2] * 0.5], axis=1).astype(np.float32)
    return x, y


OPTIMIZERS = {
    "adam": (lambda: keras.optimizers.Adam(0.01), lambda: optimizers.Adam(0.01)),
    "sgd_momentum": (
        lambda: keras.optimizers.SGD(0.05, momentum=0.9),
        lambda: optimizers.SGD(0.05, momentum=0.9),
    ),
    "rmsprop": (lambda: keras.optimizers.RMSprop(0.01), lambda: optimizers.RMSprop(0.01)),
    "adagrad": (lambda: keras.optimizers.Adagrad(0.05), lambda: optimizers.Adagrad(0.05)),
    "nadam": (lambda: keras.optimizers.Nadam(0.01), lambda: optimizers.Nadam(0.01)),
    "amsgrad": (
        lambda: keras.optimizers.Adam(0.01, amsgrad=True),
        lambda: optimizers.Adam(0.01, amsgrad=True),
    ),
    "adamw": (
        lambda: keras.optimizers.AdamW(0.01, weight_decay=0.05),
        lambda: optimizers.AdamW(0.01, weight_decay=0.05),
    ),
    "adamw_amsgrad": (
        lambda: keras.optimizers.AdamW(0.01, weight_decay=0.05, amsgrad=True),
        lambda: optimizers.AdamW(0.01, weight_decay=0.05, amsgrad=True),
    ),
    "sgd_weight_decay": (
        lambda: keras.optimizers.SGD(0.05, momentum=0.5, nesterov=True, weight_decay=0.1),
        lambda: optimizers.SGD(0.05, momentum=0.5, nesterov=True, weight_decay=0.1),
    ),
    "rmsprop_weight_decay": (
        lambda: keras.optimizers.RMSprop(0.01, weight_decay=0.1, clipnorm=0.5),
        lambda: optimizers.RMSprop(0.01, weight_decay=0.1, clipnorm=0.5),
    ),
}


def keras_mlp(opt):
    model = keras.Sequential([keras.Input((4,)), K.Dense(6, activation="tanh"), K.Dense(2)])
    model.set_weights(random_weights(model.get_weights(), 7))
    model.compile(optimizer=opt, loss="mse")
    return model


def engram_mlp(opt):
    model = Sequential([E.Dense(6, activation="tanh"), E.Dense(2)], seed=0)
    model.build((None, 4))
    model.set_weights(random_weights(model.get_weights(), 7))
    model.compile(opt, "mse")
    return model


def keras_weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.get_weights()]


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_training_resumed_from_a_keras_file_continues_as_keras_would(tmp_path, opt):
    x, y = regression_data()
    theirs = keras_mlp(OPTIMIZERS[opt][0]())
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    assert ours.optimizer.get_config() == pytest.approx(OPTIMIZERS[opt][1]().get_config())
    assert ours.optimizer.iterations == 4
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), keras_weights(theirs), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_training_resumed_from_an_engram_file_continues_in_keras_and_engram(tmp_path, opt):
    x, y = regression_data()
    straight = engram_mlp(OPTIMIZERS[opt][1]())
    straight.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    straight.save(tmp_path / "e.keras")
    theirs = keras.saving.load_model(tmp_path / "e.keras")
    assert int(keras.ops.convert_to_numpy(theirs.optimizer.iterations)) == 4
    ours = load_model(tmp_path / "e.keras")
    for model in (straight, ours):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b, c in zip(
        straight.get_weights(), ours.get_weights(), keras_weights(theirs), strict=True
    ):
        np.testing.assert_allclose(b, a, atol=1e-6, rtol=0)
        np.testing.assert_allclose(c, a, atol=1e-5, rtol=0)


def test_losing_the_optimizer_state_would_show(tmp_path):
    """The resume tests can fail: a fresh Adam after one epoch ends elsewhere."""
    x, y = regression_data()
    theirs = keras_mlp(keras.optimizers.Adam(0.01))
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras", compile=False)
    ours.compile(optimizers.Adam(0.01), "mse")
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    pairs = zip(ours.get_weights(), keras_weights(theirs), strict=True)
    gaps = [np.abs(a - b).max() for a, b in pairs]
    assert max(gaps) > 1e-3


def test_compile_settings_and_metrics_round_trip(tmp_path):
    ours = engram_mlp(optimizers.SGD(0.05, momentum=0.9, nesterov=True))
    ours.compile(optimizers.SGD(0.05, momentum=0.9, nesterov=True), "mae", metrics=["mse"])
    ours.save(tmp_path / "e.keras")
    theirs = keras.saving.load_model(tmp_path / "e.keras")
    assert type(theirs.optimizer).__name__ == "SGD" and theirs.optimizer.nesterov
    back = load_model(tmp_path / "e.keras")
    assert back.optimizer.get_config() == ours.optimizer.get_config()
    assert back.loss.name == "mean_absolute_error" and back.metric_names == ["mse"]


def saved_compile_config(path):
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))["compile_config"]


def test_loss_and_metric_names_are_written_as_given_as_keras_writes_them(tmp_path):
    """Keras 3.15.1 keeps compile's spelling (loss="mse" stays "mse" in get_compile_config and
    in the file); so does engram, both ways and through its own .engram file."""
    theirs = keras.Sequential([keras.Input((4,)), K.Dense(2)])
    theirs.compile("adam", loss="mse", metrics=["mae"])
    theirs.save(tmp_path / "k.keras")
    expected = theirs.get_compile_config()
    assert (expected["loss"], expected["metrics"]) == ("mse", ["mae"])
    assert saved_compile_config(tmp_path / "k.keras")["loss"] == "mse"
    ours = load_model(tmp_path / "k.keras")
    ours.save(tmp_path / "e.keras")
    written = saved_compile_config(tmp_path / "e.keras")
    assert (written["loss"], written["metrics"]) == ("mse", ["mae"])
    again = keras.saving.load_model(tmp_path / "e.keras").get_compile_config()
    assert (again["loss"], again["metrics"]) == ("mse", ["mae"])
    ours.save(tmp_path / "m.engram")
    load_model(tmp_path / "m.engram").save(tmp_path / "e2.keras")
    assert saved_compile_config(tmp_path / "e2.keras")["loss"] == "mse"
    # engram's own aliases Keras lacks are written as the names Keras reads
    ours.compile("adam", "cce")
    ours.save(tmp_path / "cce.keras")
    assert saved_compile_config(tmp_path / "cce.keras")["loss"] == "categorical_crossentropy"
    assert keras.saving.load_model(tmp_path / "cce.keras").loss == "categorical_crossentropy"


def test_keras_loss_names_are_those_keras_and_engram_both_read():
    from keras.src import losses as keras_losses

    from engram.nn import losses
    from engram.nn.saving import allowlist

    both = {name for name in keras_losses.ALL_OBJECTS_DICT if name in losses.losses}
    assert allowlist.KERAS_LOSS_NAMES == both


def ops_model(lib):
    """A subclassed model whose call uses ops, its layers held by attributes that sort before
    and after Keras's ``layers`` (``zout``), in a list and twice (``again`` is ``d1``)."""

    class OpsNet(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.d1 = lib.layers.Dense(4)
            self.blocks = [lib.layers.Dense(4), lib.layers.Dense(4)]
            self.zout = lib.layers.Dense(2)
            self.a_first = lib.layers.Dense(3)
            self.again = self.d1

        def call(self, x):
            h = lib.ops.relu(self.d1(self.a_first(x)))
            for block in self.blocks:
                h = lib.ops.tanh(block(h))
            return self.zout(h * 2.0 + lib.ops.square(h))

    return OpsNet()


def h5_datasets(path):
    import h5py

    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: found.update({n: o.shape}) if hasattr(o, "shape") else None)
    return found


def test_weights_of_a_subclassed_model_with_ops_both_ways(tmp_path):
    """Keras 3.15.1 saves the weights of a subclassed model whose call uses ops, by attribute
    (``d1/vars``, ``blocks/dense_1/vars``, ``layers/dense_3/vars``); engram writes the same
    datasets, loads them back bit for bit (.weights.h5 and .engram), and each library loads
    the other's file with the same outputs."""
    import engram.nn

    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    ours, theirs = ops_model(engram.nn), ops_model(keras)
    ours.predict(x), theirs.predict(x, verbose=0)
    ours.set_weights(random_weights(ours.get_weights(), 3))
    expected = ours.predict(x)
    for name in ("e.weights.h5", "e.engram"):
        ours.save_weights(tmp_path / name)
        again = ops_model(engram.nn)
        again.predict(x)
        again.load_weights(tmp_path / name)
        np.testing.assert_array_equal(again.predict(x), expected)
    theirs.save_weights(tmp_path / "k.weights.h5")
    assert h5_datasets(tmp_path / "e.weights.h5") == h5_datasets(tmp_path / "k.weights.h5")
    assert "layers/dense_3/vars/0" in h5_datasets(tmp_path / "k.weights.h5")
    theirs.load_weights(tmp_path / "e.weights.h5")
    np.testing.assert_allclose(keras_predict(theirs, x), expected, atol=1e-5, rtol=0)
    theirs.set_weights(random_weights(keras_weights(theirs), 4))
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(ours.predict(x), keras_predict(theirs, x), atol=1e-5, rtol=0)


def test_integer_inputs_and_loss_objects_from_keras(tmp_path):
    theirs = keras.Sequential(
        [keras.Input((6,), dtype="int32"), K.Embedding(10, 4), K.GRU(3), K.Dense(5)]
    )
    theirs.compile(
        optimizer=keras.optimizers.Adagrad(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x = inputs("embedding")
    y = np.arange(7) % 5
    theirs.fit(x, y, batch_size=7, epochs=1, shuffle=False, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    assert ours.loss.name == "sparse_categorical_crossentropy" and ours.loss.from_logits
    assert ours.optimizer.name == "adagrad" and ours.metric_names == ["accuracy"]
    np.testing.assert_allclose(ours.predict(x), keras_predict(theirs, x), atol=1e-5, rtol=0)
    theirs.fit(x, y, batch_size=7, epochs=1, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=7, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), keras_weights(theirs), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("layer", "match"),
    [
        (lambda: K.GRU(3, reset_after=False), r"reset_after=False\) is not implemented"),
        (
            lambda: K.LSTM(3, kernel_regularizer=keras.regularizers.OrthogonalRegularizer()),
            r"kernel_regularizer is keras.regularizers.OrthogonalRegularizer, not a regularizer",
        ),
        (
            lambda: K.Dense(3, kernel_constraint=keras.constraints.Constraint()),
            r"kernel_constraint is keras.constraints.Constraint, not a constraint engram has",
        ),
    ],
)
def test_keras_options_engram_lacks_are_refused_by_name(tmp_path, layer, match):
    theirs = keras.Sequential([keras.Input((5, 3)), layer()])
    theirs.save(tmp_path / "k.keras")
    with pytest.raises(ModelFileError, match=match):
        load_model(tmp_path / "k.keras")


def test_nadam_resumes_from_the_files_u_product_and_refuses_a_bad_one(tmp_path):
    import io
    import zipfile

    import h5py

    x, y = regression_data()
    ours = engram_mlp(optimizers.Nadam(0.01))
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ours.save(tmp_path / "e.keras")
    with zipfile.ZipFile(tmp_path / "e.keras") as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    h5 = h5py.File(io.BytesIO(entries["model.weights.h5"]), "r")
    last = str(len(h5["optimizer/vars"]) - 1)  # 0, 1, 4 weights x (m, v), then u_product
    assert last == "10"
    u_product = float(h5["optimizer/vars"][last][()])
    assert u_product == pytest.approx(ours.optimizer.momentum_product(4), rel=1e-6)
    assert load_model(tmp_path / "e.keras").optimizer.momentum_product(4) == np.float32(u_product)
    for bad in (-0.5, 2.0):
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as out:
            for key in h5:
                h5.copy(key, out)
            del out["optimizer/vars"][last]
            out["optimizer/vars"][last] = np.float32(bad)
        entries["model.weights.h5"] = buffer.getvalue()
        with zipfile.ZipFile(tmp_path / "bad.keras", "w") as archive:
            for n, data in entries.items():
                archive.writestr(n, data)
        with pytest.raises(ModelFileError, match=r"optimizer/vars/10 \(Nadam's u_product\)"):
            load_model(tmp_path / "bad.keras")


# ------------------------------------------------------------- metric objects in compile
def classification_data(n=40, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)[:, None]
    return x, y


def keras_metric_objects():
    M = keras.metrics
    return [
        M.Precision(thresholds=0.3),
        "acc",
        M.Recall(thresholds=0.7, name="recall_at_0.7"),
        M.AUC(num_thresholds=50, curve="PR"),
        M.BinaryAccuracy(threshold=0.6, name="ba"),
        M.MeanSquaredError(),
        M.RootMeanSquaredError(),
    ]


def engram_metric_objects():
    from engram.nn import metrics as M

    return [
        M.Precision(thresholds=0.3),
        "acc",
        M.Recall(thresholds=0.7, name="recall_at_0.7"),
        M.AUC(num_thresholds=50, curve="PR"),
        M.BinaryAccuracy(threshold=0.6, name="ba"),
        M.MeanSquaredError(),
        M.RootMeanSquaredError(),
    ]


def _evaluate(model, x, y):
    return model.evaluate(x, y, batch_size=40, verbose=0, return_dict=True)


def _same_logs(ours, theirs):
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert ours[key] == pytest.approx(float(theirs[key]), abs=1e-5), key


def test_metric_objects_from_a_keras_file_are_compiled_with_their_configs(tmp_path):
    x, y = classification_data()
    theirs = keras.Sequential([keras.Input((4,)), K.Dense(1, activation="sigmoid")])
    theirs.set_weights(random_weights(theirs.get_weights(), 4))
    theirs.compile("adam", "binary_crossentropy", metrics=keras_metric_objects())
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    precision, acc, recall, auc, ba = ours.metric_names[:5]
    assert type(precision).__name__ == "Precision" and precision.thresholds == [0.3]
    assert acc == "acc" and recall.name == "recall_at_0.7" and recall.thresholds == [0.7]
    assert auc.num_thresholds == 50 and auc.curve == "PR" and ba.threshold == 0.6
    _same_logs(_evaluate(ours, x, y), _evaluate(theirs, x, y))


def test_metric_objects_written_by_engram_compile_the_same_in_keras(tmp_path):
    x, y = classification_data()
    ours = Sequential([E.Dense(1, activation="sigmoid")], seed=0)
    ours.build((None, 4))
    ours.set_weights(random_weights(ours.get_weights(), 4))
    ours.compile("adam", "binary_crossentropy", metrics=engram_metric_objects())
    ours.save(tmp_path / "e.keras")
    theirs = keras.saving.load_model(tmp_path / "e.keras")
    _same_logs(_evaluate(ours, x, y), _evaluate(theirs, x, y))
    again = load_model(tmp_path / "e.keras")
    assert [type(m).__name__ for m in again.metric_names] == [
        type(m).__name__ for m in ours.metric_names
    ]
    _same_logs(_evaluate(again, x, y), _evaluate(theirs, x, y))


def test_per_output_metric_objects_from_keras(tmp_path):
    inp = keras.Input((4,), name="x")
    a = K.Dense(1, activation="sigmoid", name="a")(inp)
    b = K.Dense(1, activation="sigmoid", name="b")(inp)
    theirs = keras.Model(inp, [a, b])
    theirs.compile(
        "adam",
        ["binary_crossentropy", "mse"],
        metrics={"a": [keras.metrics.Precision(thresholds=0.4)], "b": ["mae"]},
    )
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    x, y = classification_data()
    _same_logs(_evaluate(ours, x, [y, y]), _evaluate(theirs, x, [y, y]))


def test_multi_label_auc_and_prgain_from_a_keras_file(tmp_path):
    """AUC(multi_label=True, label_weights=...) and curve="PRGAIN" read from Keras's file:
    the same settings, and evaluate equals Keras's."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, :3] + rng.standard_normal((40, 3)) > 0).astype(np.float32)
    theirs = keras.Sequential([keras.Input((4,)), K.Dense(3, activation="sigmoid")])
    theirs.set_weights(random_weights(theirs.get_weights(), 4))
    metrics = [
        keras.metrics.AUC(multi_label=True, label_weights=[0.5, 1.0, 2.0], name="ml"),
        keras.metrics.AUC(multi_label=True, num_labels=3, curve="PR", name="ml_pr"),
        keras.metrics.AUC(curve="PRGAIN", num_thresholds=50, name="gain"),
    ]
    theirs.compile("adam", "binary_crossentropy", metrics=metrics)
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    ml, ml_pr, gain = ours.metric_names
    assert ml.multi_label and ml.label_weights.tolist() == [0.5, 1.0, 2.0]
    assert ml_pr.num_labels == 3 and ml_pr.curve == "PR" and gain.curve == "PRGAIN"
    _same_logs(_evaluate(ours, x, y), _evaluate(theirs, x, y))


@pytest.mark.parametrize(
    ("metric", "match"),
    [
        (lambda: keras.metrics.F1Score(), r"metrics\[0\] is keras.metrics.F1Score, not a metric"),
        (
            lambda: keras.metrics.PrecisionAtRecall(0.5),
            r"metrics\[0\] is keras.metrics.PrecisionAtRecall, not a metric",
        ),
        (
            lambda: keras.metrics.Precision(thresholds=[0.2, 0.5]),
            r"metrics\[0\] \(Precision\): Precision\(thresholds=\[0.2, 0.5\]\) gives one value",
        ),
    ],
)
def test_metric_objects_engram_lacks_are_refused_by_name(tmp_path, metric, match):
    theirs = keras.Sequential([keras.Input((4,)), K.Dense(1, activation="sigmoid")])
    theirs.compile("adam", "binary_crossentropy", metrics=[metric()])
    theirs.save(tmp_path / "k.keras")
    with pytest.raises(ModelFileError, match=match):
        load_model(tmp_path / "k.keras")
    assert load_model(tmp_path / "k.keras", compile=False).optimizer is None


def test_weights_engram_wrote_for_a_subclassed_model_before_keras_layout_still_load(
    tmp_path, monkeypatch
):
    """Before 2026-12-06 engram wrote a subclassed model's .weights.h5 with every layer under
    ``layers/<class>_<i>``; such files still load, bit for bit (nothing saved is lost)."""
    import engram.nn
    from engram.nn.saving import keras_format

    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    ours = ops_model(engram.nn)
    ours.predict(x)
    ours.set_weights(random_weights(ours.get_weights(), 5))
    expected = ours.predict(x)
    with monkeypatch.context() as patch:  # the old writer: the functional layout
        patch.setattr(keras_format, "_subclassed", lambda model: False)
        ours.save_weights(tmp_path / "old.weights.h5")
    assert "layers/dense_4/vars/0" in h5_datasets(tmp_path / "old.weights.h5")
    assert "d1/vars/0" not in h5_datasets(tmp_path / "old.weights.h5")
    again = ops_model(engram.nn)
    again.predict(x)
    again.load_weights(tmp_path / "old.weights.h5")
    np.testing.assert_array_equal(again.predict(x), expected)
