"""INT8 on real weights: parity of every format x precision on photos the calibration never saw.

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/int8_real_weights.py
    # writes benchmarks/int8_real_weights.md (about 45 minutes on 2 cores)

For each model -- the authors' released weights (official CSRNet FiveK, imported from
``../shared/data/csrnet_official``; the official DPED iPhone generator, imported from
``../shared/data/dped_official``) and, with ``--models``, shipped mobile checkpoints -- it runs,
through the CLI as a user would:

1. ``camkit import-weights`` (official weights) into a scratch folder;
2. ``camkit export MODEL --format F --precision fp32,w8a8[,w8a16] --size S --no-check`` with
   default settings for every format (each format exported separately, so one format's refusal
   of a precision does not stop the others);
3. ``camkit check ART --data HELD --no-baselines``: parity against the torch float model on the
   calibration photos (what the card budgets) and, from the task rows, on HELD: photos the
   calibration never saw (the GoPro frames, the Places2 inpainting photos and the first DPED
   iPhone patches of ../shared/data, each fitted to S by cover-resize and centre crop);
4. ``camkit profile host`` (ONNX and LiteRT): median latency against fp32;
5. ``--techniques`` / ``--frontier`` / ``--qat`` models: w8a8 per PTQ technique, the accuracy /
   float-MAC frontier (``--min-psnr-db X --data SEARCH``), quantization-aware fine-tuning.

The table gives, per artifact: parity mean and worst on HELD (PSNR, worst SSIM), the card's
verdict on the calibration photos, the float-MAC share and the layers kept float (the manifest's
``precision_scheme``), the file size and the host latency against fp32. Core ML cannot run off
macOS: its rows are the quantized torch graph the package was converted from ("simulated"),
as ``camkit check`` labels them. Numbers from a shipped mobile checkpoint are demonstration
weights: they prove the pipeline, not the quality.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from statistics import mean

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _camkit import camkit  # noqa: E402

from toolkit import registry  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "int8_real_weights.md"
FORMATS = ("onnx", "litert", "coreml")

#: name -> (model id, variant, how to get the weights: ("import", args) or ("shipped", None))
MODELS = {
    "csrnet_official": ("retouch_csrnet", "paper",
                        ("import", [str(SHARED / "csrnet_official" / "csrnet.pth"),
                                    "--variant", "paper"])),
    "dped_official": ("enhance_wespe", "paper",
                      ("import", [str(SHARED / "dped_official" / "iphone_orig"),
                                  "--from", "tensorflow"])),
    # the shipped demonstration checkpoints (CSRNet ships paper-sized weights, the others mobile)
    "retouch_csrnet_shipped": ("retouch_csrnet", "paper", ("shipped", None)),
    **{f"{m}_mobile": (m, "mobile", ("shipped", None)) for m in (
        "enhance_wespe", "enhance_dense_unet", "deblur_nafnet", "deblur_blur2blur",
        "inpaint_edgeconnect")},
}


def held_apart(folder: Path, dped_count: int) -> Path:
    """A paired folder whose inputs are photos no calibration set holds (targets = inputs: only
    the parity rows are used)."""
    from PIL import Image

    photos = sorted((SHARED / "gopro_pairs").glob("*.png"))
    photos += sorted((SHARED / "inpainting_examples" / "images").glob("*"))
    patches = sorted((SHARED / "dped_patches" / "iphone").glob("*.jpg"),
                     key=lambda p: int(p.stem))[:dped_count]
    if not photos and not patches:
        raise SystemExit(f"no held-apart photos under {SHARED}; this benchmark needs ../shared")
    for sub in ("input", "target"):
        (folder / sub).mkdir(parents=True)
    for i, path in enumerate(photos + patches):
        with Image.open(path) as im:
            rgb = im.convert("RGB")
            for sub in ("input", "target"):
                rgb.save(folder / sub / f"{i:03d}_{path.stem}.png")
    return folder


def held_masked(held: Path, folder: Path) -> Path:
    """HELD as an inpainting folder (images/ and masks/): each photo with the seeded hole
    ``camkit check`` would give it (toolkit.data.masks.sample_mask of its name), so inpainting
    models are measured on the same photos."""
    from PIL import Image

    from toolkit.data.masks import name_seed, sample_mask

    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
    for path in sorted((held / "input").iterdir()):
        with Image.open(path) as im:
            im.save(folder / "images" / path.name)
            w, h = im.size
        mask = sample_mask(h, w, name_seed(path.name))[..., 0]
        Image.fromarray((mask * 255).astype("uint8")).save(folder / "masks" / path.name)
    return folder


def search_set(folder: Path, skip: int, count: int) -> Path:
    """A paired folder of DPED iPhone patches after the held-apart ones (never in HELD, never in
    a calibration set): what the accuracy search of the frontier rows measures on."""
    from PIL import Image

    patches = sorted((SHARED / "dped_patches" / "iphone").glob("*.jpg"),
                     key=lambda p: int(p.stem))[skip:skip + count]
    for sub in ("input", "target"):
        (folder / sub).mkdir(parents=True)
    for path in patches:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
            for sub in ("input", "target"):
                rgb.save(folder / sub / f"{path.stem}.png")
    return folder


#: the PTQ technique rows: label -> extra `camkit export` arguments (w8a8, every format)
TECHNIQUES = {
    "plain PTQ (min/max, everything int8)": ["--ptq",
                                             "no-equalize,no-float-defaults,no-auto-float"],
    "+ model float defaults": ["--ptq", "no-equalize,no-auto-float"],
    "+ equalization": ["--ptq", "no-auto-float"],
    "+ card search (the default)": [],
    "default + NNCF fast bias correction": ["--ptq", "bias-correction"],
    "default, range=mean_minmax": ["--ptq", "range=mean_minmax"],
    "default, range=median_minmax": ["--ptq", "range=median_minmax"],
    "default, range=mean_no_outliers": ["--ptq", "range=mean_no_outliers"],
    "default, range=mean_quantile": ["--ptq", "range=mean_quantile"],
}


def masked_if_needed(model_id: str, paired: Path, work: Path) -> Path:
    """``paired`` itself, or (for a model that reads a mask) its images with a seeded hole mask
    each, as the inpainting models' data folders hold them."""
    if not any(t.role == "mask" for t in registry.model_spec(model_id).inputs):
        return paired
    folder = work / f"{paired.name}_masked"
    if not folder.exists():
        held_masked(paired, folder)
    return folder


def run_techniques(name: str, size: str, held: Path, search: Path, work: Path,
                   min_psnr: list[float], techniques: bool = True
                   ) -> tuple[list[dict], list[list[str]]]:
    """w8a8 of ``name`` in every format per technique row (``techniques``), and the accuracy
    search's frontier: ``--min-psnr-db X --data SEARCH`` for each X (layers kept float, measured
    on HELD)."""
    model_id, variant, _ = MODELS[name]
    ckpt = weights_for(name, work)
    held, search = masked_if_needed(model_id, held, work), masked_if_needed(model_id, search, work)
    rows, commands = [], []
    runs = ([(label, extra) for label, extra in TECHNIQUES.items()] if techniques
            else [("default (card search)", [])])
    runs += [(f"default + search --min-psnr-db {x:g}", ["--min-psnr-db", f"{x:g}", "--data",
                                                        str(search)]) for x in min_psnr]
    for i, (label, extra) in enumerate(runs):
        art = work / "tech" / name / str(i)
        commands.append(camkit("export", model_id, "--variant", variant, *ckpt, "--size", size,
                               "--format", ",".join(FORMATS), "--precision", "w8a8",
                               "--out", str(art), "--no-check", *extra, ok=(0, 1)))
        if not any(art.glob("*/*/*.manifest.json")):  # the search could not reach it
            rows.append({"technique": label, "format": "all", "failed": True})
            continue
        commands.append(camkit("check", str(art), "--data", str(held), "--no-baselines",
                               ok=(0, 1)))
        report = json.loads((art / "check.json").read_text())
        for entry in report["artifacts"]:
            scheme = json.loads(Path(entry["manifest"]).read_text())["precision_scheme"]
            task_rows = (entry.get("task") or {}).get("rows", [])
            parity = [_num(r["parity_psnr_db"]) for r in task_rows]
            rows.append({
                "technique": label, "format": entry["format"],
                "held_mean_db": mean(parity) if parity else None,
                "held_worst_db": min(parity) if parity else None,
                "held_worst_ssim": min(r["parity_ssim"] for r in task_rows) if task_rows
                else None,
                "calib_worst_db": _num(entry["worst_psnr_db"]),
                "calib_worst_ssim": entry["worst_ssim"],
                "passed": not [q for q in entry["problems"]
                               if not q.startswith("task PSNR drop")],
                "float_share": (scheme.get("float_mac_share") or {}).get("share"),
                "searched": [t for t in scheme.get("kept_float_layers") or []
                             if t not in (scheme.get("default_float_layers") or [])],
            })
    return rows, commands


def qat_photos(folder: Path, skip: int, count: int) -> Path:
    """DPED iPhone patches after the held-apart and search ones: the "user's photos" that
    ``camkit train --qat`` fine-tunes on (never in HELD, SEARCH or a calibration set)."""
    import shutil as _shutil

    patches = sorted((SHARED / "dped_patches" / "iphone").glob("*.jpg"),
                     key=lambda p: int(p.stem))[skip:skip + count]
    folder.mkdir(parents=True)
    for path in patches:
        _shutil.copy(path, folder / path.name)
    return folder


def teacher_pairs(held: Path, name: str, size: str, work: Path, folder: Path) -> Path:
    """HELD's inputs fitted to ``size`` (cover + centre crop, 8-bit), each with the *input*
    checkpoint's float output as its target: a check on it reports, as the task PSNR, how far
    an artifact of a fine-tuned checkpoint is from the float model the user started from (the
    8-bit targets cap it near 59 dB)."""
    import numpy as np
    import torch

    from toolkit.data.io import read_image, resize_cover, write_image
    from toolkit.export import Weights, build_model

    model_id, variant, _ = MODELS[name]
    ckpt = weights_for(name, work)
    model = build_model(model_id, variant, Weights(Path(ckpt[1]) if ckpt else None)).eval()
    h, w = (int(v) for v in size.split("x"))
    for sub in ("input", "target"):
        (folder / sub).mkdir(parents=True)
    for path in sorted((held / "input").iterdir()):
        x = np.round(resize_cover(read_image(path, 3), h, w) * 255) / 255
        with torch.no_grad():
            y = model(torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None])
        write_image(folder / "input" / path.name, x)
        write_image(folder / "target" / path.name, y[0].permute(1, 2, 0).clamp(0, 1).numpy())
    return folder


def run_qat(name: str, size: str, held: Path, work: Path, photos: Path, steps: int,
            crop: str) -> tuple[list[dict], list[list[str]]]:
    """Default w8a8 of the input checkpoint and of its ``camkit train --qat`` fine-tune, every
    format: parity against their own float model (what the card sees) and against the input
    checkpoint's float model (what the user started from), on HELD."""
    model_id, variant, _ = MODELS[name]
    ckpt = weights_for(name, work)
    qat_ckpt = work / "qat" / f"{name}-qat.safetensors"
    commands = [camkit("train", model_id, "--qat", "--variant", variant, *ckpt, "--photos",
                       str(photos), "--size", size, "--crop", crop, "--steps", str(steps),
                       "--out", str(qat_ckpt))]
    record = json.loads(qat_ckpt.with_suffix(".json").read_text())["qat"]
    pairs = teacher_pairs(held, name, size, work, work / "held_teacher")
    rows = []
    for label, weights in (("default PTQ", ckpt), ("default PTQ of the --qat checkpoint",
                                                   ["--checkpoint", str(qat_ckpt)])):
        art = work / "qat_art" / label.split()[-1]
        commands.append(camkit("export", model_id, "--variant", variant, *weights, "--size",
                               size, "--format", ",".join(FORMATS), "--precision", "w8a8",
                               "--out", str(art), "--no-check", ok=(0, 1)))
        own = {}
        for data in (held, pairs):
            commands.append(camkit("check", str(art), "--data", str(data), "--no-baselines",
                                   ok=(0, 1)))
            report = json.loads((art / "check.json").read_text())
            for entry in report["artifacts"]:
                task_rows = (entry.get("task") or {}).get("rows", [])
                if data == held:
                    scheme = json.loads(Path(entry["manifest"]).read_text())["precision_scheme"]
                    own[entry["format"]] = {
                        "technique": label, "format": entry["format"],
                        "own_mean": mean(_num(r["parity_psnr_db"]) for r in task_rows),
                        "own_worst": min(_num(r["parity_psnr_db"]) for r in task_rows),
                        "calib_worst": _num(entry["worst_psnr_db"]),
                        "passed": not [q for q in entry["problems"]
                                       if not q.startswith("task PSNR drop")],
                        "float_share": (scheme.get("float_mac_share") or {}).get("share"),
                    }
                else:
                    own[entry["format"]]["input_mean"] = mean(
                        _num(r["artifact_psnr_db"]) for r in task_rows)
                    own[entry["format"]]["input_worst"] = min(
                        _num(r["artifact_psnr_db"]) for r in task_rows)
        rows += [own[f] for f in FORMATS if f in own]
    return [{"record": record}] + rows, commands


def qat_markdown(rows: list[dict], name: str, photos: int) -> list[str]:
    record = rows[0]["record"]
    lines = [
        f"## Quantization-aware fine-tuning on {name} (w8a8, every format)",
        "",
        f"`camkit train MODEL --qat` on {photos} DPED iPhone patches (in neither HELD, the search "
        f"set nor a calibration set; every 5th validates, {record['val_photos']} photos): "
        f"validation worst / mean parity of the fake-int8 student "
        f"{record['val_worst_psnr_db_start']:.2f} / {record['val_mean_psnr_db_start']:.2f} dB "
        f"before, {record['val_worst_psnr_db']:.2f} / {record['val_mean_psnr_db']:.2f} dB at the "
        f"kept step {record['best_step']} of {record['options']['steps']}; the fine-tuned float "
        f"model is {record['float_vs_input_worst_psnr_db']:.1f} dB (worst validation photo) from "
        f"the input's. Then the default `camkit export --precision w8a8` of each checkpoint. "
        f"*Own float*: parity against the float model of the checkpoint exported (what the card "
        f"and `camkit check` measure); *input float*: against the float model of the checkpoint "
        f"the user started from (targets written as 8-bit PNG: capped near 59 dB); both on HELD.",
        "",
        "| checkpoint | format | held mean / worst vs own float (dB) | held mean / worst vs "
        "input float (dB) | calib worst (dB) | float MACs | card |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows[1:]:
        share = "—" if r["float_share"] is None else f"{100 * r['float_share']:.1f}%"
        lines.append(
            f"| {r['technique']} | {r['format']} | {_f(r['own_mean'])} / {_f(r['own_worst'])} | "
            f"{_f(r.get('input_mean'))} / {_f(r.get('input_worst'))} | {_f(r['calib_worst'])} | "
            f"{share} | {'pass' if r['passed'] else 'FAIL'} |")
    return lines + [""]


FRONTIER_HEADING = "## Accuracy / float-MAC frontier on "
#: the models whose default w8a8 misses the 38 / 42 dB bar: their frontier is measured by default
FRONTIER_DEFAULT = ("dped_official", "enhance_wespe_mobile", "inpaint_edgeconnect_mobile")


def techniques_markdown(rows: list[dict], name: str, frontier_only: bool = False) -> list[str]:
    search_text = (
        "The search rows keep layers float until the worst photo of a *search set* (24 further "
        "DPED iPhone patches, in neither HELD nor the calibration set; with hole masks for an "
        "inpainting model) reaches the target, so they trace the accuracy / float-MAC frontier.")
    if frontier_only:
        head = [
            "", f"{FRONTIER_HEADING}{name} (w8a8, every format)", "",
            "The default w8a8 export (first rows), then `camkit export ... --precision w8a8 "
            "--min-psnr-db X --data SEARCH`: parity against the torch float model, *held-apart* "
            "and *calib* as above. " + search_text, ""]
    else:
        head = [
            "", f"## PTQ techniques on {name} (w8a8, every format)", "",
            "Each row is one `camkit export ... --precision w8a8` with the arguments named; parity "
            "against the torch float model. *Held-apart* as above; *calib*: the calibration "
            "photos, which the card budgets (PSNR >= 30 dB, SSIM >= 0.95). " + search_text, ""]
    lines = head + [
        "| technique | format | held-apart mean (dB) | held-apart worst (dB) | worst SSIM | "
        "calib worst (dB) | calib SSIM | float MACs | searched float layers | card |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("failed"):
            lines.append(f"| {r['technique']} | all | export failed | | | | | | | |")
            continue
        share = "—" if r["float_share"] is None else f"{100 * r['float_share']:.1f}%"
        lines.append(
            f"| {r['technique']} | {r['format']} | {_f(r['held_mean_db'])} | "
            f"{_f(r['held_worst_db'])} | {_f(r['held_worst_ssim'], 4)} | "
            f"{_f(r['calib_worst_db'])} | {_f(r['calib_worst_ssim'], 4)} | {share} | "
            f"{', '.join(r['searched']) or 'none'} | {'pass' if r['passed'] else 'FAIL'} |")
    return lines


def weights_for(name: str, work: Path) -> list[str]:
    model_id, variant, (how, args) = MODELS[name]
    if how == "shipped":
        return []
    out = work / "ckpt" / name
    if not any(out.glob("*.safetensors")):
        camkit("import-weights", model_id, *args, "--out", str(out))
    return ["--checkpoint", str(next(out.glob("*.safetensors")))]


def run_model(name: str, formats: list[str], precisions: list[str], size: str, held: Path,
              work: Path, runs: int) -> tuple[list[dict], list[list[str]]]:
    model_id, variant, _ = MODELS[name]
    commands = []
    ckpt = weights_for(name, work)
    art = work / "art" / name
    for fmt in formats:
        offered = [p for p in ["fp32", *precisions] if p in registry.format_module(fmt).precisions
                   and not registry.card(model_id).refusal(fmt, p)]
        commands.append(camkit("export", model_id, "--variant", variant, *ckpt, "--size", size,
                               "--format", fmt, "--precision", ",".join(offered),
                               "--out", str(art), "--no-check"))
    data = masked_if_needed(model_id, held, work)
    commands.append(camkit("check", str(art), "--data", str(data), "--no-baselines",
                           ok=(0, 1)))
    report = json.loads((art / "check.json").read_text())
    rows, fp32_ms = [], {}
    for entry in report["artifacts"]:
        manifest_path = Path(entry["manifest"])
        manifest = json.loads(manifest_path.read_text())
        scheme = manifest["precision_scheme"]
        task_rows = (entry.get("task") or {}).get("rows", [])
        parity = [r["parity_psnr_db"] for r in task_rows]
        ms = None
        if entry["format"] in ("onnx", "litert"):
            out = work / "profiles" / f"{name}-{manifest_path.name}.json"
            commands.append(camkit("profile", "host", str(manifest_path),
                                   "--runs", str(runs), "--json", str(out)))
            ms = json.loads(out.read_text())["latency"]["median_ms"]
            if entry["precision"] == "fp32":
                fp32_ms[entry["format"]] = ms
        share = scheme.get("float_mac_share") or {}
        rows.append({
            "model": name, "format": entry["format"], "precision": entry["precision"],
            "mode": entry["mode"],
            "held_mean_db": mean(_num(p) for p in parity) if parity else None,
            "held_worst_db": min(_num(p) for p in parity) if parity else None,
            "held_worst_ssim": min(r["parity_ssim"] for r in task_rows) if task_rows else None,
            "calib_worst_db": _num(entry["worst_psnr_db"]) if entry["worst_psnr_db"] is not None
            else None,
            # the held-apart folder's targets are its inputs, so its task drop means nothing:
            # the verdict is the card's parity budget on the calibration photos
            "problems": [q for q in entry["problems"] if not q.startswith("task PSNR drop")],
            "float_share": share.get("share"),
            "kept": scheme.get("kept_float_layers") or [],
            "size_kb": manifest["artifact"]["size_bytes"] / 1024,
            "median_ms": ms,
        })
    for row in rows:
        base = fp32_ms.get(row["format"])
        row["vs_fp32"] = row["median_ms"] / base if row["median_ms"] and base else None
    return rows, commands


def _num(value) -> float:
    return float("inf") if value == "inf" else float(value)


def _f(value, digits: int = 2) -> str:
    if value is None:
        return "—"
    if value == float("inf"):
        return "inf"
    return f"{value:.{digits}f}"


def markdown(rows: list[dict], commands: list[list[str]], args, held_count: int,
             wall_s: float) -> str:
    lines = [
        "# INT8 on real weights",
        "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()} "
        f"({platform.processor() or 'cpu'}), {wall_s / 60:.1f} min, by:",
        "",
        "```",
        "OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/int8_real_weights.py "
        + " ".join(sys.argv[1:]),
        "```",
        "",
        f"Size {args.size}. Default export settings (the default w8a8 includes the card "
        f"search, which keeps layers float only when the card fails on the calibration photos; "
        f"docs/quantization.md). *Held-apart*: parity "
        f"against the torch float model on {held_count} photos no calibration set holds "
        f"(GoPro frames, Places2 inpainting photos, DPED iPhone patches; ../shared/data), mean "
        f"and worst image; *calib*: the worst of the calibration photos, which `camkit check` "
        f"budgets (card verdict in the last column). Float MACs: the share of multiply-"
        f"accumulates in the layers the export kept float (`precision_scheme.float_mac_share`). "
        f"Latency: host CPU median (a proxy, not a phone), against the same format's fp32. "
        f"Core ML rows are *simulated* off macOS (the quantized torch graph the package was "
        f"converted from). `*_mobile` and `*_shipped` rows are the shipped demonstration checkpoints: they "
        f"prove the pipeline, not the quality.",
        "",
        "| model | format | precision | mode | held-apart mean (dB) | held-apart worst (dB) | "
        "worst SSIM | calib worst (dB) | float MACs | layers kept float | size (KB) | "
        "host ms (vs fp32) | card |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        kept = ", ".join(r["kept"][:4]) + (f" (+{len(r['kept']) - 4})" if len(r["kept"]) > 4
                                           else "") if r["kept"] else "none"
        share = "—" if r["float_share"] is None else f"{100 * r['float_share']:.1f}%"
        ms = "—" if r["median_ms"] is None else (
            f"{r['median_ms']:.2f}" + (f" ({r['vs_fp32']:.2f}x)" if r["vs_fp32"] else ""))
        verdict = "FAIL: " + "; ".join(r["problems"])[:120] if r["problems"] else "pass"
        lines.append(
            f"| {r['model']} | {r['format']} | {r['precision']} | {r['mode']} | "
            f"{_f(r['held_mean_db'])} | {_f(r['held_worst_db'])} | {_f(r['held_worst_ssim'], 4)} | "
            f"{_f(r['calib_worst_db'])} | {share} | {kept} | {r['size_kb']:.0f} | {ms} | "
            f"{verdict} |")
    lines += ["", "Commands run, in order:", "", "```"]
    lines += [" ".join(c) for c in commands]
    lines += ["```", ""]
    return "\n".join(lines)


def main() -> None:
    import time

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="csrnet_official,dped_official",
                        help=f"comma list of {', '.join(MODELS)}")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--precisions", default="w8a8,w8a16")
    parser.add_argument("--size", default="256x256", help="export size HxW (default 256x256)")
    parser.add_argument("--dped-patches", type=int, default=16,
                        help="DPED iPhone patches among the held-apart photos (default 16)")
    parser.add_argument("--runs", type=int, default=5, help="timed host runs per artifact")
    parser.add_argument("--techniques", default="csrnet_official",
                        help="models whose PTQ technique table is measured (comma list; "
                        "'' for none)")
    parser.add_argument("--frontier", default=None,
                        help="models whose accuracy / float-MAC frontier alone (the default "
                        "w8a8 and the --min-psnr searches) is measured (comma list; '' for none; "
                        f"default: those of {', '.join(FRONTIER_DEFAULT)} that --models has)")
    parser.add_argument("--min-psnr", default="38,42",
                        help="accuracy-search targets (dB) of the frontier rows")
    parser.add_argument("--qat", default="csrnet_official",
                        help="models whose quantization-aware fine-tuning section is measured "
                        "(comma list; '' for none)")
    parser.add_argument("--qat-photos", type=int, default=256,
                        help="DPED patches --qat fine-tunes on (default 256)")
    parser.add_argument("--qat-steps", type=int, default=300)
    parser.add_argument("--only-qat", action="store_true",
                        help="measure only the --qat sections and replace them in --out, "
                        "keeping its other sections as they were")
    parser.add_argument("--only-frontier", action="store_true",
                        help="measure only the --frontier sections and replace them in --out, "
                        "keeping its other sections as they were")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    frontier = ([n for n in FRONTIER_DEFAULT if n in names] if args.frontier is None
                else [n.strip() for n in args.frontier.split(",") if n.strip()])
    unknown = [n for n in names + frontier if n not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model {unknown[0]}; choose from {', '.join(MODELS)}")
    targets = [float(x) for x in args.min_psnr.split(",") if x]
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="camkit-int8-real-"))
    try:
        held = held_apart(work / "held", args.dped_patches)
        qat_lines, qat_commands = [], []
        qat = [] if args.only_frontier else [n.strip() for n in args.qat.split(",") if n.strip()]
        for name in qat:
            photos = work / "qat_photos"
            if not photos.exists():
                qat_photos(photos, args.dped_patches + 24, args.qat_photos)
            got, cmds = run_qat(name, args.size, held, work, photos, args.qat_steps, "96x96")
            qat_lines += qat_markdown(got, name, len(list(photos.iterdir())))
            qat_commands += cmds
        frontier_lines, frontier_commands = [], []
        for name in [] if args.only_qat else frontier:
            search = work / "search"
            if not search.exists():
                search_set(search, args.dped_patches, 24)
            got, cmds = run_techniques(name, args.size, held, search, work, targets,
                                       techniques=False)
            frontier_lines += techniques_markdown(got, name, frontier_only=True)
            frontier_commands += cmds
        if args.only_qat or args.only_frontier:
            lines = qat_lines if args.only_qat else frontier_lines
            cmds = qat_commands if args.only_qat else frontier_commands
            heading = "\n## Quantization-aware fine-tuning" if args.only_qat else (
                "\n" + FRONTIER_HEADING)
            text = args.out.read_text()
            end = text.find("\nCommands run, in order:")
            start = text.find(heading)
            if start < 0:
                start = end
            else:  # through the last such section, up to the next other one
                last = text.rfind(heading, 0, end)
                following = text.find("\n## ", last + 1)
                end = following if 0 <= following < end else end
            took = time.perf_counter() - started
            how = shlex.join(["benchmarks/int8_real_weights.py", *sys.argv[1:]])
            section = "\n".join(lines) + (
                f"\n\nThis section alone was regenerated "
                f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC ({took / 60:.1f} min) by "
                f"`{how}`, running:\n\n```\n"
                + "\n".join(" ".join(c) for c in cmds) + "\n```\n")
            text = text[:start] + "\n" + section + text[end:]
            args.out.write_text(text.replace(str(work), "$WORK"))
            print(f"wrote {args.out}")
            return
        rows, commands = [], []
        for name in names:
            got, cmds = run_model(name, args.formats.split(","), args.precisions.split(","),
                                  args.size, held, work, args.runs)
            rows += got
            commands += cmds
        tech_lines = []
        for name in [n.strip() for n in args.techniques.split(",") if n.strip()]:
            search = work / "search"
            if not search.exists():
                search_set(search, args.dped_patches, 24)
            got, cmds = run_techniques(name, args.size, held, search, work, targets)
            tech_lines += techniques_markdown(got, name)
            commands += cmds
        tech_lines += frontier_lines
        commands += frontier_commands
        held_count = len(list((held / "input").iterdir()))
        commands += qat_commands
        text = markdown(rows, commands, args, held_count, time.perf_counter() - started)
        if tech_lines or qat_lines:
            marker = "\nCommands run, in order:"
            text = text.replace(marker, "\n".join(tech_lines + [""] + qat_lines) + "\n" + marker,
                                1)
        args.out.write_text(text.replace(str(work), "$WORK"))  # the scratch folder, gone now
        print(f"wrote {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
