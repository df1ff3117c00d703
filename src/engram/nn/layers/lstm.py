"""LSTM: long short-term memory, with backpropagation through time written out."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn import activations
from engram.nn.layers.base import register_layer
from engram.nn.layers.recurrent_base import (
    Recurrent,
    activate,
    activation_grad,
    needs_preactivation,
    run_rows,
)


def _gate_order(units: int) -> np.ndarray:
    """Column permutation between Keras's gate order (i, f, c, o) and the internal (i, f, o, c).

    The internal order puts the three sigmoid gates side by side, so one call activates them.
    Swapping two blocks is its own inverse: the same permutation maps back.
    """
    blocks = (0, 1, 3, 2)
    return np.concatenate([np.arange(b * units, (b + 1) * units) for b in blocks])


@register_layer
class LSTM(Recurrent):
    """Long short-term memory layer (Hochreiter & Schmidhuber 1997, with a forget gate).

    Math (Keras's gate order i, f, c, o; sigma = recurrent_activation, act = activation):
        forward, for t = 1..T (h_0, c_0 = initial states or zeros):
            a_t = x_t @ weights + h_{t-1} @ recurrent_weights + bias        (batch, 4 units)
            i_t = sigma(a_i)   f_t = sigma(a_f)   g_t = act(a_c)   o_t = sigma(a_o)
            c_t = f_t * c_{t-1} + i_t * g_t
            h_t = o_t * act(c_t)
        backward through time, for t = T..1 (dh, dc from later steps start at the final-state
        gradients; g_t = dL/dh_t from the output):
            dh_t  = g_t + da_{t+1} @ recurrent_weights.T
            do_t  = dh_t * act(c_t)
            dc_t  = dc_{t+1} * f_{t+1} + dh_t * o_t * act'(c_t)
            di_t  = dc_t * g_t     df_t = dc_t * c_{t-1}     dg_t = dc_t * i_t
            da_t  = [di * sigma'(a_i), df * sigma'(a_f), dg * act'(a_c), do * sigma'(a_o)]
        and once over all steps (one matmul each over (T*batch) rows):
            grad_weights = sum_t x_t.T @ da_t;  grad_recurrent_weights = sum_t h_{t-1}.T @ da_t
            grad_bias = sum da_t;  grad_x_t = da_t @ weights.T

    Args:
        units: size of the hidden and cell states.
        activation: act, tanh by default.
        recurrent_activation: sigma, sigmoid by default.
        unit_forget_bias: add 1 to the forget gate's bias at initialization (Jozefowicz et al.
            2015), as Keras does by default.
        See `Recurrent` for the rest.

    Weights (Keras's names and layouts, gate blocks i, f, c, o): ``weights`` (features,
    4 units), ``recurrent_weights`` (units, 4 units), ``bias`` (4 units,). PyTorch's order
    i, f, g, o is the same; PyTorch stores the transposes and splits the bias in two.

    Example:
        >>> outputs, h, c = LSTM(8, return_sequences=True, return_state=True)(x)  # doctest: +SKIP

    Reference: Hochreiter & Schmidhuber 1997, Neural Computation 9:1735; Gers, Schmidhuber &
    Cummins 2000 (forget gate).
    """

    state_names = ("hidden_state", "cell_state")
    blocks = 4

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _build_weights(self, n_in, rng):
        u = self.units
        self.params["weights"] = self.kernel_initializer((n_in, 4 * u), rng, self.dtype)
        # C order: the orthogonal initializer returns a transposed (Fortran-order) wide matrix
        recurrent = self.recurrent_initializer((u, 4 * u), rng, self.dtype)
        self.params["recurrent_weights"] = np.ascontiguousarray(recurrent)
        if self.use_bias:
            if self.unit_forget_bias:
                parts = [
                    self.bias_initializer((u,), rng, self.dtype),
                    np.ones(u, dtype=self.dtype),
                    self.bias_initializer((2 * u,), rng, self.dtype),
                ]
                self.params["bias"] = np.concatenate(parts)
            else:
                self.params["bias"] = self.bias_initializer((4 * u,), rng, self.dtype)

    def _forward_sequence(self, xs, states):
        steps, batch, n_in = xs.shape
        u = self.units
        order = self.order = _gate_order(u)
        # gates a_t in the internal order (i, f, o, c); x @ weights for all steps in one matmul
        a = np.empty((steps, batch, 4 * u), dtype=xs.dtype)
        weights = self.params["weights"][:, order]
        np.matmul(xs.reshape(steps * batch, n_in), weights, out=a.reshape(-1, 4 * u))
        if self.use_bias:
            a += self.params["bias"][order]
        keep_z = needs_preactivation(self.activation, self.recurrent_activation)
        self.pre = np.empty_like(a) if keep_z else None
        self.h = np.empty((steps + 1, batch, u), dtype=xs.dtype)
        self.c = np.empty((steps + 1, batch, u), dtype=xs.dtype)
        self.act_c = np.empty((steps, batch, u), dtype=xs.dtype)
        self.h[0], self.c[0] = states
        self.gates, self.recurrent = a, self.params["recurrent_weights"][:, order]
        run_rows(self._forward_rows, batch, self._work_per_row())
        return self.h[1:], [self.h[steps], self.c[steps]]

    def _forward_rows(self, lo: int, hi: int) -> None:
        """The recurrence for the sequences lo:hi of the batch (one thread)."""
        u = self.units
        a, h, c = self.gates[:, lo:hi], self.h[:, lo:hi], self.c[:, lo:hi]
        act_c, pre = self.act_c[:, lo:hi], None if self.pre is None else self.pre[:, lo:hi]
        rec = np.empty((hi - lo, 4 * u), dtype=a.dtype)
        tmp = np.empty((hi - lo, u), dtype=a.dtype)
        mask = None if self.recurrent_mask is None else self.recurrent_mask[lo:hi]
        sigma, act, recurrent = self.recurrent_activation, self.activation, self.recurrent
        for t in range(a.shape[0]):
            np.matmul(h[t] if mask is None else h[t] * mask, recurrent, out=rec)
            at = a[t]
            at += rec
            if pre is not None:
                pre[t] = at
            activate(sigma, at[:, : 3 * u], at[:, : 3 * u])
            activate(act, at[:, 3 * u :], at[:, 3 * u :])
            np.multiply(at[:, u : 2 * u], c[t], out=c[t + 1])
            np.multiply(at[:, :u], at[:, 3 * u :], out=tmp)
            c[t + 1] += tmp
            activate(act, c[t + 1], act_c[t])
            np.multiply(at[:, 2 * u : 3 * u], act_c[t], out=h[t + 1])

    def _backward_sequence(self, grad_seq, grad_last):
        steps, batch, width = self.gates.shape
        u, order = self.units, self.order
        self.da = np.empty_like(self.gates)
        self.dh, self.dc = grad_last[0].copy(), grad_last[1].copy()
        self.grad_seq = grad_seq
        run_rows(self._backward_rows, batch, self._work_per_row())
        mask = self.recurrent_mask
        flat = self.da.reshape(steps * batch, width)
        h_prev = self.h[:-1] if mask is None else self.h[:-1] * mask
        # internal (i, f, o, c) columns back to Keras's (i, f, c, o): the permutation swaps two
        # blocks, so indexing with it again restores the order
        self.grads["weights"] = (self.xs.reshape(steps * batch, -1).T @ flat)[:, order]
        self.grads["recurrent_weights"] = (h_prev.reshape(steps * batch, u).T @ flat)[:, order]
        if self.use_bias:
            self.grads["bias"] = flat.sum(axis=0)[order]
        grad_xs = (flat @ self.params["weights"][:, order].T).reshape(steps, batch, -1)
        dh, dc = self.dh, self.dc
        self.gates = self.h = self.c = self.act_c = self.pre = self.da = None
        self.dh = self.dc = self.grad_seq = self.recurrent = None
        return grad_xs, [dh, dc]

    def _backward_rows(self, lo: int, hi: int) -> None:
        """Backpropagation through time for the sequences lo:hi of the batch (one thread)."""
        u = self.units
        gates, c, act_c = self.gates[:, lo:hi], self.c[:, lo:hi], self.act_c[:, lo:hi]
        da, dh, dc = self.da[:, lo:hi], self.dh[lo:hi], self.dc[lo:hi]
        pre = None if self.pre is None else self.pre[:, lo:hi]
        grad_seq = None if self.grad_seq is None else self.grad_seq[:, lo:hi]
        recurrent_t = np.ascontiguousarray(self.recurrent.T)
        sigma, act = self.recurrent_activation, self.activation
        tmp = np.empty((hi - lo, u), dtype=gates.dtype)
        mask = None if self.recurrent_mask is None else self.recurrent_mask[lo:hi]
        for t in range(gates.shape[0] - 1, -1, -1):
            if grad_seq is not None:
                dh += grad_seq[t]
            g, dat = gates[t], da[t]
            i, f, o, cand = g[:, :u], g[:, u : 2 * u], g[:, 2 * u : 3 * u], g[:, 3 * u :]
            np.multiply(dh, act_c[t], out=dat[:, 2 * u : 3 * u])  # do
            np.multiply(dh, o, out=tmp)
            activation_grad(act, c[t + 1], act_c[t], tmp, tmp)
            dc += tmp
            np.multiply(dc, cand, out=dat[:, :u])  # di
            np.multiply(dc, c[t], out=dat[:, u : 2 * u])  # df
            np.multiply(dc, i, out=dat[:, 3 * u :])  # dg
            dc *= f
            z_sig = None if pre is None else pre[t, :, : 3 * u]
            z_act = None if pre is None else pre[t, :, 3 * u :]
            activation_grad(sigma, z_sig, g[:, : 3 * u], dat[:, : 3 * u], dat[:, : 3 * u])
            activation_grad(act, z_act, cand, dat[:, 3 * u :], dat[:, 3 * u :])
            np.matmul(dat, recurrent_t, out=dh)
            if mask is not None:
                dh *= mask

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": self.recurrent_activation.to_json(),
            "unit_forget_bias": self.unit_forget_bias,
        }
