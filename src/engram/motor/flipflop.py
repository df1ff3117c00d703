"""The 3-bit flip-flop task of Sussillo & Barak 2013 (any number of bits)."""

from __future__ import annotations

import numpy as np

from engram.validation import Seed, as_rng, check_fraction, check_positive

__all__ = ["FlipFlopTask"]


class FlipFlopTask:
    """Remember the sign of the last pulse on each of ``n_bits`` input channels.

    Math:
        inputs:  u_k(t) in {-1, 0, +1}; at each step each channel pulses with probability
                 pulse_prob, with a random sign; plus N(0, input_noise^2)
        targets: y_k(t) = sign of the last pulse on channel k at or before t
        mask:    0 on channel k before its first pulse (nothing to remember yet), 1 after

    A network solving it holds 2^n_bits memories; Sussillo & Barak found one stable fixed point
    per memory (8 for 3 bits) and saddle points between them.

    Args:
        n_bits: number of independent channels (3 in the paper).
        n_steps: trial length in steps.
        pulse_prob: probability of a pulse per channel per step, in [0, 1).
        input_noise: standard deviation of Gaussian noise added to the inputs.
        seed: seed of the task's own generator, used when `sample` gets no ``rng``.

    Example:
        >>> batch = FlipFlopTask(n_bits=3, n_steps=100, seed=0).sample(16)
        >>> batch["inputs"].shape, batch["targets"].shape
        ((16, 100, 3), (16, 100, 3))

    Reference:
        Sussillo & Barak 2013, Neural Computation 25:626, "Opening the black box".
    """

    def __init__(
        self,
        n_bits: int = 3,
        n_steps: int = 100,
        pulse_prob: float = 0.05,
        input_noise: float = 0.0,
        seed: Seed = None,
    ) -> None:
        self.n_bits = int(check_positive(n_bits, "n_bits", integer=True))
        self.n_steps = int(check_positive(n_steps, "n_steps", integer=True))
        self.pulse_prob = check_fraction(pulse_prob, "pulse_prob")
        self.input_noise = float(check_positive(input_noise, "input_noise", strict=False))
        self._rng = as_rng(seed)

    @property
    def n_inputs(self) -> int:
        return self.n_bits

    @property
    def n_outputs(self) -> int:
        return self.n_bits

    def sample(self, batch_size: int, rng: Seed = None) -> dict[str, np.ndarray]:
        """Draw a batch of trials.

        Args:
            batch_size: number of trials.
            rng: seed or Generator; the task's own generator when None.

        Returns:
            ``inputs``, ``targets`` and ``mask``, each (batch, n_steps, n_bits) float32.
        """
        batch_size = int(check_positive(batch_size, "batch_size", integer=True))
        gen = self._rng if rng is None else as_rng(rng)
        shape = (batch_size, self.n_steps, self.n_bits)
        pulses = (gen.random(shape) < self.pulse_prob) * gen.choice([-1.0, 1.0], size=shape)
        # index of the last pulse at or before each step (-1: none yet), carried forward
        idx = np.where(pulses != 0, np.arange(self.n_steps)[None, :, None], -1)
        last = np.maximum.accumulate(idx, axis=1)
        held = np.take_along_axis(pulses, np.maximum(last, 0), axis=1)
        mask = last >= 0
        inputs = pulses
        if self.input_noise > 0:
            inputs = inputs + gen.normal(0.0, self.input_noise, size=shape)
        return {
            "inputs": inputs.astype(np.float32),
            "targets": (held * mask).astype(np.float32),
            "mask": mask.astype(np.float32),
        }

    def get_config(self) -> dict:
        """The constructor arguments (the seed excepted)."""
        return {
            "n_bits": self.n_bits,
            "n_steps": self.n_steps,
            "pulse_prob": self.pulse_prob,
            "input_noise": self.input_noise,
        }
