"""Spiking layers trained by backpropagation through time with a surrogate gradient.

A spike is a step function of the membrane potential, whose derivative is zero almost everywhere;
training replaces it, in the backward pass only, by a smooth surrogate (SuperSpike's fast
sigmoid derivative). The forward pass stays a true spiking network. Every backward is written by
hand, step by step through time, and checked against PyTorch autograd on the same forward
(tests/spiking/test_surrogate.py).

The model is the one of Zenke's SpyTorch tutorial 2: latency-coded inputs, one hidden layer of
current-based LIF neurons, a non-spiking leaky readout whose maximum over time gives the logits.

Reference:
    Neftci, Mostafa & Zenke (2019), "Surrogate gradient learning in spiking neural networks",
    IEEE Signal Process Mag 36:51. Zenke & Ganguli (2018), "SuperSpike", Neural Comput 30:1514.
    Zenke, SpyTorch tutorials (github.com/fzenke/spytorch), tutorial 2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.functional import softmax_cross_entropy
from engram.validation import Seed, as_rng, check_array, check_positive


def spike(v: np.ndarray) -> np.ndarray:
    """Heaviside step: 1 where v > 0 (the threshold is subtracted before)."""
    return (v > 0).astype(v.dtype)


def superspike_grad(v: np.ndarray, scale: float = 100.0) -> np.ndarray:
    """The surrogate derivative of `spike`: 1 / (scale |v| + 1)^2 (a fast sigmoid's slope)."""
    return 1.0 / (scale * np.abs(v) + 1.0) ** 2


def _inverse_superspike_grad(v: np.ndarray, scale: float) -> np.ndarray:
    """(scale |v| + 1)^2 = 1 / `superspike_grad`, computed in place in ``v`` (no temporaries)."""
    np.abs(v, out=v)
    v *= scale
    v += 1.0
    return np.square(v, out=v)


def latency_encode(
    images: Any, steps: int = 100, tau_eff: float = 20.0, threshold: float = 0.2,
    dt: float = 1.0, sparse: bool = False,
) -> np.ndarray | SparseSpikes:  # fmt: skip
    """Each pixel fires one spike, earlier for brighter pixels (none below ``threshold``).

    Math:
        t(x) = tau_eff ln(x / (x - threshold)) for x > threshold (an LIF neuron's first-spike
        time under constant input x), else no spike; spike at step round(t / dt) if < steps.

    Args:
        images: (batch, features) intensities scaled to [0, 1].
        steps: number of time steps.
        sparse: return a `SparseSpikes` (about 1% of a latency code's entries are spikes, and
            the LIF layer's input projection then costs a sparse product instead of a GEMM).

    Returns:
        (batch, steps, features) float32 spikes, dense or as `SparseSpikes`.
    """
    x = check_array(images, "images", ndim=2, dtype=np.float64)
    check_positive(steps, "steps", integer=True)
    if x.min() < 0 or x.max() > 1:
        raise ValueError(
            f"images must be scaled to [0, 1]; got values in [{x.min():g}, {x.max():g}]. "
            "Divide by the maximum (255 for 8-bit images)."
        )
    fires = x > threshold
    t = np.full(x.shape, np.inf)
    t[fires] = tau_eff * np.log(x[fires] / (x[fires] - threshold))
    k = np.round(t / dt)
    b, f = np.nonzero(k < steps)
    step = k[b, f].astype(np.int64)
    shape = (x.shape[0], steps, x.shape[1])
    if sparse:
        return SparseSpikes.from_events(b, step, f, shape)
    out = np.zeros(shape, np.float32)
    out[b, step, f] = 1.0
    return out


class SparseSpikes:
    """Spikes (batch, steps, features) held as one time-major sparse matrix.

    ``matrix`` is a SciPy CSR matrix of shape (steps * batch, features) whose row t * batch + b
    holds sample b's input at step t. The two products a layer needs with its input become
    sparse products with the same formulas as the dense ones:
        current   = matrix @ weights          (steps * batch, units), already time-major
        grad_w    = matrix.T @ grad_current   (features, units)

    Args:
        matrix: (steps * batch, features) sparse matrix (anything ``scipy.sparse.csr_matrix``
            accepts).
        shape: (batch, steps, features).
    """

    def __init__(self, matrix: Any, shape: tuple[int, int, int]) -> None:
        from scipy import sparse

        batch, steps, features = (int(n) for n in shape)
        self.matrix = sparse.csr_matrix(matrix)
        self.shape = (batch, steps, features)
        if self.matrix.shape != (steps * batch, features):
            raise ValueError(
                f"SparseSpikes matrix must have shape (steps * batch, features) = "
                f"({steps * batch}, {features}) for shape {self.shape}; got {self.matrix.shape}."
            )

    @classmethod
    def from_events(
        cls, batch: np.ndarray, step: np.ndarray, feature: np.ndarray,
        shape: tuple[int, int, int], dtype: Any = np.float32,
    ) -> SparseSpikes:  # fmt: skip
        """One spike (value 1) at each (batch[k], step[k], feature[k])."""
        from scipy import sparse

        rows = np.asarray(step) * shape[0] + np.asarray(batch)
        data = np.ones(len(rows), dtype)
        return cls(sparse.csr_matrix((data, (rows, feature)), (shape[1] * shape[0], shape[2])),
                   shape)  # fmt: skip

    @classmethod
    def from_dense(cls, x: np.ndarray) -> SparseSpikes:
        """(batch, steps, features) array -> SparseSpikes holding the same values."""
        batch, steps, features = x.shape
        return cls(np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(-1, features), x.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.matrix.dtype

    def to_dense(self) -> np.ndarray:
        """The (batch, steps, features) array."""
        batch, steps, features = self.shape
        return self.matrix.toarray().reshape(steps, batch, features).transpose(1, 0, 2)


def _decays(tau_mem: float, tau_syn: float, dt: float) -> tuple[float, float]:
    check_positive(tau_mem, "tau_mem")
    check_positive(tau_syn, "tau_syn")
    return float(np.exp(-dt / tau_syn)), float(np.exp(-dt / tau_mem))


class LIFLayer:
    """A layer of current-based LIF neurons with surrogate-gradient BPTT.

    Math (per step t = 0 .. T-1, syn_0 = mem_0 = 0, threshold 1):
        forward:   I_t = x_t @ weights                         x: (batch, T, in)
                   s_t = H(mem_t - 1)                          spikes: (batch, T, units)
                   syn_{t+1} = alpha syn_t + I_t
                   mem_{t+1} = (beta mem_t + syn_t)(1 - s_t)   (reset not differentiated)
        backward:  from t = T-1 down, with gm_T = gs_T = 0:
                   gm_t = g_s_t sigma'(mem_t - 1) + beta (1 - s_t) gm_{t+1}
                   gs_t = alpha gs_{t+1} + (1 - s_t) gm_{t+1}
                   g_I_t = gs_{t+1}
                   grad_weights = sum_t x_t^T g_I_t;  grad_x_t = g_I_t @ weights^T
        sigma' = `superspike_grad`; alpha = e^{-dt / tau_syn}, beta = e^{-dt / tau_mem}.
    """

    trainable = True

    def __init__(self, units: int, tau_mem: float = 10.0, tau_syn: float = 5.0, dt: float = 1.0,
                 weight_scale: float = 7.0, surrogate_scale: float = 100.0,
                 name: str = "lif") -> None:  # fmt: skip
        self.units, self.tau_mem, self.tau_syn, self.dt = units, tau_mem, tau_syn, dt
        self.weight_scale, self.surrogate_scale, self.name = weight_scale, surrogate_scale, name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def build(self, input_dim: int, seed: Seed = None, dtype: Any = np.float32) -> None:
        """weights ~ N(0, (weight_scale (1 - beta))^2 / input_dim), as SpyTorch."""
        _, beta = _decays(self.tau_mem, self.tau_syn, self.dt)
        std = self.weight_scale * (1 - beta) / np.sqrt(input_dim)
        w = as_rng(seed).normal(0.0, std, (input_dim, self.units))
        self.params = {"weights": w.astype(dtype)}

    def forward(self, x: np.ndarray | SparseSpikes) -> tuple[np.ndarray, np.ndarray]:
        """(batch, T, in) spikes, an array or `SparseSpikes` -> (spikes, membrane), both
        (batch, T, units).

        The loop runs over time-major buffers (T, batch, units), so each step reads and writes
        contiguous memory.
        """
        alpha, beta = _decays(self.tau_mem, self.tau_syn, self.dt)
        current = input_current(x, self.params["weights"])
        steps, batch, _ = current.shape
        syn = np.zeros((batch, self.units), current.dtype)
        mem = np.zeros_like(syn)
        mems = np.empty_like(current)
        spikes = np.empty_like(current)
        for t in range(steps):
            out = spike(mem - 1)
            mems[t], spikes[t] = mem, out
            mem, syn = (beta * mem + syn) * (1 - out), alpha * syn + current[t]
        self._cache = (x, mems, spikes)
        return spikes.transpose(1, 0, 2), mems.transpose(1, 0, 2)

    def backward(self, grad_spikes: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dL/dspikes (batch, T, units) -> dL/dx (None without ``input_grad``); fills grads.

        The reverse loop updates two (batch, units) buffers in place and writes each g_I_t
        straight into its row of one (T, batch, units) buffer; the weight gradient is then one
        product over all steps stacked (a GEMM, or a sparse product for `SparseSpikes`).
        """
        alpha, beta = _decays(self.tau_mem, self.tau_syn, self.dt)
        x, mems, spikes = self._cache
        w = self.params["weights"]
        g_in = grad_spikes.transpose(1, 0, 2).astype(w.dtype, order="C")  # a copy, always
        g_in /= _inverse_superspike_grad(mems - 1, self.surrogate_scale)
        keep = 1 - spikes  # (1 - s_t) for every step at once
        g_current = np.empty_like(mems)  # row t: g_I_t = gs_{t+1}
        g_current[-1] = 0  # gs_T = 0
        gm = np.zeros_like(mems[0])  # gm_{t+1}, gm_T = 0
        kept = np.empty_like(gm)
        for t in range(mems.shape[0] - 1, -1, -1):
            np.multiply(keep[t], gm, out=kept)  # (1 - s_t) gm_{t+1}
            if t > 0:  # gs_t = alpha gs_{t+1} + (1 - s_t) gm_{t+1}, which is g_I_{t-1}
                np.multiply(g_current[t], alpha, out=g_current[t - 1])
                g_current[t - 1] += kept
            np.multiply(kept, beta, out=gm)  # gm_t = g_s_t sigma'_t + beta (1 - s_t) gm_{t+1}
            gm += g_in[t]
        self.grads = {"weights": weight_gradient(x, g_current)}
        if not input_grad:
            return None
        flat = g_current.reshape(-1, self.units) @ w.T
        return flat.reshape(mems.shape[0], -1, w.shape[0]).transpose(1, 0, 2)


class LIReadout:
    """Non-spiking leaky-integrator readout; its trace's maximum over time gives the logits.

    Math (flt_0 = out_0 = 0; the trace has T + 1 entries out_0 .. out_T):
        forward:   h_t = x_t @ weights
                   flt_{t+1} = alpha flt_t + h_t;   out_{t+1} = beta out_t + flt_t
        backward:  adjoint filter in reverse time, with go_k = dL/dout_k:
                   gf_{k-1} += go_k (k >= 1) ... i.e. from k = T down to 1:
                   go_{k-1} += beta go_k;  gf_{k-1} = go_k + alpha gf_k;  g_h_{k-1} = gf_k
                   grad_weights = sum_t x_t^T g_h_t;  grad_x = g_h @ weights^T
    """

    trainable = True

    def __init__(self, units: int, tau_mem: float = 10.0, tau_syn: float = 5.0, dt: float = 1.0,
                 weight_scale: float = 7.0, name: str = "readout") -> None:  # fmt: skip
        self.units, self.tau_mem, self.tau_syn, self.dt = units, tau_mem, tau_syn, dt
        self.weight_scale, self.name = weight_scale, name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    build = LIFLayer.build

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(batch, T, in) -> (batch, T + 1, units) readout trace.

        Runs time-major like `LIFLayer`; the LIF layer's spikes are a view of a time-major
        array, so turning them back costs no copy.
        """
        alpha, beta = _decays(self.tau_mem, self.tau_syn, self.dt)
        w = self.params["weights"]
        x_time_major = np.ascontiguousarray(np.asarray(x).transpose(1, 0, 2), dtype=w.dtype)
        h = _matmul_time(x_time_major, w)  # (T, batch, units)
        steps, batch, _ = h.shape
        flt = np.zeros((batch, self.units), w.dtype)
        trace = np.zeros((steps + 1, batch, self.units), w.dtype)
        for t in range(steps):
            trace[t + 1] = beta * trace[t] + flt
            flt = alpha * flt + h[t]
        self._x = x_time_major
        return trace.transpose(1, 0, 2)

    def backward(self, grad_trace: np.ndarray) -> np.ndarray:
        """dL/dtrace (batch, T + 1, units) -> dL/dx (batch, T, in); fills grads."""
        alpha, beta = _decays(self.tau_mem, self.tau_syn, self.dt)
        w = self.params["weights"]
        g_trace = np.ascontiguousarray(grad_trace.transpose(1, 0, 2), dtype=w.dtype)
        steps = g_trace.shape[0] - 1
        g_h = np.empty((steps, g_trace.shape[1], self.units), w.dtype)
        go = g_trace[steps].copy()
        gf = np.zeros_like(go)  # dL/dflt_{k}, flt_T unused
        for k in range(steps, 0, -1):
            # out_k = beta out_{k-1} + flt_{k-1};  flt_k = alpha flt_{k-1} + h_{k-1}
            g_h[k - 1] = gf
            gf = alpha * gf + go
            go = beta * go + g_trace[k - 1]
        x = self._x.reshape(-1, self._x.shape[-1])
        self.grads = {"weights": x.T @ g_h.reshape(-1, self.units)}
        return _matmul_time(g_h, w.T).transpose(1, 0, 2)


def _matmul_time(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(..., in) @ (in, out) as one 2-D product over all leading axes (a 3-D matmul is a loop
    of small ones)."""
    return (x.reshape(-1, x.shape[-1]) @ w).reshape(*x.shape[:-1], w.shape[-1])


def input_current(x: np.ndarray | SparseSpikes, weights: np.ndarray) -> np.ndarray:
    """I_t = x_t @ weights for every step at once, time-major: (T, batch, units).

    A dense x goes through one GEMM over the stacked steps (the reference); `SparseSpikes`
    through one sparse product, whose rows are already time-major.
    """
    if isinstance(x, SparseSpikes):
        batch, steps, _ = x.shape
        return np.asarray(x.matrix @ weights, dtype=weights.dtype).reshape(steps, batch, -1)
    x_time_major = np.ascontiguousarray(np.asarray(x).transpose(1, 0, 2), dtype=weights.dtype)
    return _matmul_time(x_time_major, weights)


def weight_gradient(x: np.ndarray | SparseSpikes, g_current: np.ndarray) -> np.ndarray:
    """grad_weights = sum_t x_t^T g_I_t, one product over the stacked steps.

    Args:
        x: the layer's (batch, T, in) input, an array or `SparseSpikes`.
        g_current: (T, batch, units) dL/dI, time-major.
    """
    flat = g_current.reshape(-1, g_current.shape[-1])
    if isinstance(x, SparseSpikes):
        return np.asarray(x.matrix.T @ flat, dtype=g_current.dtype)
    x_time_major = np.ascontiguousarray(np.asarray(x).transpose(1, 0, 2), dtype=g_current.dtype)
    return x_time_major.reshape(-1, x_time_major.shape[-1]).T @ flat


def max_over_time(trace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits = max_t trace; returns (logits, argmax index) for the backward."""
    idx = trace.argmax(axis=1)
    return np.take_along_axis(trace, idx[:, None], axis=1)[:, 0], idx


class SpikingClassifier:
    """Latency-coded input -> LIF hidden layer -> leaky readout; max over time -> softmax.

    Math:
        loss = cross-entropy(softmax(max_t out_t), y) + l1 sum(s) + l2 mean_h (sum_{b,t} s)^2
        (the spike-count regularisers of SpyTorch tutorial 2, l1 = l2 = 2e-6).
    """

    def __init__(self, n_inputs: int, hidden: int = 100, classes: int = 10,
                 tau_mem: float = 10.0, tau_syn: float = 5.0, dt: float = 1.0,
                 l1: float = 2e-6, l2: float = 2e-6, seed: Seed = None,
                 dtype: Any = np.float32) -> None:  # fmt: skip
        rng = as_rng(seed)
        self.hidden = LIFLayer(hidden, tau_mem, tau_syn, dt, name="lif")
        self.readout = LIReadout(classes, tau_mem, tau_syn, dt, name="readout")
        self.hidden.build(n_inputs, rng, dtype)
        self.readout.build(hidden, rng, dtype)
        self.l1, self.l2 = l1, l2
        self.layers = [self.hidden, self.readout]

    def forward(self, x: np.ndarray | SparseSpikes) -> dict[str, np.ndarray]:
        spikes, mems = self.hidden.forward(x)
        trace = self.readout.forward(spikes)
        logits, idx = max_over_time(trace)
        return {"spikes": spikes, "membrane": mems, "trace": trace, "logits": logits, "idx": idx}

    def compute_gradients(
        self, x: np.ndarray | SparseSpikes, y: np.ndarray
    ) -> tuple[float, dict[str, Any]]:
        """Loss and every layer's grads (filled in place) for one batch of (batch, T, in)
        spikes, dense or `SparseSpikes` (the same numbers; sparse is faster)."""
        out = self.forward(x)
        loss, g_logits = softmax_cross_entropy(out["logits"], y)
        s = out["spikes"]
        per_neuron = s.sum(axis=(0, 1))
        loss += self.l1 * float(s.sum()) + self.l2 * float(np.mean(per_neuron**2))
        g_trace = np.zeros_like(out["trace"])
        np.put_along_axis(g_trace, out["idx"][:, None], g_logits[:, None], axis=1)
        g_spikes = self.readout.backward(g_trace)
        g_spikes += self.l1 + self.l2 * 2 * per_neuron / per_neuron.size
        self.hidden.backward(g_spikes, input_grad=False)
        return loss, out

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return np.concatenate(
            [self.forward(x[i : i + batch_size])["logits"].argmax(1)
             for i in range(0, len(x), batch_size)]
        )  # fmt: skip
