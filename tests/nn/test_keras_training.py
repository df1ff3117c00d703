"""The training loop against Keras 3.15.1 itself: callback hooks (order, indices, logs),
sample and class weights, validation_freq, *_on_batch, batch sources.

Each test runs the same program in Keras (torch backend) and in engram, with Keras's initial
weights copied in, and compares what the loops did.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from engram.nn import Sequential, callbacks, optimizers
from engram.nn.layers import Dense
from tests.nn.keras_reference import import_keras

HOOKS = [
    f"on_{stage}_{when}"
    for stage in ("train", "epoch", "train_batch", "test", "test_batch", "predict", "predict_batch")
    for when in ("begin", "end")
]


def recorder(base):
    """A callback class (subclass of ``base``) that records every hook call:
    (hook, index or None, sorted log keys) in ``calls`` and the logs in ``logs``."""

    def hook(name, indexed):
        def record(self, *args, **kwargs):
            logs = kwargs.get("logs", args[-1] if len(args) > int(indexed) else None)
            self.calls.append((name, args[0] if indexed else None, sorted(logs or {})))
            self.logs.append(dict(logs or {}))

        return record

    methods = {name: hook(name, "batch" in name or "epoch" in name) for name in HOOKS}

    def init(self):
        base.__init__(self)
        self.calls, self.logs = [], []

    return type("Recorder", (base,), {"__init__": init, **methods})


def data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return x, (x[:, 0] + 0.3 * x[:, 1] > 0).astype(np.int64)


def pair(keras, loss="sparse_categorical_crossentropy", metrics=("accuracy",), lr=0.1):
    """The same compiled model in Keras and engram (Keras's weights copied in)."""
    kmodel = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="tanh"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model = Sequential(
        [Dense(4, activation="tanh", input_shape=(3,)), Dense(2, activation="softmax")], seed=0
    )
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    kmodel.compile(keras.optimizers.SGD(lr), loss, metrics=list(metrics))
    model.compile(optimizers.SGD(lr), loss, metrics=list(metrics))
    return kmodel, model


def assert_logs_close(ours, theirs, atol=1e-5):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert sorted(a) == sorted(b)
        for key in b:
            if key == "outputs":
                np.testing.assert_allclose(a[key], np.asarray(b[key]), atol=atol)
            else:
                assert a[key] == pytest.approx(float(b[key]), abs=atol), key


@pytest.mark.parametrize("validation_freq", [1, 2, [1]])
def test_callback_hooks_order_indices_and_logs_match_keras(validation_freq):
    keras = import_keras()
    kmodel, model = pair(keras)
    x, y = data(10)
    xv, yv = data(5, seed=1)
    recs = []
    for m, base in ((kmodel, keras.callbacks.Callback), (model, callbacks.Callback)):
        rec = recorder(base)()
        m.fit(
            x,
            y,
            batch_size=4,
            epochs=2,
            shuffle=False,
            verbose=0,
            validation_data=(xv, yv),
            validation_freq=validation_freq,
            callbacks=[rec],
        )
        m.evaluate(xv, yv, batch_size=2, verbose=0, callbacks=[rec])
        m.predict(x, batch_size=4, verbose=0, callbacks=[rec])
        recs.append(rec)
    ours, theirs = recs[1], recs[0]
    assert ours.calls == theirs.calls
    # the logs themselves: running means in batch logs, predict's batch outputs
    assert_logs_close(ours.logs, theirs.logs)


def test_batch_hooks_alias_on_batch_begin_and_end_as_in_keras():
    seen = []

    class Old(callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, sorted(logs)))

    x, y = data(6)
    model = Sequential([Dense(2, activation="softmax", input_shape=(3,))], seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Old()])
    model.evaluate(x, y, verbose=0, callbacks=[Old()])  # test batches are not on_batch_*
    assert seen == [("begin", 0), ("end", 0, ["loss"]), ("begin", 1), ("end", 1, ["loss"])]


def fit_both(kmodel, model, x, y, **kwargs):
    """One fit in each, without shuffling; the two histories."""
    args = {"batch_size": 4, "shuffle": False, "verbose": 0, **kwargs}
    return kmodel.fit(x, y, **args).history, model.fit(x, y, **args).history


def assert_same_training(kmodel, model, theirs, ours):
    assert set(ours) == set(theirs)
    for key in theirs:
        assert len(ours[key]) == len(theirs[key]), key
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-5, err_msg=key)
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-4)


def test_sample_weight_and_weighted_validation_data_match_keras():
    keras = import_keras()
    kmodel, model = pair(keras)
    x, y = data(14)
    xv, yv = data(6, seed=1)
    w = np.linspace(0.2, 2.0, 14).astype(np.float32)
    wv = np.array([0.0, 1.0, 3.0, 0.5, 2.0, 1.0], dtype=np.float32)
    theirs, ours = fit_both(
        kmodel, model, x, y, sample_weight=w, validation_data=(xv, yv, wv), epochs=2
    )
    assert_same_training(kmodel, model, theirs, ours)
    # the validation loss is weighted (sum w_i L_i / n): not the unweighted one
    unweighted = model.evaluate(xv, yv, verbose=0, return_dict=True)["loss"]
    assert abs(ours["val_loss"][-1] - unweighted) > 1e-3


def test_validation_split_splits_the_sample_weights_as_keras_does():
    keras = import_keras()
    kmodel, model = pair(keras)
    x, y = data(16)
    w = np.linspace(2.0, 0.1, 16).astype(np.float32)
    theirs, ours = fit_both(kmodel, model, x, y, sample_weight=w, validation_split=0.25)
    assert_same_training(kmodel, model, theirs, ours)


def test_class_weight_matches_keras():
    keras = import_keras()
    kmodel, model = pair(keras)
    x, y = data(14)
    theirs, ours = fit_both(kmodel, model, x, y, class_weight={0: 0.5, 1: 3.0}, epochs=2)
    assert_same_training(kmodel, model, theirs, ours)


def test_class_weight_with_one_hot_targets_matches_keras():
    keras = import_keras()
    kmodel, model = pair(keras, loss="categorical_crossentropy")
    x, y = data(12)
    onehot = np.eye(2, dtype=np.float32)[y]
    theirs, ours = fit_both(kmodel, model, x, onehot, class_weight={1: 2.5})
    assert_same_training(kmodel, model, theirs, ours)


def test_validation_freq_matches_keras():
    keras = import_keras()
    kmodel, model = pair(keras)
    x, y = data(12)
    for freq in (2, [1, 3]):
        theirs, ours = fit_both(
            kmodel, model, x, y, epochs=3, validation_data=data(5, seed=2), validation_freq=freq
        )
        assert_same_training(kmodel, model, theirs, ours)
        assert len(ours["val_loss"]) == (1 if freq == 2 else 2)


def test_evaluate_with_sample_weight_matches_keras():
    keras = import_keras()
    kmodel, model = pair(keras)
    x, y = data(9)
    w = np.arange(9, dtype=np.float32) / 4
    ours = model.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0, return_dict=True)
    theirs = kmodel.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0, return_dict=True)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-5), key


def test_multi_output_sample_weights_match_keras():
    keras = import_keras()
    from engram.nn import Input, Model

    def build(lib_input, lib_dense, lib_model):
        inputs = lib_input(shape=(3,))
        hidden = lib_dense(4, activation="tanh", name="hidden")(inputs)
        a = lib_dense(2, activation="softmax", name="a")(hidden)
        b = lib_dense(1, name="b")(hidden)
        return lib_model(inputs, [a, b])

    kmodel = build(keras.Input, keras.layers.Dense, keras.Model)
    model = build(Input, Dense, Model)
    model.set_weights([np.asarray(v) for v in kmodel.get_weights()])
    compile_args = {"loss": ["sparse_categorical_crossentropy", "mse"], "loss_weights": [1, 0.5]}
    kmodel.compile(keras.optimizers.SGD(0.1), **compile_args)
    model.compile(optimizers.SGD(0.1), **compile_args)
    x, y = data(10)
    targets = [y, x[:, :1] * 2]
    for sw in (
        np.linspace(0.5, 1.5, 10, dtype=np.float32),  # one array for both outputs
        [np.linspace(0.5, 1.5, 10, dtype=np.float32), np.ones(10, np.float32) * 2],
    ):
        theirs, ours = fit_both(kmodel, model, x, targets, sample_weight=sw)
        assert_same_training(kmodel, model, theirs, ours)
        # the one gradient step takes the same weights (no dropout: its loss is test_on_batch's)
        loss = model.compute_gradients(x, targets, sample_weight=sw)
        assert loss == pytest.approx(
            kmodel.test_on_batch(x, targets, sample_weight=sw)[0], abs=1e-5
        )


def test_weights_are_checked_at_the_boundary():
    x, y = data(8)
    model = Sequential([Dense(2, activation="softmax", input_shape=(3,))], seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"sample_weight must have one weight per sample"):
        model.fit(x, y, sample_weight=np.ones(5), verbose=0)
    with pytest.raises(ValueError, match=r"val_sample_weight must have one weight per sample"):
        model.fit(x, y, validation_data=(x, y, np.ones(3)), verbose=0)
    with pytest.raises(ValueError, match=r"class_weight and sample_weight at the same time"):
        model.fit(x, y, sample_weight=np.ones(8), class_weight={0: 2.0}, verbose=0)
    with pytest.raises(TypeError, match=r"class_weight must be a dict"):
        model.fit(x, y, class_weight=[1.0, 2.0], verbose=0)
    with pytest.raises(ValueError, match=r"validation_freq must be an int"):
        model.fit(x, y, validation_freq="2", verbose=0)


def test_on_batch_methods_match_keras():
    keras = import_keras()
    kmodel, model = pair(keras)
    x, y = data(8)
    w = np.linspace(0.5, 2.0, 8).astype(np.float32)
    for kwargs in ({}, {"sample_weight": w}, {"class_weight": {1: 4.0}}):
        ours = model.train_on_batch(x, y, **kwargs)
        theirs = kmodel.train_on_batch(x, y, **kwargs)
        assert isinstance(ours, list) and isinstance(theirs, list)
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    ours = model.train_on_batch(x, y, return_dict=True)
    theirs = kmodel.train_on_batch(x, y, return_dict=True)
    assert ours == pytest.approx(theirs, abs=1e-5)
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-5)
    for kwargs in ({}, {"sample_weight": w}, {"return_dict": True}):
        ours = model.test_on_batch(x, y, **kwargs)
        theirs = kmodel.test_on_batch(x, y, **kwargs)
        assert type(ours) is type(theirs)
        assert ours == pytest.approx(theirs, abs=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(x), kmodel.predict_on_batch(x), atol=1e-6)
    # without metrics: one number
    kmodel, model = pair(keras, metrics=())
    ours, theirs = model.train_on_batch(x, y), kmodel.train_on_batch(x, y)
    assert isinstance(ours, float) and ours == pytest.approx(theirs, abs=1e-5)
    assert model.test_on_batch(x, y) == pytest.approx(kmodel.test_on_batch(x, y), abs=1e-5)


def stopper(base, hook, when):
    """A callback class that sets model.stop_training in ``hook`` at index ``when``."""

    def stop(self, index, logs=None):
        if index == when:
            self.model.stop_training = True

    return type("Stopper", (base,), {hook: stop})


@pytest.mark.parametrize("hook, when", [("on_train_batch_end", 1), ("on_epoch_end", 1)])
def test_stop_training_matches_keras(hook, when):
    keras = import_keras()
    kmodel, model = pair(keras)
    x, y = data(12)
    recs = []
    for m, base in ((kmodel, keras.callbacks.Callback), (model, callbacks.Callback)):
        rec = recorder(base)()
        history = m.fit(
            x,
            y,
            batch_size=4,
            epochs=4,
            shuffle=False,
            verbose=0,
            validation_data=data(4, seed=3),
            callbacks=[stopper(base, hook, when)(), rec],
        )
        recs.append((rec, history.history))
    (theirs, ktrace), (ours, trace) = recs
    assert ours.calls == theirs.calls
    assert_logs_close(ours.logs, theirs.logs)
    assert len(trace["loss"]) == (1 if hook == "on_train_batch_end" else 2)
    assert_same_training(kmodel, model, ktrace, trace)


def batches_class(base):
    """The same Sequence subclass for Keras (PyDataset) and engram (utils.Sequence)."""

    def init(self, x, y, size, sample_weight=None):
        base.__init__(self)
        self.x, self.y, self.size, self.sw, self.ends = x, y, size, sample_weight, 0

    def length(self):
        return -(-len(self.x) // self.size)

    def item(self, i):
        s = slice(i * self.size, (i + 1) * self.size)
        if self.sw is None:
            return self.x[s], self.y[s]
        return self.x[s], self.y[s], self.sw[s]

    def on_epoch_end(self):
        self.ends += 1

    body = {"__init__": init, "__len__": length, "__getitem__": item, "on_epoch_end": on_epoch_end}
    return type("Batches", (base,), body)


def generator(x, y, size, sample_weight=None, loops=1):
    for _ in range(loops):
        for s in range(0, len(x), size):
            if sample_weight is None:
                yield x[s : s + size], y[s : s + size]
            else:
                yield x[s : s + size], y[s : s + size], sample_weight[s : s + size]


def fit_sources(keras, make, fit_kwargs, ran_out):
    """fit on sources made by ``make(lib_sequence_base)`` in both; compare hook traces,
    histories and weights; the "ran out of data" warning when Keras gives it."""
    from engram.nn.utils import Sequence

    kmodel, model = pair(keras)
    results = []
    for m, base, seq in (
        (kmodel, keras.callbacks.Callback, keras.utils.PyDataset),
        (model, callbacks.Callback, Sequence),
    ):
        rec = recorder(base)()
        args = {"verbose": 0, "shuffle": False, "callbacks": [rec], **fit_kwargs}
        if m is model and ran_out:
            with pytest.warns(UserWarning, match="ran out of data"):
                history = m.fit(make(seq), **args)
        else:
            history = m.fit(make(seq), **args)
        results.append((rec, history.history))
    (theirs, ktrace), (ours, trace) = results
    assert [c for c in ours.calls if "predict" not in c[0]] == theirs.calls
    assert_logs_close(ours.logs, theirs.logs)
    assert_same_training(kmodel, model, ktrace, trace)
    return kmodel, model


@pytest.mark.parametrize("steps, ran_out", [(None, False), (2, True), (5, True)])
def test_sequence_in_fit_matches_keras(steps, ran_out):
    keras = import_keras()
    x, y = data(11)
    w = np.linspace(0.5, 1.5, 11).astype(np.float32)
    made = []

    def make(base):
        made.append(batches_class(base)(x, y, 4, sample_weight=w))
        return made[-1]

    kwargs = {"epochs": 3, "steps_per_epoch": steps, "validation_data": (x[:5], y[:5])}
    fit_sources(keras, make, kwargs, ran_out)
    # on_epoch_end after every epoch (Keras also calls it once before training: 4)
    assert made[1].ends == 3 and made[0].ends == 4


@pytest.mark.parametrize("steps", [None, 2])
def test_generator_in_fit_matches_keras(steps):
    keras = import_keras()
    x, y = data(16)
    w = np.linspace(0.5, 1.5, 16).astype(np.float32)
    epochs = 1 if steps is None else 3
    kwargs = {"epochs": epochs, "steps_per_epoch": steps}
    # a generator that runs dry warns in both (Keras warns even after one full pass)
    fit_sources(keras, lambda base: generator(x, y, 4, w), kwargs, ran_out=steps is None)


def test_sequence_and_generator_validation_evaluate_predict_match_keras():
    keras = import_keras()
    from engram.nn.utils import Sequence

    x, y = data(10)
    xv, yv = data(7, seed=4)

    def val(base):
        return batches_class(base)(xv, yv, 3)

    kmodel, model = pair(keras)
    for m, seq in ((kmodel, keras.utils.PyDataset), (model, Sequence)):
        m.fit(
            generator(x, y, 4, loops=9),
            steps_per_epoch=3,
            epochs=2,
            validation_data=val(seq),
            validation_steps=2,
            verbose=0,
            shuffle=False,
        )
    ours, theirs = model.history.history, kmodel.history.history
    assert_same_training(kmodel, model, theirs, ours)
    for make in (lambda b: generator(xv, yv, 3), lambda b: val(b)):
        np.testing.assert_allclose(
            model.evaluate(make(Sequence), verbose=0),
            kmodel.evaluate(make(keras.utils.PyDataset), verbose=0),
            atol=1e-5,
        )
        np.testing.assert_allclose(
            model.predict(make(Sequence)),
            kmodel.predict(make(keras.utils.PyDataset), verbose=0),
            atol=1e-6,
        )
    np.testing.assert_allclose(
        model.evaluate(generator(xv, yv, 3), steps=2, verbose=0),
        kmodel.evaluate(generator(xv, yv, 3), steps=2, verbose=0),
        atol=1e-5,
    )


def test_unsupported_sources_are_refused_by_name():
    torch = pytest.importorskip("torch")
    from engram.nn.utils import Sequence

    x, y = data(8)
    model = Sequential([Dense(2, activation="softmax", input_shape=(3,))], seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    loader = torch.utils.data.DataLoader(list(zip(x, y, strict=True)), batch_size=4)
    with pytest.raises(TypeError, match=r"x is a torch DataLoader .*NumPy arrays, an engram"):
        model.fit(loader, verbose=0)
    with pytest.raises(TypeError, match=r"validation_data is a torch DataLoader"):
        model.fit(x, y, validation_data=loader, verbose=0)
    with pytest.raises(ValueError, match=r"When x is a generator, y must not be passed"):
        model.fit(generator(x, y, 4), y, verbose=0)
    with pytest.raises(ValueError, match=r"class_weight is not supported for Python generator"):
        model.fit(generator(x, y, 4), class_weight={0: 1.0}, verbose=0, shuffle=False)
    with pytest.raises(ValueError, match=r"validation_split is only supported for arrays"):
        model.fit(generator(x, y, 4), validation_split=0.5, verbose=0)
    with pytest.raises(ValueError, match=r"x yielded a batch without targets"):
        model.fit((b[0] for b in generator(x, y, 4)), verbose=0, shuffle=False)
    with pytest.raises(ValueError, match=r"steps_per_epoch must be > 0"):
        model.fit(x, y, steps_per_epoch=0, verbose=0)

    class Empty(Sequence):
        def __len__(self):
            return 0

    with pytest.raises(ValueError, match=r"at least one batch"):
        model.fit(Empty(), verbose=0)


def test_a_model_without_input_shape_builds_from_the_first_batch_of_a_source():
    from engram.nn.utils import Sequence

    x, y = data(12)
    for make in (lambda: generator(x, y, 4), lambda: batches_class(Sequence)(x, y, 4)):
        model = Sequential([Dense(2, activation="softmax")], seed=0)
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a generator runs dry, as in Keras
            history = model.fit(make(), shuffle=False, verbose=0)
        assert model.input_shape == (None, 3)
        assert len(history.history["loss"]) == 1 and model.optimizer.iterations == 3


def test_a_keras_pydataset_is_refused_by_name():
    keras = import_keras()
    model = Sequential([Dense(2, activation="softmax", input_shape=(3,))], seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = data(8)
    with pytest.raises(TypeError, match=r"x is a Keras PyDataset .*engram.nn.utils.Sequence"):
        model.fit(batches_class(keras.utils.PyDataset)(x, y, 4), verbose=0)
    assert model.predict(keras.ops.convert_to_tensor(x)).shape == (8, 2)  # tensors are arrays


def test_lambda_callback_takes_any_hook_as_keras_does():
    keras = import_keras()
    kmodel, model = pair(keras)
    x, y = data(8)
    traces = []
    for m, lib in ((kmodel, keras.callbacks), (model, callbacks)):
        events = []
        cb = lib.LambdaCallback(
            on_batch_end=lambda batch, logs, e=events: e.append(("batch", batch, sorted(logs))),
            on_test_begin=lambda logs, e=events: e.append(("test", sorted(logs))),
            on_predict_batch_end=lambda batch, logs, e=events: e.append(("predict", batch)),
        )
        m.fit(x, y, batch_size=4, verbose=0, validation_data=(x, y), callbacks=[cb])
        m.predict(x, batch_size=4, verbose=0, callbacks=[cb])
        traces.append(events)
    assert traces[1] == traces[0]
    with pytest.raises(ValueError, match=r"'on_epoch_ends', which is not a callback hook"):
        callbacks.LambdaCallback(on_epoch_ends=print)


def test_arrays_with_steps_per_epoch_match_keras():
    keras = import_keras()
    kmodel, model = pair(keras)
    x, y = data(12)
    # 3 batches a pass, 2 per epoch: epochs go on through the pass as in Keras
    with pytest.warns(UserWarning, match="ran out of data"):
        theirs, ours = fit_both(kmodel, model, x, y, epochs=3, steps_per_epoch=2)
    assert_same_training(kmodel, model, theirs, ours)
    # no batch_size: ceil(n / steps_per_epoch) samples a batch
    theirs, ours = fit_both(kmodel, model, x, y, epochs=1, steps_per_epoch=3, batch_size=None)
    assert_same_training(kmodel, model, theirs, ours)
    assert model._fit_iterator is None  # the training data is not kept after fit
    with pytest.raises(ValueError, match=r"shuffle='batch' .* is not supported"):
        model.fit(x, y, shuffle="batch", verbose=0)
