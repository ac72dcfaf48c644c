"""Multiply-accumulates of a model from its modules, on the meta device (shapes only, no memory).

``camkit list --macs`` prints them per variant at one size; the static op report
(``camkit profile run --static``) counts the same thing from an exported graph, so the two check
each other. Counted: Conv2d, ConvTranspose2d and Linear (weights x output positions); norms,
activations, resizes and elementwise ops are not MACs.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_linear_macs(
    net: nn.Module, channels: int | tuple[int, ...], height_px: int, width_px: int
) -> int:
    """MACs of one (1, channels, height_px, width_px) frame through ``net`` (a copy on meta);
    a tuple of channel counts feeds one tensor per input (e.g. image and mask)."""
    import copy

    net = copy.deepcopy(net).to("meta").eval()
    total = 0

    def count(module: nn.Module, inputs, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += output.numel() * module.in_features
        elif isinstance(module, nn.ConvTranspose2d):
            kh, kw = module.kernel_size
            total += inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
        else:
            kh, kw = module.kernel_size
            total += output.numel() * (module.in_channels // module.groups) * kh * kw

    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            per_input = channels if isinstance(channels, tuple) else (channels,)
            net(*(torch.zeros(1, c, height_px, width_px, device="meta") for c in per_input))
    finally:
        for hook in hooks:
            hook.remove()
    return total
