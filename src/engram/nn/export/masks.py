"""Where masks flow in an exported graph: the one walk both exporters share.

engram's graph gives a tensor a (batch, time) mask when a layer makes one from its input
(``Embedding(mask_zero=True)``: ``x != 0``; ``Masking``: ``any(x != mask_value)`` over the
features) and passes it on through the layers whose ``mask_flow`` says so (Dense, Dropout,
Activation, and the recurrent layers and Bidirectional with ``return_sequences``, unchanged). The
recurrent layers and Bidirectional read it: a masked step keeps the states (h, and the LSTM's
c) and its output repeats the previous output (zeros at masked steps inside Bidirectional, whose
layers set ``zero_output_for_mask``, and zeros before the first unmasked step).

`mask_plan` walks a model's graph once in the graph's order and says, per node, whether the
layer reads its input's mask and how its output's mask is made, so the exported graph computes
the masks from the inputs as engram does, with no mask passed in.
"""

from __future__ import annotations

from typing import Any

#: how a layer makes a mask: ("tokens", 0.0) is ``x != 0`` of integer indices (Embedding),
#: ("features", v) is ``any(x != v)`` over the last axis (Masking)
MaskRule = tuple[str, float]
#: the output's mask is its input's, passed on
PASS = "pass"


def mask_rule(layer: Any) -> MaskRule | None:
    """How ``layer`` makes a mask from its input, or None if it makes none."""
    from engram.nn.layers import Embedding, Masking

    if isinstance(layer, Embedding) and layer.mask_zero:
        return ("tokens", 0.0)
    if isinstance(layer, Masking):
        return ("features", layer.mask_value)
    return None


def mask_plan(graph: Any) -> dict[int, tuple[bool, MaskRule | str | None]]:
    """``id(node) -> (reads the input's mask, the output's mask: a rule, PASS, or None)`` for
    every node that reads or gives a mask; nodes with neither are left out (an empty plan: the
    model has no masks)."""
    masked: set[int] = set()
    plan: dict[int, tuple[bool, MaskRule | str | None]] = {}
    for node in graph.nodes:
        flow = getattr(node.layer, "mask_flow", None)
        if flow is None:  # a nested model: the graph refuses a mask reaching one
            continue
        input_masked = any(id(t) in masked for t in node.inputs)
        reads = input_masked and bool(getattr(node.layer, "uses_mask", False))
        made: MaskRule | str | None = None
        if flow(input_masked):
            made = mask_rule(node.layer) or PASS
            masked.update(id(t) for t in node.outputs)
        if reads or made is not None:
            plan[id(node)] = (reads, made)
    return plan
