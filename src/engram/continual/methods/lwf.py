"""Learning without forgetting (LwF): while learning context k, the network also matches, on the
new context's own inputs, the softened outputs that its copy from the end of context k-1 gives
for the earlier contexts' output units (knowledge distillation; no old data is kept).

Math:
    L = (1/(k+1)) L_current(x) + (k/(k+1)) L_distill(x)
    L_distill = T^2 CE(softmax(z_old(x) / T), softmax(z(x) / T)): the teacher's softmax over
        earlier contexts' units (task: each earlier head separately, averaged; domain: all
        units; class: the classes of contexts 0 .. k-1), the student's over the units active
        now (class: those of contexts 0 .. k; the targets 0 on context k's), as in van de Ven
        & Tolias's code.   T = 2.

Reference:
    Li & Hoiem (2017), "Learning without Forgetting", IEEE TPAMI 40(12); van de Ven & Tolias
    (2019) for the weighting and the temperature.
"""

from __future__ import annotations

import numpy as np

from engram.continual.learner import Term
from engram.continual.methods.base import Method, replay_weights
from engram.validation import check_positive


def distillation_term(learner, teacher, x, k: int, weight: float, temperature: float) -> Term:
    """The teacher's softened outputs on ``x`` over the units of contexts 0 .. k-1, as one loss
    term (one copy of ``x`` per distinct output mask: each earlier head in the task scenario).

    The student's softmax runs over the units a sample of that context has now, at context k
    (class scenario: the new context's classes too), the teacher's targets being 0 on units it
    did not have, as van de Ven & Tolias's ``loss_fn_kd`` pads them with zeros: so the new
    classes' outputs are pushed down on old-looking inputs (without it, generative replay in
    the class scenario ended where fine-tuning did)."""
    scenario, stream = learner.scenario, learner.stream
    pairs = np.unique(
        np.stack(
            [np.stack([scenario.mask(stream, m, k - 1), scenario.mask(stream, m, k)])
             for m in range(k)]
        ),
        axis=0,
    )  # fmt: skip
    teacher_logits = teacher.forward(x)
    xs = np.concatenate([x] * len(pairs))
    n = len(x)
    soft = np.concatenate(
        [
            learner.soft_targets(
                teacher_logits, np.tile(old, (n, 1)), temperature, np.tile(now, (n, 1))
            )
            for old, now in pairs
        ]
    )
    return Term(xs, soft, weight, temperature)


class LwF(Method):
    name = "lwf"

    def __init__(self, temperature: float = 2.0):
        self.temperature = float(check_positive(temperature, "temperature"))
        self.teacher = None

    def end_context(self, learner, k):
        self.teacher = learner.snapshot()

    def terms(self, learner, k, x, targets):
        if k == 0:
            return [Term(x, targets)]
        w_now, w_old = replay_weights(k)
        old = distillation_term(learner, self.teacher, x, k, w_old, self.temperature)
        return [Term(x, targets, w_now), old]

    def info(self):
        return {"temperature": self.temperature}
