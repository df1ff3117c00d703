"""Shared fixtures: a tiny experiment registered for one test and removed afterwards."""

from __future__ import annotations

import numpy as np
import pytest

import engram.experiments
from engram.experiments import Experiment, Figure, Result, Table, experiments, register

TINY = "tiny-test-experiment"


def _run_tiny(config: dict) -> Result:
    losses = np.exp(-config["learning_rate"] * np.arange(1, config["epochs"] + 1))
    return Result(
        metrics={
            "final_loss": float(losses[-1]),
            "epochs_run": config["epochs"],
            "nested": {"half": np.float32(0.5)},
            "curve": losses.tolist(),
        },
        figures=[
            Figure(
                "loss",
                "Training loss",
                "lines",
                {"series": {"train": {"y": losses}}},
                caption="Loss per epoch.",
            )
        ],
        tables=[Table("Summary", ["quantity", "value"], [["final loss", float(losses[-1])]])],
        text="The loss **falls**.\n\n- one bullet with `code`",
        arrays={"losses": losses},
    )


@pytest.fixture
def register_experiment(monkeypatch):
    """Register experiments for one test; they are removed from the registry afterwards."""
    monkeypatch.setattr(engram.experiments, "_loaded", True)  # don't import the real ones
    added: list[str] = []

    def add(experiment: Experiment) -> Experiment:
        register(experiment)
        added.append(experiment.name)
        return experiment

    yield add
    for name in added:
        experiments.unregister(name)


@pytest.fixture
def tiny_experiment(register_experiment) -> Experiment:
    """A registered experiment that runs in milliseconds, with settings of every type."""
    defaults = {
        "seed": 0,
        "epochs": 4,
        "learning_rate": 0.5,
        "use_bias": True,
        "label": "x",
        "sizes": (4, 8),
        "anything": None,
    }
    return register_experiment(
        Experiment(
            TINY, "A tiny test experiment.", "Nobody (2024).", defaults, {"epochs": 2}, _run_tiny
        )
    )
