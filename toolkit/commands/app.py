"""``camkit app``: what the Android and iOS apps' cores test against (golden fixtures)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "app"
HELP = "golden fixtures for the Android and iOS apps' cores (tiling, packing, blending)"
DESCRIPTION = (
    "Helpers for the apps in this repo. 'fixtures' writes small, deterministic golden cases "
    "(the same bytes every run) with which the Kotlin and Swift cores prove they tile, pack "
    "and blend exactly as camkit does: per case the photo, the manifest's full_resolution "
    "plan, the tile grid, every tile's input tensors (NCHW and NHWC, float32 and uint8) and a "
    "toy model's output per tile (replayed, so no model is needed), and the blended result "
    "(float32 and the uint8 PNG camkit run writes). OUT/README.md explains the files and the "
    "rules; OUT/index.json holds every file's sha256."
)
EPILOG = """\
example:
  camkit app fixtures app_fixtures/                # then copy it into the apps' test resources
  camkit app fixtures app_fixtures/ --overwrite    # refresh after a change to toolkit/fullres.py"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description, parser.epilog = DESCRIPTION, EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="app_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "fixtures", help="write the golden tiling/packing/blending cases to OUT",
        description="Writes OUT/<case>/ for each case, OUT/README.md and OUT/index.json, "
        "built beside OUT and published by one rename; an existing non-empty OUT is replaced "
        "only with --overwrite.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, metavar="OUT", help="folder to write (created)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")


def run(args: argparse.Namespace) -> int:
    from toolkit.app_fixtures import CASES, write_fixtures

    written = write_fixtures(args.out, overwrite=args.overwrite)
    print(f"wrote {len(written)} files for {len(CASES)} cases ({', '.join(CASES)}) in {args.out}")
    return 0
