"""Whole Keras programs on Keras 3 (torch backend) and on engram.nn, with only the import changed.

Issue 17: "bench/ runs the keras.io MNIST convnet program and a small functional model on Keras 3
(torch backend) and on engram and prints the ratio of the whole program's time". Two programs:

- ``convnet``: keras.io's "Simple MNIST convnet" (fchollet): Conv2D 32 3x3 relu, MaxPooling 2,
  Conv2D 64 3x3 relu, MaxPooling 2, Flatten, Dropout 0.5, Dense 10 softmax; categorical
  cross-entropy on one-hot labels (``keras.utils.to_categorical``), Adam, batch 128,
  ``validation_split=0.1``, then ``evaluate`` on the test images. The program trains 15 epochs on
  60,000 images; here ``--convnet-epochs`` (default 2) on the training images of the data below.
- ``functional``: the functional API guide's MNIST model (keras.io/guides/functional_api):
  Input(784), Dense 64 relu, Dense 64 relu, Dense 10 (logits), sparse categorical cross-entropy
  from logits, RMSprop, batch 64, 2 epochs, ``validation_split=0.2``, then ``evaluate``.

Each program is written once as text with an import line (``import keras`` / ``from keras import
layers`` against ``import engram.nn as keras`` / ``from engram.nn import layers``); the two
files differ in that line only (checked), and are written to a temporary folder whose path is
printed. Neither can download MNIST here, so both read the same arrays from one .npz file in
place of ``keras.datasets.mnist.load_data()``: the real MNIST test split
(``../shared/datasets/mnist/``, 8,000 train / 2,000 test, stratified), else Fashion-MNIST
(60,000 / 10,000, ``/usr/share/datasets/fashion-mnist``), else random arrays of MNIST's shape
(the script prints which).

Method: each run is a fresh ``python program.py`` process (interpreter start, the framework's
import, data, model, fit, evaluate: the whole program), with every BLAS/OpenMP thread count set
to ``--threads`` (default 2; Keras's torch backend takes its intra-op threads from
OMP_NUM_THREADS) and ``KERAS_BACKEND=torch``. Runs alternate Keras, engram, engram, Keras, ...
(``--repeats`` pairs, default 7). Reported per program: the median wall time of the whole
process for each, the median of the paired ratios Keras time / engram time (above 1: engram is
faster) and their spread (min-max); and, from timestamps the program writes, the median time of
its phases (import, fit, evaluate) and the test accuracy each printed. The programs' output
(Keras's progress bars, verbose as the program has it) goes to a file, not a terminal.

Usage:
    python bench/bench_keras_programs.py                          # both programs, 7 pairs
    python bench/bench_keras_programs.py --programs convnet --repeats 9
    python bench/bench_keras_programs.py --data fashion-mnist --convnet-samples 12000
    python bench/bench_keras_programs.py --quick                  # 1 pair, small: smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the project's shared data folder: ../shared beside the checkout (or beside the worktrees)
MNIST_DIRS = (ROOT.parent / "shared" / "datasets" / "mnist",
              ROOT.parent.parent / "shared" / "datasets" / "mnist")  # fmt: skip
IMPORTS = {
    "keras": "import keras\nfrom keras import layers\n",
    "engram": "import engram.nn as keras\nfrom engram.nn import layers\n",
}

# The programs as keras.io writes them, but for the data (read from DATA instead of
# keras.datasets.mnist.load_data()), the training-set size and epochs (set by the bench) and
# the calls of mark() that write each phase's time stamp.
PRELUDE = """\
import json, os, sys, time
STAMPS = {"start": time.perf_counter()}
def mark(name):
    STAMPS[name] = time.perf_counter()
import numpy as np
"""
# Both programs' load_data(): the arrays from BENCH_DATA, cut to BENCH_SAMPLES training images.
LOAD = """\
mark("import")
data = np.load(os.environ["BENCH_DATA"])
x_train, y_train = data["x_train"], data["y_train"]
x_test, y_test = data["x_test"], data["y_test"]
n_train, epochs = int(os.environ["BENCH_SAMPLES"]), int(os.environ["BENCH_EPOCHS"])
x_train, y_train = x_train[:n_train], y_train[:n_train]
"""
CONVNET = """\

# Model / data parameters
num_classes = 10
input_shape = (28, 28, 1)
# Scale images to the [0, 1] range
x_train = x_train.astype("float32") / 255
x_test = x_test.astype("float32") / 255
# Make sure images have shape (28, 28, 1)
x_train = np.expand_dims(x_train, -1)
x_test = np.expand_dims(x_test, -1)
# convert class vectors to binary class matrices
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)
mark("data")

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)
model.summary()
batch_size = 128
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
mark("model")
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1)
mark("fit")
score = model.evaluate(x_test, y_test, verbose=0)
mark("evaluate")
print("Test loss:", score[0])
print("Test accuracy:", score[1])
"""
FUNCTIONAL = """\
x_train = x_train.reshape(len(x_train), 784).astype("float32") / 255
x_test = x_test.reshape(len(x_test), 784).astype("float32") / 255
mark("data")

inputs = keras.Input(shape=(784,))
x = layers.Dense(64, activation="relu")(inputs)
x = layers.Dense(64, activation="relu")(x)
outputs = layers.Dense(10)(x)
model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
model.summary()
model.compile(
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    optimizer=keras.optimizers.RMSprop(),
    metrics=["accuracy"],
)
mark("model")
history = model.fit(x_train, y_train, batch_size=64, epochs=epochs, validation_split=0.2)
mark("fit")
test_scores = model.evaluate(x_test, y_test, verbose=2)
mark("evaluate")
print("Test loss:", test_scores[0])
print("Test accuracy:", test_scores[1])
"""
EPILOGUE = """\
with open(os.environ["BENCH_TIMES"], "w") as fh:
    json.dump({k: v - STAMPS["start"] for k, v in STAMPS.items()}, fh)
"""
PROGRAMS = {"convnet": CONVNET, "functional": FUNCTIONAL}
PHASES = ("import", "data", "model", "fit", "evaluate")


def program_text(program: str, framework: str) -> str:
    return PRELUDE + IMPORTS[framework] + LOAD + PROGRAMS[program] + EPILOGUE


def write_programs(folder: Path, programs: list[str]) -> dict[tuple[str, str], Path]:
    """Both frameworks' files of each program; they differ only in the import lines."""
    paths = {}
    for program in programs:
        texts = {fw: program_text(program, fw) for fw in IMPORTS}
        a, b = (t.splitlines() for t in texts.values())
        changed = [i for i, (p, q) in enumerate(zip(a, b, strict=True)) if p != q]
        if len(a) != len(b) or any(a[i].split()[0] not in ("import", "from") for i in changed):
            raise AssertionError(f"the {program} programs differ beyond their imports")
        for fw, text in texts.items():
            paths[program, fw] = folder / f"{program}_{fw}.py"
            paths[program, fw].write_text(text)
    return paths


def prepare_data(choice: str, folder: Path) -> tuple[Path, str, int]:
    """The arrays of the programs' load_data(), saved to one .npz; returns (path, description,
    number of training images)."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "src"))
    found = None
    mnist = [d for d in MNIST_DIRS if (d / "t10k-images-idx3-ubyte.gz").exists()]
    if choice in ("auto", "mnist-t10k") and mnist:
        from engram.data import load_mnist_t10k

        found = load_mnist_t10k(mnist[0]), "real MNIST test split (8,000 train / 2,000 test)"
    if found is None and choice in ("auto", "fashion-mnist"):
        try:
            from engram.nn.datasets import fashion_mnist

            found = fashion_mnist.load_data(), "Fashion-MNIST (60,000 train / 10,000 test)"
        except Exception as exc:  # absent files: fall back, and say so
            if choice == "fashion-mnist":
                raise
            print(f"Fashion-MNIST not available ({type(exc).__name__}); using random arrays")
    if found is None:
        if choice not in ("auto", "synthetic"):
            raise SystemExit(f"--data {choice}: the files are not on this machine")
        rng = np.random.default_rng(0)
        found = (
            (
                (rng.integers(0, 256, (8000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 8000)),
                (rng.integers(0, 256, (2000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 2000)),
            ),
            "random uint8 arrays of MNIST's shape (8,000 / 2,000): no real data found",
        )
    ((x_train, y_train), (x_test, y_test)), what = found
    path = folder / "data.npz"
    np.savez(path, x_train=x_train, y_train=y_train.astype(np.uint8), x_test=x_test,
             y_test=y_test.astype(np.uint8))  # fmt: skip
    return path, what, len(x_train)


def run_once(path: Path, env: dict[str, str], folder: Path) -> dict:
    """One fresh process running the program; its wall time, phase stamps and accuracy."""
    times, log = folder / "times.json", folder / f"{path.stem}.log"
    env = {**env, "BENCH_TIMES": str(times)}
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run([sys.executable, str(path)], env=env, stdout=out, stderr=out)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{path.name} failed (exit {proc.returncode}); see {log}")
    stamps = json.loads(times.read_text())
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("Test accuracy:")]
    accuracy = float(lines[-1].split(":")[1]) if lines else float("nan")
    return {"wall": wall, "stamps": stamps, "accuracy": accuracy}


def bench_program(program, paths, env, folder, repeats: int, pause: float) -> dict:
    runs: dict[str, list[dict]] = {"keras": [], "engram": []}
    for r in range(repeats):
        for fw in ("keras", "engram") if r % 2 == 0 else ("engram", "keras"):
            time.sleep(pause)
            runs[fw].append(run_once(paths[program, fw], env, folder))
    ratios = [k["wall"] / e["wall"] for k, e in zip(runs["keras"], runs["engram"], strict=True)]
    out = {
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }
    for fw, rs in runs.items():
        phases = {}
        previous = "start"
        for phase in PHASES:
            phases[phase] = statistics.median(
                x["stamps"][phase] - x["stamps"].get(previous, 0.0) for x in rs
            )
            previous = phase
        out[fw] = {
            "wall_median": statistics.median(x["wall"] for x in rs),
            "wall_min": min(x["wall"] for x in rs),
            "wall_max": max(x["wall"] for x in rs),
            "phases": phases,
            "accuracy": [x["accuracy"] for x in rs],
        }
    return out


def report(program: str, r: dict, settings: str) -> None:
    print(f"\n{program} ({settings})")
    for fw in ("keras", "engram"):
        x = r[fw]
        phases = ", ".join(f"{k} {v:.2f}" for k, v in x["phases"].items())
        acc = statistics.median(x["accuracy"])
        print(
            f"  {fw:7s} whole program {x['wall_median']:6.2f} s (min {x['wall_min']:.2f}, max "
            f"{x['wall_max']:.2f}); phases (s, medians): {phases}; test accuracy {acc:.4f}"
        )
    print(
        f"  Keras time / engram time, paired: median {r['ratio_median']:.2f}x "
        f"(min {r['ratio_min']:.2f}x, max {r['ratio_max']:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", default="convnet,functional")
    parser.add_argument("--repeats", type=int, default=7, help="pairs of runs per program")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default="auto",
                        choices=("auto", "mnist-t10k", "fashion-mnist", "synthetic"))  # fmt: skip
    parser.add_argument("--convnet-samples", type=int, default=0, help="0: all training images")
    parser.add_argument("--convnet-epochs", type=int, default=2)
    parser.add_argument("--functional-samples", type=int, default=0)
    parser.add_argument("--functional-epochs", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true", help="1 pair, 1,024 samples, 1 epoch")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    programs = args.programs.split(",")
    folder = Path(tempfile.mkdtemp(prefix="bench_keras_programs_"))
    data, what, n_train = prepare_data(args.data, folder)
    paths = write_programs(folder, programs)
    threads = str(args.threads)
    env = {
        **os.environ,
        "KERAS_BACKEND": "torch",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "BENCH_DATA": str(data),
        **dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), threads),
    }
    print(
        f"data: {what}; {args.threads} threads; OPENBLAS_CORETYPE="
        f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; programs in {folder}; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    results = {"data": what}
    for program in programs:
        samples = 1024 if args.quick else getattr(args, f"{program}_samples") or 10**9
        epochs = 1 if args.quick else getattr(args, f"{program}_epochs")
        run_env = {**env, "BENCH_SAMPLES": str(samples), "BENCH_EPOCHS": str(epochs)}
        repeats = 1 if args.quick else args.repeats
        r = bench_program(program, paths, run_env, folder, repeats, args.pause)
        # the programs slice x_train[:samples]: say how many images that is
        shown = "all" if samples >= n_train else f"{samples:,}"
        settings = f"{shown} training images, {epochs} epochs, {repeats} pairs"
        report(program, r, settings)
        results[program] = {**r, "settings": settings}
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
