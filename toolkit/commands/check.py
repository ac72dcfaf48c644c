"""``camkit check``: folder consistency, then parity (and task quality) against the budgets."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from toolkit.commands._common import models_option, positive_int, run_checks
from toolkit.errors import CamkitError

NAME = "check"
HELP = "parity (and task quality) of exported artifacts; non-zero exit on a broken budget"
DESCRIPTION = textwrap.fill(
    "First verify the folder: every artifact has a manifest, and "
    "every artifact, sample and checkpoint matches its manifest's sha256 (docs/reliability.md); "
    "any gap fails the run. Then run each artifact against the torch float model on the "
    "calibration photos "
    "(PSNR, SSIM, max-abs error) and compare with the budgets in the model's card.yaml. "
    "With --data DIR also report task PSNR/SSIM vs ground truth and the drop against the "
    "float model. DIR layouts: input/ + target/ of matching names; GoPro-style "
    "NAME_blurK.png + NAME_sharpK.png side by side (deblurring: photos larger than the "
    "artifact are centre-cropped, never resized, so the blur keeps its size); images/ + "
    "masks/ (inpainting, white = hole: metrics inside the hole, the input row is the hole "
    "filled with mid-grey). The model's classical baselines (deblurring: Richardson-Lucy, "
    "Wiener; inpainting: OpenCV Telea and Navier-Stokes, biharmonic) run on the same data "
    "and are reported beside it; they never change the verdict. Writes check.json, "
    "check.junit.xml and check.md. Exit 1 when any budget is broken.", 88)
EPILOG = """\
examples:
  camkit check artifacts/ --data ../shared/data/gopro_pairs
  camkit check artifacts/ --data ../shared/data/gopro_pairs --psf my_kernel.png
  camkit check artifacts/inpaint_edgeconnect --data ../shared/data/inpainting_examples
  camkit check artifacts/ --device-results device_results/   # on-device parity from the app"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description, parser.epilog = DESCRIPTION, EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    p = parser
    p.add_argument("target", type=Path, help="a manifest.json, an artifact, or a folder of them")
    models_option(p, "; a manifest of an external model records its folder, so this is needed "
                  "only when the folder moved")
    p.add_argument("--data", type=Path, metavar="DIR",
                   help="task data: paired, GoPro-style or inpainting folder (see above)")
    p.add_argument("--out", type=Path, help="where the reports go (default: beside the target)")
    p.add_argument("--full-res", action="store_true",
                   help="measure each static artifact's full-resolution plan instead: the "
                   "artifact by its plan on photos of at least 12 MP (--data, else shipped "
                   "photos scaled up to 4032x3024) vs the torch model on the whole photo: PSNR, "
                   "SSIM and seam PSNR along tile borders; fails below the card's PSNR budget "
                   "(writes full_res.md)")
    p.add_argument("--device-results", type=Path, metavar="DIR",
                   help="instead: gate on what the phones measured. Every camkit-app result "
                   "JSON under DIR ('camkit profile android-app|ios-app ... --json') is "
                   "joined to its artifact under TARGET by sha256; its on-device parity (the artifact on its "
                   "sample on the phone's backend vs the torch output in the sample) must meet "
                   "the card's PSNR budget, and a run that failed on the phone fails (writes "
                   "device_check.md and device_check.json)")
    p.add_argument("--max-images", type=positive_int,
                   help="use only the first N sample photos, and the first N pairs of --data")
    p.add_argument("--max-drop-db", type=float,
                   help="task-PSNR drop budget for quantized (w8*) artifacts with --data "
                   "(default: the card's, 0.3 dB for w8a8 and 0.05 dB for w8a16)")
    p.add_argument("--psf", type=Path, metavar="IMAGE",
                   help="blur kernel for the deblurring baselines: a grey image of the PSF "
                   "(white = energy; normalised to sum 1). Default: a linear-motion PSF "
                   "estimated per photo from its cepstrum (recorded in check.json)")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the classical baselines (they are slow at 720p)")
    p.add_argument("--accept-stored-sample", action="store_true",
                   help="when an artifact's checkpoint is gone or changed, compare it with the "
                   "torch output stored in its sample at export time (one photo) instead of "
                   "failing; the report says so")


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from toolkit.publish import FolderLock, scan

    target = Path(args.target)
    if args.full_res and args.device_results:
        raise CamkitError("--full-res and --device-results are two separate checks; run one "
                          "at a time")
    if args.full_res:
        return _full_res(args, target)
    if args.device_results:
        return _device(args, target)
    with ExitStack() as locks:  # no export may publish into a folder while it is checked
        if target.exists():
            for folder in sorted({m.parent for m in scan(target).manifests}):
                locks.enter_context(FolderLock(folder, "check", best_effort=True))
        return run_checks(target, args.data, args.out, args.max_images,
                          max_drop_db=args.max_drop_db, baselines=not args.no_baselines,
                          psf=args.psf, accept_stored_sample=args.accept_stored_sample)


def _full_res(args: argparse.Namespace, target: Path) -> int:
    from toolkit.artifacts import atomic_write_bytes
    from toolkit.checks.fullres import check_full_res, report_markdown

    rows = check_full_res(target, args.data, args.max_images or 2)
    text = report_markdown(rows)
    out = Path(args.out) if args.out else (target if target.is_dir() else target.parent)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "full_res.md", text.encode())
    print(text)
    print(f"report: {out / 'full_res.md'}")
    return 0 if all(r.passed for r in rows) else 1


def _device(args: argparse.Namespace, target: Path) -> int:
    from toolkit.artifacts import atomic_write_bytes
    from toolkit.checks.device import check_device_results, report_json, report_markdown

    rows, notes = check_device_results(target, args.device_results)
    text = report_markdown(rows, notes)
    out = Path(args.out) if args.out else (target if target.is_dir() else target.parent)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "device_check.json", report_json(rows, notes))
    atomic_write_bytes(out / "device_check.md", text.encode())
    print(text, end="")
    print(f"reports: {out / 'device_check.md'}, {out / 'device_check.json'}")
    return 0 if all(r.passed for r in rows) else 1
