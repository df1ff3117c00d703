"""Motor cortex and recurrent dynamics: the reaching task, population analyses, fixed points.

* `tasks`: `ReachTask` (delayed center-out reaching, minimum-jerk targets) and `FlipFlopTask`.
* `analysis`: `pca`, `soft_normalize`, `jpca` (Churchland et al. 2012) and
  `jpca_surrogate_test`, `condition_average`; pure functions on (conditions, time, neurons).
* `fixed_points`: `find_fixed_points` (Sussillo & Barak 2013) and map builders for tanh RNNs
  and continuous-time rate networks.
"""

from engram.motor.analysis import (
    SURROGATE_METHODS,
    JPCAResult,
    PCAResult,
    SurrogateResult,
    condition_average,
    jpca,
    jpca_surrogate_test,
    pca,
    soft_normalize,
)
from engram.motor.fixed_points import (
    FixedPoints,
    RecurrentMap,
    find_fixed_points,
    finite_difference_jacobian,
    rate_rnn_map,
    tanh_rnn_map,
)
from engram.motor.flipflop import FlipFlopTask
from engram.motor.tasks import DEFAULT_REACH_TIMING, ReachTask, minimum_jerk

__all__ = [
    "DEFAULT_REACH_TIMING",
    "SURROGATE_METHODS",
    "FixedPoints",
    "FlipFlopTask",
    "JPCAResult",
    "PCAResult",
    "ReachTask",
    "RecurrentMap",
    "SurrogateResult",
    "condition_average",
    "find_fixed_points",
    "finite_difference_jacobian",
    "jpca",
    "jpca_surrogate_test",
    "minimum_jerk",
    "pca",
    "rate_rnn_map",
    "soft_normalize",
    "tanh_rnn_map",
]

# The continuous-time rate network (a layer of engram.nn) and its regularized training step
from engram.motor.rate_network import RATE_ACTIVATIONS, RateRNN, rate_activation  # noqa: E402
from engram.motor.training import fit_task, masked_mse, train_step  # noqa: E402

__all__ += [
    "RATE_ACTIVATIONS",
    "RateRNN",
    "fit_task",
    "masked_mse",
    "rate_activation",
    "train_step",
]
