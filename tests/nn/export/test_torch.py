"""PyTorch export: the module computes engram's outputs within 1e-5 for every family, trains
as a torch module, and `from_torch` reads the modules that map one to one."""

from __future__ import annotations

import numpy as np
import pytest

from tests.nn.export.families import FAMILIES, GRAPHS, graph_inputs, graph_model, inputs, model

torch = pytest.importorskip("torch")

from engram.nn.export import from_torch, to_torch  # noqa: E402


def torch_predict(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_torch_module_matches_engram(family):
    m = model(family)
    module = to_torch(m)
    x = inputs(family)
    expected = m.predict(x)
    assert expected.std() > 1e-3
    np.testing.assert_allclose(torch_predict(module, x), expected, atol=1e-5, rtol=0)


def test_the_gru_gate_order_matters():
    """The z, r -> r, z reorder is needed: without it PyTorch's GRU gives other outputs."""
    from engram.nn.export import torch as export

    m, x = model("gru"), inputs("gru")
    original = export._blocks
    try:
        export._blocks = lambda a, order, n: a
        wrong = torch_predict(to_torch(m), x)
    finally:
        export._blocks = original
    assert np.abs(wrong - m.predict(x)).max() > 1e-3


def test_exported_module_trains_in_torch():
    m = model("time_distributed")
    module = to_torch(m).train()
    x = torch.from_numpy(inputs("time_distributed", n=16))
    target = torch.zeros(16, 4, 2)
    opt = torch.optim.SGD(module.parameters(), lr=0.05)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(module(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_from_torch_round_trip():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 8),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.1),
        torch.nn.Linear(8, 3),
        torch.nn.Softmax(dim=-1),
    ).eval()
    m = from_torch(net, (4,))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(m.predict(x), torch_predict(net, x), atol=1e-6, rtol=0)
    back = to_torch(m)
    np.testing.assert_allclose(torch_predict(back, x), m.predict(x), atol=1e-6, rtol=0)


def test_from_torch_refuses_modules_that_do_not_map_one_to_one():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3))
    with pytest.raises(ValueError, match=r"Module 0 \(Conv2d.*no one-to-one engram layer"):
        from_torch(net, (1, 5, 5))


# ------------------------------------------------------------------- functional models
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_torch_module_matches_engram_on_functional_models(name):
    m = graph_model(name)
    module = to_torch(m)
    xs = graph_inputs(m)
    with torch.no_grad():
        got = module(*[torch.from_numpy(x) for x in xs])
    got = [g.numpy() for g in got] if isinstance(got, tuple) else [got.numpy()]
    expected = m.predict(xs if len(xs) > 1 else xs[0])
    expected = expected if isinstance(expected, list) else [expected]
    assert len(got) == len(expected) == len(m.outputs)
    for a, b in zip(got, expected, strict=True):
        assert b.std() > 1e-3
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_shared_layers_share_one_module_and_the_graph_trains_in_torch():
    m = graph_model("shared_nested")
    module = to_torch(m).train()
    n_weights = sum(p.numel() for p in module.parameters())
    assert n_weights == m.count_params()  # the shared Dense is counted once
    xs = [torch.from_numpy(x) for x in graph_inputs(m, n=16)]
    opt = torch.optim.SGD(module.parameters(), lr=0.05)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = sum(out.pow(2).mean() for out in module(*xs))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_a_model_called_twice_is_one_module_with_one_set_of_weights():
    m = graph_model("shared_models")
    module = to_torch(m)
    assert sum(p.numel() for p in module.parameters()) == m.count_params()
    encoders = [i for i, sub in enumerate(module.layers) if type(sub).__name__ == "Graph"]
    assert len(encoders) == 1  # the functional encoder, run at both of its calls
    assert [step[0] for step in module.steps].count(encoders[0]) == 2


def _siamese_dense():
    from engram.nn import Input, Model
    from engram.nn import layers as E

    enc_in = Input((5,))
    encoder = Model(enc_in, E.Dense(4, activation="tanh")(E.Dense(6)(enc_in)), seed=0)
    a, b = Input((5,)), Input((5,))
    shared = E.Dense(5, activation="relu")
    ea, eb = encoder(shared(a)), encoder(shared(b))
    joined = E.Concatenate()([E.Subtract()([ea, eb]), E.Dot(axes=1, normalize=True)([ea, eb])])
    return Model([a, b], [E.Dense(1)(E.Dropout(0.2)(joined)), E.Softmax()(eb)], seed=0)


@pytest.mark.parametrize("name", ["two_in_two_out", "siamese_dense"])
def test_from_torch_reads_back_the_graph_module_of_a_functional_model(name):
    m = _siamese_dense() if name == "siamese_dense" else graph_model(name)
    module = to_torch(m)
    shapes = [t.shape[1:] for t in m.inputs]
    back = from_torch(module, shapes)
    assert back.count_params() == m.count_params()  # the shared Dense and encoder stay shared
    xs = graph_inputs(m)
    for a, b in zip(back.predict(xs), m.predict(xs), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    with torch.no_grad():  # and to torch again
        again = to_torch(back)(*[torch.from_numpy(x) for x in xs])
    for a, b in zip(again, m.predict(xs), strict=True):
        np.testing.assert_allclose(a.numpy(), b, atol=1e-6, rtol=0)


def test_from_torch_refuses_graph_modules_without_one_to_one_layers():
    m = graph_model("resnet")
    with pytest.raises(ValueError, match=r"(?s)Module 0 \(ChannelsFirst.*no one-to-one engram"):
        from_torch(to_torch(m), [(8, 8, 2)])
    with pytest.raises(ValueError, match=r"takes 2 inputs; input_shape gives 1"):
        from_torch(to_torch(graph_model("two_in_two_out")), (6,))
    from engram.nn import Sequential
    from engram.nn import layers as L

    masked = Sequential([L.Embedding(10, 3, mask_zero=True), L.GRU(2)], seed=0)
    masked.build((None, 6))
    with pytest.raises(ValueError, match=r"computes masks .* from_torch does not read back"):
        from_torch(to_torch(masked), (6,))
