"""Sequential: Keras's API and behaviour, learning, seeds, the fused loss path, PyTorch parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import engram.nn
from engram.nn import Input, Sequential, optimizers, set_random_seed
from engram.nn import functional as F
from engram.nn import sequential as sequential_module
from engram.nn.layers import Activation, Dense, Dropout, Flatten


def moons(n=300, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(
        label[:, None] == 0,
        np.c_[np.cos(t), np.sin(t)],
        np.c_[1 - np.cos(t), 0.5 - np.sin(t)],
    )
    return x + noise * rng.standard_normal((n, 2)), label


def mlp(seed=0, hidden=16, out=2, activation="softmax", input_dim=2):
    return Sequential(
        [Dense(hidden, activation="relu", input_dim=input_dim), Dense(out, activation=activation)],
        seed=seed,
    )


# ---------------------------------------------------------------------------- construction
def test_list_add_input_dim_input_shape_and_input_give_the_same_model():
    a = Sequential([Dense(128, activation="relu", input_dim=784), Dense(10)])
    b = Sequential()
    b.add(Dense(128, activation="relu", input_shape=(784,)))
    b.add(Dense(10))
    c = Sequential([Input(shape=(784,)), Dense(128, activation="relu"), Dense(10)])
    for m in (a, b, c):
        assert m.built and m.input_shape == (None, 784) and m.output_shape == (None, 10)
        assert m.count_params() == 784 * 128 + 128 + 128 * 10 + 10 == 101_770


def test_count_params_by_hand():
    m = Sequential([Dense(10, input_dim=784), Dense(10), Dense(10)])
    assert m.count_params() == (784 * 10 + 10) + (10 * 10 + 10) + (10 * 10 + 10) == 8_070
    conv_free = Sequential([Flatten(input_shape=(28, 28)), Dense(32, use_bias=False), Dense(3)])
    assert conv_free.count_params() == 784 * 32 + 32 * 3 + 3


def test_summary_lists_layers_shapes_and_keras_counts():
    m = Sequential(
        [
            Input(shape=(784,)),
            Dense(128, activation="relu", name="hidden"),
            Dropout(0.2),
            Dense(10, name="out"),
        ],
        name="mnist_mlp",
    )
    lines: list[str] = []
    m.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "mnist_mlp"' in text
    assert "InputLayer" not in text  # Keras does not list the input
    assert any("hidden (Dense)" in ln and "(None, 128)" in ln and "100,480" in ln for ln in lines)
    assert any(
        "(Dropout)" in ln and "(None, 128)" in ln and ln.rstrip().endswith(" 0") for ln in lines
    )
    assert any("out (Dense)" in ln and "(None, 10)" in ln and "1,290" in ln for ln in lines)
    assert "Total params: 101,770" in text
    assert "Trainable params: 101,770" in text and "Non-trainable params: 0" in text


def test_frozen_layers_count_as_non_trainable():
    m = Sequential([Dense(4, input_dim=3, trainable=False), Dense(2)])
    lines: list[str] = []
    m.summary(print_fn=lines.append)
    assert " Trainable params: 10 (40.00 B)" in lines
    assert " Non-trainable params: 16 (64.00 B)" in lines


def test_deferred_build_from_data():
    m = Sequential([Dense(8, activation="relu"), Dense(3, activation="softmax")], seed=0)
    assert not m.built
    lines: list[str] = []
    m.summary(print_fn=lines.append)  # as Keras: the layers listed as unbuilt
    assert any("0 (unbuilt)" in line for line in lines)
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(np.ones((10, 5)), np.zeros(10, dtype=int), epochs=1, verbose=0)
    assert m.built and m.input_shape == (None, 5) and m.count_params() == 5 * 8 + 8 + 8 * 3 + 3
    fresh = Sequential([Dense(2)])
    assert fresh.predict(np.ones((4, 3))).shape == (4, 2)
    built = Sequential([Dense(2)])
    built.build((None, 7))
    assert built.get_weights()[0].shape == (7, 2)


def test_get_and_set_weights_use_keras_order_and_shapes():
    m = Sequential([Dense(5, input_dim=3), Dropout(0.5), Dense(2, use_bias=False)], seed=0)
    shapes = [w.shape for w in m.get_weights()]
    assert shapes == [(3, 5), (5,), (5, 2)]
    new = [np.full(s, i, dtype=np.float64) for i, s in enumerate(shapes)]
    m.set_weights(new)
    got = m.get_weights()
    for a, b in zip(got, new, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    got[0][:] = 99  # copies: changing them does not change the model
    assert m.get_weights()[0][0, 0] == 0
    x = np.ones((1, 3), dtype=np.float32)
    np.testing.assert_allclose(m.predict(x), (x @ new[0] + new[1]) @ new[2])


def test_set_weights_refuses_wrong_counts_and_shapes():
    m = Sequential([Dense(5, input_dim=3)])
    with pytest.raises(ValueError, match=r"set_weights expects 2 arrays.*received 1"):
        m.set_weights([np.zeros((3, 5))])
    with pytest.raises(
        ValueError,
        match=r"weight 'weights' has shape \(3, 5\), but received "
        r"shape \(5, 3\)",
    ):
        m.set_weights([np.zeros((5, 3)), np.zeros(5)])


# ---------------------------------------------------------------------------- fit / evaluate
def test_fit_returns_history_with_keras_keys():
    x, y = moons(100)
    m = mlp()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = m.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2] and m.history is history


def test_validation_split_takes_the_last_fraction_like_keras(monkeypatch):
    seen = {}
    original = Sequential._test_batch

    def spy(self, xs, ys, sws, totals):
        seen["x"] = xs[0].copy()  # the arrays of the model's (one) input
        return original(self, xs, ys, sws, totals)

    monkeypatch.setattr(Sequential, "_test_batch", spy)
    x = np.arange(10, dtype=np.float32)[:, None]
    m = Sequential([Dense(1)], seed=0)
    m.compile("sgd", "mse")
    # Keras: split_at = floor(10 * (1 - 0.25)) = 7, so 3 validation samples (not int(2.5) = 2)
    m.fit(x, x, epochs=1, validation_split=0.25, verbose=0)
    np.testing.assert_array_equal(seen["x"][:, 0], [7, 8, 9])


def test_validation_data_is_used_and_reported():
    x, y = moons(120)
    m = mlp()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x[:100], y[:100], validation_data=(x[100:], y[100:]), epochs=2, verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(m.evaluate(x[100:], y[100:], verbose=0)[0])


def test_evaluate_returns_a_scalar_without_metrics_and_a_list_with():
    x, y = moons(64)
    m = mlp()
    m.compile("adam", "sparse_categorical_crossentropy")
    loss = m.evaluate(x, y, verbose=0)
    assert isinstance(loss, float)
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss2, acc = m.evaluate(x, y, verbose=0)
    assert loss2 == pytest.approx(loss) and 0 <= acc <= 1
    assert m.evaluate(x, y, verbose=0, return_dict=True) == {"loss": loss2, "accuracy": acc}


def test_evaluate_is_exact_whatever_the_batch_size():
    x, y = moons(50)
    m = mlp()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    full = m.evaluate(x, y, batch_size=50, verbose=0)
    np.testing.assert_allclose(m.evaluate(x, y, batch_size=7, verbose=0), full, rtol=1e-6)
    probs = m.predict(x)
    expected = -np.mean(np.log(probs[np.arange(50), y]))
    assert full[0] == pytest.approx(expected, rel=1e-5)
    assert full[1] == pytest.approx(np.mean(probs.argmax(1) == y))


def test_predict_batches_give_the_same_outputs():
    x, _ = moons(100)
    m = mlp()
    out = m.predict(x, batch_size=100)
    np.testing.assert_allclose(m.predict(x, batch_size=7), out, rtol=1e-6, atol=1e-7)
    assert out.shape == (100, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(m(x), out, rtol=1e-6, atol=1e-7)


def test_integer_float64_list_inputs_and_label_vectors_are_accepted():
    x, y = moons(64)
    m = mlp(out=1, activation="sigmoid")
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    m.fit(x.astype(np.float64), y, epochs=1, verbose=0)  # float64 x, (n,) int labels
    m.fit((x * 10).astype(np.int64), y.astype(np.float64)[:, None], epochs=1, verbose=0)
    m.fit(x.tolist(), y.tolist(), epochs=1, verbose=0)
    assert m.get_weights()[0].dtype == np.float32
    m2 = mlp(out=3)
    m2.compile("adam", "categorical_crossentropy")
    m2.fit(x, engram.nn.utils.to_categorical(np.arange(64) % 3), epochs=1, verbose=0)
    m3 = Sequential([Dense(1, input_dim=2)])
    m3.compile("sgd", "mse", metrics=["mae"])
    h = m3.fit(x, y, epochs=1, verbose=0)  # (n,) targets for a one-unit regression output
    assert set(h.history) == {"loss", "mae"}


@pytest.mark.parametrize(
    ("loss", "out", "activation"),
    [
        ("sparse_categorical_crossentropy", 2, "softmax"),
        ("categorical_crossentropy", 2, "softmax"),
        ("binary_crossentropy", 1, "sigmoid"),
    ],
)
def test_training_learns_two_moons(loss, out, activation):
    x, y = moons(400, seed=1)
    target = np.eye(2)[y] if loss == "categorical_crossentropy" else y
    m = mlp(seed=0, hidden=32, out=out, activation=activation)
    m.compile(optimizer=optimizers.Adam(learning_rate=0.02), loss=loss, metrics=["accuracy"])
    h = m.fit(x, target, epochs=40, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.3 * h.history["loss"][0]
    assert m.evaluate(x, target, verbose=0)[1] > 0.95


def test_training_solves_xor_with_full_batch_adam():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    m = Sequential(
        [Dense(8, activation="tanh", input_dim=2), Dense(1, activation="sigmoid")], seed=3
    )
    m.compile(optimizer=optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=300, batch_size=4, verbose=0)
    np.testing.assert_array_equal((m.predict(x)[:, 0] > 0.5).astype(int), y)


def test_regression_learns_with_mse():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (256, 1))
    y = np.sin(3 * x)
    m = Sequential([Dense(32, activation="tanh", input_dim=1), Dense(1)], seed=0)
    m.compile(optimizer=optimizers.Adam(0.01), loss="mse")
    h = m.fit(x, y, epochs=60, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.02


def test_train_on_batch_takes_one_step_and_reports_the_loss_before_it():
    x, y = moons(32)
    m = mlp()
    m.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = m.evaluate(x, y, verbose=0)
    weights = m.get_weights()
    result = m.train_on_batch(x, y)
    np.testing.assert_allclose(result, before, rtol=1e-6)
    assert not np.array_equal(weights[0], m.get_weights()[0])
    assert m.optimizer.iterations == 1
    m.compile("sgd", "sparse_categorical_crossentropy")
    assert isinstance(m.train_on_batch(x, y), float)


def test_backward_stops_at_the_first_trainable_layer(monkeypatch):
    from engram.nn.layers import Flatten as FlattenLayer

    def no_backward(self, grad_y):
        raise AssertionError("Flatten.backward ran: nothing below the first Dense learns")

    monkeypatch.setattr(FlattenLayer, "backward", no_backward)
    x = np.random.default_rng(0).standard_normal((16, 3, 4)).astype(np.float32)
    y = np.arange(16) % 2
    m = Sequential([Flatten(input_shape=(3, 4)), Dense(5, activation="relu"), Dense(2)], seed=0)
    m.compile("sgd", "mse")
    m.fit(x, np.eye(2)[y], epochs=2, batch_size=8, verbose=0)
    first = m.layers[1]
    assert first.needs_input_grad  # restored after each step
    first.forward(x.reshape(16, 12))
    assert first.backward(np.ones((16, 5), np.float32)).shape == (16, 12)


def test_frozen_layers_are_not_updated_and_the_rest_learns():
    x, y = moons(64)
    m = Sequential(
        [Dense(8, activation="relu", input_dim=2, trainable=False), Dense(2, activation="softmax")],
        seed=0,
    )
    m.compile("adam", "sparse_categorical_crossentropy")
    before = m.get_weights()
    m.fit(x, y, epochs=2, verbose=0)
    after = m.get_weights()
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert not np.array_equal(before[2], after[2])
    m.layers[0].trainable = True  # unfreezing: now the first layer learns too
    m.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(after[0], m.get_weights()[0])
    # freezing again after training (the optimizer repacks without it): it stays put
    m.layers[0].trainable = False
    frozen, head = m.get_weights()[:2], m.get_weights()[2]
    m.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(frozen, m.get_weights()[:2], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(head, m.get_weights()[2])


# --------------------------------------------------------------------------------- seeds
def fit_once(seed, dropout=0.3, shuffle=True):
    x, y = moons(200)
    m = Sequential(
        [
            Dense(16, activation="relu", input_dim=2),
            Dropout(dropout),
            Dense(2, activation="softmax"),
        ],
        seed=seed,
    )
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=3, batch_size=16, validation_split=0.1, shuffle=shuffle, verbose=0)
    return m.get_weights(), h.history


def test_same_seed_same_result_bit_for_bit():
    w1, h1 = fit_once(7)
    w2, h2 = fit_once(7)
    for a, b in zip(w1, w2, strict=True):
        np.testing.assert_array_equal(a, b)
    assert h1 == h2


def test_metrics_do_not_change_training():
    # with no metric the fused path skips the last activation; the weights must not notice
    x, y = moons(200)

    def weights_after(metrics):
        m = Sequential([Dense(8, activation="relu", input_dim=2), Dense(2, "softmax")], seed=3)
        m.compile("adam", "sparse_categorical_crossentropy", metrics=metrics)
        history = m.fit(x, y, epochs=2, batch_size=16, verbose=0).history
        return m.get_weights(), history

    (plain, h_plain), (measured, h_measured) = weights_after(None), weights_after(["accuracy"])
    for a, b in zip(plain, measured, strict=True):
        np.testing.assert_array_equal(a, b)
    assert h_plain["loss"] == h_measured["loss"] and "accuracy" in h_measured


def test_different_seeds_differ():
    w1, h1 = fit_once(1)
    w2, h2 = fit_once(2)
    assert not np.array_equal(w1[0], w2[0]) and h1 != h2


def test_set_random_seed_sets_the_default_seed_of_new_models():
    try:
        set_random_seed(11)
        w1, h1 = fit_once(None)
        engram.nn.utils.set_random_seed(11)
        w2, h2 = fit_once(None)
    finally:
        set_random_seed(None)
    np.testing.assert_array_equal(w1[0], w2[0])
    assert h1 == h2
    with pytest.raises(ValueError, match="seed must be a non-negative int. Got -1 instead."):
        set_random_seed(-1)


def test_dropout_is_active_only_in_training():
    x = np.ones((200, 50), dtype=np.float32)
    m = Sequential([Dropout(0.5, input_shape=(50,))], seed=0)
    np.testing.assert_array_equal(m.predict(x), x)
    np.testing.assert_array_equal(m(x), x)
    train = m(x, training=True)
    assert set(np.unique(train)) == {0.0, 2.0}
    assert abs((train == 0).mean() - 0.5) < 0.02
    m.compile("sgd", "mse")
    # evaluate runs in inference mode: the identity gives a zero loss
    assert m.evaluate(x, x, verbose=0) == 0.0


# ------------------------------------------------------------------------ fused loss path
def huge_logit_model(activation, units):
    m = Sequential([Dense(units, activation=activation, input_dim=2)], seed=0)
    w = np.zeros((2, units), np.float32)
    w[0, 0] = 1e4  # logit 1e4 for unit 0 (or the single sigmoid unit)
    m.set_weights([w, np.zeros(units, np.float32)])
    return m


@pytest.mark.parametrize(
    ("loss", "activation", "units", "y"),
    [
        ("sparse_categorical_crossentropy", "softmax", 3, np.array([1])),
        ("categorical_crossentropy", "softmax", 3, np.array([[0.0, 1.0, 0.0]])),
        ("binary_crossentropy", "sigmoid", 1, np.array([0.0])),
    ],
)
def test_fused_path_is_used_and_stable_on_huge_logits(loss, activation, units, y):
    m = huge_logit_model(activation, units)
    m.compile(optimizers.SGD(1.0), loss)
    assert m._fused()
    x = np.array([[1.0, 0.0]])
    # the exact cross-entropy is ~1e4; a clipped-probability path would report 16.1
    assert m.evaluate(x, y, verbose=0) == pytest.approx(1e4, rel=1e-4)
    before = m.get_weights()[0].copy()
    loss_value = m.train_on_batch(x, y)
    assert np.isfinite(loss_value)
    after = m.get_weights()[0]
    assert np.isfinite(after).all() and after[0, 0] < before[0, 0]  # the gradient is not zero


def test_fused_path_with_a_separate_activation_layer():
    m = Sequential([Dense(3, input_dim=2), Activation("softmax")], seed=0)
    m.compile("sgd", "sparse_categorical_crossentropy")
    assert m._fused()
    m.compile("sgd", "mse")
    assert not m._fused()
    m.compile("sgd", losses_from_logits())
    assert not m._fused()


def losses_from_logits():
    return engram.nn.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.mark.parametrize(
    ("loss", "activation", "units"),
    [
        ("sparse_categorical_crossentropy", "softmax", 4),
        ("categorical_crossentropy", "softmax", 4),
        ("binary_crossentropy", "sigmoid", 1),
    ],
)
def test_fused_gradient_equals_the_unfused_gradient(loss, activation, units, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    labels = rng.integers(0, units if units > 1 else 2, 16)
    y = np.eye(units)[labels] if loss == "categorical_crossentropy" else labels

    def grads(fused):
        m = Sequential(
            [Dense(6, activation="tanh", input_dim=5), Dense(units, activation=activation)], seed=0
        )
        m.compile(optimizers.SGD(1.0), loss)
        monkeypatch.setattr(m, "_fused", lambda: fused)
        before = m.get_weights()
        loss_value = m.train_on_batch(x, y)
        return loss_value, [b - a for a, b in zip(m.get_weights(), before, strict=True)]

    loss_f, g_f = grads(True)
    loss_u, g_u = grads(False)
    assert loss_f == pytest.approx(loss_u, rel=1e-5)
    for a, b in zip(g_f, g_u, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_model_gradcheck_passes_in_float64():
    x, y = moons(12)
    m = Sequential(
        [
            Dense(5, activation="tanh", input_dim=2),
            Dense(3, activation="elu"),
            Dense(2, activation="softmax"),
        ],
        seed=0,
    )
    m.compile("adam", "sparse_categorical_crossentropy")
    report = engram.nn.gradcheck(m, x, y)
    assert report.passed, str(report)
    assert m.get_weights()[0].dtype == np.float32  # the model itself is untouched


# -------------------------------------------------------------------- PyTorch parity
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "mse"])
def test_one_training_step_matches_torch(optimizer, loss):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 6)).astype(np.float32)
    labels = rng.integers(0, 3, 8)
    m = Sequential(
        [
            Dense(5, activation="relu", input_dim=6),
            Dense(4, activation="tanh"),
            Dense(3, activation="softmax" if loss != "mse" else None),
        ],
        seed=0,
    )
    y = labels if loss != "mse" else rng.standard_normal((8, 3)).astype(np.float32)
    if optimizer == "sgd":
        ours = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    else:
        ours = optimizers.Adam(learning_rate=0.01, epsilon=1e-7)
    m.compile(ours, loss)
    weights = m.get_weights()

    torch_layers = []
    for i in range(0, len(weights), 2):
        lin = torch.nn.Linear(*weights[i].shape)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(weights[i].T))
            lin.bias.copy_(torch.tensor(weights[i + 1]))
        torch_layers.append(lin)
    net = torch.nn.Sequential(
        torch_layers[0], torch.nn.ReLU(), torch_layers[1], torch.nn.Tanh(), torch_layers[2]
    )
    if optimizer == "sgd":
        theirs = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    else:  # Keras's epsilon at step 1 equals torch's epsilon times sqrt(1 - beta_2)
        theirs = torch.optim.Adam(net.parameters(), lr=0.01, eps=1e-7 / np.sqrt(1 - 0.999))
    out = net(torch.tensor(x))
    if loss == "mse":
        t_loss = torch.nn.functional.mse_loss(out, torch.tensor(y))
    else:
        t_loss = torch.nn.functional.cross_entropy(out, torch.tensor(labels))
    theirs.zero_grad()
    t_loss.backward()
    theirs.step()

    our_loss = m.train_on_batch(x, y)
    assert our_loss == pytest.approx(t_loss.item(), rel=1e-5)
    updated = m.get_weights()
    for i, lin in enumerate(torch_layers):
        np.testing.assert_allclose(updated[2 * i], lin.weight.detach().numpy().T, atol=1e-5)
        np.testing.assert_allclose(updated[2 * i + 1], lin.bias.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(
        m.predict(x),
        net(torch.tensor(x)).softmax(-1).detach().numpy()
        if loss != "mse"
        else net(torch.tensor(x)).detach().numpy(),
        atol=1e-5,
    )


# ------------------------------------------------------------------------ misc / config
def test_config_round_trip_rebuilds_the_same_model():
    m = Sequential(
        [Dense(4, activation="relu", input_dim=3), Dropout(0.1), Dense(2)], name="net", seed=5
    )
    clone = Sequential.from_config(m.get_config())
    assert clone.get_config() == m.get_config()
    clone.set_weights(m.get_weights())
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_array_equal(clone.predict(x), m.predict(x))


def test_float32_everywhere_in_training():
    x, y = moons(64)
    m = mlp()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x.astype(np.float64), y, epochs=1, verbose=0)
    for layer in m.layers:
        for key in layer.params:
            assert layer.params[key].dtype == np.float32
            assert layer.grads[key].dtype == np.float32
    for slots in m.optimizer.slots.values():
        assert all(v.dtype == np.float32 for v in slots.values())


def test_keras_import_paths():
    from engram.nn.models import Sequential as S2
    from engram.nn.models import load_model

    assert S2 is Sequential and load_model is engram.nn.load_model
    assert engram.nn.Sequential is sequential_module.Sequential
    assert engram.nn.layers.Dense is Dense and F.softmax is engram.nn.functional.softmax
