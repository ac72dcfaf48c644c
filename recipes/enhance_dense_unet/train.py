"""Training recipe for the Dense U-Net photo enhancer (a perceptual GAN).

Generator ``generator`` (the exported Dense U-Net) against ``discriminator`` (SRGAN-style
Conv-BN-LeakyReLU ending in a sigmoid; training only). Each step runs two phases:

1. ``d``: the discriminator learns to tell target patches from the generator's current outputs,
   ``discriminator_loss(gan, D.logits(target), D.logits(G(x)))``.
2. ``g``: the generator minimises
   ``L = L_p + lambda_gan * L_GAN + eta_ms_ssim * (1 - MS-SSIM)``, where L_p is the L1 distance of
   VGG-19 ``conv5_4`` features *before* activation (ESRGAN, Wang et al. 2018, section 3.3) and
   L_GAN the generator's adversarial loss through the (frozen) updated discriminator.

Before ``train.gan_start_step`` the ``d`` phase is skipped and the generator minimises
``L_p + eta_ms_ssim * (1 - MS-SSIM)`` only (a content warm-up, as ESRGAN starts from a
PSNR-oriented model). The logged scalars are ``l_content`` (L_p, or L1 with ``perceptual:
none``), ``l_gan`` (unweighted), ``l_ms_ssim`` (1 - MS-SSIM, unweighted), and ``d_real`` /
``d_fake``, the discriminator's mean probability on targets and on outputs.

The ``loss:`` section (``LossConfig``): ``perceptual: vgg19_conv5_4 | none``, ``gan: standard |
ragan`` (standard by default: the paper's discriminator ends in a sigmoid), ``lambda_gan`` and
``eta_ms_ssim`` (defaults: the model module's DEFAULT_LAMBDA_GAN and DEFAULT_ETA_MS_SSIM) and
``vgg_random_init_for_tests``. VGG-19 weights (torchvision's ImageNet ``vgg19-dcbb9e9d.pth``)
come from ``camkit train CONFIG --vgg-weights FILE`` or ``CAMKIT_VGG19_WEIGHTS``; without them a
``vgg19_conv5_4`` run stops with a one-line error before anything is written. ``perceptual:
none`` replaces L_p with pixel L1 (a deviation from the paper, for machines without the VGG
weights); ``vgg_random_init_for_tests: true`` uses a randomly initialised VGG-19 (seeded), which
is only good for tests, and the checkpoint's ``train.loss`` says so.

Data, exactly one of:

* ``dped: DIR`` (+ ``phone``): DPED phone/Canon patch pairs (toolkit.data.dped), random
  ``patch_px`` crops of the 100x100 patches. Validation: ``val_files`` / ``val_holdout`` held out
  of training, else the official archive's test split (a flat copy has one split only, so it needs
  one of the two).
* ``paired: DIR``: ``DIR/input`` and ``DIR/target`` with matching names.
* ``photos: DIR``: any folder of good photos; inputs are the photos as a cheap phone camera would
  record them (``SyntheticPhone``: blur, noise, colour cast, flat tone, JPEG).

The engine validates the exported network (PSNR/SSIM of output and input against the target,
image grids) every ``train.val_every_steps``. Run ``camkit train recipes/enhance_dense_unet/
paper.yaml --vgg-weights vgg19-dcbb9e9d.pth``; paper.yaml documents every key.

The ``loss:`` section is a recipe section of the engine (``Recipe.sections``); ``configure``
builds the Recipe a parsed config trains (the loss settings bound into the phases, D sized for
``data.patch_px``, the VGG-19 a ``fixed`` module the engine loads before reading data).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from recipes._common import trainer
from recipes._common.config import as_plain, relative
from recipes._common.losses import (
    GAN_KINDS, discriminator_loss, generator_loss, l1, ms_ssim_loss, perceptual,
)
from recipes._common.splits import split_names, val_length
from recipes._common.trainer import Phase, StepContext
from recipes._common.vgg import VGGFeatures, load_vgg, vgg_source
from toolkit.data.datasets import PairedFolder, SyntheticPhone
from toolkit.data.dped import DPEDPatches
from toolkit.errors import CamkitError, unknown
from toolkit.models.enhance_dense_unet import model as dense_unet

#: ``loss.perceptual`` -> VGG-19 layer (None: pixel L1 instead of L_p)
PERCEPTUAL_LAYERS: dict[str, str | None] = {"vgg19_conv5_4": "conv5_4", "none": None}
DEFAULT_PHONE = "iphone"
DEFAULT_STRENGTH = 1.0
DEFAULT_VAL_PER_PHOTO = 4
LOSS_KEY = "loss"

# ------------------------------------------------------------------------------------ configs


@dataclass(frozen=True)
class LossConfig:
    """The ``loss:`` section (optional; every key has the paper's default)."""

    perceptual: str = "vgg19_conv5_4"  # vgg19_conv5_4 | none (pixel L1 instead of L_p)
    gan: str = "standard"  # standard | ragan
    lambda_gan: float = dense_unet.DEFAULT_LAMBDA_GAN
    eta_ms_ssim: float = dense_unet.DEFAULT_ETA_MS_SSIM
    vgg_random_init_for_tests: bool = False  # a random VGG-19: tests only (the checkpoint says so)

    def __post_init__(self) -> None:
        if self.perceptual not in PERCEPTUAL_LAYERS:
            raise unknown("loss.perceptual", self.perceptual, PERCEPTUAL_LAYERS)
        if self.gan not in GAN_KINDS:
            raise unknown("loss.gan", self.gan, GAN_KINDS)
        if self.lambda_gan < 0 or self.eta_ms_ssim < 0:
            raise CamkitError("loss.lambda_gan and loss.eta_ms_ssim must be 0 or more")
        if self.vgg_random_init_for_tests and self.layer is None:
            raise CamkitError("loss.vgg_random_init_for_tests applies to a VGG perceptual loss; "
                              "drop it with perceptual: none")

    @property
    def layer(self) -> str | None:
        return PERCEPTUAL_LAYERS[self.perceptual]


@dataclass(frozen=True)
class DataConfig:
    """The ``data:`` section."""

    dped: Path | None = None  # DPED archive (or its flat patch copy)
    paired: Path | None = None  # folder with input/ and target/
    photos: Path | None = None  # folder of good photos (synthetic phone degradation)
    phone: str | None = None  # dped only: iphone | sony | blackberry (default iphone)
    patch_px: int = 96  # square training crops (the discriminator is built for this size)
    val_crop_px: int | None = None  # square centre crops for validation (None: patch_px)
    val_files: tuple[str, ...] = ()  # file names held out of training for validation
    val_holdout: int = 0  # or: hold out the last N files (in name order) for validation
    val_max_samples: int | None = None  # validate on the first N validation samples only
    short_side_px: int | None = None  # paired/photos: scale each image to this short side first
    samples_per_epoch: int | None = None  # None: one sample per training file
    strength: float | None = None  # photos only: scale of the phone degradation (default 1.0)
    val_per_photo: int | None = None  # photos only: validation samples per photo (default 4)

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.dped, self.paired, self.photos)) != 1:
            raise CamkitError(
                "data needs exactly one of 'dped: DIR' (DPED phone/Canon patches), 'paired: DIR' "
                "(DIR/input and DIR/target) or 'photos: DIR' (good photos, synthetic phone "
                "degradation)"
            )
        if self.phone is not None and self.dped is None:
            raise CamkitError("data.phone applies to 'dped' only")
        if self.photos is None and (self.strength is not None or self.val_per_photo is not None):
            raise CamkitError("data.strength and data.val_per_photo apply to 'photos' only")
        if self.dped is not None and self.short_side_px is not None:
            raise CamkitError("data.short_side_px does not apply to 'dped' (patches are used as "
                              "published); drop it")
        multiple = dense_unet.SPEC.size_multiple
        for key in ("patch_px", "val_crop_px"):
            value = getattr(self, key)
            if value is not None and (value < multiple or value % multiple):
                raise CamkitError(f"data.{key} must be a multiple of {multiple} (the Dense U-Net's "
                                  f"three 2x downsamplings), got {value}")
        if self.val_files and self.val_holdout:
            raise CamkitError("give data.val_files or data.val_holdout, not both")
        if self.val_holdout < 0 or (self.val_max_samples is not None and self.val_max_samples < 1):
            raise CamkitError("data.val_holdout must be 0 or more and data.val_max_samples at "
                              "least 1")
        if len(set(self.val_files)) != len(self.val_files):
            raise CamkitError(f"data.val_files lists a name twice: {list(self.val_files)}")

    @property
    def val_px(self) -> int:
        return self.patch_px if self.val_crop_px is None else self.val_crop_px


# --------------------------------------------------------------------------------------- data


def build_datasets(data: DataConfig, seed: int) -> tuple[Any, Any]:
    if data.dped is not None:
        return _dped_datasets(data, seed)
    if data.photos is not None:
        kind, folder, per = SyntheticPhone, data.photos, data.val_per_photo or DEFAULT_VAL_PER_PHOTO
        strength = DEFAULT_STRENGTH if data.strength is None else data.strength
        extra = {"strength": strength}
        names = [p.name for p in SyntheticPhone(folder, data.patch_px, train=False).photos]
    else:
        kind, folder, per, extra = PairedFolder, data.paired, 1, {}
        names = [src.name for src, _ in PairedFolder(folder, data.patch_px, train=False).pairs]
    common = {"seed": seed, "short_side_px": data.short_side_px, **extra}
    train_names, held = split_names(data, names, folder)
    val_names = held or names  # none held out: the training files, centre crops (held-out edits)
    train_set = kind(folder, data.patch_px, train=True, names=train_names,
                     length=data.samples_per_epoch, **common)
    val_set = kind(folder, data.val_px, train=False, names=val_names,
                   length=val_length(data, len(val_names) * per), **common)
    return train_set, val_set


def _dped_datasets(data: DataConfig, seed: int) -> tuple[DPEDPatches, DPEDPatches]:
    phone = data.phone or DEFAULT_PHONE
    common = {"seed": seed}
    full = DPEDPatches(data.dped, phone, "train", train=False, **common)
    names = [p.name for p, _ in full.pairs]
    train_names, held = split_names(data, names, full.phone_dir)
    train_set = DPEDPatches(data.dped, phone, "train", train=True, patch_px=data.patch_px,
                            names=train_names, length=data.samples_per_epoch, **common)
    if held:
        val_set = DPEDPatches(data.dped, phone, "train", train=False, patch_px=data.val_px,
                              names=held[: val_length(data, len(held))], **common)
    elif full.layout == "flat":
        raise CamkitError(
            f"{data.dped} is a flat DPED copy with one split: hold patches out for validation "
            f"with data.val_holdout: N (the last N) or data.val_files: [...]"
        )
    else:
        test = DPEDPatches(data.dped, phone, "test", train=False, **common)
        test_names = [p.name for p, _ in test.pairs]
        val_set = DPEDPatches(data.dped, phone, "test", train=False, patch_px=data.val_px,
                              names=test_names[: val_length(data, len(test_names))], **common)
    return train_set, val_set


def describe_data(data: DataConfig, root: Path) -> dict[str, Any]:
    """The data record in each checkpoint: folders, licences, and what validation measured."""
    if data.dped is not None:
        kind, folder = f"DPED {data.phone or DEFAULT_PHONE}/canon patch pairs", data.dped
    elif data.photos is not None:
        kind, folder = "photos with synthetic phone-camera degradation", data.photos
    else:
        kind, folder = "paired", data.paired
    held = bool(data.val_files or data.val_holdout)
    if held:
        validation = "held-out files"
    elif data.dped is not None:
        validation = "DPED test split"
    else:
        validation = "training files, centre crops" + (
            " with held-out degradations" if data.photos is not None else "")
    manifest = folder / "manifest.json"
    return {
        "kind": kind,
        **{k: v for k, v in as_plain(data, root).items() if v is not None and v != []},
        "licenses": relative(manifest, root) if manifest.is_file() else None,
        "validation": validation,
    }


# ------------------------------------------------------------------------------------- losses


class DiscriminatorLoss:
    """Phase ``d``: ``discriminator_loss(gan, D.logits(target), D.logits(G(x)))``."""

    def __init__(self, loss: LossConfig) -> None:
        self.gan = loss.gan
        self.__name__ = f"discriminator_loss({loss.gan})"

    def __call__(self, ctx: StepContext):
        inputs, targets = ctx.batch
        fake = ctx.nets["generator"](inputs)  # the generator is frozen in this phase: no graph
        d = ctx.nets["discriminator"]  # logits (LogitDiscriminator)
        # one batch through D: its BatchNorm sees real and fake with the same statistics
        logits = d(torch.cat([targets, fake]))
        real_logits, fake_logits = logits.split(len(targets))
        value = discriminator_loss(self.gan, real_logits, fake_logits)
        return value, {"d_real": torch.sigmoid(real_logits).mean(),
                       "d_fake": torch.sigmoid(fake_logits).mean()}


class GeneratorLoss:
    """Phase ``g``: ``L_p + lambda_gan * L_GAN + eta_ms_ssim * (1 - MS-SSIM)`` (no L_GAN in
    warm-up); ``__name__`` is what the checkpoint records as the loss."""

    def __init__(self, loss: LossConfig, vgg_weights: str) -> None:
        self.loss = loss
        content = ("L1 (perceptual: none, instead of the paper's VGG-19 L_p)" if loss.layer is None
                   else f"L_p (VGG-19 {loss.layer} before activation, L1; weights: {vgg_weights})")
        self.__name__ = (f"{content} + {loss.lambda_gan:g} x L_GAN({loss.gan}) + "
                         f"{loss.eta_ms_ssim:g} x (1 - MS-SSIM)")

    def __call__(self, ctx: StepContext):
        inputs, targets = ctx.batch
        output = ctx.nets["generator"](inputs)
        if self.loss.layer is None:
            content = l1(output, targets)
        else:
            content = perceptual(ctx.fixed["vgg"], output, targets, self.loss.layer, criterion="l1")
        structure = ms_ssim_loss(output, targets)
        total = content + self.loss.eta_ms_ssim * structure
        scalars = {"l_content": content, "l_ms_ssim": structure}
        if not ctx.warmup:
            d = ctx.nets["discriminator"]  # frozen here: gradients flow through it to G only
            # real and fake in one batch, as in the d phase (same BatchNorm statistics)
            real_logits, fake_logits = d(torch.cat([targets, output])).split(len(targets))
            real_logits = real_logits.detach()  # the standard GAN ignores it
            adversarial = generator_loss(self.loss.gan, real_logits, fake_logits)
            total = total + self.loss.lambda_gan * adversarial
            scalars["l_gan"] = adversarial
        return total, scalars


class LogitDiscriminator(dense_unet.Discriminator):
    """The model's discriminator with ``forward`` = ``logits`` (the GAN losses take logits).

    Same weights and state-dict keys; only ``forward`` differs, because DDP (torchrun) wraps a
    module's ``forward`` and nothing else, so ``.logits`` cannot be called through the wrapper.
    """

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.logits(image)


def build_discriminator(variant: str, patch_px: int) -> LogitDiscriminator:
    """``dense_unet.build_discriminator`` (same architecture table), returning logits."""
    width, stages, hidden = dense_unet.DISCRIMINATORS[variant]
    return LogitDiscriminator(width, stages, hidden, patch_px)


def make_recipe(loss: LossConfig, patch_px: int, vgg: VGGFeatures | None) -> trainer.Recipe:
    """The Recipe for one loss config with ``vgg`` (from ``load_vgg``) as L_p's network; D sized
    for ``patch_px``. Training builds it through ``configure``, which leaves the loading to the
    engine."""
    if (vgg is None) != (loss.layer is None):
        raise CamkitError(f"loss.perceptual {loss.perceptual} needs {'a' if vgg is None else 'no'} "
                          f"VGG-19; build it with load_vgg")
    return _recipe(loss, patch_px, {} if vgg is None else {"vgg": lambda: vgg})


def configure(cfg: trainer.RunConfig) -> trainer.Recipe:
    """``Recipe.configure``: the Recipe a parsed config trains. The VGG-19 is a ``fixed`` module,
    so the engine loads it (a missing weights file stops the run) before reading data."""
    loss = cfg.sections[LOSS_KEY]
    fixed = {} if loss.layer is None else {"vgg": lambda: load_vgg(loss, cfg.train.seed)}
    return _recipe(loss, cfg.data.patch_px, fixed)


def _recipe(loss: LossConfig, patch_px: int,
            fixed: dict[str, Callable[[], VGGFeatures]]) -> trainer.Recipe:
    return dataclasses.replace(
        RECIPE,
        networks={"discriminator": lambda v: build_discriminator(v, patch_px)},
        groups={"d": ("discriminator",), "g": ("generator",)},
        phases=(
            Phase("d", DiscriminatorLoss(loss), scalars=("d_real", "d_fake"), in_warmup=False),
            Phase("g", GeneratorLoss(loss, vgg_source(loss)),
                  scalars=("l_content", "l_gan", "l_ms_ssim")),
        ),
        fixed=fixed,
    )


#: the template ``configure`` completes (model, data and the ``loss:`` section)
RECIPE = trainer.Recipe(
    model_id=dense_unet.SPEC.model_id,
    data_config=DataConfig,
    build_model=dense_unet.build,
    build_datasets=build_datasets,
    describe_data=describe_data,
    exported="generator",
    sections={LOSS_KEY: LossConfig},
    configure=configure,
)


def run(config_path: Path, *, root: Path, resume: bool, max_steps: int | None,
        run_dir: Path | None, resume_with_new_config: bool = False) -> Path:
    """The entry ``toolkit.training.run_recipe`` calls; returns the final checkpoint."""
    return trainer.run(RECIPE, config_path, root=root, resume=resume, max_steps=max_steps,
                       run_dir=run_dir, resume_with_new_config=resume_with_new_config)
