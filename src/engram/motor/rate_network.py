"""RateRNN: the continuous-time rate network of computational neuroscience, as an engram layer.

A population of N units with state h (the "currents") and firing rates r = f(h) obeys

    tau dh/dt = -h + f(h) W + u B + b + noise

(row vectors, as everywhere in engram: ``h @ recurrent_weights``). The layer integrates it with
Euler steps of ``dt`` and trains with backpropagation through time written out below. A readout
is a `Dense` on its 3-D output, e.g.
``Sequential([RateRNN(64, input_shape=(T, 3)), Dense(4)])``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engram.motor.fixed_points import RecurrentMap
from engram.nn import initializers
from engram.nn.layers.base import Layer, register_layer, shape_str
from engram.nn.layers.recurrent_base import single_blas_thread
from engram.validation import as_rng, check_array, check_choice, check_positive

# A rate network's matrices are small ((batch, units) @ (units, units) a step): its forward and
# backward passes run with one BLAS thread (a training step of 64 trials x 100 steps x 32 units
# took 145 ms with 2 BLAS threads on 2 busy cores, 8 ms with one). `single_blas_thread` is
# exported from here too.
__all__ = ["RATE_ACTIVATIONS", "RateRNN", "rate_activation", "single_blas_thread"]

RATE_ACTIVATIONS = ("tanh", "relu", "softplus")


def rate_activation(name: str, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rate function f and its slope f' at the states ``h``.

    Math:
        tanh:      f(h) = tanh(h)                 f'(h) = 1 - f(h)^2
        relu:      f(h) = max(h, 0)               f'(h) = [h > 0]
        softplus:  f(h) = log(1 + exp(h))         f'(h) = 1 / (1 + exp(-h))   (stable forms)

    Args:
        name: one of `RATE_ACTIVATIONS`.
        h: states, any shape and float dtype.

    Returns:
        ``(f(h), f'(h))``, each shaped and typed like ``h``.
    """
    check_choice(name, "activation", RATE_ACTIVATIONS)
    if name == "tanh":
        r = np.tanh(h)
        return r, 1 - r * r
    if name == "relu":
        return np.maximum(h, 0), (h > 0).astype(h.dtype)
    r = np.logaddexp(0, h).astype(h.dtype, copy=False)  # softplus
    return r, (0.5 * (1 + np.tanh(0.5 * h))).astype(h.dtype, copy=False)


@register_layer
class RateRNN(Layer):
    """Continuous-time rate network (leaky firing-rate units), Euler-discretized.

    Math:
        continuous time:  tau dh/dt = -h + f(h) @ recurrent_weights + u @ weights + bias + noise
        discretized with a = dt / tau (Song, Yang & Wang 2016), h_0 = 0, for t = 1..T:
            h_t = (1 - a) h_{t-1} + a (r_{t-1} @ W + x_t @ B + b) + sqrt(2 a) noise_std xi_t
            r_t = f(h_t)                                            output y_t = r_t
        with W = recurrent_weights (units, units), B = weights (inputs, units), b = bias,
        xi_t ~ N(0, I) drawn in training only (a leaky unit without input then fluctuates
        with variance noise_std^2 / (1 - a / 2), i.e. noise_std for small a). a = 1 gives the
        discrete network
        h_t = f(h_{t-1}) @ W + x_t @ B + b.
        backward through time, with G_t = dL/dr_t from above and c_t = dL/dh_t (c_{T+1} = 0):
            c_t = f'(h_t) * (G_t + a c_{t+1} @ W.T) + (1 - a) c_{t+1}        for t = T..1
        and, once over all steps:
            grad_recurrent_weights = a sum_t r_{t-1}.T @ c_t
            grad_weights           = a sum_t x_t.T @ c_t
            grad_bias              = a sum_t sum_batch c_t
            grad_x_t               = a c_t @ B.T
        Fixed points of the noiseless network under a constant input are those of the ODE for
        any dt; `recurrent_map` gives the map and its Jacobian for `find_fixed_points`.

    Args:
        units: number of units N.
        activation: the rate function f: ``"tanh"`` (default), ``"relu"`` or ``"softplus"``.
        dt: Euler step, in the same unit as tau (ms).
        tau: time constant; dt / tau must lie in (0, 1].
        noise_std: sigma_rec, the private noise of each unit during training (0: none).
        use_bias: whether to learn the bias b.
        kernel_initializer: initializer of the input weights B (inputs, units).
        recurrent_gain: g; recurrent weights start as N(0, g^2 / units) (g > 1: chaotic at
            start, g < 1: decaying; 0: zeros).
        bias_initializer: initializer of b.
        return_sequences: the rates at every step (batch, time, units) (default) or only the
            last (batch, units).
        seed: seed of the training noise; the model's generator when None.

    Weights: ``weights`` (inputs, units), ``recurrent_weights`` (units, units), ``bias``
    (units,): the names and layouts of `SimpleRNN`.

    Raises:
        ValueError: dt / tau outside (0, 1], an unknown activation, or inputs not (batch, time,
            features).

    Example:
        >>> rnn = RateRNN(16, dt=10.0, tau=50.0)
        >>> rnn(np.zeros((4, 30, 3), dtype="float32")).shape
        (4, 30, 16)

    Reference:
        Sussillo, Churchland, Kaufman & Shenoy 2015, Nat. Neurosci. 18:1025; Song, Yang & Wang
        2016, PLoS Comput. Biol. 12:e1004792 (discretization and noise).
    """

    weight_names = ("weights", "recurrent_weights", "bias")

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        dt: float = 10.0,
        tau: float = 50.0,
        noise_std: float = 0.0,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_gain: float = 1.0,
        bias_initializer: Any = "zeros",
        return_sequences: bool = True,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = int(check_positive(units, "units", integer=True))
        self.activation = check_choice(activation, "activation", RATE_ACTIVATIONS)
        self.dt = float(check_positive(dt, "dt"))
        self.tau = float(check_positive(tau, "tau"))
        if self.dt > self.tau:
            raise ValueError(
                f"dt / tau must be <= 1 for a stable Euler step. Got dt = {dt!r} and tau = "
                f"{tau!r} (dt / tau = {self.dt / self.tau:g}) instead. Use dt <= tau."
            )
        self.noise_std = float(check_positive(noise_std, "noise_std", strict=False))
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_gain = float(check_positive(recurrent_gain, "recurrent_gain", strict=False))
        self.bias_initializer = initializers.get(bias_initializer)
        self.return_sequences = bool(return_sequences)
        self.seed = seed
        self.rng = as_rng(seed) if seed is not None else None

    @property
    def alpha(self) -> float:
        """a = dt / tau, the fraction of the way to the new drive per step."""
        return self.dt / self.tau

    # ---------------------------------------------------------------- building
    def build(self, input_shape, rng):
        if len(input_shape) != 2:
            raise ValueError(
                f"RateRNN expects inputs of shape (batch, time, features). Got one sample of "
                f"shape {shape_str(tuple(input_shape))}. Add a time axis: x[:, None, :]."
            )
        n_in, u = input_shape[-1], self.units
        self.params["weights"] = self.kernel_initializer((n_in, u), rng, self.dtype)
        scale = self.recurrent_gain / math.sqrt(u)
        if (
            initializers.placeholders_active()
        ):  # a model file's shapes are checked before anything is drawn
            self.params["recurrent_weights"] = np.zeros((u, u), self.dtype)
        else:
            recurrent = scale * rng.standard_normal((u, u))
            self.params["recurrent_weights"] = recurrent.astype(self.dtype)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((u,), rng, self.dtype)
        if self.rng is None:
            self.rng = rng
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (*input_shape[:-1], self.units)
        return (self.units,)

    def check_input(self, shape):
        """Inputs must be (batch, time, features) with the built features; any time length."""
        if len(shape) != 3:
            raise ValueError(
                f"RateRNN layer {self.name!r} expects inputs of shape (batch, time, features). "
                f"Got shape {shape_str(tuple(shape))} instead."
            )
        if self.input_shape is not None and shape[-1] != self.input_shape[-1]:
            raise ValueError(
                f"RateRNN layer {self.name!r} was built for {self.input_shape[-1]} input "
                f"features, but received shape {shape_str(tuple(shape))}. Give it inputs of "
                f"shape (batch, time, {self.input_shape[-1]})."
            )

    # ------------------------------------------------------- forward / backward
    def _drive(self, xs: np.ndarray, training: bool) -> np.ndarray:
        """a (x_t @ B + b) plus the training noise, time-major (time, batch, units)."""
        steps, batch, n_in = xs.shape
        drive = (xs.reshape(-1, n_in) @ self.params["weights"]).reshape(steps, batch, -1)
        if self.use_bias:
            drive += self.params["bias"]
        drive *= self.alpha
        if training and self.noise_std > 0:
            dtype = drive.dtype if drive.dtype in (np.float32, np.float64) else np.float64
            xi = self.rng.standard_normal(drive.shape, dtype=dtype)
            drive += math.sqrt(2 * self.alpha) * self.noise_std * xi
        return drive

    def _integrate(self, drive: np.ndarray, h0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """States h_0..h_T and rates r_0..r_T, each (time + 1, batch, units)."""
        a, w = self.alpha, self.params["recurrent_weights"]
        steps = drive.shape[0]
        h = np.empty((steps + 1, *h0.shape), dtype=drive.dtype)
        r = np.empty_like(h)
        h[0] = h0
        r[0] = rate_activation(self.activation, h[0])[0]
        rec = np.empty_like(h0)
        for t in range(steps):
            np.matmul(r[t], w, out=rec)
            h[t + 1] = (1 - a) * h[t] + a * rec + drive[t]
            r[t + 1] = rate_activation(self.activation, h[t + 1])[0]
        return h, r

    def forward(self, x, training=False):
        with single_blas_thread():
            return self._forward(x, training)

    def _forward(self, x, training):
        self.check_input(x.shape)
        self.xs = np.ascontiguousarray(x.transpose(1, 0, 2))
        h0 = np.zeros((x.shape[0], self.units), dtype=self.xs.dtype)
        self.h, self.r = self._integrate(self._drive(self.xs, training), h0)
        if self.return_sequences:
            return np.ascontiguousarray(self.r[1:].transpose(1, 0, 2))
        return self.r[-1].copy()

    def backward(self, grad_y):
        with single_blas_thread():
            return self._backward(grad_y)

    def _backward(self, grad_y):
        a, w_t = self.alpha, self.params["recurrent_weights"].T
        h, r, xs = self.h, self.r, self.xs
        steps, batch, u = h.shape[0] - 1, h.shape[1], self.units
        if self.return_sequences:
            g = grad_y.transpose(1, 0, 2)
        else:
            g = np.zeros((steps, batch, u), dtype=grad_y.dtype)
            g[-1] = grad_y
        c_all = np.empty((steps, batch, u), dtype=h.dtype)
        c = np.zeros((batch, u), dtype=h.dtype)
        back = np.zeros_like(c)
        for t in range(steps - 1, -1, -1):
            slope = rate_activation(self.activation, h[t + 1])[1]
            c = slope * (g[t] + a * back) + (1 - a) * c
            c_all[t] = c
            np.matmul(c, w_t, out=back)
        flat = c_all.reshape(-1, u)
        self.grads["recurrent_weights"] = a * (r[:-1].reshape(-1, u).T @ flat)
        self.grads["weights"] = a * (xs.reshape(steps * batch, -1).T @ flat)
        if self.use_bias:
            self.grads["bias"] = a * flat.sum(axis=0)
        grad_x = a * (c_all @ self.params["weights"].T)
        return np.ascontiguousarray(grad_x.transpose(1, 0, 2))

    # ---------------------------------------------------------------- analysis
    def simulate(
        self, inputs, initial_state=None, *, training: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the network and return its states and rates (no cache, no gradients).

        Args:
            inputs: (batch, time, features).
            initial_state: h_0, (batch, units) or (units,); zeros when None.
            training: add the training noise.

        Returns:
            ``(states, rates)``, each (batch, time, units): h_1..h_T and r_1..r_T.
        """
        if not self.built:
            raise ValueError(f"RateRNN layer {self.name!r} is not built yet; call it once first.")
        dtype = self.params["recurrent_weights"].dtype
        x = check_array(inputs, "inputs", ndim=3, dtype=dtype)
        self.check_input(x.shape)
        h0 = np.zeros((x.shape[0], self.units), dtype=dtype)
        if initial_state is not None:
            h0 = h0 + check_array(initial_state, "initial_state", ndim=(1, 2), dtype=dtype)
        with single_blas_thread():
            h, r = self._integrate(self._drive(x.transpose(1, 0, 2), training), h0)
        return h[1:].transpose(1, 0, 2), r[1:].transpose(1, 0, 2)

    def recurrent_map(self) -> RecurrentMap:
        """The noiseless one-step map and its Jacobian, float64, for `find_fixed_points`.

        Math:
            F(h, u) = h + a (-h + f(h) @ W + u @ B + b)
            dF/dh[n, i, j] = (1 - a) delta_ij + a W[j, i] f'(h_j)
            For tanh this is `engram.motor.fixed_points.rate_rnn_map` with this layer's weights.

        Returns:
            A `RecurrentMap` ``(step, jacobian)``; both take ``(h, u=None)`` with h (n, units)
            and u (inputs,) or (n, inputs); u = None means zero input.
        """
        if not self.built:
            raise ValueError(f"RateRNN layer {self.name!r} is not built yet; call it once first.")
        a, name = self.alpha, self.activation
        w = self.params["recurrent_weights"].astype(np.float64)
        b_in = self.params["weights"].astype(np.float64)
        b = self.params["bias"].astype(np.float64) if self.use_bias else np.zeros(self.units)
        eye = np.eye(self.units)

        def drive(u):
            return b if u is None else np.asarray(u, dtype=np.float64) @ b_in + b

        def step(h, u=None):
            h = np.asarray(h, dtype=np.float64)
            return h + a * (-h + rate_activation(name, h)[0] @ w + drive(u))

        def jacobian(h, u=None):
            slope = rate_activation(name, np.asarray(h, dtype=np.float64))[1]
            return (1 - a) * eye + a * w.T[None, :, :] * slope[:, None, :]

        return RecurrentMap(step, jacobian)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "dt": self.dt,
            "tau": self.tau,
            "noise_std": self.noise_std,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.to_json(self.kernel_initializer),
            "recurrent_gain": self.recurrent_gain,
            "bias_initializer": initializers.to_json(self.bias_initializer),
            "return_sequences": self.return_sequences,
            "seed": self.seed,
        }
