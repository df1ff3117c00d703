"""engram -> .keras -> engram: training resumes where it stopped (no Keras needed)."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Sequential
from engram.nn.layers import Dense
from engram.nn.models import load_model

pytest.importorskip("h5py")


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_training_resumes_through_an_engram_written_keras_file(tmp_path, opt):
    """Shuffling and dropout continue where they were: 2 epochs == 1, save, load, 1 more; bit
    for bit with SGD's momentum, to float32 rounding with Adam (whose state engram keeps as
    m / (1 - beta_1) and the file as Keras's m)."""
    from engram.nn import optimizers
    from engram.nn.layers import Dropout

    def make():
        m = Sequential([Dense(8, activation="relu", input_dim=4), Dropout(0.3), Dense(2)], seed=3)
        m.compile(optimizers.Adam(0.01) if opt == "adam" else optimizers.SGD(0.05, 0.9), "mse")
        return m

    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = rng.standard_normal((40, 2)).astype(np.float32)
    straight = make()
    straight.fit(x, y, batch_size=8, epochs=2, verbose=0)
    first = make()
    first.fit(x, y, batch_size=8, epochs=1, verbose=0)
    first.save(tmp_path / "m.keras")
    resumed = load_model(tmp_path / "m.keras")
    resumed.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, atol=0 if opt == "sgd" else 1e-6, rtol=0)
    no_rng = load_model(tmp_path / "m.keras")  # the check could fail: other dropout masks
    no_rng.rng = np.random.default_rng(123)
    no_rng.fit(x, y, batch_size=8, epochs=1, verbose=0)
    pairs = zip(straight.get_weights(), no_rng.get_weights(), strict=True)
    gaps = [np.abs(a - b).max() for a, b in pairs]
    assert max(gaps) > 1e-4
