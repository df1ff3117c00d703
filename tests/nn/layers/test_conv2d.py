import numpy as np
import pytest
import torch
import torch.nn.functional as tF

from engram.nn import Sequential
from engram.nn import conv_functional as C
from engram.nn.layers import Conv2D, Dense, Flatten
from tests.helpers import check_layer


def torch_conv(strides, padding, activation=None, use_bias=True):
    """The convolution in PyTorch: NHWC -> NCHW, kernel (kh, kw, in, out) -> (out, in, kh, kw)."""

    def fn(p, x):
        kernel = p["kernel"]
        kh, kw = kernel.shape[:2]
        xt = x.permute(0, 3, 1, 2)
        if padding == "same":  # TensorFlow's rule: the extra pixel goes after
            _, ((top, bottom), (left, right)) = C.spatial_plan(
                tuple(x.shape[1:3]), (kh, kw), strides, "same"
            )
            xt = tF.pad(xt, (left, right, top, bottom))
        bias = p["bias"] if use_bias else None
        y = tF.conv2d(xt, kernel.permute(3, 2, 0, 1), bias, stride=strides)
        if activation == "relu":
            y = torch.relu(y)
        return y.permute(0, 2, 3, 1)

    return fn


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filters": 3, "kernel_size": 3, "activation": "relu"},
        {"filters": 2, "kernel_size": (2, 3), "strides": 2, "padding": "same"},
        {"filters": 4, "kernel_size": 3, "strides": (2, 1), "padding": "same", "use_bias": False},
    ],
    ids=["valid-relu", "same-stride2", "same-nobias"],
)
def test_conv2d_harness(kwargs, tmp_path):
    strides = C.normalize_pair(kwargs.get("strides", 1), "strides")
    fn = torch_conv(
        strides,
        kwargs.get("padding", "valid"),
        kwargs.get("activation"),
        kwargs.get("use_bias", True),
    )
    check_layer(Conv2D, kwargs, (2, 7, 6, 2), fn, tmp_path=tmp_path)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (3, 2)])
def test_fast_conv_matches_reference_loops(padding, strides):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 8, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 4, 3, 5)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    fast = C.conv2d(x, kernel, bias, strides, padding)
    slow = C.conv2d_reference(x, kernel, bias, strides, padding)
    np.testing.assert_allclose(fast, slow, atol=1e-5)

    layer = Conv2D(5, (3, 4), strides=strides, padding=padding)
    layer.build(x.shape[1:], np.random.default_rng(0))
    layer.set_weights([kernel, bias])
    np.testing.assert_allclose(layer.forward(x, True), slow, atol=1e-5)
    grad_y = rng.standard_normal(slow.shape).astype(np.float32)
    grad_x = layer.backward(grad_y)
    ref_x, ref_kernel, ref_bias = C.conv2d_backward_reference(x, kernel, grad_y, strides, padding)
    np.testing.assert_allclose(grad_x, ref_x, atol=1e-4)
    np.testing.assert_allclose(layer.grads["kernel"], ref_kernel, atol=1e-4)
    np.testing.assert_allclose(layer.grads["bias"], ref_bias, atol=1e-4)


def test_im2col_and_col2im_are_adjoint():
    """<im2col(x), c> == <x, col2im(c)> for every x and c: col2im is im2col's transpose."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 7, 6, 3))
    cols = C.im2col(x, (3, 2), (2, 1))
    c = rng.standard_normal(cols.shape)
    back = C.col2im(c, x.shape, (3, 2), (2, 1))
    assert np.isclose(np.vdot(cols, c), np.vdot(x, back))


def test_same_padding_follows_tensorflow():
    assert C.output_size(28, 3, 1, "same") == (28, 1, 1)
    assert C.output_size(7, 2, 2, "same") == (4, 0, 1)  # odd total: the extra pixel after
    assert C.output_size(6, 3, 2, "same") == (3, 0, 1)
    assert C.output_size(28, 3, 1, "valid") == (26, 0, 0)


def test_conv2d_keras_kernel_layout_and_glorot_fans():
    layer = Conv2D(32, (3, 3))
    layer.build((28, 28, 1), np.random.default_rng(0))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 3, 1, 32) and bias.shape == (32,)
    limit = np.sqrt(6 / (9 * 1 + 9 * 32))
    assert limit * 0.9 < np.abs(kernel).max() <= limit
    assert layer.count_params() == 320


def test_conv2d_training_and_inference_outputs_agree():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 6, 2)).astype(np.float32)
    layer = Conv2D(3, 3, activation="relu")
    layer.build(x.shape[1:], rng)
    train = layer.forward(x, training=True).copy()
    infer = layer.forward(x, training=False)
    np.testing.assert_array_equal(train, infer)
    assert infer.dtype == np.float32 and layer.forward(x, training=False) is not infer


def test_conv2d_backward_twice_is_an_error():
    layer = Conv2D(2, 3)
    y = layer(np.ones((1, 4, 4, 1), dtype=np.float32))
    layer.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="backward\\(\\) needs a forward\\(\\) first"):
        layer.backward(np.ones_like(y))


# ----------------------------------------------------------------------------- bad input


def test_missing_channel_axis_says_add_it():
    model = Sequential([Conv2D(4, 3, input_shape=(28, 28, 1)), Flatten(), Dense(2)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.zeros((5, 28, 28), dtype=np.float32)
    with pytest.raises(
        ValueError, match=r"no channel axis\. Add the channel axis: x = x\[\.\.\., None\]"
    ):
        model.fit(x, np.zeros(5, dtype=int), verbose=0)
    with pytest.raises(ValueError, match=r"x.reshape\(-1, 28, 28, 1\)"):
        model.predict(x)


def test_input_shape_without_channels_says_add_it():
    with pytest.raises(ValueError, match=r"received shape \(None, 28, 28\) with no channel axis"):
        Sequential([Conv2D(4, 3, input_shape=(28, 28))])


def test_wrong_channel_count_is_named():
    layer = Conv2D(4, 3)
    layer.build((8, 8, 1), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"built for 1 channel\(s\) but received 3"):
        layer.check_input((2, 8, 8, 3))


def test_kernel_larger_than_input():
    with pytest.raises(ValueError, match=r"kernel_size \(5, 5\) is larger than its input images"):
        Conv2D(4, 5).build((3, 3, 1), np.random.default_rng(0))
    Conv2D(4, 5, padding="same").build((3, 3, 1), np.random.default_rng(0))  # fine


@pytest.mark.parametrize("strides", [0, -1, (1, 0), (2,), 1.5])
def test_non_positive_strides(strides):
    with pytest.raises(ValueError, match="strides must be a positive int or a pair of positive"):
        Conv2D(4, 3, strides=strides)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"padding": "full"}, "padding must be 'valid' or 'same'"),
        ({"data_format": "channels_first"}, "data_format must be 'channels_last'"),
        ({"dilation_rate": 2, "strides": 2}, "strides > 1 is not supported together with"),
        ({"dilation_rate": 0}, "dilation_rate must be a positive int"),
        ({"kernel_size": 0}, "kernel_size must be a positive int"),
    ],
)
def test_unsupported_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Conv2D(**{"filters": 4, "kernel_size": 3, **kwargs})


def test_filters_must_be_positive():
    with pytest.raises(ValueError, match="filters must be > 0"):
        Conv2D(0, 3)


def test_buffers_are_reused_but_held_outputs_are_never_overwritten():
    rng = np.random.default_rng(4)
    x1, x2 = rng.standard_normal((2, 3, 6, 6, 1)).astype(np.float32)
    layer = Conv2D(2, 3, activation="relu")
    y1 = layer(x1, training=True)
    kept = y1.copy()
    y2 = layer.forward(x2, training=True)  # y1 is still held: a new array
    np.testing.assert_array_equal(y1, kept)
    assert not np.shares_memory(y1, y2)
    address = y2.__array_interface__["data"][0]
    del y1, y2
    y3 = layer.forward(x1, training=True)  # nothing holds the last output: its buffer returns
    assert y3.__array_interface__["data"][0] == address
    np.testing.assert_array_equal(y3, kept)


@pytest.mark.parametrize("activation", ["elu", "tanh", "sigmoid", "softmax", "leaky_relu"])
def test_conv2d_backward_through_each_kind_of_activation(activation):
    """In place from the output (tanh, sigmoid, softmax) or from the kept z (elu, leaky_relu)."""
    from engram.nn import gradcheck

    layer = Conv2D(2, 3, activation=activation, bias_initializer="random_normal")
    layer.build((5, 5, 2), np.random.default_rng(0))
    report = gradcheck(layer, np.random.default_rng(1).standard_normal((2, 5, 5, 2)))
    assert report.passed, str(report)
