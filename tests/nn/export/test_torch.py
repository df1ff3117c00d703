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
