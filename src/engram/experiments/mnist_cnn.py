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
    text = (
        f"The article's convolutional network ({model.count_params():,} weights) trained with "
        f"Adam (learning rate {config['learning_rate']:g}, batch {config['batch_size']}) for "
        f"{config['epochs']} epochs on {V.data_text(config, run_)}, with "
        f"{config['validation_fraction']:.0%} of the training images held out for validation, "
        f"reaches **{run_['test_accuracy']:.2%} test accuracy**.\n\n"
        "Each first-layer unit looks at a 3x3 patch and the same 32 kernels are applied at "
        "every position, so a stroke is detected wherever it is; max pooling keeps the "
        "strongest response in each 2x2 block, which tolerates small shifts. These are the "
        "two properties Hubel and Wiesel described for simple and complex cells in the visual "
        "cortex, and the reason this network needs far fewer weights per layer than an MLP to "
        "do better. `engram run visual-filters` shows what the first layer learns."
    )
    return Result(metrics=metrics, figures=figures, tables=[table], text=text)


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
