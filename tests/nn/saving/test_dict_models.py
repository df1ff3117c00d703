"""Models whose inputs or outputs are dicts, in files, configs, nested models and exports, each
checked against Keras 3.15.1 itself (torch backend): ``.keras`` files both ways (compile settings
per output key included), ``.engram`` round trips, ``get_config``/``from_config`` in Keras's
layout, a dict model nested in another, ``clone_model``, and ``to_torch``/``to_onnx`` with the
keys as names; hostile dict wiring is refused with nothing run."""

from __future__ import annotations

import copy
import json
import sys
import zipfile
from typing import Any

import numpy as np
import pytest

import engram.nn
from engram.nn import ModelFileError
from engram.nn.models import clone_model, load_model
from tests.nn.keras_reference import check_against_keras, import_keras
from tests.nn.saving.test_hostile_files import (  # noqa: F401
    PAYLOAD,
    count_refused_random_values,
    trap,
    write_keras,
)
from tests.nn.test_model_surface import dict_data, dict_model

pytest.importorskip("h5py")

COMPILE = {
    "loss": {"priority": "mse", "department": "categorical_crossentropy"},
    "loss_weights": {"priority": 1.0, "department": 0.2},
    "metrics": {"priority": ["mae"], "department": ["accuracy"]},
}


@pytest.fixture(scope="module")
def keras() -> Any:
    return import_keras()


def nested_dict_model(lib: Any) -> Any:
    """The dict model called on a dict inside a model with a list of inputs and a dict of
    outputs: one output read from the nested model's dict directly, one through more layers."""
    inner = dict_model(lib)
    i1, i2 = lib.Input((3,), name="o1"), lib.Input((2,), name="o2")
    out = inner({"a_key": i1, "b_key": i2})
    more = lib.layers.Dense(1, name="d1")(out["department"])
    total = lib.layers.add([out["priority"], more], name="addp")
    return lib.Model([i1, i2], {"sum": total, "dep": out["department"]}, name="outer")


def outer_data(n: int = 24) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    x, y = dict_data(n)
    return [x["a_key"], x["b_key"]], {"sum": y["priority"], "dep": y["department"]}


def same_weights(model: Any, kmodel: Any) -> None:
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])


def assert_close(ours: dict, theirs: dict, atol: float) -> None:
    assert isinstance(ours, dict) and sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], np.asarray(theirs[key]), atol=atol, rtol=0)


def assert_equal(ours: dict, theirs: dict) -> None:
    assert isinstance(ours, dict) and sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key])


def keras_weights(kmodel: Any) -> list[np.ndarray]:
    return [np.asarray(w) for w in kmodel.get_weights()]


def compile_config(path: Any) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))["compile_config"]


# --------------------------------------------------------------------------- .keras files
def test_an_engram_dict_model_opens_in_keras_with_its_compile_settings(tmp_path, keras):
    """Keras opens engram's file: the same predictions and evaluate, the per-output loss,
    loss_weights and metrics recorded by key as Keras records them, and training continues
    from the saved Adam state as in engram."""
    x, y = dict_data()
    model = dict_model(engram.nn)
    model.compile(engram.nn.optimizers.Adam(0.01), **COMPILE)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "e.keras")
    kmodel = dict_model(keras)
    kmodel.compile(keras.optimizers.Adam(0.01), **COMPILE)
    kmodel.save(tmp_path / "k.keras")
    ours, theirs = compile_config(tmp_path / "e.keras"), compile_config(tmp_path / "k.keras")
    for key in ("loss_weights", "metrics"):
        assert ours[key] == theirs[key] == COMPILE[key]
    assert sorted(ours["loss"]) == sorted(theirs["loss"])  # engram writes the full names
    for key, name in ours["loss"].items():
        assert keras.losses.get(name) is keras.losses.get(theirs["loss"][key])

    opened = keras.saving.load_model(tmp_path / "e.keras")
    assert_close(model.predict(x), opened.predict(x, verbose=0), 1e-5)
    ours = model.evaluate(x, y, verbose=0, return_dict=True)
    theirs = opened.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-6)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    opened.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), keras_weights(opened), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_a_keras_dict_model_loads_in_engram_and_resumes_training(tmp_path, keras):
    x, y = dict_data()
    keras.utils.set_random_seed(0)
    kmodel = dict_model(keras)
    kmodel.compile(keras.optimizers.Adam(0.01), **COMPILE)
    kmodel.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    kmodel.save(tmp_path / "k.keras")
    model = load_model(tmp_path / "k.keras")
    assert model._input_dict == ["a_key", "b_key"]
    assert model._output_dict == ["department", "priority"]
    assert model.metric_names == COMPILE["metrics"]
    assert model._loss_weights == [0.2, 1.0]  # sorted keys: department, priority
    assert [loss.name for loss in model._losses] == [
        "categorical_crossentropy",
        "mean_squared_error",
    ]
    assert_close(model.predict(x), kmodel.predict(x, verbose=0), 1e-5)
    ours = model.evaluate(x, y, verbose=0, return_dict=True)
    theirs = kmodel.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-6)
    assert model.optimizer.iterations == 3
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    kmodel.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), keras_weights(kmodel), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_dict_model_weights_files_both_ways(tmp_path, keras):
    x, _ = dict_data(8)
    kmodel = dict_model(keras)
    kmodel.save_weights(tmp_path / "k.weights.h5")
    model = dict_model(engram.nn)
    model.load_weights(tmp_path / "k.weights.h5")
    assert_close(model.predict(x), kmodel.predict(x, verbose=0), 1e-5)
    model.save_weights(tmp_path / "w.engram")
    again = dict_model(engram.nn)
    again.load_weights(tmp_path / "w.engram")
    assert_equal(again.predict(x), model.predict(x))


# --------------------------------------------------------------------------- .engram files
def test_a_dict_model_round_trips_through_an_engram_file_exactly(tmp_path):
    x, y = dict_data()
    model = dict_model(engram.nn)
    model.compile(engram.nn.optimizers.Adam(0.01), **COMPILE)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "m.engram")
    back = load_model(tmp_path / "m.engram")
    assert (back._input_dict, back._output_dict) == (model._input_dict, model._output_dict)
    assert back.metric_names == model.metric_names
    assert back._loss_weights == model._loss_weights
    assert_equal(back.predict(x), model.predict(x))
    assert back.evaluate(x, y, verbose=0, return_dict=True) == model.evaluate(
        x, y, verbose=0, return_dict=True
    )
    for m in (model, back):  # the optimizer state and shuffling seed came along
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(back.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- get_config
def test_get_config_is_keras_layout_and_each_library_reads_the_others(keras):
    model, kmodel = dict_model(engram.nn), dict_model(keras)
    ours, theirs = model.get_config(), kmodel.get_config()
    for key in ("input_layers", "output_layers"):
        assert isinstance(ours[key], dict)
        assert ours[key] == theirs[key]  # dict equality: Keras keeps insertion order, engram sorts
    x, _ = dict_data(8)
    rebuilt = keras.Model.from_config(copy.deepcopy(ours))  # Keras pops its keys
    rebuilt.set_weights(model.get_weights())
    assert_close(model.predict(x), rebuilt.predict(x, verbose=0), 1e-5)
    back = engram.nn.Model.from_config(theirs)
    back.set_weights(keras_weights(kmodel))
    assert_close(back.predict(x), kmodel.predict(x, verbose=0), 1e-5)


def test_clone_model_of_a_dict_model_keeps_the_keys_with_fresh_weights():
    model = dict_model(engram.nn)
    clone = clone_model(model)
    assert (clone._input_dict, clone._output_dict) == (model._input_dict, model._output_dict)
    assert clone.get_config() == model.get_config()
    assert clone.layers is not model.layers and clone.count_params() == model.count_params()
    x, _ = dict_data(4)
    out = clone.predict(x)
    assert sorted(out) == ["department", "priority"]
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])


# --------------------------------------------------------------------------- nested
def test_a_dict_model_nested_in_another_trains_as_in_keras(keras):
    """Summary rows, predict, evaluate and one SGD epoch equal Keras's (check_against_keras)."""
    x, y = outer_data()
    check_against_keras(
        nested_dict_model(engram.nn),
        nested_dict_model(keras),
        x,
        y,
        loss={"sum": "mse", "dep": "categorical_crossentropy"},
        loss_weights={"sum": 0.5, "dep": 1.0},
        metrics={"dep": ["accuracy"]},
    )


def test_a_nested_dict_model_in_files_and_configs_both_ways(tmp_path, keras):
    x, _ = outer_data(8)
    model, kmodel = nested_dict_model(engram.nn), nested_dict_model(keras)
    same_weights(model, kmodel)
    expected = kmodel.predict(x, verbose=0)
    model.save(tmp_path / "e.keras")
    kmodel.save(tmp_path / "k.keras")
    model.save(tmp_path / "e.engram")
    assert_close(
        keras.saving.load_model(tmp_path / "e.keras").predict(x, verbose=0), expected, 1e-5
    )
    assert_close(load_model(tmp_path / "k.keras").predict(x), expected, 1e-5)
    assert_equal(load_model(tmp_path / "e.keras").predict(x), model.predict(x))
    assert_equal(load_model(tmp_path / "e.engram").predict(x), model.predict(x))
    ours, theirs = model.get_config(), kmodel.get_config()
    assert ours["output_layers"] == theirs["output_layers"]  # {"dep": ["dicts", 1, 0], ...}
    call = lambda config: next(e for e in config["layers"] if e["name"] == "dicts")  # noqa: E731
    theirs_args = json.loads(json.dumps(call(theirs)["inbound_nodes"][0]["args"]))  # as in a file
    assert call(ours)["inbound_nodes"][0]["args"] == theirs_args
    rebuilt = keras.Model.from_config(copy.deepcopy(ours))  # Keras pops its keys
    rebuilt.set_weights(model.get_weights())
    assert_close(rebuilt.predict(x, verbose=0), expected, 1e-5)
    back = engram.nn.Model.from_config(theirs)
    back.set_weights(keras_weights(kmodel))
    assert_close(back.predict(x), expected, 1e-5)
    clone = clone_model(model)
    assert clone.get_config() == ours


def test_calling_a_dict_model_on_the_wrong_structure_says_what_it_takes():
    model = dict_model(engram.nn)
    a, b = engram.nn.Input((3,)), engram.nn.Input((2,))
    with pytest.raises(TypeError, match=r"takes a dict keyed by \['a_key', 'b_key'\]; .* list"):
        model([a, b])
    with pytest.raises(ValueError, match=r"called on one keyed by \['a_key', 'zzz'\]"):
        model({"a_key": a, "zzz": b})
    plain = engram.nn.Model(a, engram.nn.layers.Dense(2)(a))
    with pytest.raises(TypeError, match="takes a tensor or a list of tensors; .* dict"):
        plain({"a": engram.nn.Input((3,))})


def one_key_sequential(lib: Any) -> Any:
    """A model whose inputs are a dict of one key, first in a Sequential (as Keras chains it)."""
    x = lib.Input((3,), name="a")
    inner = lib.Model({"a": x}, lib.layers.Dense(4, activation="tanh", name="d")(x), name="one")
    return lib.Sequential([lib.Input((3,)), inner, lib.layers.Dense(2, name="head")], name="seq")


def test_a_dict_model_of_one_key_takes_an_array_and_chains_in_a_sequential(tmp_path, keras):
    """Keras 3.15.1 takes an array for a dict of one input (input_shape (None, 3)) and chains
    Sequential([dict_model, ...]); so does engram: same outputs and one epoch, files both
    ways, and the dict still names the input in files and exports."""
    from engram.nn.export import to_torch

    model, kmodel = one_key_sequential(engram.nn), one_key_sequential(keras)
    inner = model.layers[0]
    assert inner.input_shape == (None, 3) == kmodel.layers[0].input_shape
    x = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((16, 2)).astype(np.float32)
    np.testing.assert_array_equal(inner.predict(x), inner.predict({"a": x}))
    check_against_keras(model, kmodel, x, y, loss="mse")
    kmodel.save(tmp_path / "k.keras")
    theirs = keras.ops.convert_to_numpy(kmodel(x))
    np.testing.assert_allclose(load_model(tmp_path / "k.keras").predict(x), theirs, atol=1e-5)
    model.save(tmp_path / "e.keras")
    reopened = keras.saving.load_model(tmp_path / "e.keras")
    ours = model.predict(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reopened(x)), ours, atol=1e-5)
    assert load_model(tmp_path / "e.keras").layers[0]._input_dict == ["a"]
    torch = pytest.importorskip("torch")
    kt = keras.Input((3,))
    kinner = kmodel.layers[0]
    keras.Model(kt, kinner(kt)).save(tmp_path / "kf.keras")  # called on a tensor, in a file
    np.testing.assert_allclose(
        load_model(tmp_path / "kf.keras").predict(x),
        keras.ops.convert_to_numpy(kinner(x)),
        atol=1e-5,
    )
    t = engram.nn.Input((3,))
    outer = engram.nn.Model(t, inner(t))  # called on a tensor in a functional model too
    with torch.no_grad():
        got = to_torch(outer)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, inner.predict(x), atol=1e-5)
    with pytest.raises(ValueError, match=r"x has no arrays for the inputs \['a'\]"):
        inner.predict({"b": x})


# --------------------------------------------------------------------------- exports
@pytest.mark.parametrize("build", [dict_model, nested_dict_model], ids=["dict", "nested"])
def test_exports_name_the_inputs_and_outputs_by_their_keys(tmp_path, build):
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    from engram.nn.export import from_torch, to_onnx, to_torch

    model = build(engram.nn)
    x = dict_data(8)[0] if model._input_dict else outer_data(8)[0]
    expected = model.predict(x)
    module = to_torch(model)
    with torch.no_grad():
        if model._input_dict:
            out = module({k: torch.from_numpy(v) for k, v in x.items()})
            again = module(**{k: torch.from_numpy(v) for k, v in x.items()})
            assert_equal(
                {k: v.numpy() for k, v in again.items()}, {k: v.numpy() for k, v in out.items()}
            )
        else:
            out = module(*map(torch.from_numpy, x))
    assert_close({k: v.numpy() for k, v in out.items()}, expected, 1e-5)
    back = from_torch(module, [(3,), (2,)])
    assert (back._input_dict, back._output_dict) == (model._input_dict, model._output_dict)
    assert_equal(back.predict(x), expected)

    to_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == (model._input_dict or ["input_o1", "input_o2"])
    feeds = x if model._input_dict else dict(zip(names, x, strict=True))
    outputs = [o.name for o in session.get_outputs()]
    assert outputs == model._output_dict
    assert_close(dict(zip(outputs, session.run(None, feeds), strict=True)), expected, 1e-5)


def test_exports_refuse_what_they_cannot_name(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from engram.nn.export import to_onnx, to_torch

    x = engram.nn.Input((2,), name="x")
    clash = engram.nn.Model({"x": x}, {"x": engram.nn.layers.Dense(1)(x)})
    with pytest.raises(ValueError, match=r"'x' is both an input and an output key"):
        to_onnx(clash, tmp_path / "m.onnx")
    empty = engram.nn.Model({"": x}, {"y": engram.nn.layers.Dense(1)(x)})
    with pytest.raises(ValueError, match="empty key"):
        to_onnx(empty, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    module = to_torch(clash)
    with pytest.raises(ValueError, match=r"keyed by \['x'\]; got the keys \['y'\]"):
        module({"y": None})


# --------------------------------------------------------------------------- hostile files
def good_dict_file(tmp_path: Any) -> tuple[dict, bytes]:
    nested_dict_model(engram.nn).save(tmp_path / "good.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as archive:
        config = json.loads(archive.read("config.json"))
        weights = archive.read("model.weights.h5")
    (tmp_path / "good.keras").unlink()
    return config, weights


def inner_layer(config: dict, name: str) -> dict:
    return next(e for e in config["config"]["layers"] if e["name"] == name)


def nested_call(config: dict) -> dict:
    return inner_layer(config, "dicts")["inbound_nodes"][0]


def evil_tensor() -> dict:
    return {"module": PAYLOAD, "class_name": "function", "config": "run"}


HOSTILE = {
    "output-key-missing-layer": (
        lambda c: c["config"]["output_layers"].update(sum=["ghost", 0, 0]),
        r"output_layers\['sum'\] reads the layer 'ghost', which the file lacks",
    ),
    "output-value-not-a-reference": (
        lambda c: c["config"]["output_layers"].update(sum=evil_tensor()),
        r"output_layers\['sum'\] is .*not \[layer name, node index, tensor index\]",
    ),
    "empty-output-dict": (
        lambda c: c["config"].update(output_layers={}),
        r"output_layers is an empty dict",
    ),
    "empty-key": (
        lambda c: c["config"]["output_layers"].update({"": ["addp", 0, 0]}),
        r"output_layers has a key that is not a name: ''",
    ),
    "input-dict-not-an-input-layer": (
        lambda c: inner_layer(c, "dicts")["config"]["input_layers"].update(a_key=["hidden", 0, 0]),
        r"input_layers\['a_key'\] is not an InputLayer",
    ),
    "call-keys-not-the-models": (
        lambda c: nested_call(c)["args"][0].update(zzz=nested_call(c)["args"][0].pop("b_key")),
        r"'dicts' node 0 is called with a dict keyed by \['a_key', 'zzz'\]; it takes a dict "
        r"keyed by \['a_key', 'b_key'\]",
    ),
    "dict-model-called-on-a-list": (
        lambda c: nested_call(c).update(args=[list(nested_call(c)["args"][0].values())]),
        r"'dicts' node 0 is called with no dict; it takes a dict keyed by",
    ),
    "plain-layer-called-on-a-dict": (
        lambda c: inner_layer(c, "d1")["inbound_nodes"][0].update(
            args=[{"k": inner_layer(c, "d1")["inbound_nodes"][0]["args"][0]}]
        ),
        r"'d1' node 0 is called with a dict keyed by \['k'\]; it takes no dict",
    ),
    "function-in-a-call-dict": (
        lambda c: nested_call(c)["args"][0].update(a_key=evil_tensor()),
        r"args\[0\]\['a_key'\] is .*not a tensor",
    ),
    "code-in-the-mask-dict": (
        lambda c: nested_call(c).update(kwargs={"mask": {"a_key": evil_tensor()}}),
        r"passes mask=.*does not implement",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_dict_wiring_is_refused(tmp_path, trap, case):  # noqa: F811
    config, weights = good_dict_file(tmp_path)
    edit, match = HOSTILE[case]
    edit(config)
    path = write_keras(tmp_path / "bad.keras", config, weights)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ModelFileError, match=match):
        load_model(path)
    assert not trap.exists() and PAYLOAD not in sys.modules
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_good_dict_file_loads_and_keras_mask_kwargs_are_read(tmp_path, trap):  # noqa: F811
    """The hostile cases start from a file that loads; Keras's own ``mask: {key: null}`` on a
    nested dict call is accepted."""
    config, weights = good_dict_file(tmp_path)
    nested_call(config)["kwargs"] = {"mask": {"a_key": None, "b_key": None}}
    model = load_model(write_keras(tmp_path / "ok.keras", config, weights))
    assert model._output_dict == ["dep", "sum"] and not trap.exists()


def test_from_config_refuses_keys_that_are_not_data():
    config = dict_model(engram.nn).get_config()
    bad = copy.deepcopy(config)
    bad["output_layers"] = {("a", "b"): ["zz", 0, 0]}
    with pytest.raises(ModelFileError, match="holds something other than data"):
        engram.nn.Model.from_config(bad)
    bad = copy.deepcopy(config)
    bad["input_layers"]["a_key"] = ["nowhere", 0, 0]
    with pytest.raises(ModelFileError, match=r"the config.input_layers\['a_key'\] reads the layer"):
        engram.nn.Model.from_config(bad)


def test_dict_configs_with_values_of_the_wrong_type_are_refused(tmp_path):
    """Random values put anywhere in the good nested dict file's config (dict keys and the
    nested call's dict included): each file loads or raises ModelFileError, never another
    exception."""
    config, weights = good_dict_file(tmp_path)
    values = [None, 0, "x", [], {}, {"a": 1}, {"k": ["o1", 0, 0]}, ["o1", 0, 0], 10**12]
    assert count_refused_random_values(tmp_path, config, weights, values, 3, 120) > 40


def test_one_input_under_two_keys_is_refused_at_construction(keras):
    """Keras 3.15.1 builds Model({"a": x, "b": x}, ...), warns, and reads only the last key's
    array (the one under "a" changes nothing): engram refuses the wiring where it is written."""
    x = engram.nn.Input((3,), name="x")
    y = engram.nn.layers.Dense(2)(x)
    with pytest.raises(ValueError, match=r"the keys 'a' and 'b' both hold the Input 'x'.*its own"):
        engram.nn.Model({"a": x, "b": x}, y)
    engram.nn.Model({"a": x}, y)  # one key is fine
    kx = keras.Input((3,), name="x")
    with pytest.warns(UserWarning, match="keys in the dict must match the names"):
        kmodel = keras.Model({"a": kx, "b": kx}, keras.layers.Dense(2)(kx))
    ones, zeros = np.ones((1, 3), np.float32), np.zeros((1, 3), np.float32)

    def kpredict(a, b):
        return keras.ops.convert_to_numpy(kmodel({"a": a, "b": b}))

    np.testing.assert_array_equal(kpredict(zeros, ones), kpredict(ones, ones))
    assert not np.array_equal(kpredict(ones, ones), kpredict(ones, zeros))


def test_two_keys_reading_one_input_are_refused(tmp_path):
    config, weights = good_dict_file(tmp_path)
    inner = inner_layer(config, "dicts")["config"]
    inner["input_layers"]["b_key"] = inner["input_layers"]["a_key"]
    with pytest.raises(ModelFileError, match="the InputLayer 'in_b' is not among input_layers"):
        load_model(write_keras(tmp_path / "bad.keras", config, weights))


def test_backup_and_restore_resumes_a_dict_model(tmp_path):
    """A fit of a dict model stopped by an error mid-epoch resumes from its backup and ends
    with the weights of a fit never stopped."""
    from engram.nn.callbacks import BackupAndRestore, Callback

    class Stop(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1 and not self.params.get("stopped"):
                self.params["stopped"] = True
                raise KeyboardInterrupt

    x, y = dict_data()

    def fresh(scale=0.1):
        model = dict_model(engram.nn)
        model.seed, model.rng = 5, np.random.default_rng(5)
        model.set_weights([np.full_like(w, scale * i) for i, w in enumerate(model.get_weights())])
        model.compile(engram.nn.optimizers.Adam(0.01), **COMPILE)
        return model

    straight = fresh()
    straight.fit(x, y, batch_size=8, epochs=3, verbose=0)
    backup = BackupAndRestore(str(tmp_path / "backup"), save_freq=1)
    stopped = fresh()
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[backup, Stop()])
    resumed = fresh(scale=0.3)  # other weights: only the backup can bring it to the same end
    resumed.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[backup])
    for a, b in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_cli_exports_a_dict_model_file(tmp_path):
    """``engram export`` of a saved dict model: to .keras (the keys kept) and to ONNX (named by
    them)."""
    ort = pytest.importorskip("onnxruntime")
    from click.testing import CliRunner

    from engram.cli import cli

    model = dict_model(engram.nn)
    model.save(tmp_path / "m.engram")
    x, _ = dict_data(4)
    for to, out in (("keras", "m.keras"), ("onnx", "m.onnx")):
        args = ["export", str(tmp_path / "m.engram"), "--to", to, "--out", str(tmp_path / out)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    assert_equal(load_model(tmp_path / "m.keras").predict(x), model.predict(x))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert_close(dict(zip(names, session.run(None, x), strict=True)), model.predict(x), 1e-5)


def test_hostile_dict_wiring_in_an_engram_file_is_refused_naming_its_header(tmp_path, trap):  # noqa: F811
    from tests.nn.saving.test_engram_graph import with_graph

    source = tmp_path / "src" / "good.engram"
    source.parent.mkdir()
    nested_dict_model(engram.nn).save(source)

    def edit(graph):
        call = next(e for e in graph["config"]["layers"] if e["name"] == "dicts")
        call["inbound_nodes"][0]["args"][0]["a_key"] = evil_tensor()

    path = with_graph(source, tmp_path / "src" / "bad.engram", edit)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(ModelFileError, match=r"the header's keras_architecture.*'a_key'\] is .*"):
        load_model(path)
    assert not trap.exists() and PAYLOAD not in sys.modules
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_a_nested_call_keyed_like_a_serialized_object_reads_back(tmp_path):
    """Input keys 'class_name' and 'config' make the nested call's dict look like a serialized
    object; the reader tells it from a tensor as Keras does (by ``__keras_tensor__``). (Keras
    3.15.1 itself cannot load such a file, its own included: it reads the dict as an object.)"""
    a, b = engram.nn.Input((2,), name="a"), engram.nn.Input((3,), name="b")
    joined = engram.nn.layers.concatenate([a, b])
    inner = engram.nn.Model({"class_name": a, "config": b}, engram.nn.layers.Dense(2)(joined))
    x, y = engram.nn.Input((2,), name="x"), engram.nn.Input((3,), name="y")
    model = engram.nn.Model([x, y], inner({"class_name": x, "config": y}))
    model.save(tmp_path / "m.keras")
    data = [np.ones((2, 2), "float32"), np.ones((2, 3), "float32")]
    np.testing.assert_array_equal(
        load_model(tmp_path / "m.keras").predict(data), model.predict(data)
    )
