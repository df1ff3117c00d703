"""The synchrony and spiking-classifier reports' sentences follow the measured values."""

from engram.experiments import _synchrony_spiking as sp
from engram.experiments import spiking_classifier as sc
from engram.experiments import synchrony as sy


def _kuramoto_metrics(err):
    return {"n": 10_000, "kc_theory": 1.0, "kc_measured": 1.01, "r_at_2kc": 0.70,
            "r_at_2kc_theory": 0.7071, "max_abs_error_above_1.25kc": err, "max_r_below_kc": 0.02,
            "gaussian_kc_theory": 0.8, "gaussian_max_abs_error_above_1.25kc": 0.01}  # fmt: skip


def test_kuramoto_sentence_flips_with_the_error():
    config = {"kuramoto_width": 0.5}
    assert "inside the 3/sqrt(N)" in sy._kuramoto_text(_kuramoto_metrics(0.01), config)
    assert "more than the 3/sqrt(N)" in sy._kuramoto_text(_kuramoto_metrics(0.2), config)


def test_ctc_sentence_flips_with_the_gating():
    m = {"best_offset_deg": 0.0, "transfer_a_best": 0.6, "transfer_b_at_a_best": 0.2}
    assert "more than doubles" in sp.ctc_text({**m, "transfer_a_worst": 0.2})
    assert "less than a factor of two" in sp.ctc_text({**m, "transfer_a_worst": 0.5})


def test_ping_sentence_flips_with_the_trend():
    m = {"tau_inh_ms": [5, 10], "frequency_hz": [60.0, 40.0], "period_slope_ms_per_ms": 1.5}
    assert "falls at every step" in sp.ping_text({**m, "frequency_falls_with_tau": True})
    assert "does not fall" in sp.ping_text({**m, "frequency_falls_with_tau": False})


def test_classifier_compares_with_spytorch_only_on_its_setting():
    m = {
        "dataset": "fashion-mnist",
        "n_inputs": 784,
        "train_samples": 60000,
        "epochs": 30,
        "test_accuracy": 0.85,
        "train_accuracy": 0.9,
        "epoch_time_s": 60.0,
        "hidden_spikes_per_inference": 300.0,
        "hidden_spikes_per_neuron_per_inference": 3.0,
    }
    config = {"hidden": 100, "steps": 100, "learning_rate": 2e-4}  # fmt: skip
    assert "-0.013 from it" in sc._explain(m, config)
    assert "not comparable" in sc._explain({**m, "dataset": "digits"}, config)
    assert "not comparable" in sc._explain({**m, "epochs": 5}, config)
