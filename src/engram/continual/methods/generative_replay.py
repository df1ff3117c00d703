"""Generative replay with distillation: a generator (a VAE) learns the inputs of every context
so far; while the next context is learned, it makes up inputs like the old ones, which the
network's copy from the end of the previous context labels with its softened outputs (as in
LwF), and the network learns those beside the new data. The generator itself is trained the
same way, on the new data and on its old copy's samples. No old data is kept.

Math (context k > 0, weights as in every replay method of this package):
    L_net = (1/(k+1)) L_current(x) + (k/(k+1)) T^2 CE(softmax(z_old(x~)/T), softmax(z(x~)/T))
    L_gen = (1/(k+1)) L_VAE(x) + (k/(k+1)) L_VAE(x~),   x~ = sampled from the generator's copy
    T = 2.

Reference:
    Shin, Lee, Kim & Kim (2017), "Continual Learning with Deep Generative Replay", NeurIPS;
    van de Ven & Tolias (2019) ("DGR+distill", their Tables 4-5); van de Ven, Siegelmann &
    Tolias (2020), Nature Communications 11.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.continual.generator import VAE
from engram.continual.learner import Term
from engram.continual.methods.base import Method, replay_weights
from engram.continual.methods.lwf import distillation_term
from engram.validation import check_positive


class GenerativeReplay(Method):
    name = "generative-replay"

    def __init__(
        self,
        generator_hidden: tuple[int, ...] = (400, 400),
        latent: int = 100,
        temperature: float = 2.0,
    ):
        self.generator_hidden = tuple(
            int(check_positive(h, "generator_hidden", integer=True)) for h in generator_hidden
        )
        self.latent = int(check_positive(latent, "latent", integer=True))
        self.temperature = float(check_positive(temperature, "temperature"))
        self.teacher = None
        self.previous: VAE | None = None

    def begin(self, learner):
        self.generator = VAE(
            learner.stream.n_features,
            self.generator_hidden,
            self.latent,
            learner.learning_rate,
            seed=int(learner.rng.integers(2**31)),
        )

    def terms(self, learner, k, x, targets):
        if k == 0 or self.previous is None:
            self.generator.train_step(x, with_loss=False)
            return [Term(x, targets)]
        w_now, w_old = replay_weights(k)
        made_up = self.previous.sample(len(x))
        weights = np.concatenate([np.full(len(x), w_now), np.full(len(x), w_old)]) / len(x)
        self.generator.train_step(np.concatenate([x, made_up]), weights, with_loss=False)
        old = distillation_term(learner, self.teacher, made_up, k, w_old, self.temperature)
        return [Term(x, targets, w_now), old]

    def end_context(self, learner, k):
        self.teacher = learner.snapshot()
        self.previous = self.generator.copy()

    def info(self) -> dict[str, Any]:
        return {
            "generator_hidden": list(self.generator_hidden),
            "latent": self.latent,
            "temperature": self.temperature,
        }
