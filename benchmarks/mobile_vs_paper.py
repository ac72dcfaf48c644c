"""What the `mobile` variants cost in quality against `paper`, on the same data.

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/mobile_vs_paper.py [--steps 300]
    # writes benchmarks/mobile_vs_paper.md (~40 min on 2 shared CPU cores)

Data: the DPED iPhone->Canon sample in ../shared/data/dped_patches (300 aligned pairs), the
recipes' `mobile.yaml` split: the last 30 pairs held out for validation, the rest for training.

* Dense U-Net: `paper` and `mobile` trained by the same recipe (recipes/enhance_dense_unet/
  mobile.yaml with only the variant changed) for the same number of steps, supervised, content
  losses only (pixel L1 in place of the VGG-19 L_p, which needs weights this machine lacks, +
  1 - MS-SSIM; the GAN starts after the run), then scored on the 30 held-out pairs.
* WESPE: `mobile` trained the same way (recipes/enhance_wespe/mobile.yaml, supervised on the
  aligned pairs, pixel L1 + 0.1 TV) vs the official DPED `paper` generator (imported from
  ../shared/data/dped_official, trained by its authors on the full DPED set with a VGG loss).
  That row is not an equal-budget comparison: it says how far a short CPU run of the phone-sized
  network is from the published full-size one on the same held-out pairs.
Short CPU runs rank the variants at an equal budget; they are not converged models.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DPED_TF = REPO.parent / "shared" / "data" / "dped_official" / "iphone_orig"


def derived_yaml(model: str, variant: str, steps: int, run_dir: Path, out: Path) -> Path:
    """recipes/<model>/mobile.yaml with the variant, a CPU-sized run and content losses only."""
    cfg = yaml.safe_load((REPO / "recipes" / model / "mobile.yaml").read_text())
    cfg["variant"], cfg["run_dir"] = variant, str(run_dir)
    cfg["loss"]["perceptual"] = "none"
    if model == "enhance_wespe":
        cfg["data"]["unpaired"] = False  # supervised on the aligned pairs
        cfg["loss"]["tv_weight"] = 0.1   # as mobile_photos.yaml: 10 x TV would swamp pixel L1
    cfg["train"].update(steps=steps, batch_size=8, gan_start_step=steps + 1, amp=False,
                        ema_decay=None, lr=5.0e-4, lr_milestones=[], workers=0,
                        val_every_steps=steps, ckpt_every_steps=steps, log_every_steps=50,
                        grid_rows=0, tensorboard=False)
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def held_out(model: str, config: Path):
    from recipes._common import trainer
    from toolkit.training import load_recipe

    module, root = load_recipe(REPO / "recipes" / model / "mobile.yaml")
    cfg = trainer.load_config(module.RECIPE, config, root)
    return module.RECIPE.build_datasets(cfg.data, cfg.train.seed)[1]


def score(model: str, variant: str, checkpoint: Path, val) -> dict[str, float]:
    from recipes._common.validation import evaluate
    from toolkit import registry

    net = registry.model_module(model).build(variant, checkpoint)
    return evaluate(net, val, torch.device("cpu"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per run")
    args = parser.parse_args()
    rows, vals = [], {}
    with tempfile.TemporaryDirectory(prefix="camkit-mobile-vs-paper-") as tmp:
        tmp = Path(tmp)
        runs = [("enhance_dense_unet", "paper"), ("enhance_dense_unet", "mobile"),
                ("enhance_wespe", "mobile")]
        for model, variant in runs:
            beside = tmp / model  # a YAML trains beside (a link to) its recipe's train.py
            if not beside.is_dir():
                beside.mkdir()
                (beside / "train.py").symlink_to(REPO / "recipes" / model / "train.py")
            config = derived_yaml(model, variant, args.steps, tmp / f"{model}-{variant}",
                                  beside / f"{variant}.yaml")
            start = time.time()
            done = subprocess.run([sys.executable, "-m", "toolkit.cli", "train", str(config)],
                                  cwd=REPO, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"training {model}/{variant} failed:\n{done.stderr[-2000:]}")
            checkpoint = sorted((tmp / f"{model}-{variant}" / "checkpoints").glob("*.safetensors"))[-1]
            val = vals[model] = held_out(model, config)
            rows.append((model, variant, f"{args.steps} steps, this recipe",
                         time.time() - start, score(model, variant, checkpoint, val)))
            print(model, variant, rows[-1][-1], file=sys.stderr)
        if DPED_TF.with_suffix(".index").is_file():
            from toolkit.checkpoints import import_weights

            official = import_weights("enhance_wespe", DPED_TF, tmp / "official", "paper",
                                      source_format="tensorflow")
            rows.append(("enhance_wespe", "paper", "official DPED iPhone weights", None,
                         score("enhance_wespe", "paper", official, vals["enhance_wespe"])))
    lines = [
        "# mobile vs paper on the same held-out DPED pairs", "",
        f"Regenerate: `OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/mobile_vs_paper.py "
        f"--steps {args.steps}`. See the script's docstring for the setup; 30 held-out "
        "iPhone->Canon pairs (100x100 for WESPE, 96x96 centre crops for Dense U-Net).", "",
        "| model | variant | weights | train time (min) | PSNR (dB) | SSIM | input PSNR | input SSIM |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, variant, weights, seconds, m in rows:
        minutes = "-" if seconds is None else f"{seconds / 60:.1f}"
        lines.append(f"| {model} | {variant} | {weights} | {minutes} | {m['psnr_db']:.2f} | "
                     f"{m['ssim']:.4f} | {m['input_psnr_db']:.2f} | {m['input_ssim']:.4f} |")
    (REPO / "benchmarks" / "mobile_vs_paper.md").write_text("\n".join(lines) + "\n")
    print("wrote benchmarks/mobile_vs_paper.md", file=sys.stderr)


if __name__ == "__main__":
    main()
