"""Generative replay with distillation: a generator (a VAE) learns the inputs of every context
so far; while the next context is learned, it makes up inputs like the old ones, which the
network's copy from the end of the previous context labels with its softened outputs (as in
LwF), and the network learns those beside the new data. The generator itself is trained the
same way, on the new data and on its old copy's samples. No old data is kept.

Math (context k > 0, weights as in every replay method of this package):
    L_net = (1/(k+1)) L_current(x) + (k/(k+1)) T^2 CE(softmax(z_old(x~)/T), softmax(z(x~)/T))
    L_gen = (1/(k+1)) L_VAE(x) + (k/(k+1)) L_VAE(x~),   x~ = sampled from the generator's copy
    T = 2.
The generator takes one step per step of the network (as many batches as the classifier, the
default of van de Ven & Tolias's code, ``--g-iters``). It sees only inputs, never a label or
an output unit, so runs of the three scenarios side by side share it (`Generation`).

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

    def begin(self, learner):
        self.generator_seed = int(learner.rng.integers(2**31))
        self.generator = VAE(
            learner.stream.n_features,
            self.generator_hidden,
            self.latent,
            learner.learning_rate,
            seed=self.generator_seed,
        )
        self.generation = Generation(self.generator)

    def share(self, first: GenerativeReplay) -> None:
        """Use ``first``'s generator (the same method in another scenario, same seed and
        settings): its steps are then trained once for both (see `Generation`)."""
        mine = (self.generator_seed, self.generator_hidden, self.latent, self.generator.n_inputs)
        theirs = (first.generator_seed, first.generator_hidden, first.latent,
                  first.generator.n_inputs)  # fmt: skip
        if mine != theirs:
            raise ValueError(
                "Generative replay can share a generator only between runs with the same seed "
                f"and generator settings: (seed, hidden, latent, inputs) {mine} != {theirs}."
            )
        self.generator, self.generation = first.generator, first.generation

    def terms(self, learner, k, x, targets):
        made_up = self.generation.step(self, k, x)
        if made_up is None:
            return [Term(x, targets)]
        w_now, w_old = replay_weights(k)
        old = distillation_term(learner, self.teacher, made_up, k, w_old, self.temperature)
        return [Term(x, targets, w_now), old]

    def end_context(self, learner, k):
        self.teacher = learner.snapshot()
        self.generation.end_context(k)

    def info(self) -> dict[str, Any]:
        return {
            "generator_hidden": list(self.generator_hidden),
            "latent": self.latent,
            "temperature": self.temperature,
        }


class Generation:
    """The generator's part of every step: made-up inputs from the previous context's copy, and
    one training step of the generator on the batch and them (weighted as in the module's Math).

    Its work depends only on the batches (the same in every scenario for one seed), so runs in
    several scenarios side by side (`engram.continual.learner.train_streams`) share one
    `Generation`: the first run to reach a step does the work, the others get its made-up
    inputs (a run must feed the same batch, checked).
    """

    def __init__(self, generator: VAE) -> None:
        self.generator = generator
        self.previous: VAE | None = None  # the frozen copy replayed from
        self.done = 0  # steps trained
        self.calls: dict[int, int] = {}  # steps asked for, per run
        self.last: tuple[np.ndarray, np.ndarray | None] | None = None  # (batch, made up)
        self.copied = -1  # the last context whose end made ``previous``

    def step(self, run: Any, k: int, x: np.ndarray) -> np.ndarray | None:
        """The made-up inputs for this step of ``run`` (None in the first context), training
        the generator when ``run`` is the first to reach the step."""
        n = self.calls.get(id(run), 0)
        self.calls[id(run)] = n + 1
        if n == self.done:
            made_up = None
            if k > 0 and self.previous is not None:
                made_up = self.previous.sample(len(x))
                w_now, w_old = replay_weights(k)
                weights = np.concatenate([np.full(len(x), w_now), np.full(len(x), w_old)])
                self.generator.train_step(
                    np.concatenate([x, made_up]), weights / len(x), with_loss=False
                )
            else:
                self.generator.train_step(x, with_loss=False)
            self.done += 1
            self.last = (x, made_up)
        elif self.last is None or n != self.done - 1 or not np.array_equal(x, self.last[0]):
            raise RuntimeError(
                "Runs sharing a generator must ask for the same steps with the same batches, "
                "one step at a time (train_streams does)."
            )
        return self.last[1]

    def end_context(self, k: int) -> None:
        """The generator's frozen copy at the end of context ``k`` (made once per context)."""
        if self.copied < k:
            self.previous = self.generator.copy()
            self.copied = k
