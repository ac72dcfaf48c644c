"""``camkit import-weights``: an official checkpoint (a .pth read weights-only, or a TensorFlow
checkpoint read without TensorFlow) to camkit safetensors."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "import-weights"
HELP = ("convert an official checkpoint (.pth read weights-only, or a TensorFlow "
        "checkpoint read without TensorFlow) to camkit safetensors")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("model", help="model id, or the path of a model folder of your own")
    p.add_argument(
        "source", type=Path, nargs="+",
        help="official checkpoint: a .pth file, or with --from tensorflow the checkpoint prefix "
        "(PREFIX for PREFIX.index + PREFIX.data-00000-of-00001); a release of several files "
        "(inpaint_edgeconnect: EdgeModel_gen.pth InpaintingModel_gen.pth) takes them all, or "
        "the folder holding them",
    )
    p.add_argument(
        "--from", dest="source_format", default="pytorch", choices=["pytorch", "tensorflow"],
        help="format of the official checkpoint (default: pytorch)",
    )
    p.add_argument("--variant", help="variant the weights belong to (default: the variant "
                   "the official weights fit where the model names one, else the model's "
                   "default)")
    p.add_argument("--out", type=Path, required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    from toolkit.checkpoints import import_weights

    existing = set(args.out.glob("*.safetensors")) if args.out.is_dir() else set()
    out = import_weights(args.model, args.source, args.out, args.variant, args.source_format)
    # atomic replace of a previous import (nothing is touched when an import fails); say so
    print(f"wrote {out}" + (" (replaced the previous file)" if out in existing else ""))
    return 0
