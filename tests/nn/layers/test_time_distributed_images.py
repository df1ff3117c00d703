"""TimeDistributed around image layers (Conv2D, pooling, Flatten, Conv2DTranspose), as video
models use it: Keras 3.15.1's summary rows, outputs and one epoch, .keras files both ways and
the exports."""

from __future__ import annotations

import numpy as np

import engram.nn as en
from engram.nn import layers as L
from tests.nn.keras_reference import check_against_keras, import_keras
from tests.nn.layers.files_and_exports import check_keras_files, check_layers_export


def video_model(lib, layers):
    return lib.Sequential(
        [
            lib.Input((3, 6, 6, 2)),
            layers.TimeDistributed(layers.Conv2D(3, 3, activation="relu"), name="td_conv"),
            layers.TimeDistributed(layers.MaxPooling2D(2), name="td_pool"),
            layers.TimeDistributed(layers.Flatten(), name="td_flat"),
            layers.LSTM(4, name="lstm"),
            layers.Dense(2, name="out"),
        ]
    )


def test_video_model_matches_keras_summary_predict_and_one_epoch():
    keras = import_keras()
    keras.utils.set_random_seed(0)
    kmodel, model = video_model(keras, keras.layers), video_model(en, L)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 6, 6, 2)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    check_against_keras(model, kmodel, x, y, loss="mse", batch_size=4)


def frames(K):
    return [
        K.TimeDistributed(K.Conv2DTranspose(2, 3, strides=2, padding="same")),
        K.TimeDistributed(K.Conv2D(3, 2)),
        K.TimeDistributed(K.Flatten()),
        K.TimeDistributed(K.Dense(2)),
    ]


def test_time_distributed_image_layers_in_keras_files_both_ways(tmp_path):
    check_keras_files(frames, (3, 4, 4, 2), tmp_path)


def test_time_distributed_image_layers_export(tmp_path):
    check_layers_export(frames, (3, 4, 4, 2), tmp_path, batch=2)
