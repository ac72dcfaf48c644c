"""``camkit run``: a model (its float torch network) or an exported artifact applied to photos."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.commands._common import models_option

NAME = "run"
HELP = "apply a model (torch) or an exported artifact to your photos"
DESCRIPTION = (
    "Runs TARGET on each photo and writes the result under --out with the "
    "photo's name (JPEG stays JPEG, anything else becomes PNG), upright (EXIF orientation "
    "applied) and with the photo's ICC colour profile. TARGET is a model (id or folder: "
    "its float torch network, at each photo's size) or an artifact (its file or "
    ".manifest.json: the exported model in its runtime, after its files are verified). A "
    "photo of another size than a static artifact's goes through the manifest's "
    "full_resolution plan: tiles overlapping by the measured receptive field and blended, a "
    "split's tiles fed with the photo's thumbnail, or a lossy resize (camkit list shows each "
    "model's plan; docs/full_resolution.md), one tile at a time. Existing results are kept "
    "unless --overwrite."
)
EPILOG = """\
examples:
  camkit run retouch_csrnet my_photos/ --out retouched/
  camkit run artifacts/retouch_csrnet/paper/retouch_csrnet-paper-w8a8.tflite photo.png --out out/
  camkit run inpaint_edgeconnect photos/ --masks masks/ --out filled/
  camkit run enhance_dense_unet big_photo.jpg --tiles --out out/   # torch, by the tile plan"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description, parser.epilog = DESCRIPTION, EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    p = parser
    p.add_argument("target", help="model id, model folder, or artifact (file or .manifest.json)")
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO_OR_DIR",
                   help="photos, or folders of them")
    p.add_argument("--out", type=Path, required=True, help="folder for the results")
    p.add_argument("--variant", help="a model's variant (default: its default variant)")
    p.add_argument("--checkpoint", type=Path,
                   help="a model's checkpoint (default: the one it ships)")
    p.add_argument("--masks", type=Path, metavar="DIR",
                   help="inpainting: a mask per photo, same name stem, white = hole")
    p.add_argument("--tiles", action="store_true",
                   help="a model: run its torch network by its full-resolution plan at the "
                   "variant's export size (what its artifacts do), not the whole photo at once")
    p.add_argument("--overwrite", action="store_true", help="replace existing results")
    models_option(p)


def run(args: argparse.Namespace) -> int:
    from toolkit.apply import run_photos

    written = run_photos(args.target, args.photos, args.out, variant=args.variant,
                         checkpoint=args.checkpoint, masks=args.masks, overwrite=args.overwrite,
                         tiles=args.tiles)
    print(f"wrote {len(written)} result(s) in {args.out}")
    return 0
