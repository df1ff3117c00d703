"""The article's MLP on MNIST: 784-10-10-10 with ReLU, ReLU, softmax, trained with Adam.

The article flattens each 28x28 image into 784 numbers and trains three Dense layers of 10
units (ReLU, ReLU, softmax) for 5 epochs with Adam and sparse categorical cross-entropy. Ten
hidden units is a very narrow bottleneck; ``--set hidden_units=128`` gives the TensorFlow
quick-start's 784-128-10 instead.
"""

from __future__ import annotations

from typing import Any

from engram.experiments import _vision as V
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
    text = (
        f"The article's multilayer perceptron, {shape} (ReLU hidden units, softmax output, "
        f"{model.count_params():,} weights), trained with Adam (learning rate "
        f"{config['learning_rate']:g}, batch {config['batch_size']}) for {config['epochs']} "
        f"epochs on {V.data_text(config, run_)}, with {config['validation_fraction']:.0%} "
        f"of the training images held out for validation, reaches **"
        f"{run_['test_accuracy']:.2%} test accuracy**.\n\n"
        "The network sees each image as a flat list of 784 pixel values: shifting a digit by a "
        "few pixels changes every input it sees, and nothing in its wiring says that "
        "neighbouring pixels belong together. The confusion matrix shows which classes it "
        "mixes up; the convolutional network (`engram run mnist-cnn`) builds locality and "
        "translation in and does better with fewer weights per layer."
    )
    if hidden == (10, 10):
        text += (
            "\n\nTen units per hidden layer is a narrow bottleneck: every image is squeezed "
            "into ten numbers twice. Published MNIST results for wider MLPs (e.g. 784-128-10, "
            "about 98% after 5 epochs in TensorFlow's quick start) are higher; try "
            "`--set hidden_units=128`."
        )
    return Result(metrics=metrics, figures=figures, tables=[table], text=text)


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
