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
