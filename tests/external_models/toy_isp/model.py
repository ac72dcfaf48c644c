"""toy_isp: a model folder that lives outside the camkit package (tests/external_models/), with
the same contract as the built-ins: SPEC, VARIANTS, build(), card.yaml beside it. The tests
export, check, profile and report it from a copy in a temporary folder, by path, through
CAMKIT_MODEL_PATH and through the Python API."""

from __future__ import annotations

import torch
from torch import nn

from toolkit.checkpoints import load_weights
from toolkit.spec import ModelSpec, TensorSpec

from .blocks import ConvReLU

VARIANTS = {"tiny": {"width": 8}, "mobile": {"width": 16}}


class ToyIsp(nn.Module):
    """A residual colour/detail tweak: two 3x3 conv+ReLU and a 3x3 conv to a residual."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvReLU(3, width), ConvReLU(width, width))
        self.tail = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image + 0.1 * torch.tanh(self.tail(self.body(image)))


SPEC = ModelSpec(
    model_id="toy_isp",
    task="enhance",
    title="toy ISP (an external model folder, for tests)",
    paper="none (tests)",
    inputs=(TensorSpec("image", 3),),
    outputs=(TensorSpec("enhanced", 3),),
    variants=tuple(VARIANTS),
    default_variant="mobile",
    default_size={"tiny": (32, 32), "mobile": (64, 64)},
)


def build(variant: str, checkpoint=None) -> ToyIsp:
    net = ToyIsp(**VARIANTS[variant])
    if checkpoint is not None:
        load_weights(net, checkpoint, SPEC.model_id, variant)
    return net.eval()
