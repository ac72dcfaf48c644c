"""Training recipe for CSRNet (global photo retouching).

Data, one of:

* ``photos: DIR`` – any folder of good photos; each training input is the photo after a random
  global edit (exposure, white balance, tone curve, contrast, saturation; see
  ``toolkit.data.degradations``) and the target is the photo itself: the model learns to undo a
  bad global edit (auto-correct). The default checkpoints train on ``calibration/photos_pd``.
* ``paired: DIR`` – ``DIR/input/*`` and ``DIR/target/*`` with matching names, e.g. MIT-Adobe
  FiveK rendered input vs expert C, which is what the paper trains on.

``val_files`` holds files out of training for validation; when empty, validation uses the
training files with centre crops and edits drawn from a separate seed (held-out edits, seen
photos), and the checkpoint records which of the two it was.

Run it with ``camkit train recipes/retouch_csrnet/paper.yaml``; the YAML documents every key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipes._common import trainer
from recipes._common.config import as_plain, relative
from recipes._common.losses import l1
from toolkit.data.datasets import PairedFolder, SyntheticRetouch
from toolkit.errors import CamkitError, unknown
from toolkit.models.retouch_csrnet import model as csrnet

DEFAULT_STRENGTH = 1.0
DEFAULT_VAL_EDITS_PER_PHOTO = 4


@dataclass(frozen=True)
class DataConfig:
    """The ``data:`` section."""

    photos: Path | None = None  # folder of good photos (synthetic retouching)
    paired: Path | None = None  # folder with input/ and target/
    val_files: tuple[str, ...] = ()  # file names held out for validation
    crop_px: int = 128  # square training crops
    val_crop_px: int = 256  # square centre crops for validation
    short_side_px: int | None = None  # scale every image to this short side first (None: as is)
    samples_per_epoch: int | None = None  # None: one sample per training file
    strength: float | None = None  # photos only: scale of the random edits (default 1.0)
    val_edits_per_photo: int | None = None  # photos only: validation samples per photo (default 4)

    def __post_init__(self) -> None:
        if (self.photos is None) == (self.paired is None):
            raise CamkitError(
                "data needs exactly one of 'photos: DIR' (synthetic retouching of good photos) "
                "or 'paired: DIR' (DIR/input and DIR/target)"
            )
        if self.paired is not None and (
            self.strength is not None or self.val_edits_per_photo is not None
        ):
            raise CamkitError("data.strength and data.val_edits_per_photo apply to 'photos' only")
        if len(set(self.val_files)) != len(self.val_files):
            raise CamkitError(f"data.val_files lists a name twice: {list(self.val_files)}")


def build_datasets(data: DataConfig, seed: int) -> tuple[SyntheticRetouch | PairedFolder, ...]:
    common = {"seed": seed, "short_side_px": data.short_side_px}
    if data.photos is not None:
        kind = SyntheticRetouch
        strength = DEFAULT_STRENGTH if data.strength is None else data.strength
        edits = DEFAULT_VAL_EDITS_PER_PHOTO if data.val_edits_per_photo is None else data.val_edits_per_photo
        common["strength"] = strength
        folder = data.photos
        names = [p.name for p in SyntheticRetouch(folder, data.crop_px, train=False).photos]
    else:
        kind, edits, folder = PairedFolder, 1, data.paired
        names = [src.name for src, _ in PairedFolder(folder, data.crop_px, train=False).pairs]
    for name in data.val_files:
        if name not in names:
            raise unknown(f"file in data.val_files ({folder})", name, names)
    train_names = [n for n in names if n not in data.val_files]
    if not train_names:
        raise CamkitError("data.val_files holds out every file; leave at least one for training")
    val_names = list(data.val_files) or names
    train_set = kind(folder, data.crop_px, train=True, names=train_names,
                     length=data.samples_per_epoch, **common)
    val_set = kind(folder, data.val_crop_px, train=False, names=val_names,
                   length=len(val_names) * edits, **common)
    return train_set, val_set


def describe_data(data: DataConfig, root: Path) -> dict[str, Any]:
    """The data record in each checkpoint: folders, licences, and what validation measured."""
    folder = data.photos if data.photos is not None else data.paired
    manifest = folder / "manifest.json"
    return {
        "kind": "photos with synthetic global retouching" if data.photos is not None else "paired",
        **{k: v for k, v in as_plain(data, root).items() if v is not None},
        "licenses": relative(manifest, root) if manifest.is_file() else None,
        "validation": "held-out files" if data.val_files else "training files, held-out crops and edits",
    }


RECIPE = trainer.Recipe(
    model_id=csrnet.SPEC.model_id,
    data_config=DataConfig,
    build_model=csrnet.build,
    build_datasets=build_datasets,
    describe_data=describe_data,
    loss=l1,
)


def run(config_path: Path, *, root: Path, resume: bool, max_steps: int | None,
        run_dir: Path | None, resume_with_new_config: bool = False) -> Path:
    """The entry ``toolkit.training.run_recipe`` calls; returns the final checkpoint."""
    return trainer.run(RECIPE, config_path, root=root, resume=resume, max_steps=max_steps,
                       run_dir=run_dir, resume_with_new_config=resume_with_new_config)
