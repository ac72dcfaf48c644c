"""``camkit export``: a model to each --format x --precision, checked, published as one unit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toolkit.commands._common import (csv_list, models_option, positive_int, print_kept_float,
                                      run_checks)
from toolkit.errors import CamkitError

NAME = "export"
HELP = "export a model to ONNX / LiteRT / Core ML, then check parity"
DESCRIPTION = (
    "Export MODEL to each --format x --precision. Artifacts land in "
    "OUT/<model>/<variant>/<model>-<variant>-<precision>[-tags].<suffix> with a "
    "manifest.json and a sample beside each. The new set is built beside the folder, checked "
    "(parity, and task quality with --data) and published by one atomic rename only when the "
    "check passes; a failed, killed or concurrent export leaves the folder as it was "
    "(docs/reliability.md)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    p = parser
    p.add_argument("model", help="model id (see 'camkit list') or the path of a model folder "
                   "of your own (./my_models/my_isp: model.py and card.yaml)")
    models_option(p)
    p.add_argument("--variant", help="variant (default: the model's default variant)")
    p.add_argument("--checkpoint", type=Path, help="camkit .safetensors checkpoint "
                   "(default: the checkpoint the repo ships for the variant)")
    p.add_argument("--random-weights", action="store_true",
                   help="export seeded random weights (tests only; recorded in the manifest)")
    p.add_argument("--size", help="static input size HEIGHTxWIDTH (default: the variant's)")
    p.add_argument("--dynamic", action="store_true",
                   help="dynamic height and width (ONNX, Core ML; LiteRT where supported)")
    p.add_argument("--split", action="store_true",
                   help="export the model's full-resolution split, so photos of any size run "
                   "by tiles with the whole photo's global statistics: CSRNet's per-tile "
                   "artifact takes its condition vector, computed by a features artifact written "
                   "beside it (<artifact>.statistics.<suffix>) over the photo first (exact); the "
                   "others' artifact takes a thumbnail of the photo beside each tile (instance "
                   "norms, pooled attention) (camkit list shows each model's plan; "
                   "docs/full_resolution.md)")
    p.add_argument("--thumbnail", metavar="HxW",
                   help="with --split of a thumbnail split: the thumbnail's size (default: half "
                   "the export size per side)")
    p.add_argument("--format", default=None,
                   help="comma list of formats (default: every format whose extra is installed)")
    p.add_argument("--precision", default="fp32",
                   help="comma list of fp32, fp16, w8a8, w8a16 (default fp32; 'camkit list' "
                   "shows which format exports which)")
    p.add_argument("--nhwc", action="store_true",
                   help="channel-last I/O (what Android bitmaps and iOS pixel buffers give)")
    p.add_argument("--io", default="float32", metavar="{float32,uint8}",
                   help="dtype of the model's input and output tensors (default float32). "
                   "uint8: the model takes and returns pixel bytes 0..255 (scale 1/255, zero "
                   "point 0: value = byte / 255), so a camera app hands over RGB bytes and reads "
                   "bytes back with no float conversion; outputs above 1.0 clip to 255. Only for "
                   "fully integer exports: --format litert --precision w8a8. The manifest's io "
                   "section records each tensor's dtype, scale and zero point")
    p.add_argument("--calib", help="calibration set name (camkit calib list: the shipped sets "
                   "and the ones you built) or folder of photos for quantized precisions "
                   "(default: the model's set)")
    p.add_argument("--ptq", metavar="LIST",
                   help="post-training quantization steps, comma list (default: all on, "
                   "min/max ranges, no bias correction): no-float-defaults (quantize the layers "
                   "the model keeps float by default too), no-equalize (no cross-layer range "
                   "equalization of the model's declared conv pairs; w8a8), no-auto-float (no "
                   "card search: by default a w8a8 artifact that misses its card on the check's "
                   "photos keeps its most sensitive layers float until it passes), "
                   "max-float-macs=PERCENT (the float-MAC share searches stay under while they "
                   "can, default 5), range=minmax|mean_minmax|median_minmax|mean_no_outliers|"
                   "mean_quantile (activation range estimator), bias-correction (NNCF fast bias "
                   "correction, ONNX). Recorded in precision_scheme.ptq; docs/quantization.md "
                   "has what each one measured")
    p.add_argument("--max-drop-db", type=float, metavar="DB",
                   help="accuracy-aware quantization: when a quantized artifact's task PSNR "
                   "drop on --data exceeds DB, rank its layers by sensitivity and keep the "
                   "fewest most sensitive ones in float until it does not (the manifest lists "
                   "them); fails, saying by how much, when it cannot be reached")
    p.add_argument("--min-psnr-db", type=float, metavar="DB",
                   help="accuracy-aware quantization's parity budget: the artifact against the "
                   "float model on the worst --data photo (photos the calibration never saw) must "
                   "reach DB; layers are kept float as for --max-drop-db until it does. With "
                   "--max-drop-db alone it defaults to the card's PSNR budget, so a small task "
                   "drop cannot hide a changed picture")
    p.add_argument("--data", type=Path, metavar="DIR",
                   help="paired folder (input/ and target/ with matching names) that "
                   "--max-drop-db and --min-psnr-db measure on; the checks after export use it too")
    p.add_argument("--max-images", type=positive_int, metavar="N",
                   help="use only the first N pairs of --data (the search and the checks) and "
                   "the first N sample photos in the checks")
    p.add_argument("--out", type=Path, default=Path("artifacts"), help="artifact root")
    p.add_argument("--no-check", action="store_true",
                   help="publish without the checks (the folder is still published as one unit)")


def run(args: argparse.Namespace) -> int:
    from toolkit import registry
    from toolkit.export import (GateFailed, export_artifacts, make_spec, parse_size,
                                resolve_weights)

    model_id = args.model
    registry.model_module(model_id)
    variant = registry.check_variant(model_id, args.variant)
    if args.format:
        formats = csv_list(args.format)
        for f in formats:
            registry.format_module(f)
    else:
        formats = [f for f in registry.format_names() if registry.format_available(f)]
        if not formats:
            raise CamkitError("no export format is installed; pip install 'camkit[onnx]'")
    precisions = csv_list(args.precision)
    size = parse_size(args.size) if args.size else None
    spec = make_spec(model_id, variant, size, "nhwc" if args.nhwc else "nchw", args.dynamic,
                     args.io, args.split,
                     parse_size(args.thumbnail) if args.thumbnail else None)
    weights = resolve_weights(model_id, variant, args.checkpoint, args.random_weights)
    from toolkit.quantization import options

    ptq = options.parse(args.ptq)
    accuracy = _accuracy_target(args, spec)
    gate = None
    if not args.no_check:
        def gate(staged: list[Path]) -> bool:
            """Check the staged set where it stands; only a passing set is published."""
            for m in staged:
                print(f"exported {m.name.removesuffix('.manifest.json')}")
                print_kept_float(m)
            return run_checks(staged[0].parent, args.data, None, args.max_images, only=staged,
                              max_drop_db=args.max_drop_db, quiet_paths=True) == 0
    try:
        manifests = export_artifacts(spec, weights, formats, precisions, args.out,
                                     calib_source=args.calib, accuracy=accuracy, gate=gate,
                                     ptq=ptq)
    except GateFailed as e:
        print(f"camkit: error: {e}", file=sys.stderr)
        return 1
    if args.no_check:
        for m in manifests:
            print(f"wrote {m.parent / m.name.removesuffix('.manifest.json')}")
            print_kept_float(m)
        return 0
    folder = manifests[0].parent
    print(f"published {len(manifests)} artifact(s) in {folder}")
    print(f"reports: {folder / 'check.json'}, {folder / 'check.junit.xml'}, {folder / 'check.md'}")
    return 0


def _accuracy_target(args: argparse.Namespace, spec):
    """The accuracy-aware search's target (--max-drop-db / --min-psnr-db on --data), or None."""
    if args.max_drop_db is None and args.min_psnr_db is None:
        return None
    from toolkit.checks.task import is_masked, load_pairs
    from toolkit.export import AccuracyTarget
    from toolkit.quantization.calibration import photo_channels

    flag = "--max-drop-db" if args.max_drop_db is not None else "--min-psnr-db"
    if args.data is None:
        raise CamkitError(f"{flag} is measured on photos the calibration never saw, which "
                          f"needs --data PAIRED_DIR")
    return AccuracyTarget(args.max_drop_db, args.data,
                          load_pairs(args.data, photo_channels(spec),
                                     args.max_images, masked=is_masked(spec)),
                          args.min_psnr_db)
