"""Multiply-accumulates of a model from its modules, on the meta device (shapes only, no memory).

``camkit list --macs`` prints them per variant at one size; the static op report
(``camkit profile static``) counts the same thing from an exported graph, so the two check
each other. Counted: Conv2d, ConvTranspose2d and Linear (weights x output positions); norms,
activations, resizes and elementwise ops are not MACs; functional convs count too.
"""

from __future__ import annotations

import torch
from torch import nn


def _meta_input(channels, height_px: int, width_px: int) -> torch.Tensor:
    """A meta input: ``channels`` at the frame's size, or a (channels, height, width) tuple for
    an input of its own size (a split's thumbnail or statistics vector)."""
    if isinstance(channels, tuple):
        return torch.zeros(1, *channels, device="meta")
    return torch.zeros(1, channels, height_px, width_px, device="meta")


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
        net(*(_meta_input(c, height_px, width_px) for c in per_input))
    return counter.get_total_flops() // 2


def forward_peak_bytes(
    net: nn.Module, channels: int | tuple[int, ...], height_px: int, width_px: int
) -> int:
    """Peak bytes of tensors alive at once during one (1, channels, H, W) float32 forward of
    ``net`` under no_grad, the input included: counted on the meta device (nothing is
    allocated), so it answers for sizes that would not fit. Views and in-place results share
    their base's memory and are not counted again."""
    import copy
    import weakref

    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class LiveBytes(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.live = self.peak = 0

        def add(self, t: torch.Tensor) -> None:
            size = t.numel() * t.element_size()
            self.live += size
            self.peak = max(self.peak, self.live)
            weakref.finalize(t, self.free, size)

        def free(self, size: int) -> None:
            self.live -= size

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            inputs = {id(a) for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)}
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor) and id(t) not in inputs and not t._is_view():
                    self.add(t)
            return out

    net = copy.deepcopy(net).to("meta").eval()
    per_input = channels if isinstance(channels, tuple) else (channels,)
    mode = LiveBytes()
    with torch.no_grad(), mode:
        feeds = [_meta_input(c, height_px, width_px) for c in per_input]
        out = net(*feeds)
        del feeds, out
    return mode.peak


def macs_by_module(net: nn.Module, shapes: list[tuple[int, ...]]) -> tuple[dict[str, int], int]:
    """({module path: MACs of its own convs and linears}, total MACs) of one forward of ``net``
    on inputs of ``shapes``, on the meta device. The total also counts functional convs (an
    in-graph edge operator), which belong to no module."""
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    net = copy.deepcopy(net).to("meta").eval()
    per_module: dict[str, int] = {}

    def hook(name: str):
        def count(module: nn.Module, inputs, output) -> None:
            x = inputs[0]
            if isinstance(module, nn.Linear):
                macs = output.numel() * module.in_features
            elif isinstance(module, nn.ConvTranspose2d):
                k = module.kernel_size[0] * module.kernel_size[1]
                macs = x.numel() * module.out_channels // module.groups * k
            else:  # Conv2d
                k = module.kernel_size[0] * module.kernel_size[1]
                macs = output.numel() * module.in_channels // module.groups * k
            per_module[name] = per_module.get(name, 0) + int(macs)
        return count

    handles = [m.register_forward_hook(hook(name)) for name, m in net.named_modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(*(torch.zeros(s, device="meta") for s in shapes))
    finally:
        for h in handles:
            h.remove()
    return per_module, counter.get_total_flops() // 2


def float_mac_share(net: nn.Module, shapes: list[tuple[int, ...]],
                    float_layers: list[str]) -> dict:
    """How much of the arithmetic stays float when the layer ids ``float_layers``
    (toolkit/quantization/layers.py: module paths, ``<path>/<node>``, ``<path>/*``) are kept
    float: {"float_macs", "total_macs", "share"} for the manifest's precision scheme."""
    from toolkit.quantization.layers import selects, strip_wrappers

    per_module, total = macs_by_module(net, shapes)
    floats = sum(macs for path, macs in per_module.items()
                 if any(selects(wanted, strip_wrappers(path)) for wanted in float_layers))
    return {"float_macs": floats, "total_macs": total,
            "share": round(floats / total, 6) if total else 0.0}
