"""Optimizers: several steps against torch.optim, Keras's formulas, clipping, dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engram.nn import optimizers

STEPS = 5


class FakeLayer:
    """The optimizer's view of a layer: a name, params and grads with the same keys."""

    def __init__(self, name, params, trainable=True):
        self.name, self.trainable = name, trainable
        self.params = {k: v.copy() for k, v in params.items()}
        self.grads = {}


def make_problem(seed=0, scale=1.0):
    """Two layers' weights and STEPS gradients for each (float32)."""
    rng = np.random.default_rng(seed)
    params = [
        {"weights": rng.standard_normal((4, 3)), "bias": rng.standard_normal(3)},
        {"weights": rng.standard_normal((3, 2))},
    ]
    params = [{k: v.astype(np.float32) for k, v in p.items()} for p in params]
    grads = [
        [
            {k: (scale * rng.standard_normal(v.shape)).astype(np.float32) for k, v in p.items()}
            for p in params
        ]
        for _ in range(STEPS)
    ]
    return params, grads


def run_engram(opt, params, grads):
    layers = [FakeLayer(f"layer{i}", p) for i, p in enumerate(params)]
    for step_grads in grads:
        for layer, g in zip(layers, step_grads, strict=True):
            layer.grads = {k: v.copy() for k, v in g.items()}
        opt.step(layers)
    return [layer.params for layer in layers]


def run_torch(make_opt, params, grads, clip=None):
    tensors = [{k: torch.tensor(v, requires_grad=True) for k, v in p.items()} for p in params]
    flat = [t for p in tensors for t in p.values()]
    opt = make_opt(flat)
    for step_grads in grads:
        for p, g in zip(tensors, step_grads, strict=True):
            for k in p:
                p[k].grad = torch.tensor(g[k])
        if clip is not None:
            clip(flat)
        opt.step()
    return [{k: t.detach().numpy() for k, t in p.items()} for p in tensors]


def assert_params_close(ours, theirs, atol=1e-6, rtol=1e-5):
    for a, b in zip(ours, theirs, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].dtype == np.float32, f"{k} became {a[k].dtype}"
            np.testing.assert_allclose(a[k], b[k], atol=atol, rtol=rtol, err_msg=k)


CASES = {
    "sgd": (
        lambda: optimizers.SGD(learning_rate=0.1),
        lambda p: torch.optim.SGD(p, lr=0.1),
    ),
    "sgd_momentum": (
        lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    ),
    "sgd_nesterov": (
        lambda: optimizers.SGD(learning_rate=0.05, momentum=0.8, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
    ),
    # Keras and torch put epsilon in different places (see the exact tests below); with a tiny
    # epsilon the two forms agree and the steps themselves are compared.
    "adam": (
        lambda: optimizers.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-12),
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-12),
    ),
    "rmsprop": (
        lambda: optimizers.RMSprop(learning_rate=0.01, rho=0.8, epsilon=1e-14),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.8, eps=1e-14),
    ),
    "adagrad": (
        lambda: optimizers.Adagrad(learning_rate=0.1, initial_accumulator_value=0.2, epsilon=1e-14),
        lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.2, eps=1e-14),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_several_steps_match_torch(case):
    ours, theirs = CASES[case]
    params, grads = make_problem()
    assert_params_close(run_engram(ours(), params, grads), run_torch(theirs, params, grads))


def test_adam_epsilon_is_outside_the_bias_correction_like_keras():
    # one step with gradients so small that epsilon matters: Keras's eps equals torch's eps
    # times sqrt(1 - beta_2^t), here t = 1
    params, grads = make_problem(scale=1e-6)
    eps = 1e-6
    ours = optimizers.Adam(learning_rate=0.1, epsilon=eps)
    eps_torch = eps / math.sqrt(1 - 0.999)
    theirs = lambda p: torch.optim.Adam(p, lr=0.1, eps=eps_torch)  # noqa: E731
    assert_params_close(
        run_engram(ours, params, grads[:1]), run_torch(theirs, params, grads[:1]), atol=1e-6
    )


def keras_reference(name, params, grads, **hp):
    """Keras's update formulas, written out in float64."""
    ps = [{k: v.astype(np.float64) for k, v in p.items()} for p in params]
    state = [{k: {} for k in p} for p in ps]
    for t, step_grads in enumerate(grads, start=1):
        for p, s, g in zip(ps, state, step_grads, strict=True):
            for k in p:
                gk, sk = g[k].astype(np.float64), s[k]
                if name == "adam":
                    sk["m"] = hp["beta_1"] * sk.get("m", 0) + (1 - hp["beta_1"]) * gk
                    sk["v"] = hp["beta_2"] * sk.get("v", 0) + (1 - hp["beta_2"]) * gk**2
                    lr_t = hp["lr"] * math.sqrt(1 - hp["beta_2"] ** t) / (1 - hp["beta_1"] ** t)
                    p[k] = p[k] - lr_t * sk["m"] / (np.sqrt(sk["v"]) + hp["eps"])
                elif name == "rmsprop":
                    sk["v"] = hp["rho"] * sk.get("v", 0) + (1 - hp["rho"]) * gk**2
                    p[k] = p[k] - hp["lr"] * gk / np.sqrt(sk["v"] + hp["eps"])
                elif name == "adagrad":
                    sk["a"] = sk.get("a", hp["init"]) + gk**2
                    p[k] = p[k] - hp["lr"] * gk / np.sqrt(sk["a"] + hp["eps"])
    return ps


@pytest.mark.parametrize(
    ("name", "ours", "hp"),
    [
        (
            "adam",
            optimizers.Adam(0.1, epsilon=1e-3),
            {"lr": 0.1, "beta_1": 0.9, "beta_2": 0.999, "eps": 1e-3},
        ),
        ("rmsprop", optimizers.RMSprop(0.1, epsilon=1e-3), {"lr": 0.1, "rho": 0.9, "eps": 1e-3}),
        ("adagrad", optimizers.Adagrad(0.1, epsilon=1e-3), {"lr": 0.1, "init": 0.1, "eps": 1e-3}),
    ],
)
def test_epsilon_placement_follows_keras_exactly(name, ours, hp):
    params, grads = make_problem(scale=0.03)  # small gradients: epsilon is not negligible
    assert_params_close(run_engram(ours, params, grads), keras_reference(name, params, grads, **hp))


def _per_weight_clip(max_norm):
    def clip(flat):
        for t in flat:
            torch.nn.utils.clip_grad_norm_([t], max_norm)

    return clip


@pytest.mark.parametrize(
    ("kwargs", "clip"),
    [
        ({"clipnorm": 0.5}, _per_weight_clip(0.5)),
        ({"clipvalue": 0.3}, lambda flat: torch.nn.utils.clip_grad_value_(flat, 0.3)),
        ({"global_clipnorm": 0.7}, lambda flat: torch.nn.utils.clip_grad_norm_(flat, 0.7)),
    ],
)
@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
def test_clipping_matches_torch(kwargs, clip, optimizer):
    params, grads = make_problem(scale=3.0)
    if optimizer == "adam":
        ours = optimizers.Adam(learning_rate=0.01, epsilon=1e-12, **kwargs)
        theirs = lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-12)  # noqa: E731
    else:
        ours = optimizers.SGD(learning_rate=0.05, momentum=0.9, **kwargs)
        theirs = lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)  # noqa: E731
    assert_params_close(
        run_engram(ours, params, grads), run_torch(theirs, params, grads, clip=clip)
    )


def test_clipnorm_is_per_weight_and_leaves_small_gradients_alone():
    layer = FakeLayer("l", {"a": np.zeros(2, np.float32), "b": np.zeros(2, np.float32)})
    layer.grads = {"a": np.float32([3, 4]), "b": np.float32([0.3, 0.4])}
    optimizers.SGD(learning_rate=1.0, clipnorm=1.0).step([layer])
    np.testing.assert_allclose(layer.params["a"], [-0.6, -0.8], rtol=1e-6)
    np.testing.assert_allclose(layer.params["b"], [-0.3, -0.4], rtol=1e-6)


def test_only_one_clipping_option_like_keras():
    with pytest.raises(ValueError, match="Only one of clipnorm, clipvalue and global_clipnorm"):
        optimizers.Adam(clipnorm=1.0, clipvalue=0.5)


ALL_OPTIMIZERS = [
    lambda **kw: optimizers.SGD(**kw),
    lambda **kw: optimizers.SGD(momentum=np.float64(0.9), nesterov=True, **kw),
    lambda **kw: optimizers.Adam(beta_1=np.float64(0.9), epsilon=np.float64(1e-7), **kw),
    lambda **kw: optimizers.RMSprop(rho=np.float64(0.9), **kw),
    lambda **kw: optimizers.Adagrad(initial_accumulator_value=np.float64(0.1), **kw),
]


@pytest.mark.parametrize(
    "clip",
    [
        {},
        {"clipnorm": np.float64(0.5)},
        {"clipvalue": np.float64(0.1)},
        {"global_clipnorm": np.float64(0.5)},
    ],
)
@pytest.mark.parametrize("make", ALL_OPTIMIZERS)
def test_float32_weights_and_state_stay_float32(make, clip):
    # NumPy 2 promotes float32 arrays with float64 *scalars*: hyperparameters given as
    # np.float64 must not turn weights, gradients or optimizer state into float64.
    opt = make(learning_rate=np.float64(0.01), **clip)
    params, grads = make_problem(scale=3.0)
    layers = [FakeLayer(f"layer{i}", p) for i, p in enumerate(params)]
    for step_grads in grads:
        for layer, g in zip(layers, step_grads, strict=True):
            layer.grads = g
        opt.step(layers)
    for layer in layers:
        for value in layer.params.values():
            assert value.dtype == np.float32
    for slots in opt.slots.values():
        for value in slots.values():
            assert value.dtype == np.float32
    # the clipped gradient itself stays float32 (no silent float64 temporaries)
    assert opt._clip(np.ones(3, np.float32) * 5, 0.5).dtype == np.float32


def test_weights_are_updated_in_place_and_frozen_layers_are_skipped():
    params, grads = make_problem()
    layers = [FakeLayer("a", params[0]), FakeLayer("b", params[1], trainable=False)]
    frozen = layers[1].params["weights"]
    copies = [layer.params["weights"].copy() for layer in layers]
    opt = optimizers.SGD(0.1)
    for layer, g in zip(layers, grads[0], strict=True):
        layer.grads = g
    opt.step(layers)  # the first step packs the trainable weights into one buffer
    live = layers[0].params["weights"]
    after_first = live.copy()
    assert not np.array_equal(after_first, copies[0])
    for layer, g in zip(layers, grads[1], strict=True):
        layer.grads = g
    opt.step(layers)
    assert layers[0].params["weights"] is live  # from then on, updated in place
    assert not np.array_equal(live, after_first)
    assert layers[1].params["weights"] is frozen
    np.testing.assert_array_equal(frozen, copies[1])


def _weight_by_weight(make_opt, params, grads):
    """Reference: one optimizer per weight (every update here is element-wise, so packing
    all weights together must give the same numbers, bit for bit)."""
    out = []
    for i, p in enumerate(params):
        out.append({})
        for key, value in p.items():
            layer = FakeLayer(f"layer{i}", {key: value})
            opt = make_opt()
            for step_grads in grads:
                layer.grads = {key: step_grads[i][key].copy()}
                opt.step([layer])
            out[i][key] = layer.params[key]
    return out


@pytest.mark.parametrize("make", ALL_OPTIMIZERS)
def test_packed_step_is_bit_identical_to_weight_by_weight(make):
    params, grads = make_problem(scale=2.0)
    packed = run_engram(make(learning_rate=0.01), params, grads)
    reference = _weight_by_weight(lambda: make(learning_rate=0.01), params, grads)
    for ours, theirs in zip(packed, reference, strict=True):
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key])


def test_packing_shares_one_buffer_per_dtype_and_keeps_float64():
    layers = [
        FakeLayer("a", {"w": np.ones((3, 5), np.float32), "b": np.ones(5, np.float32)}),
        FakeLayer("c", {"w": np.ones((2, 2), np.float64)}),
    ]
    for layer in layers:
        layer.grads = {k: np.full_like(v, 0.5) for k, v in layer.params.items()}
    opt = optimizers.Adam(0.1)
    opt.step(layers)
    a_w, a_b, c_w = layers[0].params["w"], layers[0].params["b"], layers[1].params["w"]
    assert a_w.base is a_b.base is not None and a_w.base is not c_w.base
    assert (a_w.dtype, a_b.dtype, c_w.dtype) == (np.float32, np.float32, np.float64)
    assert a_b.ctypes.data % 64 == 0  # each weight starts on a 64-byte boundary
    # Adam's first step is lr * g / (|g| + eps'), within 1e-6 of lr * sign(g)
    np.testing.assert_allclose(a_w, 1 - 0.1, rtol=1e-6)
    np.testing.assert_allclose(c_w, 1 - 0.1, rtol=1e-6)


def test_replaced_weights_and_state_are_packed_again():
    params, grads = make_problem()
    layers = [FakeLayer(f"layer{i}", p) for i, p in enumerate(params)]
    opt = optimizers.Adam(0.01)
    for layer, g in zip(layers, grads[0], strict=True):
        layer.grads = g
    opt.step(layers)
    m_before = opt.slots["layer0/weights"]["m_sum"].copy()
    new = np.full((4, 3), 2.0, np.float32)
    layers[0].params["weights"] = new.copy()  # what set_weights and load_model do
    for layer, g in zip(layers, grads[1], strict=True):
        layer.grads = g
    opt.step(layers)
    # the step started from the new values and kept the moment estimates of step 1
    m_sum = 0.9 * m_before + grads[1][0]["weights"]
    np.testing.assert_allclose(opt.slots["layer0/weights"]["m_sum"], m_sum, rtol=1e-6)
    assert np.all(np.abs(layers[0].params["weights"] - new) < 0.011)
    assert layers[0].params["weights"].base is layers[1].params["weights"].base
    # state replaced from outside (as load_model does) is used, not the packed copy
    opt.slots["layer1/weights"] = {
        k: np.zeros_like(v) for k, v in opt.slots["layer1/weights"].items()
    }
    for layer, g in zip(layers, grads[2], strict=True):
        layer.grads = g
    opt.step(layers)
    np.testing.assert_allclose(opt.slots["layer1/weights"]["m_sum"], grads[2][1]["weights"])


def test_clipping_leaves_the_layers_gradients_unclipped():
    layer = FakeLayer("l", {"a": np.zeros(2, np.float32)})
    raw = np.float32([3, 4])
    layer.grads = {"a": raw.copy()}
    optimizers.SGD(learning_rate=1.0, clipnorm=1.0).step([layer])
    np.testing.assert_allclose(layer.params["a"], [-0.6, -0.8], rtol=1e-6)
    np.testing.assert_array_equal(layer.grads["a"], raw)


def test_keras_defaults():
    adam = optimizers.get("adam")
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    sgd = optimizers.get("sgd")
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (0.01, 0.0, False)
    rms = optimizers.get("rmsprop")
    assert (rms.learning_rate, rms.rho, rms.epsilon) == (0.001, 0.9, 1e-7)
    ada = optimizers.get("adagrad")
    assert (ada.learning_rate, ada.initial_accumulator_value, ada.epsilon) == (0.001, 0.1, 1e-7)


def test_config_round_trip():
    opt = optimizers.SGD(learning_rate=0.2, momentum=0.5, nesterov=True, clipnorm=1.0)
    clone = optimizers.get(optimizers.to_json(opt))
    assert type(clone) is optimizers.SGD and clone.get_config() == opt.get_config()


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="learning_rate must be > 0. Got -0.1 instead."):
        optimizers.Adam(learning_rate=-0.1)
    with pytest.raises(TypeError, match="learning_rate must be a number. Got str"):
        optimizers.Adam(learning_rate="fast")
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]. Got 1.5 instead."):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="clipnorm must be > 0"):
        optimizers.SGD(clipnorm=0)


def test_unknown_optimizer_suggests_close_matches():
    with pytest.raises(
        ValueError,
        match=r"Unknown optimizer 'adma'\. Did you mean 'adam'.*"
        r"Available: adagrad, adam, adamw, nadam, rmsprop, sgd\.",
    ):
        optimizers.get("adma")
    with pytest.raises(TypeError, match="optimizer must be a name such as 'adam'"):
        optimizers.get(None)


def test_adam_keeps_keras_moments_as_weighted_sums():
    # m_sum = m / (1 - b1), v_sum = v / (1 - b2), with Keras's m and v from the formula
    params, grads = make_problem(scale=2.0)
    opt = optimizers.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99)
    run_engram(opt, params, grads)
    m = v = 0.0
    for step_grads in grads:
        g = step_grads[0]["weights"].astype(np.float64)
        m, v = 0.8 * m + 0.2 * g, 0.99 * v + 0.01 * g**2
    state = opt.slots["layer0/weights"]
    np.testing.assert_allclose(0.2 * state["m_sum"], m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(0.01 * state["v_sum"], v, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("arg", ["beta_1", "beta_2"])
@pytest.mark.parametrize("value", [1.0, -0.1, 1.5])
def test_adam_decay_rates_must_be_in_0_1(arg, value):
    with pytest.raises(ValueError, match=rf"{arg} must be in \[0, 1\)"):
        optimizers.Adam(**{arg: value})


# Every hyperparameter that would turn the weights into NaN (or is not a number) is refused
# when the optimizer is made, with its valid range. Keras 3.15.1 accepts RMSprop(epsilon=-1),
# RMSprop(rho=5), Adagrad(initial_accumulator_value=-1) and clipnorm=-1, and refuses
# SGD(momentum=-1) and negative learning rates.
BAD_HYPERPARAMETERS = [
    (lambda: optimizers.RMSprop(epsilon=-1), ValueError, "epsilon must be > 0. Got -1"),
    (lambda: optimizers.RMSprop(epsilon=0), ValueError, "epsilon must be > 0. Got 0"),
    (lambda: optimizers.RMSprop(rho=5), ValueError, r"rho must be in \[0, 1\). Got 5"),
    (lambda: optimizers.RMSprop(rho=-0.1), ValueError, r"rho must be in \[0, 1\)"),
    (lambda: optimizers.RMSprop(rho="0.9"), TypeError, "rho must be a number"),
    (
        lambda: optimizers.Adagrad(initial_accumulator_value=-1),
        ValueError,
        "initial_accumulator_value must be >= 0. Got -1",
    ),
    (lambda: optimizers.Adagrad(epsilon=-1e-7), ValueError, "epsilon must be > 0"),
    (lambda: optimizers.Adam(epsilon=-1), ValueError, "epsilon must be > 0"),
    (lambda: optimizers.Adam(epsilon=float("nan")), ValueError, "epsilon must be > 0"),
    (lambda: optimizers.SGD(momentum=-1), ValueError, r"momentum must be in \[0, 1\]. Got -1"),
    (lambda: optimizers.SGD(momentum=None), TypeError, "momentum must be a number"),
    (lambda: optimizers.SGD(nesterov="yes"), TypeError, "nesterov must be True or False"),
    (lambda: optimizers.SGD(learning_rate=-0.01), ValueError, "learning_rate must be > 0"),
    (lambda: optimizers.RMSprop(learning_rate=0), ValueError, "learning_rate must be > 0"),
    (lambda: optimizers.Adagrad(learning_rate=float("inf")), ValueError, "learning_rate"),
    (lambda: optimizers.Adam(clipnorm=-1), ValueError, "clipnorm must be > 0. Got -1"),
    (lambda: optimizers.RMSprop(clipvalue=0), ValueError, "clipvalue must be > 0"),
    (lambda: optimizers.SGD(global_clipnorm=-2.0), ValueError, "global_clipnorm must be > 0"),
]


@pytest.mark.parametrize(("make", "error", "message"), BAD_HYPERPARAMETERS)
def test_every_hyperparameter_is_checked_when_the_optimizer_is_made(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize(
    "make",
    [
        lambda: optimizers.RMSprop(learning_rate=0.1),
        lambda: optimizers.Adagrad(learning_rate=0.1, initial_accumulator_value=0.0),
        lambda: optimizers.Adam(learning_rate=0.1),
    ],
)
def test_a_weight_whose_gradient_is_always_zero_stays_finite(make):
    # the reason epsilon must be > 0: with 0 the step is 0 / 0 for such a weight
    layer = FakeLayer("layer0", {"weights": np.ones(3, np.float32)})
    opt = make()
    for _ in range(3):
        layer.grads = {"weights": np.zeros(3, np.float32)}
        opt.step([layer])
    np.testing.assert_array_equal(layer.params["weights"], 1.0)


def _small_model():
    from engram.nn import Sequential
    from engram.nn.layers import Dense

    return Sequential([Dense(2, input_dim=3)], seed=0)


def test_one_optimizer_cannot_train_two_models():
    # Keras 3.15.1 refuses too, at the second model's first step ("Unknown variable");
    # engram refuses at compile, before anything ran
    opt = optimizers.Adam(learning_rate=0.01)
    first, second = _small_model(), _small_model()
    first.compile(opt, "mse")
    first.compile(opt, "mse")  # the same model again is fine
    with pytest.raises(
        ValueError,
        match=r"This Adam optimizer is already used by the model 'sequential': its step count "
        r"and moments belong to that model\. Give each model its own optimizer, e\.g\. "
        r"compile\(optimizer=Adam\(learning_rate=0\.01\)\) or optimizer='adam'\.",
    ):
        second.compile(opt, "mse")
    assert second.optimizer is None
    first.compile("sgd", "mse")  # the first model lets go of it
    second.compile(opt, "mse")
    assert second.optimizer is opt


ALL_WITH_STATE = ALL_OPTIMIZERS[1:] + [lambda **kw: optimizers.Nadam(**kw)]


@pytest.mark.parametrize("make", ALL_WITH_STATE)
def test_decaying_state_never_turns_subnormal_and_the_weights_do_not_change(make, monkeypatch):
    # a dead unit's moments decay after its last gradient (Adam: m <- 0.9 m); subnormal floats
    # make every later pass over the state several times slower, so tiny entries are flushed
    # to zero; the weights must come out exactly as without the flush
    rng = np.random.default_rng(0)
    start = {"weights": rng.standard_normal(64).astype(np.float32)}
    grads = [rng.standard_normal(64).astype(np.float32) for _ in range(5)]
    grads += [np.zeros(64, np.float32)] * 1200
    tiny = np.finfo(np.float32).tiny

    def train(flush_every):
        monkeypatch.setattr(optimizers.Optimizer, "FLUSH_EVERY", flush_every)
        layer, opt = FakeLayer("layer0", start), make(learning_rate=0.01)
        subnormal = 0
        for g in grads:
            layer.grads = {"weights": g.copy()}
            opt.step([layer])
            for state in opt.slots["layer0/weights"].values():
                subnormal += np.count_nonzero((state != 0) & (np.abs(state) < tiny))
        return layer.params["weights"], subnormal

    flushed, subnormal = train(optimizers.Optimizer.FLUSH_EVERY)
    plain, plain_subnormal = train(10**9)
    np.testing.assert_array_equal(flushed, plain)
    assert subnormal == 0
    if make().name in ("sgd", "adam", "nadam"):  # moments decaying 0.9 a step: the case shown
        assert plain_subnormal > 0
