"""The explorer's computations and its JSON endpoint, without a browser."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from engram.explore import views
from engram.explore.server import STATIC, make_server
from engram.memory import Hopfield, flip_bits


@pytest.fixture(scope="module")
def server():
    srv = make_server(0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _post(server, path, body):
    request = urllib.request.Request(
        server.url.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_step_by_step_recall_ends_where_hopfield_recall_ends():
    digits = np.array(views.digit_patterns()["patterns"], np.float32)
    stored = digits[[0, 1, 4, 7]]
    cue = flip_bits(digits[4], 0.25, seed=5)[0]
    out = views.hopfield_recall(stored.tolist(), cue.tolist())
    expected = Hopfield("hebb").store(stored).recall(cue[None], update="sync", max_steps=20)
    assert out["steps"][-1]["state"] == expected.states[0].astype(int).tolist()
    assert out["steps"][0]["state"] == cue.astype(int).tolist()
    assert out["converged"] == bool(expected.converged[0])
    energies = [step["energy"] for step in out["steps"]]
    assert all(b <= a + 1e-9 for a, b in zip(energies, energies[1:], strict=False))
    assert out["load"] == pytest.approx(4 / 64)


def test_damage_is_flip_bits_with_the_same_seed():
    digit = views.digit_patterns()["patterns"][3]
    cue = views.damage(digit, 0.2, seed=7)["cue"]
    assert cue == flip_bits(np.array(digit), 0.2, seed=7)[0].astype(int).tolist()
    assert sum(a != b for a, b in zip(cue, digit, strict=True)) == round(0.2 * 64)


def test_capacity_curve_recalls_at_low_load_and_breaks_at_high_load():
    curve = views.capacity_curve(n_units=200, max_load=0.3, n_loads=6, seed=0)
    assert curve["recalled"][0] == 1.0  # load 0.05
    assert curve["recalled"][-1] < 0.5  # load 0.3, far above 0.138


def test_training_session_lowers_the_loss_and_keeps_its_history():
    session = views.TrainingSession("moons", (8,), 0.05, seed=0)
    first = session.advance(5)
    later = session.advance(25)
    assert first["epoch"] == 5 and later["epoch"] == 30 and later["loss"][:5] == first["loss"]
    assert later["loss"][-1] < first["loss"][0]
    assert len(later["surface"]) == later["side"] ** 2


@pytest.mark.parametrize(
    ("path", "body", "names"),
    [
        ("/api/recall", {"patterns": [], "cue": [1]}, "Store at least one pattern"),
        ("/api/recall", {"patterns": [[1, -1]], "cue": [1, 0]}, "cue must be a list of -1"),
        ("/api/train", {"dataset": "moonz"}, "dataset must be one of"),
        ("/api/train", {"layers": "8,500"}, "layers must be 1 to 4 hidden layers"),
        ("/api/capacity", {"n_units": 5000}, "n_units must be between 20 and 400"),
        ("/api/damage", {"pattern": [1, -1], "fraction": 2}, "fraction"),
        ("/api/recall", {"patterns": [[1, -1]], "cue": [1, -1], "bogus": 1}, "bogus"),
    ],
)
def test_bad_settings_get_400_naming_the_problem(server, path, body, names):
    status, payload = _post(server, path, body)
    assert status == 400 and names in payload["error"]


def test_training_endpoint_continues_a_session(server):
    status, first = _post(server, "/api/train", {"dataset": "xor", "layers": "4", "epochs": 3})
    assert status == 200 and first["epoch"] == 3
    status, more = _post(server, f"/api/train/{first['session']}", {"epochs": 2})
    assert status == 200 and more["epoch"] == 5 and more["loss"][:3] == first["loss"]
    assert _post(server, "/api/train/999", {"epochs": 2})[0] == 404


def test_static_files_are_served_and_load_nothing_remote(server):
    for name in STATIC:
        url = server.url if name == "index.html" else server.url + "static/" + name
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        assert response.status == 200 and text
        assert not re.search(r"(src|href)=[\"'](https?:)?//", text), name
        assert 'fetch("http' not in text and "fetch('http" not in text


def test_cli_explore_names_a_busy_port(server):
    from click.testing import CliRunner

    from engram.cli import cli

    port = server.server_address[1]
    result = CliRunner().invoke(cli, ["explore", "--port", str(port), "--no-browser"])
    assert result.exit_code == 2 and f"Cannot listen on port {port}" in result.output


def test_kuramoto_view_is_the_apis_integration_and_locks_above_kc():
    from engram.synchrony import kuramoto as km

    below = views.kuramoto(n=400, coupling=0.5, width=0.5, duration=40, seed=1)
    above = views.kuramoto(n=400, coupling=2.0, width=0.5, duration=40, seed=1)
    assert below["kc"] == pytest.approx(1.0)  # K_c = 2 gamma
    assert above["r_theory"] == pytest.approx(np.sqrt(0.5))
    assert np.mean(below["r"][-20:]) < 0.25 < 0.6 < np.mean(above["r"][-20:])
    assert len(above["frames"]) == views.FRAMES + 1 and len(above["frames"][0]) == 120
    # the pieces the page animates are one integration: the same as a single simulate call
    omega = km.natural_frequencies(400, "lorentzian", 0.5, quantiles=True)
    start = np.random.default_rng(1).uniform(-np.pi, np.pi, 400)
    whole = km.simulate(omega, 2.0, 40.0, 0.05, initial_phases=start, dtype=np.float64)
    assert np.allclose(above["r"], whole.r[0], atol=1e-5)
    assert np.allclose(above["frames"][-1], whole.phases[0, :120], atol=1e-4)


def test_kuramoto_sweep_follows_the_theory_away_from_kc():
    sweep = views.kuramoto_sweep(n=2000, width=0.5, n_couplings=6, duration=60, seed=0)
    ratios = np.array(sweep["couplings"]) / sweep["kc"]
    far = ratios >= 1.5
    assert np.max(np.abs(np.array(sweep["r"]) - sweep["theory"])[far]) < 3 / np.sqrt(2000)


def test_kuramoto_endpoint_refuses_bad_settings(server):
    status, payload = _post(server, "/api/kuramoto", {"n": 10**6})
    assert status == 400 and "n must be between 10 and 5,000" in payload["error"]
    status, payload = _post(server, "/api/kuramoto", {"n": 50, "coupling": 1.0, "duration": 5})
    assert status == 200 and len(payload["r"]) > 1
