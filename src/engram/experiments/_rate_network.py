"""Shared by the motor experiments (flip-flop, motor-reach): a rate network with a readout.

Both train ``Sequential([RateRNN(units), Dense(n_outputs)])`` on fresh task batches with
`engram.motor.fit_task` and Adam with a global gradient-norm clip of 1.0 (as MotorNet does), from
the same config keys: ``units``, ``dt``, ``tau``, ``noise_std``, ``recurrent_gain``, ``seed``,
``learning_rate``, ``batch_size``, ``train_steps`` and ``verbose``. (A module whose name starts
with ``_`` is not loaded as an experiment.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.motor import RateRNN, fit_task
from engram.nn import Sequential
from engram.nn.layers import Dense
from engram.nn.optimizers import Adam

__all__ = ["readout", "train_rate_network"]


def train_rate_network(
    config: dict[str, Any],
    task: Any,
    *,
    desc: str,
    rate_l2: float = 0.0,
    weight_l2: float = 0.0,
) -> tuple[Sequential, dict[str, np.ndarray]]:
    """RateRNN + Dense readout sized for ``task``, trained on ``task.sample`` batches.

    Args:
        config: the experiment's config (the keys above).
        task: anything with ``n_steps``, ``n_inputs``, ``n_outputs`` and ``sample(batch_size)``
            (`ReachTask`, `FlipFlopTask`).
        desc: the progress bar's label.
        rate_l2, weight_l2: the L2 penalties of `engram.motor.train_step`.

    Returns:
        ``(model, history)``, history as `fit_task` returns it.
    """
    rnn = RateRNN(
        config["units"],
        dt=config["dt"],
        tau=config["tau"],
        noise_std=config["noise_std"],
        recurrent_gain=config["recurrent_gain"],
        input_shape=(task.n_steps, task.n_inputs),
    )
    model = Sequential([rnn, Dense(task.n_outputs)], seed=config["seed"])
    optimizer = Adam(learning_rate=config["learning_rate"], global_clipnorm=1.0)
    history = fit_task(
        model,
        lambda _: task.sample(config["batch_size"]),
        config["train_steps"],
        optimizer,
        rate_l2=rate_l2,
        weight_l2=weight_l2,
        verbose=config["verbose"],
        desc=desc,
    )
    return model, history


def readout(model: Sequential, rates: np.ndarray) -> np.ndarray:
    """The Dense readout of (..., units) rates, in float64."""
    dense = model.layers[1].params
    return rates @ dense["weights"].astype(np.float64) + dense["bias"]
