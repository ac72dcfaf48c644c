"""Validation curves and the last before/after grid of training runs, as pictures for the README.

    .venv/bin/python benchmarks/training_curves.py runs/enhance_wespe/mobile_photos \\
        runs/enhance_dense_unet/mobile_photos
    # writes docs/training_curves.png, docs/grid_<model>.jpg and benchmarks/training_curves.md

Reads what the training engine writes into each run dir: ``metrics.csv`` (the ``val`` rows:
output PSNR/SSIM against the target and the do-nothing baseline of the input) and the newest
``grids/step-*.png`` (input | output | target). The run dirs come from ``camkit train
recipes/<model>/<config>.yaml``; the model id and config are read from the run's config.yaml.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def val_rows(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "val"]
    if not rows:
        raise SystemExit(f"{run_dir}/metrics.csv has no validation rows yet")
    keys = ("step", "psnr_db", "ssim", "input_psnr_db", "input_ssim", "train_seconds")
    return [{k: float(r[k]) for k in keys} for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    DOCS.mkdir(exist_ok=True)
    fig, (ax_psnr, ax_ssim) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    lines = ["# Training runs: validation curves and before/after grids", "",
             "Regenerate: `.venv/bin/python benchmarks/training_curves.py "
             + " ".join(str(r) for r in args.runs) + "` (after training each run with the "
             "command below).", "",
             "![validation curves](../docs/training_curves.png)", "",
             "| model | config | steps | train time | val PSNR first -> last (dB) | input PSNR | "
             "val SSIM first -> last | input SSIM | grid |", "|---|---|---|---|---|---|---|---|---|"]
    for index, run_dir in enumerate(args.runs):
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        name = f"{config['model']} {config['variant']}"
        rows = val_rows(run_dir)
        colour = plt.get_cmap("tab10")(index)
        steps = [r["step"] for r in rows]
        ax_psnr.plot(steps, [r["psnr_db"] for r in rows], "-o", ms=3, color=colour, label=name)
        ax_psnr.axhline(rows[0]["input_psnr_db"], color=colour, ls="--", lw=1,
                        label=f"{name}: input (do nothing)")
        ax_ssim.plot(steps, [r["ssim"] for r in rows], "-o", ms=3, color=colour, label=name)
        ax_ssim.axhline(rows[0]["input_ssim"], color=colour, ls="--", lw=1)
        grid = sorted((run_dir / "grids").glob("step-*.png"))[-1]
        grid_out = DOCS / f"grid_{config['model']}.jpg"  # JPEG: a tenth of the PNG's bytes
        Image.open(grid).convert("RGB").save(grid_out, quality=90)
        first, last = rows[0], rows[-1]
        recipe = f"recipes/{config['model']}/{run_dir.name}.yaml"
        lines.append(
            f"| {config['model']} | `camkit train {recipe}` | {int(last['step'])} | "
            f"{last['train_seconds'] / 60:.0f} min | {first['psnr_db']:.2f} -> "
            f"{last['psnr_db']:.2f} | {last['input_psnr_db']:.2f} | {first['ssim']:.3f} -> "
            f"{last['ssim']:.3f} | {last['input_ssim']:.3f} | "
            f"![{grid.name}](../docs/{grid_out.name}) |")
    for ax, label in ((ax_psnr, "PSNR vs target (dB)"), (ax_ssim, "SSIM vs target")):
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_psnr.legend(fontsize=7)
    ax_psnr.set_title("validation PSNR (dashed: the unenhanced input)", fontsize=9)
    ax_ssim.set_title("validation SSIM (dashed: the unenhanced input)", fontsize=9)
    fig.tight_layout()
    fig.savefig(DOCS / "training_curves.png", metadata={"Software": None})
    lines += ["", "Grids: input | output | target per row, held-out degradations of the "
              "training photos (the runs' validation set).", ""]
    (REPO / "benchmarks" / "training_curves.md").write_text("\n".join(lines))
    print(f"wrote {DOCS / 'training_curves.png'} and benchmarks/training_curves.md")


if __name__ == "__main__":
    main()
