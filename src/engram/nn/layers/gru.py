"""GRU: the gated recurrent unit, with backpropagation through time written out."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn import activations
from engram.nn.layers.base import register_layer
from engram.nn.layers.recurrent_base import (
    Recurrent,
    needs_preactivation,
    run_rows,
    split_matmul,
)


@register_layer
class GRU(Recurrent):
    """Gated recurrent unit layer, in Keras's default ``reset_after=True`` form (= PyTorch's).

    Math (Keras's gate order z, r, h; sigma = recurrent_activation, act = activation;
    bias[0] is the input bias, bias[1] the recurrent bias):
        forward, for t = 1..T (h_0 = initial state or zeros):
            xz, xr, xh = x_t @ weights + bias[0]                    (computed for all t at once)
            rz, rr, rh = h_{t-1} @ recurrent_weights + bias[1]
            z_t  = sigma(xz + rz)              update gate
            r_t  = sigma(xr + rr)              reset gate (applied after the product)
            hh_t = act(xh + r_t * rh)          candidate
            h_t  = z_t * h_{t-1} + (1 - z_t) * hh_t
        backward through time, for t = T..1 (g_t = dL/dh_t from the output):
            dh_t   = g_t + [dh_{t+1} * z_{t+1} + dq_{t+1} @ recurrent_weights.T]
            dhh    = dh_t * (1 - z_t) * act'(.)           dz = dh_t * (h_{t-1} - hh_t) * sigma'(.)
            dr     = dhh * rh_t * sigma'(.)              drh = dhh * r_t
            dq_t   = [dz, dr, drh]          (gradient of h_{t-1} @ recurrent_weights + bias[1])
            dp_t   = [dz, dr, dhh]          (gradient of x_t @ weights + bias[0])
        and once over all steps: grad_weights = sum x_t.T @ dp_t, grad_recurrent_weights =
        sum h_{t-1}.T @ dq_t, grad_bias = [sum dp_t, sum dq_t], grad_x_t = dp_t @ weights.T.

    Args:
        units: size of the hidden state.
        activation: act, tanh by default.
        recurrent_activation: sigma, sigmoid by default.
        reset_after: only True (Keras's default, and PyTorch's form) is implemented.
        **kwargs: the rest, as in `Recurrent`.

    Weights (Keras's layouts, gate blocks z, r, h): ``weights`` (features, 3 units),
    ``recurrent_weights`` (units, 3 units), ``bias`` (2, 3 units). PyTorch orders the blocks
    r, z, n and stores the transposes; its b_ih, b_hh are bias[0], bias[1].

    Example:
        >>> outputs, h = GRU(8, return_state=True)(x)  # doctest: +SKIP

    Reference: Cho et al. 2014, EMNLP (arXiv:1406.1078).
    """

    blocks = 3

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        reset_after: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        if reset_after is not True:
            raise ValueError(
                "GRU(reset_after=False) is not implemented; use reset_after=True (Keras's "
                f"default and PyTorch's form). Got reset_after={reset_after!r} instead."
            )
        self.reset_after = True

    def _build_weights(self, n_in, rng):
        u = self.units
        self._build_kernels(n_in, rng)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((2, 3 * u), rng, self.dtype)

    def _forward_sequence(self, xs, states):
        steps, batch, n_in = xs.shape
        u = self.units
        gates = np.empty((steps, batch, 3 * u), dtype=xs.dtype)
        flat = gates.reshape(steps * batch, 3 * u)
        np.matmul(xs.reshape(steps * batch, n_in), self.params["weights"], out=flat)
        if self.use_bias:
            gates += self.params["bias"][0]
        keep_z = needs_preactivation(self.activation, self.recurrent_activation)
        self.pre = np.empty_like(gates) if keep_z else None
        self.h = np.empty((steps + 1, batch, u), dtype=xs.dtype)
        self.rh = np.empty((steps, batch, u), dtype=xs.dtype)
        self.h[0] = states[0]
        self.gates = gates
        run_rows(self._forward_rows, batch, self._work_per_row())
        return self.h[1:], [self.h[steps]]

    def _infer_sequence(self, xs, states):
        """`_forward_sequence` keeping nothing for backward, gate-major: the input projections
        of all steps as one (3, time * batch, units) product, then per step
        [h_{t-1}, 1] @ [recurrent_weights; bias[1]] as (3, batch, units), so every gate is
        one contiguous block (the reference works on column slices of (batch, 3 units))."""
        steps, batch, n_in = xs.shape
        u, dtype = self.units, xs.dtype
        kernel = self.params["weights"].reshape(n_in, 3, u).transpose(1, 0, 2)
        proj = np.matmul(xs.reshape(steps * batch, n_in), kernel).reshape(3, steps, batch, u)
        recurrent = self.params["recurrent_weights"].reshape(u, 3, u).transpose(1, 0, 2)
        h = np.empty((steps + 1, batch, u + self.use_bias), dtype)  # [h_t, 1]
        h[0, :, :u] = states[0]
        if self.use_bias:
            proj += self.params["bias"][0].reshape(3, 1, 1, u)
            h[:, :, u] = 1
            recurrent = np.concatenate([recurrent, self.params["bias"][1].reshape(3, 1, u)], 1)
        rec = np.empty((3, batch, u), dtype)
        tmp = np.empty((batch, u), dtype)
        sigma, act = self.recurrent_activation, self.activation
        for t in range(steps):
            np.matmul(h[t], recurrent, out=rec)
            zr, cand = rec[:2], rec[2]
            zr += proj[:2, t]
            sigma.forward_into(zr, zr)
            cand *= zr[1]  # r_t * (h_{t-1} @ recurrent_weights + bias[1]) of the candidate
            cand += proj[2, t]
            act.forward_into(cand, cand)
            # h_t = hh + z * (h_{t-1} - hh)
            h_prev, h_t = h[t, :, :u], h[t + 1, :, :u]
            np.subtract(h_prev, cand, out=tmp)
            tmp *= zr[0]
            np.add(cand, tmp, out=h_t)
            if self.skip is not None:  # masked steps carry the state over
                np.copyto(h_t, h_prev, where=self.skip[t])
        return h[1:, :, :u], [h[steps, :, :u].copy()]

    def _forward_rows(self, lo: int, hi: int) -> None:
        """The recurrence for the sequences lo:hi of the batch (one thread)."""
        u = self.units
        gates, h, rh = self.gates[:, lo:hi], self.h[:, lo:hi], self.rh[:, lo:hi]
        pre = None if self.pre is None else self.pre[:, lo:hi]
        recurrent, bias = self.params["recurrent_weights"], self.params.get("bias")
        rec = np.empty((hi - lo, 3 * u), dtype=gates.dtype)
        tmp = np.empty((hi - lo, u), dtype=gates.dtype)
        mask = None if self.recurrent_mask is None else self.recurrent_mask[lo:hi]
        sigma, act = self.recurrent_activation, self.activation
        skip = None if self.skip is None else self.skip[:, lo:hi]
        for t in range(gates.shape[0]):
            np.matmul(h[t] if mask is None else h[t] * mask, recurrent, out=rec)
            if bias is not None:
                rec += bias[1]
            g = gates[t]
            zr, cand = g[:, : 2 * u], g[:, 2 * u :]
            zr += rec[:, : 2 * u]
            if pre is not None:
                pre[t, :, : 2 * u] = zr
            sigma.forward_into(zr, zr)
            rh[t] = rec[:, 2 * u :]
            np.multiply(g[:, u : 2 * u], rh[t], out=tmp)
            cand += tmp
            if pre is not None:
                pre[t, :, 2 * u :] = cand
            act.forward_into(cand, cand)
            # h_t = hh + z * (h_{t-1} - hh)
            np.subtract(h[t], cand, out=tmp)
            tmp *= g[:, :u]
            np.add(cand, tmp, out=h[t + 1])
            if skip is not None:  # masked steps carry the state over
                np.copyto(h[t + 1], h[t], where=skip[t])

    def _backward_sequence(self, grad_seq, grad_last):
        steps, batch, width = self.gates.shape
        u = self.units
        self.dq = np.empty_like(self.gates)  # gradient of h_{t-1} @ recurrent_weights + bias[1]
        self.dhh = np.empty_like(self.rh)  # gradient of the candidate's pre-activation
        self.dh, self.grad_seq = grad_last[0].copy(), grad_seq
        run_rows(self._backward_rows, batch, self._work_per_row())
        mask = self.recurrent_mask
        flat_q = self.dq.reshape(steps * batch, width)
        flat_x = self.xs.reshape(steps * batch, -1)
        flat_hh = self.dhh.reshape(steps * batch, u)
        h_prev = self.h[:-1] if mask is None else self.h[:-1] * mask
        weights = self.params["weights"]
        grad_w = np.empty_like(weights)
        grad_w[:, : 2 * u] = flat_x.T @ flat_q[:, : 2 * u]
        grad_w[:, 2 * u :] = flat_x.T @ flat_hh
        self.grads["weights"] = grad_w
        grad_r = self.grads["recurrent_weights"] = np.empty((u, width), flat_q.dtype)
        split_matmul(h_prev.reshape(steps * batch, u).T, flat_q, grad_r)
        if self.use_bias:
            grad_b = np.empty_like(self.params["bias"])
            grad_b[1] = flat_q.sum(axis=0)
            grad_b[0, : 2 * u] = grad_b[1, : 2 * u]
            grad_b[0, 2 * u :] = flat_hh.sum(axis=0)
            self.grads["bias"] = grad_b
        grad_xs = flat_q[:, : 2 * u] @ weights[:, : 2 * u].T
        grad_xs += flat_hh @ weights[:, 2 * u :].T
        dh = self.dh
        self.gates = self.h = self.rh = self.pre = self.dq = self.dhh = None
        self.dh = self.grad_seq = None
        return grad_xs.reshape(steps, batch, -1), [dh]

    def _backward_rows(self, lo: int, hi: int) -> None:
        """Backpropagation through time for the sequences lo:hi of the batch (one thread)."""
        u = self.units
        gates, h, rh = self.gates[:, lo:hi], self.h[:, lo:hi], self.rh[:, lo:hi]
        dq, dhh, dh = self.dq[:, lo:hi], self.dhh[:, lo:hi], self.dh[lo:hi]
        pre = None if self.pre is None else self.pre[:, lo:hi]
        grad_seq = None if self.grad_seq is None else self.grad_seq[:, lo:hi]
        recurrent_t = np.ascontiguousarray(self.params["recurrent_weights"].T)
        sigma, act = self.recurrent_activation, self.activation
        tmp = np.empty((hi - lo, u), dtype=gates.dtype)
        rec = np.empty((hi - lo, u), dtype=gates.dtype)
        mask = None if self.recurrent_mask is None else self.recurrent_mask[lo:hi]
        skip = None if self.skip is None else self.skip[:, lo:hi]
        for t in range(gates.shape[0] - 1, -1, -1):
            if grad_seq is not None:
                dh += grad_seq[t]
            if skip is not None:  # a masked step passes dh on to h_{t-1} unchanged
                carried = np.where(skip[t], dh, 0)
                np.copyto(dh, 0, where=skip[t])
            g, dqt = gates[t], dq[t]
            z, r, cand = g[:, :u], g[:, u : 2 * u], g[:, 2 * u :]
            np.subtract(h[t], cand, out=dqt[:, :u])
            dqt[:, :u] *= dh  # dz before sigma'
            np.subtract(1, z, out=tmp)
            tmp *= dh
            act.backward_into(None if pre is None else pre[t, :, 2 * u :], cand, tmp, dhh[t])
            np.multiply(dhh[t], rh[t], out=dqt[:, u : 2 * u])  # dr before sigma'
            np.multiply(dhh[t], r, out=dqt[:, 2 * u :])
            zr_pre = None if pre is None else pre[t, :, : 2 * u]
            sigma.backward_into(zr_pre, g[:, : 2 * u], dqt[:, : 2 * u], dqt[:, : 2 * u])
            dh *= z
            np.matmul(dqt, recurrent_t, out=rec)
            if mask is not None:
                rec *= mask
            dh += rec
            if skip is not None:
                dh += carried

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": self.recurrent_activation.to_json(),
            "reset_after": self.reset_after,
        }
