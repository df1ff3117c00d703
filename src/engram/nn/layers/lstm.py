"""LSTM: long short-term memory, with backpropagation through time written out."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn import activations
from engram.nn.layers.base import register_layer
from engram.nn.layers.recurrent_base import (
    Recurrent,
    needs_preactivation,
    next_step_inputs,
    run_rows,
    split_matmul,
    stacked_inputs,
    step_inputs,
)

#: the internal gate order (i, f, o, c) as Keras's blocks (i=0, f=1, c=2, o=3); swapping two
#: blocks is its own inverse, so the same indices map the internal order back to Keras's
_ORDER = [0, 1, 3, 2]


def _to_gates(matrix: np.ndarray, units: int) -> np.ndarray:
    """(rows, 4 units) in Keras's gate order -> (4, rows, units) in the internal order.

    The internal order (i, f, o, c) puts the three sigmoid gates side by side, and the
    gate-major layout makes every gate of a step one contiguous (batch, units) block, so the
    elementwise passes run on contiguous memory (on row-strided column slices of a
    (batch, 4 units) block NumPy was measured 2-5x slower).
    """
    stacked = matrix.reshape(matrix.shape[0], 4, units).transpose(1, 0, 2)
    return np.ascontiguousarray(stacked[_ORDER])


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
            grad_x_t = da_t @ weights.T
        and once over all steps (one matmul per gate over (T*batch) rows):
            [grad_recurrent_weights; grad_weights; grad_bias] = sum_t [h_{t-1}, x_t, 1].T @ da_t

    Implementation: a_t is one matmul per step, [h_{t-1}, x_t, 1] @ [recurrent_weights;
    weights; bias]. The gates are kept gate-major, (4, T, batch, units) in the order i, f, o,
    c, so every gate of a step is one contiguous block and the three sigmoid gates are
    adjacent; sigmoid(a) = 0.5 * tanh(a / 2) + 0.5 with the 1/2 folded into the sigmoid gates'
    columns, so one tanh pass activates all four gates. da_t is kept batch-major,
    (batch, 4 units), so that [dh_{t-1} - g_{t-1}, grad_x_t] = da_t @ [recurrent_weights.T,
    weights.T] is one matmul per step. Inference (``training=False``, `_infer_sequence`) runs
    the same arithmetic on one reused gate buffer and cell state, keeping nothing for backward.

    Args:
        units: size of the hidden and cell states.
        activation: act, tanh by default.
        recurrent_activation: sigma, sigmoid by default.
        unit_forget_bias: add 1 to the forget gate's bias at initialization (Jozefowicz et al.
            2015), as Keras does by default.
        **kwargs: the rest, as in `Recurrent`.

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
        self._build_kernels(n_in, rng)
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

    def _stack_inputs(self, xs: np.ndarray, h0: np.ndarray) -> np.ndarray:
        """`stacked_inputs`; also sets ``self.stacked`` (`_stack_weights`)."""
        self._stack_weights(xs.dtype)
        return stacked_inputs(xs, h0, self.use_bias)

    def _stack_weights(self, dtype: np.dtype) -> None:
        """``self.stacked`` = [recurrent_weights; weights; bias] gate-major (4, width, units),
        so that a_t = [h_{t-1}, x_t, 1] @ stacked is one matmul per step: no separate pass for
        the input projection, the bias or the sum."""
        u = self.units
        self.recurrent = _to_gates(self.params["recurrent_weights"], u)  # (4, units, units)
        self.kernel = _to_gates(self.params["weights"], u)  # (4, features, units)
        stacked = [self.recurrent, self.kernel]
        if self.use_bias:
            stacked.append(_to_gates(self.params["bias"][None], u))
        # an activation f(a) = s * tanh(k * a) + c (sigmoid: k = s = c = 1/2) has its k folded
        # into its gates' columns, so one tanh pass activates all four gates (see tanh_form)
        forms = [self.recurrent_activation.tanh_form] * 3 + [self.activation.tanh_form]
        scale = np.array([1 if form is None else form[0] for form in forms], dtype)
        self.stacked = np.concatenate(stacked, axis=1) * scale[:, None, None]  # (4, width, u)

    def _forward_sequence(self, xs, states):
        steps, batch, n_in = xs.shape
        u, dtype = self.units, xs.dtype
        self.hx = self._stack_inputs(xs, states[0])
        # the gates of all steps, gate-major: gates[k, t] is gate k of step t, (batch, units)
        self.gates = np.empty((4, steps, batch, u), dtype)
        keep_z = needs_preactivation(self.activation, self.recurrent_activation)
        # pre-activations, only for activations whose derivative needs them (a gate with a
        # tanh form holds k * a there, but its derivative is read from the output)
        self.pre = np.empty_like(self.gates) if keep_z else None
        self.c = np.empty((steps + 1, batch, u), dtype)
        self.act_c = np.empty((steps, batch, u), dtype)
        self.c[0] = states[1]
        run_rows(self._forward_rows, batch, self._work_per_row())
        h = self.hx[:, :, :u]
        return h[1:], [h[steps].copy(), self.c[steps].copy()]

    def _infer_sequence(self, xs, states):
        """`_forward_sequence` keeping nothing for backward: one gate buffer (4, batch,
        units), one cell state and one matmul input [h_{t-1}, x_t, 1] (`step_inputs`), reused
        at every step, h_t written straight into the output; the same arithmetic in the same
        order, so the outputs and states are the same."""
        steps, batch, _ = xs.shape
        u, dtype = self.units, xs.dtype
        self._stack_weights(dtype)
        inputs = step_inputs(xs, states[0], self.use_bias)
        h = np.empty((steps, batch, u), dtype)
        a = np.empty((4, batch, u), dtype)
        c, tmp = states[1].copy(), np.empty((batch, u), dtype)
        c_prev = None if self.skip is None else np.empty_like(c)
        for t in range(steps):
            np.matmul(inputs, self.stacked, out=a)
            self._activate_gates(a)
            i, f, o, g = a
            if c_prev is not None:
                np.copyto(c_prev, c)
            c *= f
            np.multiply(i, g, out=tmp)
            c += tmp
            self.activation.forward_into(c, tmp)
            np.multiply(o, tmp, out=h[t])
            if c_prev is not None:  # masked steps carry both states over
                np.copyto(h[t], h[t - 1] if t else states[0], where=self.skip[t])
                np.copyto(c, c_prev, where=self.skip[t])
            next_step_inputs(inputs, h[t], xs, t)
        self.kernel = self.recurrent = self.stacked = None
        return h, [h[steps - 1].copy(), c]

    def _forward_rows(self, lo: int, hi: int) -> None:
        """The recurrence for the sequences lo:hi of the batch (one thread)."""
        u = self.units
        gates, hx, c = self.gates[:, :, lo:hi], self.hx[:, lo:hi], self.c[:, lo:hi]
        act_c, pre = self.act_c[:, lo:hi], None if self.pre is None else self.pre[:, :, lo:hi]
        tmp = np.empty((hi - lo, u), dtype=gates.dtype)
        mask = None if self.recurrent_mask is None else self.recurrent_mask[lo:hi]
        skip = None if self.skip is None else self.skip[:, lo:hi]
        # per step: a_t (4, batch, units), one contiguous block per gate; [h_{t-1}, x_t, 1];
        # h_t; c_{t-1}; c_t; act(c_t)
        views = zip(
            gates.transpose(1, 0, 2, 3), hx[:-1], hx[1:, :, :u], c[:-1], c[1:], act_c, strict=True
        )
        for t, (a, inputs, h_t, c_prev, c_t, act_c_t) in enumerate(views):
            if mask is not None:
                inputs = inputs.copy()
                inputs[:, :u] *= mask
            np.matmul(inputs, self.stacked, out=a)
            if pre is not None:
                pre[:, t] = a
            self._activate_gates(a)
            i, f, o, g = a
            np.multiply(f, c_prev, out=c_t)
            np.multiply(i, g, out=tmp)
            c_t += tmp
            self.activation.forward_into(c_t, act_c_t)
            np.multiply(o, act_c_t, out=h_t)
            if skip is not None:  # masked steps carry both states over
                np.copyto(h_t, hx[t, :, :u], where=skip[t])
                np.copyto(c_t, c_prev, where=skip[t])

    def _activate_gates(self, a: np.ndarray) -> None:
        """(4, batch, units) pre-activations (i, f, o, c) -> sigma(i, f, o), act(c), in place.

        A tanh-form activation s * tanh(k * a) + c had its k folded into the weights: here it
        is a tanh pass, then the scale s and the shift c (one pass for all four gates when
        both activations have that form, as sigmoid and tanh do).
        """
        groups = ((a[:3], self.recurrent_activation), (a[3], self.activation))
        if all(f.tanh_form is not None for _, f in groups):
            np.tanh(a, out=a)
        else:
            for part, f in groups:
                if f.tanh_form is not None:
                    np.tanh(part, out=part)
                else:
                    f.forward_into(part, part)
        for part, f in groups:
            if f.tanh_form is not None:
                _, scale, shift = f.tanh_form
                if scale != 1:
                    part *= scale
                if shift != 0:
                    part += shift

    def _gate_grads(
        self, a: np.ndarray, d: np.ndarray, z: Any, scratch: np.ndarray, out: np.ndarray
    ) -> None:
        """out <- d * [sigma'(a_i), sigma'(a_f), sigma'(a_o), act'(a_c)], from gate values a
        (and the pre-activations z where an activation's derivative needs them)."""
        sigma, act = self.recurrent_activation, self.activation
        sigma.backward_into(None if z is None else z[:3], a[:3], d[:3], out[:3], scratch[:3])
        act.backward_into(None if z is None else z[3], a[3], d[3], out[3], scratch[3])

    def _backward_sequence(self, grad_seq, grad_last):
        _, steps, batch, u = self.gates.shape
        n_in = self.kernel.shape[1]
        self.dh, self.dc = grad_last[0].copy(), grad_last[1].copy()
        self.grad_seq = grad_seq
        self.grad_xs = np.empty((steps, batch, n_in), self.gates.dtype)
        # da_t of all steps, batch-major (batch, 4 units) in the internal gate order, so that
        # [dh_{t-1}, grad_x_t] = da_t @ [recurrent_weights.T, weights.T] is one plain matmul
        self.da = np.empty((steps, batch, 4 * u), self.gates.dtype)
        weights_t = np.concatenate([self.recurrent, self.kernel], axis=1).transpose(0, 2, 1)
        self.back_weights = weights_t.reshape(4 * u, u + n_in)  # (4 units, units + features)
        run_rows(self._backward_rows, batch, self._work_per_row())
        inputs = self.hx[:-1]
        if self.recurrent_mask is not None:
            inputs = inputs.copy()
            inputs[..., :u] *= self.recurrent_mask
        # [grad_recurrent_weights; grad_weights; grad_bias] = sum_t [h_{t-1}, x_t, 1].T @ da_t
        inputs, da = inputs.reshape(steps * batch, -1), self.da.reshape(steps * batch, 4 * u)
        grads = split_matmul(inputs.T, da, np.empty((inputs.shape[1], 4 * u), da.dtype))
        grads = grads.reshape(-1, 4, u)[:, _ORDER].reshape(-1, 4 * u)  # back to Keras's order
        self.grads["recurrent_weights"] = grads[:u]
        self.grads["weights"] = grads[u : u + n_in]
        if self.use_bias:
            self.grads["bias"] = grads[u + n_in]
        dh, dc, grad_xs = self.dh, self.dc, self.grad_xs
        self.gates = self.hx = self.c = self.act_c = self.pre = self.grad_xs = self.da = None
        self.dh = self.dc = self.grad_seq = self.kernel = self.recurrent = self.stacked = None
        self.back_weights = None
        return grad_xs, [dh, dc]

    def _backward_rows(self, lo: int, hi: int) -> None:
        """Backpropagation through time for the sequences lo:hi of the batch (one thread)."""
        u = self.units
        gates, c, act_c = self.gates[:, :, lo:hi], self.c[:, lo:hi], self.act_c[:, lo:hi]
        dh, dc, grad_xs = self.dh[lo:hi], self.dc[lo:hi], self.grad_xs[:, lo:hi]
        da = self.da[:, lo:hi]
        pre = None if self.pre is None else self.pre[:, :, lo:hi]
        grad_seq = None if self.grad_seq is None else self.grad_seq[:, lo:hi]
        act = self.activation
        shape, dtype = (hi - lo, u), gates.dtype
        tmp, scratch = np.empty(shape, dtype), np.empty(shape, dtype)
        d, scratch4 = np.empty((4, *shape), dtype), np.empty((4, *shape), dtype)
        back = np.empty((hi - lo, self.back_weights.shape[1]), dtype)
        mask = None if self.recurrent_mask is None else self.recurrent_mask[lo:hi]
        skip = None if self.skip is None else self.skip[:, lo:hi]
        for t in range(gates.shape[1] - 1, -1, -1):
            if grad_seq is not None:
                dh += grad_seq[t]
            if skip is not None:  # a masked step passes dh and dc on to step t - 1 unchanged
                carried_h, carried_c = np.where(skip[t], dh, 0), np.where(skip[t], dc, 0)
                np.copyto(dh, 0, where=skip[t])
                np.copyto(dc, 0, where=skip[t])
            a = gates[:, t]  # i, f, o, g of step t
            i, f, o, g = a
            np.multiply(dh, o, out=tmp)
            act.backward_into(c[t + 1], act_c[t], tmp, tmp, scratch)
            dc += tmp  # dc_t
            # gradients of the gate values: di, df, do, dg
            np.multiply(dc, g, out=d[0])
            np.multiply(dc, c[t], out=d[1])
            np.multiply(dh, act_c[t], out=d[2])
            np.multiply(dc, i, out=d[3])
            dc *= f  # dc_t * f_t: the cell path to step t - 1
            da_gates = da[t].reshape(-1, 4, u).transpose(1, 0, 2)  # da_t by gate, a view
            self._gate_grads(a, d, None if pre is None else pre[:, t], scratch4, da_gates)
            # [dh_{t-1}, grad_x_t] = da_t @ [recurrent_weights.T, weights.T]
            np.matmul(da[t], self.back_weights, out=back)
            dh[...] = back[:, :u]
            grad_xs[t] = back[:, u:]
            if mask is not None:
                dh *= mask
            if skip is not None:
                dh += carried_h
                dc += carried_c

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": self.recurrent_activation.to_json(),
            "unit_forget_bias": self.unit_forget_bias,
        }
