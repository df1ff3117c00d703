"""Systems consolidation in miniature: a fast memory teaches a slow network new items at night.

A slow network (a ReLU MLP, the "neocortex") first learns the old classes well. New items (a few
examples of the remaining classes) are then stored one-shot in a fast memory (a modern Hopfield
network, the "hippocampus"). Over the following "nights" the memory reactivates them from
partial cues (half the pixels) and the slow network trains on what comes back, in one of three
ways:

* interleaved: replayed new items mixed with old items (old knowledge reinstated alongside);
* focused: replayed new items only;
* none: no replay.

After each night the slow network is tested on the old classes' test images and on the new
classes' test images. McClelland, McNaughton & O'Reilly (1995) showed with the same contrast
that focused learning of new items interferes catastrophically with what the network knew,
while interleaved learning adds them without that loss: the reason, they argued, why the brain
has a hippocampus that learns fast and replays into a cortex that learns slowly.

Reference:
    McClelland, McNaughton & O'Reilly (1995), "Why there are complementary learning systems in
    the hippocampus and neocortex", Psychological Review 102(3), 419-457; Ramsauer et al. (2020)
    (the modern Hopfield memory).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.experiments.base import Experiment, Figure, Result, Table, register

CONDITIONS = ("interleaved", "focused", "none")


def _network(n_inputs: int, hidden: int, seed: int, learning_rate: float):
    from engram.nn import Sequential
    from engram.nn.layers import Dense
    from engram.nn.optimizers import Adam

    model = Sequential(
        [
            Dense(hidden, activation="relu", input_shape=(n_inputs,)),
            Dense(10, activation="softmax"),
        ],
        seed=seed,
    )
    model.compile(optimizer=Adam(learning_rate), loss="sparse_categorical_crossentropy")
    return model


def _accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(model.predict(x), axis=1) == y))


def _hippocampus(x_new, y_new, beta: float, cue_fraction: float, n: int, rng):
    """Store the new items one-shot with a one-hot label code; return n completions of cues."""
    from engram.memory.modern_hopfield import ModernHopfield

    d = x_new.shape[1]
    memory = ModernHopfield(beta).store(np.concatenate([x_new, np.eye(10)[y_new]], axis=1))
    which = rng.integers(len(x_new), size=n)
    cues = np.zeros((n, d + 10), np.float32)
    cues[:, :d] = np.where(rng.random((n, d)) < cue_fraction, x_new[which], 0.0)
    out = memory.recall(cues, max_steps=1).states
    labels = np.argmax(out[:, d:], axis=1)
    return out[:, :d], labels, float(np.mean(labels == y_new[which]))


def run(config: dict[str, Any]) -> Result:
    from engram.continual.streams import load_images
    from engram.nn.layers.recurrent_base import single_blas_thread
    from engram.validation import as_rng

    rng = as_rng(config["seed"])
    (x_tr, y_tr), (x_te, y_te) = load_images(config["dataset"], config["data_dir"], config["seed"])
    x_tr, x_te = x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1)
    new_classes = np.array(config["new_classes"])
    old_tr, old_te = ~np.isin(y_tr, new_classes), ~np.isin(y_te, new_classes)
    new_idx = np.concatenate(
        [
            rng.choice(np.flatnonzero(y_tr == c), config["new_items"], replace=False)
            for c in new_classes
        ]
    )
    batch, steps = config["batch_size"], config["steps_per_night"]
    with single_blas_thread():
        day = _network(
            x_tr.shape[1], config["hidden_units"], config["seed"], config["learning_rate"]
        )
        for _ in range(config["pretrain_steps"]):
            idx = rng.choice(np.flatnonzero(old_tr), batch)
            day.train_on_batch(x_tr[idx], y_tr[idx])
        weights = day.get_weights()
        replay_x, replay_y, recall = _hippocampus(
            x_tr[new_idx],
            y_tr[new_idx],
            config["beta"],
            config["cue_fraction"],
            config["nights"] * steps * batch // 2 + batch,
            rng,
        )
        curves = {}
        for condition in CONDITIONS:
            model = _network(x_tr.shape[1], config["hidden_units"], 0, config["learning_rate"])
            model.set_weights(weights)
            old, new = (
                [_accuracy(model, x_te[old_te], y_te[old_te])],
                [_accuracy(model, x_te[~old_te], y_te[~old_te])],
            )
            pos = 0
            for _ in range(config["nights"]):
                for _ in range(steps if condition != "none" else 0):
                    half = batch // 2 if condition == "interleaved" else batch
                    xs, ys = replay_x[pos : pos + half], replay_y[pos : pos + half]
                    pos = (pos + half) % (len(replay_y) - batch)
                    if condition == "interleaved":
                        idx = rng.choice(np.flatnonzero(old_tr), batch - half)
                        xs, ys = np.concatenate([xs, x_tr[idx]]), np.concatenate([ys, y_tr[idx]])
                    model.train_on_batch(xs, ys)
                old.append(_accuracy(model, x_te[old_te], y_te[old_te]))
                new.append(_accuracy(model, x_te[~old_te], y_te[~old_te]))
            curves[condition] = {"old": old, "new": new}
    return _result(curves, recall, config, new_classes)


def _result(curves, recall, config, new_classes) -> Result:
    nights = np.arange(config["nights"] + 1)
    metrics = {
        "old_accuracy": {c: v["old"] for c, v in curves.items()},
        "new_accuracy": {c: v["new"] for c, v in curves.items()},
        "before": curves["none"]["old"][0],
        "recall_label_accuracy": recall,
        "after_last_night": {
            c: {"old": v["old"][-1], "new": v["new"][-1]} for c, v in curves.items()
        },
    }
    figure = Figure(
        "retention",
        "Old and new classes over the nights of replay",
        "lines",
        {
            "panels": [
                {
                    "title": f"old classes (not {', '.join(map(str, new_classes))})",
                    "series": {
                        c: {"x": nights, "y": 100 * np.array(v["old"])} for c, v in curves.items()
                    },
                },
                {
                    "title": f"new classes {', '.join(map(str, new_classes))}",
                    "series": {
                        c: {"x": nights, "y": 100 * np.array(v["new"])} for c, v in curves.items()
                    },
                },
            ],
            "xlabel": "night",
            "ylabel": "test accuracy (%)",
            "ylim": (0, 100),
        },
        "Test accuracy after each night: interleaved (new items replayed among old ones), "
        "focused (new items only) and no replay.",
    )
    rows = [
        [c, f"{100 * v['old'][-1]:.1f}", f"{100 * v['new'][-1]:.1f}"] for c, v in curves.items()
    ]
    table = Table("After the last night", ["replay", "old classes %", "new classes %"], rows)
    headline = {
        f"after_last_night.{c}.{kind}": f"{c} replay: {kind} classes"
        for c in ("interleaved", "focused")
        for kind in ("old", "new")
    }
    return Result(
        metrics=metrics,
        figures=[figure],
        tables=[table],
        text=text(metrics, config),
        opening="A fast Hopfield memory stored new classes in one shot and replayed them to a "
        f"slow network at night. {_finding(metrics)}.",
        headline=headline,
    )


def _finding(metrics: dict[str, Any]) -> str:
    old, new = metrics["old_accuracy"], metrics["new_accuracy"]
    end = {c: (old[c][-1], new[c][-1]) for c in old}
    interferes = end["focused"][0] < end["interleaved"][0] - 0.2
    learns = end["interleaved"][1] > end["none"][1] + 0.2
    finding = (
        f"Focused replay taught the new classes ({end['focused'][1]:.1%}) but "
        f"{'interfered catastrophically with' if interferes else 'did not wipe out'} the old ones "
        f"({end['focused'][0]:.1%}, against {end['interleaved'][0]:.1%} with interleaved replay)"
    )
    finding += (
        f"; interleaved replay {'added' if learns else 'did not add'} the new classes "
        f"({end['interleaved'][1]:.1%}, against {end['none'][1]:.1%} without replay)"
    )
    verdict = (
        "as McClelland, McNaughton & O'Reilly (1995) found"
        if interferes and learns
        else "which is not McClelland, McNaughton & O'Reilly's (1995) result in this run"
    )
    return f"{finding}, {verdict}"


def text(metrics: dict[str, Any], config: dict[str, Any]) -> str:
    before = metrics["before"]
    setup = (
        f"The slow network first reached {before:.1%} on the old classes. "
        f"{config['new_items']} examples of each new class were stored one-shot in the Hopfield "
        "memory, which recalled their labels from cues keeping "
        f"{config['cue_fraction']:.0%} of the pixels {metrics['recall_label_accuracy']:.1%} of "
        f"the time; then {config['nights']} nights "
        f"of {config['steps_per_night']} replay steps."
    )
    return f"{setup}\n\n{_finding(metrics)}."


EXPERIMENT = register(
    Experiment(
        name="consolidation",
        summary="A Hopfield 'hippocampus' replays new items at night: interleaved, focused, none.",
        reference=(
            "McClelland, McNaughton & O'Reilly (1995), Psychological Review 102(3); "
            "Ramsauer et al. (2020), 'Hopfield Networks is All You Need'."
        ),
        defaults={
            "seed": 0,
            "dataset": "digits",
            "data_dir": "",
            "new_classes": (8, 9),
            "new_items": 20,
            "hidden_units": 100,
            "learning_rate": 0.001,
            "batch_size": 32,
            "pretrain_steps": 1500,
            "nights": 8,
            "steps_per_night": 50,
            "beta": 1.0,
            "cue_fraction": 0.5,
        },
        quick={"pretrain_steps": 400, "nights": 5, "steps_per_night": 20},
        run=run,
        limits={
            "dataset": ("digits", "mnist", "mnist-t10k", "fashion-mnist"),
            "new_classes": "[0, 9]",
            "new_items": "[1, 100000]",
            "hidden_units": "[1, 100000]",
            "learning_rate": "(0, inf)",
            "batch_size": "[1, 100000]",
            "pretrain_steps": "[1, 10000000]",
            "nights": "[1, 100000]",
            "steps_per_night": "[1, 10000000]",
            "beta": "(0, inf)",
            "cue_fraction": "(0, 1]",
        },
    )
)
