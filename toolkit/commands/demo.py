"""``camkit demo``: the shipped checkpoint through every format and precision, the checks, host
latency and report.html (toolkit/demo.py does the work)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "demo"
HELP = "shipped checkpoint -> every format and precision -> checks -> report.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("--model", default="retouch_csrnet",
                   help="model id or model folder path (default retouch_csrnet)")
    p.add_argument("--variant", help="variant (default: the model's default)")
    p.add_argument("--size", help="static export size HEIGHTxWIDTH (default: the variant's)")
    p.add_argument("--checkpoint", type=Path,
                   help="use this checkpoint instead of the one the repo ships")
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")


def run(args: argparse.Namespace) -> int:
    from toolkit.demo import run_demo

    report = run_demo(args.model, args.variant, args.size, args.out, args.checkpoint)
    print(f"report: {report}")
    return 0
