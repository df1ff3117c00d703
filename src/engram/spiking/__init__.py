"""Spiking neurons and networks, and the synchrony of their spike trains.

- `measures`: phase locking, the spike-phase order parameter, spike-count correlation,
  SPIKE-synchronization, CV of inter-spike intervals, Golomb's chi.
- `networks`: sparse E/I networks of leaky integrate-and-fire neurons (Brunel 2000; PING).
- `surrogate`: LIF layers trained by backpropagation through time with surrogate gradients.

The single LIF neuron, Poisson trains and STDP competition live in `engram.memory.spiking`.
"""
