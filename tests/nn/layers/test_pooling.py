import numpy as np
import pytest
import torch
import torch.nn.functional as tF

from engram.nn import conv_functional as C
from engram.nn.layers import AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D
from tests.helpers import check_layer


def nchw(fn):
    """Run a PyTorch NCHW pooling function on NHWC tensors."""
    return lambda p, x: fn(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def distinct_input(shape, seed=0):
    """Values with no ties, so the max is unique and finite differences stay on one side."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01).astype(np.float32)


@pytest.mark.parametrize(
    ("kwargs", "torch_kwargs"),
    [
        ({}, {"kernel_size": 2}),
        ({"pool_size": 3, "strides": 2}, {"kernel_size": 3, "stride": 2}),
        ({"pool_size": (2, 3), "strides": (1, 2)}, {"kernel_size": (2, 3), "stride": (1, 2)}),
    ],
    ids=["2x2", "3x3-stride2-overlapping", "2x3-stride1x2"],
)
def test_max_pooling_harness(kwargs, torch_kwargs, tmp_path):
    x = distinct_input((2, 7, 8, 3))
    fn = nchw(lambda t: tF.max_pool2d(t, **torch_kwargs))
    check_layer(MaxPooling2D, kwargs, x.shape, fn, x=x, tmp_path=tmp_path)


def test_max_pooling_same_padding_harness(tmp_path):
    x = distinct_input((2, 5, 7, 2), seed=1)
    layer = check_layer(MaxPooling2D, {"padding": "same"}, x.shape, x=x, tmp_path=tmp_path)
    np.testing.assert_array_equal(
        layer.forward(x), C.max_pool2d_reference(x, (2, 2), (2, 2), "same")
    )


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(
    ("pool", "strides"), [((2, 2), (2, 2)), ((3, 3), (1, 1)), ((3, 2), (2, 3))]
)
def test_fast_pooling_matches_reference_loops(pool, strides, padding):
    x = np.random.default_rng(2).standard_normal((2, 7, 9, 3)).astype(np.float32)
    y, _ = C.max_pool2d(x, pool, strides, padding)
    np.testing.assert_array_equal(y, C.max_pool2d_reference(x, pool, strides, padding))
    avg = C.avg_pool2d(x, pool, strides, padding)
    np.testing.assert_allclose(avg, C.avg_pool2d_reference(x, pool, strides, padding), atol=1e-6)


def test_max_pooling_ties_go_to_the_first_maximum_like_torch():
    x = np.zeros((1, 4, 4, 2), dtype=np.float32)
    x[0, 1, 1, 0] = x[0, 0, 1, 0] = 1.0  # a tie inside the first window
    layer = MaxPooling2D()
    y = layer(x)
    grad = layer.backward(np.ones_like(y))
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
    tF.max_pool2d(xt, 2).sum().backward()
    np.testing.assert_array_equal(grad, xt.grad.permute(0, 2, 3, 1).numpy())


def test_max_pooling_drops_the_odd_row_and_column_and_routes_no_gradient_there():
    x = distinct_input((1, 11, 11, 2))
    layer = MaxPooling2D()
    y = layer.forward(x, training=True)
    assert y.shape == (1, 5, 5, 2)
    grad = layer.backward(np.ones_like(y))
    assert not grad[:, 10].any() and not grad[:, :, 10].any()
    assert grad.sum() == y.size


@pytest.mark.parametrize(
    ("kwargs", "torch_kwargs"),
    [({}, {"kernel_size": 2}), ({"pool_size": 3, "strides": 1}, {"kernel_size": 3, "stride": 1})],
    ids=["2x2", "3x3-stride1"],
)
def test_average_pooling_harness(kwargs, torch_kwargs, tmp_path):
    fn = nchw(lambda t: tF.avg_pool2d(t, **torch_kwargs))
    check_layer(AveragePooling2D, kwargs, (2, 6, 7, 3), fn, tmp_path=tmp_path)


def test_average_pooling_same_padding_counts_only_real_pixels(tmp_path):
    # symmetric padding here, so PyTorch's count_include_pad=False is the same rule as Keras's
    fn = nchw(lambda t: tF.avg_pool2d(t, 3, stride=1, padding=1, count_include_pad=False))
    kwargs = {"pool_size": 3, "strides": 1, "padding": "same"}
    check_layer(AveragePooling2D, kwargs, (2, 5, 6, 2), fn, tmp_path=tmp_path)
    layer = AveragePooling2D(padding="same")
    y = layer(np.ones((1, 3, 3, 1), dtype=np.float32))
    np.testing.assert_array_equal(y, np.ones((1, 2, 2, 1)))


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling_harness(keepdims, tmp_path):
    def fn(p, x):
        return x.mean(dim=(1, 2), keepdim=keepdims)

    check_layer(GlobalAveragePooling2D, {"keepdims": keepdims}, (3, 4, 5, 2), fn, tmp_path=tmp_path)


def test_strides_default_to_pool_size_and_config_round_trips():
    layer = MaxPooling2D(pool_size=3)
    assert layer.strides == (3, 3)
    assert MaxPooling2D.from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize("cls", [MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D])
def test_pooling_missing_channel_axis_says_add_it(cls):
    layer = cls()
    with pytest.raises(ValueError, match=r"Add the channel axis: x = x\[\.\.\., None\]"):
        layer.build((28, 28), np.random.default_rng(0))


def test_pool_larger_than_input():
    with pytest.raises(ValueError, match=r"pool_size \(4, 4\) is larger than its input images"):
        MaxPooling2D(4).build((3, 3, 2), np.random.default_rng(0))


@pytest.mark.parametrize("strides", [0, (2, -1)])
def test_pooling_non_positive_strides(strides):
    with pytest.raises(ValueError, match="strides must be a positive int"):
        MaxPooling2D(2, strides=strides)
