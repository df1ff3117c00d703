"""BackupAndRestore: a fit killed with SIGKILL resumes and ends bit-identical to one never
interrupted (weights and History), for mid-epoch and per-epoch backups, arrays and Sequences."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engram.nn import Sequential, callbacks, optimizers
from engram.nn.io import ModelFileError
from engram.nn.layers import Dense

PROGRAM = textwrap.dedent(
    """
    import hashlib, json, os, signal, sys
    import numpy as np
    from engram.nn import Sequential, callbacks, optimizers, utils
    from engram.nn.layers import Dense, Dropout

    backup_dir, kill_at, save_freq, source = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    save_freq = save_freq if save_freq == "epoch" else int(save_freq)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((44, 5)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)

    class Batches(utils.Sequence):
        def __len__(self):
            return 6
        def __getitem__(self, i):
            return x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8]

    class Kill(callbacks.Callback):
        seen = 0
        def on_train_batch_end(self, batch, logs=None):
            Kill.seen += 1
            if Kill.seen == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    model = Sequential(
        [Dense(16, activation="relu", input_shape=(5,)), Dropout(0.3),
         Dense(2, activation="softmax")], seed=3)
    model.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    cbs = [] if backup_dir == "-" else [callbacks.BackupAndRestore(backup_dir, save_freq=save_freq)]
    data = (Batches(),) if source == "sequence" else (x, y)
    history = model.fit(*data, batch_size=8, epochs=4, validation_split=0.0 if source == "sequence"
                        else 0.2, callbacks=[*cbs, Kill()], verbose=0)
    digest = hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()
    result = {"weights": digest, "history": history.history, "epochs": history.epoch}
    print(json.dumps({**result, "batches_run": Kill.seen}))
    """
)


def run(tmp_path, backup_dir, kill_at, save_freq, source):
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    args = [sys.executable, str(script), str(backup_dir), str(kill_at), str(save_freq), source]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    "save_freq, kill_at, source, backed_up",
    # 4 epochs of 5 batches (arrays: 35 training samples) or 6 (the Sequence); backed_up: the
    # batches done at the last backup before the kill
    [(3, 8, "arrays", 6), ("epoch", 7, "arrays", 5), (4, 10, "sequence", 8), (2, 5, "arrays", 4)],
)
def test_a_killed_fit_resumes_bit_identical(tmp_path, save_freq, kill_at, source, backed_up):
    whole = run(tmp_path, "-", 0, save_freq, source)
    assert whole.returncode == 0, whole.stderr
    backup = tmp_path / "backup"
    killed = run(tmp_path, backup, kill_at, save_freq, source)
    assert killed.returncode == -9, killed.stderr  # SIGKILL: no on_train_end, backup kept
    assert (backup / "backup.engram").is_file()
    resumed = run(tmp_path, backup, 0, save_freq, source)
    assert resumed.returncode == 0, resumed.stderr
    ours, theirs = json.loads(resumed.stdout), json.loads(whole.stdout)
    # the resumed run went on from the backup: it ran only the batches after it
    assert ours.pop("batches_run") == theirs.pop("batches_run") - backed_up
    assert ours == theirs  # weights (SHA-256 of every byte), History, epochs
    assert not backup.exists()  # delete_checkpoint: removed at the end


def small_model(seed=0):
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)], seed=seed)
    model.compile(optimizers.SGD(0.1), "mse")
    return model


def test_backup_arguments_and_files_are_checked(tmp_path):
    with pytest.raises(ValueError, match="needs a backup_dir"):
        callbacks.BackupAndRestore("")
    with pytest.raises(ValueError, match=r"save_freq \(when not 'epoch'\) must be > 0"):
        callbacks.BackupAndRestore(tmp_path, save_freq=0)
    x = np.ones((8, 3), np.float32)
    keep = callbacks.BackupAndRestore(tmp_path / "b", delete_checkpoint=False)
    small_model().fit(x, x[:, :2], epochs=2, callbacks=[keep], verbose=0)
    path = tmp_path / "b" / "backup.engram"
    assert path.is_file() and b"pickle" not in path.read_bytes()[:200]
    # another architecture: refused, naming the file
    other = Sequential([Dense(5, input_shape=(3,)), Dense(2)], seed=0)
    other.compile("sgd", "mse")
    with pytest.raises(ModelFileError, match=r"has shape \(3, 4\), the architecture needs \(3, 5"):
        other.fit(x, x[:, :2], callbacks=[keep], verbose=0)
    # a damaged backup is refused; with double_checkpoint the previous one is used
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupted"):
        small_model().fit(x, x[:, :2], callbacks=[keep], verbose=0)


def test_double_checkpoint_falls_back_to_the_previous_backup(tmp_path):
    x = np.ones((8, 3), np.float32)
    keep = callbacks.BackupAndRestore(tmp_path, double_checkpoint=True, delete_checkpoint=False)
    small_model().fit(x, x[:, :2], epochs=2, callbacks=[keep], verbose=0)
    latest = tmp_path / "backup.engram"
    assert (tmp_path / "backup.engram.bkp").is_file()
    latest.write_bytes(latest.read_bytes()[:100])  # truncated
    model = small_model()
    history = model.fit(x, x[:, :2], epochs=3, callbacks=[keep], verbose=0)
    assert history.epoch == [0, 1, 2]  # the previous backup (after epoch 1) resumed at 1


def test_a_model_built_again_in_the_same_process_resumes_by_layer_position(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3)).astype(np.float32)
    y = x[:, :2] ** 2
    keep = callbacks.BackupAndRestore(tmp_path, delete_checkpoint=False)
    first = small_model(seed=5)
    first.fit(x, y, batch_size=4, epochs=2, callbacks=[keep], verbose=0)
    again = small_model(seed=5)  # new automatic layer names
    assert again.layers[0].name != first.layers[0].name
    history = again.fit(x, y, batch_size=4, epochs=4, callbacks=[keep], verbose=0)
    whole = small_model(seed=5)
    expected = whole.fit(x, y, batch_size=4, epochs=4, verbose=0)
    assert history.epoch == [0, 1, 2, 3] and history.history == expected.history
    for a, b in zip(again.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_mid_epoch_backups_of_a_generator_are_refused_before_training(tmp_path):
    def batches():
        while True:
            yield np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)

    model = small_model()
    backup = callbacks.BackupAndRestore(tmp_path, save_freq=2)
    with pytest.raises(NotImplementedError, match="cannot resume a Python generator mid-epoch"):
        model.fit(batches(), steps_per_epoch=3, callbacks=[backup], verbose=0, shuffle=False)
    assert model.optimizer.iterations == 0
    history = model.fit(
        batches(),
        steps_per_epoch=3,
        epochs=2,
        verbose=0,
        shuffle=False,
        callbacks=[callbacks.BackupAndRestore(tmp_path)],  # per epoch: fine
    )
    assert history.epoch == [0, 1]


def test_metric_state_round_trips_through_json():
    from engram.nn import metrics

    rng = np.random.default_rng(0)
    y, p = (rng.random(40) > 0.5).astype("float32"), rng.random(40).astype("float32")
    for make in (metrics.AUC, metrics.Precision, metrics.SparseCategoricalAccuracy):
        a, b = make(name="a"), make(name="a")
        if make is metrics.SparseCategoricalAccuracy:
            yy, pp = y.astype(int), np.stack([1 - p, p], axis=1)
        else:
            yy, pp = y, p
        a.update_state(yy[:20], pp[:20])
        b.set_state(json.loads(json.dumps(a.state())))
        a.update_state(yy[20:], pp[20:])
        b.update_state(yy[20:], pp[20:])
        assert a.result() == b.result(), make.__name__
