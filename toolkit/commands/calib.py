"""``camkit calib``: calibration sets for INT8 (list them; build one from your own photos)."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.errors import CamkitError

NAME = "calib"
HELP = "calibration sets for INT8: build one from your own photos"
DESCRIPTION = (
    "A calibration set is a folder of images and a manifest.json (file, sha256, "
    "source, licence). camkit ships some (calibration/ in a clone, inside the package when "
    "installed); the ones you build go to your data folder ($CAMKIT_DATA_DIR, else "
    "~/.local/share/camkit; macOS ~/Library/Application Support/camkit). Quantized exports "
    "calibrate on the model's set unless --calib names another: a set name looks in the "
    "shipped sets, then in yours."
)
BUILD = (
    "--per-photo crops of --size per photo, at positions drawn from --seed, so "
    "the same photos always give the same set; photos larger than twice the crop are scaled "
    "down first. The set is written atomically and never replaces an existing one. How many? "
    "benchmarks/calibration_size.py measured CSRNet: parity on held-out photos keeps rising "
    "up to 32 images and more scenes beat more crops of the same scenes; use 32+ photos of "
    "your own camera. Crops of a camkit set inherit each photo's source and licence."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    calib_sub = parser.add_subparsers(dest="calib_command", metavar="ACTION", required=True)
    calib_sub.add_parser("list", help="the shipped sets and yours: name, images, where",
                         description="Every calibration set --calib NAME can name.")
    q = calib_sub.add_parser(
        "build", help="make a set NAME from a folder of photos (seeded crops, deterministic)",
        description=BUILD)
    q.add_argument("--from", dest="source", type=Path, required=True, help="folder of photos")
    q.add_argument("--name", required=True, help="set name (letters, digits, - and _)")
    q.add_argument("--count", type=int, help="use the first N photos (sorted by name)")
    q.add_argument("--size", default="512x512", help="crop HEIGHTxWIDTH (default 512x512; use "
                   "the model's input size for static exports)")
    q.add_argument("--per-photo", type=int, default=1,
                   help="crops per photo (default 1); more crops add positions and scales, not "
                   "scenes")
    q.add_argument("--seed", type=int, default=0, help="crop positions seed (default 0)")
    q.add_argument("--license", default=None,
                   help="licence recorded for every image (default: inherited from the source "
                   "set's manifest.json, else 'user-provided; licence not stated')")
    q.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="folder in which NAME/ is created (default: your data folder's "
                   "calibration/, where --calib NAME finds it); a set elsewhere is used with "
                   "--calib DIR/NAME")


def run(args: argparse.Namespace) -> int:
    from toolkit.export import parse_size
    from toolkit.quantization.calibration import build_set

    if args.calib_command == "list":
        return _calib_list()
    if args.count is not None and args.count < 1:
        raise CamkitError(f"--count must be at least 1, got {args.count}")
    path = build_set(args.source, args.name, parse_size(args.size), args.count, args.seed,
                     args.license, root=args.out, per_photo=args.per_photo)
    use = args.name if args.out is None else path
    print(f"wrote {path} ({len(list(path.glob('*.png')))} images); use it with --calib {use}")
    return 0


def _calib_list() -> int:
    import json

    from toolkit.quantization.calibration import CALIBRATION_ROOT, set_folder, set_names

    rows = []
    for name in set_names():
        folder = set_folder(name)
        try:
            count = str(len(json.loads((folder / "manifest.json").read_text())["files"]))
        except (OSError, ValueError, KeyError, TypeError):
            count = "unreadable"
        where = "shipped" if folder.parent == CALIBRATION_ROOT else "yours"
        rows.append((name, count, where, str(folder)))
    if not rows:
        print("no calibration sets; build one with camkit calib build --from DIR --name NAME")
        return 0
    widths = [max(len(r[i]) for r in rows + [("set", "images", "where", "")]) for i in range(3)]
    print(f"{'set':<{widths[0]}}  {'images':>{widths[1]}}  {'where':<{widths[2]}}  folder")
    for name, count, where, folder in rows:
        print(f"{name:<{widths[0]}}  {count:>{widths[1]}}  {where:<{widths[2]}}  {folder}")
    return 0
