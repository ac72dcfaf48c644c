"""Training recipe for WESPE (Ignatov et al., "WESPE: Weakly Supervised Photo Enhancer for Digital
Cameras", CVPRW 2018), the DPED ResNet enhancer G trained with colour and texture discriminators.

Networks: ``generator`` (G, exported), ``d_color`` (D_c, judges Gaussian-blurred RGB: colour,
brightness, contrast), ``d_texture`` (D_t, judges grayscale: texture, noise, sharpness) and, in
the weakly supervised mode only, ``inverse`` (F, the generator's architecture, maps the enhanced
image back to the phone domain). Each step runs three phases, each a full update of its group:

1. ``d_color``: ``discriminator_loss(gan, D_c(blur(y)), D_c(blur(G(x))))``;
2. ``d_texture``: the same with ``gray`` and D_t;
3. ``g``: ``L = L_content + color_weight * L_color + texture_weight * L_texture + tv_weight *
   L_tv`` (the paper's eq.: L_content + 5e-3 (L_color + L_texture) + 10 L_tv), where L_color and
   L_texture are the generator's adversarial losses through the frozen, just-updated D_c and
   D_t, and L_tv is the total variation of G(x) (DPED eq. 6).

``blur`` is DPED's released 21-tap kernel (a Gaussian of sigma ``DPED_BLUR_SIGMA`` = 4.69 px,
see recipes/_common/losses.py) and ``gray`` BT.601 luma, as DPED/WESPE's TensorFlow code.

The content term depends on the mode, which the ``data:`` section decides:

* **weak** (WESPE): x and y are unrelated (phone photos and any good photos). L_content is the
  distance of VGG-19 ``relu5_4`` features of ``F(G(x))`` and ``x`` (the cycle keeps G's content);
  G and F form one optimizer group ``g`` and are trained jointly, as in the paper, so both take
  part in each loss of that phase (the engine's rule).
* **supervised** (DPED, Ignatov et al., ICCV 2017): aligned pairs; L_content compares ``G(x)``
  with ``y`` directly. F has no role here and is not built (the Recipe for this mode has no
  ``inverse`` network; ``make_recipe`` builds one Recipe per mode).

The VGG distance is the mean squared difference of the features, DPED's ``2 * l2_loss(diff) /
size`` (train_model.py; ``criterion="mse"`` of ``perceptual``). DPED feeds its MatConvNet VGG-19
``255 * x`` minus the mean pixel; our VGG-19 takes torchvision's ImageNet weights with their mean
/ std normalisation, so feature magnitudes (and thus the balance set by the paper's weights)
differ from the paper's by a constant factor. Before ``train.gan_start_step`` the two
discriminator phases are skipped and G minimises ``L_content + tv_weight * L_tv``.

The ``loss:`` section (``LossConfig``, every key optional): ``perceptual: vgg19_relu5_4 | none``
(none: pixel L1 instead of the VGG distance, a deviation for machines without the VGG-19
ImageNet weights), ``gan: standard | ragan`` (standard: DPED/WESPE's discriminators are plain
classifiers), ``color_weight``, ``texture_weight``, ``tv_weight`` and
``vgg_random_init_for_tests`` (a seeded random VGG-19: only for tests; the checkpoint's
``train.loss`` says so). VGG-19 weights (torchvision's ``vgg19-dcbb9e9d.pth``) come from
``camkit train CONFIG --vgg-weights FILE`` or ``CAMKIT_VGG19_WEIGHTS``; without them a VGG run
stops with a one-line error before anything is read or written.

Data, exactly one of:

* ``phone_photos: DIR`` + ``good_photos: DIR``: weak. Crops of the phone's photos and of any good
  photos, independently drawn (``toolkit.data.unpaired.UnpairedFolders``). These have no targets,
  so validation uses ``val_paired: DIR`` (DIR/input = phone, DIR/target = good, aligned) when
  given, else the good photos with a synthetic phone degradation (``SyntheticPhone``; a proxy).
* ``dped: DIR`` (+ ``phone``): DPED patches; ``unpaired: true`` (default) shuffles phone and Canon
  patches independently (weak, the paper's DPED experiments), ``false`` keeps the pairs
  (supervised, DPED). Validation: aligned pairs held out with ``val_files`` / ``val_holdout``,
  else the official archive's test split.
* ``paired: DIR``: supervised, ``DIR/input`` and ``DIR/target``.
* ``photos: DIR``: good photos only; x = the photo as a cheap phone camera records it
  (``SyntheticPhone``: blur, noise, colour cast, flat tone, JPEG). ``unpaired: true`` (default)
  pairs each degraded crop with an independent clean crop (weak); ``false`` with its own clean
  crop (supervised). Validation: the synthetic pairs (centre crops, held-out degradations).

Run ``camkit train recipes/enhance_wespe/paper.yaml --vgg-weights vgg19-dcbb9e9d.pth``;
paper.yaml documents every key.

The ``loss:`` section is a recipe section of the engine (``Recipe.sections``); ``configure``
builds the Recipe a parsed config trains (F only in the weak mode, the loss settings bound into
the phases, the discriminators sized for ``data.patch_px``, the VGG-19 a ``fixed`` module the
engine loads before reading data).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from recipes._common import trainer
from recipes._common.config import as_plain, relative
from recipes._common.losses import (
    DPED_BLUR_SIGMA, GAN_KINDS, discriminator_loss, gaussian_blur, generator_loss, grayscale, l1,
    perceptual, total_variation,
)
from recipes._common.splits import split_names, val_length
from recipes._common.trainer import Phase, StepContext
from recipes._common.vgg import VGGFeatures, load_vgg, vgg_source
from toolkit.data.datasets import PairedFolder, SyntheticPhone
from toolkit.data.dped import DPEDPatches
from toolkit.data.unpaired import UnpairedFolders
from toolkit.errors import CamkitError, unknown
from toolkit.models.enhance_wespe import model as wespe

#: ``loss.perceptual`` -> VGG-19 layer of the content loss (None: pixel L1)
PERCEPTUAL_LAYERS: dict[str, str | None] = {"vgg19_relu5_4": "relu5_4", "none": None}
#: WESPE's loss weights (section 3: L_content + 5e-3 (L_color + L_texture) + 10 L_tv)
DEFAULT_COLOR_WEIGHT = 5e-3
DEFAULT_TEXTURE_WEIGHT = 5e-3
DEFAULT_TV_WEIGHT = 10.0
#: DPED's blur kernel: 21 taps (utils.gauss_kernel(21, 3), a Gaussian of sigma 4.69 px)
BLUR_TAPS = 21
DEFAULT_PHONE = "iphone"
DEFAULT_STRENGTH = 1.0
DEFAULT_VAL_PER_PHOTO = 4
LOSS_KEY = "loss"
WEAK, SUPERVISED = "weak", "supervised"
#: random stream of the weak photos mode's clean-crop order (beside the datasets' own streams)
_GOOD_ORDER = 11

# ------------------------------------------------------------------------------------ configs


@dataclass(frozen=True)
class LossConfig:
    """The ``loss:`` section (optional; every key has the paper's default)."""

    perceptual: str = "vgg19_relu5_4"  # vgg19_relu5_4 | none (pixel L1 instead)
    gan: str = "standard"  # standard | ragan
    color_weight: float = DEFAULT_COLOR_WEIGHT
    texture_weight: float = DEFAULT_TEXTURE_WEIGHT
    tv_weight: float = DEFAULT_TV_WEIGHT
    vgg_random_init_for_tests: bool = False  # a random VGG-19: tests only, recorded in the checkpoint

    def __post_init__(self) -> None:
        if self.perceptual not in PERCEPTUAL_LAYERS:
            raise unknown("loss.perceptual", self.perceptual, PERCEPTUAL_LAYERS)
        if self.gan not in GAN_KINDS:
            raise unknown("loss.gan", self.gan, GAN_KINDS)
        if min(self.color_weight, self.texture_weight, self.tv_weight) < 0:
            raise CamkitError("loss.color_weight, texture_weight and tv_weight must be 0 or more")
        if self.vgg_random_init_for_tests and self.layer is None:
            raise CamkitError("loss.vgg_random_init_for_tests applies to a VGG content loss; "
                              "drop it with perceptual: none")

    @property
    def layer(self) -> str | None:
        return PERCEPTUAL_LAYERS[self.perceptual]


@dataclass(frozen=True)
class DataConfig:
    """The ``data:`` section."""

    phone_photos: Path | None = None  # weak: the phone's photos (with good_photos)
    good_photos: Path | None = None  # weak: any good photos, unrelated scenes
    dped: Path | None = None  # DPED archive (or its flat patch copy)
    paired: Path | None = None  # supervised: folder with input/ and target/
    photos: Path | None = None  # good photos only, synthetic phone degradation
    unpaired: bool | None = None  # dped/photos: true = weak (default), false = supervised
    phone: str | None = None  # dped only: iphone | sony | blackberry (default iphone)
    patch_px: int = 100  # square training crops (the discriminators are built for this size)
    val_crop_px: int | None = None  # square centre crops for validation (None: patch_px)
    val_paired: Path | None = None  # phone_photos only: aligned validation pairs input/, target/
    val_files: tuple[str, ...] = ()  # dped/paired/photos: file names held out for validation
    val_holdout: int = 0  # or: hold out the last N files (in name order)
    val_max_samples: int | None = None  # validate on the first N validation samples only
    short_side_px: int | None = None  # not dped: scale each image to this short side first
    samples_per_epoch: int | None = None  # None: one sample per training file
    strength: float | None = None  # photos / synthetic validation: phone degradation (default 1)
    val_per_photo: int | None = None  # synthetic validation: samples per photo (default 4)

    def __post_init__(self) -> None:
        sources = (self.phone_photos is not None or self.good_photos is not None,
                   self.dped is not None, self.paired is not None, self.photos is not None)
        if sum(sources) != 1:
            raise CamkitError(
                "data needs exactly one of 'phone_photos: DIR' with 'good_photos: DIR' (weakly "
                "supervised), 'dped: DIR' (DPED patches), 'paired: DIR' (DIR/input, DIR/target) or "
                "'photos: DIR' (good photos, synthetic phone degradation)"
            )
        if (self.phone_photos is None) != (self.good_photos is None):
            raise CamkitError("data.phone_photos and data.good_photos go together: the phone's "
                              "photos and the good photos it should look like")
        if self.unpaired is not None and self.dped is None and self.photos is None:
            raise CamkitError("data.unpaired applies to 'dped' and 'photos' (phone_photos is always "
                              "unpaired, paired never); drop it")
        if self.phone is not None and self.dped is None:
            raise CamkitError("data.phone applies to 'dped' only")
        if self.val_paired is not None and self.phone_photos is None:
            raise CamkitError("data.val_paired applies to 'phone_photos' only (the others validate "
                              "on their own pairs)")
        synthetic_val = self.photos is not None or (self.phone_photos is not None
                                                    and self.val_paired is None)
        if not synthetic_val and (self.strength is not None or self.val_per_photo is not None):
            raise CamkitError("data.strength and data.val_per_photo apply to 'photos' and to "
                              "'phone_photos' without val_paired (synthetic degradation) only")
        if self.dped is not None and self.short_side_px is not None:
            raise CamkitError("data.short_side_px does not apply to 'dped' (patches are used as "
                              "published); drop it")
        if self.phone_photos is not None and (self.val_files or self.val_holdout):
            raise CamkitError("data.val_files / val_holdout do not apply to phone_photos (it has "
                              "no targets); give val_paired: DIR for validation pairs")
        multiple = wespe.SPEC.size_multiple
        for key in ("patch_px", "val_crop_px"):
            value = getattr(self, key)
            if value is not None and (value < 16 or value % multiple):
                raise CamkitError(f"data.{key} must be a multiple of {multiple} (pixel-unshuffle "
                                  f"2 in mobile and tiny) and at least 16, got {value}")
        if self.val_files and self.val_holdout:
            raise CamkitError("give data.val_files or data.val_holdout, not both")
        if self.val_holdout < 0 or (self.val_max_samples is not None and self.val_max_samples < 1):
            raise CamkitError("data.val_holdout must be 0 or more and data.val_max_samples at "
                              "least 1")
        if len(set(self.val_files)) != len(self.val_files):
            raise CamkitError(f"data.val_files lists a name twice: {list(self.val_files)}")

    @property
    def mode(self) -> str:
        """``weak`` (unpaired x and y: WESPE) or ``supervised`` (aligned pairs: DPED)."""
        if self.phone_photos is not None:
            return WEAK
        if self.paired is not None:
            return SUPERVISED
        return SUPERVISED if self.unpaired is False else WEAK

    @property
    def val_px(self) -> int:
        return self.patch_px if self.val_crop_px is None else self.val_crop_px


# --------------------------------------------------------------------------------------- data


class UnpairedSynthetic(Dataset):
    """Weak supervision from good photos alone: sample ``i`` = (the degraded crop of
    ``phone_side[i]``, the clean crop of ``good_side[j]``), ``j`` a seeded permutation of the
    epoch, so x and y come from independent photos and windows (a function of seed, epoch and
    index, as every dataset here)."""

    def __init__(self, phone_side: SyntheticPhone, good_side: SyntheticPhone, seed: int) -> None:
        self.phone_side, self.good_side, self.seed, self.epoch = phone_side, good_side, seed, 0
        self._order: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.phone_side)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.phone_side.set_epoch(epoch)
        self.good_side.set_epoch(epoch)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._order is None or self._order[0] != self.epoch:
            rng = np.random.default_rng([self.seed, _GOOD_ORDER, self.epoch])
            self._order = (self.epoch, rng.permutation(len(self.good_side)))
        degraded, _ = self.phone_side[index]
        _, clean = self.good_side[int(self._order[1][index])]
        return degraded, clean


def build_datasets(data: DataConfig, seed: int) -> tuple[Dataset, Dataset]:
    """(training set of (x, y) crops of ``patch_px``, validation set of aligned pairs)."""
    if data.dped is not None:
        return _dped_datasets(data, seed)
    if data.phone_photos is not None:
        return _folder_datasets(data, seed)
    strength = DEFAULT_STRENGTH if data.strength is None else data.strength
    common = {"seed": seed, "short_side_px": data.short_side_px}
    if data.photos is not None:
        kind, folder, per = SyntheticPhone, data.photos, data.val_per_photo or DEFAULT_VAL_PER_PHOTO
        common["strength"] = strength
        names = [p.name for p in SyntheticPhone(folder, data.patch_px, train=False).photos]
    else:
        kind, folder, per = PairedFolder, data.paired, 1
        names = [src.name for src, _ in PairedFolder(folder, data.patch_px, train=False).pairs]
    train_names, held = split_names(data, names, folder)
    val_names = held or names  # none held out: the training files, centre crops
    train_set = kind(folder, data.patch_px, train=True, names=train_names,
                     length=data.samples_per_epoch, **common)
    if data.photos is not None and data.mode == WEAK:
        # the clean side: its own windows (another seed) and photo order; strength 0 is the
        # identity degradation (no work), only the clean crop is used
        good = SyntheticPhone(folder, data.patch_px, train=True, names=train_names,
                              length=len(train_set), **{**common, "seed": seed + 1, "strength": 0.0})
        train_set = UnpairedSynthetic(train_set, good, seed)
    val_set = kind(folder, data.val_px, train=False, names=val_names,
                   length=val_length(data, len(val_names) * per), **common)
    return train_set, val_set


def _folder_datasets(data: DataConfig, seed: int) -> tuple[Dataset, Dataset]:
    train_set = UnpairedFolders(data.phone_photos, data.good_photos, data.patch_px, train=True,
                                seed=seed, length=data.samples_per_epoch,
                                short_side_px=data.short_side_px)
    if data.val_paired is not None:
        count = len(PairedFolder(data.val_paired, data.val_px, train=False).pairs)
        val_set = PairedFolder(data.val_paired, data.val_px, train=False, seed=seed,
                               length=val_length(data, count), short_side_px=data.short_side_px)
    else:
        strength = DEFAULT_STRENGTH if data.strength is None else data.strength
        count = len(SyntheticPhone(data.good_photos, data.val_px, train=False).photos)
        per = data.val_per_photo or DEFAULT_VAL_PER_PHOTO
        val_set = SyntheticPhone(data.good_photos, data.val_px, train=False, seed=seed,
                                 length=val_length(data, count * per),
                                 short_side_px=data.short_side_px, strength=strength)
    return train_set, val_set


def _dped_datasets(data: DataConfig, seed: int) -> tuple[DPEDPatches, DPEDPatches]:
    phone = data.phone or DEFAULT_PHONE
    full = DPEDPatches(data.dped, phone, "train", train=False, seed=seed)
    names = [p.name for p, _ in full.pairs]
    train_names, held = split_names(data, names, full.phone_dir)
    train_set = DPEDPatches(data.dped, phone, "train", train=True, seed=seed,
                            patch_px=data.patch_px, names=train_names,
                            length=data.samples_per_epoch, unpaired=data.mode == WEAK)
    if held:
        return train_set, DPEDPatches(data.dped, phone, "train", train=False, seed=seed,
                                      patch_px=data.val_px,
                                      names=held[: val_length(data, len(held))])
    if full.layout == "flat":
        raise CamkitError(
            f"{data.dped} is a flat DPED copy with one split: hold patches out for validation "
            f"with data.val_holdout: N (the last N) or data.val_files: [...]"
        )
    test = DPEDPatches(data.dped, phone, "test", train=False, seed=seed)
    test_names = [p.name for p, _ in test.pairs]
    return train_set, DPEDPatches(data.dped, phone, "test", train=False, seed=seed,
                                  patch_px=data.val_px,
                                  names=test_names[: val_length(data, len(test_names))])


def describe_data(data: DataConfig, root: Path) -> dict[str, Any]:
    """The data record in each checkpoint: mode, folders, licences, what validation measured."""
    weak = data.mode == WEAK
    if data.dped is not None:
        kind = f"DPED {data.phone or DEFAULT_PHONE}/canon patches, " + (
            "shuffled independently" if weak else "aligned pairs")
        folder = data.dped
    elif data.photos is not None:
        kind = "photos with synthetic phone-camera degradation, " + (
            "degraded and clean crops drawn independently" if weak else "each crop with its own")
        folder = data.photos
    elif data.phone_photos is not None:
        kind, folder = "unpaired folders: phone photos and good photos", data.good_photos
    else:
        kind, folder = "paired", data.paired
    if data.val_files or data.val_holdout:
        validation = "held-out files"
    elif data.dped is not None:
        validation = "DPED test split"
    elif data.val_paired is not None:
        validation = "val_paired pairs"
    elif data.phone_photos is not None:
        validation = ("good photos with a synthetic phone degradation (a proxy: not the phone's "
                      "own degradation)")
    else:
        validation = "training files, centre crops" + (
            " with held-out degradations" if data.photos is not None else "")
    manifest = folder / "manifest.json"
    return {
        "mode": "weakly supervised (WESPE)" if weak else "supervised (DPED)",
        "kind": kind,
        **{k: v for k, v in as_plain(data, root).items() if v not in (None, [], 0)},
        "licenses": relative(manifest, root) if manifest.is_file() else None,
        "validation": validation,
    }


# ------------------------------------------------------------------------------------- losses


def color_view(images: torch.Tensor) -> torch.Tensor:
    """What D_c sees: DPED's 21-tap Gaussian blur (sigma 4.69 px), RGB."""
    return gaussian_blur(images, DPED_BLUR_SIGMA, BLUR_TAPS)


def texture_view(images: torch.Tensor) -> torch.Tensor:
    """What D_t sees: BT.601 grayscale, one channel."""
    return grayscale(images)


#: discriminator network -> the view of an image it judges
VIEWS = {"d_color": color_view, "d_texture": texture_view}


class DiscriminatorLoss:
    """Phase ``d_color`` / ``d_texture``: the discriminator on the view of y vs that of G(x)."""

    def __init__(self, name: str, gan: str) -> None:
        self.name, self.gan, self.view = name, gan, VIEWS[name]
        self.__name__ = f"discriminator_loss({gan}) on {self.view.__name__}"

    def __call__(self, ctx: StepContext):
        inputs, targets = ctx.batch
        fake = ctx.nets["generator"](inputs)  # frozen in this phase: no graph
        # instance norm only (no batch statistics): real and fake can share one forward
        logits = ctx.nets[self.name](self.view(torch.cat([targets, fake])))
        real_logits, fake_logits = logits.split(len(targets))
        value = discriminator_loss(self.gan, real_logits, fake_logits)
        return value, {f"{self.name}_real": torch.sigmoid(real_logits).mean(),
                       f"{self.name}_fake": torch.sigmoid(fake_logits).mean()}


class GeneratorLoss:
    """Phase ``g``: ``L_content + color_weight * L_color + texture_weight * L_texture + tv_weight
    * L_tv`` (no adversarial terms in warm-up). ``__name__`` is the checkpoint's loss record."""

    def __init__(self, loss: LossConfig, mode: str, vgg_weights: str) -> None:
        self.loss, self.weak = loss, mode == WEAK
        pair = "F(G(x)) vs x" if self.weak else "G(x) vs y"
        content = (f"L1 of {pair} (perceptual: none, instead of the paper's VGG-19 distance)"
                   if loss.layer is None else
                   f"MSE of VGG-19 {loss.layer} features of {pair} (weights: {vgg_weights})")
        self.__name__ = (f"{content} + {loss.color_weight:g} x L_color + {loss.texture_weight:g} "
                         f"x L_texture ({loss.gan} GAN) + {loss.tv_weight:g} x L_tv")

    def content(self, ctx: StepContext, enhanced: torch.Tensor) -> torch.Tensor:
        inputs, targets = ctx.batch
        prediction, reference = ((ctx.nets["inverse"](enhanced), inputs) if self.weak
                                 else (enhanced, targets))
        if self.loss.layer is None:
            return l1(prediction, reference)
        return perceptual(ctx.fixed["vgg"], prediction, reference, self.loss.layer,
                          criterion="mse")

    def adversarial(self, ctx: StepContext, name: str, enhanced: torch.Tensor) -> torch.Tensor:
        """The generator's GAN loss against the frozen discriminator ``name``."""
        view, d = VIEWS[name], ctx.nets[name]
        fake_logits = d(view(enhanced))
        real_logits = None
        if self.loss.gan != "standard":  # the standard GAN's generator loss ignores real logits
            with torch.no_grad():
                real_logits = d(view(ctx.batch[1]))
        return generator_loss(self.loss.gan, real_logits, fake_logits)

    def __call__(self, ctx: StepContext):
        enhanced = ctx.nets["generator"](ctx.batch[0])
        content = self.content(ctx, enhanced)
        tv = total_variation(enhanced)
        total = content + self.loss.tv_weight * tv
        scalars = {"l_content": content, "l_tv": tv}
        if not ctx.warmup:
            color = self.adversarial(ctx, "d_color", enhanced)
            texture = self.adversarial(ctx, "d_texture", enhanced)
            total = total + self.loss.color_weight * color + self.loss.texture_weight * texture
            scalars.update(l_color=color, l_texture=texture)
        return total, scalars


# ----------------------------------------------------------------------------------- networks


def build_discriminator(name: str, variant: str, patch_px: int) -> wespe.Discriminator:
    """D_c (3 channels) or D_t (1 channel) of the model's architecture table."""
    widths, fc_features = wespe.DISCRIMINATORS[variant]
    channels = 3 if name == "d_color" else 1
    return wespe.Discriminator(channels, patch_px, widths, fc_features)


def make_recipe(loss: LossConfig, mode: str, patch_px: int,
                vgg: VGGFeatures | None) -> trainer.Recipe:
    """The Recipe of one config with ``vgg`` (from ``load_vgg``) as the content loss's network:
    ``mode`` (weak | supervised) decides whether F exists; the loss settings are bound into the
    phases, the discriminators sized for ``patch_px``. Training builds it through ``configure``,
    which leaves the loading to the engine."""
    if (vgg is None) != (loss.layer is None):
        raise CamkitError(f"loss.perceptual {loss.perceptual} needs {'a' if vgg is None else 'no'} "
                          f"VGG-19; build it with load_vgg")
    return _recipe(loss, mode, patch_px, {} if vgg is None else {"vgg": lambda: vgg})


def configure(cfg: trainer.RunConfig) -> trainer.Recipe:
    """``Recipe.configure``: the Recipe a parsed config trains (its mode from ``data:``). The
    VGG-19 is a ``fixed`` module, so the engine loads it (a missing weights file stops the run)
    before reading data."""
    loss = cfg.sections[LOSS_KEY]
    fixed = {} if loss.layer is None else {"vgg": lambda: load_vgg(loss, cfg.train.seed)}
    return _recipe(loss, cfg.data.mode, cfg.data.patch_px, fixed)


def _recipe(loss: LossConfig, mode: str, patch_px: int,
            fixed: dict[str, Callable[[], VGGFeatures]]) -> trainer.Recipe:
    if mode not in (WEAK, SUPERVISED):
        raise unknown("WESPE mode", mode, [WEAK, SUPERVISED])
    networks = {name: (lambda v, name=name: build_discriminator(name, v, patch_px))
                for name in VIEWS}
    generators: tuple[str, ...] = ("generator",)
    if mode == WEAK:
        networks["inverse"] = wespe.build_inverse
        generators = ("generator", "inverse")  # trained jointly, one optimizer (the paper)
    return dataclasses.replace(
        RECIPE,
        networks=networks,
        groups={"d_color": ("d_color",), "d_texture": ("d_texture",), "g": generators},
        phases=(
            Phase("d_color", DiscriminatorLoss("d_color", loss.gan),
                  scalars=("d_color_real", "d_color_fake"), in_warmup=False),
            Phase("d_texture", DiscriminatorLoss("d_texture", loss.gan),
                  scalars=("d_texture_real", "d_texture_fake"), in_warmup=False),
            Phase("g", GeneratorLoss(loss, mode, vgg_source(loss)),
                  scalars=("l_content", "l_color", "l_texture", "l_tv")),
        ),
        fixed=fixed,
    )


#: the template ``configure`` completes (model, data and the ``loss:`` section)
RECIPE = trainer.Recipe(
    model_id=wespe.SPEC.model_id,
    data_config=DataConfig,
    build_model=wespe.build,
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
