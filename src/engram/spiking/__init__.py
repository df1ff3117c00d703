"""Spiking neurons and networks, and the synchrony of their spike trains.

- `neurons`: Poisson spike trains, the single LIF neuron, and the spike rule (threshold,
  reset, refractory hold) the clock-driven simulators share.
- `measures`: phase locking, the spike-phase order parameter, spike-count correlation,
  SPIKE-synchronization, CV of inter-spike intervals, Golomb's chi.
- `networks`: sparse E/I networks of leaky integrate-and-fire neurons (Brunel 2000; PING).
- `surrogate`: LIF layers trained by backpropagation through time with surrogate gradients.

The STDP competition of Song, Miller & Abbott (plasticity) lives in `engram.memory.stdp`.
"""
