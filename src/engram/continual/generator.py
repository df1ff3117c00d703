"""A variational autoencoder (VAE) that learns to generate a context's inputs, for generative
replay: a small MLP encoder and decoder from `engram.nn`, glued by the reparameterisation, with
the gradient of the VAE's loss written out by hand.

Math (per sample x in [0, 1]^D, latent size L; the loss is the batch mean, or a weighted sum
with weights w_i summing to 1, divided by D; below, 1/B stands for w_i):
    encoder:  (mu, log s2) = enc(x)           s = exp(log s2 / 2)
    sample:   z = mu + s * eps,  eps ~ N(0, I)  (the reparameterisation trick)
    decoder:  a = dec(z) (logits),  x_hat = sigmoid(a)
    loss:     sum_d [softplus(a_d) - x_d a_d]                      (binary cross-entropy)
              + (1/2) sum_l [mu_l^2 + s2_l - 1 - log s2_l]         (KL(q(z|x) || N(0, I)))
    backward: dL/da = (x_hat - x) / (B D);  dL/dz = dec.backward(dL/da)
              dL/dmu = dL/dz + mu / (B D)
              dL/dlog s2 = dL/dz * eps * s / 2 + (s2 - 1) / (2 B D)

Every pass runs in the network's dtype (float32 by default, like the classifier; float64 when
the layers are cast, as the gradient test does); the loss's value, when asked for, is summed in
float64.

Reference:
    Kingma & Welling (2014), "Auto-Encoding Variational Bayes", ICLR; van de Ven, Siegelmann &
    Tolias (2020), "Brain-inspired replay for continual learning with artificial neural
    networks", Nature Communications 11 (the generator's role and its settings).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.validation import Seed, as_rng, check_positive


def _mlp(sizes: list[int], n_inputs: int, seed: int):
    from engram.nn import Sequential
    from engram.nn.layers import Dense

    layers = [Dense(sizes[0], activation="relu", input_shape=(n_inputs,))]
    layers += [Dense(h, activation="relu") for h in sizes[1:-1]]
    layers.append(Dense(sizes[-1]))
    return Sequential(layers, seed=seed)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """sigmoid(a) = (1 + tanh(a / 2)) / 2 in ``a``'s dtype: stable for any a, in [0, 1]."""
    out = np.multiply(a, a.dtype.type(0.5))
    np.tanh(out, out=out)
    out += 1
    out *= a.dtype.type(0.5)
    return out


class VAE:
    """A VAE over flat inputs in [0, 1] (see the module's Math).

    Args:
        n_inputs: D, the input size.
        hidden: hidden units of the encoder (the decoder mirrors them).
        latent: L, the latent size.
        learning_rate: Adam's learning rate (one optimizer for encoder and decoder).
        seed: initial weights and the noise eps.
    """

    def __init__(
        self,
        n_inputs: int,
        hidden: tuple[int, ...] = (400,),
        latent: int = 32,
        learning_rate: float = 1e-3,
        seed: Seed = 0,
    ) -> None:
        from engram.nn.optimizers import Adam

        self.n_inputs = int(check_positive(n_inputs, "n_inputs", integer=True))
        self.latent = int(check_positive(latent, "latent", integer=True))
        self.hidden = tuple(int(check_positive(h, "hidden", integer=True)) for h in hidden)
        self.learning_rate = learning_rate
        self.rng = as_rng(seed)
        seeds = self.rng.integers(2**31, size=2)
        self.encoder = _mlp([*self.hidden, 2 * self.latent], self.n_inputs, int(seeds[0]))
        self.decoder = _mlp([*self.hidden[::-1], self.n_inputs], self.latent, int(seeds[1]))
        self.layers = [*self.encoder.layers, *self.decoder.layers]
        self.optimizer = Adam(learning_rate)

    def loss_and_gradients(
        self,
        x: np.ndarray,
        eps: np.ndarray,
        weights: np.ndarray | None = None,
        with_loss: bool = True,
    ) -> float | None:
        """The loss for noise ``eps`` (B, L); fills every layer's ``grads`` (no update).

        ``weights``: one per sample, summing to 1 (default 1/B each): the loss is
        sum_i w_i loss_i / D, so a replayed part of the batch can count as much as the data.
        ``with_loss=False`` skips the loss's value (None; the gradients are the same numbers:
        they do not read it), which saves a pass of logaddexp over the (B, D) logits.
        """
        b, d = x.shape
        out = self.encoder.forward(x, training=True)
        dtype = out.dtype  # the network's own (float32 by default): every pass in it
        w = np.full((b, 1), 1.0 / b) if weights is None else np.asarray(weights, float)[:, None]
        w = w.astype(dtype)
        eps = np.asarray(eps, dtype)
        mu, log_s2 = out[:, : self.latent], out[:, self.latent :]
        s = np.exp(log_s2 * dtype.type(0.5))
        z = s * eps
        z += mu
        a = self.decoder.forward(z, training=True)
        scale = w / dtype.type(d)
        x_hat = _sigmoid(a)
        x_hat -= x
        x_hat *= scale
        grad_z = self.decoder.backward(x_hat)
        grad = np.empty_like(out)
        np.add(grad_z, mu * scale, out=grad[:, : self.latent])
        grad_log_s2 = grad[:, self.latent :]
        np.multiply(grad_z, eps, out=grad_log_s2)
        grad_log_s2 *= s
        grad_log_s2 += (s * s - dtype.type(1.0)) * scale
        grad_log_s2 *= dtype.type(0.5)
        self.encoder.backward(grad)
        if not with_loss:
            return None
        a, mu, log_s2, w = (v.astype(np.float64) for v in (a, mu, log_s2, w))  # sums in float64
        recon = np.sum(w * (np.logaddexp(0.0, a) - x * a))
        kl = 0.5 * np.sum(w * (mu * mu + np.exp(log_s2) - 1.0 - log_s2))
        return float((recon + kl) / d)

    def train_step(
        self, x: np.ndarray, weights: np.ndarray | None = None, with_loss: bool = True
    ) -> float | None:
        """One Adam step on a batch (samples weighted as in `loss_and_gradients`); the loss
        before the step (None with ``with_loss=False``)."""
        eps = self.rng.standard_normal((len(x), self.latent), dtype=np.float32)
        loss = self.loss_and_gradients(np.asarray(x), eps, weights, with_loss)
        self.optimizer.step(self.layers)
        return loss

    def sample(self, n: int) -> np.ndarray:
        """``n`` generated inputs: the decoder's sigmoid output for z ~ N(0, I)."""
        z = self.rng.standard_normal((int(n), self.latent)).astype(np.float32)
        return _sigmoid(self.decoder.forward(z))

    def copy(self) -> VAE:
        """A frozen copy (same weights, its own noise stream) to replay from."""
        twin = VAE(self.n_inputs, self.hidden, self.latent, self.learning_rate,
                   int(self.rng.integers(2**31)))  # fmt: skip
        twin.encoder.set_weights(self.encoder.get_weights())
        twin.decoder.set_weights(self.decoder.get_weights())
        return twin

    def info(self) -> dict[str, Any]:
        return {"generator_hidden": list(self.hidden), "latent": self.latent}
