"""Communication through coherence: the sender in phase with the receiver's excitability wins."""

import numpy as np
import pytest

from engram.synchrony.coherence import CoherenceSettings, communication_through_coherence


def test_transfer_follows_the_phase_relation():
    res = communication_through_coherence([0.0, np.pi], 1500.0, n_receivers=50, seed=0)
    # offset 0: A's volleys arrive in the receiver's excitable phase, B's in the inhibited one
    assert res.transfer_a[0] > res.transfer_b[0] + 0.05
    assert res.transfer_b[1] > res.transfer_a[1] + 0.05
    # symmetric roles: swapping the phases swaps the transfers (same signals, up to spike noise)
    assert res.transfer_a[0] == pytest.approx(res.transfer_b[1], abs=0.1)


def test_without_a_receiver_rhythm_phase_does_not_matter():
    flat = CoherenceSettings(excitability=0.0, bias=12.0)
    res = communication_through_coherence([0.0, np.pi], 1000.0, n_receivers=200, seed=0,
                                          settings=flat)  # fmt: skip
    # the two offsets differ only in spike noise (averaged down by 200 receivers) and in where
    # the signals fall within a cycle (averaged out by bins of one cycle)
    assert abs(res.transfer_a[0] - res.transfer_a[1]) < 0.05
    rhythmic = communication_through_coherence([0.0, np.pi], 1000.0, n_receivers=200, seed=0)
    assert rhythmic.transfer_a[0] - rhythmic.transfer_a[1] > 0.2


def test_offsets_as_a_count_spread_over_the_circle():
    res = communication_through_coherence(4, 100.0, n_receivers=5, seed=0)
    np.testing.assert_allclose(res.offsets, [0, np.pi / 2, np.pi, 3 * np.pi / 2])
    assert res.transfer_a.shape == (4,) and np.isfinite(res.receiver_rate).all()
