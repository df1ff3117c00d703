"""Metric objects against Keras 3.15.1: values over several batches, names, History."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Input, Model, Sequential, metrics
from engram.nn import layers as L
from tests.nn.keras_reference import import_keras

# (class name, constructor arguments, target kind): the same metric in both libraries
CASES = [
    ("Accuracy", {}, "labels"),
    ("BinaryAccuracy", {}, "binary"),
    ("BinaryAccuracy", {"threshold": 0.7}, "binary"),
    ("CategoricalAccuracy", {}, "onehot"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot"),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, "sparse"),
    ("Precision", {}, "binary"),
    ("Precision", {"thresholds": 0.3}, "binary"),
    ("Precision", {"top_k": 2}, "onehot"),
    ("Precision", {"class_id": 1}, "onehot"),
    ("Recall", {}, "binary"),
    ("Recall", {"thresholds": [0.2, 0.5, 0.9]}, "binary"),
    ("AUC", {}, "binary"),
    ("AUC", {"num_thresholds": 7}, "binary"),
    ("AUC", {"curve": "PR"}, "binary"),
    ("AUC", {"curve": "PR", "summation_method": "minoring"}, "binary"),
    ("AUC", {"summation_method": "majoring"}, "onehot"),
    ("AUC", {"thresholds": [0.1, 0.5, 0.55]}, "binary"),
    ("AUC", {"from_logits": True}, "logits"),
    ("AUC", {"curve": "PRGAIN"}, "binary"),
    ("AUC", {"curve": "PRGAIN", "summation_method": "majoring"}, "onehot"),
    ("AUC", {"multi_label": True}, "onehot"),
    ("AUC", {"multi_label": True, "num_labels": 4, "curve": "PR"}, "onehot"),
    ("AUC", {"multi_label": True, "label_weights": [0.5, 2.0, 0.0, 1.0]}, "onehot"),
    ("AUC", {"multi_label": True, "thresholds": [0.2, 0.4, 0.45], "curve": "PR"}, "onehot"),
    ("AUC", {"label_weights": [0.5, 2.0, 0.0, 1.0], "num_thresholds": 9}, "onehot"),
    ("AUC", {"label_weights": [1.0, 3.0, 0.0, 1.0], "thresholds": [0.3, 0.7]}, "onehot"),
    ("MeanSquaredError", {}, "regression"),
    ("MeanAbsoluteError", {}, "regression"),
    ("RootMeanSquaredError", {}, "regression"),
]


def _batch(kind: str, rng: np.random.Generator, n: int):
    if kind == "labels":
        return rng.integers(0, 3, (n, 1)).astype("float32"), rng.integers(0, 3, (n, 1)).astype(
            "float32"
        )
    if kind in ("binary", "logits"):
        y = (rng.random((n, 1)) < 0.4).astype("float32")
        score = rng.random((n, 1)).astype("float32")
        if kind == "logits":
            score = (score - 0.5) * 8
        return y, score
    probs = rng.dirichlet(np.ones(4), n).astype("float32")
    labels = rng.integers(0, 4, n)
    if kind == "onehot":
        return np.eye(4, dtype="float32")[labels], probs
    if kind == "sparse":
        return labels.astype("float32")[:, None], probs
    return rng.standard_normal((n, 3)).astype("float32"), rng.standard_normal((n, 3)).astype(
        "float32"
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("cls", "kwargs", "kind"), CASES)
def test_metric_values_over_batches_equal_keras(cls, kwargs, kind, weighted):
    keras = import_keras()
    rng = np.random.default_rng(len(cls) + 7 * len(kwargs))
    ours, theirs = getattr(metrics, cls)(**kwargs), getattr(keras.metrics, cls)(**kwargs)
    for step, n in enumerate((7, 5, 11)):
        y_true, y_pred = _batch(kind, rng, n)
        w = rng.random(n).astype("float32") * 2 if weighted else None
        ours.update_state(y_true, y_pred, sample_weight=w)
        theirs.update_state(y_true, y_pred, sample_weight=w)
        expected = np.asarray(theirs.result())
        np.testing.assert_allclose(ours.result(), expected, rtol=1e-6, atol=1e-6, err_msg=step)
    ours.reset_state()
    theirs.reset_state()
    np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), atol=1e-6)
    config = ours.get_config()
    for key, value in theirs.get_config().items():
        if key == "label_weights" and value is not None:  # Keras keeps a tensor
            np.testing.assert_array_equal(config[key], np.asarray(value))
        elif key not in ("dtype", "name"):
            assert config[key] == value, key
    assert type(ours).from_config(config).get_config() == config


def test_default_names_count_as_keras_counts_them():
    keras = import_keras()
    for cls in ("Precision", "Recall", "AUC"):
        ours = [getattr(metrics, cls)().name for _ in range(2)]
        theirs = [getattr(keras.metrics, cls)().name for _ in range(2)]
        assert [n.split("_")[0] for n in ours] == [n.split("_")[0] for n in theirs]
        assert ours[0] != ours[1] and ours[1].startswith(ours[0].split("_")[0] + "_")
    for cls in ("BinaryAccuracy", "MeanSquaredError", "RootMeanSquaredError"):
        assert getattr(metrics, cls)().name == getattr(keras.metrics, cls)().name


def _binary_models(keras):
    kmodel = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(6, activation="tanh", name="h"),
            keras.layers.Dense(1, activation="sigmoid", name="out"),
        ]
    )
    model = Sequential(
        [
            L.Dense(6, activation="tanh", input_shape=(5,), name="h"),
            L.Dense(1, "sigmoid", name="out"),
        ],
        seed=0,
    )
    model.set_weights(kmodel.get_weights())
    return model, kmodel


def _custom(ops):
    def worst(y_true, y_pred):
        return ops.max(ops.abs(y_pred - y_true), axis=-1)

    return worst


def test_fit_history_with_metric_objects_equals_keras():
    keras = import_keras()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 5)).astype("float32")
    y = (x[:, :1] + 0.5 * rng.standard_normal((37, 1)) > 0).astype("float32")
    xv, yv = x[:13] * 0.5, y[:13]
    model, kmodel = _binary_models(keras)

    def worst_np(y_true, y_pred):
        return np.max(np.abs(y_pred - y_true), axis=-1)

    worst_np.__name__ = "worst"

    def chosen(lib):
        m = lib.metrics
        return [
            m.Precision(name="precision"),
            m.Recall(thresholds=0.4, name="recall"),
            m.AUC(name="auc"),
            m.AUC(curve="PR", name="pr_auc"),
            m.BinaryAccuracy(),
            m.RootMeanSquaredError(),
            "acc",
            "mse",
            "precision",
            "auc",
        ]

    kmodel.compile(
        keras.optimizers.SGD(0.3),
        "binary_crossentropy",
        metrics=chosen(keras) + [_custom(keras.ops)],
    )
    model.compile(
        "sgd", "binary_crossentropy", metrics=chosen(__import__("engram").nn) + [worst_np]
    )
    model.optimizer.learning_rate = 0.3
    args = {
        "batch_size": 8,
        "epochs": 3,
        "shuffle": False,
        "verbose": 0,
        "validation_data": (xv, yv),
    }
    theirs = kmodel.fit(x, y, **args).history
    ours = model.fit(x, y, **args).history
    assert sorted(ours) == sorted(theirs)
    assert {"precision", "val_auc", "pr_auc", "acc", "val_worst"} <= set(ours)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
    ours = model.evaluate(xv, yv, batch_size=4, verbose=0, return_dict=True)
    theirs = kmodel.evaluate(xv, yv, batch_size=4, verbose=0, return_dict=True)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-6), key


def test_per_output_metrics_of_a_two_output_model_equal_keras():
    keras = import_keras()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 4)).astype("float32")
    y_cls = rng.integers(0, 3, 20)
    y_reg = rng.standard_normal((20, 2)).astype("float32")
    ki = keras.Input((4,), name="x")
    kh = keras.layers.Dense(5, activation="relu", name="h")(ki)
    kmodel = keras.Model(
        ki,
        [
            keras.layers.Dense(3, activation="softmax", name="cls")(kh),
            keras.layers.Dense(2, name="reg")(kh),
        ],
    )
    i = Input((4,), name="x")
    h = L.Dense(5, activation="relu", name="h")(i)
    model = Model(i, [L.Dense(3, activation="softmax", name="cls")(h), L.Dense(2, name="reg")(h)])
    model.set_weights(kmodel.get_weights())

    def chosen(lib):
        return {
            "cls": ["accuracy", lib.metrics.SparseTopKCategoricalAccuracy(k=2)],
            "reg": [lib.metrics.MeanAbsoluteError(), "root_mean_squared_error"],
        }

    losses = {"cls": "sparse_categorical_crossentropy", "reg": "mse"}
    kmodel.compile(keras.optimizers.SGD(0.1), losses, metrics=chosen(keras))
    model.compile("sgd", losses, metrics=chosen(__import__("engram").nn))
    model.optimizer.learning_rate = 0.1
    args = {"batch_size": 6, "epochs": 2, "shuffle": False, "verbose": 0}
    theirs = kmodel.fit(x, {"cls": y_cls, "reg": y_reg}, **args).history
    ours = model.fit(x, {"cls": y_cls, "reg": y_reg}, **args).history
    assert set(ours) == set(theirs)
    assert "cls_sparse_top_k_categorical_accuracy" in ours
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_bad_metric_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match=r"needs y_pred of shape \(samples, labels\)"):
        metrics.AUC(multi_label=True).update_state(np.ones((2, 3, 4)), np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="counts 4 labels, but this batch has 3"):
        metrics.AUC(multi_label=True, num_labels=4).update_state(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="`num_labels` is needed only when `multi_label`"):
        metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match="label_weights must be a list of non-negative"):
        metrics.AUC(label_weights=[1.0, -2.0])
    with pytest.raises(ValueError, match="label_weights must be a list of non-negative"):
        metrics.AUC(label_weights="heavy")
    with pytest.raises(ValueError, match="2 label_weights, but y_pred has 3 labels"):
        metrics.AUC(label_weights=[1.0, 2.0]).update_state(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="curve must be 'ROC', 'PR' or 'PRGAIN'"):
        metrics.AUC(curve="DET")
    with pytest.raises(ValueError, match=r"Threshold values must be numbers in \[0, 1\]"):
        metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        metrics.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match="one number per batch"):
        metrics.MeanMetricWrapper(lambda t, p: np.mean(p)).update_state(
            np.ones((2, 1)), np.ones((2, 1)), sample_weight=np.ones(2)
        )
    model = Sequential([L.Dense(1, "sigmoid", input_shape=(3,))], seed=0)
    with pytest.raises(NotImplementedError, match="one value per threshold"):
        model.compile("sgd", "mse", metrics=[metrics.Recall(thresholds=[0.2, 0.8])])
    with pytest.raises(ValueError, match="One-hot encode integer labels"):
        metrics.Precision().update_state(np.array([0, 1]), np.ones((2, 3)))


def test_accuracy_of_several_sigmoid_outputs_is_resolved_as_keras_3():
    """Keras 3 picks "accuracy" from the shapes, not the loss: binary cross-entropy on three
    sigmoid outputs logs categorical accuracy."""
    keras = import_keras()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 4)).astype("float32")
    y = (rng.random((16, 3)) < 0.5).astype("float32")
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "sigmoid", name="o")])
    model = Sequential([L.Dense(3, "sigmoid", input_shape=(4,), name="o")], seed=0)
    model.set_weights(kmodel.get_weights())
    kmodel.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    theirs = kmodel.evaluate(x, y, verbose=0, return_dict=True)
    ours = model.evaluate(x, y, verbose=0, return_dict=True)
    assert ours["accuracy"] == pytest.approx(theirs["accuracy"], abs=1e-6)
    binary = metrics.BinaryAccuracy()
    binary.update_state(y, model.predict(x))
    assert binary.result() != pytest.approx(ours["accuracy"])  # the choice is visible here


def test_engram_files_keep_metric_objects_as_data(tmp_path):
    from engram.nn import load_model

    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 3)).astype("float32")
    y = (rng.random((20, 1)) < 0.5).astype("float32")
    model = Sequential([L.Dense(1, "sigmoid", input_shape=(3,))], seed=0)
    model.compile(
        "sgd",
        "binary_crossentropy",
        metrics=["acc", metrics.Precision(thresholds=0.3, name="p"), metrics.AUC(curve="PR")],
    )
    model.save(tmp_path / "m.engram")
    loaded = load_model(tmp_path / "m.engram")
    ours = model.evaluate(x, y, verbose=0, return_dict=True)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == ours
    assert "p" in ours and loaded.metric_names[1].get_config() == model.metric_names[1].get_config()


def _masked_multilabel_tagger(lib):
    """Embedding(mask_zero=True) -> LSTM(return_sequences=True) -> Dense(3, sigmoid): three
    0/1 tags per step, a mask reaching the loss and the metrics."""
    inputs = lib.Input((6,), dtype="int32", name="tokens")
    x = lib.layers.Embedding(12, 4, mask_zero=True, name="embed")(inputs)
    x = lib.layers.LSTM(5, return_sequences=True, name="lstm")(x)
    return lib.Model(inputs, lib.layers.Dense(3, activation="sigmoid", name="tags")(x))


def _stateful_metrics(lib, prefix=""):
    m = lib.metrics
    return [
        m.Precision(name=prefix + "p"),
        m.Recall(name=prefix + "r"),
        m.Precision(thresholds=0.3, name=prefix + "p_03"),
        m.Precision(top_k=2, name=prefix + "p_top2"),
        m.Recall(class_id=1, name=prefix + "r_class1"),
        m.AUC(name=prefix + "auc"),
        m.AUC(num_thresholds=7, summation_method="minoring", name=prefix + "auc_7"),
        m.AUC(curve="PR", name=prefix + "pr_auc"),
        m.AUC(curve="PRGAIN", name=prefix + "prgain_auc"),
        m.AUC(label_weights=[1.0, 0.5, 2.0], name=prefix + "auc_lw"),
        m.RootMeanSquaredError(name=prefix + "rmse"),
        m.MeanSquaredError(name=prefix + "mse"),
        m.BinaryAccuracy(name=prefix + "acc"),
    ]


def _masked_models_and_data(keras, seed=3):
    import engram.nn
    from tests.nn.test_model_surface import padded_tokens

    rng = np.random.default_rng(seed)
    x = padded_tokens(rng)
    y = (rng.random((16, 6, 3)) < 0.5).astype("float32")
    keras.utils.set_random_seed(0)
    kmodel, model = _masked_multilabel_tagger(keras), _masked_multilabel_tagger(engram.nn)
    model.set_weights([np.asarray(v) for v in kmodel.get_weights()])
    return kmodel, model, x, y, rng


def test_stateful_metrics_under_a_mask_equal_keras():
    """Keras 3.15.1 leaves masked steps out of its mean metrics (MSE, accuracy) but not out of
    Precision, Recall, AUC and RootMeanSquaredError, which never read the mask: their counts
    include the padded steps. engram's evaluate and History equal Keras's, Keras's weights
    copied in; the rule is checked directly too (the two recalls differ on this data)."""
    keras = import_keras()
    import engram.nn

    kmodel, model, x, y, _ = _masked_models_and_data(keras)
    for lib, m in ((keras, kmodel), (engram.nn, model)):
        m.compile(lib.optimizers.SGD(0.5), "binary_crossentropy", metrics=_stateful_metrics(lib))
    k_eval = kmodel.evaluate(x, y, verbose=0, return_dict=True)
    e_eval = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(e_eval) == set(k_eval)
    for key in k_eval:
        assert e_eval[key] == pytest.approx(float(k_eval[key]), rel=1e-5, abs=1e-6), key
    steps = x != 0
    hits = (model.predict(x, verbose=0) > 0.5) & (y > 0)
    recall_all, recall_kept = hits.sum() / y.sum(), hits[steps].sum() / y[steps].sum()
    assert e_eval["r"] == pytest.approx(recall_all, rel=1e-6)
    assert abs(recall_all - recall_kept) > 1e-3
    k_hist = kmodel.fit(x, y, batch_size=5, shuffle=False, verbose=0).history
    e_hist = model.fit(x, y, batch_size=5, shuffle=False, verbose=0).history
    assert set(e_hist) == set(k_hist)
    for key in k_hist:
        assert e_hist[key][0] == pytest.approx(k_hist[key][0], rel=1e-4, abs=1e-6), key


@pytest.mark.parametrize("batch_size", [16, 5])
def test_weighted_stateful_metrics_under_a_mask_follow_keras_rule(batch_size):
    """With sample weights, each Keras metric object fed the batches as Keras's metrics
    rule has it (mean metrics: weight x mask; Precision/Recall/AUC/RMSE: the weight alone)
    gives engram's weighted_metrics, for one batch and for uneven ones.

    Not compared with a compiled Keras model on the torch backend: there Keras's loss
    multiplies the batch's sample-weight tensor in place by the mask (times entries / valid
    entries; keras/src/losses/loss.py, ``sample_weight *= float_mask``), so the weighted metrics
    computed after it change with the batch size. On the JAX backend, where that product makes
    a new array, Keras 3.15.1's evaluate gave engram's values for all 26 metrics of this test
    at both batch sizes (checked while writing; JAX is not a test dependency)."""
    keras = import_keras()
    import engram.nn

    _, model, x, y, rng = _masked_models_and_data(keras)
    w = rng.random(16).astype("float32") + 0.5
    model.compile(
        engram.nn.optimizers.SGD(0.5),
        "binary_crossentropy",
        weighted_metrics=_stateful_metrics(engram.nn),
    )
    ours = model.evaluate(x, y, sample_weight=w, batch_size=batch_size, verbose=0)
    ours = dict(zip(["loss", *[m.name for m in _stateful_metrics(engram.nn)]], ours, strict=True))
    theirs = _stateful_metrics(keras)
    p, steps = model.predict(x, verbose=0), (x != 0).astype("float32")
    for start in range(0, 16, batch_size):
        rows = slice(start, start + batch_size)
        per_step = np.repeat(w[rows, None], 6, axis=1)
        for metric in theirs:
            mean = isinstance(metric, keras.metrics.MeanMetricWrapper)
            weight = per_step * steps[rows] if mean else per_step
            metric.update_state(y[rows], p[rows], sample_weight=weight)
    for metric in theirs:
        expected = float(metric.result())
        assert ours[metric.name] == pytest.approx(expected, rel=1e-5, abs=1e-6), metric.name
    unmasked = keras.metrics.Precision()
    unmasked.update_state(y, p, sample_weight=np.repeat(w[:, None], 6, axis=1) * steps)
    assert abs(ours["p"] - float(unmasked.result())) > 1e-3  # the mask is not in its counts


def test_multi_label_auc_in_fit_equals_keras():
    """AUC(multi_label=True) and label_weights on a (samples, labels) sigmoid output: the
    History of two epochs with validation equals Keras's."""
    keras = import_keras()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((30, 5)).astype("float32")
    y = (x[:, :3] + rng.standard_normal((30, 3)) > 0).astype("float32")
    kmodel = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="sigmoid")])
    model = Sequential([L.Dense(3, "sigmoid", input_shape=(5,))], seed=0)
    model.set_weights(kmodel.get_weights())

    def chosen(lib):
        return [
            lib.metrics.AUC(multi_label=True, name="ml_auc"),
            lib.metrics.AUC(multi_label=True, num_labels=3, curve="PR", name="ml_pr"),
            lib.metrics.AUC(multi_label=True, label_weights=[0.2, 1.0, 3.0], name="ml_lw"),
        ]

    import engram.nn

    kmodel.compile(keras.optimizers.SGD(0.2), "binary_crossentropy", metrics=chosen(keras))
    model.compile(engram.nn.optimizers.SGD(0.2), "binary_crossentropy", metrics=chosen(engram.nn))
    args = {"batch_size": 8, "epochs": 2, "shuffle": False, "verbose": 0}
    args["validation_data"] = (x[:10], y[:10])
    theirs, ours = kmodel.fit(x, y, **args).history, model.fit(x, y, **args).history
    assert set(ours) == set(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
