"""Neural synchrony: oscillators that lock and communication through coherence.

- `kuramoto`: the Kuramoto model, a vectorised integrator and its mean-field theory.
- `coherence`: communication through coherence (Fries 2005): a receiver driven by two
  oscillating senders.
"""
