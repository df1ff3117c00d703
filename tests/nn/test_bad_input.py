"""Bad input at the public boundary: a clear ValueError/TypeError, raised before computing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from engram.nn import Sequential, activations, initializers, losses, optimizers
from engram.nn.layers import Dense, Flatten, layers


def mnist_mlp(compile_=True, loss="sparse_categorical_crossentropy"):
    m = Sequential(
        [Dense(16, activation="relu", input_dim=784), Dense(10, activation="softmax")], seed=0
    )
    if compile_:
        m.compile("adam", loss, metrics=["accuracy"])
    return m


X = np.random.default_rng(0).random((32, 784)).astype(np.float32)
Y = np.arange(32) % 10


def assert_untouched(m, before):
    for a, b in zip(m.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert m.optimizer is None or m.optimizer.iterations == 0


@pytest.fixture
def model():
    m = mnist_mlp()
    yield m
    # every failure below happens before any computation
    assert m.optimizer.iterations == 0 and not m.optimizer.slots


# ---------------------------------------------------------------------------- shapes
def test_images_into_dense_says_add_flatten(model):
    with pytest.raises(
        ValueError,
        match=r"Dense\(units=16\) layer '.*' was built for inputs with "
        r"784 features, shape \(None, 784\), but received shape "
        r"\(32, 28, 28\)\. Add a Flatten\(\) layer before it",
    ):
        model.fit(X.reshape(32, 28, 28), Y, verbose=0)
    with pytest.raises(ValueError, match="Add a Flatten"):
        model.predict(X.reshape(32, 28, 28))


def test_wrong_feature_count(model):
    with pytest.raises(
        ValueError,
        match=r"built for inputs with 784 features.*received shape "
        r"\(32, 100\)\. Reshape the data to \(None, 784\)",
    ):
        model.fit(X[:, :100], Y, verbose=0)
    with pytest.raises(ValueError, match=r"received shape \(784,\)"):
        model.evaluate(X[0], Y[:1], verbose=0)


def test_flatten_model_with_wrong_image_size():
    m = Sequential([Flatten(input_shape=(28, 28)), Dense(10)])
    with pytest.raises(
        ValueError,
        match=r"Flatten layer '.*' was built for inputs of shape "
        r"\(None, 28, 28\), but received shape \(4, 27, 28\)",
    ):
        m.predict(np.zeros((4, 27, 28)))


def test_deferred_model_on_images_without_flatten_gets_a_hint():
    m = Sequential([Dense(8, activation="relu"), Dense(10, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(
        ValueError,
        match=r"output \(None, 28, 10\).*add a Flatten\(\) "
        r"layer before the first Dense layer",
    ):
        m.fit(X.reshape(32, 28, 28), Y, verbose=0)


def test_x_and_y_lengths_must_match(model):
    with pytest.raises(
        ValueError,
        match=r"x and y must have the same number of samples\. Got 32 "
        r"in x \(shape \(32, 784\)\) and 31 in y",
    ):
        model.fit(X, Y[:31], verbose=0)
    with pytest.raises(ValueError, match="val_x and val_y must have the same number of samples"):
        model.fit(X, Y, validation_data=(X, Y[:5]), verbose=0)


def test_empty_data(model):
    with pytest.raises(ValueError, match=r"x is empty \(shape \(0, 784\)\)\. Pass at least one"):
        model.fit(np.zeros((0, 784)), np.zeros(0), verbose=0)
    with pytest.raises(ValueError, match=r"x is empty"):
        model.predict(np.zeros((0, 784)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_in_x(model, bad):
    x = X.copy()
    x[3, 5] = bad
    with pytest.raises(ValueError, match=r"x contains 1 NaN or Inf value\(s\)\. Remove or impute"):
        model.fit(x, Y, verbose=0)
    with pytest.raises(ValueError, match=r"x contains 1 NaN or Inf"):
        model.predict(x)


def test_nan_in_targets():
    m = Sequential([Dense(1, input_dim=2)])
    m.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"y contains 1 NaN or Inf value\(s\)"):
        m.fit(np.zeros((3, 2)), np.array([1.0, np.nan, 2.0]), verbose=0)


def test_values_too_large_for_float32_are_refused_without_warnings(model):
    x = X.astype(np.float64)
    x[0, 0] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            ValueError,
            match=r"x contains 1 NaN or Inf value\(s\) \(after "
            r"conversion to float32, whose range is",
        ):
            model.fit(x, Y, verbose=0)


@pytest.mark.parametrize(
    ("x", "dtype"),
    [(np.array([["a"] * 784] * 2), "<U1"), (np.array([[object()] * 784] * 2), "object")],
)
def test_string_and_object_inputs(model, x, dtype):
    with pytest.raises(
        TypeError,
        match=rf"x must be a numeric array \(int, bool or float\)\. Got "
        rf"dtype {dtype} instead",
    ):
        model.fit(x, Y[:2], verbose=0)


def test_ragged_input(model):
    with pytest.raises(ValueError, match="x must be a rectangular numeric array"):
        model.predict([[1.0, 2.0], [3.0]])


def test_string_labels(model):
    with pytest.raises(
        TypeError,
        match=r"y must be a numeric array.*labels given as strings "
        r"need encoding to integers",
    ):
        model.fit(X[:3], np.array(["cat", "dog", "cat"]), verbose=0)


# ---------------------------------------------------------------------------- labels
def test_labels_outside_the_classes(model):
    with pytest.raises(
        ValueError,
        match=r"y has labels outside \[0, 10\): found values from 0 to "
        r"10\. The model's output has 10 units",
    ):
        model.fit(X, np.arange(32) % 11, verbose=0)
    with pytest.raises(ValueError, match=r"found values from -1 to 9"):
        model.fit(X, np.r_[-1, Y[1:]], verbose=0)
    with pytest.raises(ValueError, match=r"val_y has labels outside \[0, 10\)"):
        model.fit(X, Y, validation_data=(X, Y + 5), verbose=0)


def test_fractional_labels(model):
    with pytest.raises(
        ValueError,
        match=r"y must hold integer class labels\. Got non-integer "
        r"values such as \[0\.5\]",
    ):
        model.fit(X, np.r_[0.5, Y[1:]], verbose=0)


def test_one_hot_labels_with_sparse_loss(model):
    with pytest.raises(
        ValueError,
        match=r"y must hold one integer class label per sample.*One-hot "
        r"labels need loss='categorical_crossentropy'",
    ):
        model.fit(X, np.eye(10)[Y], verbose=0)


def test_one_hot_width_must_equal_the_output_units():
    m = mnist_mlp(loss="categorical_crossentropy")
    with pytest.raises(
        ValueError,
        match=r"y must be one-hot with 10 columns \(one per output "
        r"unit\) for loss='categorical_crossentropy'\. Got shape "
        r"\(32, 9\) instead",
    ):
        m.fit(X, np.eye(9)[Y % 9], verbose=0)
    assert m.optimizer.iterations == 0


def test_regression_targets_must_match_the_output():
    m = Sequential([Dense(3, input_dim=2)])
    m.compile("sgd", "mse")
    with pytest.raises(
        ValueError,
        match=r"y has shape \(4, 2\), but the model's output has shape "
        r"\(None, 3\)",
    ):
        m.fit(np.zeros((4, 2)), np.zeros((4, 2)), verbose=0)


# ---------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("lookup", "name", "message"),
    [
        (layers.get, "Dnse", r"Unknown layer 'Dnse'\. Did you mean 'Dense'"),
        (
            losses.get,
            "sparse_categorical_crossentropi",
            r"Unknown loss 'sparse_categorical_crossentropi'\. Did you mean "
            r"'sparse_categorical_crossentropy'",
        ),
        (optimizers.get, "adma", r"Unknown optimizer 'adma'\. Did you mean 'adam'"),
        (activations.get, "sigmod", r"Unknown activation 'sigmod'\. Did you mean 'sigmoid'"),
        (
            initializers.get,
            "he_normall",
            r"Unknown initializer 'he_normall'\. Did you mean "
            r"'he_normal'",
        ),
    ],
)
def test_unknown_names_suggest_close_matches(lookup, name, message):
    with pytest.raises(ValueError, match=message + r".*Available: "):
        lookup(name)


def test_unknown_names_in_layers_and_compile():
    with pytest.raises(ValueError, match=r"Unknown activation 'rellu'\. Did you mean 'relu'"):
        Dense(3, activation="rellu")
    with pytest.raises(ValueError, match=r"Unknown initializer 'glorot'\. Did you mean"):
        Dense(3, kernel_initializer="glorot")
    m = mnist_mlp(compile_=False)
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamx'\. Did you mean 'adam'"):
        m.compile("adamx", "mse")  # ('adamw' is an optimizer now)
    with pytest.raises(ValueError, match=r"Unknown loss 'crossentropy'\. Did you mean"):
        m.compile("adam", "crossentropy")
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'\. Did you mean"):
        m.compile("adam", "mse", metrics=["acuracy"])
    with pytest.raises(ValueError, match=r"compile\(\) needs a loss"):
        m.compile("adam")


def test_layer_classes_not_instances():
    with pytest.raises(
        TypeError,
        match=r"Sequential\.add expects a Layer instance such as "
        r"Dense\(10\)\. Got type instead\. Call the class",
    ):
        Sequential([Dense])
    with pytest.raises(TypeError, match="Got str instead"):
        Sequential().add("Dense")


def test_duplicate_layer_names():
    with pytest.raises(ValueError, match="Layer names must be unique; 'a' is already used"):
        Sequential([Dense(2, name="a"), Dense(2, name="a")])


# ---------------------------------------------------------------------------- calls
@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch"])
def test_fit_and_evaluate_before_compile(method):
    m = mnist_mlp(compile_=False)
    before = m.get_weights()
    with pytest.raises(
        ValueError,
        match=rf"The model must be compiled before {method}\(\)\. Call "
        r"model\.compile\(optimizer='adam', loss=\.\.\.\) first",
    ):
        getattr(m, method)(X, Y)
    assert_untouched(m, before)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"batch_size": 0}, ValueError, "batch_size must be > 0. Got 0 instead."),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an int. Got float 2.5 instead."),
        ({"batch_size": "32"}, TypeError, "batch_size must be an int. Got str '32' instead."),
        ({"epochs": -1}, ValueError, "epochs must be >= 0. Got -1 instead."),
        ({"epochs": 1.5}, TypeError, "epochs must be an int. Got float 1.5 instead."),
        ({"validation_split": 1.0}, ValueError, r"validation_split must be in \[0, 1\)\. Got 1.0"),
        ({"validation_split": -0.1}, ValueError, r"validation_split must be in \[0, 1\)"),
        ({"validation_split": "0.1"}, TypeError, r"validation_split must be a number in \[0, 1\)"),
        ({"validation_data": X}, ValueError, r"validation_data must be a tuple \(x_val, y_val\)"),
        ({"verbose": "loud"}, ValueError, "verbose must be 'auto', 0, 1 or 2. Got 'loud' instead."),
        ({"callbacks": ["early"]}, TypeError, "callbacks must be Callback instances"),
        ({"callbacks": "early"}, TypeError, "callbacks must be a list of Callback instances"),
        # Keras 3.15.1: 2.5 is a TypeError; -5 runs epochs -5..0 (engram refuses it)
        ({"initial_epoch": 2.5}, TypeError, "initial_epoch must be an int. Got float 2.5"),
        ({"initial_epoch": -5}, ValueError, "initial_epoch must be >= 0. Got -5 instead."),
    ],
)
def test_bad_fit_arguments(model, kwargs, error, message):
    before = model.get_weights()
    with pytest.raises(error, match=message):
        model.fit(X, Y, **kwargs)
    assert_untouched(model, before)


def test_validation_split_that_leaves_no_training_samples(model):
    # Keras's split: floor(1 * (1 - 0.5)) = 0 training samples
    with pytest.raises(
        ValueError,
        match=r"validation_split=0\.5 leaves 0 training and 1 "
        r"validation samples out of 1\. Use a split",
    ):
        model.fit(X[:1], Y[:1], validation_split=0.5, verbose=0)


def test_missing_x_or_y(model):
    with pytest.raises(ValueError, match="x is required"):
        model.fit(y=Y, verbose=0)
    with pytest.raises(ValueError, match="y is required: pass the targets for x"):
        model.fit(X, verbose=0)


def test_predict_and_evaluate_arguments(model):
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        model.predict(X, batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        model.evaluate(X, Y, batch_size=-4)


def test_layer_and_optimizer_arguments():
    with pytest.raises(ValueError, match="units must be > 0. Got 0 instead."):
        Dense(0)
    with pytest.raises(TypeError, match="units must be an int. Got str '10' instead."):
        Dense("10")
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)\. Got 1.5 instead"):
        from engram.nn.layers import Dropout

        Dropout(1.5)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        optimizers.SGD(learning_rate=0)


def test_errors_are_value_or_type_errors():
    for call in (lambda: mnist_mlp().fit(X[:, :3], Y), lambda: losses.get("nope")):
        with pytest.raises((ValueError, TypeError)):
            call()


def test_one_callback_not_in_a_list_is_accepted_as_keras_does():
    from engram.nn.callbacks import LambdaCallback

    model = mnist_mlp()
    seen = []
    model.fit(X, Y, epochs=2, verbose=0, callbacks=LambdaCallback(lambda e, logs: seen.append(e)))
    assert seen == [0, 1]


# ---------------------------------------------------------------------- input_shape
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        # Keras 3.15.1 refuses (-2,), (2.5,) and 4 as well; it builds (0,) into a model that
        # only takes empty data, which engram refuses here
        ({"input_shape": (-2,)}, ValueError, r"input_shape must hold sizes >= 1 .* Got \(-2,\)"),
        ({"input_shape": (0,)}, ValueError, r"Got \(0,\): an axis of size 0 or less holds no"),
        ({"input_shape": (2.5,)}, TypeError, r"input_shape must hold ints .* with float 2\.5"),
        ({"input_shape": 4}, TypeError, r"Got int 4 instead\. Write input_shape=\(4,\)\."),
        ({"input_shape": "4"}, TypeError, r"input_shape must be a tuple of ints such as"),
        ({"input_shape": (True,)}, TypeError, "input_shape must hold ints"),
        ({"input_dim": 0}, ValueError, "input_dim must be > 0. Got 0 instead."),
        ({"input_dim": 2.5}, TypeError, "input_dim must be an int. Got float 2.5"),
        ({"batch_input_shape": (None, -1)}, ValueError, "batch_input_shape must hold sizes >= 1"),
    ],
)
def test_bad_input_shapes_are_refused_when_the_layer_is_made(kwargs, error, message):
    with pytest.raises(error, match=message):
        Dense(2, **kwargs)


def test_none_marks_a_free_size_in_input_shape():
    from engram.nn.layers import SimpleRNN

    model = Sequential([SimpleRNN(3, input_shape=(None, 2))], seed=0)
    assert model.input_shape == (None, None, 2)
    assert Dense(2, input_shape=[4]).declared_input_shape == (4,)


# ------------------------------------------------------------------- masked arrays
def test_masked_arrays_are_refused_not_silently_unmasked(model):
    # Keras 3.15.1 uses the hidden values under the mask (a NaN there gives NaN outputs)
    masked = np.ma.masked_array(X, mask=np.zeros(X.shape, bool))
    masked.mask[0, 0] = True
    before = model.get_weights()
    with pytest.raises(TypeError, match=r"x is a NumPy masked array.*x\.filled\(value\)"):
        model.fit(masked, Y, verbose=0)
    with pytest.raises(TypeError, match="y is a NumPy masked array"):
        model.fit(X, np.ma.masked_array(Y), verbose=0)
    with pytest.raises(TypeError, match="x is a NumPy masked array"):
        model.predict(masked)
    assert_untouched(model, before)


# --------------------------------------------------------------------- set_weights
@pytest.mark.parametrize(
    ("weights", "error", "message"),
    [
        (lambda w: dict(enumerate(w)), TypeError, r"set_weights expects a list of arrays .* "
         r"Got dict instead\. A dict has no order"),
        (lambda w: iter(w), TypeError, r"Got list_iterator instead\. Pass list\(\.\.\.\)"),
        (lambda w: w[0], TypeError, r"Got ndarray instead\. Wrap a single array in a list"),
        (lambda w: [np.full_like(w[0], np.nan), *w[1:]], ValueError,
         r"weight 'weights' holds 12544 NaN or Inf value\(s\)\. Weights must be finite"),
        (lambda w: [*w[:3], w[3].astype(np.complex128)], TypeError,
         r"weight 'bias' must hold real numbers\. Got dtype complex128 instead\. .*np\.real"),
        (lambda w: [*w[:3], np.full(10, 1e300)], ValueError,
         r"holds 10 NaN or Inf value\(s\) after conversion to float32\. .*3\.4e\+38"),
        (lambda w: [*w[:3], np.array(["a"] * 10)], TypeError, "must hold real numbers"),
        (lambda w: w[:3], ValueError, "set_weights expects 4 arrays"),
        (lambda w: [*w[:3], np.ma.masked_array(w[3])], TypeError, "'bias' is a masked array"),
    ],
)  # fmt: skip
def test_bad_set_weights_change_nothing(weights, error, message):
    # Keras 3.15.1 stores NaN, the real part of complex values and 1e300 as inf
    model = mnist_mlp()
    before = model.get_weights()
    good = [w + 1 for w in before]
    with pytest.raises(error, match=message):
        model.set_weights(weights(good))
    assert_untouched(model, before)  # every array is checked before any layer changes
    with pytest.raises(TypeError, match=r"Layer 'dense.*set_weights expects a list"):
        model.layers[0].set_weights({"weights": good[0]})


def test_set_weights_copies_the_arrays():
    model = mnist_mlp()
    weights = [w + 1 for w in model.get_weights()]
    model.set_weights(tuple(weights))
    weights[0][...] = 0  # the caller's arrays stay the caller's
    assert model.get_weights()[0].min() > 0


# --------------------------------------------------------------------------- Embedding
def test_embedding_refuses_fractional_indices_instead_of_rounding():
    from engram.nn.layers import Embedding

    # Keras 3.15.1 truncates 4.99 to token 4; engram rounded it to 5 and called 5 the bad one
    model = Sequential([Embedding(5, 2, input_shape=(2,))], seed=0)
    with pytest.raises(
        ValueError,
        match=r"received indices that are not whole numbers, such as \[4\.9899"
        r".*pass an int array, or round the data first",
    ):
        model.predict(np.array([[4.99, 0.0]]))
    with pytest.raises(ValueError, match=r"not whole numbers, such as \[1\.5\]"):
        model.predict(np.array([[1.5, 0.0]]))
    table = model.layers[0].params["embeddings"]
    np.testing.assert_array_equal(model.predict(np.array([[4.0, 1.0]]))[0], table[[4, 1]])
    np.testing.assert_array_equal(model.predict(np.array([[3.0000002, 0.0]]))[0], table[[3, 0]])


# ------------------------------------------------------------------------------- losses
def test_categorical_crossentropy_refuses_negative_targets():
    # Keras 3.15.1 returns a negative loss (-0.49 for [-1, 2] against [0.3, 0.7])
    m = Sequential([Dense(2, activation="softmax", input_dim=3)], seed=0)
    m.compile("adam", "categorical_crossentropy")
    y = np.array([[-1.0, 2.0]] * 4)
    message = (
        r"y holds negative values \(down to -1\.0\), and "
        r"loss='categorical_crossentropy' needs one-hot or probability rows"
    )
    with pytest.raises(ValueError, match=message):
        m.fit(np.ones((4, 3)), y, verbose=0)
    with pytest.raises(ValueError, match="holds negative values"):
        losses.get("categorical_crossentropy")(y, np.full((4, 2), 0.5))
    assert m.optimizer.iterations == 0
