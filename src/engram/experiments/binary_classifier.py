"""A 2-4-1 binary classifier on random labels (the article's data) and on two moons.

The article trains a 2-4-1 network (ReLU hidden units, sigmoid output) with SGD for 100 epochs,
batch 10, on 1000 two-feature samples whose labels are drawn at random. Random labels carry no
information about the inputs, so no network can beat chance on new samples: held-out accuracy
stays near 50%. The same network on a learnable set, two interleaving moons, shows what it can do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.data.synthetic import make_moons, random_binary_labels, train_test_split
from engram.experiments._verdict import above_chance, chance_band, verdict
from engram.experiments.base import Experiment, Figure, Result, Table, epoch_progress, register
from engram.nn import Sequential
from engram.nn.layers import Dense
from engram.nn.optimizers import SGD


def build_network(seed: int, learning_rate: float) -> Sequential:
    """The article's 2-4-1 network, compiled with SGD and binary cross-entropy."""
    model = Sequential(
        [Dense(4, activation="relu", input_shape=(2,)), Dense(1, activation="sigmoid")], seed=seed
    )
    model.compile(
        optimizer=SGD(learning_rate=learning_rate), loss="binary_crossentropy", metrics=["accuracy"]
    )
    return model


def _train(x, y, config: dict[str, Any], label: str) -> dict[str, Any]:
    (x_train, y_train), (x_test, y_test) = train_test_split(
        x, y, test_fraction=config["test_fraction"], seed=config["seed"]
    )
    model = build_network(config["seed"], config["learning_rate"])
    history = model.fit(
        x_train,
        y_train,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        validation_data=(x_test, y_test),
        verbose=0,
        callbacks=epoch_progress(label, config["verbose"]),
    )
    _, test_acc = model.evaluate(x_test, y_test, verbose=0)
    _, train_acc = model.evaluate(x_train, y_train, verbose=0)
    return {
        "model": model,
        "history": history.history,
        "train_accuracy": float(train_acc),
        "test_accuracy": float(test_acc),
        "n_train": len(x_train),
        "x": x_test,
        "y": y_test,
    }


def _boundary(run_: dict[str, Any]) -> dict[str, Any]:
    x = run_["x"]
    lo, hi = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], 120), np.linspace(lo[1], hi[1], 120))
    grid = np.c_[xx.ravel(), yy.ravel()].astype(np.float32)
    zz = run_["model"].predict(grid, batch_size=4096).reshape(xx.shape)
    return {"xx": xx, "yy": yy, "zz": zz, "points_x": x, "points_y": run_["y"].astype(int)}


def run(config: dict[str, Any]) -> Result:
    n = config["n_samples"]
    random_set = _train(*random_binary_labels(n, 2, seed=config["seed"]), config, "random labels")
    moons = _train(*make_moons(n, noise=config["noise"], seed=config["seed"]), config, "two moons")
    metrics = {
        "random_labels_test_accuracy": random_set["test_accuracy"],
        "random_labels_train_accuracy": random_set["train_accuracy"],
        "moons_train_accuracy": moons["train_accuracy"],
        "moons_test_accuracy": moons["test_accuracy"],
    }
    epochs = np.arange(1, config["epochs"] + 1)
    curves = {}
    for name, run_ in (("random labels", random_set), ("two moons", moons)):
        curves[f"{name}, train"] = {"x": epochs, "y": np.array(run_["history"]["accuracy"])}
        curves[f"{name}, held out"] = {"x": epochs, "y": np.array(run_["history"]["val_accuracy"])}
    figures = [
        Figure(
            "accuracy_curves",
            "Accuracy per epoch",
            "lines",
            {"series": curves, "xlabel": "epoch", "ylabel": "accuracy", "hlines": {"chance": 0.5}},
            "Training and held-out accuracy per epoch on both data sets; the dashed line is 50%.",
        ),
        Figure(
            "boundary_random_labels",
            "Decision boundary, random labels",
            "decision_boundary",
            _boundary(random_set),
            "Held-out points coloured by their (random) label.",
        ),
        Figure(
            "boundary_moons",
            "Decision boundary, two moons",
            "decision_boundary",
            _boundary(moons),
            "Held-out points; four ReLU units bend the boundary.",
        ),
    ]
    table = Table(
        "Accuracy",
        ["data", "train", "held out"],
        [
            [
                "random labels (the article's)",
                f"{random_set['train_accuracy']:.3f}",
                f"{random_set['test_accuracy']:.3f}",
            ],
            ["two moons", f"{moons['train_accuracy']:.3f}", f"{moons['test_accuracy']:.3f}"],
        ],
    )
    text = _text(config, random_set, moons)
    headline = {
        "random_labels_test_accuracy": "held-out accuracy, random labels",
        "moons_test_accuracy": "held-out accuracy, two moons",
        "random_labels_train_accuracy": "training accuracy, random labels",
    }
    return Result(
        metrics=metrics,
        figures=figures,
        tables=[table],
        text=text,
        opening=_opening(random_set, moons),
        headline=headline,
    )


def _opening(random_set: dict[str, Any], moons: dict[str, Any]) -> str:
    held = _at_chance(random_set, "test_accuracy", len(random_set["y"]))
    learned = _at_chance(moons, "test_accuracy", len(moons["y"]))
    coin = verdict(
        not held["above"] and held["acc"] >= 0.5 - held["band"],
        "no better than a coin flip, as labels that say nothing about the inputs must be",
        "outside the coin-flip band although the labels say nothing about the inputs "
        "(sampling fluctuation)",
    )
    moon = verdict(learned["above"], "well above chance", "not above chance")
    return (
        f"Trained on labels drawn at random, the small network scored {held['acc']:.1%} on "
        f"samples it had not seen: {coin}. Trained on two moons, whose labels follow the "
        f"position, the same network scored {learned['acc']:.1%}, {moon}."
    )


def _at_chance(run_: dict[str, Any], key: str, n: int) -> dict[str, Any]:
    """An accuracy, its binomial band around 0.5 over ``n`` samples, and where it lies."""
    acc = run_[key]
    return {"acc": acc, "band": 2 * chance_band(0.5, n), "above": above_chance(acc, 0.5, n)}


def _text(config: dict[str, Any], random_set: dict[str, Any], moons: dict[str, Any]) -> str:
    n_test = len(random_set["y"])
    held = _at_chance(random_set, "test_accuracy", n_test)
    train = _at_chance(random_set, "train_accuracy", random_set["n_train"])
    learned = _at_chance(moons, "test_accuracy", len(moons["y"]))
    weights = random_set["model"].count_params()
    setup = (
        f"The article's 2-4-1 network (ReLU, sigmoid output, {weights} weights, SGD learning "
        f"rate {config['learning_rate']:g}, {config['epochs']} epochs, batch "
        f"{config['batch_size']}) on {config['n_samples']} samples with random labels reaches "
        f"**{held['acc']:.1%} on {n_test} held-out samples**"
    )
    at_chance = not held["above"] and held["acc"] >= 0.5 - held["band"]
    held_text = verdict(
        at_chance,
        ", within two standard errors of a coin flip (50% ± {band:.1%}): chance, as expected of "
        "labels that say nothing about the inputs.",
        ", outside two standard errors of a coin flip (50% ± {band:.1%}) although the labels "
        "were drawn at random: sampling fluctuation (about one run in twenty lands outside the "
        "band), since these labels carry nothing to learn.",
        band=held["band"],
    )
    train_text = verdict(
        train["above"],
        " On its {n} training samples it reaches {acc:.1%}, above chance (± {band:.1%}): it "
        "memorized part of the coin flips.",
        " On its {n} training samples it reaches {acc:.1%}, within chance (± {band:.1%}): it did "
        "not memorize the coin flips.",
        n=random_set["n_train"],
        **train,
    )
    moons_text = verdict(
        learned["above"],
        "On two moons, where the label depends on the position, the same network and settings "
        "reach **{acc:.1%}** held out, above chance (± {band:.1%}).",
        "On two moons, where the label depends on the position, the same network and settings "
        "reach only **{acc:.1%}** held out, not above chance (± {band:.1%}): this run does not "
        "show that the network learns a learnable set either.",
        **learned,
    )
    lesson = verdict(
        at_chance and learned["above"],
        " The same network learns the moons but not the coin flips: what a classifier learns is "
        "what the labels encode.",
        "",
    )
    return setup + held_text + train_text + "\n\n" + moons_text + lesson


EXPERIMENT = register(
    Experiment(
        name="binary-classifier",
        summary="The article's 2-4-1 classifier on random labels and on two moons, against chance.",
        reference="The article's Keras binary classifier; Zhang et al. 2017 on random labels.",
        defaults={
            "seed": 0,
            "epochs": 100,
            "batch_size": 10,
            "n_samples": 1000,
            "learning_rate": 0.01,
            "noise": 0.15,
            "test_fraction": 0.3,
        },
        quick={"epochs": 40},
        run=run,
        limits={
            "batch_size": "[1, 10000000]",
            "n_samples": "[10, 10000000]",
            "learning_rate": "(0, inf)",
            "noise": "[0, 10]",
            "test_fraction": "[0.05, 0.95]",
        },
    )
)
