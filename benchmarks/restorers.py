"""The restorers on real data: GoPro blur and Places2 holes, beside the classical baselines.

    nice -n 10 .venv/bin/python benchmarks/restorers.py
    # writes benchmarks/restorers.md, docs/restorers_gopro.jpg, docs/restorers_inpainting.jpg

1. Parameters and GMACs per variant (modules on the meta device, as ``camkit list --macs``):
   deblurring per 720x1280 frame, inpainting per 512x512 image.
2. The shipped ``mobile`` checkpoints exported to ONNX, LiteRT and Core ML at fp32, fp16 and
   w8a8 (``camkit export ... --no-check``), then ``camkit check --data``:
   deblur_nafnet and deblur_blur2blur at 720x1280 on ../shared/data/gopro_pairs (the photos are
   720x1280, so nothing is resized), inpaint_edgeconnect at 256x256 on
   ../shared/data/inpainting_examples (metrics inside the hole). The check runs the classical
   baselines on the same inputs (Richardson-Lucy and Wiener with the cepstrum PSF estimate;
   Telea, Navier-Stokes, biharmonic) and records parity and the w8a8 task drop.
3. Before/after grids from the torch float models and the baselines.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _camkit import camkit  # noqa: E402  (benchmarks/ is on sys.path when run)

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
GOPRO, HOLES = SHARED / "gopro_pairs", SHARED / "inpainting_examples"

RUNS = (  # model, export size, data
    ("deblur_nafnet", "720x1280", GOPRO),
    ("deblur_blur2blur", "720x1280", GOPRO),
    ("inpaint_edgeconnect", "256x256", HOLES),
)
COST = (  # model, frame size for GMACs
    ("deblur_nafnet", (720, 1280)),
    ("deblur_blur2blur_translator", (720, 1280)),
    ("deblur_blur2blur", (720, 1280)),
    ("inpaint_edgeconnect", (512, 512)),
)


def _f(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}f}"


def cost_table() -> list[str]:
    from toolkit import registry
    from toolkit.models._cost import conv_linear_macs

    lines = ["## Parameters and GMACs", "",
             "| model | frame | variant | parameters | GMACs |", "|---|---|---|---|---|"]
    for model_id, (h, w) in COST:
        spec, mod = registry.model_spec(model_id), registry.model_module(model_id)
        for variant in spec.variants:
            net = mod.build(variant)
            params = sum(p.numel() for p in net.parameters())
            macs = conv_linear_macs(net, tuple(t.channels for t in spec.inputs), h, w)
            lines.append(f"| {model_id} | {h}x{w} | {variant} | {params:,} | {macs / 1e9:.2f} |")
    return lines + [""]


def check_tables(report: dict, model: str) -> list[str]:
    rows = sorted(report["artifacts"], key=lambda r: (r["format"], r["precision"]))
    task = next(r["task"] for r in rows if r["task"])  # static rows (Core ML float) have none
    region = task.get("region", "whole image")
    lines = [f"## {model} mobile (shipped checkpoint) on {Path(task['data']).name}", "",
             f"{task['pairs']} image(s) at {task['size'][0]}x{task['size'][1]}, metrics: "
             f"{region}." + (f" **Warning: {task['warning']}.** The hole numbers measure "
                                  "closeness to that paint, not inpainting quality: read the "
                                  "grid below." if task.get("warning") else ""),
             "", "| method | PSNR (dB) | SSIM |", "|---|---|---|",
             f"| input{' (hole filled with grey)' if region == 'inside the hole' else ' (blurry)'}"
             f" | {_f(task['input_psnr_db'])} | {_f(task['input_ssim'], 4)} |"]
    for name, b in task.get("baselines", {}).items():
        if name != "psf":
            lines.append(f"| {name} (classical) | {_f(b['psnr_db'])} | {_f(b['ssim'], 4)} |")
    lines.append(f"| {model} torch float | {_f(task['float_psnr_db'])} | "
                 f"{_f(task['float_ssim'], 4)} |")
    psf = task.get("baselines", {}).get("psf")
    if psf:
        lines += ["", "PSF of the deblurring baselines: " + "; ".join(
            f"{p['image']}: {p['length_px']:.0f} px at {p['angle_deg']:.0f} deg" for p in psf)
            + " (cepstrum linear-motion estimate)."]
    lines += ["", "| format | precision | mode | parity PSNR (dB) | parity SSIM | task PSNR | "
              "task SSIM | task drop (dB) | check |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["task"] or {}
        lines.append(
            f"| {r['format']} | {r['precision']} | {r['mode']} | {_f(r['worst_psnr_db'])} | "
            f"{_f(r['worst_ssim'], 4)} | {_f(t.get('artifact_psnr_db'))} | "
            f"{_f(t.get('artifact_ssim'), 4)} | {_f(t.get('drop_db'), 3)} | "
            f"{'pass' if r['passed'] else 'FAIL: ' + '; '.join(r['problems'])} |")
    return lines + [""]


def grids() -> list[str]:
    """Crops of every method side by side; written under docs/."""
    from toolkit.checks import baselines
    from toolkit.checks.task import fit, load_pairs
    from toolkit.conversion._common import torch_runner
    from toolkit.data.io import from_layout, to_layout, write_image
    from toolkit.export import build_model, make_spec, resolve_weights

    def float_model(model_id, size):
        spec = make_spec(model_id, "mobile", size, "nchw", False)
        run = torch_runner(build_model(model_id, "mobile",
                                       resolve_weights(model_id, "mobile", None, False)), spec)
        out = spec.model.outputs[0].name
        return lambda feeds: np.clip(from_layout(run(feeds)[out], "nchw"), 0, 1)

    lines = []
    deblur = {m: float_model(m, (720, 1280)) for m in ("deblur_nafnet", "deblur_blur2blur")}
    rows = []
    for name, blurry, sharp in load_pairs(GOPRO):
        psf, _ = baselines.estimate_linear_psf(blurry)
        outs = [blurry, baselines.richardson_lucy(blurry, psf), baselines.wiener(blurry, psf)]
        outs += [run({"image": to_layout(blurry, "nchw")}) for run in deblur.values()]
        outs.append(sharp)
        rows.append(np.concatenate([o[232:488, 512:768] for o in outs], 1))  # 256 px centre
    write_image(REPO / "docs" / "restorers_gopro.jpg", np.concatenate(rows, 0))
    lines.append("![GoPro crops](../docs/restorers_gopro.jpg) Columns: blurry, Richardson-Lucy, "
                 "Wiener, deblur_nafnet mobile, deblur_blur2blur mobile, sharp (256x256 centre "
                 "crops of the 720x1280 frames).")
    inpaint = float_model("inpaint_edgeconnect", (256, 256))
    rows = []
    for name, image, _, mask in load_pairs(HOLES, masked=True):
        image = fit(image, 256, 256, "resize")
        mask = (fit(mask, 256, 256, "resize") > 0.5).astype(np.float32)
        outs = [image * (1 - mask) + 0.5 * mask]
        outs += [baselines.run(b, image, mask, None) for b in baselines.INPAINT]
        outs.append(inpaint({"image": to_layout(image, "nchw"), "mask": to_layout(mask, "nchw")}))
        outs.append(image)
        rows.append(np.concatenate(outs, 1))
    write_image(REPO / "docs" / "restorers_inpainting.jpg", np.concatenate(rows, 0))
    lines.append("![inpainting](../docs/restorers_inpainting.jpg) Columns: hole (grey), Telea, "
                 "Navier-Stokes, biharmonic, inpaint_edgeconnect mobile, original.")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="fp32,fp16,w8a8")
    args = parser.parse_args()
    for folder in (GOPRO, HOLES):
        if not folder.is_dir():
            raise SystemExit(f"{folder} is absent: this benchmark needs ../shared/data")
    start = time.time()
    lines = ["# Restorers on real data: GoPro blur, Places2 holes", "",
             "Generated by `benchmarks/restorers.py` (command at the end). Host CPU only; "
             "Core ML rows are checked statically (float) or on the simulated quantized graph "
             "(w8a8) off macOS.", ""]
    lines += cost_table()
    commands = []
    with tempfile.TemporaryDirectory(prefix="camkit-restorers-") as tmp:
        for model, size, data in RUNS:
            out = Path(tmp) / model
            commands.append(camkit("export", model, "--variant", "mobile", "--size", size,
                                   "--format", "onnx,litert,coreml", "--precision",
                                   args.precision, "--out", str(out), "--no-check"))
            commands.append(camkit("check", str(out), "--data", str(data), ok=(0, 1)))
            lines += check_tables(json.loads((out / "check.json").read_text()), model)
        commands = [" ".join(c).replace(tmp, "TMP") for c in commands]
    lines += grids()
    lines += [f"Regenerate: `nice -n 10 .venv/bin/python benchmarks/restorers.py` "
              f"({(time.time() - start) / 60:.0f} min here). Commands (TMP a temporary folder):",
              "", "```sh", *commands, "```", ""]
    (REPO / "benchmarks" / "restorers.md").write_text("\n".join(lines))
    print("wrote benchmarks/restorers.md", file=sys.stderr)


if __name__ == "__main__":
    main()
