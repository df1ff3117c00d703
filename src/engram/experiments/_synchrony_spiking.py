"""The spiking sections of the `synchrony` experiment: Brunel's regimes, PING, and
communication through coherence. Each section computes, then declares its figures and its
sentences from the values it measured."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.experiments.base import Figure, Table
from engram.spiking.measures import spectral_peak
from engram.spiking.networks import BrunelParams, brunel_network, ping_network, regime_statistics
from engram.synchrony.coherence import communication_through_coherence

# Brunel (2000), fig. 8: (label, g, nu_ext / nu_thr)
BRUNEL_POINTS = (("SR", 3.0, 2.0), ("AI", 5.0, 2.0), ("SI fast", 6.0, 4.0), ("SI slow", 4.5, 0.9))
# Thresholds that name a regime (shown with the diagram): synchronous when the population rate's
# excess fluctuation reaches 1/sqrt(2), the value of a sinusoidal modulation of 100% depth (the
# rate touches zero every cycle); regular when ISIs vary by less than a quarter of their mean;
# fast when the population rhythm is above 80 Hz (Brunel's fast ~180 Hz, slow ~20 Hz).
SYNC_THRESHOLD, CV_THRESHOLD, FAST_HZ = 1 / np.sqrt(2), 0.25, 80.0


def _stats(run, transient: float):
    return regime_statistics(
        run, transient, sync=SYNC_THRESHOLD, cv_irregular=CV_THRESHOLD, fast_hz=FAST_HZ
    )


def brunel(config: dict[str, Any]) -> dict[str, Any]:
    """The four points of Brunel's fig. 8 (rasters) and the (g, nu_ext) grid (phase diagram)."""
    n, ms, transient = config["brunel_n"], config["brunel_ms"], config["brunel_transient_ms"]
    points = []
    for i, (label, g, eta) in enumerate(BRUNEL_POINTS):
        run = brunel_network(BrunelParams(n=n, g=g, nu_ext_ratio=eta), ms, seed=config["seed"] + i)
        points.append(
            {"label": label, "g": g, "eta": eta, "run": run, "stats": _stats(run, transient)}
        )
    grid = []
    for i, g in enumerate(config["brunel_grid_g"]):
        for j, eta in enumerate(config["brunel_grid_eta"]):
            params = BrunelParams(n=config["brunel_grid_n"], g=g, nu_ext_ratio=eta)
            run = brunel_network(params, config["brunel_grid_ms"], seed=config["seed"] + 10 * i + j)
            grid.append({"g": g, "eta": eta, "stats": _stats(run, transient), "wall": run.wall_s})
    return {"points": points, "grid": grid, "n": n, "ms": ms}


def brunel_metrics(b: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for p in b["points"]:
        s = p["stats"]
        out[p["label"].replace(" ", "_")] = {
            "g": p["g"], "nu_ext_ratio": p["eta"], "rate_hz": s.rate, "cv_isi": s.cv,
            "synchrony": s.synchrony, "chi": s.chi, "rhythm_hz": s.frequency,
            "measured_regime": s.regime, "wall_s": p["run"].wall_s,
        }  # fmt: skip
    out["matches"] = int(sum(p["stats"].regime == p["label"] for p in b["points"]))
    ai = next(p for p in b["points"] if p["label"] == "AI")["run"]
    out["n"] = b["n"]
    out["c_exc"] = BrunelParams(n=b["n"]).c_exc
    out["seconds_per_model_second_ai"] = ai.wall_s / (ai.duration / 1000)
    return out


def _raster(run, ms_window: float, n_show: int = 100) -> dict[str, Any]:
    ids = np.r_[np.linspace(0, run.n_exc - 1, n_show * 4 // 5).astype(int),
                np.linspace(run.n_exc, run.n - 1, n_show // 5).astype(int)]  # fmt: skip
    rank = {int(k): r for r, k in enumerate(ids)}
    keep = (run.spike_times >= run.duration - ms_window) & np.isin(run.spike_neurons, ids)
    t, who = run.spike_times[keep], run.spike_neurons[keep]
    y = np.array([rank[int(k)] for k in who])
    exc = who < run.n_exc
    return {
        "E": {"x": t[exc], "y": y[exc], "s": 3},
        "I": {"x": t[~exc], "y": y[~exc], "s": 3},
    }


def brunel_figures(b: dict[str, Any], config: dict[str, Any]) -> list[Figure]:
    panels, rates = [], {}
    for p in b["points"]:
        s, run = p["stats"], p["run"]
        panels.append({
            "title": f"{p['label']} (g={p['g']:g}, nu_ext={p['eta']:g} nu_thr): measured "
                     f"{s.regime}",
            "points": _raster(run, 200.0),
        })  # fmt: skip
        r = run.population_rate(0.5)
        t = np.arange(r.size) * 0.5
        sel = t >= run.duration - 200.0
        rates[f"{p['label']}"] = {"x": t[sel], "y": r[sel]}
    grid = b["grid"]
    labels = sorted({c["stats"].regime for c in grid})
    diagram = {
        lab: {"x": [c["g"] for c in grid if c["stats"].regime == lab],
              "y": [c["eta"] for c in grid if c["stats"].regime == lab], "s": 160}
        for lab in labels
    }  # fmt: skip
    gs, etas = list(config["brunel_grid_g"]), list(config["brunel_grid_eta"])

    def matrix(attr: str) -> np.ndarray:
        m = np.zeros((len(etas), len(gs)))
        for c in grid:
            m[etas.index(c["eta"]), gs.index(c["g"])] = getattr(c["stats"], attr)
        return m[::-1]

    heat = {"xticklabels": [f"{g:g}" for g in gs], "yticklabels": [f"{e:g}" for e in etas[::-1]],
            "xlabel": "g (relative inhibition)", "ylabel": "nu_ext / nu_thr"}  # fmt: skip
    return [
        Figure(
            "brunel_rasters",
            f"Brunel's four regimes, N = {b['n']} (last 200 ms; 80 E and 20 I neurons)",
            "scatter",
            {"panels": panels, "xlabel": "time (ms)", "ylabel": "neuron", "ncols": 2},
            "Titles give Brunel's label for the point and the regime this run measured.",
        ),
        Figure(
            "brunel_population_rate",
            "Population rate in the four regimes (0.5 ms bins, last 200 ms)",
            "lines",
            {
                "panels": [{"title": k, "series": {k: v}} for k, v in rates.items()],
                "xlabel": "time (ms)",
                "ylabel": "rate (Hz)",
                "ncols": 2,
            },  # fmt: skip
        ),
        Figure(
            "brunel_phase_diagram",
            f"Measured regimes over (g, nu_ext), N = {config['brunel_grid_n']}",
            "scatter",
            {
                "points": diagram,
                "xlabel": "g (relative inhibition)",
                "ylabel": "nu_ext / nu_thr",
                "vlines": {"g = 4 (balance)": 4.0},
            },  # fmt: skip
            "; ".join(
                f"{lab}: "
                + ", ".join(f"({x:g}, {y:g})" for x, y in zip(d["x"], d["y"], strict=True))
                for lab, d in diagram.items()
            )
            + f". Synchronous: population-rate excess fluctuation >= {SYNC_THRESHOLD:.3f}; "
            f"irregular: mean CV of ISIs >= {CV_THRESHOLD:g}; fast: rhythm >= {FAST_HZ:g} Hz.",
        ),
        Figure(
            "brunel_measures",
            "What the regimes are named from",
            "heatmap",
            {
                "panels": [
                    {"title": "population synchrony", "matrix": matrix("synchrony"), **heat},
                    {"title": "mean CV of ISIs", "matrix": matrix("cv"), **heat},
                    {"title": "rate (Hz)", "matrix": matrix("rate"), **heat, "fmt": ".0f"},
                ]
            },  # fmt: skip
        ),
    ]


def brunel_table(b: dict[str, Any]) -> Table:
    rows = [
        [p["label"], f"{p['g']:g}", f"{p['eta']:g}", f"{p['stats'].rate:.1f}",
         f"{p['stats'].cv:.2f}", f"{p['stats'].synchrony:.2f}", f"{p['stats'].chi:.2f}",
         f"{p['stats'].frequency:.0f}", p["stats"].regime]
        for p in b["points"]
    ]  # fmt: skip
    return Table(
        f"Brunel (2000) fig. 8 points, N = {b['n']}, {b['ms']:g} ms",
        ["Brunel", "g", "nu_ext/nu_thr", "rate Hz", "CV ISI", "synchrony", "chi", "rhythm Hz",
         "measured"],
        rows,
    )  # fmt: skip


def brunel_text(m: dict[str, Any], b: dict[str, Any]) -> str:
    found = [
        f"{p['label']} measured as {p['stats'].regime}"
        for p in b["points"]
        if p["stats"].regime != p["label"]
    ]
    agree = (
        "All four of Brunel's fig. 8 points are named as he names them."
        if not found
        else f"{m['matches']} of 4 of Brunel's fig. 8 points are named as he names them; "
        + "; ".join(found)
        + " (the points lie near regime borders, which finite N moves)."
    )
    return (
        f"**Brunel's regimes.** N = {b['n']} LIF neurons (80% E, eps = 0.1), {b['ms']:g} ms each. "
        f"{agree} The asynchronous irregular point took {m['seconds_per_model_second_ai']:.1f} s "
        "of wall-clock time per second of model time on this machine (shared: timings vary)."
    )


def ping(config: dict[str, Any]) -> dict[str, Any]:
    taus = np.asarray(config["ping_tau_inh"], np.float64)
    freqs, runs = [], []
    for i, tau in enumerate(taus):
        run = ping_network(float(tau), config["ping_ms"], seed=config["seed"] + i)
        rate = run.population_rate(0.5, "exc")[int(100 / 0.5) :]
        freqs.append(spectral_peak(rate, 0.5))
        runs.append(run)
    freqs = np.array(freqs)
    slope, intercept = np.polyfit(taus, 1000.0 / freqs, 1)
    return {"taus": taus, "freqs": freqs, "runs": runs, "slope": slope, "intercept": intercept}


def ping_metrics(p: dict[str, Any]) -> dict[str, Any]:
    falls = bool(np.all(np.diff(p["freqs"]) < 0))
    return {
        "tau_inh_ms": p["taus"].tolist(), "frequency_hz": p["freqs"].tolist(),
        "period_slope_ms_per_ms": float(p["slope"]), "frequency_falls_with_tau": falls,
    }  # fmt: skip


def ping_figures(p: dict[str, Any]) -> list[Figure]:
    mid = len(p["runs"]) // 2
    run = p["runs"][mid]
    return [
        Figure(
            "ping_frequency",
            "PING: the rhythm's period grows with the inhibitory decay",
            "lines",
            {
                "panels": [
                    {
                        "title": "frequency",
                        "series": {"measured": {"x": p["taus"], "y": p["freqs"], "style": "o-"}},
                        "ylabel": "population rhythm (Hz)",
                    },
                    {
                        "title": "period",
                        "series": {
                            "measured": {"x": p["taus"], "y": 1000.0 / p["freqs"], "style": "o"},
                            "linear fit": {
                                "x": p["taus"],
                                "y": p["slope"] * p["taus"] + p["intercept"],
                                "style": "--",
                            },
                        },
                        "ylabel": "period (ms)",
                    },
                ],
                "xlabel": "inhibitory decay tau_syn_inh (ms)",
            },  # fmt: skip
        ),
        Figure(
            "ping_raster",
            f"PING raster, tau_syn_inh = {p['taus'][mid]:g} ms (last 150 ms)",
            "scatter",
            {"points": _raster(run, 150.0), "xlabel": "time (ms)", "ylabel": "neuron"},
            "E cells fire in volleys; each volley fires the I cells, whose inhibition sets the "
            "gap.",
        ),
    ]


def ping_text(m: dict[str, Any]) -> str:
    f = m["frequency_hz"]
    trend = (
        "falls at every step" if m["frequency_falls_with_tau"] else "does not fall at every step"
    )
    return (
        f"**PING gamma.** As the inhibitory decay goes from {m['tau_inh_ms'][0]:g} to "
        f"{m['tau_inh_ms'][-1]:g} ms the E population's rhythm goes from {f[0]:.1f} to "
        f"{f[-1]:.1f} Hz and {trend}; the period grows by {m['period_slope_ms_per_ms']:.2f} ms "
        "per ms of decay (least-squares line)."
    )


def ctc(config: dict[str, Any]) -> dict[str, Any]:
    res = communication_through_coherence(
        config["ctc_offsets"], config["ctc_ms"], n_receivers=config["ctc_receivers"],
        seed=config["seed"],
    )  # fmt: skip
    return {"res": res}


def ctc_metrics(c: dict[str, Any]) -> dict[str, Any]:
    r = c["res"]
    best, worst = int(np.argmax(r.transfer_a)), int(np.argmin(r.transfer_a))
    return {
        "offsets_deg": np.degrees(r.offsets).round(1).tolist(),
        "transfer_a": r.transfer_a.tolist(), "transfer_b": r.transfer_b.tolist(),
        "best_offset_deg": float(np.degrees(r.offsets[best])),
        "transfer_a_best": float(r.transfer_a[best]),
        "transfer_a_worst": float(r.transfer_a[worst]),
        "transfer_b_at_a_best": float(r.transfer_b[best]),
    }  # fmt: skip


def ctc_figures(c: dict[str, Any]) -> list[Figure]:
    r = c["res"]
    deg = np.degrees(r.offsets)
    return [
        Figure(
            "ctc_transfer",
            "Communication through coherence: transfer against phase",
            "lines",
            {
                "series": {
                    "sender A (phase = offset)": {"x": deg, "y": r.transfer_a, "style": "o-"},
                    "sender B (phase = offset + 180)": {"x": deg, "y": r.transfer_b, "style": "s-"},
                },
                "xlabel": "sender A's phase relative to the receiver's excitability (deg)",
                "ylabel": "corr(receiver rate, sender's signal)",
            },  # fmt: skip
            "Both senders fire at 40 Hz, in anti-phase; the receiver's excitability oscillates at "
            "40 Hz. Correlations in bins of one cycle (25 ms).",
        )
    ]


def ctc_text(m: dict[str, Any]) -> str:
    gated = m["transfer_a_best"] > 2 * max(m["transfer_a_worst"], 1e-9)
    how = "more than doubles" if gated else "changes by less than a factor of two"
    return (
        f"**Communication through coherence.** Sender A's signal reaches the receiver best at "
        f"a phase offset of {m['best_offset_deg']:.0f} deg (correlation "
        f"{m['transfer_a_best']:.2f}; sender B, in anti-phase, {m['transfer_b_at_a_best']:.2f} "
        f"there) and worst at {m['transfer_a_worst']:.2f}: transfer {how} with the phase "
        "relation alone, with rates, synapses and signals unchanged."
    )
