"""The article's MLP on MNIST: 784-10-10-10 with ReLU, ReLU, softmax, trained with Adam.

The article flattens each 28x28 image into 784 numbers and trains three Dense layers of 10
units (ReLU, ReLU, softmax) for 5 epochs with Adam and sparse categorical cross-entropy. Ten
hidden units is a very narrow bottleneck; ``--set hidden_units=128`` gives the TensorFlow
quick-start's 784-128-10 instead.
"""

from __future__ import annotations

from typing import Any

from engram.experiments import _vision as V
from engram.experiments._verdict import verdict
from engram.experiments.base import Experiment, Result, register


def run(config: dict[str, Any]) -> Result:
    train_pair, test_pair = V.load_images(config["dataset"], config["data_dir"], config["seed"])
    train_pair = V.limit(train_pair, config["train_limit"])
    hidden = tuple(int(h) for h in config["hidden_units"])
    model = V.build_mlp(hidden, config["seed"], config["learning_rate"])
    run_ = V.train(model, train_pair, test_pair, config, "MLP")
    figures, table = V.report_parts(run_, test_pair, config["dataset"])
    shape = "-".join(str(n) for n in (784, *hidden, 10))
    metrics = {**V.common_metrics(run_), "parameters": model.count_params(), "network": shape}
    text = _text(config, model, run_, test_pair, shape, hidden)
    return Result(
        metrics=metrics,
        figures=figures,
        tables=[table],
        text=text,
        opening=V.opening(run_, config, f"{shape} MLP"),
        headline=V.HEADLINE,
    )


# TensorFlow's beginner quick start (784-128-10, dropout 0.2, Adam, 5 epochs): about 98% on MNIST
QUICKSTART_ACCURACY = 0.98


def _text(config, model, run_, test_pair, shape, hidden) -> str:
    acc = run_["test_accuracy"]
    names = V.class_names(config["dataset"])
    cnn = V.build_cnn(config["seed"], config["learning_rate"])
    parts = [
        verdict(
            hidden == (10, 10),
            "The article's multilayer perceptron {s}",
            "A multilayer perceptron {s} (the article's is 784-10-10-10)",
            s=shape,
        )
        + f" with ReLU hidden units, a softmax output and {model.count_params():,} weights, "
        f"{V.training_text(config, run_)}, reaches "
        f"**{acc:.2%} test accuracy**, "
        f"{V.accuracy_verdict(run_)}. "
        + V.confusion_sentence(test_pair[1], run_["predictions"], names),
        "The network sees each image as a flat list of 784 pixel values; nothing in its wiring "
        "says that neighbouring pixels belong together. "
        + V.shift_sentence(run_)
        + " "
        + V.weights_sentence(model, cnn, "the article's CNN (`engram run mnist-cnn`)"),
    ]
    if hidden:
        parts.append(
            f"The narrowest hidden layer has {min(hidden)} units: every image passes through "
            f"{min(hidden)} numbers on its way to the answer."
        )
    if hidden != (128,):
        parts[-1] += " `--set hidden_units=128` gives TensorFlow's quick-start network 784-128-10."
    if config["dataset"] == "mnist":
        parts[-1] += " " + verdict(
            acc < QUICKSTART_ACCURACY,
            "That quick start (784-128-10 with dropout 0.2, Adam, 5 epochs) reaches about {q:.0%} "
            "on MNIST, above this run's {a:.2%}.",
            "That quick start (784-128-10 with dropout 0.2, Adam, 5 epochs) reaches about {q:.0%} "
            "on MNIST; this run's {a:.2%} is not below it.",
            q=QUICKSTART_ACCURACY,
            a=acc,
        )
    return "\n\n".join(parts)


def cost(config: dict[str, Any]) -> dict[str, Any]:
    """Weights with their gradients and Adam's two slots (float32), and the images."""
    widths = (784, *config["hidden_units"], 10)
    weights = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=False))
    return {"memory_bytes": 16 * weights + V.IMAGES_BYTES, "detail": f"{weights:,} weights"}


EXPERIMENT = register(
    Experiment(
        name="mnist-mlp",
        summary="The article's 784-10-10-10 MLP on MNIST-style images: curves, confusion matrix.",
        reference=(
            "The article's Keras MLP; LeCun, Bottou, Bengio & Haffner 1998 (MNIST); "
            "Xiao, Rasul & Vollgraf 2017 (Fashion-MNIST)."
        ),
        defaults={**V.TRAINING_DEFAULTS, "hidden_units": (10, 10)},
        quick={"dataset": "digits", "epochs": 20},
        run=run,
        limits={**V.TRAINING_LIMITS, "hidden_units": "[1, 1000000]"},
        constraint=V.split_problem,
        cost=cost,
    )
)
