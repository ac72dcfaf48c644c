"""Exponential moving average of a network's weights (``train.ema_decay``).

After every training step ``ema = decay * ema + (1 - decay) * weights`` for each floating-point
parameter and buffer (integer buffers, e.g. BatchNorm's batch count, are copied). The average
starts as a copy of the untrained network. Validation and the exported checkpoint use it; the raw
weights keep training (and are what the optimizer state belongs to).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(net).eval()
        self.module.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        mine, theirs = self.module.state_dict(), net.state_dict()
        for key, value in theirs.items():
            if value.is_floating_point():
                mine[key].lerp_(value.detach(), 1.0 - self.decay)
            else:
                mine[key].copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
