"""``camkit demo``: the shipped checkpoint through every installed format in fp32, fp16 and
w8a8 (and ONNX w8a16; ``demo_precisions``),
the parity checks, host latency (``camkit profile host`` results in profiles/), the
``camkit report`` page (report.md, psnr_vs_latency.png) and a self-contained report.html with
before/after photos to look at."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from toolkit import artifacts, registry
from toolkit.checks.gate import run_checks
from toolkit.checks.html import Row, render
from toolkit.checks.report import markdown
from toolkit.checks.metrics import psnr_db
from toolkit.data import degradations
from toolkit.data.io import from_layout, read_image, to_layout
from toolkit.errors import CamkitError
from toolkit.export import (
    FLOAT_PRECISIONS, build_model, export_artifacts, make_spec, parse_size, resolve_weights,
)
from toolkit.conversion._common import torch_runner
from toolkit.profilers.host_profile import profile_host
from toolkit.quantization.calibration import calibration_set, feeds_for
from toolkit.report import write_report

PHOTOS_IN_REPORT = 3
#: photos per parity check in the demo (``camkit check`` uses the whole calibration set)
CHECK_IMAGES = 3
DIFF_GAIN = 20.0
#: timed host runs per artifact (after one warm-up)
HOST_RUNS = 5
#: seed of the random global edits applied to the report's photos
EDIT_SEED = 2024


#: quantized precisions the demo shows, where the format offers them (w8a16 only where the
#: host runs it at a usable speed: LiteRT's XNNPACK has no int16x8 kernels, so a 1080p LiteRT
#: w8a16 inference takes about 20 s on this CPU; `camkit export --precision w8a16` makes it)
DEMO_QUANTIZED = {"w8a8": None, "w8a16": ("onnx",)}


def demo_precisions(fmt: str, model_id: str) -> list[str]:
    """fp32 and fp16, then w8a8 (and w8a16 on ONNX) where the format and the card offer them."""
    offered = registry.format_module(fmt).precisions
    card = registry.card(model_id)
    wanted = [p for p in offered if p in FLOAT_PRECISIONS]
    for precision, only in DEMO_QUANTIZED.items():
        if precision in offered and (only is None or fmt in only) \
                and not card.refusal(fmt, precision):
            wanted.append(precision)
    return wanted


def run_demo(
    model_id: str, variant: str | None, size: str | None, out_dir: Path, checkpoint: Path | None = None
) -> Path:
    """Run the whole chain; returns report.html. Raises CamkitError when a budget breaks."""
    from tqdm import tqdm

    variant = registry.check_variant(model_id, variant)
    spec = make_spec(model_id, variant, parse_size(size) if size else None, "nchw", False)
    weights = resolve_weights(model_id, variant, checkpoint, False)
    formats = [f for f in registry.format_names() if registry.format_available(f)]
    if not formats:
        raise CamkitError("no export format is installed; run 'make demo' or pip install 'camkit[all]'")
    skipped = [f for f in registry.format_names() if f not in formats]
    out_dir = Path(out_dir)
    art_root = out_dir / "artifacts"

    print(f"camkit demo: {model_id}/{variant} at {spec.height}x{spec.width}, formats: "
          f"{', '.join(formats)}", file=sys.stderr)
    manifests: list[Path] = []
    for fmt in formats:
        precisions = demo_precisions(fmt, model_id)
        manifests += export_artifacts(spec, weights, [fmt], precisions, art_root)
    results, report_paths = run_checks(
        art_root, out_dir=out_dir, max_images=CHECK_IMAGES, only=manifests
    )

    # sharp photos: the demo degrades them itself (_degrade) so "after" has a ground truth
    images = calibration_set("photos_pd")
    rows, runners, profiles = [], {}, []
    for manifest_path, result in tqdm(list(zip(manifests, results)), desc="latency",
                                      unit="artifact", file=sys.stderr,
                                      disable=None):
        manifest = artifacts.read_manifest(manifest_path)
        latency = None
        if result.mode == "runtime":
            runner = registry.load_runner(manifest_path, manifest)
            runners[(result.format, result.precision)] = runner
            profile = profile_host(manifest_path, runs=HOST_RUNS, warmup=1)
            profiles.append(out_dir / "profiles" / f"{manifest_path.name.removesuffix('.manifest.json')}.host.json")
            artifacts.atomic_write_json(profiles[-1], profile.to_json())
            latency = profile.latency.median_ms
        rows.append(Row(result.format, result.precision, manifest["artifact"]["size_bytes"],
                        result.worst_psnr_db, result.worst_ssim, latency, result.mode,
                        result.passed, result.problems,
                        str(manifest_path.parent / manifest["artifact"]["file"])))

    page = write_report(report_paths["json"], profiles, out_dir)
    photos = _before_after(spec, weights, images[:PHOTOS_IN_REPORT], runners)
    notes = [f"{f}: not installed (pip install 'camkit[{registry.format_module(f).extra}]')"
             for f in skipped]
    if any(r.mode == "static" for r in rows):
        notes.append("static: Core ML prediction needs macOS; on this platform the .mlpackage's "
                     "spec, I/O names and shapes, precision and op histogram were verified.")
    notes.append("Before/after: each photo gets a seeded random global edit (exposure, white "
                 "balance, tone curve, contrast, saturation) that the model then undoes; PSNR in "
                 "the captions is against the original photo. The shipped checkpoint was trained "
                 "on these five photos (other edits), so this shows the pipeline, not "
                 "generalisation.")
    notes.append(f"Host latency: median of {HOST_RUNS} runs after 1 warm-up on this machine's "
                 "CPU (a proxy that ranks artifacts; phone numbers come from the device "
                 "profilers). The profile results are in profiles/, report.md joins them.")
    ckpt = manifest["checkpoint"]
    html = render(
        title=f"camkit demo: {model_id} / {variant}",
        summary=f"{spec.model.title}. Checkpoint {Path(ckpt['path']).name} "
        f"(sha256 {ckpt['sha256'][:12]}); static input {spec.height}x{spec.width} NCHW; "
        f"{sum(r.passed for r in results)} of {len(results)} artifacts within their card.yaml "
        f"budgets.",
        rows=rows,
        photos=photos,
        commands=[
            "make demo            # = camkit demo: this page",
            f"camkit export {model_id} --variant {variant} --size {spec.height}x{spec.width} "
            f"--format {','.join(formats)} --precision fp32,fp16,w8a8 --out {art_root}",
            f"camkit export {model_id} --variant {variant} --size {spec.height}x{spec.width} "
            f"--format onnx --precision w8a16 --out {art_root}",
            f"camkit check {art_root} --out {out_dir}",
            f"camkit profile host {art_root}/.../<artifact>.manifest.json --runs "
            f"{HOST_RUNS} --warmup 1 --json {out_dir}/profiles/<artifact>.host.json",
            f"camkit report {out_dir}",
            f"camkit demo --model {model_id} --variant {variant} --size {spec.height}x{spec.width} "
            f"--out {out_dir}",
        ],
        notes=notes,
        plot_png=page["plot"].read_bytes() if "plot" in page else None,
    )
    report = out_dir / "report.html"
    artifacts.atomic_write_bytes(report, html.encode())
    print(markdown(results), end="")
    print(f"checks: {report_paths['markdown']}")
    if not all(r.passed for r in results):
        raise CamkitError(f"a parity budget broke; see {report} and {report_paths['markdown']}")
    return report


def _degrade(spec, feeds: dict, index: int) -> tuple[np.ndarray, dict, str]:
    """(what the viewer sees before, the model's feeds, its label) for photo ``index``: a hole
    filled with grey for inpainting (the model gets the photo and the mask), a known-domain
    camera shake for deblurring, a random global edit for the retouchers and enhancers."""
    from toolkit.data import blur

    image_input = next(t for t in spec.model.inputs if t.role == "image")
    original = from_layout(feeds[image_input.name], spec.layout)
    mask_input = next((t for t in spec.model.inputs if t.role == "mask"), None)
    if mask_input is not None:
        mask = from_layout(feeds[mask_input.name], spec.layout)
        return original * (1 - mask) + 0.5 * mask, feeds, "hole (grey)"
    if spec.model.data_fit == "crop":  # deblurring
        edited = blur.blur(original, blur.kernel_for(EDIT_SEED + index))
        label = "camera shake"
    else:
        params = degradations.sample_params(np.random.default_rng(EDIT_SEED + index))
        edited = degradations.apply(original, params)
        label = "random global edit"
    return edited, {image_input.name: to_layout(edited, spec.layout)}, label


def _before_after(spec, weights, images, runners) -> list:
    """Per photo: the photo after a degradation (what the model is trained to undo: ``_degrade``), the
    torch float result, one phone artifact's result, their amplified difference, the original."""
    reference = torch_runner(build_model(spec.model.model_id, spec.variant, weights), spec)
    shown = next((k for k in (("litert", "fp16"), ("onnx", "fp16")) if k in runners), None)
    if shown is None and runners:
        shown = next(iter(runners))
    out_name = spec.model.outputs[0].name
    photos = []
    for index, path in enumerate(images):
        feeds = feeds_for(read_image(path), spec, name=path.name)
        original = from_layout(feeds[spec.model.inputs[0].name], spec.layout)
        edited, feeds, what = _degrade(spec, feeds, index)
        after = np.clip(from_layout(reference(feeds)[out_name], spec.layout), 0, 1)
        panels = [
            (f"before: {what} ({psnr_db(edited, original):.1f} dB)", edited),
            (f"after: torch float ({psnr_db(after, original):.1f} dB)", after),
        ]
        if shown is not None:
            art = np.clip(from_layout(runners[shown](feeds)[out_name], spec.layout), 0, 1)
            panels.append((f"after: {shown[0]} {shown[1]} ({psnr_db(art, original):.1f} dB)", art))
            panels.append((f"|{shown[0]} {shown[1]} - torch| x{DIFF_GAIN:g}",
                           np.abs(art - after) * DIFF_GAIN))
        panels.append(("original photo (PSNR reference)", original))
        photos.append((path.name, panels))
    return photos
