"""Strength search on held-out training data; options a method does not take; EWC vs online EWC."""

from __future__ import annotations

import numpy as np
import pytest

from engram.continual import hold_out, search_strength, split_stream, train_stream


def tiny_stream(n_per_class=20, classes=4, features=6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, (classes, features))
    y = np.repeat(np.arange(classes), n_per_class)
    x = (centers[y] + rng.normal(0, 0.5, (len(y), features))).astype(np.float32)
    x_test = (centers[y] + rng.normal(0, 0.5, (len(y), features))).astype(np.float32)
    return split_stream((x, y), (x_test, y), 2)


def test_hold_out_takes_validation_from_training_and_never_the_test_set():
    stream = tiny_stream()
    held = hold_out(stream, 0.25, seed=0)
    for ctx, val in zip(stream.contexts, held.contexts, strict=True):
        assert len(val.x_test) == 10 and len(val.x_train) == 30
        rows = {r.tobytes() for r in ctx.x_train}
        assert all(r.tobytes() in rows for r in val.x_test)  # from the training images
        assert not {r.tobytes() for r in val.x_train} & {r.tobytes() for r in val.x_test}
        assert not rows & {r.tobytes() for r in ctx.x_test}
    with pytest.raises(ValueError, match="fraction"):
        hold_out(stream, 1.5)


def test_search_tries_every_candidate_and_keeps_the_best_held_out():
    stream = tiny_stream()
    settings = {"iterations": 15, "batch_size": 8, "hidden": (8,), "fisher_samples": 10}
    found = search_strength("ewc", stream, "class", (1e-3, 1e2, 1e8), seed=0, **settings)
    assert found.candidates == (1e-3, 1e2, 1e8)
    validation = hold_out(stream, 0.2, 0)
    expected = [
        train_stream("ewc", validation, "class", seed=0, strength=c, **settings).average
        for c in found.candidates
    ]
    assert list(found.validation_accuracy) == expected
    assert found.best == found.candidates[int(np.argmax(expected))]
    with pytest.raises(ValueError, match="at least one"):
        search_strength("ewc", stream, "class", ())


def test_an_option_the_method_does_not_take_is_named():
    stream = tiny_stream()
    with pytest.raises(ValueError, match="'ewc' method takes no option 'capacity'.*strength"):
        train_stream("ewc", stream, "task", iterations=2, hidden=(4,), capacity=10)
    with pytest.raises(ValueError, match="'none' method takes no option 'strength'; it takes no"):
        train_stream("none", stream, "task", iterations=2, hidden=(4,), strength=1.0)


def test_online_ewc_differs_from_ewc_once_the_weights_move_between_contexts():
    # identical results at a strength that freezes the shared weights (all anchors equal) are
    # expected; at a strength that lets them move, the anchors differ and so must the runs
    stream = tiny_stream(classes=6)
    settings = {"iterations": 30, "batch_size": 8, "hidden": (16,), "fisher_samples": 20}
    ewc = train_stream("ewc", stream, "domain", strength=10.0, **settings)
    online = train_stream("online-ewc", stream, "domain", strength=10.0, **settings)
    assert not np.array_equal(ewc.accuracy, online.accuracy)
