"""Brain memory beside network memory: the same digits stored three ways, recalled from damage.

The same binarized 8x8 digits are stored in (a) a classic Hopfield network (Hebbian: one outer
product per memory, local, one shot), (b) a modern Hopfield network (the patterns themselves,
read out by softmax attention) and (c) an autoencoder trained by backpropagation with engram.nn
(memory in trained weights). Each recalls from cues with 0-50% of pixels flipped and from
half-occluded images. The report says what each costs and how each fails, and shows why real
images - correlated patterns - break the classic network far below 0.138 N.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from engram.experiments.base import Experiment, Figure, Result, Table, register
from engram.memory.hopfield import (
    CapacityWarning,
    DependentPatternsWarning,
    Hopfield,
    binarize,
    critical_load,
    flip_bits,
    hebb_weights,
)
from engram.memory.modern_hopfield import ModernHopfield, attention
from engram.validation import as_rng

N_UNITS = 64


def _digits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training digits as (images in [0, 1], +/-1 patterns, labels), flattened to 64."""
    from engram.data.digits import load_digits

    (x, y), _ = load_digits(seed=seed, flat=True)
    return x, binarize(x, threshold=0.5), y


def _typical(x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """Indices of n images: per class in turn, the image nearest its class mean, then the next."""
    ranked = []
    for c in range(10):
        members = np.flatnonzero(y == c)
        dist = ((x[members] - x[members].mean(axis=0)) ** 2).sum(axis=1)
        ranked.append(members[np.argsort(dist)])
    return np.array([ranked[i % 10][i // 10] for i in range(n)])


def occlude(patterns: np.ndarray) -> np.ndarray:
    """Blank the bottom half of each 8x8 pattern (set it to -1, the background)."""
    out = patterns.copy()
    out[:, N_UNITS // 2 :] = -1.0
    return out


# ----------------------------------------------------------------------------- the three memories


class Autoencoder:
    """(c) A 64-128-64 network trained with engram.nn to map corrupted digits to clean ones."""

    def __init__(self, config: dict[str, Any]) -> None:
        from engram.nn import Sequential
        from engram.nn.layers import Dense

        self.config = config
        self.model = Sequential(
            [
                Dense(config["hidden_units"], activation="relu", input_shape=(N_UNITS,)),
                Dense(N_UNITS, activation="sigmoid"),
            ],
            seed=config["seed"],
        )
        self.model.compile(optimizer="adam", loss="binary_crossentropy")

    def noisy_copies(self, patterns: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Training inputs: copies with 0-40% of the pixels flipped (denoising autoencoder)."""
        levels = np.linspace(0.0, self.config["train_max_flip"], 5)
        copies = [flip_bits(patterns, levels[c % 5], rng) for c in range(self.config["copies"])]
        return np.concatenate(copies)

    def store(self, patterns: np.ndarray, rng: np.random.Generator, epochs: int) -> float:
        """Train on noisy copies of ``patterns``; returns the seconds it took."""
        cues = self.noisy_copies(patterns, rng)
        targets = np.tile(patterns, (self.config["copies"], 1))
        start = time.perf_counter()
        self.model.fit((cues + 1) / 2, (targets + 1) / 2, epochs=epochs, batch_size=32, verbose=0)
        return time.perf_counter() - start

    def recall(self, cues: np.ndarray) -> np.ndarray:
        """One forward pass; the output mapped back to [-1, 1]."""
        return 2.0 * self.model.predict((cues + 1) / 2, batch_size=1024) - 1.0


def _recall_all(memories: dict[str, Any], cues: np.ndarray, config: dict[str, Any]) -> dict:
    """Each memory's output for the cues, in [-1, 1]."""
    out = {}
    for name, memory in memories.items():
        if isinstance(memory, Hopfield):
            out[name] = memory.recall(cues, update="async", seed=config["seed"]).states
        elif isinstance(memory, ModernHopfield):
            out[name] = memory.recall(cues, max_steps=config["modern_steps"]).states
        else:
            out[name] = memory.recall(cues)
    return out


def _score(output: np.ndarray, patterns: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """How well outputs in [-1, 1] recall their target among the stored patterns.

    Returns:
        overlap: mean overlap of sign(output) with the target.
        correct: share with sign(output) overlapping the target by >= 0.9 (at most 3 of 64
            pixels wrong) and more than any other stored pattern.
        wrong_memory: share that is instead (>= 0.9) another stored pattern.
        sharpness: mean |output| (1: every pixel fully on or off; 0: all grey).
    """
    s = np.where(output >= 0, 1.0, -1.0)
    overlaps = s @ patterns.T / N_UNITS
    rows = np.arange(len(s))
    own = overlaps[rows, target]
    best = overlaps.argmax(axis=1)
    correct = (own >= 0.9) & (best == target)
    wrong = (overlaps[rows, best] >= 0.9) & (best != target)
    return {
        "overlap": float(own.mean()),
        "correct": float(correct.mean()),
        "wrong_memory": float(wrong.mean()),
        "sharpness": float(np.abs(output).mean()),
    }


def nearest_is_right(cues: np.ndarray, patterns: np.ndarray, target: np.ndarray) -> float:
    """Expected share of cues whose nearest stored pattern is their own, ties split evenly.

    Under independent pixel flips (rate < 0.5) and equally likely memories this nearest-pattern
    lookup is the Bayes-optimal recall: no memory can do better on average.
    """
    overlaps = cues @ patterns.T
    top = overlaps == overlaps.max(axis=1, keepdims=True)
    return float(np.mean(top[np.arange(len(cues)), target] / top.sum(axis=1)))


# ----------------------------------------------------------------------------- measurements


def _build(config, patterns, rng):
    """Store the patterns in every memory; returns memories, store seconds, warnings."""
    memories: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    caught: list[str] = []
    for rule, label in (
        ("hebb", "Hopfield (Hebb)"),
        ("pseudo_inverse", "Hopfield (pseudo-inverse)"),
    ):
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as found:
            warnings.simplefilter("always", CapacityWarning)
            warnings.simplefilter("always", DependentPatternsWarning)
            memories[label] = Hopfield(rule).store(patterns)
        seconds[label] = time.perf_counter() - start
        caught += [f"{label}: {w.message}" for w in found]
    start = time.perf_counter()
    memories["modern Hopfield"] = ModernHopfield(config["modern_beta"]).store(patterns)
    seconds["modern Hopfield"] = time.perf_counter() - start
    autoencoder = Autoencoder(config)
    seconds["autoencoder"] = autoencoder.store(patterns, rng, config["epochs"])
    memories["autoencoder"] = autoencoder
    return memories, seconds, caught


def _corruption_sweep(config, memories, patterns, rng):
    """Scores per memory at each flip fraction, and for half-occluded cues."""
    p = len(patterns)
    target = np.tile(np.arange(p), config["trials"])
    keys = ("overlap", "correct", "wrong_memory", "sharpness")
    sweep = {name: {k: [] for k in keys} for name in memories}
    ideal = []
    for fraction in config["flip_fractions"]:
        cues = flip_bits(np.tile(patterns, (config["trials"], 1)), fraction, rng)
        ideal.append(nearest_is_right(cues, patterns, target))
        for name, output in _recall_all(memories, cues, config).items():
            for key, value in _score(output, patterns, target).items():
                sweep[name][key].append(value)
    cues = occlude(patterns)
    occluded = _recall_all(memories, cues, config)
    occlusion = {name: _score(out, patterns, np.arange(p)) for name, out in occluded.items()}
    occlusion["ideal"] = {"correct": nearest_is_right(cues, patterns, np.arange(p))}
    return sweep, occlusion, ideal


def _hebb_attractors(memories, patterns, config):
    """Where the Hebbian network goes from each clean stored digit."""
    out = memories["Hopfield (Hebb)"].recall(patterns, update="async", seed=config["seed"])
    mixture = np.where(patterns.sum(axis=0) >= 0, 1.0, -1.0)  # the majority of all stored
    return {
        "distinct_final_states": len(np.unique(out.states, axis=0)),
        "overlap_with_majority_mixture": float(np.mean(out.states @ mixture / N_UNITS)),
        "best_overlap_with_a_stored_digit": float(out.best_overlap.mean()),
    }


def _correlated(config, all_patterns, rng):
    """Fraction retrieved (10% flips, Hebb) against P: random patterns vs real digits."""
    counts = np.arange(1, config["max_correlated"] + 1)
    curves: dict[str, list[list[float]]] = {"random patterns (Hebb)": [], "digits (Hebb)": [],
                                            "digits (pseudo-inverse)": []}  # fmt: skip
    for _ in range(config["correlated_seeds"]):
        random_set = np.where(rng.random((counts[-1], N_UNITS)) < 0.5, -1.0, 1.0)
        digit_set = all_patterns[rng.choice(len(all_patterns), counts[-1], replace=False)]
        runs = (
            ("random patterns (Hebb)", random_set, "hebb"),
            ("digits (Hebb)", digit_set, "hebb"),
            ("digits (pseudo-inverse)", digit_set, "pseudo_inverse"),
        )
        for label, pool, rule in runs:
            row = []
            for p in counts:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CapacityWarning)
                    warnings.simplefilter("ignore", DependentPatternsWarning)
                    net = Hopfield(rule).store(pool[:p])
                cues = flip_bits(pool[:p], 0.1, rng)
                out = net.recall(cues, update="async", seed=config["seed"])
                row.append(float(np.mean(np.diag(out.overlaps) > 0.95)))
            curves[label].append(row)
    return counts, {k: np.array(v) for k, v in curves.items()}


def _add_one_more(config, memories, patterns, extra, rng):
    """Store one more memory in each; recall of the old ones from 10% flips afterwards."""
    old_cues = flip_bits(np.tile(patterns, (config["trials"], 1)), 0.1, rng)
    target = np.tile(np.arange(len(patterns)), config["trials"])
    both = np.concatenate([patterns, extra[None]])
    result = {}
    hebb = memories["Hopfield (Hebb)"]
    start = time.perf_counter()
    _ = hebb.weights + hebb_weights(extra[None])  # the whole cost: one outer product
    result["Hopfield (Hebb)"] = {"seconds": time.perf_counter() - start}
    start = time.perf_counter()
    ModernHopfield(config["modern_beta"]).store(both)
    result["modern Hopfield"] = {"seconds": time.perf_counter() - start}
    ae = memories["autoencoder"]
    saved = ae.model.get_weights()
    before = _score(ae.recall(old_cues), both, target)["correct"]
    seconds = ae.store(extra[None], rng, config["finetune_epochs"])  # the new image only
    after = _score(ae.recall(old_cues), both, target)["correct"]
    new = _score(ae.recall(flip_bits(extra[None], 0.1, rng)), both, np.array([len(patterns)]))
    ae.model.set_weights(saved)
    start = time.perf_counter()
    retrain = Autoencoder(config)
    retrain_seconds = retrain.store(both, rng, config["epochs"])
    result["autoencoder"] = {
        "seconds": seconds, "old_correct_before": before, "old_correct_after": after,
        "new_correct": new["correct"], "retrain_seconds": retrain_seconds,
        "retrain_total_seconds": time.perf_counter() - start,
    }  # fmt: skip
    return result


def run(config: dict[str, Any]) -> Result:
    rng = as_rng(config["seed"])
    images, patterns_all, labels = _digits(config["seed"])
    chosen = _typical(images, labels, config["n_stored"] + 1)
    patterns, extra = patterns_all[chosen[:-1]], patterns_all[chosen[-1]]
    memories, seconds, caught = _build(config, patterns, rng)
    sweep, occlusion, ideal = _corruption_sweep(config, memories, patterns, rng)
    attractors = _hebb_attractors(memories, patterns, config)
    counts, correlated = _correlated(config, patterns_all, rng)
    more = _add_one_more(config, memories, patterns, extra, rng)
    examples = _examples(config, memories, patterns, rng)
    probe = flip_bits(patterns, 0.2, rng)  # one modern update against attention written out
    update = memories["modern Hopfield"].recall(probe, max_steps=1).states
    as_attention = attention(probe * np.float32(config["modern_beta"]), patterns, patterns, 1.0)
    data = {
        "patterns": patterns, "memories": memories, "seconds": seconds, "warnings": caught,
        "sweep": sweep, "occlusion": occlusion, "ideal": ideal, "attractors": attractors,
        "counts": counts, "correlated": correlated,
        "more": more, "examples": examples,
        "overlap_matrix": patterns @ patterns.T / N_UNITS,
        "attention_gap": float(np.abs(update - as_attention).max()),
    }  # fmt: skip
    metrics = _metrics(data, config)
    return Result(
        metrics=metrics,
        figures=_figures(data, config),
        tables=[_cost_table(data, config)],
        text=_explain(data, metrics, config),
        arrays={"stored_patterns": patterns},
    )


def _examples(config, memories, patterns, rng):
    """Cues and recalls for the figure: flipped pixels, and half occlusion."""
    patterns = patterns[: config["n_examples"]]
    flipped = flip_bits(patterns, config["example_flip"], rng)
    occluded = occlude(patterns)
    return {
        "flipped": (flipped, _recall_all(memories, flipped, config)),
        "occluded": (occluded, _recall_all(memories, occluded, config)),
    }


# ----------------------------------------------------------------------------- report


def _n_params(name: str, memory: Any, p: int) -> int:
    if isinstance(memory, Hopfield):
        return N_UNITS * (N_UNITS - 1) // 2  # symmetric, zero diagonal
    if isinstance(memory, ModernHopfield):
        return p * N_UNITS
    return int(memory.model.count_params())


def _metrics(data, config):
    sweep, corr, counts = data["sweep"], data["correlated"], data["counts"]
    p = len(data["patterns"])
    off = data["overlap_matrix"][~np.eye(p, dtype=bool)]
    crit = {
        k: critical_load(counts, v.mean(axis=0)) for k, v in corr.items()
    }  # in patterns; None = beyond the sweep
    return {
        "n_stored": p,
        "load": p / N_UNITS,
        "flip_fractions": list(config["flip_fractions"]),
        "correct_recall": {k: v["correct"] for k, v in sweep.items()},
        "mean_overlap": {k: v["overlap"] for k, v in sweep.items()},
        "wrong_memory": {k: v["wrong_memory"] for k, v in sweep.items()},
        "output_sharpness": {k: v["sharpness"] for k, v in sweep.items()},
        "ideal_nearest_memory": data["ideal"],
        "occlusion_correct": {k: v["correct"] for k, v in data["occlusion"].items()},
        "hebb_attractors": data["attractors"],
        "store_seconds": data["seconds"],
        "numbers_stored": {k: _n_params(k, m, p) for k, m in data["memories"].items()},
        "mean_overlap_between_stored_digits": float(off.mean()),
        "mean_abs_overlap_random_patterns_expected": float(np.sqrt(2 / np.pi / N_UNITS)),
        "critical_patterns": crit,
        "critical_load": {k: (v / N_UNITS if v is not None else None) for k, v in crit.items()},
        "add_one_more": data["more"],
        "modern_update_vs_attention_max_abs_diff": data["attention_gap"],
        "warnings": data["warnings"],
    }


def _figures(data, config):
    flips = np.asarray(config["flip_fractions"]) * 100
    series = {k: {"x": flips, "y": v["correct"]} for k, v in data["sweep"].items()}
    series["nearest stored digit to the cue (ideal)"] = {
        "x": flips,
        "y": data["ideal"],
        "style": "k:",
    }
    overlap = {k: {"x": flips, "y": v["overlap"]} for k, v in data["sweep"].items()}
    chance = float(np.mean(np.abs(data["overlap_matrix"])))
    names = list(data["memories"])
    figures = [
        Figure(
            "recall_vs_corruption",
            "Recall of stored digits from corrupted cues",
            "lines",
            {
                "panels": [
                    {
                        "title": "recalled correctly",
                        "series": series,
                        "ylabel": "fraction of cues",
                        "ylim": (-0.02, 1.02),
                    },
                    {
                        "title": "overlap with the stored digit",
                        "series": overlap,
                        "ylabel": "mean overlap m",
                        "hlines": {"two different digits (mean)": chance},
                    },
                ],
                "xlabel": "pixels flipped in the cue (%)",
            },  # fmt: skip
            f"{len(data['patterns'])} digits stored, {config['trials']} corrupted cues per digit "
            "and level. Correct: the binarized recall has at most 3 of 64 pixels wrong and is "
            "nearer its own digit than any other.",
        ),
        Figure(
            "recall_occluded",
            "Recall from half-occluded digits (bottom half blanked)",
            "bars",
            {
                "labels": names,
                "values": [data["occlusion"][k]["correct"] for k in names],
                "ylabel": "fraction recalled correctly",
                "ylim": (0, 1.05),
            },  # fmt: skip
            "The autoencoder was trained on flipped pixels only. 'nearest (ideal)': the share of "
            "occluded cues whose nearest stored digit is the right one.",
        ),
    ]
    for kind, title in (("flipped", f"{config['example_flip']:.0%} of pixels flipped"),
                        ("occluded", "bottom half occluded")):  # fmt: skip
        cues, outs = data["examples"][kind]
        rows = [data["patterns"][: len(cues)], cues] + [outs[k] for k in names]
        figures.append(
            Figure(
                f"examples_{kind}",
                f"Example recalls, {title}",
                "images",
                {
                    "images": np.concatenate(rows).reshape(-1, 8, 8),
                    "ncols": len(cues),
                    "row_labels": ["stored", "cue", *names],
                    "vmin": -1.0,
                    "vmax": 1.0,
                },  # fmt: skip
                "Row by row: the stored digit, the cue, and what each memory returns.",
            )
        )
    counts = data["counts"]
    corr = {
        k: {"x": counts, "y": v.mean(axis=0), "yerr": v.std(axis=0)}
        for k, v in data["correlated"].items()
    }
    figures += [
        Figure(
            "correlated_patterns",
            "Real digits break the classic network early",
            "lines",
            {
                "series": corr,
                "xlabel": "patterns stored P (N = 64 units)",
                "ylabel": "fraction retrieved (10% flips)",
                "ylim": (-0.02, 1.02),
                "vlines": {"0.138 N = 8.8": 0.138 * N_UNITS},
                "hlines": {"0.5": 0.5},
            },  # fmt: skip
            f"Mean over {config['correlated_seeds']} random draws of the patterns.",
        ),
        Figure(
            "digit_overlaps",
            "Overlaps m = xi_a . xi_b / N between the stored digits",
            "heatmap",
            {
                "matrix": data["overlap_matrix"],
                "annotate": True,
                "fmt": ".2f",
                "xticklabels": [str(i) for i in range(len(data["patterns"]))],
                "yticklabels": [str(i) for i in range(len(data["patterns"]))],
            },  # fmt: skip
            "Random +/-1 patterns of 64 units overlap by about +/-0.1; these digits share their "
            "background and overlap far more.",
        ),
    ]
    return figures


HOW_STORED = {
    "Hopfield (Hebb)": "one outer product per memory (local, one shot)",
    "Hopfield (pseudo-inverse)": "recompute W from all memories (non-local inverse)",
    "modern Hopfield": "append the pattern as a row (one shot)",
    "autoencoder": "retrain by backprop on all memories (gradient descent, many epochs)",
}
HOW_FAILS = {
    "Hopfield (Hebb)": "falls into spurious mixtures of correlated memories",
    "Hopfield (pseudo-inverse)": "basins shrink: heavy noise lands in the wrong memory",
    "modern Hopfield": "a wrong but clean memory when the cue is nearer it; mixtures if beta "
    "is small",
    "autoencoder": "grey blends of the digits it learned; forgets when trained on new ones",
}


def _cost_table(data, config):
    p = len(data["patterns"])
    rows = []
    for name, memory in data["memories"].items():
        correct = data["sweep"][name]["correct"]
        i = list(config["flip_fractions"]).index(0.2) if 0.2 in config["flip_fractions"] else 0
        rows.append([
            name, _n_params(name, memory, p), f"{data['seconds'][name] * 1000:.1f} ms",
            HOW_STORED[name], f"{correct[i]:.2f}", HOW_FAILS[name],
        ])  # fmt: skip
    level = 0.2 if 0.2 in config["flip_fractions"] else config["flip_fractions"][0]
    return Table(
        f"What each memory costs ({p} digits of 64 pixels)",
        ["memory", "numbers stored", "time to store", "storing one more",
         f"correct at {level:.0%} flips", "how it fails"],
        rows,
    )  # fmt: skip


def _failures(data, metrics, config) -> str:
    """How each memory failed, from the measurements."""
    flips = list(config["flip_fractions"])
    hi = max((f for f in flips if f < 0.5), default=flips[-1])
    k = flips.index(hi)
    wrong, sharp = metrics["wrong_memory"], metrics["output_sharpness"]
    att = metrics["hebb_attractors"]
    return (
        "**How each fails.** The classic Hebbian network fails by converging, confidently, to a "
        f"wrong attractor: from the {metrics['n_stored']} clean digits it reached "
        f"{att['distinct_final_states']} distinct final state(s), overlapping the stored digits "
        f"by at most {att['best_overlap_with_a_stored_digit']:.2f} on average and the "
        f"majority-vote mixture of all stored digits by {att['overlap_with_majority_mixture']:.2f} "
        f"- a spurious mixture state. At {hi:.0%} flips, the share of recalls that were another "
        "stored digit (a clean but wrong memory): "
        + ", ".join(f"{n} {v[k]:.2f}" for n, v in wrong.items())
        + "; the mean |output| (1 = crisp, 0 = grey): "
        + ", ".join(f"{n} {v[k]:.2f}" for n, v in sharp.items())
        + ". The modern network fails by returning the wrong stored digit once the cue is nearer "
        "to it (with a small beta it would return a blend instead). The autoencoder's failures "
        f"are mostly blends: at {hi:.0%} flips {_neither(metrics, 'autoencoder', k):.0%} of its "
        "recalls were neither the right digit nor another stored one (modern network: "
        f"{_neither(metrics, 'modern Hopfield', k):.0%})."
    )


def _neither(metrics, name: str, k: int) -> float:
    return max(0.0, 1.0 - metrics["correct_recall"][name][k] - metrics["wrong_memory"][name][k])


def _patterns_text(value: float | None, config: dict[str, Any]) -> str:
    return f"{value:.1f}" if value is not None else f"> {config['max_correlated']}"


def _explain(data, metrics, config) -> str:
    p = metrics["n_stored"]
    flips = list(config["flip_fractions"])
    cr = metrics["correct_recall"]

    def at(name, level, table=cr):
        return table[name][flips.index(level)] if level in flips else float("nan")

    def at_ideal(level):
        return metrics["ideal_nearest_memory"][flips.index(level)] if level in flips else 0.0

    more = data["more"]["autoencoder"]
    crit = metrics["critical_patterns"]
    parts = [
        f"**Setup.** {p} binarized training digits (for each class, the image nearest the class "
        f"mean) were stored as +/-1 patterns of N = 64 pixels (load {metrics['load']:.3f}) in: "
        "(a) a classic Hopfield network with Hebb's rule, recalled by asynchronous updates "
        "(and, for contrast, the pseudo-inverse rule); (b) a modern Hopfield network, "
        f"beta = {config['modern_beta']}, {config['modern_steps']} update(s) "
        "xi <- X^T softmax(beta X xi) - which is attention: with queries Q = beta * xi (one "
        "row per cue) and keys = values = the stored patterns X, softmax(Q K^T) V reproduces "
        "one update to within "
        f"{metrics['modern_update_vs_attention_max_abs_diff']:.1e} here; (c) a 64-"
        f"{config['hidden_units']}-64 autoencoder (ReLU, sigmoid output, Adam, binary "
        f"cross-entropy) trained with engram.nn for {config['epochs']} epochs on "
        f"{config['copies']} noisy copies of each digit (0-{config['train_max_flip']:.0%} "
        "pixels flipped) to output the clean digit - memory in trained weights.",
        "**Recall.** Recalled correctly from "
        + ", ".join(
            f"{name}: {at(name, 0.0):.2f} / {at(name, 0.2):.2f} / {at(name, 0.4):.2f}"
            for name in cr
        )
        + " (clean / 20% / 40% flipped pixels). For reference, the stored digit nearest to the "
        "cue was the right one for "
        + " / ".join(f"{at_ideal(level):.2f}" for level in (0.0, 0.2, 0.4))
        + " of the cues (ties split): under independent flips this lookup is the best any "
        "memory can do, and at 50% flips a cue carries no information. Half-occluded cues "
        "(bottom half blank): "
        + ", ".join(f"{k} {v:.2f}" for k, v in metrics["occlusion_correct"].items())
        + " - many digits are ambiguous from their top half alone.",
        "**The correlated-pattern case.** The stored digits overlap by "
        f"m = {metrics['mean_overlap_between_stored_digits']:.2f} on average, against about "
        f"+/-{metrics['mean_abs_overlap_random_patterns_expected']:.2f} for random patterns of "
        "the same size: they share a large blank background and similar strokes. The Hebbian "
        "field at unit i of pattern nu is xi_i^nu plus the crosstalk "
        "(1/N) sum_{mu != nu} xi_i^mu (xi^mu . xi^nu); for random patterns the crosstalk terms "
        "have random signs and average out (noise of variance P/N, hence 0.138 N), but for "
        "digits they share a sign and add up, so every state is pulled towards the common "
        "component - an average digit - and the memories become mixtures and spurious "
        f"attractors. With {p} digits even the clean stored patterns are not fixed points "
        f"(recalled correctly from the uncorrupted pattern: {at('Hopfield (Hebb)', 0.0):.2f}). "
        "In the sweep over P (10% flips, "
        f"{config['correlated_seeds']} draws), half the patterns are lost at P = "
        + ", ".join(f"{_patterns_text(v, config)} for {k}" for k, v in crit.items())
        + f" (0.138 N = {0.138 * N_UNITS:.1f}). The pseudo-inverse rule decorrelates the "
        "patterns through the inverse of their overlap matrix and recovers, at the price of a "
        "non-local rule; the modern network needs only the right memory to be the most "
        "similar one, and its steep softmax does the rest.",
        "**Cost and one more memory.** Numbers stored: "
        + ", ".join(f"{k} {v:,}" for k, v in metrics["numbers_stored"].items())
        + ". Storing took "
        + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in metrics["store_seconds"].items())
        + ". Adding an 11th memory costs the Hebbian network one outer product "
        f"({data['more']['Hopfield (Hebb)']['seconds'] * 1e6:.0f} us) and the modern "
        "network one appended row; the autoencoder must be retrained. Fine-tuning it on the "
        f"new digit alone ({config['finetune_epochs']} epochs) dropped its recall of the old "
        f"ones from {more['old_correct_before']:.2f} to {more['old_correct_after']:.2f} "
        "(catastrophic forgetting; new digit recalled: "
        f"{more['new_correct']:.2f}); retraining on all {p + 1} took "
        f"{more['retrain_seconds']:.2f} s.",
        _failures(data, metrics, config),
    ]
    if data["warnings"]:
        parts.append("Warnings raised while storing: " + " ".join(data["warnings"]))
    return "\n\n".join(parts)


EXPERIMENT = register(
    Experiment(
        name="memory-recall",
        summary="The same digits stored in a Hopfield network, a modern Hopfield network and an "
        "autoencoder; recall from damage.",
        reference="Hopfield 1982; Ramsauer et al. 2020; Amit, Gutfreund & Sompolinsky 1985; "
        "Rumelhart, Hinton & Williams 1986; Vincent et al. 2008 (denoising autoencoders).",
        defaults={
            "seed": 0,
            "epochs": 60,
            "n_stored": 10,
            "flip_fractions": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
            "trials": 20,
            "modern_beta": 1.0,
            "modern_steps": 3,
            "hidden_units": 128,
            "copies": 100,
            "train_max_flip": 0.4,
            "finetune_epochs": 10,
            "max_correlated": 20,
            "correlated_seeds": 10,
            "example_flip": 0.2,
            "n_examples": 10,
        },
        quick={
            "epochs": 20,
            "copies": 40,
            "trials": 10,
            "correlated_seeds": 3,
            "n_examples": 5,
            "max_correlated": 16,
        },
        run=run,
    )
)
