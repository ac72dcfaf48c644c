"""Multiply-accumulates of a model from its modules, on the meta device (shapes only, no memory).

``camkit list --macs`` prints them per variant at one size; the static op report
(``camkit profile run --static``) counts the same thing from an exported graph, so the two check
each other. Counted: Conv2d, ConvTranspose2d and Linear (weights x output positions); norms,
activations, resizes and elementwise ops are not MACs; functional convs count too.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_linear_macs(
    net: nn.Module, channels: int | tuple[int, ...], height_px: int, width_px: int
) -> int:
    """MACs of one (1, channels, height_px, width_px) frame through ``net`` (a copy on meta);
    a tuple of channel counts feeds one tensor per input (e.g. image and mask).

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` (convolutions, transposed ones and
    matrix products, 2 FLOPs per MAC), so functional convs with fixed kernels (an in-graph edge
    operator) count as the exported graph's Conv nodes do; equal to the per-module count of
    Conv2d/ConvTranspose2d/Linear for every model without such convs."""
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    net = copy.deepcopy(net).to("meta").eval()
    per_input = channels if isinstance(channels, tuple) else (channels,)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(*(torch.zeros(1, c, height_px, width_px, device="meta") for c in per_input))
    return counter.get_total_flops() // 2
