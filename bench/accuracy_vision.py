"""Test accuracies of the vision networks, against the targets of the vision issue.

Tasks (``--tasks``, default all):

* ``digits``: scikit-learn's 8x8 digits, 70/30 stratified split (seed 0): the article's CNN on
  the images upsampled to 28x28, and a CNN fitted to 8x8 inputs ('same' padding, batch
  normalization, dropout). Target >= 98%.
* ``fashion``: full Fashion-MNIST (60,000 / 10,000), 5 epochs: the article's CNN (target >= 90%)
  and the MLP 784-128-10 (target >= 87%). Needs ``apt-get install dataset-fashion-mnist``.
* ``mnist``: the 10,000 real MNIST test digits, trained on 8,000 and tested on the other
  2,000 (stratified, seed 0): the article's CNN, 5 epochs. Target >= 97%.
* ``mlp10``: the article's 784-10-10-10 MLP on Fashion-MNIST and on the MNIST split, beside the
  same network in PyTorch with the same initial weights, batch order, Adam settings and epochs.

Every network trains on the whole training part (no validation split), batch 32, Adam (learning
rate 0.001, epsilon 1e-7), seed 0. Results print as a table; ``--json FILE`` also saves them.

Usage:
    python bench/accuracy_vision.py --tasks digits mnist
    nohup python bench/accuracy_vision.py --tasks fashion > /tmp/acc_fashion.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

TARGETS = {
    "digits, article CNN on 28x28 upsampled": 0.98,
    "digits, 8x8 CNN (same padding, BN, dropout)": 0.98,
    "fashion-mnist, article CNN": 0.90,
    "fashion-mnist, MLP 784-128-10": 0.87,
    "mnist 8k/2k, article CNN": 0.97,
}


#: where the real MNIST test split lives in this project's checkout (../shared/datasets/mnist)
MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"


def images(name: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    from engram.experiments import _vision as V

    folder = str(MNIST_DIR) if name == "mnist-t10k" and MNIST_DIR.is_dir() else ""
    return V.load_images(name, folder, seed=0)


def fit_engram(model, train, test, epochs: int) -> tuple[float, float]:
    """Train on all of ``train``; return (test accuracy, seconds). Grey images get the
    channel axis a CNN expects, as the experiments' ``_vision.train`` gives them."""
    (x, y), (x_test, y_test) = train, test
    if len(model.input_shape) == x.ndim + 1:
        x, x_test = x[..., None], x_test[..., None]
    start = time.perf_counter()
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    return float(model.evaluate(x_test, y_test, batch_size=256, verbose=0)[1]), seconds


def digits_8x8_cnn(seed: int):
    from engram.nn import Sequential
    from engram.nn.layers import (
        Activation,
        BatchNormalization,
        Conv2D,
        Dense,
        Dropout,
        Flatten,
        MaxPooling2D,
    )

    model = Sequential(
        [
            Conv2D(32, 3, padding="same", input_shape=(8, 8, 1)),
            BatchNormalization(),
            Activation("relu"),
            MaxPooling2D(2),
            Conv2D(64, 3, padding="same"),
            BatchNormalization(),
            Activation("relu"),
            MaxPooling2D(2),
            Flatten(),
            Dropout(0.25),
            Dense(64, activation="relu"),
            Dropout(0.25),
            Dense(10, activation="softmax"),
        ],
        seed=seed,
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def task_digits(epochs: int) -> list[dict[str, Any]]:
    from engram.data import load_digits
    from engram.experiments import _vision as V

    rows = []
    acc, secs = fit_engram(V.build_cnn(0, 1e-3), *images("digits"), epochs)
    rows.append(row("digits, article CNN on 28x28 upsampled", acc, secs, epochs))
    acc, secs = fit_engram(digits_8x8_cnn(0), *load_digits(seed=0), epochs)
    rows.append(row("digits, 8x8 CNN (same padding, BN, dropout)", acc, secs, epochs))
    return rows


def task_fashion(epochs: int) -> list[dict[str, Any]]:
    from engram.experiments import _vision as V

    train, test = images("fashion-mnist")
    acc, secs = fit_engram(V.build_cnn(0, 1e-3), train, test, epochs)
    rows = [row("fashion-mnist, article CNN", acc, secs, epochs)]
    acc, secs = fit_engram(V.build_mlp((128,), 0, 1e-3), train, test, epochs)
    rows.append(row("fashion-mnist, MLP 784-128-10", acc, secs, epochs))
    return rows


def task_mnist(epochs: int) -> list[dict[str, Any]]:
    from engram.experiments import _vision as V

    acc, secs = fit_engram(V.build_cnn(0, 1e-3), *images("mnist-t10k"), epochs)
    return [row("mnist 8k/2k, article CNN", acc, secs, epochs)]


# ------------------------------------------------------------------------ MLP 784-10-10-10


def mlp10_pair(train, test, epochs: int, threads: int) -> tuple[float, float, float, float]:
    """The 784-10-10-10 MLP in engram and in PyTorch from the same initial weights, with the
    same batch order; returns (engram accuracy, PyTorch accuracy, engram s, PyTorch s)."""
    import torch

    from engram.experiments import _vision as V

    torch.set_num_threads(threads)
    (x, y), (x_test, y_test) = train, test
    model = V.build_mlp((10, 10), 0, 1e-3)
    weights = model.get_weights()
    rng = np.random.default_rng(0)
    orders = [rng.permutation(len(x)) for _ in range(epochs)]
    start = time.perf_counter()
    for order in orders:  # the same batches as the PyTorch loop below
        model.fit(x[order], y[order], batch_size=32, epochs=1, shuffle=False, verbose=0)
    ours_seconds = time.perf_counter() - start
    ours = float(model.evaluate(x_test, y_test, batch_size=256, verbose=0)[1])

    net = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(784, 10),
        torch.nn.ReLU(),
        torch.nn.Linear(10, 10),
        torch.nn.ReLU(),
        torch.nn.Linear(10, 10),
    )
    with torch.no_grad():
        for layer, (kernel, bias) in zip(
            net[1::2], zip(weights[::2], weights[1::2], strict=True), strict=True
        ):
            layer.weight.copy_(torch.from_numpy(kernel.T.copy()))
            layer.bias.copy_(torch.from_numpy(bias))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    start = time.perf_counter()
    for order in orders:
        for lo in range(0, len(x), 32):
            idx = torch.from_numpy(order[lo : lo + 32])
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            optimizer.step()
    theirs_seconds = time.perf_counter() - start
    with torch.no_grad():
        predicted = net(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    return ours, float((predicted == y_test).mean()), ours_seconds, theirs_seconds


def task_mlp10(epochs: int, threads: int) -> list[dict[str, Any]]:
    rows = []
    for name, label in (("fashion-mnist", "fashion-mnist"), ("mnist-t10k", "mnist 8k/2k")):
        train, test = images(name)
        ours, theirs, ours_secs, theirs_secs = mlp10_pair(train, test, epochs, threads)
        rows.append(row(f"{label}, MLP 784-10-10-10 (engram)", ours, ours_secs, epochs))
        rows.append(
            row(
                f"{label}, MLP 784-10-10-10 (PyTorch, same init/batches)",
                theirs,
                theirs_secs,
                epochs,
            )
        )
    return rows


# ------------------------------------------------------------------------ driver


def row(name: str, accuracy: float, seconds: float, epochs: int) -> dict[str, Any]:
    result = {"task": name, "test_accuracy": accuracy, "epochs": epochs, "train_seconds": seconds}
    print(format_row(result), flush=True)
    return result


def format_row(result: dict[str, Any]) -> str:
    target = TARGETS.get(result["task"])
    mark = (
        ""
        if target is None
        else f">= {target:.0%} {'ok' if result['test_accuracy'] >= target else 'MISS'}"
    )
    return (
        f"{result['task']:<58} {result['test_accuracy']:>8.2%}  {result['epochs']:>3} ep  "
        f"{result['train_seconds']:>7.1f} s  {mark}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=["digits", "mnist", "mlp10", "fashion"],
        choices=["digits", "fashion", "mnist", "mlp10"],
    )
    parser.add_argument("--epochs", type=int, default=5, help="epochs (digits: --digits-epochs)")
    parser.add_argument("--digits-epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads (mlp10)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    print(
        f"numpy threads: OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}"
    )
    print(f"{'task':<58} {'test acc':>8}  epochs  train time")
    results = []
    for task in args.tasks:
        if task == "digits":
            results += task_digits(args.digits_epochs)
        elif task == "fashion":
            results += task_fashion(args.epochs)
        elif task == "mnist":
            results += task_mnist(args.epochs)
        else:
            results += task_mlp10(args.epochs, args.threads)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
