"""``camkit train``: a shipped recipe or your own YAML (DDP under torchrun), or quantization-aware
fine-tuning of a checkpoint (--qat)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from toolkit.errors import CamkitError

NAME = "train"
HELP = "train a shipped recipe by name, or your own recipe YAML (DDP under torchrun)"
DESCRIPTION = (
    "Train with a recipe camkit ships, by name (camkit train retouch_csrnet/paper; "
    "camkit train --list shows them; its run goes to runs/<model>/<variant> under the "
    "working directory), or with your own YAML (a copy of a shipped one, edited: camkit "
    "train my_csrnet.yaml). Under torchrun the same command trains data-parallel: "
    "torchrun --nproc-per-node 2 -m toolkit.cli train CONFIG."
)
QAT = (
    "camkit train MODEL --qat --checkpoint FLOAT.safetensors --photos DIR fine-tunes a float "
    "checkpoint with fake int8 where the w8a8 exporters quantize, distilling the checkpoint's "
    "own float output on your photos (no labels), and writes a new float checkpoint that "
    "every exporter consumes as usual: camkit export MODEL --checkpoint OUT --precision w8a8. "
    "The best validation step is kept (every 5th photo validates), so it never ends worse "
    "than plain PTQ on those photos. Use hundreds of photos like the ones the model will see; "
    "on the official CSRNet it bought little (docs/quantization.md)."
)
#: the options only --qat reads (a recipe run takes its settings from the YAML)
QAT_ONLY = ("variant", "checkpoint", "photos", "out", "size", "calib")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    p = parser
    p.add_argument("config", nargs="?",
                   help="recipe name MODEL/VARIANT (retouch_csrnet/paper; MODEL alone: its "
                   "default variant) or a recipe YAML path; with --qat a model id "
                   "(retouch_csrnet)")
    p.add_argument("--list", action="store_true", help="list the recipes camkit ships and exit")
    p.add_argument("--resume", action="store_true", help="continue from the run dir's last state")
    p.add_argument("--resume-with-new-config", action="store_true",
                   help="resume although CONFIG changes values of the config the run started "
                   "with (refused otherwise): train on with the new values, record the change "
                   "in the run's log.jsonl and keep CONFIG as the run's config.yaml")
    p.add_argument("--max-steps", type=int, help="override the recipe's step count")
    p.add_argument("--run-dir", type=Path, help="override the recipe's run directory")
    p.add_argument(
        "--vgg-weights", type=Path, metavar="FILE",
        help="VGG-19 ImageNet weights for recipes with a perceptual loss (torchvision's "
        "vgg19-dcbb9e9d.pth, read weights-only; nothing is downloaded). Sets "
        "CAMKIT_VGG19_WEIGHTS for the run (also seen by torchrun's processes); default: that "
        "variable's value",
    )
    g = p.add_argument_group("quantization-aware fine-tuning (--qat)", QAT)
    g.add_argument("--qat", action="store_true",
                   help="quantization-aware fine-tuning of --checkpoint instead of a recipe run")
    g.add_argument("--variant", help="model variant (default: the model's first)")
    g.add_argument("--checkpoint", type=Path,
                   help="float checkpoint to fine-tune (default: the shipped one)")
    g.add_argument("--photos", type=Path, metavar="DIR", help="your photos (inputs only)")
    g.add_argument("--out", type=Path,
                   help="checkpoint to write (default: CHECKPOINT-qat.safetensors beside it); "
                   "an existing file is never replaced")
    g.add_argument("--size", help="export size HEIGHTxWIDTH the ranges are calibrated at "
                   "(default: the variant's); export at the same size")
    g.add_argument("--calib", help="calibration set name or folder the export will use "
                   "(default: the model's)")
    g.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    g.add_argument("--lr", type=float, default=1e-5, help="Adam learning rate (default 1e-5)")
    g.add_argument("--batch", type=int, default=8, help="crops per step (default 8)")
    g.add_argument("--crop", default="128x128",
                   help="training crop HEIGHTxWIDTH (default 128x128)")


def run(args: argparse.Namespace) -> int:
    from toolkit.training import recipe_names, run_recipe

    if args.list:
        from toolkit.paths import recipes_root

        print(f"recipes in {recipes_root()} (camkit train NAME):")
        for name in recipe_names():
            print(f"  {name}")
        return 0
    if args.config is None:
        raise CamkitError("camkit train needs a recipe: a name (camkit train --list) or a YAML")
    qat_only = [f"--{n}" for n in QAT_ONLY if getattr(args, n) is not None]
    if args.qat:
        return _train_qat(args)
    if qat_only:
        raise CamkitError(f"{', '.join(qat_only)} belong to --qat (camkit train MODEL --qat "
                          f"--checkpoint CKPT --photos DIR); a recipe run takes its settings "
                          f"from the YAML")
    if args.vgg_weights is not None:
        if not args.vgg_weights.is_file():
            raise CamkitError(f"--vgg-weights {args.vgg_weights} does not exist; pass "
                              f"torchvision's vgg19 ImageNet checkpoint vgg19-dcbb9e9d.pth")
        os.environ["CAMKIT_VGG19_WEIGHTS"] = str(args.vgg_weights.resolve())
    checkpoint = run_recipe(
        args.config, resume=args.resume, max_steps=args.max_steps, run_dir=args.run_dir,
        resume_with_new_config=args.resume_with_new_config,
    )
    if checkpoint is not None and os.environ.get("RANK", "0") == "0":  # once under torchrun
        print(f"checkpoint: {checkpoint}")
    return 0


def _train_qat(args: argparse.Namespace) -> int:
    from toolkit import registry
    from toolkit.export import parse_size
    from toolkit.quantization.qat import QatOptions, run_qat

    if str(args.config).endswith((".yaml", ".yml")):
        raise CamkitError(f"--qat fine-tunes a model's checkpoint, not a recipe: pass the model "
                          f"id (camkit train {registry.model_ids()[0]} --qat --checkpoint CKPT "
                          f"--photos DIR)")
    model_id = registry.resolve_model(str(args.config))
    spec = registry.model_spec(model_id)
    if args.photos is None:
        raise CamkitError("--qat needs --photos DIR: your own photos (hundreds), inputs only")
    variant = args.variant or spec.variants[0]
    for name in ("steps", "batch"):
        if getattr(args, name) < 1:
            raise CamkitError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if not args.lr > 0:
        raise CamkitError(f"--lr must be positive, got {args.lr}")
    opts = QatOptions(steps=args.steps, batch=args.batch, lr=args.lr, crop=parse_size(args.crop))
    out, record = run_qat(model_id, variant, args.checkpoint, args.photos, args.out,
                          parse_size(args.size) if args.size else None, args.calib, opts)
    verdict = ("better than PTQ" if record["improved"] else
               "no step beat plain PTQ: the checkpoint holds the equalized input weights")
    print(f"validation ({record['val_photos']} photos), worst / mean parity of fake int8 vs "
          f"the input checkpoint's float: {record['val_worst_psnr_db_start']:.2f} / "
          f"{record['val_mean_psnr_db_start']:.2f} dB before, {record['val_worst_psnr_db']:.2f} / "
          f"{record['val_mean_psnr_db']:.2f} dB at step {record['best_step']} ({verdict}); "
          f"float drift {record['float_vs_input_worst_psnr_db']:.1f} dB")
    print(f"checkpoint: {out}")
    print(f"export it: camkit export {model_id} --variant {variant} --checkpoint {out} "
          f"--precision w8a8" + (f" --size {args.size}" if args.size else ""))
    return 0
