"""Keras 3.15.1 itself as the reference: the same model in both, Keras's weights copied in.

`check_against_keras` builds nothing: it takes an engram model and the same Keras model, copies
Keras's weights into engram with ``set_weights``, then compares

1. ``count_params`` and the ``summary`` rows (layer name and type, output shape, parameters and,
   for a functional model, what each layer is connected to);
2. ``predict`` (atol 1e-5);
3. ``evaluate(return_dict=True)``: the same keys, values within 1e-5 relative;
4. one training epoch without shuffling (SGD): the same History keys, logs within 1e-4, and
   every weight within 1e-4 of Keras's.

Keras runs on its torch backend (KERAS_BACKEND=torch, set before Keras is first imported);
tests skip when Keras or torch is absent.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import pytest


def import_keras() -> Any:
    """Keras on the torch backend, or skip the test."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    if os.environ["KERAS_BACKEND"] != "torch":
        pytest.skip("the Keras reference runs on KERAS_BACKEND=torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras was imported earlier with another backend")
    return keras


def keras_summary_rows(kmodel: Any) -> list[tuple[str, ...]]:
    """The rows of Keras's summary table: its cells, with wrapped lines joined."""
    lines: list[str] = []
    kmodel.summary(print_fn=lambda text, **kwargs: lines.extend(text.splitlines()))
    rows, current = [], None
    for line in lines:
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if current is None:
                current = cells
            else:  # a wrapped row continues its cells
                current = [f"{a} {b}".strip() for a, b in zip(current, cells, strict=True)]
        elif current is not None:
            rows.append(tuple(current))
            current = None
    return rows


def engram_summary_rows(model: Any) -> list[tuple[str, ...]]:
    """The rows engram prints, read back from its printed summary."""
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    rows = model._summary_rows()
    text = "\n".join(lines)
    for row in rows:  # each row's cells are printed on one line, in order
        pattern = r"\s+".join(re.escape(cell) for cell in row)
        assert re.search(pattern, text), f"row {row} is not in the printed summary:\n{text}"
    return [tuple(" ".join(cell.split()) for cell in row) for row in rows]


def summary_footer(model: Any) -> list[str]:
    """The lines under the summary's table (" Total params: 21 (84.00 B)", ...), as printed."""
    lines: list[str] = []
    model.summary(print_fn=lambda text, **kwargs: lines.extend(str(text).splitlines()))
    return [line.rstrip() for line in lines if re.match(r" \S+ params: ", line)]


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, dict):  # a model with a dict of outputs: its values by sorted key
        return [value[key] for key in sorted(value)]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def check_against_keras(
    model: Any,
    kmodel: Any,
    x: Any,
    y: Any,
    *,
    loss: Any,
    metrics: Any = None,
    loss_weights: Any = None,
    batch_size: int = 8,
    learning_rate: float = 0.1,
    validation_data: Any = None,
) -> dict[str, Any]:
    """Compare ``model`` (engram) with ``kmodel`` (Keras) on everything listed above.

    Returns the two histories, for test-specific checks.
    """
    keras = import_keras()
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])

    # 1. structure
    assert model.count_params() == kmodel.count_params()
    ours, theirs = (
        engram_summary_rows(model),
        [tuple(" ".join(cell.split()) for cell in row) for row in keras_summary_rows(kmodel)],
    )
    assert ours == theirs, f"summary rows differ:\nengram {ours}\nkeras  {theirs}"

    # 2. predict
    ours = model.predict(x, batch_size=batch_size)
    theirs = kmodel.predict(x, batch_size=batch_size, verbose=0)
    assert type(ours) is type(theirs)
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs)
    ours, theirs = _as_list(ours), _as_list(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-5)

    # 3. evaluate
    compile_args = {"loss": loss, "metrics": metrics, "loss_weights": loss_weights}
    model.compile(optimizer="sgd", **compile_args)
    model.optimizer.learning_rate = learning_rate
    kmodel.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), **compile_args)
    ours = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    theirs = kmodel.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == pytest.approx(float(theirs[key]), rel=1e-5, abs=1e-6), key

    # 4. one epoch without shuffling
    fit_args = {"batch_size": batch_size, "epochs": 1, "shuffle": False, "verbose": 0}
    ours = model.fit(x, y, validation_data=validation_data, **fit_args).history
    theirs = kmodel.fit(x, y, validation_data=validation_data, **fit_args).history
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key][0] == pytest.approx(float(theirs[key][0]), rel=1e-4, abs=1e-5), key
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-4)
    return {"engram": ours, "keras": theirs}
