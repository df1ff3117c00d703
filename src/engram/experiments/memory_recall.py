"""Brain memory beside network memory: the same digits stored three ways, recalled from damage.

The same binarized 8x8 digits are stored in (a) a classic Hopfield network (Hebbian: one outer
product per memory, local, one shot), (b) a modern Hopfield network (the patterns themselves,
read out by softmax attention) and (c) an autoencoder trained by backpropagation with engram.nn
(memory in trained weights). Each recalls from cues with 0-50% of pixels flipped and from
half-occluded images. The report says what each costs and how each failed in this run, and
measures where correlated patterns (real digits) break the classic network against random ones.

Advice from a development run (the defaults, seed 0), not a finding: with 10 digits (mean
overlap m = 0.52) the Hebbian network recalled none of them even from the clean digit; half the
patterns were lost at P = 2.7 digits against 13.1 random patterns; fine-tuning the autoencoder
on the one new digit alone dropped its recall of the old ones from 1.00 to 0.20. Other
``n_stored``, seeds or epochs change these numbers; the report states what each run measured.

This file stores, recalls and measures; `_memory_recall_report` turns the results into the
figures, the cost table and the text.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from engram.experiments import _memory_recall_report as report
from engram.experiments.base import Experiment, Result, register
from engram.memory.capacity import CapacityWarning, critical_load
from engram.memory.hopfield import Hopfield
from engram.memory.hopfield_rules import DependentPatternsWarning, hebb_weights
from engram.memory.modern_hopfield import ModernHopfield, attention
from engram.memory.patterns import binarize, flip_bits
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

    The nearest-pattern lookup is the maximum-likelihood recall when each unit is flipped
    independently with a probability below 0.5 (and the memories are equally likely). It is
    not the best possible recall of cues with exactly k units flipped: see `exact_flip_bayes`.
    """
    overlaps = cues @ patterns.T
    top = overlaps == overlaps.max(axis=1, keepdims=True)
    return float(np.mean(top[np.arange(len(cues)), target] / top.sum(axis=1)))


def exact_flip_bayes(cues: np.ndarray, patterns: np.ndarray, target: np.ndarray) -> float:
    """Expected share recalled by the Bayes-optimal rule for cues with exactly k units flipped.

    Math:
        P(cue | pattern mu) = 1 / C(N, k) if d(cue, mu) = k, else 0      (d: Hamming distance)
        so with equally likely memories the posterior is uniform over the stored patterns at
        distance exactly k from the cue; the rule picks one of them, and is right with
        probability 1 / #{mu : d(cue, mu) = k}. No recall can do better on average.

    Args:
        cues: (B, N) +/-1, each at Hamming distance exactly k from its target (the same k).
        patterns: (P, N) +/-1 stored patterns.
        target: (B,) index of each cue's pattern.
    """
    n = patterns.shape[1]
    distance = np.rint((n - cues @ patterns.T) / 2).astype(np.int64)
    k = distance[np.arange(len(cues)), target]
    if np.any(k != k[0]):
        raise ValueError("exact_flip_bayes needs cues with the same number of flipped units.")
    return float(np.mean(1.0 / (distance == k[:, None]).sum(axis=1)))


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
    ideal: dict[str, list[float]] = {"nearest": [], "bayes": []}
    for fraction in config["flip_fractions"]:
        cues = flip_bits(np.tile(patterns, (config["trials"], 1)), fraction, rng)
        ideal["nearest"].append(nearest_is_right(cues, patterns, target))
        ideal["bayes"].append(exact_flip_bayes(cues, patterns, target))
        for name, output in _recall_all(memories, cues, config).items():
            for key, value in _score(output, patterns, target).items():
                sweep[name][key].append(value)
    cues = occlude(patterns)
    occluded = _recall_all(memories, cues, config)
    occlusion = {name: _score(out, patterns, np.arange(p)) for name, out in occluded.items()}
    occlusion["nearest stored digit"] = {"correct": nearest_is_right(cues, patterns, np.arange(p))}
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
    """Fraction retrieved (``probe_flip`` flips) against P: random patterns vs real digits."""
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
                cues = flip_bits(pool[:p], config["probe_flip"], rng)
                out = net.recall(cues, update="async", seed=config["seed"])
                row.append(float(np.mean(np.diag(out.overlaps) > 0.95)))
            curves[label].append(row)
    return counts, {k: np.array(v) for k, v in curves.items()}


def _add_one_more(config, memories, patterns, extra, rng):
    """Store one more memory in each; recall of the old ones from ``probe_flip`` flips after."""
    old_cues = flip_bits(np.tile(patterns, (config["trials"], 1)), config["probe_flip"], rng)
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
    new_cue = flip_bits(extra[None], config["probe_flip"], rng)
    new = _score(ae.recall(new_cue), both, np.array([len(patterns)]))
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
        "critical": {k: critical_load(counts, v.mean(axis=0)) for k, v in correlated.items()},
        "more": more, "examples": examples,
        "overlap_matrix": patterns @ patterns.T / N_UNITS,
        "attention_gap": float(np.abs(update - as_attention).max()),
    }  # fmt: skip
    metrics = _metrics(data, config)
    return Result(
        metrics=metrics,
        figures=report.figures(data, config),
        tables=[report.cost_table(data, metrics, config)],
        text=report.explain(data, metrics, config),
        arrays={"stored_patterns": patterns},
        opening=report.opening(data, metrics, config),
        headline=report.headline(metrics),
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


# ----------------------------------------------------------------------------- metrics


def _n_params(name: str, memory: Any, p: int) -> int:
    if isinstance(memory, Hopfield):
        return N_UNITS * (N_UNITS - 1) // 2  # symmetric, zero diagonal
    if isinstance(memory, ModernHopfield):
        return p * N_UNITS
    return int(memory.model.count_params())


def _level(config) -> int:
    """Index of the flip level the headline reports: 20% when swept, else the first."""
    flips = list(config["flip_fractions"])
    return flips.index(0.2) if 0.2 in flips else 0


def _metrics(data, config):
    sweep = data["sweep"]
    p = len(data["patterns"])
    off = data["overlap_matrix"][~np.eye(p, dtype=bool)]
    crit = data["critical"]  # in patterns
    level = _level(config)
    more = data["more"]["autoencoder"]
    return {  # headline first: recall at the headline flip level, then forgetting
        f"correct_recall_at_{config['flip_fractions'][level] * 100:.0f}pct_flips": {
            k: v["correct"][level] for k, v in sweep.items()
        },
        "autoencoder_old_recall_after_finetune": more["old_correct_after"],
        "n_stored": p,
        "load": p / N_UNITS,
        "flip_fractions": list(config["flip_fractions"]),
        "correct_recall": {k: v["correct"] for k, v in sweep.items()},
        "mean_overlap": {k: v["overlap"] for k, v in sweep.items()},
        "wrong_memory": {k: v["wrong_memory"] for k, v in sweep.items()},
        "output_sharpness": {k: v["sharpness"] for k, v in sweep.items()},
        "nearest_memory": data["ideal"]["nearest"],
        "bayes_exact_flips": data["ideal"]["bayes"],
        "occlusion_correct": {k: v["correct"] for k, v in data["occlusion"].items()},
        "hebb_attractors": data["attractors"],
        "store_seconds": data["seconds"],
        "numbers_stored": {k: _n_params(k, m, p) for k, m in data["memories"].items()},
        "mean_overlap_between_stored_digits": float(off.mean()),
        "mean_abs_overlap_random_patterns_expected": float(np.sqrt(2 / np.pi / N_UNITS)),
        "critical_patterns": {k: v.value for k, v in crit.items()},
        "critical_patterns_status": {k: v.status for k, v in crit.items()},
        "critical_load": {k: (v.value / N_UNITS if v.crossed else None) for k, v in crit.items()},
        "add_one_more": data["more"],
        "modern_update_vs_attention_max_abs_diff": data["attention_gap"],
        "warnings": data["warnings"],
    }


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
            "probe_flip": 0.1,
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
        limits={
            "n_stored": "[1, 100]",
            "flip_fractions": "[0, 1]",
            "trials": "[1, 100000]",
            "modern_beta": "(0, inf)",
            "modern_steps": "[1, 1000]",
            "hidden_units": "[1, 100000]",
            "copies": "[1, 100000]",
            "train_max_flip": "[0, 1]",
            "finetune_epochs": "[1, 100000]",
            "max_correlated": "[2, 100]",
            "correlated_seeds": "[1, 100000]",
            "example_flip": "[0, 1]",
            "probe_flip": "[0, 1]",
            "n_examples": "[1, 100]",
        },
    )
)
