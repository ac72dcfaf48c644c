"""``camkit new-model``: a model folder of your own (model.py, card.yaml, a training recipe)
that exports, trains and passes camkit check as written."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "new-model"
HELP = "write a model folder of your own (model.py, card.yaml, a training recipe)"
DESCRIPTION = (
    "Writes OUT/NAME/: model.py (a small working network, its ModelSpec with "
    "inputs and outputs, VARIANTS tiny and mobile, build()), card.yaml (the budgets its "
    "artifacts must meet, commented), train.py and recipe.yaml (training on camkit's engine "
    "with the task's synthetic data on the bundled photos). It exports, trains and passes "
    "camkit check as written; then make the network yours."
)
EPILOG = """\
then:
  camkit export ./NAME --variant tiny --random-weights      # ONNX, LiteRT, Core ML
  camkit train NAME/recipe.yaml --max-steps 50               # runs/NAME/tiny/
  camkit export ./NAME --variant tiny --checkpoint runs/NAME/tiny/checkpoints/\
step-0000050.safetensors --precision fp32,w8a8
  camkit check artifacts/"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description, parser.epilog = DESCRIPTION, EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    p = parser
    p.add_argument("name", help="model id: lower-case letters, digits and _ (the folder's name)")
    p.add_argument("--task", required=True, choices=["retouch", "enhance", "deblur", "inpaint"],
                   help="what it learns: retouch (undo a global edit), enhance (undo a phone "
                   "camera's degradations), deblur (undo a known camera shake), inpaint (fill "
                   "a masked hole: image and mask inputs)")
    p.add_argument("--out", type=Path, help="folder that receives NAME/ (default: here)")


def run(args: argparse.Namespace) -> int:
    from toolkit.scaffold import new_model

    folder = new_model(args.name, args.task, args.out)
    shown = folder if args.out is not None else Path(args.name)
    print(f"wrote {folder}: model.py, card.yaml, train.py, recipe.yaml")
    print(f"next: camkit export ./{shown} --variant tiny --random-weights; "
          f"camkit train {shown}/recipe.yaml --max-steps 50; camkit check artifacts/")
    return 0
