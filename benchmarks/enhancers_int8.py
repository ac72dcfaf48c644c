"""The enhancers' shipped checkpoints through every format and precision, gated on DPED pairs.

    nice -n 10 .venv/bin/python benchmarks/enhancers_int8.py [--pairs 100] [--size 96x96]
    # writes benchmarks/enhancers_int8.md (~10 min on 2 shared cores)

For enhance_wespe and enhance_dense_unet (mobile, the shipped checkpoint): ``camkit export
MODEL --size 96x96 --format onnx,litert,coreml --precision fp32,fp16,w8a8 --no-check`` then
``camkit check --data`` on the DPED iPhone->Canon pairs of ../shared/data (input/ and target/
linked to iphone/ and canon/), so every row has its parity against the float model and its task
drop (the w8a8 task drop is the number the issue asks for). Core ML rows are checked statically
(fp32/fp16) or on the simulated quantized graph (w8a8) off macOS. 96x96: a size both models
accept (Dense U-Net needs multiples of 8), close to the 100x100 DPED patches.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _camkit import camkit  # noqa: E402  (benchmarks/ is on sys.path when run)

REPO = Path(__file__).resolve().parents[1]
DPED = REPO.parent / "shared" / "data" / "dped_patches"
MODELS = ("enhance_wespe", "enhance_dense_unet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100, help="DPED pairs for the task check")
    parser.add_argument("--size", default="96x96", help="export size HEIGHTxWIDTH")
    args = parser.parse_args()
    if not (DPED / "iphone").is_dir():
        raise SystemExit(f"{DPED} is absent: the task check needs the DPED pairs")
    start = time.time()
    lines = ["# Enhancers: every format x precision, parity and DPED task drop", ""]
    with tempfile.TemporaryDirectory(prefix="camkit-enhancers-") as tmp:
        pairs = Path(tmp) / "dped_pairs"
        pairs.mkdir()
        (pairs / "input").symlink_to(DPED / "iphone")
        (pairs / "target").symlink_to(DPED / "canon")
        commands = []
        for model in MODELS:
            out = Path(tmp) / model
            commands.append(camkit("export", model, "--variant", "mobile", "--size", args.size,
                                   "--format", "onnx,litert,coreml", "--precision",
                                   "fp32,fp16,w8a8", "--out", str(out), "--no-check"))
            commands.append(camkit("check", str(out), "--data", str(pairs), "--max-images",
                                   str(args.pairs), ok=(0, 1)))
            report = json.loads((out / "check.json").read_text())
            lines += [f"## {model} mobile (shipped checkpoint)", "",
                      "| format | precision | mode | PSNR vs float (dB) | SSIM vs float | "
                      "float task PSNR | artifact task PSNR | task drop (dB) | check |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for row in sorted(report["artifacts"], key=lambda r: (r["format"], r["precision"])):
                task = row["task"] or {}
                lines.append(
                    f"| {row['format']} | {row['precision']} | {row['mode']} | "
                    f"{_f(row['worst_psnr_db'])} | {_f(row['worst_ssim'], 4)} | "
                    f"{_f(task.get('float_psnr_db'))} | {_f(task.get('artifact_psnr_db'))} | "
                    f"{_f(task.get('drop_db'), 3)} | "
                    f"{'pass' if row['passed'] else 'FAIL: ' + '; '.join(row['problems'])} |")
            lines.append("")
        commands = [" ".join(c).replace(tmp, "TMP") for c in commands]
    lines += [f"Regenerate: `nice -n 10 .venv/bin/python benchmarks/enhancers_int8.py --pairs "
              f"{args.pairs} --size {args.size}` ({(time.time() - start) / 60:.0f} min here). "
              f"Task data: the first {args.pairs} DPED iPhone->Canon pairs, each resized (cover) "
              f"to {args.size}; worst-sample parity over the calibration photos. Commands (TMP "
              "a temporary folder; TMP/dped_pairs links input/ and target/ to iphone/ and "
              "canon/):", "", "```sh", *commands, "```", ""]
    (REPO / "benchmarks" / "enhancers_int8.md").write_text("\n".join(lines))
    print("wrote benchmarks/enhancers_int8.md", file=sys.stderr)


def _f(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if value == "inf":
        return "inf"
    return f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
