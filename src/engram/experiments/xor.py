"""XOR with a 2-2-1 sigmoid network: the article's program, run at its settings and a better one.

The article trains a 2-2-1 network (sigmoid hidden and output units) with binary cross-entropy and
Adam, batch size 1, for 1000 epochs. This experiment runs exactly that for many seeds, counts how
many seeds solve XOR (all four outputs on the right side of 0.5), then repeats it with larger
learning rates, and checks whether the runs at the article's rate are still on the ln 2 plateau.

Advice from a development run at the defaults (seeds 0-19, 1000 epochs): at the article's rate
0.001 no seed solved XOR, at 0.01 13 of 20 did and at 0.05 14 of 20. With Adam,
``epochs * 4 * learning_rate`` bounds how far a weight can move, so raise the rate or the epochs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.data.synthetic import xor
from engram.experiments._verdict import verdict
from engram.experiments.base import Experiment, Figure, Result, Table, progress, register
from engram.nn import Sequential
from engram.nn.layers import Dense
from engram.nn.optimizers import Adam

ARTICLE_LR = 0.001  # Adam's default, which the article's program uses
LN2 = float(np.log(2))
PLATEAU_TOLERANCE = 0.02  # a median final loss this close to ln 2 counts as still on the plateau


def on_plateau(loss: float) -> bool:
    """Whether a loss is still at ln 2, the loss of answering 0.5 for every input."""
    return abs(loss - LN2) <= PLATEAU_TOLERANCE


def train_one(seed: int, learning_rate: float, epochs: int) -> tuple[Sequential, list[float]]:
    """Train the article's 2-2-1 network once; returns the model and its loss per epoch."""
    x, y = xor()
    model = Sequential(
        [Dense(2, activation="sigmoid", input_dim=2), Dense(1, activation="sigmoid")], seed=seed
    )
    model.compile(
        optimizer=Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x, y, epochs=epochs, batch_size=1, verbose=0)
    return model, history.history["loss"]


def solves(model: Sequential) -> bool:
    """All four XOR outputs on the right side of 0.5."""
    return _solved(model.predict(xor()[0])[:, 0])


def _wrong(outputs: np.ndarray) -> np.ndarray:
    """How many of the four XOR patterns each row of outputs (..., 4) gets wrong."""
    return ((outputs > 0.5) != (xor()[1][:, 0] > 0.5)).sum(axis=-1)


def _solved(outputs: np.ndarray) -> bool:
    return bool(_wrong(outputs) == 0)


def _sweep(config: dict[str, Any], learning_rate: float) -> dict[str, Any]:
    """Train every seed at this rate; keeps the first seed's model for its decision surface."""
    losses, solved, outputs, first = [], [], [], None
    seeds = range(config["seed"], config["seed"] + config["n_seeds"])
    bar = progress(seeds, desc=f"XOR lr={learning_rate:g}", verbose=config["verbose"])
    for seed in bar:
        model, loss = train_one(seed, learning_rate, config["epochs"])
        first = first or model
        out = model.predict(xor()[0])[:, 0]
        losses.append(loss)
        solved.append(_solved(out))
        outputs.append(out)
    return {
        "losses": np.array(losses),
        "solved": np.array(solved),
        "outputs": np.array(outputs),
        "first_model": first,
    }


def _surface(model: Sequential) -> dict[str, Any]:
    """Decision surface of a trained network over [-0.5, 1.5]^2."""
    grid = np.linspace(-0.5, 1.5, 81, dtype=np.float32)
    xx, yy = np.meshgrid(grid, grid)
    zz = model.predict(np.c_[xx.ravel(), yy.ravel()], batch_size=1024).reshape(xx.shape)
    x, y = xor()
    return {"xx": xx, "yy": yy, "zz": zz, "points_x": x, "points_y": y[:, 0].astype(int)}


def run(config: dict[str, Any]) -> Result:
    lr = config["learning_rate"]
    others = list(dict.fromkeys(r for r in config["better_learning_rates"] if r != lr))
    if not others:
        raise ValueError(
            f"better_learning_rates={tuple(config['better_learning_rates'])} holds no rate other "
            f"than learning_rate={lr:g}: give at least one other rate to compare, e.g. "
            "--set better_learning_rates=0.01,0.05."
        )
    rates = [lr, *others]
    sweeps = {rate: _sweep(config, rate) for rate in rates}
    solved = {rate: int(sweep["solved"].sum()) for rate, sweep in sweeps.items()}
    best = max(rates[1:], key=lambda r: solved[r])
    article = sweeps[rates[0]]
    n = config["n_seeds"]
    metrics = {
        "n_seeds": n,
        "solved_at_article_lr": solved[rates[0]],
        "best_learning_rate": best,
        "solved_at_best_lr": solved[best],
        "solved_by_learning_rate": {f"{r:g}": solved[r] for r in rates},
        "final_loss_article_lr_median": float(np.median(article["losses"][:, -1])),
        "final_loss_best_lr_median": float(np.median(sweeps[best]["losses"][:, -1])),
        "wrong_patterns_of_failed_seeds_at_best_lr": [
            int(w) for w in _wrong(sweeps[best]["outputs"]) if w > 0
        ],
    }
    epochs = np.arange(1, config["epochs"] + 1)
    series = {}
    for rate in (rates[0], best):
        for i, loss in enumerate(sweeps[rate]["losses"][: config["curves"]]):
            series[f"lr={rate:g}, seed {config['seed'] + i}"] = {"x": epochs, "y": loss}
    x, y = xor()
    rows = [
        [
            f"({int(a)}, {int(b)})",
            int(t),
            f"{article['outputs'][0][i]:.3f}",
            f"{sweeps[best]['outputs'][0][i]:.3f}",
        ]
        for i, ((a, b), t) in enumerate(zip(x, y[:, 0], strict=True))
    ]
    figures = [
        Figure(
            "loss_curves",
            "Binary cross-entropy per epoch",
            "lines",
            {
                "series": series,
                "xlabel": "epoch",
                "ylabel": "loss",
                "hlines": {"ln 2 (output stuck at 0.5)": LN2},
            },
            "Each line is one seed; the dashed line is ln 2 = 0.693, the loss of always "
            "answering 0.5.",
        ),
        Figure(
            "solved_seeds",
            f"Seeds that solve XOR (of {n})",
            "bars",
            {
                "labels": [f"lr={r:g}" for r in rates],
                "values": [solved[r] for r in rates],
                "ylabel": "seeds solved",
            },
            f"The first bar is the learning_rate setting, {rates[0]:g}; the article's is "
            f"{ARTICLE_LR:g}.",
        ),
        Figure(
            "decision_surface",
            f"Output of the network trained at lr={best:g}",
            "decision_boundary",
            _surface(sweeps[best]["first_model"]),
            f"The output over the input plane for seed {config['seed']}; XOR points on top.",
        ),
    ]
    tables = [
        Table(
            f"Predictions, seed {config['seed']}",
            ["input", "target", f"lr={rates[0]:g}", f"lr={best:g}"],
            rows,
        )
    ]
    return Result(
        metrics=metrics,
        figures=figures,
        tables=tables,
        text=_explain(metrics, config),
        arrays={f"losses_lr_{r:g}": sweeps[r]["losses"] for r in rates},
        opening=_opening(metrics, config),
        headline={
            "solved_at_article_lr": f"seeds of {n} solved at lr {rates[0]:g}",
            "solved_at_best_lr": f"seeds of {n} solved at lr {best:g}",
            "final_loss_article_lr_median": f"median final loss at lr {rates[0]:g}",
        },
    )


def _opening(metrics: dict[str, Any], config: dict[str, Any]) -> str:
    n, lr, best = metrics["n_seeds"], config["learning_rate"], metrics["best_learning_rate"]
    first = (
        f"A network of two hidden sigmoid units learned XOR from {metrics['solved_at_article_lr']} "
        f"of {n} random starts at learning rate {lr:g}, and from "
        f"{metrics['solved_at_best_lr']} of {n} at {best:g}."
    )
    second = verdict(
        on_plateau(metrics["final_loss_article_lr_median"]),
        "At {lr:g} the typical run never left the plateau of answering 0.5 for every input.",
        "At {lr:g} the typical run left the plateau of answering 0.5 for every input.",
        lr=lr,
    )
    return f"{first} {second}"


def _explain(metrics: dict[str, Any], config: dict[str, Any]) -> str:
    n, epochs, lr = metrics["n_seeds"], config["epochs"], config["learning_rate"]
    steps = 4 * epochs
    best, article = metrics["best_learning_rate"], metrics["solved_at_article_lr"]
    loss_article = metrics["final_loss_article_lr_median"]
    wrong = metrics["wrong_patterns_of_failed_seeds_at_best_lr"]
    which = verdict(lr == ARTICLE_LR, "the article's", "the article's is {a:g}", a=ARTICLE_LR)
    tried = ", ".join(f"{k}: {v}" for k, v in metrics["solved_by_learning_rate"].items())
    header = (
        f"The article's network (2-2-1, sigmoid units, binary cross-entropy, Adam, batch size 1, "
        f"{epochs} epochs = {steps} updates) solved XOR for **{article} of {n} seeds** at "
        f"learning rate {lr:g} ({which}), and for **{metrics['solved_at_best_lr']} of {n}** at "
        f"{best:g}, the best of the other rates tried ({tried})."
    )
    plateau = verdict(
        on_plateau(loss_article),
        "At {lr:g} the median final loss is {loss:.3f}, within {tol:g} of ln 2 = 0.693, the loss "
        "of answering 0.5 for every input: the runs stay on that plateau. Adam "
        "moves each weight by about the learning rate per update at most (Kingma & Ba 2015), "
        "so {steps} updates "
        "move a weight by at most about {reach:g}, while XOR needs the two hidden sigmoids to "
        "become steep, opposite half-plane detectors.",
        "At {lr:g} the median final loss is {loss:.3f}, away from ln 2 = 0.693 (the loss of "
        "answering 0.5 for every input): the runs left that plateau.",
        lr=lr,
        loss=loss_article,
        tol=PLATEAU_TOLERANCE,
        steps=steps,
        reach=steps * lr,
    )
    better = verdict(
        metrics["solved_at_best_lr"] > article,
        "At {best:g} the same program solves more seeds (median final loss {loss:.3f}).",
        "No other rate tried solves more seeds than {lr:g} in this run (median final loss "
        "{loss:.3f} at {best:g}).",
        best=best,
        lr=lr,
        loss=metrics["final_loss_best_lr_median"],
    )
    failed = verdict(
        bool(wrong),
        "The {k} seeds that fail at {best:g} end with {wrong} of the four patterns wrong.",
        "No seed fails at {best:g}.",
        k=len(wrong),
        best=best,
        wrong=", ".join(map(str, wrong)),
    )
    return f"{header}\n\n{plateau} {better} {failed}"


EXPERIMENT = register(
    Experiment(
        name="xor",
        summary="XOR with the article's 2-2-1 sigmoid network: how many seeds solve it, and why.",
        reference="The article's Keras XOR program; Rumelhart, Hinton & Williams 1986.",
        defaults={
            "seed": 0,
            "epochs": 1000,
            "n_seeds": 20,
            "learning_rate": ARTICLE_LR,
            "better_learning_rates": (0.01, 0.05),
            "curves": 5,
        },
        quick={"n_seeds": 4, "epochs": 500, "curves": 2},
        run=run,
        limits={
            "n_seeds": "[1, 100000]",
            "learning_rate": "(0, inf)",
            "better_learning_rates": "(0, inf)",
            "curves": "[1, 1000]",
        },
    )
)
