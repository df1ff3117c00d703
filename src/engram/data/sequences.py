"""Sequence tasks for recurrent networks: memory, long-range credit assignment and prediction.

Each task is one function ``task(n, <difficulty>, ..., seed) -> (x, y)`` with float32 inputs of
shape (n, time, features), a seed (an int or a Generator, never NumPy's global state) and one
difficulty knob:

=====================  ==================  =================================================
task                   difficulty knob     what the network must do
=====================  ==================  =================================================
`delayed_recall`       ``delay``           hold a cue through ``delay`` empty steps, then
                                           name it at the go signal (working memory)
`delayed_match`        ``delay``           hold a sample, compare it with a test stimulus
                                           after ``delay`` steps (delayed match-to-sample)
`copy_task`            ``delay``, length   reproduce a sequence of symbols after a delay
`adding_problem`       ``length``          add the two marked numbers of a long sequence
`sine_next_step`       ``length``          predict the next value of a noisy sine wave
=====================  ==================  =================================================

`pad_sequences` pads a list of sequences of different lengths to one array, as Keras's does.

Example:
    >>> x, y = delayed_recall(256, delay=10, seed=0)
    >>> x.shape, y.shape
    ((256, 12, 5), (256,))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engram.validation import Seed, as_rng, check_choice, check_positive

__all__ = [
    "adding_problem",
    "copy_task",
    "delayed_match",
    "delayed_recall",
    "pad_sequences",
    "sine_next_step",
]


def _count(value: Any, name: str, minimum: int = 1) -> int:
    check_positive(value, name, integer=True, strict=minimum > 0)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}. Got {value!r} instead.")
    return int(value)


def delayed_recall(
    n: int, delay: int = 10, n_cues: int = 4, noise: float = 0.0, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """Delayed recall: a cue, ``delay`` empty steps, a go signal, then name the cue.

    Trial structure (time steps): ``[cue] [delay x blank] [go]``, length ``delay + 2``. Inputs
    have ``n_cues + 1`` channels: a one-hot cue at step 0 and the go signal on the last channel
    at the last step. The answer is read from the network's output at the last step, so the cue
    must be held in the hidden state through the whole delay: the oculomotor delayed-response
    task used to record persistent activity in prefrontal cortex.

    Args:
        n: number of trials.
        delay: number of blank steps between cue and go (the difficulty knob), >= 0.
        n_cues: number of distinct cues (chance accuracy is 1 / n_cues).
        noise: standard deviation of Gaussian noise added to every input (0: clean).
        seed: an int or a Generator.

    Returns:
        x: (n, delay + 2, n_cues + 1) float32;  y: (n,) int64 cue indices.

    Reference: Funahashi, Bruce & Goldman-Rakic 1989, J Neurophysiol 61:331.
    """
    n, delay, n_cues = _count(n, "n"), _count(delay, "delay", 0), _count(n_cues, "n_cues")
    rng = as_rng(seed)
    y = rng.integers(0, n_cues, n)
    x = np.zeros((n, delay + 2, n_cues + 1), dtype=np.float32)
    x[np.arange(n), 0, y] = 1.0
    x[:, -1, n_cues] = 1.0
    if noise:
        x += rng.normal(0.0, noise, x.shape).astype(np.float32)
    return x, y.astype(np.int64)


def delayed_match(
    n: int, delay: int = 10, n_stimuli: int = 4, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """Delayed match-to-sample: a sample, a delay, a test stimulus; answer match (1) or not (0).

    Trial structure: ``[sample] [delay x blank] [test]``; half the trials match. Inputs are one
    channel per stimulus plus a test-period flag (last channel, on at the test step).

    Returns:
        x: (n, delay + 2, n_stimuli + 1) float32;  y: (n,) int64, 1 when test == sample.

    Reference: Miller, Erickson & Desimone 1996, J Neurosci 16:5154.
    """
    n, delay = _count(n, "n"), _count(delay, "delay", 0)
    n_stimuli = _count(n_stimuli, "n_stimuli", 2)
    rng = as_rng(seed)
    sample = rng.integers(0, n_stimuli, n)
    match = rng.random(n) < 0.5
    other = (sample + rng.integers(1, n_stimuli, n)) % n_stimuli
    test = np.where(match, sample, other)
    x = np.zeros((n, delay + 2, n_stimuli + 1), dtype=np.float32)
    x[np.arange(n), 0, sample] = 1.0
    x[np.arange(n), -1, test] = 1.0
    x[:, -1, n_stimuli] = 1.0
    return x, match.astype(np.int64)


def copy_task(
    n: int, length: int = 5, delay: int = 10, n_symbols: int = 8, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """Copy: read ``length`` symbols, wait ``delay`` steps, then write them back in order.

    Trial structure: ``[symbols x length] [delay x blank] [go] [length - 1 x blank]``, total
    ``2 * length + delay`` steps; inputs have ``n_symbols + 1`` channels (one-hot symbols, the go
    marker on the last channel). The targets are the symbols, expected at the last ``length``
    steps (from the go step on): train with ``return_sequences=True`` and a loss on those steps.

    Returns:
        x: (n, 2 * length + delay, n_symbols + 1) float32;  y: (n, length) int64 symbols.

    Reference: Hochreiter & Schmidhuber 1997; Arjovsky, Shah & Bengio 2016 (the usual form).
    """
    n, length = _count(n, "n"), _count(length, "length")
    delay, n_symbols = _count(delay, "delay", 0), _count(n_symbols, "n_symbols")
    rng = as_rng(seed)
    y = rng.integers(0, n_symbols, (n, length))
    x = np.zeros((n, 2 * length + delay, n_symbols + 1), dtype=np.float32)
    rows = np.arange(n)[:, None]
    x[rows, np.arange(length)[None, :], y] = 1.0
    x[:, length + delay, n_symbols] = 1.0
    return x, y.astype(np.int64)


def adding_problem(n: int, length: int = 50, seed: Seed = None) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem: sum the two numbers marked in a long sequence.

    Each step has two inputs: a number drawn from U(0, 1) and a marker, 1 at exactly two steps
    (one in each half of the sequence) and 0 elsewhere. The target is the sum of the two marked
    numbers; predicting 1 always gives a mean squared error of about 1/6, the baseline to beat.

    Returns:
        x: (n, length, 2) float32;  y: (n, 1) float32.

    Reference: Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015 (arXiv:1504.00941).
    """
    n, length = _count(n, "n"), _count(length, "length", 2)
    rng = as_rng(seed)
    x = np.zeros((n, length, 2), dtype=np.float32)
    x[:, :, 0] = rng.random((n, length))
    half = length // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, length, n)
    rows = np.arange(n)
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    y = x[rows, first, 0] + x[rows, second, 0]
    return x, y[:, None].astype(np.float32)


def sine_next_step(
    n: int,
    length: int = 40,
    noise: float = 0.0,
    periods: tuple[float, float] = (8.0, 24.0),
    seed: Seed = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Next-step prediction of sine waves with a random period, phase and amplitude.

    ``x[:, t]`` is the signal at step t (plus optional noise), ``y[:, t]`` the clean signal at
    step t + 1: a target at every step, for ``return_sequences=True``. The period varies from
    one sequence to the next, so the network must infer it from what it has seen.

    Args:
        length: steps per sequence (the difficulty knob: longer windows, more to integrate).
        noise: standard deviation of Gaussian noise on the inputs.
        periods: the range (in steps) the period is drawn from, uniformly.

    Returns:
        x: (n, length, 1) float32;  y: (n, length, 1) float32.
    """
    n, length = _count(n, "n"), _count(length, "length")
    rng = as_rng(seed)
    period = rng.uniform(periods[0], periods[1], (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    amplitude = rng.uniform(0.5, 1.0, (n, 1))
    t = np.arange(length + 1)[None, :]
    signal = amplitude * np.sin(2 * np.pi * t / period + phase)
    x = signal[:, :-1].copy()
    if noise:
        x += rng.normal(0.0, noise, x.shape)
    return x[..., None].astype(np.float32), signal[:, 1:, None].astype(np.float32)


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: str = "float32",
    padding: str = "pre",
    truncating: str = "pre",
    value: float = 0.0,
) -> np.ndarray:
    """Pad (or truncate) sequences of different lengths to one array, as Keras's function.

    Args:
        sequences: a list of arrays of shape (length_i,) or (length_i, features).
        maxlen: the common length (default: the longest sequence).
        padding: ``"pre"`` pads at the start (Keras's default), ``"post"`` at the end.
        truncating: which end to cut when a sequence is longer than ``maxlen``.
        value: the padding value.

    Returns:
        (n, maxlen) or (n, maxlen, features) array of ``dtype``.

    Raises:
        ValueError: sequences with different feature shapes, or a bad padding/truncating.
    """
    check_choice(padding, "padding", ("pre", "post"))
    check_choice(truncating, "truncating", ("pre", "post"))
    arrays = [np.asarray(s) for s in sequences]
    if not arrays:
        raise ValueError("pad_sequences needs at least one sequence. Got an empty list.")
    feature_shapes = {a.shape[1:] for a in arrays}
    if len(feature_shapes) > 1:
        raise ValueError(
            "pad_sequences needs sequences with the same shape per step. Got per-step shapes "
            f"{sorted(feature_shapes)} instead."
        )
    if maxlen is None:
        maxlen = max(len(a) for a in arrays)
    maxlen = _count(maxlen, "maxlen")
    out = np.full((len(arrays), maxlen, *arrays[0].shape[1:]), value, dtype=dtype)
    for i, a in enumerate(arrays):
        a = a[-maxlen:] if truncating == "pre" else a[:maxlen]
        if len(a):
            if padding == "pre":
                out[i, maxlen - len(a) :] = a
            else:
                out[i, : len(a)] = a
    return out
