"""What the CNN's first layer learns, beside the Gabor-like receptive fields of V1 simple cells.

Simple cells in primary visual cortex respond to an oriented bar or edge at one place in the
visual field; their receptive fields are well described by Gabor functions, a sinusoid under a
Gaussian envelope (Hubel & Wiesel 1962; Jones & Palmer 1987). The first layer of a CNN is a bank
of small filters applied at every position, trained here by backpropagation on images. This
experiment trains the article's CNN, shows its first-layer kernels and feature maps, and
measures how well each kernel is matched by a Gabor function, before and after training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.experiments import _vision as V
from engram.experiments._verdict import verdict
from engram.experiments.base import Experiment, Figure, Result, Table, register


def gabor(size: int, theta: float, wavelength: float, phase: float, sigma: float) -> np.ndarray:
    """A Gabor receptive field on a size x size grid centred on the middle pixel.

    Math:
        x' = x cos(theta) + y sin(theta),   y' = -x sin(theta) + y cos(theta)
        g(x, y) = exp(-(x'^2 + y'^2) / (2 sigma^2)) * cos(2 pi x' / wavelength + phase)
    """
    half = (size - 1) / 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    xr = x * np.cos(theta) + y * np.sin(theta)
    yr = -x * np.sin(theta) + y * np.cos(theta)
    envelope = np.exp(-(xr**2 + yr**2) / (2 * sigma**2))
    return envelope * np.cos(2 * np.pi * xr / wavelength + phase)


def gabor_bank(size: int) -> tuple[np.ndarray, list[str]]:
    """Gabors at 8 orientations, 4 phases and 3 scales, each zero-mean and unit-norm."""
    filters, names = [], []
    for scale in (0.5, 0.75, 1.0):
        for k in range(8):
            for phase in (0.0, np.pi / 2, np.pi, 3 * np.pi / 2):
                theta = k * np.pi / 8
                g = gabor(
                    size, theta, wavelength=2.0 * size * scale, phase=phase, sigma=size * scale / 2
                )
                filters.append(g)
                names.append(f"{np.degrees(theta):.0f} deg")
    bank = np.array(filters)
    bank -= bank.mean(axis=(1, 2), keepdims=True)
    bank /= np.linalg.norm(bank.reshape(len(bank), -1), axis=1)[:, None, None] + 1e-12
    return bank, names


def gabor_match(kernels: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """For each kernel (n, k, k): the best |cosine similarity| with any Gabor of the bank.

    Kernels are made zero-mean first (a constant offset is not a spatial pattern), so 1 means
    the kernel is exactly a Gabor (up to sign and scale).
    """
    flat = kernels.reshape(len(kernels), -1).astype(np.float64)
    flat = flat - flat.mean(axis=1, keepdims=True)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True) + 1e-12
    return np.abs(flat @ bank.reshape(len(bank), -1).T).max(axis=1)


def random_match(size: int, n: int, bank: np.ndarray, seed: int) -> np.ndarray:
    """The best matches of ``n`` white-noise kernels: their mean is the chance level for this
    kernel size."""
    noise = np.random.default_rng(seed).standard_normal((n, size, size))
    return gabor_match(noise, bank)


def _aligned(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The centre of ``image`` that a 'valid' convolution's output pixels sit on, (1, h, w)."""
    top, left = (image.shape[0] - shape[0]) // 2, (image.shape[1] - shape[1]) // 2
    return image[None, top : top + shape[0], left : left + shape[1]]


def run(config: dict[str, Any]) -> Result:
    size = config["kernel_size"]
    train_pair, test_pair = V.load_images(config["dataset"], config["data_dir"], config["seed"])
    train_pair = V.limit(train_pair, config["train_limit"])
    model = V.build_cnn(config["seed"], config["learning_rate"], kernel_size=size)
    conv = model.layers[0]
    initial = conv.params["kernel"][:, :, 0, :].transpose(2, 0, 1).copy()  # (32, k, k)
    run_ = V.train(model, train_pair, test_pair, config, "CNN")
    trained = conv.params["kernel"][:, :, 0, :].transpose(2, 0, 1).copy()

    bank, _ = gabor_bank(size)
    match_trained, match_initial = gabor_match(trained, bank), gabor_match(initial, bank)
    match_noise = random_match(size, 2000, bank, config["seed"])
    chance = float(match_noise.mean())
    image = test_pair[0][:1][..., None]
    maps = conv.forward(image, training=False)[0].transpose(2, 0, 1)  # (32, oh, ow)
    run_["feature_map_shape"] = maps.shape[1:]
    order = np.argsort(-match_trained)

    figures = [
        Figure(
            "first_layer_kernels",
            f"First-layer kernels after training ({size}x{size})",
            "images",
            {
                "images": trained[order],
                "labels": [f"{m:.2f}" for m in match_trained[order]],
                "ncols": 8,
                "cmap": "RdBu_r",
                "shared_scale": False,
            },
            "The 32 learned kernels, sorted by their best Gabor match (the number above each; "
            "1 = exactly a Gabor up to sign and scale). Red: positive weights, blue: negative.",
        ),
        Figure(
            "initial_kernels",
            "The same kernels before training (random)",
            "images",
            {
                "images": initial[order],
                "labels": [f"{m:.2f}" for m in match_initial[order]],
                "ncols": 8,
                "cmap": "RdBu_r",
                "shared_scale": False,
            },
            "Glorot-uniform random initial kernels, in the same order, with their Gabor match.",
        ),
        Figure(
            "gabor_receptive_fields",
            "Gabor model of V1 simple-cell receptive fields",
            "images",
            {
                "images": [
                    gabor(21, k * np.pi / 8, 10, phase, 4)
                    for phase in (0.0, np.pi / 2)
                    for k in range(8)
                ],
                "ncols": 8,
                "cmap": "RdBu_r",
                "row_labels": ["even", "odd"],
            },
            "Gabor functions at 8 orientations (0 to 157.5 degrees), even (cosine) and odd "
            "(sine) phase, drawn at 21x21 so the stripes show. The kernels are compared with a "
            f"bank of such Gabors at their own {size}x{size} size (8 orientations, 4 phases, "
            "3 scales).",
        ),
        Figure(
            "feature_maps",
            "First-layer feature maps of one test image",
            "images",
            {
                "images": np.concatenate(
                    [_aligned(image[0, :, :, 0], maps.shape[1:]), maps[order][:15]]
                ),
                "labels": ["input"] + [f"kernel {i}" for i in range(1, 16)],
                "ncols": 8,
                "cmap": "gray_r",
                "shared_scale": False,
            },
            "The input and the ReLU responses of the 15 most Gabor-like kernels: each map marks "
            "where its kernel's pattern occurs.",
        ),
        Figure(
            "gabor_match",
            "How Gabor-like are the kernels?",
            "histogram",
            {
                "samples": {"after training": match_trained, "before training": match_initial},
                "vlines": {"white noise (mean)": chance},
                "xlabel": "best |cosine similarity| with a Gabor",
                "ylabel": "kernels",
                "bins": 12,
            },
            "Best Gabor match of each kernel before and after training, and the mean for "
            "white-noise kernels of the same size (the chance level).",
        ),
    ]
    metrics = {
        **V.common_metrics(run_),
        "gabor_match_trained_mean": float(match_trained.mean()),
        "gabor_match_initial_mean": float(match_initial.mean()),
        "gabor_match_white_noise_mean": chance,
    }
    table = Table(
        "Best Gabor match of the first-layer kernels",
        ["kernels", "mean", "median"],
        [
            ["after training", f"{match_trained.mean():.3f}", f"{np.median(match_trained):.3f}"],
            ["before training", f"{match_initial.mean():.3f}", f"{np.median(match_initial):.3f}"],
            ["white noise", f"{chance:.3f}", ""],
        ],
    )
    return Result(
        metrics=metrics,
        figures=figures,
        tables=[table],
        text=_text(config, run_, metrics, (match_trained, match_initial, match_noise)),
        opening=_opening(config, run_, metrics, (match_trained, match_initial, match_noise)),
        headline={
            "gabor_match_trained_mean": "Gabor match of the trained kernels",
            "gabor_match_white_noise_mean": "Gabor match of white noise",
            "gabor_match_initial_mean": "Gabor match before training",
            "test_accuracy": "test accuracy",
        },
    )


def _opening(config: dict[str, Any], run_: dict[str, Any], m: dict[str, Any], matches) -> str:
    trained, initial, noise = matches
    size, n = config["kernel_size"], len(trained)
    vs_noise = verdict(
        _compare(trained, noise.mean(), noise.std() / np.sqrt(n)),
        "more like the Gabor functions that model V1 simple cells than random kernels are",
        "less like the Gabor functions that model V1 simple cells than random kernels are",
        "no more like the Gabor functions that model V1 simple cells than random kernels are",
    )
    return (
        f"After training (test accuracy {run_['test_accuracy']:.1%}), the network's {n} "
        f"first-layer kernels of {size}x{size} pixels were {vs_noise} (mean match "
        f"{m['gabor_match_trained_mean']:.3f} against {m['gabor_match_white_noise_mean']:.3f}). "
        + verdict(
            _compare(trained, initial, (trained - initial).std() / np.sqrt(n)),
            "Training made them more Gabor-like than they started (before: {b:.3f}).",
            "Training made them less Gabor-like than they started (before: {b:.3f}).",
            "Training did not change how Gabor-like they are (before: {b:.3f}).",
            b=m["gabor_match_initial_mean"],
        )
    )


def _compare(a: np.ndarray, b: float | np.ndarray, se: float) -> bool | None:
    """True when mean(a) lies more than two standard errors above b, False when below, None
    when within: the three answers a comparison of means can give."""
    gap = float(np.mean(a - b))
    return None if abs(gap) <= 2 * se else gap > 0


def _text(config: dict[str, Any], run_: dict[str, Any], m: dict[str, Any], matches) -> str:
    size, (trained, initial, noise) = config["kernel_size"], matches
    n = len(trained)
    vs_noise = verdict(
        _compare(trained, noise.mean(), noise.std() / np.sqrt(n)),
        "more Gabor-like than noise",
        "**less** Gabor-like than noise",
        "**no more Gabor-like than noise**, within two standard errors",
    )
    vs_initial = verdict(
        _compare(trained, initial, (trained - initial).std() / np.sqrt(n)),
        "training raised the match",
        "training lowered the match",
        "training did not change the match beyond two standard errors",
    )
    data = verdict(
        config["dataset"] == "fashion-mnist",
        "small photographs of clothing on a blank background",
        "thin handwritten strokes on a blank background",
    )
    larger = verdict(
        size < 7,
        " A larger kernel (`--set kernel_size=7`) leaves room for Gabor-like stripes.",
        "",
    )
    oh, ow = run_["feature_map_shape"]
    return (
        f"The article's CNN with a first layer of {n} kernels of {size}x{size}, "
        f"{V.training_text(config, run_)}, reaches {run_['test_accuracy']:.2%} test accuracy. "
        f"Its first-layer kernels have a mean best Gabor match of "
        f"**{m['gabor_match_trained_mean']:.3f}**, against "
        f"{m['gabor_match_white_noise_mean']:.3f} for white noise: {vs_noise}; {vs_initial} "
        f"(before training {m['gabor_match_initial_mean']:.3f}).\n\n"
        f"**What is shared.** Like a simple cell, each first-layer unit responds to one small "
        f"patch of the image ({size}x{size} pixels), and the same detector is repeated at all "
        f"{oh}x{ow} positions, as V1 tiles the visual field with cells of every orientation. "
        "Max pooling then keeps the strongest response in a neighbourhood, loosely like a "
        "complex cell's tolerance to position (Hubel & Wiesel 1962; Fukushima's Neocognitron "
        "1980).\n\n"
        f"**What is not.** A {size}x{size} kernel has {size * size} weights, and white-noise "
        f"kernels of this size reach a mean best match of "
        f"{m['gabor_match_white_noise_mean']:.3f}: the measure means something only against that "
        f"level.{larger} Gabor-like filters emerge clearly in networks trained on natural images "
        "with larger first-layer kernels (AlexNet's 11x11; Krizhevsky et al. 2012) and from "
        f"sparse coding of natural images (Olshausen & Field 1996); these images are {data}, "
        "not natural scenes. V1 cells are also not learned by backpropagation, have no weight "
        "sharing (each cell has its own synapses), are recurrently connected and spike."
    )


EXPERIMENT = register(
    Experiment(
        name="visual-filters",
        summary="First-layer CNN kernels and feature maps beside Gabor models of V1 simple cells.",
        reference=(
            "Hubel & Wiesel 1962; Jones & Palmer 1987 (Gabor fits of simple cells); "
            "Olshausen & Field 1996; Krizhevsky et al. 2012."
        ),
        defaults={**V.TRAINING_DEFAULTS, "kernel_size": 3},
        quick={"dataset": "digits", "epochs": 3},
        run=run,
        limits={**V.TRAINING_LIMITS, "kernel_size": "[1, 21]"},
        constraint=V.split_problem,
    )
)
