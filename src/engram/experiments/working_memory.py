"""How long a recurrent network holds a memory: SimpleRNN vs LSTM vs GRU on delayed recall.

Each network sees a cue (one of ``n_cues``), ``delay`` blank (noisy) steps and a go signal, and
must name the cue at the go signal (`engram.data.sequences.delayed_recall`), the delayed-response
task of the prefrontal-cortex recordings (Funahashi, Bruce & Goldman-Rakic 1989). The three
networks get about the same number of weights (within 10%), the same optimizer, data and
seeds; a fresh network is trained for every delay. The memory span of a network is the longest
tested delay it answers with >= 90% accuracy on new trials. Its hidden units are then recorded
through the delay: units whose activity stays cue-specific until the go signal are the model's
counterpart of persistent delay activity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.data.sequences import delayed_recall
from engram.experiments._verdict import above_chance, count, verdict
from engram.experiments.base import Experiment, Figure, Result, Table, progress, register
from engram.nn import Sequential
from engram.nn.layers import GRU, LSTM, Dense, SimpleRNN
from engram.nn.optimizers import Adam

CELLS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
THRESHOLD = 0.9
CLIPNORM = 1.0  # gradient-norm clipping for backpropagation through time


def build(cell: str, units: int, steps: int, n_cues: int, seed: int) -> Sequential:
    """``cell(units)`` reading (steps, n_cues + 1) inputs, then a softmax over the cues."""
    layer = CELLS[cell](units, input_shape=(steps, n_cues + 1))
    return Sequential([layer, Dense(n_cues, activation="softmax")], seed=seed)


def weight_count(cell: str, units: int, n_cues: int) -> int:
    """Weights of ``build(cell, units, ...)``: kernels, recurrent kernels, biases and readout."""
    blocks, bias_rows = {"SimpleRNN": (1, 1), "LSTM": (4, 1), "GRU": (3, 2)}[cell]
    recurrent = blocks * units * (n_cues + 1 + units) + bias_rows * blocks * units
    return recurrent + units * n_cues + n_cues


def matched_units(target: int, n_cues: int) -> dict[str, int]:
    """Units per cell type giving weight counts closest to LSTM(target)'s."""
    goal = weight_count("LSTM", target, n_cues)
    return {
        cell: min(range(1, 4 * target), key=lambda u: abs(weight_count(cell, u, n_cues) - goal))
        for cell in CELLS
    }


def _hidden_sequence(model: Sequential, x: np.ndarray) -> np.ndarray:
    """The recurrent layer's hidden state at every step, (trials, time, units)."""
    layer = model.layers[0]
    probe = type(layer)(layer.units, return_sequences=True)
    probe.build(layer.input_shape, np.random.default_rng(0))
    probe.set_weights(layer.get_weights())
    return probe(x)


def _decoding(hidden: np.ndarray, cues: np.ndarray, n_cues: int) -> np.ndarray:
    """Cross-validated nearest-class-mean decoding accuracy of the cue at every time step."""
    half = len(cues) // 2
    accuracy = []
    for t in range(hidden.shape[1]):
        train, test = hidden[:half, t], hidden[half:, t]
        means = np.stack([train[cues[:half] == k].mean(axis=0) for k in range(n_cues)])
        distances = ((test[:, None, :] - means[None]) ** 2).sum(axis=2)
        accuracy.append(float(np.mean(distances.argmin(axis=1) == cues[half:])))
    return np.array(accuracy)


def _train(cell, units, delay, config, seed):
    c = config
    x, y = delayed_recall(c["samples"], delay, c["n_cues"], c["noise"], seed=seed)
    x_test, y_test = delayed_recall(500, delay, c["n_cues"], c["noise"], seed=seed + 10_000)
    model = build(cell, units, delay + 2, c["n_cues"], seed)
    optimizer = Adam(learning_rate=c["learning_rate"], clipnorm=CLIPNORM)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["acc"])
    model.fit(x, y, epochs=c["epochs"], batch_size=64, verbose=0)
    accuracy = float(model.evaluate(x_test, y_test, verbose=0)[1])
    return model, accuracy, (x_test, y_test)


def run(config: dict[str, Any]) -> Result:
    seed, n_cues = config["seed"], config["n_cues"]
    delays = sorted(int(d) for d in config["delays"])
    units = matched_units(config["lstm_units"], n_cues)
    params = {cell: build(cell, units[cell], 2, n_cues, 0).count_params() for cell in CELLS}
    spread = (max(params.values()) - min(params.values())) / params["LSTM"]
    accuracy: dict[str, list[float]] = {cell: [] for cell in CELLS}
    kept: dict[str, Any] = {}
    jobs = [(cell, d) for cell in CELLS for d in delays]
    for cell, delay in progress(jobs, desc="working-memory", verbose=config["verbose"]):
        model, acc, test = _train(cell, units[cell], delay, config, seed)
        accuracy[cell].append(acc)
        if acc >= THRESHOLD or cell not in kept:  # the longest delay held, for the recordings
            kept[cell] = (delay, model, test)
    spans = {
        cell: max((d for d, a in zip(delays, accuracy[cell], strict=True) if a >= THRESHOLD),
                  default=0)
        for cell in CELLS
    }  # fmt: skip

    activity_panels, decoding_series, decoded = [], {}, {}
    for cell, (delay, model, (x_test, y_test)) in kept.items():
        hidden = _hidden_sequence(model, x_test)
        decoding = _decoding(hidden, y_test, n_cues)
        decoded[cell] = {"delay": delay, "accuracy": float(decoding[-2]), "n": len(y_test) // 2}
        decoding_series[f"{cell} (delay {delay})"] = {"x": np.arange(delay + 2), "y": decoding}
        cue_means = np.stack([hidden[y_test == k].mean(axis=0) for k in range(n_cues)])
        # the unit whose cue-specific means differ most at the end of the delay
        unit = int(np.argmax(cue_means[:, -2].var(axis=0)))
        series = {
            f"cue {k}": {"x": np.arange(delay + 2), "y": cue_means[k, :, unit]}
            for k in range(n_cues)
        }
        activity_panels.append({"title": f"{cell}, unit {unit}", "series": series})

    figures = [
        Figure(
            "memory_span",
            "Accuracy against delay (memory span)",
            "lines",
            {
                "series": {
                    f"{cell} ({params[cell]} weights)": {"x": delays, "y": accuracy[cell]}
                    for cell in CELLS
                },
                "hlines": {"90% criterion": THRESHOLD, "chance": 1 / n_cues},
                "xlabel": "delay (steps)",
                "ylabel": "test accuracy",
                "ylim": (0, 1.05),
            },
            "A fresh network per delay and cell type, same data, seed and optimizer.",
        ),
        Figure(
            "delay_activity",
            "Hidden-unit activity through the delay, averaged per cue",
            "lines",
            {
                "panels": activity_panels,
                "xlabel": "time step (cue at 0, go at the end)",
                "ylabel": "activity",
            },
            "The most cue-selective unit of each network at the longest delay it holds (the "
            "shortest tested where it holds none). Stable, "
            "cue-specific levels through the blank delay are the counterpart of persistent "
            "delay activity in prefrontal cortex; an oscillation whose phase depends on the cue "
            "holds the memory too, in a rotating code rather than persistent firing.",
        ),  # fmt: skip
        Figure(
            "cue_decoding",
            "Cue decodable from the hidden state at each step",
            "lines",
            {
                "series": decoding_series,
                "hlines": {"chance": 1 / n_cues},
                "xlabel": "time step",
                "ylabel": "decoding accuracy",
                "ylim": (0, 1.05),
            },
            "Nearest-class-mean decoder trained on half the test trials, tested on the other "
            "half, at every step.",
        ),
    ]
    rows = [
        [cell, units[cell], params[cell], *[f"{a:.2f}" for a in accuracy[cell]], spans[cell]]
        for cell in CELLS
    ]
    columns = ["network", "units", "weights", *[f"delay {d}" for d in delays], "span"]
    text = _text(config, delays, spans, spread, decoded)
    return Result(
        metrics={
            "span": spans,
            "accuracy": accuracy,
            "delays": delays,
            "params": params,
            "units": units,
            "param_spread": spread,
            "decoding_at_last_delay_step": {c: d["accuracy"] for c, d in decoded.items()},
            "seed": seed,
        },
        figures=figures,
        tables=[Table("Test accuracy per delay", columns, rows)],
        text=text,
        opening=_opening(delays, spans, n_cues),
        headline={f"span.{cell}": f"longest delay held, {cell} (steps)" for cell in CELLS},
    )


def _opening(delays, spans, n_cues: int) -> str:
    best = max(spans.values())
    longest = [cell for cell in CELLS if spans[cell] == best]
    task = f"Each network saw one of {n_cues} cues, then a blank delay, and had to report the cue. "
    return task + verdict(
        best > 0,
        "The longest delay held at {t:.0%} accuracy or more was {b} steps, by {who} "
        "(spans: {spans}; longest tested: {top}).",
        "No network held even the shortest delay tested ({first} steps) at {t:.0%} accuracy.",
        t=THRESHOLD,
        b=best,
        who=" and ".join(longest),
        spans=", ".join(f"{c} {spans[c]}" for c in CELLS),
        top=max(delays),
        first=min(delays),
    )


def _text(config, delays, spans, spread, decoded) -> str:
    n_cues, chance = config["n_cues"], 1 / config["n_cues"]
    held = verdict(
        any(spans.values()),
        "Longest delay held at >= {t:.0%} accuracy: {s} (tested delays: {d}; one seed, so a "
        "single failed training run can shorten a span: rerun with other seeds before reading "
        "much into one step of difference).",
        "**No network holds even the shortest tested delay ({first} steps) at >= {t:.0%} "
        "accuracy** (tested delays: {d}).",
        t=THRESHOLD,
        s=", ".join(f"{cell} {span} steps" for cell, span in spans.items()),
        d=", ".join(map(str, delays)),
        first=delays[0],
    )
    decoding = [
        verdict(
            above_chance(d["accuracy"], chance, d["n"]),
            "{c} {a:.2f} (delay {k}, above chance)",
            "{c} {a:.2f} (delay {k}, **not above chance**)",
            c=cell,
            a=d["accuracy"],
            k=d["delay"],
        )
        for cell, d in decoded.items()
    ]
    return (
        f"Delayed recall with {n_cues} cues (chance {chance:.2f}), input noise "
        f"{config['noise']}, {config['samples']} training trials, "
        f"{count(config['epochs'], 'epoch')} of Adam (learning rate {config['learning_rate']}, "
        f"clipnorm {CLIPNORM:g}), seed {config['seed']}; weights within {100 * spread:.1f}% of "
        f"each other. {held}\n\n"
        "The cue decoded from the hidden state at the last step before the go signal (nearest "
        "class mean, held-out half of the test trials), at the longest delay each network holds "
        "(the shortest tested where it holds none): " + "; ".join(decoding) + "."
    )


def cost(config: dict[str, Any]) -> dict[str, Any]:
    """Trials (float32, noise drawn in float64) and cached states at the longest delay."""
    steps, inputs = max(config["delays"]) + 2, config["n_cues"] + 1
    trials, units = config["samples"] + 500, 4 * config["lstm_units"]  # + the 500 test trials
    return {
        "memory_bytes": steps * (12 * trials * inputs + 40 * (64 + 500) * units),
        "detail": f"{trials:,} trials x {steps:,} steps at the longest delay",
    }


EXPERIMENT = register(
    Experiment(
        name="working-memory",
        summary="SimpleRNN vs LSTM vs GRU with equal weights: how long each holds a cue "
        "(delayed recall).",
        reference="Funahashi, Bruce & Goldman-Rakic 1989, J Neurophysiol 61:331; Hochreiter & "
        "Schmidhuber 1997; Cho et al. 2014.",
        defaults={
            "seed": 0,
            "epochs": 30,
            "delays": (5, 10, 20, 40, 80),
            "samples": 1024,
            "n_cues": 4,
            "noise": 0.1,
            "lstm_units": 16,
            "learning_rate": 0.01,
        },
        quick={"epochs": 20, "delays": (4, 16, 32), "samples": 512},
        run=run,
        limits={
            "delays": "[1, inf)",
            "samples": "[8, 10000000]",
            "n_cues": "[2, 1000]",
            "noise": "[0, 10]",
            "lstm_units": "[1, 10000]",
            "learning_rate": "(0, inf)",
        },
        cost=cost,
    )
)
