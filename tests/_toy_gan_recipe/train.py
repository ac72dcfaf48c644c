"""A toy GAN recipe for the engine's tests: tiny CSRNet generator vs a tiny patch discriminator.

The shape of the WESPE / Dense U-Net GAN recipes at toy size: the exported network
``generator`` (a registry model, saved as the camkit checkpoint), a training-only ``critic``, two
optimizer groups, and a step of two phases in this order: the critic learns to tell targets from
the generator's current outputs (with instance noise, so the step draws random numbers), then
the generator minimises L1 + ADV_WEIGHT x non-saturating GAN loss against the updated critic.
During warm-up (``train.gan_start_step``) the critic phase is skipped and the generator
minimises L1 alone. Data: synthetic global retouching of a folder of photos.

Run it (the repo root on PYTHONPATH): ``python tests/_toy_gan_recipe/train.py CONFIG.yaml
[--resume] [--max-steps N]``; the tests call ``run`` directly.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from recipes._common import trainer
from recipes._common.config import as_plain
from recipes._common.trainer import Phase, StepContext
from toolkit.data.datasets import SyntheticRetouch
from toolkit.models.retouch_csrnet import model as csrnet

REPO = Path(__file__).resolve().parents[2]
ADV_WEIGHT = 0.01
INSTANCE_NOISE = 0.05


@dataclass(frozen=True)
class DataConfig:
    photos: Path
    crop_px: int = 32
    val_crop_px: int = 48
    short_side_px: int = 48
    samples_per_epoch: int = 16
    val_samples: int = 4


class Critic(nn.Module):
    """A 3-layer patch discriminator: one logit per 4x4 patch."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    labels = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float())


def critic_loss(ctx: StepContext) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    inputs, targets = ctx.batch
    fake = ctx.nets["generator"](inputs)  # the generator is frozen in this phase: no graph
    critic = ctx.nets["critic"]
    real_loss = _bce(critic(targets + INSTANCE_NOISE * torch.randn_like(targets)), True)
    fake_loss = _bce(critic(fake + INSTANCE_NOISE * torch.randn_like(fake)), False)
    return real_loss + fake_loss, {"d_real": real_loss, "d_fake": fake_loss}


def generator_loss(ctx: StepContext) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    inputs, targets = ctx.batch
    output = ctx.nets["generator"](inputs)
    content = (output - targets).abs().mean()
    if ctx.warmup:
        return content, {"l1": content}
    adversarial = _bce(ctx.nets["critic"](output), True)  # flows through the frozen critic
    return content + ADV_WEIGHT * adversarial, {"l1": content, "adv": adversarial}


def build_datasets(data: DataConfig, seed: int) -> tuple[SyntheticRetouch, SyntheticRetouch]:
    common = {"seed": seed, "short_side_px": data.short_side_px}
    train = SyntheticRetouch(data.photos, data.crop_px, train=True, length=data.samples_per_epoch,
                             **common)
    val = SyntheticRetouch(data.photos, data.val_crop_px, train=False, length=data.val_samples,
                           **common)
    return train, val


def describe_data(data: DataConfig, root: Path) -> dict[str, Any]:
    return {"kind": "photos with synthetic global retouching", **as_plain(data, root)}


RECIPE = trainer.Recipe(
    model_id=csrnet.SPEC.model_id,
    data_config=DataConfig,
    build_model=csrnet.build,
    build_datasets=build_datasets,
    describe_data=describe_data,
    exported="generator",
    networks={"critic": lambda variant: Critic()},
    groups={"d": ("critic",), "g": ("generator",)},
    phases=(
        Phase("d", critic_loss, scalars=("d_real", "d_fake"), in_warmup=False),
        Phase("g", generator_loss, scalars=("l1", "adv")),
    ),
)


def run(config_path: Path, *, root: Path = REPO, resume: bool = False,
        max_steps: int | None = None, run_dir: Path | None = None,
        resume_with_new_config: bool = False) -> Path:
    return trainer.run(RECIPE, Path(config_path), root=root, resume=resume, max_steps=max_steps,
                       run_dir=run_dir, resume_with_new_config=resume_with_new_config)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--max-steps", type=int)
    args = parser.parse_args()
    print("CKPT", run(args.config, resume=args.resume, max_steps=args.max_steps))
