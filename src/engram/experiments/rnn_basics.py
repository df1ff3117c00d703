"""The recurrent forward pass written out, checked against SimpleRNN, and trained on a sine wave.

The articles describe a recurrent network as h_t = f(W_hh h_{t-1} + W_xh x_t + b_h),
y_t = g(W_hy h_t + b_y), but their code stops at shape errors. Here the same equations run with
every shape printed: a plain NumPy loop (`article_forward`, column-vector convention as in the
articles, applied to a batch) is compared with engram's ``SimpleRNN(return_sequences=True)`` +
``Dense`` holding the same weights, after that model has been trained by backpropagation through
time to predict the next value of sine waves of random period (`engram.data.sequences`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.data.sequences import sine_next_step
from engram.experiments._verdict import count, verdict
from engram.experiments.base import Experiment, Figure, Result, Table, epoch_progress, register
from engram.nn import Sequential
from engram.nn.layers import Dense, SimpleRNN
from engram.nn.optimizers import Adam


def article_forward(
    x: np.ndarray,
    w_xh: np.ndarray,
    w_hh: np.ndarray,
    b_h: np.ndarray,
    w_hy: np.ndarray,
    b_y: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The articles' recurrence, one step at a time, for a batch of sequences.

    Math (column vectors, as written in the articles; a batch is handled row by row):
        h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h)      h_0 = 0
        y_t = W_hy h_t + b_y                          (g = identity for regression)
    Shapes: x (batch, time, inputs), W_xh (hidden, inputs), W_hh (hidden, hidden),
    b_h (hidden,), W_hy (outputs, hidden), b_y (outputs,).

    Returns:
        (hidden states (batch, time, hidden), outputs (batch, time, outputs)).
    """
    batch, steps, _ = x.shape
    h = np.zeros((batch, w_hh.shape[0]), dtype=x.dtype)
    hs, ys = [], []
    for t in range(steps):
        # (W_hh h)^T = h^T W_hh^T: with h as rows, the products become h @ W_hh.T
        h = np.tanh(h @ w_hh.T + x[:, t] @ w_xh.T + b_h)
        hs.append(h)
        ys.append(h @ w_hy.T + b_y)
    return np.stack(hs, axis=1), np.stack(ys, axis=1)


def _shape(a: Any) -> str:
    return "(" + ", ".join(str(s) for s in np.shape(a)) + ")"


def run(config: dict[str, Any]) -> Result:
    seed, units, length = config["seed"], config["units"], config["length"]
    x, y = sine_next_step(config["samples"], length=length, noise=config["noise"], seed=seed)
    x_test, y_test = sine_next_step(256, length=length, noise=config["noise"], seed=seed + 1)
    model = Sequential(
        [SimpleRNN(units, return_sequences=True, input_shape=(length, 1)), Dense(1)], seed=seed
    )
    optimizer = Adam(learning_rate=config["learning_rate"], clipnorm=CLIPNORM)
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(
        x,
        y,
        epochs=config["epochs"],
        batch_size=32,
        verbose=0,
        validation_data=(x_test, y_test),
        callbacks=epoch_progress("rnn-basics", config["verbose"]),
    )
    rnn, dense = model.layers
    weights, recurrent, bias = rnn.get_weights()
    w_hy, b_y = dense.get_weights()
    params = {"W_xh": weights.T, "W_hh": recurrent.T, "b_h": bias, "W_hy": w_hy.T, "b_y": b_y}
    hidden, article_y = article_forward(x_test, *params.values())
    engram_y = model.predict(x_test)
    mismatch = float(np.max(np.abs(article_y - engram_y)))
    test_mse = float(np.mean((engram_y - y_test) ** 2))
    persistence_mse = float(np.mean((x_test - y_test) ** 2))  # predict "same as now"

    shapes = [
        ["x (a batch of sequences)", _shape(x_test), "(batch, time, inputs)"],
        ["x_t (one step)", _shape(x_test[:, 0]), "(batch, inputs)"],
        ["W_xh", _shape(params["W_xh"]), "(hidden, inputs) = SimpleRNN weights.T"],
        ["W_hh", _shape(params["W_hh"]), "(hidden, hidden) = recurrent_weights.T"],
        ["b_h", _shape(params["b_h"]), "(hidden,)"],
        ["h_t", _shape(hidden[:, 0]), "(batch, hidden)"],
        ["h (all steps)", _shape(hidden), "(batch, time, hidden)"],
        ["W_hy", _shape(params["W_hy"]), "(outputs, hidden) = Dense weights.T"],
        ["b_y", _shape(params["b_y"]), "(outputs,)"],
        ["y (all steps)", _shape(article_y), "(batch, time, outputs)"],
    ]
    steps = np.arange(length)
    example = 0
    order = np.argsort(np.argmax(np.abs(hidden[example]), axis=0))
    figures = [
        Figure(
            "loss",
            "Training by backpropagation through time",
            "lines",
            {
                "series": {
                    "train": {"y": history.history["loss"]},
                    "test": {"y": history.history["val_loss"]},
                },
                "hlines": {"predict the current value": persistence_mse},
                "xlabel": "epoch",
                "ylabel": "mean squared error",
                "logy": True,
            },
            "Next-step prediction error per epoch; the dashed line is the error of repeating the "
            "current input.",
        ),
        Figure(
            "prediction",
            "Next-step prediction of a test sine wave",
            "lines",
            {
                "series": {
                    "input x_t": {"x": steps, "y": x_test[example, :, 0], "style": ":"},
                    "target x_{t+1}": {"x": steps, "y": y_test[example, :, 0]},
                    "network y_t": {"x": steps, "y": engram_y[example, :, 0], "style": "--"},
                },
                "xlabel": "time step",
                "ylabel": "signal",
            },
            "Dotted: the input; solid: the next value to predict; dashed: the network's "
            "prediction.",
        ),
        Figure(
            "hidden_state",
            "Hidden state h_t over time",
            "heatmap",
            {
                "matrix": hidden[example][:, order].T,
                "xlabel": "time step",
                "ylabel": "hidden unit (sorted by peak time)",
                "cmap": "RdBu_r",
                "vmin": -1.0,
                "vmax": 1.0,
                "clabel": "h_t (tanh)",
                "annotate": False,
            },
            "Each row is one hidden unit through the test sequence above; W_hy reads the "
            "prediction from these values.",
        ),
    ]
    early = min(EARLY_STEPS, length - 1)
    errors = np.mean((engram_y - y_test) ** 2, axis=(0, 2))  # per time step
    text = _text(
        config,
        mismatch=mismatch,
        test_mse=test_mse,
        persistence_mse=persistence_mse,
        early=early,
        early_mse=float(errors[:early].mean()),
        late_mse=float(errors[early:].mean()),
    )
    return Result(
        metrics={
            "test_mse": test_mse,
            "persistence_mse": persistence_mse,
            "article_vs_engram_max_abs_diff": mismatch,
            "final_train_loss": float(history.history["loss"][-1]),
            "test_mse_first_steps": float(errors[:early].mean()),
            "test_mse_later_steps": float(errors[early:].mean()),
            "params": model.count_params(),
            "seed": seed,
        },
        figures=figures,
        tables=[
            Table("Shapes of the recurrent forward pass", ["array", "shape", "meaning"], shapes)
        ],
        text=text,
        arrays={"hidden": hidden, "predictions": engram_y},
        opening=_opening(mismatch, test_mse, persistence_mse),
        headline={
            "test_mse": "test error (MSE), next-step prediction",
            "persistence_mse": "error of repeating the current value",
            "article_vs_engram_max_abs_diff": "NumPy loop vs engram model, largest difference",
        },
    )


def _opening(mismatch: float, test_mse: float, persistence_mse: float) -> str:
    skill = verdict(
        test_mse < persistence_mse,
        "predicted the next value of sine waves it had not seen with {r:.0%} of the error of "
        "simply repeating the current value",
        "predicted the next value of sine waves it had not seen no better than simply "
        "repeating the current value ({r:.0%} of that error)",
        r=test_mse / persistence_mse,
    )
    loop = verdict(
        mismatch < FLOAT32_AGREEMENT,
        "The same recurrence written as a plain NumPy loop gives the model's outputs to "
        "float32 rounding.",
        "The same recurrence written as a plain NumPy loop does NOT give the model's outputs "
        "(largest difference {d:.1e}).",
        d=mismatch,
    )
    return f"A recurrent network trained by backpropagation through time {skill}. {loop}"


CLIPNORM = 1.0  # gradient-norm clipping for backpropagation through time
EARLY_STEPS = 5  # the first steps, before the network has seen much of a cycle
FLOAT32_AGREEMENT = 1e-5  # the NumPy loop and the model agree to float32 rounding


def _text(config: dict[str, Any], **m: float) -> str:
    loop = verdict(
        m["mismatch"] < FLOAT32_AGREEMENT,
        "With the weights of the trained engram model it reproduces the model's outputs to "
        "{d:.1e} (float32 rounding).",
        "With the weights of the trained engram model it **differs** from the model's outputs "
        "by up to {d:.1e}, more than float32 rounding.",
        d=m["mismatch"],
    )
    skill = verdict(
        m["test_mse"] < m["persistence_mse"],
        "predicts the next value of unseen sine waves with test MSE {a:.4f}, below the {b:.4f} "
        "of repeating the current value ({r:.2f} of it).",
        "predicts the next value of unseen sine waves with test MSE {a:.4f}, **no better than "
        "the {b:.4f} of repeating the current value**.",
        a=m["test_mse"],
        b=m["persistence_mse"],
        r=m["test_mse"] / m["persistence_mse"],
    )
    warmup = verdict(
        m["early_mse"] > m["late_mse"],
        "Its error over the first {k} steps ({e:.4f}) is higher than over the rest ({l:.4f}): "
        "consistent with needing part of a cycle to infer the period.",
        "Its error over the first {k} steps ({e:.4f}) is not higher than over the rest ({l:.4f}).",
        k=m["early"],
        e=m["early_mse"],
        l=m["late_mse"],
    )
    return (
        r"The recurrence $h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h)$, "
        r"$y_t = W_{hy} h_t + b_y$ is run "
        f"step by step in NumPy with the shapes in the table (batch rows: W h becomes h @ W.T). "
        f"{loop} Keras and engram store kernels as (in, out), the transposes of the articles' "
        "matrices.\n\n"
        f"Trained by backpropagation through time ({count(config['epochs'], 'epoch')}, Adam with "
        f"learning rate {config['learning_rate']:g} and clipnorm {CLIPNORM:g}, seed "
        f"{config['seed']}), the {config['units']}-unit network {skill} {warmup}"
    )


def cost(config: dict[str, Any]) -> dict[str, Any]:
    """The sequences and BPTT's cached states (float64), for the limits check."""
    n, steps, units = config["samples"] + 256, config["length"], config["units"]
    return {
        "memory_bytes": 8 * n * steps * (2 + 4 * units) + 8 * 4 * units * units,
        "detail": f"{n:,} sequences x {steps:,} steps x {units:,} units",
    }


EXPERIMENT = register(
    Experiment(
        name="rnn-basics",
        summary="The recurrent forward pass written out with every shape, trained by BPTT on a "
        "sine wave.",
        reference="Elman 1990, Cognitive Science 14:179; Werbos 1990, Proc IEEE 78:1550 (BPTT).",
        defaults={
            "seed": 0,
            "epochs": 40,
            "samples": 1024,
            "length": 40,
            "units": 16,
            "noise": 0.02,
            "learning_rate": 0.01,
        },
        quick={"epochs": 15, "samples": 384},
        run=run,
        limits={
            "samples": "[8, 10000000]",
            "length": "[2, 100000]",
            "units": "[1, 100000]",
            "noise": "[0, 10]",
            "learning_rate": "(0, inf)",
        },
        cost=cost,
    )
)
