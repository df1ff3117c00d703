"""SimpleRNN: the Elman recurrent layer, with backpropagation through time written out."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.layers.base import register_layer
from engram.nn.layers.recurrent_base import (
    Recurrent,
    needs_preactivation,
    next_step_inputs,
    project_inputs,
    run_rows,
    split_matmul,
    step_inputs,
)


@register_layer
class SimpleRNN(Recurrent):
    """Fully connected recurrent layer: the hidden state is fed back at every step.

    Math:
        forward, for t = 1..T (time-major, h_0 = initial state or zeros):
            z_t = x_t @ weights + h_{t-1} @ recurrent_weights + bias      (batch, units)
            h_t = activation(z_t)
            x @ weights is computed for all steps in one matmul before the loop.
            With a mask, a masked step keeps the state: h_t = h_{t-1} (and dz_t = 0 below,
            dh_{t-1} = dh_t).
        backward through time, for t = T..1 (dh_{T+1} = 0; g_t = dL/dh_t from the output):
            dh_t  = g_t + dz_{t+1} @ recurrent_weights.T
            dz_t  = dh_t * activation'(z_t)
        and, once over all steps:
            grad_weights           = sum_t x_t.T @ dz_t          (one matmul over (T*batch))
            grad_recurrent_weights = sum_t h_{t-1}.T @ dz_t      (one matmul)
            grad_bias              = sum_t sum_batch dz_t
            grad_x_t               = dz_t @ weights.T
            grad_h_0               = dz_1 @ recurrent_weights.T
        This is the article's h_t = f(W_hh h_{t-1} + W_xh x_t + b_h), with W_xh = weights.T and
        W_hh = recurrent_weights.T (Keras stores kernels as (in, out)).

    Args:
        units: size of the hidden state.
        activation: tanh by default.
        **kwargs: the rest, as in `Recurrent` (use_bias, initializers, dropout,
            recurrent_dropout, return_sequences, return_state, go_backwards, seed).

    Weights (Keras's names and layouts): ``weights`` (features, units) = "kernel",
    ``recurrent_weights`` (units, units) = "recurrent_kernel", ``bias`` (units,).

    Example:
        >>> rnn = SimpleRNN(16, return_sequences=True)
        >>> rnn(np.zeros((4, 10, 3), dtype="float32")).shape
        (4, 10, 16)

    Reference: Elman 1990, Cognitive Science 14:179; Werbos 1990 (BPTT).
    """

    def _build_weights(self, n_in, rng):
        self._build_kernels(n_in, rng)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.units,), rng, self.dtype)

    def _forward_sequence(self, xs, states):
        steps, batch, n_in = xs.shape
        u = self.units
        z = np.empty((steps, batch, u), dtype=xs.dtype)
        bias = self.params["bias"] if self.use_bias else None
        project_inputs(
            xs.reshape(steps * batch, n_in), self.params["weights"], bias, z.reshape(-1, u)
        )
        h = np.empty((steps + 1, batch, u), dtype=xs.dtype)
        h[0] = states[0]
        self.z, self.h = z, h
        run_rows(self._forward_rows, batch, self._work_per_row())
        return h[1:], [h[steps]]

    def _infer_sequence(self, xs, states):
        """`_forward_sequence` keeping nothing for backward: one matmul and one activation
        pass per step, z_t = [h_{t-1}, x_t, 1] @ [recurrent_weights; weights; bias] (the
        input projection inside the step's product), h_t written straight into the output.
        The matmul's input is one (batch, width) buffer refreshed each step
        (`step_inputs`)."""
        steps, batch, _ = xs.shape
        u = self.units
        inputs = step_inputs(xs, states[0], self.use_bias)
        stacked = [self.params["recurrent_weights"], self.params["weights"]]
        if self.use_bias:
            stacked.append(self.params["bias"][None])
        stacked = np.concatenate(stacked)
        h = np.empty((steps, batch, u), xs.dtype)
        z = np.empty((batch, u), xs.dtype)
        for t in range(steps):
            np.matmul(inputs, stacked, out=z)
            self.activation.forward_into(z, h[t])
            if self.skip is not None:  # masked steps carry the state over
                np.copyto(h[t], h[t - 1] if t else states[0], where=self.skip[t])
            next_step_inputs(inputs, h[t], xs, t)
        return h, [h[steps - 1].copy()]

    def _forward_rows(self, lo: int, hi: int) -> None:
        """The recurrence for the sequences lo:hi of the batch (one thread)."""
        z, h = self.z[:, lo:hi], self.h[:, lo:hi]
        recurrent, act = self.params["recurrent_weights"], self.activation
        rec = np.empty((hi - lo, self.units), dtype=z.dtype)
        mask = None if self.recurrent_mask is None else self.recurrent_mask[lo:hi]
        skip = None if self.skip is None else self.skip[:, lo:hi]
        for t in range(z.shape[0]):
            np.matmul(h[t] if mask is None else h[t] * mask, recurrent, out=rec)
            z[t] += rec
            act.forward_into(z[t], h[t + 1])
            if skip is not None:  # masked steps carry the state over
                np.copyto(h[t + 1], h[t], where=skip[t])

    def _backward_sequence(self, grad_seq, grad_last):
        z, h = self.z, self.h
        steps, batch, u = z.shape
        # dz_t is written over z_t once z_t has been read, unless the activation needs z
        self.dz = np.empty_like(z) if needs_preactivation(self.activation) else z
        self.dh, self.grad_seq = grad_last[0].copy(), grad_seq
        run_rows(self._backward_rows, batch, self._work_per_row())
        mask = self.recurrent_mask
        flat = self.dz.reshape(steps * batch, u)
        h_prev = h[:-1] if mask is None else h[:-1] * mask
        xs = self.xs.reshape(steps * batch, -1)
        grad_w = self.grads["weights"] = np.empty((xs.shape[1], u), flat.dtype)
        split_matmul(xs.T, flat, grad_w)
        grad_r = self.grads["recurrent_weights"] = np.empty((u, u), flat.dtype)
        split_matmul(h_prev.reshape(steps * batch, u).T, flat, grad_r)
        if self.use_bias:
            self.grads["bias"] = np.ones(steps * batch, flat.dtype) @ flat  # faster than a sum
        grad_xs = (flat @ self.params["weights"].T).reshape(steps, batch, -1)
        dh = self.dh
        self.z = self.h = self.dz = self.dh = self.grad_seq = None
        return grad_xs, [dh]

    def _backward_rows(self, lo: int, hi: int) -> None:
        """Backpropagation through time for the sequences lo:hi of the batch (one thread)."""
        z, h, dz, dh = self.z[:, lo:hi], self.h[:, lo:hi], self.dz[:, lo:hi], self.dh[lo:hi]
        grad_seq = None if self.grad_seq is None else self.grad_seq[:, lo:hi]
        recurrent_t, act = self.params["recurrent_weights"].T, self.activation
        keep_z = self.dz is not self.z
        mask = None if self.recurrent_mask is None else self.recurrent_mask[lo:hi]
        scratch = np.empty_like(dh)
        skip = None if self.skip is None else self.skip[:, lo:hi]
        for t in range(z.shape[0] - 1, -1, -1):
            if grad_seq is not None:
                dh += grad_seq[t]
            if skip is not None:  # a masked step passes dh on to h_{t-1} unchanged
                carried = np.where(skip[t], dh, 0)
                np.copyto(dh, 0, where=skip[t])
            act.backward_into(z[t] if keep_z else None, h[t + 1], dh, dz[t], scratch)
            np.matmul(dz[t], recurrent_t, out=dh)
            if mask is not None:
                dh *= mask
            if skip is not None:
                dh += carried

    def get_config(self) -> dict[str, Any]:
        return super().get_config()
