"""Model files: bit-exact round trips, resumable training, and refusal of anything unsafe."""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
import zipfile

import numpy as np
import pytest

import engram.fileio
from engram.nn import ModelFileError, Sequential, load_model, optimizers
from engram.nn import io as model_io
from engram.nn.layers import Dense, Dropout


def data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def make_model(seed=0, dropout_seed=None, compile_=True):
    m = Sequential(
        [
            Dense(8, activation="relu", input_dim=4, name="hidden"),
            Dropout(0.25, seed=dropout_seed, name="drop"),
            Dense(2, activation="softmax", name="out"),
        ],
        name="clf",
        seed=seed,
    )
    if compile_:
        m.compile(
            optimizers.Adam(learning_rate=0.01, clipnorm=1.0),
            "sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    return m


@pytest.fixture
def saved(tmp_path):
    x, y = data()
    m = make_model()
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.engram"
    m.save(path)
    return m, path


def read_header(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def write_with_header(path, header, payload):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + payload)


def edit_metadata(src, dst, field, edit):
    header, payload = read_header(src)
    value = json.loads(header["__metadata__"][field])
    edit(value)
    header["__metadata__"][field] = json.dumps(value)
    write_with_header(dst, header, payload)


# ------------------------------------------------------------------------------ round trips
def test_round_trip_is_bit_exact_with_compile_settings_and_optimizer_state(saved):
    m, path = saved
    loaded = load_model(path)
    assert loaded.get_config() == m.get_config()
    for a, b in zip(m.get_weights(), loaded.get_weights(), strict=True):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    x, _ = data()
    np.testing.assert_array_equal(m.predict(x), loaded.predict(x))
    assert loaded.optimizer.get_config() == m.optimizer.get_config()
    assert loaded.optimizer.iterations == m.optimizer.iterations == 12
    assert loaded.loss.name == m.loss.name and loaded.metric_names == ["accuracy"]
    assert loaded.optimizer.slots.keys() == m.optimizer.slots.keys()
    for key, slots in m.optimizer.slots.items():
        for slot, value in slots.items():
            np.testing.assert_array_equal(loaded.optimizer.slots[key][slot], value)


@pytest.mark.parametrize("dropout_seed", [None, 3])
@pytest.mark.parametrize("shuffle", [True, False])
def test_training_resumes_identically(tmp_path, shuffle, dropout_seed):
    x, y = data()
    straight = make_model(dropout_seed=dropout_seed)
    straight.fit(x, y, epochs=2, batch_size=16, shuffle=shuffle, verbose=0)

    first = make_model(dropout_seed=dropout_seed)
    first.fit(x, y, epochs=1, batch_size=16, shuffle=shuffle, verbose=0)
    first.save(tmp_path / "half.engram")
    resumed = load_model(tmp_path / "half.engram")
    resumed.fit(x, y, epochs=1, batch_size=16, shuffle=shuffle, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_without_compile(saved):
    _, path = saved
    loaded = load_model(path, compile=False)
    assert loaded.optimizer is None and loaded.loss is None
    with pytest.raises(ValueError, match=r"must be compiled before fit\(\)"):
        loaded.fit(*data())


def test_uncompiled_and_unbuilt_models(tmp_path):
    m = make_model(compile_=False)
    m.save(tmp_path / "plain.engram")
    assert load_model(tmp_path / "plain.engram").optimizer is None
    with pytest.raises(ValueError, match="Only a built model can be saved"):
        Sequential([Dense(2)]).save(tmp_path / "unbuilt.engram")


def test_save_and_load_weights_match_layers_by_position(tmp_path):
    m = make_model(seed=1)
    m.save_weights(tmp_path / "w.engram")
    other = Sequential(
        [Dense(8, activation="relu", input_dim=4), Dropout(0.25), Dense(2, activation="softmax")],
        seed=2,
    )  # other layer names
    other.load_weights(tmp_path / "w.engram")
    for a, b in zip(m.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ModelFileError, match="holds weights for 3 layers, but the model has 2"):
        Sequential([Dense(8, input_dim=4), Dense(2)]).load_weights(tmp_path / "w.engram")
    with pytest.raises(ModelFileError, match="model_config' is missing"):
        load_model(tmp_path / "w.engram")


def test_files_are_plain_safetensors(saved):
    from safetensors.numpy import load_file

    _, path = saved
    tensors = load_file(path)
    assert tensors["weights/hidden/weights"].shape == (4, 8)
    assert "optimizer/hidden/weights/m_sum" in tensors


# ------------------------------------------------------------------------- refused files
def test_truncated_file(saved, tmp_path):
    _, path = saved
    raw = path.read_bytes()
    bad = tmp_path / "truncated.engram"
    bad.write_bytes(raw[: len(raw) - 10])
    with pytest.raises(ModelFileError, match=r"is truncated: tensor .* runs past the end"):
        load_model(bad)
    bad.write_bytes(raw[:5])
    with pytest.raises(ModelFileError, match="is truncated: 5 bytes, too short for a header"):
        load_model(bad)


def test_bad_headers(saved, tmp_path):
    _, path = saved
    raw = path.read_bytes()
    bad = tmp_path / "bad.engram"
    bad.write_bytes(b"this is not a model file at all")
    with pytest.raises(ModelFileError, match="has a bad header"):
        load_model(bad)
    bad.write_bytes(struct.pack("<Q", 10**9) + raw[8:])
    with pytest.raises(ModelFileError, match=r"declares 1000000000 header bytes but the file has"):
        load_model(bad)
    bad.write_bytes(struct.pack("<Q", 6) + b"{nope}" + b"\0" * 16)
    with pytest.raises(ModelFileError, match="bad header: not valid JSON"):
        load_model(bad)
    write_with_header(bad, {"__metadata__": ["not", "a", "map"]}, b"")
    with pytest.raises(ModelFileError, match="__metadata__ must map strings to strings"):
        load_model(bad)
    header, payload = read_header(path)
    first = next(k for k in header if k != "__metadata__")
    header[first]["data_offsets"] = "everything"
    write_with_header(bad, header, payload)
    with pytest.raises(ModelFileError, match=f"tensor '{first}' has no valid data_offsets"):
        load_model(bad)


def test_other_safetensors_files_are_not_models(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, path)
    with pytest.raises(ModelFileError, match="is not an engram model file"):
        load_model(path)


@pytest.mark.parametrize("class_name", ["os.system", "Lambda", "builtins.eval", 42, None])
def test_unknown_layer_class_is_refused_and_nothing_is_imported(saved, tmp_path, class_name):
    _, path = saved
    bad = tmp_path / "evil.engram"

    def edit(config):
        config["layers"][0]["class_name"] = class_name

    edit_metadata(path, bad, "model_config", edit)
    with pytest.raises(ModelFileError, match="names a layer class .* that engram does not have"):
        load_model(bad)


def test_unknown_activation_is_refused(saved, tmp_path):
    _, path = saved
    bad = tmp_path / "evil.engram"

    def edit(config):
        config["layers"][0]["config"]["activation"] = {"name": "os.system", "config": {}}

    edit_metadata(path, bad, "model_config", edit)
    with pytest.raises(ModelFileError, match=r"cannot be rebuilt: Unknown activation 'os\.system'"):
        load_model(bad)


@pytest.mark.parametrize(
    ("field", "edit", "message"),
    [
        (
            "model_config",
            lambda c: c["layers"][0]["config"].update(units=5),
            r"weight hidden/weights has shape \(4, 8\), the architecture needs \(4, 5\)",
        ),
        (
            "model_config",
            lambda c: c["layers"][0]["config"].update(name="renamed"),
            "does not match the architecture: missing",
        ),
        (
            "model_config",
            lambda c: c["layers"][0]["config"].update(surprise=1),
            "cannot be rebuilt: .*unexpected keyword argument 'surprise'",
        ),
        ("model_config", lambda c: c.update(layers="Dense"), "list of layers"),
        (
            "compile_config",
            lambda c: c.update(loss="cross_entropy_of_doom"),
            "compile settings cannot be restored: Unknown loss",
        ),
        (
            "compile_config",
            lambda c: c["optimizer"].update(name="sgd"),
            "cannot be restored: .*unexpected keyword argument 'beta_1'",
        ),
        (
            "compile_config",
            lambda c: c.update(metrics=[{"name": "x"}]),
            "cannot be restored: metrics must be a list of names",
        ),
        (
            "rng_state",
            lambda c: c["model"].update(bit_generator="MT19937"),
            "rng_state entry 'model' is for 'MT19937'",
        ),
        ("rng_state", lambda c: c["model"].update(state=5), "rng_state entry 'model' is invalid"),
        (
            "rng_state",
            lambda c: c["model"]["state"].update(state=-1),
            "rng_state entry 'model' is invalid",
        ),
        ("rng_state", lambda c: c.update(model=[1]), "rng_state entry 'model' must be an object"),
    ],
)
def test_inconsistent_metadata_is_refused(saved, tmp_path, field, edit, message):
    _, path = saved
    bad = tmp_path / "bad.engram"
    edit_metadata(path, bad, field, edit)
    with pytest.raises(ModelFileError, match=message):
        load_model(bad)


def test_wrong_tensors_for_the_architecture(saved, tmp_path):
    from safetensors.numpy import load_file, save

    _, path = saved
    header, _ = read_header(path)
    metadata = header["__metadata__"]
    tensors = load_file(path)
    bad = tmp_path / "bad.engram"
    for change, message in [
        (lambda t: t.pop("weights/out/bias"), r"missing \['weights/out/bias'\]"),
        (
            lambda t: t.update({"weights/out/extra": np.zeros(2, np.float32)}),
            r"unexpected \['weights/out/extra'\]",
        ),
        (
            lambda t: t.update({"optimizer/out/weights/m_sum": np.zeros((3, 3), np.float32)}),
            r"optimizer state 'optimizer/out/weights/m_sum' has shape \(3, 3\)",
        ),
        (
            lambda t: t.update({"optimizer/out/weights/velocity": np.zeros((8, 2), np.float32)}),
            "optimizer state 'optimizer/out/weights/velocity' does not match",
        ),
        (
            lambda t: t.pop("optimizer/out/weights/v_sum"),
            r"optimizer state for 'out/weights' has slots \['m_sum'\]",
        ),
    ]:
        changed = dict(tensors)
        change(changed)
        bad.write_bytes(save(changed, metadata=metadata))
        with pytest.raises(ModelFileError, match=message):
            load_model(bad)


def touch(path):
    """What a malicious pickle would run: here it only creates a sentinel file."""
    with open(path, "w") as handle:
        handle.write("unpickled!")


class Touch:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (touch, (self.path,))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickle_is_refused_and_never_unpickled(tmp_path, protocol):
    proof, sentinel = tmp_path / "proof", tmp_path / "sentinel"
    pickle.loads(pickle.dumps(Touch(proof), protocol=protocol))
    assert proof.exists()  # unpickling really would run code
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Touch(sentinel), protocol=protocol))
    with pytest.raises(ModelFileError, match="is a pickle|has a bad header"):
        load_model(path)
    assert not sentinel.exists()


def test_zip_and_npz_archives_are_refused(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, w=np.zeros(3))
    with pytest.raises(ModelFileError, match="is a zip archive"):
        load_model(path)
    torch_like, sentinel = tmp_path / "model.pt", tmp_path / "sentinel"
    with zipfile.ZipFile(torch_like, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(Touch(sentinel)))
    with pytest.raises(ModelFileError, match="is a zip archive"):
        load_model(torch_like)
    assert not sentinel.exists()


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="No model file at"):
        load_model("/nonexistent/model.engram")


# ------------------------------------------------------------------------------ atomicity
def test_crash_during_save_leaves_the_previous_file_intact(saved, monkeypatch):
    m, path = saved
    before = path.read_bytes()
    x, y = data()
    m.fit(x, y, epochs=1, verbose=0)  # new weights

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        m.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.engram"]  # no temp files


def test_crash_while_serializing_leaves_the_previous_file_intact(saved, monkeypatch):
    m, path = saved
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise RuntimeError("serializer died")

    monkeypatch.setattr(model_io, "_tensors_of", crash)
    with pytest.raises(RuntimeError, match="serializer died"):
        m.save(path)
    assert path.read_bytes() == before


def test_crash_mid_write_leaves_the_previous_file_intact(saved, monkeypatch):
    m, path = saved
    before = path.read_bytes()

    def crash(fd):
        raise OSError("power cut")

    monkeypatch.setattr(engram.fileio.os, "fsync", crash)
    with pytest.raises(OSError, match="power cut"):
        m.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.engram"]


def test_models_with_layers_from_other_engram_packages_load_in_a_fresh_process(tmp_path):
    import subprocess
    import sys

    from engram.motor.rate_network import RateRNN

    model = Sequential([RateRNN(4, input_shape=(5, 2)), Dense(1)], seed=0)
    model.compile("adam", "mse")
    path = tmp_path / "rate.engram"
    model.save(path)
    code = f"from engram.nn import load_model; print(load_model({str(path)!r}).layers[0].name)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == model.layers[0].name


# ------------------------------------------------------------- files that would cost memory
LOAD_IN_FRESH_PROCESS = """
import json, sys, time
from engram.nn import ModelFileError, load_model
results = []
for path in sys.argv[1:]:
    start = time.perf_counter()
    try:
        load_model(path)
        outcome = "loaded"
    except ModelFileError as exc:
        outcome = str(exc)
    except BaseException as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    results.append([outcome, time.perf_counter() - start])
# the high-water mark of this process's own memory (ru_maxrss would count the parent's, which
# survive the exec)
status = open("/proc/self/status").read()
peak_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"results": results, "peak_mb": peak_mb}))
"""


def test_files_declaring_huge_or_padded_contents_are_refused_before_costing_memory(saved, tmp_path):
    # The cases: a 4.6 KB file whose architecture says units=100000000 used to build the
    # model with random float64 weights first (7 GB, 12 s); units=10**12 raised a bare
    # MemoryError; a valid file padded to 3 GB was read whole. Each runs in a fresh process,
    # whose peak memory is measured.
    import subprocess
    import sys

    if not os.path.exists("/proc/self/status"):
        pytest.skip("measures peak memory with Linux's /proc/self/status")
    _, path = saved
    paths = []
    for units in (100_000_000, 10**12):
        big = tmp_path / f"units-{units}.engram"
        edit_metadata(
            path, big, "model_config", lambda c, u=units: c["layers"][0]["config"].update(units=u)
        )
        paths.append(big)
    padded = tmp_path / "padded.engram"
    padded.write_bytes(path.read_bytes())
    with open(padded, "r+b") as handle:
        handle.truncate(3 * 2**30)  # sparse: no disk space used
    paths.append(padded)
    out = subprocess.run(
        [sys.executable, "-c", LOAD_IN_FRESH_PROCESS, *map(str, paths)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    report = json.loads(out.stdout)
    (huge, _), (absurd, _), (pad, _) = report["results"]
    assert re.search(r"weight hidden/weights has shape \(4, 8\), the architecture needs "
                     r"\(4, 100000000\)", huge)  # fmt: skip
    assert re.search(r"the architecture declares weights too large to create|"
                     r"weight hidden/weights has shape \(4, 8\)", absurd)  # fmt: skip
    assert re.search(r"has \d+ bytes after its last tensor: not a file engram wrote.*refused "
                     r"without being read", pad)  # fmt: skip
    assert all(seconds < 2.0 for _, seconds in report["results"])
    assert report["peak_mb"] < 600, report  # the old loader reached gigabytes


def test_tensors_above_the_size_cap_are_refused_from_the_header(saved, monkeypatch):
    _, path = saved
    monkeypatch.setattr(model_io, "MAX_MODEL_BYTES", 100)
    with pytest.raises(ModelFileError, match=r"holds 0\.0 GiB of tensors, above the cap .* "
                       r"raise engram\.nn\.io\.MAX_MODEL_BYTES"):  # fmt: skip
        load_model(path)


def test_header_sizes_that_do_not_match_their_offsets_are_refused(saved, tmp_path):
    _, path = saved
    header, payload = read_header(path)
    bad = tmp_path / "bad.engram"
    for key, change, message in [
        ("weights/hidden/weights", {"shape": [4, 9]}, "needs 144 bytes, but its offsets span 128"),
        ("weights/hidden/weights", {"dtype": "BF16"}, "has dtype 'BF16'; engram reads"),
        ("weights/hidden/weights", {"shape": [4, -8]}, "has no valid shape"),
        ("weights/hidden/bias", {"data_offsets": [0, 32]}, "overlap or leave gaps"),
    ]:
        changed = json.loads(json.dumps(header))
        changed[key].update(change)
        write_with_header(bad, changed, payload)
        with pytest.raises(ModelFileError, match=message):
            load_model(bad)


# ----------------------------------------------------------------------- integrity
def test_a_flipped_byte_in_the_weights_is_refused(saved, tmp_path):
    m, path = saved
    header, payload = read_header(path)
    assert len(header["__metadata__"]["tensors_sha256"]) == 64
    start, _ = header["weights/hidden/weights"]["data_offsets"]
    raw = bytearray(path.read_bytes())
    raw[len(raw) - len(payload) + start + 5] ^= 0x01  # one bit of one weight
    bad = tmp_path / "flipped.engram"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match=r"is corrupted: its tensor data does not match the "
                       r"checksum saved with it"):  # fmt: skip
        load_model(bad)
    with pytest.raises(ModelFileError, match="does not match the checksum"):
        make_model(seed=3).load_weights(bad)


def test_files_without_a_checksum_load_unverified(saved, tmp_path):
    # files written before engram stored checksums: documented to load without verification
    m, path = saved
    header, payload = read_header(path)
    del header["__metadata__"]["tensors_sha256"]
    old = tmp_path / "old.engram"
    write_with_header(old, header, payload)
    np.testing.assert_array_equal(load_model(old).get_weights()[0], m.get_weights()[0])


def test_nan_weights_are_neither_saved_nor_loaded(saved, tmp_path):
    from safetensors.numpy import load_file, save

    m, path = saved
    m.layers[0].params["weights"][0, 0] = np.nan
    before = path.read_bytes()
    for save_call in (m.save, m.save_weights):
        with pytest.raises(ValueError, match=r"The model's weights hold NaN or infinite values "
                           r"\(hidden/weights\): its training diverged.*not saved"):  # fmt: skip
            save_call(path)
    assert path.read_bytes() == before
    # a NaN-filled file with a valid checksum (written by other means) is refused on loading
    header, _ = read_header(path)
    tensors = load_file(path)
    tensors["weights/out/bias"] = np.full(2, np.nan, np.float32)
    metadata = dict(header["__metadata__"], tensors_sha256=model_io.tensors_checksum(tensors))
    nan_file = tmp_path / "nan.engram"
    nan_file.write_bytes(save(tensors, metadata=metadata))
    with pytest.raises(ModelFileError, match=r"holds NaN or infinite values in weights/out/bias: "
                       r"it was saved from a model whose training had diverged"):  # fmt: skip
        load_model(nan_file)


# ------------------------------------------------------------------ killed saves (SIGKILL)
SAVE_AND_HANG = """
import os, sys, time
import numpy as np
from engram.nn import Sequential, optimizers
from engram.nn.callbacks import ModelCheckpoint
from engram.nn.layers import Dense

path, mode = sys.argv[1], sys.argv[2]
real_fsync, calls = os.fsync, []

def fsync_then_hang(fd):
    calls.append(fd)
    real_fsync(fd)
    if len(calls) == 2:  # the second write: its temporary file is complete, not yet renamed
        print("hanging", flush=True)
        time.sleep(120)

os.fsync = fsync_then_hang
model = Sequential([Dense(64, input_dim=32, name="hidden"), Dense(4, name="out")], seed=0)
model.compile(optimizers.Adam(0.01), "mse")
x = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
if mode == "save":
    model.save(path)
    model.fit(x, x[:, :4], epochs=1, batch_size=16, verbose=0)
    model.save(path)
else:  # a ModelCheckpoint saving after every epoch
    model.fit(x, x[:, :4], epochs=5, batch_size=16, verbose=0, callbacks=[ModelCheckpoint(path)])
"""


def start_hanging_save(path, mode):
    import subprocess
    import sys

    child = subprocess.Popen(
        [sys.executable, "-c", SAVE_AND_HANG, str(path), mode],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = child.stdout.readline()
    assert line.strip() == "hanging", child.stderr.read()
    return child


def temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("mode", ["save", "checkpoint"])
def test_a_save_killed_before_its_rename_leaves_the_previous_file_and_no_lasting_debris(
    tmp_path, mode
):
    import signal

    path = tmp_path / "model.engram"
    child = start_hanging_save(path, mode)
    try:
        [tmp] = temporaries(tmp_path)
        assert re.fullmatch(r"\.model\.engram\.[a-z0-9_]{8}\.tmp", tmp)
        # a living writer's temporary file is never taken for stale
        assert engram.fileio.remove_stale_temporaries(path) == []
        assert temporaries(tmp_path) == [tmp]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    previous = load_model(path)  # the first save (or the first epoch's checkpoint), intact
    assert previous.optimizer.iterations == (0 if mode == "save" else 4)
    assert temporaries(tmp_path) == [tmp]  # what the kill left behind ...
    other = tmp_path / "other.engram"
    previous.save(other)
    assert temporaries(tmp_path) == [tmp]  # ... is not another path's to clean
    previous.save(path)
    assert temporaries(tmp_path) == []  # ... and goes with the next save to its path


def test_stale_temporary_cleanup_touches_only_its_own_pattern(tmp_path):
    path = tmp_path / "m.engram"
    keep = [".m.engram.notours.tmp", ".m.engram.abcdefgh.tmp.bak", "m.engram.abcdefgh.tmp",
            ".m.engram.x.abcdefgh.tmp", ".other.abcdefgh.tmp"]  # fmt: skip
    for name in keep:
        (tmp_path / name).write_bytes(b"user data")
    (tmp_path / ".m.engram.abcdefgh.tmp").mkdir()  # not a regular file
    (tmp_path / ".m.engram.zyxw_123.tmp").symlink_to(tmp_path / ".other.abcdefgh.tmp")
    stale = tmp_path / ".m.engram.k2j4_9qz.tmp"
    stale.write_bytes(b"half a model")
    assert engram.fileio.remove_stale_temporaries(path) == [stale]
    assert all((tmp_path / name).read_bytes() == b"user data" for name in keep)
    assert (tmp_path / ".m.engram.abcdefgh.tmp").is_dir()
    assert (tmp_path / ".m.engram.zyxw_123.tmp").is_symlink()


def test_deeply_nested_json_is_a_model_file_error(saved, tmp_path):
    _, path = saved
    header, payload = read_header(path)
    bad = tmp_path / "nested.engram"
    header["__metadata__"]["model_config"] = "[" * 100_000 + "]" * 100_000
    write_with_header(bad, header, payload)
    with pytest.raises(ModelFileError, match="metadata field 'model_config' is missing or invalid"):
        load_model(bad)
    bad.write_bytes(struct.pack("<Q", 200_000) + b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ModelFileError, match="bad header: not valid JSON"):
        load_model(bad)


def test_a_rate_network_file_declaring_huge_units_is_refused_before_costing_memory(tmp_path):
    # RateRNN draws its recurrent matrix itself (not through an initializer): under the
    # loader's placeholders it must make zeros too, or units=200000 would draw 320 GB first
    import subprocess
    import sys

    from engram.motor.rate_network import RateRNN

    if not os.path.exists("/proc/self/status"):
        pytest.skip("measures peak memory with Linux's /proc/self/status")
    model = Sequential([RateRNN(4, input_shape=(5, 2)), Dense(1)], seed=0)
    model.compile("adam", "mse")
    path = tmp_path / "rate.engram"
    model.save(path)
    big = tmp_path / "rate-huge.engram"
    edit_metadata(
        path, big, "model_config", lambda c: c["layers"][0]["config"].update(units=20_000)
    )
    out = subprocess.run(
        [sys.executable, "-c", LOAD_IN_FRESH_PROCESS, str(big)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    report = json.loads(out.stdout)
    ((outcome, seconds),) = report["results"]
    assert "the architecture needs" in outcome and "20000" in outcome, outcome
    assert seconds < 2.0 and report["peak_mb"] < 600, report  # 20000^2 float64 drawn: 3.2 GB
