"""Custom layers as the guide "Making new layers and models via subclassing" writes them.

Each layer class is written once, as a function of the module it subclasses (``keras`` or
``engram.nn``), and compared with Keras 3.15.1 itself: parameter counts, summary rows, weights
order, predict with Keras's weights copied in (1e-5), evaluate, and one training epoch without
shuffling (1e-4) through `check_against_keras`.
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


def guide_layers(module: Any) -> dict[str, type]:
    """The guide's layers, subclassing ``module.layers.Layer`` and written with ``module.ops``."""
    ops, Layer = module.ops, module.layers.Layer

    class Linear(Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1], self.units),
                initializer="random_normal",
                trainable=True,
                name="w",
            )
            self.b = self.add_weight(
                shape=(self.units,), initializer="zeros", trainable=True, name="b"
            )

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    class ComputeSum(Layer):
        def __init__(self, input_dim, **kwargs):
            super().__init__(**kwargs)
            self.total = self.add_weight(
                initializer="zeros", shape=(input_dim,), trainable=False, name="total"
            )

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return self.total

    class MLPBlock(Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.linear_1 = Linear(32, name="linear_a")
            self.linear_2 = Linear(32, name="linear_b")
            self.linear_3 = Linear(1, name="linear_c")

        def call(self, inputs):
            x = self.linear_1(inputs)
            x = ops.relu(x)
            x = self.linear_2(x)
            x = ops.relu(x)
            return self.linear_3(x)

    class ActivityRegularizationLayer(Layer):
        def __init__(self, rate=1e-2, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * ops.sum(inputs))
            return inputs

    class ScaledWhenTraining(Layer):
        """The ``training`` argument: a different function in training and inference."""

        def call(self, inputs, training=None):
            if training:
                return inputs * 0.5
            return inputs

    class GatedDense(Layer):
        """A built-in layer held inside, a non-trainable weight, tanh/sigmoid/softmax ops."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.dense = module.layers.Dense(units, name="inner_dense")
            self.units = units

        def build(self, input_shape):
            self.gate = self.add_weight(shape=(self.units,), initializer="ones", name="gate")
            self.scale = self.add_weight(
                shape=(), initializer="ones", trainable=False, name="scale"
            )

        def call(self, inputs):
            h = ops.tanh(self.dense(inputs))
            return ops.softmax(h * ops.sigmoid(self.gate) * self.scale)

    return {
        "Linear": Linear,
        "ComputeSum": ComputeSum,
        "MLPBlock": MLPBlock,
        "ActivityRegularizationLayer": ActivityRegularizationLayer,
        "ScaledWhenTraining": ScaledWhenTraining,
        "GatedDense": GatedDense,
    }


def sequential_linear(module: Any) -> Any:
    L = guide_layers(module)
    return module.Sequential(
        [module.Input(shape=(6,)), L["Linear"](8, name="linear"), module.layers.Dense(3, name="d")],
        name="sequential",
    )


def functional_mlp_block(module: Any) -> Any:
    L = guide_layers(module)
    inputs = module.Input(shape=(5,), name="input")
    x = L["ActivityRegularizationLayer"](name="act_reg")(inputs)
    outputs = L["MLPBlock"](name="mlp_block")(x)
    return module.Model(inputs, outputs, name="functional")


def functional_gated(module: Any) -> Any:
    L = guide_layers(module)
    inputs = module.Input(shape=(5,), name="input")
    x = L["ScaledWhenTraining"](name="scaled")(inputs)
    outputs = L["GatedDense"](4, name="gated")(x)
    return module.Model(inputs, outputs, name="functional")


def subclassed_linear(module: Any) -> Any:
    L = guide_layers(module)

    class TwoLinear(module.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first = L["Linear"](8, name="first")
            self.second = L["Linear"](2, name="second")

        def call(self, inputs):
            return self.second(self.first(inputs))

    model = TwoLinear(name="two_linear")
    model(np.zeros((1, 6), "float32"))
    return model


@pytest.mark.parametrize(
    ("build", "shapes", "loss"),
    [
        (sequential_linear, ((6,), (3,)), "mse"),
        (functional_mlp_block, ((5,), (1,)), "mse"),
        (functional_gated, ((5,), (4,)), "categorical_crossentropy"),
    ],
    ids=["sequential_linear", "functional_mlp_block_add_loss", "functional_training_gated"],
)
def test_custom_layers_match_keras_with_its_weights(keras, build, shapes, loss):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, *shapes[0])).astype("float32")
    y = rng.random((24, *shapes[1])).astype("float32")
    if loss == "categorical_crossentropy":
        y = np.eye(shapes[1][0], dtype="float32")[rng.integers(0, shapes[1][0], 24)]
    keras.utils.set_random_seed(0)
    kmodel = build(keras)
    model = build(engram.nn)
    assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in kmodel.get_weights()]
    check_against_keras(model, kmodel, x, y, loss=loss)


def test_add_loss_is_part_of_the_loss_as_in_keras(keras):
    """The activity penalty of ActivityRegularizationLayer is in evaluate's loss and in
    model.losses after a forward pass, with Keras's value."""
    x = np.random.default_rng(1).normal(size=(8, 5)).astype("float32")
    y = np.zeros((8, 1), "float32")
    kmodel, model = functional_mlp_block(keras), functional_mlp_block(engram.nn)
    model.set_weights(kmodel.get_weights())
    for m in (kmodel, model):
        m.compile(optimizer="sgd", loss="mse")
    penalty = 1e-2 * x[:8].sum()
    ours = model.evaluate(x, y, batch_size=8, verbose=0)
    theirs = float(kmodel.evaluate(x, y, batch_size=8, verbose=0))
    assert ours == pytest.approx(theirs, rel=1e-5)
    plain = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
    assert ours == pytest.approx(plain + penalty, rel=1e-5)  # the penalty is really in it


def test_training_argument_reaches_call(keras):
    layer = guide_layers(engram.nn)["ScaledWhenTraining"]()
    x = np.ones((2, 3), np.float32)
    assert layer(x, training=True).tolist() == (x * 0.5).tolist()
    assert layer(x).tolist() == x.tolist()


def test_nested_layers_weights_in_keras_order(keras):
    blocks = [guide_layers(m)["MLPBlock"]() for m in (keras, engram.nn)]
    x = np.ones((3, 64), np.float32)
    for block in blocks:
        block(x)
    kweights, weights = blocks[0].get_weights(), blocks[1].get_weights()
    assert [w.shape for w in weights] == [tuple(w.shape) for w in kweights]
    assert blocks[1].count_params() == blocks[0].count_params() == 64 * 32 + 32 + 32 * 32 + 32 + 33
    blocks[1].set_weights(kweights)
    np.testing.assert_allclose(
        blocks[1](x), keras.ops.convert_to_numpy(blocks[0](x)), rtol=1e-5, atol=1e-6
    )


def test_non_trainable_weight_updated_by_assign(keras):
    for module in (keras, engram.nn):
        my_sum = guide_layers(module)["ComputeSum"](2)
        x = np.ones((2, 2), np.float32)
        assert np.asarray(module.ops.convert_to_numpy(my_sum(x))).tolist() == [2.0, 2.0]
        assert np.asarray(module.ops.convert_to_numpy(my_sum(x))).tolist() == [4.0, 4.0]
        assert len(my_sum.get_weights()) == 1
    layer = guide_layers(engram.nn)["GatedDense"](3)
    layer(np.ones((2, 4), np.float32))
    # Keras's order: own trainable, own non-trainable, then the held layers' weights
    assert [w.shape for w in layer.get_weights()] == [(3,), (), (4, 3), (3,)]
    assert sorted(layer.params) == ["gate"]
    assert set(layer.state_arrays()) == {"scale"}


def test_gradients_reach_custom_weights_and_inputs():
    """float64 finite differences through a model of custom layers (the tape's backward)."""
    model = functional_gated(engram.nn)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5))
    y = np.eye(4)[rng.integers(0, 4, 6)]
    report = engram.nn.gradcheck(model, x, y)
    assert report.passed, report
    assert {"gated/gate", "inner_dense/weights", "inner_dense/bias"} <= set(report.errors)


def test_subclassed_model_of_custom_layers_matches_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6)).astype("float32")
    y = rng.random((16, 2)).astype("float32")
    kmodel, model = subclassed_linear(keras), subclassed_linear(engram.nn)
    assert model.count_params() == kmodel.count_params() == 6 * 8 + 8 + 8 * 2 + 2
    check_against_keras(model, kmodel, x, y, loss="mse")  # summary rows: "?" shapes, as Keras


def test_compute_output_shape_written_by_the_user_is_used():
    ops, Layer = engram.nn.ops, engram.nn.layers.Layer

    class Pairs(Layer):
        def call(self, inputs):
            return ops.reshape(inputs, (-1, inputs.shape[1] // 2, 2))

        def compute_output_shape(self, input_shape):
            return (input_shape[0], input_shape[1] // 2, 2)

    out = Pairs()(engram.nn.Input(shape=(6,)))
    assert out.shape == (None, 3, 2)


def test_an_output_without_the_batch_axis_is_refused():
    inputs = engram.nn.Input(shape=(2,))
    with pytest.raises(ValueError, match="ComputeSum.call.*batch axis first"):
        guide_layers(engram.nn)["ComputeSum"](2)(inputs)


def test_saving_a_model_with_a_custom_layer_names_the_class(tmp_path):
    model = sequential_linear(engram.nn)
    for path in ("m.keras", "m.engram"):
        with pytest.raises(NotImplementedError, match="Linear"):
            model.save(str(tmp_path / path))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("target", ["to_onnx", "to_torch"])
def test_exporting_a_model_with_a_custom_layer_names_the_class(tmp_path, target):
    pytest.importorskip("torch" if target == "to_torch" else "onnx")
    from engram.nn import export

    model = sequential_linear(engram.nn)
    args = (str(tmp_path / "m.onnx"),) if target == "to_onnx" else ()
    with pytest.raises((NotImplementedError, TypeError, ValueError), match="Linear"):
        getattr(export, target)(model, *args)
    assert not list(tmp_path.iterdir())


def test_weights_files_of_a_model_with_custom_layers_are_refused(tmp_path):
    model = functional_gated(engram.nn)
    for path in ("w.weights.h5", "w.engram"):
        with pytest.raises(NotImplementedError, match="custom layer ScaledWhenTraining"):
            model.save_weights(str(tmp_path / path))
    assert not list(tmp_path.iterdir())


def _summary_counts(model: Any) -> tuple[int, int]:
    import re

    lines: list[str] = []
    model.summary(print_fn=lambda text, **kw: lines.append(str(text)))
    text = "\n".join(lines)
    keys = ("(?<!Non-)Trainable", "Non-trainable")
    found = [re.search(rf"{k} params:\s*([\d,]+)", text) for k in keys]
    assert all(found), text
    return tuple(int(f.group(1).replace(",", "")) for f in found)  # type: ignore[union-attr]


def test_freezing_a_custom_layer_freezes_the_layers_it_holds(keras):
    x = np.ones((4, 5), np.float32)
    y = np.zeros((4, 1), np.float32)
    counts = []
    for module in (keras, engram.nn):
        model = functional_mlp_block(module)
        assert _summary_counts(model) == (1281, 0)
        model.get_layer("mlp_block").trainable = False
        before = [np.asarray(w) for w in model.get_weights()]
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, epochs=1, verbose=0)
        for a, b in zip(before, model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, np.asarray(b))
        counts.append(_summary_counts(model))
    assert counts[1] == counts[0] == (0, 1281)


def test_weights_made_in_init_and_keras_s_weights_lists(keras):
    """The guide's first Linear (weights in __init__), and its weights / trainable_weights /
    non_trainable_weights prints."""

    def program(module: Any) -> dict[str, Any]:
        class Linear(module.layers.Layer):
            def __init__(self, units=32, input_dim=32):
                super().__init__()
                self.w = self.add_weight(
                    shape=(input_dim, units), initializer="random_normal", trainable=True
                )
                self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

            def call(self, inputs):
                return module.ops.matmul(inputs, self.w) + self.b

        linear_layer = Linear(4, 2)
        y = linear_layer(np.ones((2, 2), np.float32))
        assert linear_layer.weights == [linear_layer.w, linear_layer.b]
        my_sum = guide_layers(module)["ComputeSum"](2)
        block = guide_layers(module)["MLPBlock"]()
        block(np.ones((3, 64), np.float32))
        return {
            "y": np.asarray(module.ops.convert_to_numpy(y)),
            "w": np.asarray(module.ops.convert_to_numpy(linear_layer.w)),
            "counts": [
                (len(layer.weights), len(layer.trainable_weights), len(layer.non_trainable_weights))
                for layer in (linear_layer, my_sum, block)
            ],
        }

    k, e = program(keras), program(engram.nn)
    assert e["counts"] == k["counts"] == [(2, 2, 0), (1, 0, 1), (6, 6, 0)]
    np.testing.assert_allclose(e["y"], np.ones((2, 2)) @ e["w"], rtol=1e-6)
    assert e["y"].shape == k["y"].shape == (2, 4)
    assert 0.01 < e["w"].std() < 0.1  # random_normal: stddev 0.05, as Keras draws it


def test_layers_built_on_data_draw_different_weights_reproducibly():
    make = guide_layers(engram.nn)["Linear"]
    x = np.ones((2, 3), np.float32)
    first, second, again = make(4, name="one"), make(4, name="two"), make(4, name="one")
    for layer in (first, second, again):
        layer(x)
    assert not np.array_equal(first.get_weights()[0], second.get_weights()[0])
    np.testing.assert_array_equal(first.get_weights()[0], again.get_weights()[0])


def test_add_weight_before_super_init_says_what_to_do():
    class Early(engram.nn.layers.Layer):
        def __init__(self):
            self.w = self.add_weight(shape=3)
            super().__init__()

        def call(self, inputs):
            return inputs * self.w

    with pytest.raises(RuntimeError, match=r"super\(\).__init__"):
        Early()


def test_backup_and_restore_of_a_model_with_a_custom_layer_is_refused(tmp_path):
    model = sequential_linear(engram.nn)
    model.compile(optimizer="sgd", loss="mse")
    backup = engram.nn.callbacks.BackupAndRestore(str(tmp_path / "b"))
    with pytest.raises(NotImplementedError, match="BackupAndRestore.*custom layer Linear"):
        model.fit(np.ones((4, 6)), np.ones((4, 3)), callbacks=[backup], verbose=0)
