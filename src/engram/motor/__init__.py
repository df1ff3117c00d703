"""Motor cortex and recurrent dynamics: tasks, a rate network, population analyses, fixed points.

* `tasks`: `ReachTask` (delayed center-out reaching, minimum-jerk targets) and `minimum_jerk`.
* `flipflop`: `FlipFlopTask`, the n-bit flip-flop of Sussillo & Barak 2013.
* `rate_network`: `RateRNN`, the continuous-time rate network as a layer of engram.nn, with
  hand-written BPTT, `simulate` and the `recurrent_map` the fixed-point finder needs.
* `training`: `fit_task` and `train_step` (masked MSE plus L2 penalties on rates and weights,
  Sussillo et al. 2015), and `masked_mse`.
* `analysis`: `pca`, `soft_normalize`, `jpca` (Churchland et al. 2012) and
  `condition_average`; pure functions on (conditions, time, neurons).
* `surrogates`: `jpca_surrogate_test` (tensor-normal surrogates after Elsayed & Cunningham
  2017, condition shuffles, and the covariance-matched permutation test of Michaels, Dann &
  Scherberger 2016): are the rotations more than simpler structure implies?
* `fixed_points`: `find_fixed_points` (Sussillo & Barak 2013) and map builders for tanh RNNs
  and continuous-time rate networks.
"""

from engram.motor.analysis import (
    JPCAResult,
    PCAResult,
    condition_average,
    jpca,
    pca,
    soft_normalize,
)
from engram.motor.fixed_points import (
    FixedPoints,
    RecurrentMap,
    find_fixed_points,
    finite_difference_jacobian,
    rate_rnn_map,
    speed_of_euler_q,
    tanh_rnn_map,
)
from engram.motor.flipflop import FlipFlopTask
from engram.motor.rate_network import RATE_ACTIVATIONS, RateRNN, rate_activation
from engram.motor.surrogates import SURROGATE_METHODS, SurrogateResult, jpca_surrogate_test
from engram.motor.tasks import DEFAULT_REACH_TIMING, ReachTask, minimum_jerk
from engram.motor.training import fit_task, masked_mse, train_step

__all__ = [
    "DEFAULT_REACH_TIMING",
    "RATE_ACTIVATIONS",
    "SURROGATE_METHODS",
    "FixedPoints",
    "FlipFlopTask",
    "JPCAResult",
    "PCAResult",
    "RateRNN",
    "ReachTask",
    "RecurrentMap",
    "SurrogateResult",
    "condition_average",
    "find_fixed_points",
    "finite_difference_jacobian",
    "fit_task",
    "jpca",
    "jpca_surrogate_test",
    "masked_mse",
    "minimum_jerk",
    "pca",
    "rate_activation",
    "rate_rnn_map",
    "soft_normalize",
    "speed_of_euler_q",
    "tanh_rnn_map",
    "train_step",
]
