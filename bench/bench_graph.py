"""The cost of the functional graph, subclassing and callbacks against the Sequential path.

Issue 17's target: the functional graph, the new layers and callbacks "cost nothing measurable
against today's Sequential path". One process, one set of BLAS threads (``--threads``, default 2,
fixed before NumPy loads), MNIST-shaped random data (speed does not depend on the values):

1. Graph: the same model written three ways, Keras's three ways,
       Sequential([Input(...), Dense(...), ...])
       Model(inputs, outputs) from Input(...) and layer calls      (functional)
       class Net(Model): layers as attributes, call(inputs)         (subclassed, traced)
   for two workloads, an MLP 784-128-10 (Adam, batch 128, as bench_mlp.py) and a small CNN
   (Conv2D 16 3x3 relu, MaxPool 2, Conv2D 32 3x3 relu, MaxPool 2, Flatten, Dense 10 softmax;
   Adam, batch 64). The functional and subclassed models start from the Sequential model's
   weights, and their predictions are checked equal to its predictions before timing: the same
   arithmetic, so a difference in time is the engine's bookkeeping.
2. Callbacks: the Sequential MLP trained with ``verbose=0`` and Keras's default callbacks
   (History only) against the same fit with EarlyStopping + ModelCheckpoint (weights, every
   epoch) + CSVLogger + a custom callback that overrides every hook, and against ``verbose=1``
   (progress bar) and ``verbose=2`` (a line per epoch), the program's stdout and stderr sent to
   /dev/null while fit runs (a terminal that draws the bar costs more than that).

Method: after a warm-up run of each variant, ``--repeats`` rounds (default 9); in each round
every variant runs once (training: one ``fit`` over the samples; inference: one ``predict``),
in an order that rotates from round to round so none always runs first or last, with a short
pause (``--pause``) before each. Reported: the median samples/s of each variant and, for each
variant against the Sequential baseline, the median of the per-round ratios (above 1: faster
than Sequential) and their spread (min-max over rounds). A variant "costs nothing measurable"
when the median ratio is within the noise of the baseline against itself: the script also
times the baseline twice per round ("sequential (again)"), whose ratio shows that noise.

Usage:
    python bench/bench_graph.py                   # 9 rounds, MLP, CNN and callbacks
    python bench/bench_graph.py --repeats 7 --only mlp,callbacks
    python bench/bench_graph.py --quick           # small sizes, 2 rounds: a smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

N_FEATURES, N_CLASSES = 784, 10
BASE = "sequential"
AGAIN = "sequential (again)"


def _set_threads(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


# ------------------------------------------------------------------------------- models


def _layers(workload: str) -> list:
    """Fresh layers of the workload's model, without its input (first to last)."""
    from engram.nn.layers import Conv2D, Dense, Flatten, MaxPooling2D

    if workload == "mlp":
        return [Dense(128, activation="relu"), Dense(N_CLASSES, activation="softmax")]
    return [
        Conv2D(16, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)),
        Conv2D(32, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dense(N_CLASSES, activation="softmax"),
    ]


def _input_shape(workload: str) -> tuple[int, ...]:
    return (N_FEATURES,) if workload == "mlp" else (28, 28, 1)


def sequential(workload: str):
    from engram.nn import Input, Sequential

    return Sequential([Input(shape=_input_shape(workload)), *_layers(workload)], seed=0)


def functional(workload: str):
    from engram.nn import Input, Model

    inputs = Input(shape=_input_shape(workload))
    x = inputs
    for layer in _layers(workload):
        x = layer(x)
    return Model(inputs, x, seed=0)


def subclassed(workload: str):
    from engram.nn import Model

    class Net(Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.stack = _layers(workload)  # a list of layers, tracked in order, as in Keras

        def call(self, inputs, training=None):
            x = inputs
            for layer in self.stack:
                x = layer(x)
            return x

    model = Net(seed=0)
    model.build((None, *_input_shape(workload)))
    return model


BUILDERS = {BASE: sequential, "functional": functional, "subclassed": subclassed}


def _compile(model) -> None:
    from engram.nn.optimizers import Adam

    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy")


def data(workload: str, n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((n, *_input_shape(workload)), dtype=np.float32)
    return x, rng.integers(0, N_CLASSES, n)


# ------------------------------------------------------------------------------ timing


def rounds(fns: dict[str, Callable[[], object]], repeats: int, pause: float) -> dict:
    """Seconds of each function per round, after one warm-up call each; the order rotates by
    one place each round (A B C, B C A, C A B, ...)."""
    for fn in fns.values():
        fn()
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            time.sleep(pause)
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


def summarize(times: dict[str, list[float]], samples: int, base: str = BASE) -> dict:
    """Median samples/s per variant; per-round ratio of each to ``base`` (time base / time)."""
    out = {}
    for name, ts in times.items():
        ratios = [b / t for b, t in zip(times[base], ts, strict=True)]
        out[name] = {
            "samples_per_s": samples / statistics.median(ts),
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
        }
    return out


def bench_graph(workload: str, n: int, batch: int, repeats: int, pause: float) -> dict:
    import numpy as np

    x, y = data(workload, n)
    models = {name: build(workload) for name, build in BUILDERS.items()}
    weights = models[BASE].get_weights()
    check = x[: 4 * batch]
    expected = models[BASE].predict(check, batch_size=batch)
    for name, model in models.items():
        model.set_weights(weights)
        got = model.predict(check, batch_size=batch)
        if not np.array_equal(got, expected):
            raise AssertionError(f"{name} predicts differently from the Sequential model")
        _compile(model)
    models[AGAIN] = models[BASE]

    def trainer(model):
        return lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0)

    def predictor(model):
        return lambda: model.predict(x, batch_size=batch)

    train = rounds({k: trainer(m) for k, m in models.items()}, repeats, pause)
    infer = rounds({k: predictor(m) for k, m in models.items()}, repeats, pause)
    return {"train": summarize(train, n), "inference": summarize(infer, n)}


class AllHooks:
    """A custom callback overriding every hook with a little work (a counter), as a user's
    logging callback would (defined lazily: it subclasses engram's Callback)."""

    @staticmethod
    def make():
        from engram.nn.callbacks import HOOKS, Callback

        def hook(self, *args, **kwargs):
            self.calls += 1

        namespace = {name: hook for name in HOOKS}
        namespace["calls"] = 0
        return type("AllHooksCallback", (Callback,), namespace)()


@contextlib.contextmanager
def _silenced():
    """stdout and stderr (Python's and the file descriptors') to /dev/null."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = null
        try:
            yield
        finally:
            sys.stdout, sys.stderr = old
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def bench_callbacks(n: int, epochs: int, batch: int, repeats: int, pause: float) -> dict:
    from engram.nn.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint

    x, y = data("mlp", n)
    model = sequential("mlp")
    _compile(model)
    folder = tempfile.mkdtemp(prefix="bench_graph_")

    def callbacks():
        return [
            EarlyStopping(monitor="loss", patience=10),
            ModelCheckpoint(
                os.path.join(folder, "ckpt.weights.h5"), monitor="loss", save_weights_only=True
            ),
            CSVLogger(os.path.join(folder, "log.csv")),
            AllHooks.make(),
        ]

    def fit(verbose: int, with_callbacks: bool = False):
        def run():
            extra = callbacks() if with_callbacks else None
            with _silenced():
                model.fit(x, y, batch_size=batch, epochs=epochs, verbose=verbose, callbacks=extra)

        return run

    fns = {
        BASE: fit(0),
        "4 callbacks": fit(0, True),
        "verbose=1": fit(1),
        "verbose=2": fit(2),
        AGAIN: fit(0),
    }
    times = rounds(fns, repeats, pause)
    return summarize(times, n * epochs)


# ------------------------------------------------------------------------------ report


def _print_table(title: str, rows: dict) -> None:
    print(f"\n{title} (load average {os.getloadavg()[0]:.2f})")
    print(f"  {'variant':20s} {'samples/s (median)':>19s}   vs sequential: median (min-max)")
    for name, r in rows.items():
        print(
            f"  {name:20s} {r['samples_per_s']:19,.0f}   {r['ratio_median']:.3f}x "
            f"({r['ratio_min']:.3f}-{r['ratio_max']:.3f})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--pause", type=float, default=0.1)
    parser.add_argument("--only", default="mlp,cnn,callbacks")
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds")
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args()
    _set_threads(args.threads)
    import numpy as np

    repeats = 2 if args.quick else args.repeats
    sizes = {"mlp": 2048, "cnn": 256, "callbacks": 1024} if args.quick else {
        "mlp": 20_000, "cnn": 2048, "callbacks": 10_000}  # fmt: skip
    only = args.only.split(",")
    print(
        f"numpy {np.__version__}, {args.threads} threads, OPENBLAS_CORETYPE="
        f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, {repeats} rounds, load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    results: dict = {}
    for workload, batch in (("mlp", 128), ("cnn", 64)):
        if workload not in only:
            continue
        results[workload] = bench_graph(workload, sizes[workload], batch, repeats, args.pause)
        what = "MLP 784-128-10, batch 128" if workload == "mlp" else "CNN 16-32, batch 64"
        for phase in ("train", "inference"):
            _print_table(f"{what}, {phase} ({sizes[workload]:,} samples a run)",
                         results[workload][phase])  # fmt: skip
    if "callbacks" in only:
        results["callbacks"] = bench_callbacks(sizes["callbacks"], 2, 128, repeats, args.pause)
        _print_table(
            f"Callbacks: Sequential MLP 784-128-10, batch 128, fit of 2 epochs x "
            f"{sizes['callbacks']:,} samples",
            results["callbacks"],
        )
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
