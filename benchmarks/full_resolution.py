"""Full resolution at 12 MP: each model's plan vs the whole photo at once (issue 16's targets).

For each model, on a 4032x3024 photo (a shipped public-domain photo scaled up, with seeded
sensor-like noise, toolkit/checks/fullres.py ``phone_photo``; none of the checkpoints saw it):

* the truth: the torch float model on the whole photo at once;
* the plan in torch (toolkit/fullres.py ``apply_plan`` with the split or the model, margin
  measured on the weights): PSNR, SSIM (1024 px centre crop) and seam PSNR (bands along the
  interior tile borders) against the truth, tiles per photo, seconds;
* the plan with the exported LiteRT fp32 artifact (ai-edge-litert, CPU): PSNR and seconds;
* the plan with the exported ONNX fp32 artifact (onnxruntime CPU): PSNR against the truth
  (float32 result), seconds, and the peak of the host arrays the plan allocates beyond the
  photo and its result
  (tracemalloc: numpy's buffers; onnxruntime's own arena is not counted);
* one resize-to-fit pass (the photo shrunk to the artifact's size, run once, the result scaled
  back: the lossy fallback): PSNR against the truth and seconds.

CSRNet (the authors' weights) splits by tiles (its features artifact over the photo, then the
per-pixel network per tile); it also gets a thumbnail study: the one-artifact split it does not
declare, by thumbnail rule (mosaic of full-scale crops, or the photo shrunk) and size.
Weights: the authors' where
../shared/data has them (CSRNet, the DPED iPhone generator = WESPE paper), else the shipped
demonstration checkpoints (mobile variants), labelled so.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/full_resolution.py   # ~40 min on 2 cores
    ... benchmarks/full_resolution.py --models retouch_csrnet  # its rows only, the rest kept
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from toolkit._quiet import quiet, quiet_environment  # noqa: E402
from toolkit.building import Weights, build_for_spec, build_model, make_spec  # noqa: E402
from toolkit.checks.fullres import PHONE_PHOTO, compare, inputs_for, phone_photo  # noqa: E402
from toolkit.fullres import apply_plan, export_plan  # noqa: E402
from toolkit.quantization.calibration import calibration_set  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
#: (model id, variant, official weights (path, import format) or None: the shipped checkpoint)
MODELS = (
    ("retouch_csrnet", "paper", (SHARED / "csrnet_official" / "csrnet.pth", "pytorch")),
    ("enhance_dense_unet", "mobile", None),
    ("deblur_blur2blur_translator", "mobile", None),
    ("deblur_nafnet", "mobile", None),
    ("deblur_blur2blur", "mobile", None),
    ("enhance_wespe", "mobile", None),
    ("enhance_wespe", "paper", (SHARED / "dped_official" / "iphone_orig", "tensorflow")),
    ("inpaint_edgeconnect", "mobile", None),
)
#: measured as a split although they declare another plan (the evidence for their declaration)
SPLIT_ANYWAY = {"enhance_wespe"}
THUMBNAILS = (("mosaic", (272, 480)), ("mosaic", (544, 960)), ("mosaic", (1088, 1920)),
              ("adaptive_average", (272, 480)), ("adaptive_average", (544, 960)),
              ("adaptive_average", (1088, 1920)))


def torch_run(net):
    def run(*feeds):
        with torch.no_grad():
            out = net(*[torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
                        for x in feeds])
        return out[0].numpy().transpose(1, 2, 0)
    return run


def features_run(net):
    """The features module of a split by tiles as a runner (None for other modules)."""
    features = getattr(net, "statistics_features", None)
    return None if features is None else torch_run(features)


def floats(x):
    return x.astype(np.float32) / 255 if x.dtype == np.uint8 else x


def weights_for(model_id, variant, official, work: Path):
    from toolkit.building import resolve_weights
    from toolkit.checkpoints import import_weights

    if official is None:
        return resolve_weights(model_id, variant, None, False), "shipped demonstration checkpoint"
    path, fmt = official
    if not (path.exists() or path.with_suffix(".index").exists()):
        return None, f"{path} absent"
    ckpt = import_weights(model_id, path, work / f"{model_id}-{variant}.safetensors", variant, fmt)
    return Weights(ckpt), f"the authors' weights ({path.parent.name})"


def measure_model(model_id, variant, official, photo, work: Path, out_rows, thumb_rows):
    weights, source = weights_for(model_id, variant, official, work)
    if weights is None:
        out_rows.append(f"| {model_id} | {variant} | skipped: {source} |" + " |" * 16)
        return
    model = build_model(model_id, variant, weights).eval()
    from toolkit import registry

    declared = registry.model_spec(model_id).full_resolution.strategy
    if model_id in SPLIT_ANYWAY:
        from dataclasses import replace

        from toolkit.fullres_split import split_model_spec, thumbnail_size

        base = registry.model_spec(model_id)
        base = replace(base, full_resolution=replace(base.full_resolution, strategy="split"))
        h, w = base.default_size[variant]
        spec = replace(make_spec(model_id, variant, None, "nchw", False),
                       model=split_model_spec(base, thumbnail_size(base, h, w)))
    else:
        spec = make_spec(model_id, variant, None, "nchw", False, split=declared == "split")
    net = build_for_spec(spec, weights).eval()
    plan = export_plan(spec, net)
    inputs = inputs_for(spec.model, photo, "phone")
    print(f"{model_id}/{variant}: plan {plan['strategy']} margin {plan.get('margin')}",
          file=sys.stderr, flush=True)

    started = time.perf_counter()  # 4032x3024 is a multiple of every model's size multiple
    truth = torch_run(model)(*[floats(x) for x in inputs])
    truth_s = time.perf_counter() - started

    tiles = [0]
    started = time.perf_counter()
    got = apply_plan(plan, torch_run(net), inputs, spec.model.inputs,
                     lambda d, t: tiles.__setitem__(0, t), np.float32, features_run(net))
    plan_s = time.perf_counter() - started
    psnr, ssim, seam = compare(got, truth, plan)

    onnx_out, onnx_s, peak = artifact_by_plan("onnx", spec, weights, work / "art", inputs,
                                              np.float32)
    onnx_psnr = compare(onnx_out, truth, plan)[0]
    del onnx_out
    try:
        litert_out, litert_s, _ = artifact_by_plan("litert", spec, weights, work / "art-litert",
                                                   inputs, np.float32)
        litert = f"{compare(litert_out, truth, plan)[0]:.2f} | {litert_s:.1f}"
        del litert_out
    except Exception as e:  # a converter that cannot take it: said in the cell
        litert = f"failed: {str(e).splitlines()[0][:80]} | —"

    h, w = spec.height, spec.width
    resize_plan = {"version": 1, "strategy": "resize", "size": [h, w]}
    started = time.perf_counter()
    resized = apply_plan(resize_plan, torch_run(model), inputs,
                         registry.model_spec(model_id).inputs, dtype=np.float32)
    resize_s = time.perf_counter() - started
    resize_psnr = compare(resized, truth, resize_plan)[0]
    seam_text = "—" if seam is None else f"{seam:.2f}"
    rf = plan.get("receptive_field", {})
    margin = (f"{plan['margin']} ({'exact' if plan['exact'] else 'approx.'}; support "
              f"{rf.get('support')})" if "margin" in plan else "—")
    shown = plan["strategy"] + (f" (declared: {declared})" if declared != plan["strategy"]
                                else "")
    out_rows.append(
        f"| {model_id} | {variant} | {source} | {shown} | {h}x{w} | {margin} | "
        f"{tiles[0]} | {psnr:.2f} | {seam_text} | {ssim:.4f} | {plan_s:.1f} | {onnx_psnr:.2f} | "
        f"{onnx_s:.1f} | {peak / 2**20:.0f} | {litert} | {resize_psnr:.2f} | {resize_s:.1f} | "
        f"{truth_s:.1f} |")
    print(out_rows[-1], file=sys.stderr, flush=True)
    if model_id == "retouch_csrnet":
        for rule, size in THUMBNAILS:
            from dataclasses import replace

            from toolkit.fullres_split import split_model_spec, split_module

            fr = replace(spec.model.full_resolution, thumbnail_rule=rule,
                         statistics="thumbnail")
            base = replace(registry.model_spec(model_id), full_resolution=fr)
            sm = split_module(split_model_spec(base, size), model)
            sspec = replace(spec, model=split_model_spec(base, size))
            assert sspec.thumbnails, "the thumbnail study needs thumbnail inputs"
            splan = export_plan(sspec, sm)
            started = time.perf_counter()
            got = apply_plan(splan, torch_run(sm), inputs, sspec.model.inputs, dtype=np.float32)
            t = time.perf_counter() - started
            p, s, _ = compare(got, truth, splan)
            thumb_rows.append(f"| {rule} | {size[0]}x{size[1]} | {p:.2f} | {s:.4f} | {t:.1f} |")
            print(thumb_rows[-1], file=sys.stderr, flush=True)


def artifact_by_plan(fmt, spec, weights, folder: Path, inputs, dtype):
    """Export the ``fmt`` fp32 artifact of ``spec`` and run it by its manifest plan: (result,
    seconds, peak bytes of the numpy buffers beyond the result, by tracemalloc)."""
    from toolkit.apply import _ArtifactTarget
    from toolkit.export import export_artifacts

    with quiet():
        [manifest] = export_artifacts(spec, weights, [fmt], ["fp32"], folder, progress=False)
    artifact = _ArtifactTarget(manifest)
    tracemalloc.start()
    started = time.perf_counter()
    out = artifact.plan_run(inputs, dtype=dtype)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - out.nbytes
    tracemalloc.stop()
    return out, seconds, peak


def memory_48mp(work: Path) -> str:
    """Host buffers for a 48 MP photo through the CSRNet split ONNX artifact (uint8 result,
    as camkit run writes it)."""
    source = sorted(calibration_set("photos_pd"), key=lambda p: -p.stat().st_size)[1]
    photo = phone_photo(source, 1, (6048, 8064))
    weights, _ = weights_for("retouch_csrnet", "paper", MODELS[0][2], work)
    spec = make_spec("retouch_csrnet", "paper", None, "nchw", False, split=True)
    out, seconds, peak = artifact_by_plan("onnx", spec, weights, work / "art48", [photo],
                                          np.uint8)
    return (f"48 MP ({photo.shape[1]}x{photo.shape[0]}, `{source.name}` scaled up): the CSRNet "
            f"split ONNX fp32 artifact by its plan took {seconds:.0f} s; the photo is "
            f"{photo.nbytes / 2**20:.0f} MB and its uint8 result {out.nbytes / 2**20:.0f} MB, "
            f"and the plan's host buffers beyond them peaked at {peak / 2**20:.0f} MB "
            f"(tracemalloc; onnxruntime's arena not counted).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "full_resolution.md")
    parser.add_argument("--models", help="comma list of model ids (default: all)")
    parser.add_argument("--memory-only", action="store_true",
                        help="measure only the 48 MP memory line and replace it in --out")
    args = parser.parse_args()
    quiet_environment()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.memory_only:
        with tempfile.TemporaryDirectory() as tmp:
            big = memory_48mp(Path(tmp))
        lines = [big if line.startswith("48 MP") else line
                 for line in args.out.read_text().splitlines()]
        args.out.write_text("\n".join(lines) + "\n")
        print(big, file=sys.stderr)
        return
    source = sorted(calibration_set("photos_pd"), key=lambda p: -p.stat().st_size)[0]
    photo = phone_photo(source, 0)
    rows: list[str] = []
    thumbs: list[str] = []
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for model_id, variant, official in MODELS:
            if args.models and model_id not in args.models.split(","):
                continue
            measure_model(model_id, variant, official, photo, Path(tmp) / f"{model_id}-{variant}",
                          rows, thumbs)
        measured = {m for m, _, _ in MODELS if not args.models or m in args.models.split(",")}
        big = memory_48mp(Path(tmp) / "48mp") if "retouch_csrnet" in measured else None
    minutes = f"{(time.time() - start) / 60:.0f} min"
    if args.models and args.out.exists():  # keep the other models' rows, say what was rerun
        old = args.out.read_text().splitlines()
        kept = {m: [line for line in old if line.startswith(f"| {m} |")]
                for m, _, _ in MODELS if m not in measured}
        new = {m: [r for r in rows if r.startswith(f"| {m} |")] for m in measured}
        rows = [r for m in dict.fromkeys(m for m, _, _ in MODELS)
                for r in (new.get(m) or kept.get(m) or [])]
        if big is None:
            big = next((line for line in old if line.startswith("48 MP")), None)
        if not thumbs:
            at = next((i for i, line in enumerate(old) if line.startswith("| thumbnail rule")),
                      None)
            thumbs = [] if at is None else [
                line for line in old[at + 2:] if line.startswith("| ")]
        minutes += f" for {', '.join(sorted(measured))}; the other rows from the run before"
    lines = [
        "# Full resolution at 12 MP", "",
        f"Generated by `benchmarks/full_resolution.py` ({minutes} on this 2-core host, {torch.get_num_threads()} torch threads). One "
        f"{PHONE_PHOTO[1]}x{PHONE_PHOTO[0]} photo: `{source.name}` from the shipped calibration "
        "set scaled up (bicubic) with seeded noise (sigma 2/255); the truth is the torch float "
        "model on the whole photo at once. Plan: the manifest's full_resolution block at the "
        "variant's export size (split models exported with `--split`: CSRNet's statistics by "
        "tiles, its features artifact over the photo first; the others' default thumbnail, a "
        "mosaic of 4x4 full-scale crops, half the tile's size); margin measured on the weights "
        "(support of the centre pixel's gradient; 'approx.' when the support does not fit the "
        "tile and the radius holding all but 1e-6 of the gradient is used). Seam PSNR: bands "
        "along the interior tile borders. ONNX: the exported fp32 artifact by the same plan in "
        "onnxruntime (CPU); host MB: the peak of the numpy buffers the plan allocates beyond the "
        "photo and its float32 result (tracemalloc). LiteRT: the exported fp32 .tflite by the "
        "same plan in ai-edge-litert's interpreter (CPU). Resize: the photo shrunk to the export size, "
        "one pass, the result scaled back (the lossy fallback). Demonstration checkpoints prove "
        "the plan, not the model's quality.", "",
        "| model | variant | weights | plan | tile | margin px | tiles | plan PSNR (dB) | seam "
        "PSNR (dB) | SSIM | plan s (torch) | ONNX PSNR (dB) | ONNX s | host MB | LiteRT PSNR "
        "(dB) | LiteRT s | resize PSNR (dB) | resize s | whole-photo torch s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|", *rows,
        "",
        "WESPE is measured as a split although it declares `resize`: the table is why (its "
        "instance-norm statistics from a thumbnail miss the whole photo's; with the whole "
        "photo's statistics replayed the tiles are exact (tests/test_fullres.py "
        "`test_tiles_with_the_whole_photos_statistics_are_exact`), but that needs one pass over "
        "the photo per statistic).", ""]
    if big:
        lines += [big, ""]
    if thumbs:
        lines += [
            "## CSRNet split: a thumbnail instead of statistics by tiles", "",
            "The authors' CSRNet weights, the same photo, the alternative CSRNet does not "
            "declare: its condition network reads a thumbnail (one artifact, "
            "`FullResolution(statistics=\"thumbnail\")`), the per-pixel network the 1080x1920 "
            "tiles. Mosaic: 4x4 crops of the photo at full scale (toolkit/fullres.py "
            "`mosaic`); adaptive_average: the photo shrunk to that size. Why CSRNet declares "
            "statistics by tiles instead (the table above): no thumbnail reaches 40 dB.", "",
            "| thumbnail rule | size | PSNR vs whole photo (dB) | SSIM | plan s (torch) |",
            "|---|---|---|---|---|", *thumbs, ""]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
