"""The article's CNN on MNIST: two convolution + max-pooling stages, then two Dense layers.

Conv2D(32, 3x3, relu) - MaxPooling2D(2x2) - Conv2D(64, 3x3, relu) - MaxPooling2D(2x2) - Flatten -
Dense(64, relu) - Dense(10, softmax), Adam, sparse categorical cross-entropy, 5 epochs: the
network of the article, trained on engram's own convolution layers.
"""

from __future__ import annotations

from typing import Any

from engram.experiments import _vision as V
from engram.experiments.base import Experiment, Result, register


def run(config: dict[str, Any]) -> Result:
    train_pair, test_pair = V.load_images(config["dataset"], config["data_dir"], config["seed"])
    train_pair = V.limit(train_pair, config["train_limit"])
    model = V.build_cnn(config["seed"], config["learning_rate"])
    run_ = V.train(model, train_pair, test_pair, config, "CNN")
    figures, table = V.report_parts(run_, test_pair, config["dataset"])
    metrics = {**V.common_metrics(run_), "parameters": model.count_params()}
    text = _text(config, model, run_, test_pair)
    return Result(
        metrics=metrics,
        figures=figures,
        tables=[table],
        text=text,
        opening=V.opening(run_, config, "convolutional network"),
        headline=V.HEADLINE,
    )


def _text(config, model, run_, test_pair) -> str:
    conv = model.layers[0]
    kh, kw = conv.kernel_size
    oh, ow = conv.output_shape[:2]
    mlp = V.build_mlp((10, 10), config["seed"], config["learning_rate"])
    names = V.class_names(config["dataset"])
    return (
        f"The article's convolutional network ({model.count_params():,} weights), "
        f"{V.training_text(config, run_)}, reaches **{run_['test_accuracy']:.2%} test "
        f"accuracy**, {V.accuracy_verdict(run_)}. "
        + V.confusion_sentence(test_pair[1], run_["predictions"], names)
        + "\n\n"
        f"Its first layer applies the same {conv.filters} kernels of {kh}x{kw} pixels at each of "
        f"{oh}x{ow} positions, and max pooling keeps the strongest response in each 2x2 block: "
        "local detectors repeated over the image, and pooling over position, the two properties "
        "Hubel and Wiesel described for simple and complex cells. "
        + V.shift_sentence(run_)
        + " "
        + V.weights_sentence(model, mlp, "the article's 784-10-10-10 MLP (`engram run mnist-mlp`)")
        + " `engram run visual-filters` shows what the first layer learns."
    )


EXPERIMENT = register(
    Experiment(
        name="mnist-cnn",
        summary="The article's Conv32-Pool-Conv64-Pool-Dense64-Dense10 CNN on MNIST-style images.",
        reference=(
            "The article's Keras CNN; LeCun et al. 1998; Keras mnist_convnet example; "
            "Hubel & Wiesel 1962."
        ),
        defaults=V.TRAINING_DEFAULTS,
        quick={"dataset": "digits", "epochs": 3},
        run=run,
        limits=V.TRAINING_LIMITS,
        constraint=V.split_problem,
    )
)
