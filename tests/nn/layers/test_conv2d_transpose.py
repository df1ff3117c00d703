"""Conv2DTranspose against finite differences, PyTorch, Keras 3.15.1, .keras files and exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

from engram.nn import layers as L
from tests.helpers import check_layer
from tests.nn.keras_reference import check_against_keras, import_keras
from tests.nn.layers.files_and_exports import built_model, check_exports, check_keras_files
from tests.nn.layers.keras_parity import check_layer_against_keras

ACTIVATIONS = {None: lambda z: z, "relu": torch.relu, "tanh": torch.tanh}


def torch_conv_transpose(kwargs):
    """PyTorch's conv_transpose2d over the full image, then the layer's window of it (as
    engram's `crop_plan` says; Keras's own crop is checked separately against Keras)."""

    def fn(p, x):
        layer = L.Conv2DTranspose(**kwargs)
        (oh, ow), (top, left), (fh, fw) = layer.crop_plan(tuple(x.shape[1:3]))
        full = tF.conv_transpose2d(
            x.permute(0, 3, 1, 2),
            p["kernel"].permute(3, 2, 0, 1),
            stride=layer.strides,
            dilation=layer.dilation_rate,
        )
        z = tF.pad(full, (-left, left + ow - fw, -top, top + oh - fh))
        if "bias" in p:  # after the window: zeros past the full image get the bias too
            z = z + p["bias"][:, None, None]
        return ACTIVATIONS[kwargs.get("activation")](z.permute(0, 2, 3, 1))

    return fn


CASES = [
    {"filters": 3, "kernel_size": 3},
    {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"},
    {"filters": 2, "kernel_size": (2, 3), "strides": (3, 2), "output_padding": (1, 0)},
    {"filters": 3, "kernel_size": 2, "strides": 3},  # stride > kernel: zero rows, bias only
    {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same", "use_bias": False},
    {"filters": 2, "kernel_size": 4, "strides": 2, "padding": "same", "output_padding": 1,
     "activation": "tanh"},
]  # fmt: skip
IDS = ["valid", "same-stride2-relu", "output-padding", "stride-over-kernel", "dilated", "same-op"]


@pytest.mark.parametrize("kwargs", CASES, ids=IDS)
def test_conv2d_transpose_harness(kwargs, tmp_path):
    check_layer(
        L.Conv2DTranspose, kwargs, (2, 4, 3, 3), torch_conv_transpose(kwargs), tmp_path=tmp_path
    )


@pytest.mark.parametrize("kwargs", CASES, ids=IDS)
def test_conv2d_transpose_matches_keras(kwargs):
    keras = import_keras()
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 3)).astype(np.float32)
    theirs = keras.layers.Conv2DTranspose(**kwargs)
    ours = check_layer_against_keras(L.Conv2DTranspose(**kwargs), theirs, x)
    assert ours.params["kernel"].shape == (*ours.kernel_size, kwargs["filters"], 3)


def test_conv2d_transpose_is_the_adjoint_of_conv2d():
    """<conv(u), v> = <u, conv_transpose(v)> for the same kernel (stride 2, valid)."""
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((3, 3, 2, 4))  # Conv2D: (kh, kw, in=2, out=4)
    conv = L.Conv2D(4, 3, strides=2, use_bias=False, dtype="float64")
    conv.build((7, 7, 2), rng)
    conv.set_weights([kernel])
    up = L.Conv2DTranspose(2, 3, strides=2, use_bias=False, dtype="float64")
    up.build((3, 3, 4), rng)
    up.set_weights([kernel])  # transpose layout (kh, kw, out=2, in=4): the same array
    u, v = rng.standard_normal((1, 7, 7, 2)), rng.standard_normal((1, 3, 3, 4))
    assert np.vdot(conv.forward(u), v) == pytest.approx(np.vdot(u, up.forward(v)), rel=1e-12)


def autoencoder(lib, layers):
    """The functional API guide's autoencoder (encoder and decoder), shrunk to 16x16 images."""
    encoder_input = lib.Input(shape=(16, 16, 1), name="img")
    x = layers.Conv2D(4, 3, activation="relu", name="c1")(encoder_input)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Conv2D(4, 3, activation="relu", name="c2")(x)
    encoder_output = layers.GlobalMaxPooling2D(name="gmp")(x)
    x = layers.Reshape((2, 2, 1), name="reshape")(encoder_output)
    x = layers.Conv2DTranspose(4, 3, activation="relu", name="t1")(x)
    x = layers.Conv2DTranspose(2, 3, strides=2, padding="same", name="t2")(x)
    x = layers.UpSampling2D(2, name="up")(x)
    decoder_output = layers.Conv2DTranspose(1, 3, padding="same", name="t3")(x)
    return lib.Model(encoder_input, decoder_output, name="autoencoder")


def test_autoencoder_matches_keras_summary_predict_and_one_epoch():
    keras = import_keras()
    import engram.nn as en

    keras.utils.set_random_seed(0)
    kmodel, model = autoencoder(keras, keras.layers), autoencoder(en, L)
    x = np.random.default_rng(4).random((12, 16, 16, 1)).astype(np.float32)
    check_against_keras(model, kmodel, x, x, loss="mse", batch_size=4)


def test_conv2d_transpose_keras_files_both_ways(tmp_path):
    check_keras_files(
        lambda K: [
            K.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
            K.Conv2DTranspose(2, (2, 3), strides=(3, 2), output_padding=(1, 0)),
            K.Conv2DTranspose(2, 3, dilation_rate=2, use_bias=False),
        ],
        (4, 3, 2),
        tmp_path,
    )


def test_conv2d_transpose_exports(tmp_path):
    shape = (4, 3, 2)
    model = built_model(
        [
            L.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
            L.Conv2DTranspose(2, (2, 3), strides=(3, 2), output_padding=(1, 0)),
            L.Conv2DTranspose(3, 2, strides=3, activation="tanh"),
            L.Conv2DTranspose(2, 3, dilation_rate=2, padding="same", use_bias=False),
        ],
        shape,
    )
    x = np.random.default_rng(5).standard_normal((3, *shape)).astype(np.float32)
    check_exports(model, x, tmp_path)


def test_conv2d_transpose_refusals_name_the_problem():
    with pytest.raises(ValueError, match=r"output_padding must be strictly less than strides"):
        L.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match=r"strides > 1 together with dilation_rate > 1"):
        L.Conv2DTranspose(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"data_format must be 'channels_last'"):
        L.Conv2DTranspose(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match=r"padding must be 'valid' or 'same'"):
        L.Conv2DTranspose(2, 3, padding="full")
    with pytest.raises(TypeError, match=r"'groups', a Keras layer argument"):
        L.Conv2DTranspose(2, 3, groups=2)
    with pytest.raises(ValueError, match=r"Add the channel axis"):
        L.Conv2DTranspose(2, 3).build((4, 4), np.random.default_rng(0))


def test_keras_file_with_channels_first_is_refused(tmp_path):
    keras = import_keras()
    pytest.importorskip("h5py")
    from engram.nn import ModelFileError
    from engram.nn.models import load_model

    layer = keras.layers.Conv2DTranspose(2, 3, data_format="channels_first")
    keras.Sequential([keras.Input((2, 4, 4)), layer]).save(tmp_path / "k.keras")
    with pytest.raises(ModelFileError, match=r"data_format='channels_first'"):
        load_model(tmp_path / "k.keras")
