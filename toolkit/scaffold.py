"""``camkit new-model NAME --task TASK``: write a model folder of your own that works out of the box.

The folder has the contract every camkit model has (toolkit/registry.py): ``model.py`` (a small
working network, VARIANTS, SPEC with its inputs and outputs, build()), ``card.yaml`` (the budgets
its artifacts must meet, commented), and a training recipe: ``train.py`` on camkit's engine
(recipes/_common) with the task's synthetic data on camkit's bundled photos, and
``recipe.yaml``. Out of the box it exports to ONNX, LiteRT and Core ML with ``--random-weights``,
trains for a few steps, and passes ``camkit check`` (tests/test_scaffold.py runs all of it).

Tasks: retouch (undo a random global edit), enhance (undo a cheap phone camera's blur, noise,
colour cast and JPEG), deblur (undo a known camera shake), inpaint (fill a masked hole; two
inputs, image and mask).
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from toolkit.artifacts import publish_new_folder, staging_dir
from toolkit.errors import CamkitError, unknown

TASKS = {
    "retouch": ("global photo retouching", "SyntheticRetouch", "toolkit.data.datasets",
                "the photo after a random global edit (exposure, white balance, tone curve, "
                "contrast, saturation)"),
    "enhance": ("photo enhancement", "SyntheticPhone", "toolkit.data.datasets",
                "the photo as a cheap phone camera records it (blur, sensor noise, colour "
                "cast, flat tone, JPEG)"),
    "deblur": ("known-blur deblurring", "SyntheticBlur", "toolkit.data.blur",
               "the photo under a random camera-shake kernel of camkit's known blur domain, "
               "plus read noise"),
    "inpaint": ("image inpainting (fill a masked hole)", "InpaintingPhotos",
                "toolkit.data.inpainting", "the photo with a random hole (strokes and boxes)"),
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_MODEL = Template('''"""$name: $title, made by `camkit new-model $name --task $task`.

A small residual network to start from: replace ``Net`` with yours, keep SPEC true to its inputs
and outputs, and keep ``build(variant, checkpoint)``. camkit finds this folder by its path
(``camkit export ./$name``), through ``CAMKIT_MODEL_PATH`` or ``--models DIR``; the folder's
name is the model id and must stay equal to ``SPEC.model_id`` and card.yaml's ``model_id``.
"""

from __future__ import annotations

import torch
from torch import nn

from toolkit.checkpoints import load_weights
from toolkit.spec import ModelSpec, TensorSpec

#: width and depth per variant: ``tiny`` for tests, ``mobile`` phone-sized
VARIANTS = {"tiny": {"width": 8, "blocks": 1}, "mobile": {"width": 32, "blocks": 4}}


class Block(nn.Module):
    """3x3 conv, ReLU, 3x3 conv, plus the input."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class Net(nn.Module):
$net_doc
    def __init__(self, width: int, blocks: int) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d($in_channels, width, 3, padding=1), nn.ReLU())
        self.body = nn.Sequential(*(Block(width) for _ in range(blocks)))
        self.tail = nn.Conv2d(width, 3, 3, padding=1)

$forward

SPEC = ModelSpec(
    model_id="$name",
    task="$title",
    title="$name ($task, made by camkit new-model)",
    paper="none: a starting point",
    inputs=($inputs),
    outputs=(TensorSpec("$output", 3, description="$output_doc"),),
    variants=tuple(VARIANTS),
    default_variant="mobile",
    #: the static size `camkit export` uses unless --size says otherwise
    default_size={"tiny": (64, 64), "mobile": (512, 512)},
    calibration_set="$calibration_set",
)


def build(variant: str, checkpoint=None) -> Net:
    """The network of ``variant``, with a camkit checkpoint's weights when given."""
    net = Net(**VARIANTS[variant])
    if checkpoint is not None:
        load_weights(net, checkpoint, SPEC.model_id, variant)
    return net.eval()
''')

_IMAGE_NET = '''    """image -> image + residual: starts near the identity, so a short training run already
    helps and an untrained one is harmless."""
'''
_IMAGE_FORWARD = '''    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image + self.tail(self.body(self.head(image)))
'''
_INPAINT_NET = '''    """(image, mask) -> the image with the hole (mask 1) filled; known pixels pass through."""
'''
_INPAINT_FORWARD = '''    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        known = 1.0 - mask
        masked = image * known  # nothing in the hole can leak into the result
        colour = torch.sigmoid(self.tail(self.body(self.head(torch.cat([masked, mask], 1)))))
        return masked + colour * mask
'''

_CARD = Template('''model_id: $name
summary: >
  $name, $title (made by camkit new-model). Say here what it does, what it was trained on
  and what its shipped checkpoints are for.
license: state the licence of your code and checkpoints
# Budgets per format x precision, which `camkit export` and `camkit check` enforce (exit 1 on a
# broken one): psnr_db_min and ssim_min for the worst sample photo of the artifact's output
# against the torch float model; task_drop_db_max for the drop of task PSNR against ground
# truth (camkit check --data). fp32 must match the float model; fp16 rounds; int8 steps each
# activation to 256 levels (w8a8) or 65536 (w8a16). Loosening a budget needs a comment saying why.
tolerances:
  onnx:
    fp32: {psnr_db_min: 60, ssim_min: 0.9999, task_drop_db_max: 0.05}
    fp16: {psnr_db_min: 40, ssim_min: 0.995, task_drop_db_max: 0.5}
    w8a8: {psnr_db_min: 30, ssim_min: 0.95, task_drop_db_max: 0.3}
    w8a16: {psnr_db_min: 35, ssim_min: 0.985, task_drop_db_max: 0.05}
  litert:
    fp32: {psnr_db_min: 60, ssim_min: 0.9999, task_drop_db_max: 0.05}
    fp16: {psnr_db_min: 40, ssim_min: 0.995, task_drop_db_max: 0.5}
    w8a8: {psnr_db_min: 30, ssim_min: 0.95, task_drop_db_max: 0.3}
    w8a16: {psnr_db_min: 40, ssim_min: 0.99, task_drop_db_max: 0.05}
  coreml:
    fp32: {psnr_db_min: 60, ssim_min: 0.9999, task_drop_db_max: 0.05}
    fp16: {psnr_db_min: 40, ssim_min: 0.995, task_drop_db_max: 0.5}
    w8a8: {psnr_db_min: 30, ssim_min: 0.95, task_drop_db_max: 0.3}
''')

_TRAIN = Template('''"""Training recipe for $name ($task): input = $degradation, target = the photo.

Runs on camkit's training engine (recipes/_common in camkit: Adam, validation PSNR/SSIM, a
progress bar, atomic checkpoints, exact resume, DDP under torchrun):

    camkit train $name/recipe.yaml [--max-steps N] [--resume]

Relative paths in recipe.yaml resolve against the working directory. Replace the data with
pairs of your own (toolkit.data.datasets.PairedFolder: DIR/input, DIR/target) when you have
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

$imports
from recipes._common import trainer
from recipes._common.config import as_plain
from recipes._common.losses import l1
from toolkit import registry
from toolkit.paths import shipped_calibration_root
from $dataset_module import $dataset

# this folder is the model: known to camkit wherever it lies
registry.add_model_folder(Path(__file__).resolve().parent)
MODEL = registry.model_module("$name")


@dataclass(frozen=True)
class DataConfig:
    """The ``data:`` section."""

    photos: Path | None = None  # folder of good photos (default: camkit's bundled photos_pd)
    crop_px: int = 64  # square training and validation crops
    samples_per_epoch: int = 256


def _photos(data: DataConfig) -> Path:
    return data.photos if data.photos is not None else shipped_calibration_root() / "photos_pd"


$build_datasets


def describe_data(data: DataConfig, root: Path) -> dict[str, Any]:
    """The data record each checkpoint keeps."""
    return {"kind": "$degradation -> the photo", "photos": str(_photos(data)),
            **{k: v for k, v in as_plain(data, root).items() if v is not None}}


$recipe


def run(config_path: Path, *, root: Path, resume: bool, max_steps: int | None,
        run_dir: Path | None, resume_with_new_config: bool = False) -> Path:
    """The entry `camkit train` calls; returns the final checkpoint."""
    return trainer.run(RECIPE, config_path, root=root, resume=resume, max_steps=max_steps,
                       run_dir=run_dir, resume_with_new_config=resume_with_new_config)
''')

_IMAGE_DATASETS = Template('''def build_datasets(data: DataConfig, seed: int):
    """(training, validation): random crops of the photos, and fixed centre crops."""
    photos = _photos(data)
    train = $dataset(photos, data.crop_px, train=True, seed=seed, length=data.samples_per_epoch)
    val = $dataset(photos, data.crop_px, train=False, seed=seed)
    return train, val''')
_IMAGE_RECIPE = Template('''RECIPE = trainer.Recipe(
    model_id="$name",
    data_config=DataConfig,
    build_model=MODEL.build,
    build_datasets=build_datasets,
    describe_data=describe_data,
    loss=l1,
)''')
_INPAINT_DATASETS = '''class PackedValidation(torch.utils.data.Dataset):
    """Validation calls the network with one tensor: image over mask, stacked in height."""

    def __init__(self, photos: InpaintingPhotos) -> None:
        self.photos = photos

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int):
        image, mask, _ = self.photos[index]
        return torch.cat([image, mask.expand(3, -1, -1)], dim=1), image


def build_datasets(data: DataConfig, seed: int):
    """(training, validation): random crops with random holes; centre crops, fixed holes."""
    photos = _photos(data)
    train = InpaintingPhotos(photos, data.crop_px, train=True, seed=seed,
                             length=data.samples_per_epoch)
    val = InpaintingPhotos(photos, data.crop_px, train=False, seed=seed)
    return train, PackedValidation(val)


class TrainingNet(MODEL.Net):
    """The exported network (same weights and keys) that also takes validation's packed input."""

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            h = image.shape[2] // 2
            image, mask = image[:, :, :h], image[:, :1, h:]
        return super().forward(image, mask)


def build_model(variant: str) -> TrainingNet:
    return TrainingNet(**MODEL.VARIANTS[variant])


def fill_loss(ctx: StepContext):
    """L1 over the whole image (the known pixels pass through, so it is the hole's error)."""
    image, mask = ctx.batch[0], ctx.batch[1]
    return l1(ctx.nets["model"](image, mask), image), {}'''
_INPAINT_RECIPE = Template('''RECIPE = trainer.Recipe(
    model_id="$name",
    data_config=DataConfig,
    build_model=build_model,
    build_datasets=build_datasets,
    describe_data=describe_data,
    phases=(Phase("model", fill_loss),),
)''')

_RECIPE_YAML = Template('''# Training recipe of $name: camkit train $name/recipe.yaml (train.py beside it says what it
# learns). Relative paths resolve against the working directory.
model: $name
variant: tiny                 # tiny trains in seconds; mobile is the phone-sized one
run_dir: runs/$name/tiny

data:
  # photos: my_photos/        # default: camkit's bundled photos (calibration/photos_pd)
  crop_px: 64
  samples_per_epoch: 256

train:
  steps: 200
  batch_size: 4
  lr: 1.0e-3
  val_every_steps: 50
  ckpt_every_steps: 50
  keep_checkpoints: 2
  workers: 0
  seed: 0
''')


def new_model(name: str, task: str, out: Path | None = None) -> Path:
    """Write the model folder ``out/name`` (``out`` default: the working directory); returns it.
    Written into a temporary folder and renamed into place: an existing folder is never touched."""
    from toolkit import registry

    if task not in TASKS:
        raise unknown("task", task, TASKS)
    if not _NAME.match(name):
        raise CamkitError(f"model name '{name}' must be lower-case letters, digits and '_', "
                          f"starting with a letter (it is the model id)")
    if name in registry.model_ids():
        raise CamkitError(f"'{name}' is already a model ({registry.model_source(name).describe()});"
                          f" choose another name")
    out = Path.cwd() if out is None else Path(out)
    final = out / name
    if final.exists():
        raise CamkitError(f"{final} exists; choose another name or --out (nothing was written)")
    title, dataset, dataset_module, degradation = TASKS[task]
    inpaint = task == "inpaint"
    values = {"name": name, "task": task, "title": title, "dataset": dataset,
              "dataset_module": dataset_module, "degradation": degradation}
    files = {
        "model.py": _MODEL.substitute(
            values, net_doc=_INPAINT_NET if inpaint else _IMAGE_NET,
            forward=_INPAINT_FORWARD if inpaint else _IMAGE_FORWARD,
            in_channels=4 if inpaint else 3,
            inputs=('TensorSpec("image", 3), TensorSpec("mask", 1, role="mask", '
                    'description="1 = hole, 0 = keep")' if inpaint else 'TensorSpec("image", 3),'),
            output="inpainted" if inpaint else "out",
            output_doc="the image with the hole filled" if inpaint else f"the {task}d image",
            calibration_set="photos_pd_blur" if task == "deblur" else "photos_pd"),
        "card.yaml": _CARD.substitute(values),
        "train.py": _TRAIN.substitute(
            values,
            imports="import torch\n" if inpaint else "",
            build_datasets=_INPAINT_DATASETS if inpaint else _IMAGE_DATASETS.substitute(values),
            recipe=_INPAINT_RECIPE.substitute(values) if inpaint else _IMAGE_RECIPE.substitute(values)),
        "recipe.yaml": _RECIPE_YAML.substitute(values),
    }
    if inpaint:
        files["train.py"] = files["train.py"].replace(
            "from recipes._common.losses import l1\n",
            "from recipes._common.losses import l1\nfrom recipes._common.trainer import Phase, "
            "StepContext\n")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CamkitError(f"cannot write in {out} ({e.strerror}); pass --out a folder you can "
                          f"write") from None
    with staging_dir(out) as staging:  # the folder appears whole or not at all
        for file, text in files.items():
            (staging / file).write_text(text)
        publish_new_folder(staging, final)
    return final
