"""The memory-recall experiment's report: figures, the cost table and the text.

Everything here turns the data `engram.experiments.memory_recall` measured (recall sweeps,
occlusion, the correlated-pattern sweep, the cost of one more memory, metrics) into what the
report shows; nothing is stored or recalled. (A module whose name starts with ``_`` is not loaded
as an experiment.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.experiments.base import Figure, Table

__all__ = ["cost_table", "explain", "figures"]


def figures(data, config) -> list[Figure]:
    """Recall against corruption and occlusion, example recalls, the correlated sweep, overlaps."""
    n_units = data["patterns"].shape[1]
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
    figs = [
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
        figs.append(
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
    figs += [
        Figure(
            "correlated_patterns",
            "Real digits break the classic network early",
            "lines",
            {
                "series": corr,
                "xlabel": "patterns stored P (N = 64 units)",
                "ylabel": "fraction retrieved (10% flips)",
                "ylim": (-0.02, 1.02),
                "vlines": {"0.138 N = 8.8": 0.138 * n_units},
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
    return figs


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


def cost_table(data, metrics, config) -> Table:
    """What each memory stores, how long storing took, how it adds one more, how it fails."""
    p = len(data["patterns"])
    rows = []
    for name in data["memories"]:
        correct = data["sweep"][name]["correct"]
        i = list(config["flip_fractions"]).index(0.2) if 0.2 in config["flip_fractions"] else 0
        rows.append([
            name, metrics["numbers_stored"][name], f"{data['seconds'][name] * 1000:.1f} ms",
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


def explain(data, metrics, config) -> str:
    """The report's text: setup, recall, the correlated-pattern case, cost, failures."""
    n_units = data["patterns"].shape[1]
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
        + f" (0.138 N = {0.138 * n_units:.1f}). The pseudo-inverse rule decorrelates the "
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
