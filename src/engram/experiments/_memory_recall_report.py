"""The memory-recall experiment's report: figures, the cost table and the text.

Everything here turns the data `engram.experiments.memory_recall` measured (recall sweeps,
occlusion, the correlated-pattern sweep, the cost of one more memory, metrics) into what the
report shows; nothing is stored or recalled. (A module whose name starts with ``_`` is not loaded
as an experiment.)
"""

from __future__ import annotations

import numpy as np

from engram.experiments.base import Figure, Table

__all__ = ["cost_table", "explain", "figures"]


def figures(data, config) -> list[Figure]:
    """Recall against corruption and occlusion, example recalls, the correlated sweep, overlaps."""
    n_units = data["patterns"].shape[1]
    flips = np.asarray(config["flip_fractions"]) * 100
    series = {k: {"x": flips, "y": v["correct"]} for k, v in data["sweep"].items()}
    series["nearest stored digit to the cue"] = {
        "x": flips,
        "y": data["ideal"]["nearest"],
        "style": "k:",
    }
    series["Bayes-optimal (exactly k pixels flipped)"] = {
        "x": flips, "y": data["ideal"]["bayes"], "style": "k--"
    }  # fmt: skip
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
            "The autoencoder was trained on flipped pixels only. 'nearest stored digit': the "
            "share of occluded cues whose nearest stored digit is the right one.",
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
    crit = data["critical"]
    digits, random = crit["digits (Hebb)"], crit["random patterns (Hebb)"]
    earlier = digits.crossed and (not random.crossed or digits.value < random.value)
    corr = {
        k: {"x": counts, "y": v.mean(axis=0), "yerr": v.std(axis=0)}
        for k, v in data["correlated"].items()
    }
    figs += [
        Figure(
            "correlated_patterns",
            "Hebbian recall against P: real digits and random patterns"
            + (" (digits break earlier)" if earlier else ""),
            "lines",
            {
                "series": corr,
                "xlabel": "patterns stored P (N = 64 units)",
                "ylabel": f"fraction retrieved ({config['probe_flip']:.0%} flips)",
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
            f"Mean overlap between the stored digits: {_mean_offdiag(data):.2f}; random +/-1 "
            f"patterns of {n_units} units overlap by about +/-{np.sqrt(2 / np.pi / n_units):.2f}.",
        ),
    ]
    return figs


def _mean_offdiag(data) -> float:
    m = data["overlap_matrix"]
    return float(m[~np.eye(len(m), dtype=bool)].mean())


HOW_STORED = {
    "Hopfield (Hebb)": "one outer product per memory (local, one shot)",
    "Hopfield (pseudo-inverse)": "recompute W from all memories (non-local inverse)",
    "modern Hopfield": "append the pattern as a row (one shot)",
    "autoencoder": "retrain by backprop on all memories (gradient descent, many epochs)",
}


def _hard_level(config) -> int:
    """Index of the heaviest flip level below 50% (where failures show), else the last."""
    flips = list(config["flip_fractions"])
    return flips.index(max((f for f in flips if f < 0.5), default=flips[-1]))


def _failure(metrics, name: str, k: int) -> str:
    """How one memory's recalls failed at level k, from the measurements."""
    correct = metrics["correct_recall"][name][k]
    if correct >= 1.0:
        return "no failures at this level"
    wrong = metrics["wrong_memory"][name][k]
    neither = max(0.0, 1.0 - correct - wrong)
    sharp = metrics["output_sharpness"][name][k]
    return (f"{1 - correct:.0%} failed: {wrong:.0%} another stored digit, {neither:.0%} no "
            f"stored digit; mean |output| {sharp:.2f}")  # fmt: skip


def cost_table(data, metrics, config) -> Table:
    """What each memory stores, how long storing took, how it adds one more, how it failed."""
    p = len(data["patterns"])
    flips = list(config["flip_fractions"])
    i = flips.index(0.2) if 0.2 in flips else 0
    k = _hard_level(config)
    rows = []
    for name in data["memories"]:
        correct = data["sweep"][name]["correct"]
        rows.append([
            name, metrics["numbers_stored"][name], f"{data['seconds'][name] * 1000:.1f} ms",
            HOW_STORED[name], f"{correct[i]:.2f}", _failure(metrics, name, k),
        ])  # fmt: skip
    return Table(
        f"What each memory costs ({p} digits of 64 pixels)",
        ["memory", "numbers stored", "time to store", "storing one more",
         f"correct at {flips[i]:.0%} flips", f"how it failed at {flips[k]:.0%} flips"],
        rows,
    )  # fmt: skip


def _failures(data, metrics, config) -> str:
    """How each memory failed, from the measurements."""
    k = _hard_level(config)
    hi = config["flip_fractions"][k]
    att = metrics["hebb_attractors"]
    mixture, best = att["overlap_with_majority_mixture"], att["best_overlap_with_a_stored_digit"]
    nearer = ("nearer the majority-vote mixture of all stored digits than the digits themselves"
              if mixture > best else
              "nearer a stored digit than the majority-vote mixture of all of them")  # fmt: skip
    return (
        f"**How each failed.** Started at the {metrics['n_stored']} clean digits, the Hebbian "
        f"network reached {att['distinct_final_states']} distinct final state(s), overlapping "
        f"their best-matching stored digit by {best:.2f} on average and the majority-vote "
        f"mixture by {mixture:.2f}: {nearer}. At {hi:.0%} flips: "
        + "; ".join(f"{name}: {_failure(metrics, name, k)}" for name in metrics["correct_recall"])
        + " (mean |output|: 1 = every pixel fully on or off, 0 = all grey)."
    )


def _recall(metrics, config) -> str:
    flips = list(config["flip_fractions"])
    cr = metrics["correct_recall"]
    shown = [f for f in (0.0, 0.2, 0.4) if f in flips] or flips[:3]
    idx = [flips.index(f) for f in shown]
    levels = " / ".join(f"{f:.0%}" for f in shown)
    near, bayes = metrics["nearest_memory"], metrics["bayes_exact_flips"]
    gaps = {name: max(bayes[i] - v[i] for i in range(len(flips))) for name, v in cr.items()}
    best = min(gaps, key=gaps.get)
    occ = metrics["occlusion_correct"]
    occ_near = occ["nearest stored digit"]
    return (
        "**Recall.** Share recalled correctly at "
        + levels
        + " flipped pixels: "
        + "; ".join(f"{n}: " + " / ".join(f"{v[i]:.2f}" for i in idx) for n, v in cr.items())
        + ". Each cue has exactly round(f N) pixels flipped. For those cues the best any memory "
        "can do on average (Bayes-optimal: pick among the stored digits at exactly that "
        "distance from the cue) is "
        + " / ".join(f"{bayes[i]:.2f}" for i in idx)
        + "; the nearest stored digit is the right one for "
        + " / ".join(f"{near[i]:.2f}" for i in idx)
        + " (ties split; this is the best recall only when each pixel flips independently). "
        f"Closest to the Bayes-optimal curve: {best}, at most {gaps[best]:.2f} below it at any "
        "level. Half-occluded cues (bottom half blank): "
        + ", ".join(f"{k} {v:.2f}" for k, v in occ.items() if k != "nearest stored digit")
        + "; the nearest stored digit is the right one for "
        + f"{occ_near:.2f} of them"
        + (" - some digits are ambiguous from their top half." if occ_near < 1 else ".")
    )


def _correlated_text(data, metrics, config) -> str:
    p = metrics["n_stored"]
    n_units = data["patterns"].shape[1]
    crit = data["critical"]
    hebb_clean = metrics["correct_recall"]["Hopfield (Hebb)"][0]
    m, rnd = (
        metrics["mean_overlap_between_stored_digits"],
        metrics["mean_abs_overlap_random_patterns_expected"],
    )
    digits, random, pinv = (crit["digits (Hebb)"], crit["random patterns (Hebb)"],
                            crit["digits (pseudo-inverse)"])  # fmt: skip
    clean = (
        f"With {p} digits, none of the clean stored digits was recalled correctly from itself."
        if hebb_clean == 0 else
        f"With {p} digits, {hebb_clean:.2f} of the clean stored digits were recalled correctly "
        "from themselves" + (" (all of them)." if hebb_clean >= 1 else ".")
    )  # fmt: skip
    text = (
        f"**The correlated-pattern case.** The stored digits overlap by m = {m:.2f} on average, "
        f"against about +/-{rnd:.2f} for random patterns of the same size. The Hebbian "
        "field at unit i of pattern nu is xi_i^nu plus the crosstalk "
        "(1/N) sum_{mu != nu} xi_i^mu (xi^mu . xi^nu): for random patterns its terms have random "
        "signs (noise of variance P/N, hence a capacity proportional to N), for correlated "
        "patterns they share a sign and add up, pulling states towards their common component. "
        + clean
        + f" In the sweep over P ({config['probe_flip']:.0%} flips, "
        f"{config['correlated_seeds']} draws), the share retrieved falls below half at P = "
        + ", ".join(f"{c.text(1)} for {k}" for k, c in crit.items())
        + f" (0.138 N = {0.138 * n_units:.1f})."
    )
    if digits.crossed and (not random.crossed or digits.value < random.value):
        text += " Real digits break the Hebbian network at fewer patterns than random ones."
    elif digits.crossed and random.crossed:
        text += " Real digits do not break the Hebbian network earlier than random ones here."
    if digits.crossed and (not pinv.crossed or pinv.value > digits.value):
        text += (
            " The pseudo-inverse rule, which decorrelates the patterns through the inverse "
            "of their overlap matrix (a non-local rule), holds more digits than Hebb's."
        )
    elif digits.crossed:
        text += " The pseudo-inverse rule does not hold more digits than Hebb's here."
    return text


def _one_more(data, metrics, config) -> str:
    p = metrics["n_stored"]
    more = data["more"]["autoencoder"]
    before, after = more["old_correct_before"], more["old_correct_after"]
    if after <= 0.5 * before and before > 0:
        change = (
            f"dropped its recall of the old ones from {before:.2f} to {after:.2f}: "
            "catastrophic forgetting"
        )
    elif after < before:
        change = f"lowered its recall of the old ones from {before:.2f} to {after:.2f}"
    else:
        change = (f"did not lower its recall of the old ones ({before:.2f} before, "
                  f"{after:.2f} after)")  # fmt: skip
    return (
        "**Cost and one more memory.** Numbers stored: "
        + ", ".join(f"{k} {v:,}" for k, v in metrics["numbers_stored"].items())
        + ". Storing took "
        + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in metrics["store_seconds"].items())
        + f". Adding memory number {p + 1} costs the Hebbian network one outer product "
        f"({data['more']['Hopfield (Hebb)']['seconds'] * 1e6:.0f} us) and the modern "
        "network one appended row; the autoencoder is trained again. Fine-tuning it on the "
        f"new digit alone ({config['finetune_epochs']} epochs) {change} (recall from "
        f"{config['probe_flip']:.0%} flips; the new digit recalled: {more['new_correct']:.2f}); "
        f"retraining on all {p + 1} took {more['retrain_seconds']:.2f} s."
    )


def _headline_key(metrics) -> str:
    return next(k for k in metrics if k.startswith("correct_recall_at_"))


def headline(metrics) -> dict[str, str]:
    """The findings as cards: recall from damaged cues per memory, then the forgetting."""
    key = _headline_key(metrics)
    level = key.removeprefix("correct_recall_at_").removesuffix("pct_flips")
    cards = {f"{key}.{name}": f"recall, {level}% flipped: {name}" for name in metrics[key]}
    cards["autoencoder_old_recall_after_finetune"] = "autoencoder: old digits after one new one"
    return cards


def opening(data, metrics, config) -> str:
    """What the run showed, for a reader who reads nothing else."""
    key = _headline_key(metrics)
    level = key.removeprefix("correct_recall_at_").removesuffix("pct_flips")
    recall = metrics[key]
    ranked = sorted(recall, key=recall.get, reverse=True)
    more = data["more"]["autoencoder"]
    before, after = more["old_correct_before"], more["old_correct_after"]
    if after <= 0.5 * before and before > 0:
        forgot = f"forgot most of the old ones (recall {before:.0%} before, {after:.0%} after)"
    elif after < before:
        forgot = f"lost some of the old ones (recall {before:.0%} before, {after:.0%} after)"
    else:
        forgot = f"kept the old ones (recall {before:.0%} before, {after:.0%} after)"
    return (
        f"{metrics['n_stored']} digits were stored in each memory and recalled from copies "
        f"with {level}% of their pixels flipped: "
        + ", ".join(f"the {name} recalled {recall[name]:.0%}" for name in ranked)
        + ". Taught one new digit on its own, the autoencoder "
        + forgot
        + ", while a Hopfield memory simply adds it."
    )


def explain(data, metrics, config) -> str:
    """The report's text: setup, recall, the correlated-pattern case, cost, failures."""
    p = metrics["n_stored"]
    parts = [
        f"**Setup.** {p} binarized training digits (per class in turn, the images nearest the "
        f"class mean) were stored as +/-1 patterns of N = 64 pixels (load {metrics['load']:.3f}) "
        "in: (a) a classic Hopfield network with Hebb's rule, recalled by asynchronous updates "
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
        _recall(metrics, config),
        _correlated_text(data, metrics, config),
        _one_more(data, metrics, config),
        _failures(data, metrics, config),
    ]
    if data["warnings"]:
        parts.append("Warnings raised while storing: " + " ".join(data["warnings"]))
    return "\n\n".join(parts)
