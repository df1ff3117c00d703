"""AdamW, Nadam, weight_decay, amsgrad and the learning-rate schedules against Keras 3.15.1.

Two checks per optimizer: the bare update rule (the same gradients fed to both for several
steps, every weight within 1e-6), and a whole model (Keras's weights copied in, a few training
steps without shuffling, every weight within 1e-5, float32).
"""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Sequential, optimizers
from engram.nn.layers import Dense
from engram.nn.optimizers import schedules
from tests.nn.keras_reference import import_keras
from tests.nn.test_optimizers import FakeLayer, make_problem, run_engram

# (engram optimizer, Keras optimizer) from the same keyword arguments; a schedule is given as
# ("ClassName", kwargs) and built in each library
CASES = {
    "adamw": ("AdamW", {"learning_rate": 0.05, "weight_decay": 0.1}),
    "adamw_default_decay": ("AdamW", {"learning_rate": 0.01}),
    "adamw_amsgrad": ("AdamW", {"learning_rate": 0.05, "amsgrad": True, "weight_decay": 0.02}),
    "adam_amsgrad": ("Adam", {"learning_rate": 0.05, "amsgrad": True, "beta_2": 0.9}),
    "adam_weight_decay": ("Adam", {"learning_rate": 0.05, "weight_decay": 0.05}),
    "nadam": ("Nadam", {"learning_rate": 0.05}),
    "nadam_weight_decay": ("Nadam", {"learning_rate": 0.02, "beta_1": 0.8, "weight_decay": 0.1}),
    "sgd_weight_decay": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.05}),
    "rmsprop_weight_decay": ("RMSprop", {"learning_rate": 0.01, "weight_decay": 0.1}),
    "adagrad_weight_decay": ("Adagrad", {"learning_rate": 0.1, "weight_decay": 0.1}),
    "sgd_exponential": (
        "SGD",
        {"learning_rate": ("ExponentialDecay", {"initial_learning_rate": 0.2, "decay_steps": 2,
                                                "decay_rate": 0.5})},
    ),
    "adamw_cosine_warmup": (
        "AdamW",
        {"learning_rate": ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 3,
                                           "warmup_target": 0.05, "warmup_steps": 2}),
         "weight_decay": 0.5},
    ),
    "nadam_piecewise": (
        "Nadam",
        {"learning_rate": ("PiecewiseConstantDecay", {"boundaries": [1, 3],
                                                      "values": [0.05, 0.01, 0.002]})},
    ),
}  # fmt: skip


def build(library, class_name, kwargs):
    kwargs = dict(kwargs)
    lr = kwargs.get("learning_rate")
    if isinstance(lr, tuple):
        module = schedules if library is optimizers else library.optimizers.schedules
        kwargs["learning_rate"] = getattr(module, lr[0])(**lr[1])
    namespace = optimizers if library is optimizers else library.optimizers
    return getattr(namespace, class_name)(**kwargs)


def run_keras(keras, opt, params, grads):
    variables = [[keras.Variable(v) for v in p.values()] for p in params]
    flat = [v for layer in variables for v in layer]
    for step_grads in grads:
        flat_grads = [g for layer in step_grads for g in layer.values()]
        opt.apply([keras.ops.convert_to_tensor(g) for g in flat_grads], flat)
    return [
        {k: np.asarray(v.numpy()) for k, v in zip(p, layer, strict=True)}
        for p, layer in zip(params, variables, strict=True)
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_update_rule_matches_keras(case):
    keras = import_keras()
    class_name, kwargs = CASES[case]
    params, grads = make_problem(scale=0.5)
    ours = run_engram(build(optimizers, class_name, kwargs), params, grads)
    theirs = run_keras(keras, build(keras, class_name, kwargs), params, grads)
    for a, b in zip(ours, theirs, strict=True):
        for key in a:
            assert a[key].dtype == np.float32
            np.testing.assert_allclose(a[key], b[key], atol=1e-6, rtol=1e-5, err_msg=key)


@pytest.mark.parametrize("case", ["adamw", "nadam", "adam_amsgrad", "adamw_cosine_warmup"])
def test_training_steps_match_keras(case):
    keras = import_keras()
    class_name, kwargs = CASES[case]
    keras.utils.set_random_seed(0)  # Keras's initial weights, the same every run
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = rng.standard_normal((40, 2)).astype(np.float32)
    kmodel = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(2)]
    )
    model = Sequential([Dense(6, activation="tanh", input_dim=5), Dense(2)])
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    model.compile(build(optimizers, class_name, kwargs), "mse")
    kmodel.compile(build(keras, class_name, kwargs), "mse")
    fit = {"batch_size": 8, "epochs": 2, "shuffle": False, "verbose": 0}  # 10 steps
    ours = model.fit(x, y, **fit).history["loss"]
    theirs = kmodel.fit(x, y, **fit).history["loss"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert model.optimizer.iterations == int(kmodel.optimizer.iterations.numpy()) == 10
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-5)
    assert model.optimizer.learning_rate == pytest.approx(
        float(kmodel.optimizer.learning_rate.numpy()), rel=1e-6
    )


SCHEDULES = {
    "ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.7},
    "ExponentialDecay_staircase": {
        "initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.7, "staircase": True,
    },
    "InverseTimeDecay": {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5},
    "InverseTimeDecay_staircase": {
        "initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5, "staircase": True,
    },
    "PiecewiseConstantDecay": {"boundaries": [2, 5, 9], "values": [1.0, 0.5, 0.1, 0.01]},
    "PolynomialDecay": {"initial_learning_rate": 0.1, "decay_steps": 7, "power": 0.5},
    "PolynomialDecay_cycle": {
        "initial_learning_rate": 0.1, "decay_steps": 4, "end_learning_rate": 0.01, "power": 2.0,
        "cycle": True,
    },
    "CosineDecay": {"initial_learning_rate": 0.1, "decay_steps": 8, "alpha": 0.1},
    "CosineDecay_warmup": {
        "initial_learning_rate": 0.0, "decay_steps": 6, "warmup_target": 0.2, "warmup_steps": 4,
        "alpha": 0.05,
    },
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(SCHEDULES))
def test_schedule_values_match_keras(case):
    keras = import_keras()
    class_name = case.split("_")[0]
    ours = getattr(schedules, class_name)(**SCHEDULES[case])
    theirs = getattr(keras.optimizers.schedules, class_name)(**SCHEDULES[case])
    steps = range(25)
    expected = [float(np.asarray(theirs(keras.ops.convert_to_tensor(s)))) for s in steps]
    np.testing.assert_allclose([ours(s) for s in steps], expected, rtol=1e-6, atol=1e-9)
    # the same config as Keras, and Keras's serialized entry
    assert ours.get_config() == theirs.get_config()
    assert schedules.serialize(ours) == keras.optimizers.schedules.serialize(theirs)
    clone = schedules.deserialize(keras.optimizers.schedules.serialize(theirs))
    assert type(clone) is type(ours) and clone.get_config() == ours.get_config()


def test_schedule_is_read_at_the_update_count_before_each_update():
    lr = schedules.PiecewiseConstantDecay([0, 1], [1.0, 0.5, 0.25])
    opt = optimizers.SGD(learning_rate=lr)
    layer = FakeLayer("l", {"w": np.zeros(1, np.float32)})
    seen = []
    for _ in range(3):
        seen.append(opt.learning_rate)  # what the next update uses
        layer.grads = {"w": np.ones(1, np.float32)}
        opt.step([layer])
    assert seen == [1.0, 0.5, 0.25]
    assert layer.params["w"][0] == pytest.approx(-1.75)


def test_a_schedule_learning_rate_cannot_be_set_like_keras():
    opt = optimizers.Adam(learning_rate=schedules.ExponentialDecay(0.1, 10, 0.5))
    with pytest.raises(TypeError, match="created with a LearningRateSchedule.*not settable"):
        opt.learning_rate = 0.01
    opt.learning_rate = schedules.CosineDecay(0.1, 10)  # another schedule is fine
    assert isinstance(opt.schedule, schedules.CosineDecay)
    constant = optimizers.Adam(learning_rate=0.1)
    constant.learning_rate = 0.01
    assert constant.learning_rate == 0.01 and constant.schedule is None


def test_optimizer_config_round_trips_with_its_schedule():
    opt = optimizers.AdamW(
        learning_rate=schedules.CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=10),
        weight_decay=0.01,
        amsgrad=True,
    )
    entry = optimizers.to_json(opt)
    assert entry["config"]["learning_rate"]["class_name"] == "CosineDecay"
    clone = optimizers.get(entry)
    assert type(clone) is optimizers.AdamW and clone.get_config() == opt.get_config()
    assert clone.slot_names == ("m_sum", "v_sum", "v_hat_sum")


def test_optimizer_configs_carry_keras_keys():
    keras = import_keras()
    for class_name, kwargs in [
        ("AdamW", {"weight_decay": 0.01, "amsgrad": True}),
        ("Nadam", {"beta_1": 0.8}),
        ("Adam", {"amsgrad": True, "weight_decay": 0.1}),
    ]:
        ours = build(optimizers, class_name, kwargs).get_config()
        theirs = build(keras, class_name, kwargs).get_config()
        for key, value in ours.items():
            assert theirs[key] == pytest.approx(value), (class_name, key)


def test_schedule_from_engram_is_found_under_the_keras_path():
    from engram.nn.optimizers.schedules import ExponentialDecay

    assert ExponentialDecay is schedules.ExponentialDecay
    assert optimizers.schedules.CosineDecay is schedules.CosineDecay


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: optimizers.AdamW(weight_decay=None), ValueError, "weight_decay must be a"),
        (lambda: optimizers.Adam(weight_decay=-0.1), ValueError, "weight_decay must be >= 0"),
        (lambda: optimizers.Adam(amsgrad="yes"), TypeError, "amsgrad must be True or False"),
        (lambda: optimizers.Nadam(beta_1=1.0), ValueError, r"beta_1 must be in \[0, 1\)"),
        (lambda: optimizers.SGD(learning_rate=lambda: 0.1), TypeError, "LearningRateSchedule"),
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), ValueError, "decay_steps must be > 0"),
        (lambda: schedules.PiecewiseConstantDecay([1], [1.0]), ValueError, "1 less than"),
        (lambda: schedules.PiecewiseConstantDecay([3, 1], [1, 2, 3]), ValueError, "increasing"),
        (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=-1), ValueError, "warmup_steps"),
        (lambda: schedules.deserialize({"class_name": "Os"}), ValueError, "Unknown learning-rate"),
    ],
)
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_custom_schedule_trains_but_is_refused_when_saved(tmp_path):
    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.1 * 0.5**step

        def get_config(self):
            return {}

    model = Sequential([Dense(1, input_dim=2)], seed=0)
    model.compile(optimizers.SGD(learning_rate=Halving()), "mse")
    x = np.ones((4, 2), np.float32)
    model.fit(x, np.zeros((4, 1), np.float32), epochs=2, batch_size=2, verbose=0)
    assert model.optimizer.learning_rate == pytest.approx(0.1 * 0.5**4)
    with pytest.raises(ValueError, match="schedule Halving cannot be saved as data"):
        model.save(tmp_path / "m.engram")
    assert not (tmp_path / "m.engram").exists()


def test_model_file_keeps_the_schedule_and_its_position(tmp_path):
    from engram.nn import load_model

    lr = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    model = Sequential([Dense(3, input_dim=2), Dense(1)], seed=0)
    model.compile(optimizers.Nadam(learning_rate=lr, weight_decay=0.01), "mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 2)), rng.standard_normal((12, 1))
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    model.save(tmp_path / "m.engram")
    loaded = load_model(tmp_path / "m.engram")
    assert isinstance(loaded.optimizer.schedule, schedules.ExponentialDecay)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.learning_rate == model.optimizer.learning_rate == 0.1 * 0.5**1.5
    # both continue identically (schedule position, Nadam's momentum product, moments)
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def assert_configs_equal(theirs, ours):
    """Every key of ``ours`` in ``theirs``: numbers within float32 rounding, the rest equal."""
    for key, value in ours.items():
        if isinstance(value, float):
            assert theirs[key] == pytest.approx(value, rel=1e-7), key
        else:
            assert theirs[key] == value, key


def _trained(opt):
    model = Sequential([Dense(2, input_dim=3), Dense(1)], seed=0)
    model.compile(opt, "mse")
    rng = np.random.default_rng(1)
    model.fit(rng.standard_normal((8, 3)), rng.standard_normal((8, 1)), batch_size=4, verbose=0)
    return model


@pytest.mark.parametrize("make", [
    lambda: optimizers.Adam(learning_rate=schedules.ExponentialDecay(0.1, 2, 0.5)),
    lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.1),
])  # fmt: skip
def test_keras_files_carry_schedules_and_adamw_both_ways(tmp_path, make):
    keras = import_keras()
    from engram.nn import load_model

    model = _trained(make())
    model.save(tmp_path / "m.keras")
    kmodel = keras.saving.load_model(tmp_path / "m.keras")
    # Keras reads the same optimizer, moments and step (a schedule has no lr variable)
    assert_configs_equal(kmodel.optimizer.get_config(), model.optimizer.get_config())
    assert int(kmodel.optimizer.iterations.numpy()) == 2
    theirs = [np.asarray(v) for v in kmodel.optimizer.variables if "momentum" in v.path]
    ours = [(1 - 0.9) * s["m_sum"] for s in model.optimizer.slots.values()]
    for a, b in zip(sorted(ours, key=np.size), sorted(theirs, key=np.size), strict=True):
        np.testing.assert_allclose(a.ravel(), b.ravel(), rtol=1e-6)
    kmodel.save(tmp_path / "k.keras")  # and back: the file Keras writes loads in engram
    loaded = load_model(tmp_path / "k.keras")
    assert_configs_equal(loaded.optimizer.get_config(), model.optimizer.get_config())
    assert loaded.optimizer.iterations == 2


def test_keras_files_keep_nadam_and_amsgrad_state(tmp_path):
    from engram.nn import load_model

    for opt in (optimizers.Nadam(), optimizers.Adam(amsgrad=True)):
        model = _trained(opt)
        model.save(tmp_path / "m.keras")
        loaded = load_model(tmp_path / "m.keras").optimizer
        assert loaded.iterations == opt.iterations == 2
        assert set(loaded.slots) == set(opt.slots)
        for key, state in opt.slots.items():
            assert set(loaded.slots[key]) == set(opt.slot_names) == set(state)
            for slot, value in state.items():  # Keras keeps (1 - beta) times Adam's sums
                np.testing.assert_allclose(loaded.slots[key][slot], value, rtol=1e-6)


def test_keras_file_keeps_weight_decay_of_every_optimizer(tmp_path):
    from engram.nn import load_model

    model = _trained(optimizers.SGD(momentum=0.5, weight_decay=0.1))
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.optimizer.weight_decay == pytest.approx(0.1)
