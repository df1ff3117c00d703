"""Digests of a fixed-seed motor training run, to show a refactoring changes no number.

Trains the motor experiments' network (`RateRNN` + `Dense`, Adam with global_clipnorm=1.0,
rate and weight L2 penalties) for 25 steps on the flip-flop and the reach task, seed 0, and
prints a SHA-256 of the final weights and, for every log, its first and last value and a
SHA-256 of all 25 steps. Run it on two trees and diff the outputs:

    PYTHONPATH=old/src python bench/motor_training_digest.py > before.txt
    PYTHONPATH=src python bench/motor_training_digest.py > after.txt
    diff before.txt after.txt
"""

from __future__ import annotations

import hashlib

import numpy as np

from engram.experiments._rate_network import train_rate_network
from engram.motor import FlipFlopTask, ReachTask

CONFIG = {
    "units": 32,
    "dt": 10.0,
    "tau": 50.0,
    "noise_std": 0.05,
    "recurrent_gain": 1.2,
    "seed": 0,
    "learning_rate": 1e-2,
    "batch_size": 16,
    "train_steps": 25,
    "verbose": 0,
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def main() -> None:
    for name, task in (
        ("flipflop", FlipFlopTask(n_steps=50, seed=0)),
        ("reach", ReachTask(seed=0)),
    ):
        model, history = train_rate_network(CONFIG, task, desc=name, rate_l2=1e-3, weight_l2=1e-5)
        print(name, "weights sha256", sha(b"".join(w.tobytes() for w in model.get_weights())))
        for key in ("loss", "task_loss", "rate_penalty", "weight_penalty"):
            v = np.asarray(history[key])
            print(f"  {key}: first {v[0]!r} last {v[-1]!r} all-steps sha256 {sha(v.tobytes())}")


if __name__ == "__main__":
    main()
