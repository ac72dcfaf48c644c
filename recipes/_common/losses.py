"""Losses for restoration recipes: (prediction, target) NCHW tensors -> scalar tensor."""

from __future__ import annotations

import torch


def l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, the CSRNet paper's loss (section 4.1)."""
    return (prediction - target).abs().mean()
