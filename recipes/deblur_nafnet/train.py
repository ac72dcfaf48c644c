"""Training recipe for NAFNet (known-blur deblurring; Chen et al., ECCV 2022).

Data, one of:

* ``photos: DIR`` – any folder of sharp photos; each training input is a random crop blurred by a
  fresh camera-shake kernel of the known blur domain plus read noise
  (``toolkit.data.blur.SyntheticBlur``), the target is the sharp crop. This is the deblurrer half
  of Blur2Blur: it only has to invert the known domain, the translator maps real blur into it.
  The shipped checkpoint trains on ``calibration/photos_pd``.
* ``paired: DIR`` – ``DIR/input/*`` (blurry) and ``DIR/target/*`` (sharp) with matching names,
  e.g. GoPro's blur/sharp frames, which is what the paper trains on.

Loss: the PSNR loss of the official code (``basicsr/models/losses/losses.py`` ``PSNRLoss``):
``10 / ln 10 * mean_over_images(ln(MSE_image + 1e-8))``, i.e. minus the mean per-image PSNR, up to
a constant. Taking the log per image weights each image's *relative* error: nearly sharp crops
(flat sky) count as much as heavily blurred textured ones, instead of the latter dominating as in
plain MSE. Optimiser: the engine's Adam with the official betas (0.9, 0.9) and lr 1e-3. The
official AdamW weight decay of 1e-3 is decoupled, so each step shrinks weights by lr * 1e-3 =
1e-6 of themselves: negligible next to the gradient steps; the engine's ``weight_decay`` is the
coupled (L2) kind, so it is left at 0 rather than pretending to match. Schedule: the official
cosine annealing (TrueCosineAnnealingLR, 1e-3 -> 1e-7 over the run), the engine's
``lr_schedule: cosine`` with ``lr_min: 1.0e-7``. (The shipped checkpoint predates it and was
trained with halvings at 50/70/85/95 % of the run; mobile_photos.yaml keeps them, so it
reproduces that checkpoint.)

``val_files`` (or ``val_holdout``: the last N) holds files out of training for validation; when
none are, validation uses the training files with centre crops and kernels drawn from a separate
seed (held-out blurs, seen photos), and the checkpoint records which of the two it was.

Run it with ``camkit train recipes/deblur_nafnet/mobile_photos.yaml``; paper.yaml documents every key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from recipes._common import trainer
from recipes._common.config import as_plain, relative
from recipes._common.splits import split_names
from toolkit.data.blur import DEFAULT_NOISE_SIGMA, KNOWN_BLUR, SyntheticBlur
from toolkit.data.datasets import PairedFolder
from toolkit.errors import CamkitError
from toolkit.models.deblur_nafnet import model as nafnet

DEFAULT_VAL_BLURS_PER_PHOTO = 4
#: 10 / ln(10): converts ln(MSE) to decibels, so the loss reads as minus PSNR (dB)
_DB_PER_NEPER = 10.0 / math.log(10.0)


def psnr_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """NAFNet's PSNR loss: ``10/ln10 * mean_n ln(mean_chw (pred - target)^2 + 1e-8)`` (dB)."""
    mse = ((prediction - target) ** 2).mean(dim=(1, 2, 3))
    return _DB_PER_NEPER * torch.log(mse + 1e-8).mean()


@dataclass(frozen=True)
class DataConfig:
    """The ``data:`` section."""

    photos: Path | None = None  # folder of sharp photos (synthetic known blur)
    paired: Path | None = None  # folder with input/ (blurry) and target/ (sharp)
    val_files: tuple[str, ...] = ()  # file names held out for validation
    val_holdout: int = 0  # when val_files is empty: hold out the last N files (sorted names)
    crop_px: int = 256  # square training crops (a multiple of the variant's size multiple)
    val_crop_px: int = 256  # square centre crops for validation
    short_side_px: int | None = None  # scale every image to this short side first (None: as is)
    samples_per_epoch: int | None = None  # None: one sample per training file
    noise_sigma: float | None = None  # photos only: read noise, [0, 1] units (default 0.01)
    val_blurs_per_photo: int | None = None  # photos only: validation samples per photo (default 4)

    def __post_init__(self) -> None:
        if (self.photos is None) == (self.paired is None):
            raise CamkitError(
                "data needs exactly one of 'photos: DIR' (synthetic known blur of sharp photos) "
                "or 'paired: DIR' (DIR/input blurry, DIR/target sharp)"
            )
        if self.paired is not None and (
            self.noise_sigma is not None or self.val_blurs_per_photo is not None
        ):
            raise CamkitError("data.noise_sigma and data.val_blurs_per_photo apply to 'photos' only")
        for name in ("crop_px", "val_crop_px"):
            if getattr(self, name) % nafnet.SPEC.size_multiple:
                raise CamkitError(f"data.{name} must be a multiple of {nafnet.SPEC.size_multiple} "
                                  f"(the downsamplings), got {getattr(self, name)}")
        if len(set(self.val_files)) != len(self.val_files):
            raise CamkitError(f"data.val_files lists a name twice: {list(self.val_files)}")


def build_datasets(data: DataConfig, seed: int) -> tuple[SyntheticBlur | PairedFolder, ...]:
    common: dict[str, Any] = {"seed": seed, "short_side_px": data.short_side_px}
    if data.photos is not None:
        kind, folder = SyntheticBlur, data.photos
        blurs = (DEFAULT_VAL_BLURS_PER_PHOTO if data.val_blurs_per_photo is None
                 else data.val_blurs_per_photo)
        common["noise_sigma"] = DEFAULT_NOISE_SIGMA if data.noise_sigma is None else data.noise_sigma
        names = [p.name for p in SyntheticBlur(folder, data.crop_px, train=False).photos]
    else:
        kind, blurs, folder = PairedFolder, 1, data.paired
        names = [src.name for src, _ in PairedFolder(folder, data.crop_px, train=False).pairs]
    train_names, held = split_names(data, names, folder)
    val_names = held or names  # nothing held out: held-out crops and blurs of the training files
    train_set = kind(folder, data.crop_px, train=True, names=train_names,
                     length=data.samples_per_epoch, **common)
    val_set = kind(folder, data.val_crop_px, train=False, names=val_names,
                   length=len(val_names) * blurs, **common)
    return train_set, val_set


def describe_data(data: DataConfig, root: Path) -> dict[str, Any]:
    """The data record in each checkpoint: folders, licences, blur domain, what validation measured."""
    folder = data.photos if data.photos is not None else data.paired
    manifest = folder / "manifest.json"
    record = {
        "kind": "sharp photos with synthetic known blur" if data.photos is not None else "paired",
        **{k: v for k, v in as_plain(data, root).items() if v is not None},
        "licenses": relative(manifest, root) if manifest.is_file() else None,
        "validation": ("held-out files" if data.val_files or data.val_holdout
                       else "training files, held-out crops and blurs"),
    }
    if data.photos is not None:
        record["blur_domain"] = f"toolkit.data.blur.{KNOWN_BLUR!r}"
    return record


RECIPE = trainer.Recipe(
    model_id=nafnet.SPEC.model_id,
    data_config=DataConfig,
    build_model=nafnet.build,
    build_datasets=build_datasets,
    describe_data=describe_data,
    loss=psnr_loss,
)


def run(config_path: Path, *, root: Path, resume: bool, max_steps: int | None,
        run_dir: Path | None, resume_with_new_config: bool = False) -> Path:
    """The entry ``toolkit.training.run_recipe`` calls; returns the final checkpoint."""
    return trainer.run(RECIPE, config_path, root=root, resume=resume, max_steps=max_steps,
                       run_dir=run_dir, resume_with_new_config=resume_with_new_config)
