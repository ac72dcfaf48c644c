"""``camkit report``: check.json and profile results joined on one page, with a
PSNR-vs-latency plot."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.errors import CamkitError

NAME = "report"
HELP = "accuracy and latency of checked artifacts on one page, with a PSNR-vs-latency plot"
DESCRIPTION = (
    "Join DIR/check.json (from 'camkit check DIR') with profile results (from "
    "'camkit profile host|android|macos|estimate ... --json FILE') by "
    "the artifact's sha256. Writes report.md, report.html and psnr_vs_latency.png: one "
    "latency row per format x precision x target, and quality over median latency "
    "(measured points filled, estimates hollow with their uncertainty band). Needs "
    "matplotlib (pip install 'camkit[report]')."
)
EPILOG = """\
example:
  camkit check out/ --data pairs/
  camkit profile host out/.../m-fp32.onnx.manifest.json --json out/profiles/fp32-host.json
  camkit report out/"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description, parser.epilog = DESCRIPTION, EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    p = parser
    p.add_argument("dir", type=Path, help="folder that holds check.json (and, by default, the "
                   "profile JSONs anywhere below it)")
    p.add_argument("--checks", type=Path, help="check.json to use (default: DIR/check.json)")
    p.add_argument("--profiles", type=Path, nargs="+", metavar="FILE",
                   help="profile result JSONs (default: every profile result under DIR)")
    p.add_argument("--quality", default="auto", choices=["auto", "task", "parity"],
                   help="plot's quality axis: task PSNR vs ground truth (needs camkit check "
                   "--data), PSNR vs the float model, or auto (task when every artifact has it)")
    p.add_argument("--out", type=Path, help="output folder (default: DIR)")


def run(args: argparse.Namespace) -> int:
    from toolkit.report import find_profiles, write_report

    if not args.dir.is_dir():
        raise CamkitError(f"{args.dir} is not a folder; pass the folder camkit check wrote to")
    profiles = args.profiles if args.profiles is not None else find_profiles(args.dir)
    paths = write_report(args.checks or args.dir / "check.json", profiles, args.out or args.dir,
                         args.quality)
    print(f"{len(profiles)} profile result(s) joined; wrote " + ", ".join(
        str(p) for p in paths.values()))
    return 0
