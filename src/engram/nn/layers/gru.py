"""GRU: the gated recurrent unit, with backpropagation through time written out."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn import activations
from engram.nn.layers.base import register_layer
from engram.nn.layers.recurrent_base import (
    Recurrent,
    needs_preactivation,
    next_step_inputs,
    project_inputs,
    run_rows,
    split_matmul,
    stacked_inputs,
    step_inputs,
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

    Implementation: gate-major, so that every gate of a step is one contiguous (batch,
    units) block. Per step, [h_{t-1}, x_t, 1] @ stacked is one (3, batch, units) product
    giving the z and r pre-activations whole (input projection and both biases folded into
    the matmul, as the LSTM does) and rh_t; the candidate's input part x_t @ weights +
    bias[0] (not multiplied by r_t) is one (time * batch, units) product for all steps
    (`_stack_inputs`, `_run`). Training keeps z, r, rh, hh of every step for backward;
    inference (``training=False``) reuses one step's buffers. After the loop,
    grad_recurrent_weights, the z and r columns of grad_weights and grad_bias[1] are one
    matmul over the stacked [h_{t-1}, x_t, 1] of all steps.

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
        h = self._run(xs, states, keep=True)[:, :, : self.units]
        return h[1:], [h[-1].copy()]

    def _infer_sequence(self, xs, states):
        """The forward pass keeping nothing for backward (inference), with fewer passes.

        When sigma has a tanh form s * tanh(k * a) + c (sigmoid: k = s = c = 1/2), every
        elementwise pass runs on contiguous (batch, units) buffers, h_t is written straight
        into the output, the matmul input [h_{t-1}, x_t, 1] is one buffer refreshed each step
        (`step_inputs`), and the constants of sigma's and act's tanh forms are folded into the
        weights where that saves a pass (`_stack_weights`'s ``candidate_scale``):

            r_t * rh_t = (s * tr + c) * rh_t = rh'_t + (s / c) * tr * rh'_t,  rh' = c * rh
            (c = 0: r_t * rh_t = tr * rh'_t with rh' = s * rh), and act's k multiplies both
            rh' and the candidate's input part [x_t, 1] @ [weights_h; bias[0]_h], one small
            matmul per step written into hh, so that
            hh_t = act(input part + rh'_t + tr * rh'_t) is three passes and a tanh;
            h_t  = hh_t + z_t * (h_{t-1} - hh_t).

        Otherwise (sigma without a tanh form) it runs `_run` keeping nothing. The outputs
        agree with `_forward_sequence` to float32 rounding (tested).
        """
        sigma, act = self.recurrent_activation, self.activation
        if sigma.tanh_form is None:
            h = self._run(xs, states, keep=False)[:, :, : self.units]
            return h[1:], [h[-1].copy()]
        n_steps, batch, _ = xs.shape
        u, dtype = self.units, xs.dtype
        _, s_sig, c_sig = (dtype.type(v) for v in sigma.tanh_form)
        k_act = 1.0 if act.tanh_form is None else act.tanh_form[0]
        stacked, cand_kernel = self._stack_weights(
            dtype, candidate_scale=((c_sig if c_sig != 0 else s_sig) * k_act, k_act)
        )
        inputs = step_inputs(xs, states[0], self.use_bias)
        x_part = inputs[:, u:]  # [x_t, 1]
        h = np.empty((n_steps, batch, u), dtype)
        gates = np.empty((3, batch, u), dtype)  # tz, tr (tanh parts of z and r), rh'
        tz, tr, rh = gates
        hh, tmp = np.empty((batch, u), dtype), np.empty((batch, u), dtype)
        ratio = s_sig / c_sig if c_sig != 0 else None
        for t in range(n_steps):
            h_prev = h[t - 1] if t else states[0]
            np.matmul(inputs, stacked, out=gates)
            np.matmul(x_part, cand_kernel, out=hh)  # (times act's k) x_t @ W_h + bias[0]_h
            np.tanh(gates[:2], out=gates[:2])
            np.multiply(tr, rh, out=tmp)  # r_t * rh_t = tmp (* ratio) + rh'
            if ratio is not None:
                if ratio != 1:
                    tmp *= ratio
                hh += rh
            hh += tmp
            if act.tanh_form is None:
                act.forward_into(hh, hh)
            else:
                np.tanh(hh, out=hh)
                _, s_act, c_act = act.tanh_form
                if s_act != 1:
                    hh *= dtype.type(s_act)
                if c_act != 0:
                    hh += dtype.type(c_act)
            if s_sig != 1:  # z_t = s * tz + c
                tz *= s_sig
            if c_sig != 0:
                tz += c_sig
            np.subtract(h_prev, hh, out=tmp)  # h_t = hh + z_t * (h_{t-1} - hh)
            tmp *= tz
            np.add(hh, tmp, out=h[t])
            if self.skip is not None:  # masked steps carry the state over
                np.copyto(h[t], h_prev, where=self.skip[t])
            next_step_inputs(inputs, h[t], xs, t)
        return h, [h[n_steps - 1].copy()]

    def _stack_inputs(self, xs: np.ndarray, h0: np.ndarray) -> np.ndarray:
        """`stacked_inputs`; also sets ``self.stacked`` (`_stack_weights`) and
        ``self.cand_in``, x_t @ weights + bias[0] of the candidate for all steps, (time, batch,
        units), one matmul.
        """
        n_steps, batch, n_in = xs.shape
        u, dtype = self.units, xs.dtype
        hx = stacked_inputs(xs, h0, self.use_bias)
        self.stacked, cand_kernel = self._stack_weights(dtype)
        flat = xs.reshape(n_steps * batch, n_in)
        cand_in = np.empty((n_steps * batch, u), dtype)
        kernel, bias = (cand_kernel[:-1], cand_kernel[-1]) if self.use_bias else (cand_kernel, None)
        self.cand_in = project_inputs(flat, kernel, bias, cand_in).reshape(n_steps, batch, u)
        return hx

    def _stack_weights(
        self, dtype: np.dtype, candidate_scale: tuple[float, float] = (1.0, 1.0)
    ) -> tuple[np.ndarray, np.ndarray]:
        """The step's weights: ``stacked``, gate-major (3, width, units), so that
        [h_{t-1}, x_t, 1] @ stacked is one matmul per step giving [a_z, a_r, rh_t]: the z and r
        blocks are [recurrent_weights; weights; bias[0] + bias[1]] (the whole pre-activation,
        no separate pass for the input projection or the biases), the candidate's block is
        [recurrent_weights; 0; bias[1]] (its input part is not multiplied by r_t). And the
        candidate's input kernel [weights_h; bias[0]_h], (features + use_bias, units).
        ``candidate_scale`` = (a factor of the candidate's block of ``stacked``, a factor of
        the candidate's input kernel), for `_infer_sequence`'s folded constants.
        """
        u = self.units
        n_in = self.params["weights"].shape[0]
        width = u + n_in + self.use_bias
        kernel = self.params["weights"].reshape(n_in, 3, u).transpose(1, 0, 2)
        stacked = np.zeros((3, width, u), dtype)
        stacked[:, :u] = self.params["recurrent_weights"].reshape(u, 3, u).transpose(1, 0, 2)
        stacked[:2, u : u + n_in] = kernel[:2]
        cand_kernel = np.empty((n_in + self.use_bias, u), dtype)
        cand_kernel[:n_in] = kernel[2]
        if self.use_bias:
            bias = self.params["bias"].reshape(2, 3, u)
            stacked[:2, -1] = bias[0, :2] + bias[1, :2]
            stacked[2, -1] = bias[1, 2]
            cand_kernel[n_in] = bias[0, 2]
        # sigma(a) = s * tanh(k * a) + c (sigmoid: k = s = c = 1/2): k folded into the z and r
        # blocks, so sigma is a tanh pass, a scale and a shift (pre then holds k * a)
        if self.recurrent_activation.tanh_form is not None:
            stacked[:2] *= dtype.type(self.recurrent_activation.tanh_form[0])
        block_scale, input_scale = candidate_scale
        if block_scale != 1:
            stacked[2] *= dtype.type(block_scale)
        if input_scale != 1:
            cand_kernel *= dtype.type(input_scale)
        return stacked, cand_kernel

    def _run(self, xs: np.ndarray, states: list[np.ndarray], keep: bool) -> np.ndarray:
        """The recurrence, gate-major: every gate of a step is one contiguous (batch, units)
        block. Returns [h_t, x_{t+1}, 1] for t = 0..T (`_stack_inputs`).

        Per step, hx[t] @ stacked is one (3, batch, units) product written into
        ``steps[t, :3]``: the z and r pre-activations and rh_t (the candidate's recurrent
        part). ``steps[t]`` then holds z_t, r_t, rh_t and hh_t, what backward reads; with
        ``keep`` False (inference) it has one step, reused, and nothing else is kept.
        """
        n_steps, batch, _ = xs.shape
        u, dtype = self.units, xs.dtype
        sigma, act = self.recurrent_activation, self.activation
        hx = self._stack_inputs(xs, states[0])
        stacked, cand_in = self.stacked, self.cand_in
        steps = np.empty((n_steps if keep else 1, 4, batch, u), dtype)  # z, r, rh, hh
        keep_z = keep and needs_preactivation(self.activation, self.recurrent_activation)
        pre = np.empty((n_steps, 3, batch, u), dtype) if keep_z else None  # z, r, hh
        mask = self.recurrent_mask if keep else None
        tmp = np.empty((batch, u), dtype)
        for t in range(n_steps):
            z, r, rh, hh = step = steps[t if keep else 0]
            inputs = hx[t]
            if mask is not None:
                inputs = inputs.copy()
                inputs[:, :u] *= mask
            np.matmul(inputs, stacked, out=step[:3])
            zr = step[:2]
            if pre is not None:
                pre[t, :2] = zr
            if sigma.tanh_form is None:
                sigma.forward_into(zr, zr)
            else:
                np.tanh(zr, out=zr)
                zr *= sigma.tanh_form[1]
                zr += sigma.tanh_form[2]
            np.multiply(r, rh, out=hh)  # r_t * (h_{t-1} @ recurrent_weights + bias[1])
            hh += cand_in[t]
            if pre is not None:
                pre[t, 2] = hh
            act.forward_into(hh, hh)
            # h_t = hh + z * (h_{t-1} - hh)
            h_prev, h_t = hx[t, :, :u], hx[t + 1, :, :u]
            np.subtract(h_prev, hh, out=tmp)
            tmp *= z
            np.add(hh, tmp, out=h_t)
            if self.skip is not None:  # masked steps carry the state over
                np.copyto(h_t, h_prev, where=self.skip[t])
        self.stacked = self.cand_in = None
        if keep:
            self.hx, self.steps, self.pre = hx, steps, pre
        return hx

    def _backward_sequence(self, grad_seq, grad_last):
        n_steps, _, batch, u = self.steps.shape
        self.dq = np.empty((n_steps, batch, 3 * u), self.steps.dtype)  # d(h_{t-1} @ R + b[1])
        self.dhh = np.empty((n_steps, batch, u), self.steps.dtype)  # d(candidate pre-act.)
        self.dh, self.grad_seq = grad_last[0].copy(), grad_seq
        run_rows(self._backward_rows, batch, self._work_per_row())
        flat_q = self.dq.reshape(n_steps * batch, 3 * u)
        flat_x = self.xs.reshape(n_steps * batch, -1)
        flat_hh = self.dhh.reshape(n_steps * batch, u)
        n_in = flat_x.shape[1]
        inputs = self.hx[:-1]  # [h_{t-1}, x_t, 1], what each step's matmul read
        if self.recurrent_mask is not None:
            inputs = inputs.copy()
            inputs[..., :u] *= self.recurrent_mask
        inputs = inputs.reshape(n_steps * batch, -1)
        # one matmul over the stacked inputs of all steps: its rows h give
        # grad_recurrent_weights, its rows x the z and r columns of grad_weights (dz and dr are
        # also the gradients of x_t's z and r parts), its row 1 grad_bias[1] (= grad_bias[0] for
        # z and r); the x rows' candidate columns are not used (x does not reach rh)
        grads = np.empty((inputs.shape[1], 3 * u), flat_q.dtype)
        split_matmul(inputs.T, flat_q, grads)
        self.grads["recurrent_weights"] = grads[:u]
        weights = self.params["weights"]
        grad_w = np.empty_like(weights)
        grad_w[:, : 2 * u] = grads[u : u + n_in, : 2 * u]
        grad_w[:, 2 * u :] = flat_x.T @ flat_hh
        self.grads["weights"] = grad_w
        if self.use_bias:
            grad_b = np.empty_like(self.params["bias"])
            grad_b[1] = grads[u + n_in]
            grad_b[0, : 2 * u] = grad_b[1, : 2 * u]
            grad_b[0, 2 * u :] = flat_hh.sum(axis=0)
            self.grads["bias"] = grad_b
        grad_xs = flat_q[:, : 2 * u] @ weights[:, : 2 * u].T
        grad_xs += flat_hh @ weights[:, 2 * u :].T
        dh = self.dh
        self.hx = self.steps = self.pre = self.dq = self.dhh = None
        self.dh = self.grad_seq = None
        return grad_xs.reshape(n_steps, batch, -1), [dh]

    def _backward_rows(self, lo: int, hi: int) -> None:
        """Backpropagation through time for the sequences lo:hi of the batch (one thread)."""
        u = self.units
        steps, h = self.steps[:, :, lo:hi], self.hx[:, lo:hi, :u]
        dq, dhh, dh = self.dq[:, lo:hi], self.dhh[:, lo:hi], self.dh[lo:hi]
        pre = None if self.pre is None else self.pre[:, :, lo:hi]
        grad_seq = None if self.grad_seq is None else self.grad_seq[:, lo:hi]
        recurrent_t = np.ascontiguousarray(self.params["recurrent_weights"].T)
        sigma, act = self.recurrent_activation, self.activation
        tmp = np.empty((hi - lo, u), dtype=steps.dtype)
        rec = np.empty((hi - lo, u), dtype=steps.dtype)
        scratch = np.empty((2, hi - lo, u), dtype=steps.dtype)
        # dz, dr, drh of one step gate-major: every pass on a contiguous block (on the
        # row-strided gate columns of dq_t NumPy's passes take about twice as long), then
        # one copy into dq_t, batch-major for the step's matmul and the weight gradients
        grads = np.empty((3, hi - lo, u), dtype=steps.dtype)
        dz, dr, drh = grads
        mask = None if self.recurrent_mask is None else self.recurrent_mask[lo:hi]
        skip = None if self.skip is None else self.skip[:, lo:hi]
        for t in range(steps.shape[0] - 1, -1, -1):
            if grad_seq is not None:
                dh += grad_seq[t]
            if skip is not None:  # a masked step passes dh on to h_{t-1} unchanged
                carried = np.where(skip[t], dh, 0)
                np.copyto(dh, 0, where=skip[t])
            z, r, rh, cand = steps[t]
            np.subtract(h[t], cand, out=dz)
            dz *= dh  # dz before sigma'
            np.subtract(1, z, out=tmp)
            tmp *= dh
            act.backward_into(None if pre is None else pre[t, 2], cand, tmp, dhh[t])
            np.multiply(dhh[t], rh, out=dr)  # dr before sigma'
            np.multiply(dhh[t], r, out=drh)
            zr_pre = None if pre is None else pre[t, :2]
            sigma.backward_into(zr_pre, steps[t, :2], grads[:2], grads[:2], scratch)
            dq[t].reshape(hi - lo, 3, u)[...] = grads.transpose(1, 0, 2)
            dh *= z
            np.matmul(dq[t], recurrent_t, out=rec)
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
