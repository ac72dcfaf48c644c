"""Models from checkpoints: which weights an export or a check uses, the model they build, and
the ExportSpec a model id, variant and size pin down.

This sits below both ``toolkit.export`` and ``toolkit.checks`` (each rebuilds the float model:
the export to convert it, the checks for the reference the artifact is compared with), so data
flows one way: checks -> building, export -> checks and building; nothing here imports either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from toolkit import registry
from toolkit.checkpoints import checkpoint_info, shipped_checkpoint
from toolkit.errors import CamkitError, unknown
from toolkit.spec import IO_DTYPES, ExportSpec

#: seed for --random-weights, recorded in the manifest so checks can rebuild the same model
RANDOM_WEIGHTS_SEED = 0


@dataclass(frozen=True)
class Weights:
    """Where a model's weights come from: a checkpoint file, seeded random init (tests), or an
    in-memory module's own (the Python API; ``in_memory`` is the sha256 of its code and
    weights, ``registry.code_sha256``)."""

    checkpoint: Path | None
    random_seed: int | None = None
    in_memory: str | None = None

    def describe(self) -> dict:
        if self.in_memory is not None:
            return {"path": None, "sha256": self.in_memory, "random_weights": False,
                    "in_memory": True}
        if self.checkpoint is None:
            return {"path": None, "sha256": None, "random_weights": True, "seed": self.random_seed}
        info = checkpoint_info(self.checkpoint)
        return {
            "path": str(self.checkpoint.resolve()),
            "sha256": info.pop("sha256"),
            "random_weights": False,
            "info": info,
        }


def resolve_weights(model_id: str, variant: str, checkpoint: Path | None, random: bool) -> Weights:
    """The checkpoint to export: given, shipped, or random (only when asked for explicitly)."""
    if checkpoint is not None and random:
        raise CamkitError("pass either --checkpoint or --random-weights, not both")
    if (checkpoint is None and not random and model_id in registry.model_ids()
            and registry.model_source(model_id).kind == "module"):
        return Weights(None, None, registry.code_sha256(model_id))  # the module's own weights
    if random:
        return Weights(None, RANDOM_WEIGHTS_SEED)
    if checkpoint is not None:
        if Path(checkpoint).is_dir():
            from toolkit.checkpoints import folder_given

            raise folder_given(Path(checkpoint))
        if not Path(checkpoint).is_file():
            raise CamkitError(f"checkpoint {checkpoint} does not exist; pass --checkpoint "
                              f"PATH.safetensors (or drop it to use the shipped checkpoint)")
        return Weights(Path(checkpoint))
    shipped = shipped_checkpoint(model_id, variant)
    if shipped is None:
        from toolkit.training import recipe_names

        train = (f"{model_id}/{variant}" if f"{model_id}/{variant}" in recipe_names()
                 else "YOUR_RECIPE.yaml")
        raise CamkitError(
            f"no checkpoint ships for {model_id}/{variant}; pass --checkpoint CKPT.safetensors "
            f"(train one with 'camkit train {train}'), or --random-weights for tests"
        )
    return Weights(shipped)


def build_model(model_id: str, variant: str, weights: Weights) -> nn.Module:
    mod = registry.model_module(model_id)
    if weights.in_memory is not None:
        return mod.build(variant)
    if weights.checkpoint is None:
        torch.manual_seed(weights.random_seed)
        return mod.build(variant)
    return mod.build(variant, weights.checkpoint)


def parse_size(text: str) -> tuple[int, int]:
    """'HxW' -> (H, W)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CamkitError(f"--size wants HEIGHTxWIDTH such as 1080x1920, got '{text}'") from None
    if h < 16 or w < 16:
        raise CamkitError(f"--size {text} is too small; use at least 16x16")
    return h, w


def build_for_spec(spec: ExportSpec, weights: Weights) -> nn.Module:
    """The float module an artifact of ``spec`` is exported from (and checked against): the
    model, or its full-resolution split when the spec has thumbnail or statistics inputs
    (toolkit/fullres_split.py)."""
    net = build_model(spec.model.model_id, spec.variant, weights)
    if spec.split:
        from toolkit.fullres_split import split_module

        return split_module(spec.model, net)
    return net


def make_spec(
    model_id: str, variant: str, size: tuple[int, int] | None, layout: str, dynamic: bool,
    io_dtype: str = "float32", split: bool = False,
    thumbnail: tuple[int, int] | None = None,
) -> ExportSpec:
    """``split``: the model's full-resolution split (a thumbnail input of ``thumbnail``, else
    the model's default thumbnail size; toolkit/fullres_split.py)."""
    model = registry.model_spec(model_id)
    if io_dtype not in IO_DTYPES:
        raise unknown("I/O dtype (--io)", io_dtype, IO_DTYPES)
    if dynamic and size is not None:
        raise CamkitError("--dynamic exports any size; drop --size (or drop --dynamic)")
    height, width = (None, None) if dynamic else (size or model.default_size[variant])
    m = model.size_multiple
    if height is not None and (height % m or width % m):
        raise CamkitError(f"{model_id} needs height and width divisible by {m}, got {height}x{width}")
    if thumbnail is not None and not split:
        raise CamkitError("--thumbnail sizes a full-resolution split: add --split")
    if split:
        from toolkit.fullres_split import split_model_spec, thumbnail_size

        if model.full_resolution.strategy != "split":
            raise CamkitError(f"{model_id} reaches full resolution by "
                              f"'{model.full_resolution.strategy}', not a split; drop --split")
        if dynamic:
            raise CamkitError("--split is for static artifacts (a dynamic one takes the whole "
                              "photo at once); drop --dynamic or --split")
        if model.full_resolution.statistics == "tiles":
            from toolkit.fullres_split import statistics_channels

            if thumbnail is not None:
                raise CamkitError(f"{model_id} splits by tiles (its statistics come from the "
                                  f"whole photo, no thumbnail); drop --thumbnail")
            if io_dtype != "float32":
                raise CamkitError(f"{model_id}'s split takes a float statistics vector beside "
                                  f"the tile; drop --io {io_dtype} (or --split)")
            model = split_model_spec(model, None, statistics_channels(model, variant))
        else:
            model = split_model_spec(model, thumbnail_size(model, height, width, thumbnail))
    return ExportSpec(model, variant, height, width, layout, io_dtype)
