"""Export-friendly layers shared by the models.

Every block here traces under ``torch.export`` with dynamic height and width, uses no in-place
ops (converters dislike them) and keeps NCHW inside torch.
"""

from __future__ import annotations

import torch
from torch import nn


def global_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over height and width, (N, C, H, W) -> (N, C). Works for any input size."""
    return x.mean(dim=(2, 3))


class GlobalFeatureModulation(nn.Module):
    """Per-channel affine from a condition vector: ``x * (1 + scale(c)) + shift(c)``.

    This is the GFM layer of CSRNet; ``scale`` and ``shift`` are named so that the official
    checkpoints map on by key (``cond_scaleN`` / ``cond_shiftN`` live in the parent).
    """

    @staticmethod
    def apply(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        n, c = scale.shape
        return x * (1.0 + scale.reshape(n, c, 1, 1)) + shift.reshape(n, c, 1, 1)


class InstanceNorm(nn.Module):
    """Affine instance norm, ``(x - mean) / sqrt(var + eps) * scale + shift`` per image and channel.

    Mean and biased variance over height and width with ``Tensor.mean`` (no ``instance_norm``
    op, which ONNX, LiteRT and Core ML converters lower unevenly, and no running statistics), so
    it traces under ``torch.export`` with dynamic height and width. ``eps`` defaults to 1e-3,
    DPED's ``_instance_norm`` (PyTorch's ``InstanceNorm2d`` uses 1e-5).
    """

    def __init__(self, channels: int, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(channels))
        self.shift = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=(2, 3), keepdim=True)
        var = (centred * centred).mean(dim=(2, 3), keepdim=True)
        c = self.scale.shape[0]
        return centred * torch.rsqrt(var + self.eps) * self.scale.reshape(1, c, 1, 1) + (
            self.shift.reshape(1, c, 1, 1)
        )
