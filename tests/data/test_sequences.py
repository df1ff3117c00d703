import numpy as np
import pytest

from engram.data.sequences import (
    adding_problem,
    copy_task,
    delayed_match,
    delayed_recall,
    pad_sequences,
    sine_next_step,
)

TASKS = [
    (delayed_recall, {"delay": 3}),
    (delayed_match, {"delay": 3}),
    (copy_task, {"delay": 3, "length": 2}),
    (adding_problem, {"length": 10}),
    (sine_next_step, {"length": 10}),
]


@pytest.mark.parametrize(("task", "kwargs"), TASKS)
def test_tasks_are_seeded_float32_and_3d(task, kwargs):
    x, y = task(16, seed=3, **kwargs)
    x2, y2 = task(16, seed=3, **kwargs)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert x.dtype == np.float32 and x.ndim == 3 and len(y) == 16
    assert not np.array_equal(task(16, seed=4, **kwargs)[0], x)


def test_delayed_recall_structure():
    x, y = delayed_recall(50, delay=7, n_cues=3, seed=0)
    assert x.shape == (50, 9, 4)
    np.testing.assert_array_equal(x[:, 0, :3].argmax(axis=1), y)
    assert not x[:, 1:-1].any()  # the delay is blank
    assert (x[:, -1, 3] == 1).all() and not x[:, -1, :3].any()
    assert set(np.unique(y)) == {0, 1, 2}


def test_delayed_recall_zero_delay_and_noise():
    x, _ = delayed_recall(4, delay=0, seed=0)
    assert x.shape == (4, 2, 5)
    noisy, _ = delayed_recall(4, delay=5, noise=0.1, seed=0)
    assert noisy[:, 1:-1].std() > 0.05


def test_delayed_match_labels_say_whether_test_equals_sample():
    x, y = delayed_match(200, delay=2, seed=1)
    sample, test = x[:, 0, :4].argmax(axis=1), x[:, -1, :4].argmax(axis=1)
    np.testing.assert_array_equal(y, (sample == test).astype(int))
    assert 0.3 < y.mean() < 0.7


def test_copy_task_layout():
    x, y = copy_task(5, length=3, delay=4, n_symbols=6, seed=0)
    assert x.shape == (5, 10, 7) and y.shape == (5, 3)
    np.testing.assert_array_equal(x[:, :3, :6].argmax(axis=2), y)
    assert (x[:, 7, 6] == 1).all() and x[:, :, 6].sum() == 5


def test_adding_problem_target_is_the_marked_sum():
    x, y = adding_problem(20, length=12, seed=0)
    assert (x[:, :, 1].sum(axis=1) == 2).all()
    assert (x[:, :6, 1].sum(axis=1) == 1).all()
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * x[:, :, 1]).sum(axis=1), rtol=1e-6)


def test_sine_target_is_the_next_input():
    x, y = sine_next_step(3, length=20, seed=0)
    np.testing.assert_allclose(x[:, 1:], y[:, :-1], atol=1e-6)


def test_task_arguments_are_checked():
    with pytest.raises(ValueError, match="delay must be >= 0"):
        delayed_recall(4, delay=-1)
    with pytest.raises(TypeError, match="n must be an int"):
        delayed_recall(4.5)
    with pytest.raises(ValueError, match="length must be >= 2"):
        adding_problem(4, length=1)


def test_pad_sequences_pre_post_and_truncation():
    seqs = [[1, 2, 3], [4], [5, 6]]
    np.testing.assert_array_equal(pad_sequences(seqs), [[1, 2, 3], [0, 0, 4], [0, 5, 6]])
    np.testing.assert_array_equal(
        pad_sequences(seqs, padding="post", maxlen=2, truncating="post"), [[1, 2], [4, 0], [5, 6]]
    )
    out = pad_sequences([np.ones((2, 3)), np.ones((4, 3))], value=-1)
    assert out.shape == (2, 4, 3) and (out[0, :2] == -1).all()
    with pytest.raises(ValueError, match="same shape per step"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 2))])
    with pytest.raises(ValueError, match="padding must be one of 'pre', 'post'"):
        pad_sequences(seqs, padding="middle")
