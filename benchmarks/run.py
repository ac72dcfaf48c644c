"""Regenerate BENCHMARKS.md: CSRNet paper at 1080p, every installed format x precision.

    .venv/bin/python benchmarks/run.py            # writes BENCHMARKS.md and benchmarks/results.json

Per artifact: size, parity PSNR vs the torch float model (worst of the calibration photos),
task PSNR drop vs float on the DPED iPhone->Canon pairs (when ../shared/data is present; the
shipped CSRNet was not trained for DPED, so only the drop is meaningful), host latency median
and p90 (onnxruntime CPU / LiteRT XNNPACK; Core ML needs macOS) and speed-up over fp32 of the
same format. Performance is measured here, never in timed tests: the machine is shared and noisy,
so latencies are indicative and the spread (p90) is printed beside each median.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from toolkit import artifacts, registry  # noqa: E402
from toolkit._quiet import quiet_environment  # noqa: E402
from toolkit.errors import CamkitError  # noqa: E402
from toolkit.checks.gate import run_checks  # noqa: E402
from toolkit.export import export_artifacts, make_spec, resolve_weights  # noqa: E402
from toolkit.profilers.host import time_runner  # noqa: E402
from toolkit.quantization.calibration import calibration_set, feeds_for  # noqa: E402
from toolkit.data.io import read_image  # noqa: E402

DPED = REPO.parent / "shared" / "data" / "dped_patches"
#: what the studies write (benchmarks/calibration_size.py, benchmarks/int8_real_weights.py,
#: benchmarks/int8_error_budget.py, benchmarks/int8_norm_inputs.py, benchmarks/receptive_fields.py,
#: benchmarks/full_resolution.py; int8_shipped_mobile.md is
#: int8_real_weights.py --models of the shipped checkpoints --out it); each is included in
#: BENCHMARKS.md, in this order, when present
STUDIES = (REPO / "benchmarks" / "calibration_size.md",
           REPO / "benchmarks" / "int8_real_weights.md",
           REPO / "benchmarks" / "int8_shipped_mobile.md",
           REPO / "benchmarks" / "int8_error_budget.md",
           REPO / "benchmarks" / "int8_norm_inputs.md",
           REPO / "benchmarks" / "receptive_fields.md",
           REPO / "benchmarks" / "full_resolution.md")


def weight_bytes(fmt: str, path: Path) -> int:
    """Bytes of the weight payload inside an artifact (the part quantization shrinks): ONNX
    initializers, TFLite buffers, the Core ML package's weight.bin."""
    if fmt == "onnx":
        import onnx
        from onnx import numpy_helper

        return sum(numpy_helper.to_array(t).nbytes for t in onnx.load(str(path)).graph.initializer)
    if fmt == "litert":
        from ai_edge_litert import schema_py_generated as schema

        model = schema.Model.GetRootAs(path.read_bytes(), 0)
        return sum(model.Buffers(i).DataLength() for i in range(model.BuffersLength()))
    if fmt == "coreml":
        return sum(f.stat().st_size for f in path.rglob("weight.bin"))
    raise ValueError(f"no weight reader for {fmt}")


def accuracy_aware(spec, weights, formats, pairs_dir: Path, count: int, budget_db: float,
                   out: Path) -> list[dict]:
    """w8a8 with ``--max-drop-db budget_db`` per format: trials, layers kept float, time."""
    import time

    from toolkit.checks.task import load_pairs
    from toolkit.export import AccuracyTarget

    target = AccuracyTarget(budget_db, pairs_dir, load_pairs(pairs_dir, 3, count))
    rows = []
    for fmt in formats:
        started = time.perf_counter()
        try:
            [manifest] = export_artifacts(spec, weights, [fmt], ["w8a8"], out / fmt,
                                          accuracy=target)
        except CamkitError as e:  # a budget that cannot be reached is a result too
            rows.append({"format": fmt, "error": str(e),
                         "seconds": time.perf_counter() - started})
            continue
        control = artifacts.read_manifest(manifest)["precision_scheme"]["accuracy_control"]
        rows.append({
            "format": fmt,
            "budget_db": budget_db,
            "first_drop_db": control["trials"][0]["drop_db"],
            "final_drop_db": control["drop_db"],
            "kept_float_layers": control["kept_float_layers"],
            "trials": len(control["trials"]),
            "ranking_top": [r["layer"] for r in (control["ranking"] or [])[:5]],
            "seconds": time.perf_counter() - started,
        })
    return rows


def paired_dped(workdir: Path) -> Path | None:
    """input/ -> DPED iPhone patches, target/ -> the aligned Canon patches (symlinks)."""
    if not (DPED / "iphone").is_dir():
        return None
    root = workdir / "dped_pairs"
    root.mkdir()
    (root / "input").symlink_to(DPED / "iphone")
    (root / "target").symlink_to(DPED / "canon")
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1080x1920", help="static export size HxW")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per artifact")
    parser.add_argument("--pairs", type=int, default=8,
                        help="DPED pairs for the task drop (each is run at the export size)")
    parser.add_argument("--max-drop-db", type=float, default=0.05,
                        help="budget of the accuracy-aware w8a8 section (dB; 0 to skip it)")
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--studies-only", action="store_true",
                        help="measure nothing: render the 1080p table from the last "
                        "benchmarks/results.json (its date stays in the header) and include "
                        "the studies' current .md files")
    args = parser.parse_args()
    quiet_environment()
    if args.studies_only:
        saved = json.loads((REPO / "benchmarks" / "results.json").read_text())
        size = saved["env"].get("size", args.size)
        write_page(args.out, render(saved["rows"], saved["env"], size)
                   + render_accuracy(saved["accuracy_aware"], args.max_drop_db))
        print(f"wrote {args.out} (1080p table from results.json of {saved['env']['date_utc']})")
        return 0

    model_id, variant = "retouch_csrnet", "paper"
    height, width = (int(v) for v in args.size.split("x"))
    spec = make_spec(model_id, variant, (height, width), "nchw", False)
    weights = resolve_weights(model_id, variant, None, False)
    formats = [f for f in registry.format_names() if registry.format_available(f)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifests = []
        for fmt in formats:
            manifests += export_artifacts(
                spec, weights, [fmt], list(registry.format_module(fmt).precisions), tmp / "art"
            )
        pairs = paired_dped(tmp)
        results, _ = run_checks(
            tmp / "art", data_dir=pairs, out_dir=tmp, only=manifests, max_images=args.pairs
        )
        feeds = feeds_for(read_image(calibration_set(spec.model.calibration_set)[0]), spec)
        rows = []
        for manifest_path, result in zip(manifests, results):
            manifest = artifacts.read_manifest(manifest_path)
            latency = None
            if result.mode == "runtime":
                runner = registry.load_runner(manifest_path, manifest)
                latency = time_runner(runner, feeds, warmup=2, runs=args.runs)
            artifact = manifest_path.parent / manifest["artifact"]["file"]
            rows.append({
                "format": result.format,
                "precision": result.precision,
                "size_mb": manifest["artifact"]["size_bytes"] / 1e6,
                "weights_mb": weight_bytes(result.format, artifact) / 1e6,
                "parity_psnr_db": result.worst_psnr_db,
                "task_drop_db": result.task["drop_db"] if result.task else None,
                "latency_median_ms": latency["median_ms"] if latency else None,
                "latency_p90_ms": latency["p90_ms"] if latency else None,
                "mode": result.mode,
                "passed": result.passed,
                "scheme_path": manifest["precision_scheme"].get("path"),
            })
        accuracy_rows = []
        if pairs and args.max_drop_db > 0:
            accuracy_rows = accuracy_aware(spec, weights, formats, pairs, args.pairs,
                                           args.max_drop_db, tmp / "aa")
    for row in rows:
        base = next((r for r in rows if r["format"] == row["format"] and r["precision"] == "fp32"), None)
        row["speedup_vs_fp32"] = (
            base["latency_median_ms"] / row["latency_median_ms"]
            if base and base["latency_median_ms"] and row["latency_median_ms"] else None
        )
        row["size_vs_fp32"] = row["size_mb"] / base["size_mb"] if base else None
        row["weights_vs_fp32"] = row["weights_mb"] / base["weights_mb"] if base else None

    env = {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "versions": artifacts.package_versions(),
        "checkpoint": weights.describe()["sha256"],
        "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
        "task_data": f"{DPED}, first {args.pairs} pairs" if pairs else None,
        "size": args.size,
    }
    (REPO / "benchmarks" / "results.json").write_text(
        json.dumps({"env": env, "rows": rows, "accuracy_aware": accuracy_rows}, indent=2) + "\n"
    )
    write_page(args.out, render(rows, env, args.size)
               + render_accuracy(accuracy_rows, args.max_drop_db))
    print(f"wrote {args.out}")
    return 0


def write_page(out: Path, text: str) -> None:
    """BENCHMARKS.md: the 1080p tables, then every study's current .md (STUDIES)."""
    for study in STUDIES:
        if study.exists():
            text += "\n" + study.read_text()
    out.write_text(text)


def _f(value, fmt):
    if value is None:
        return "n/a"
    if value == float("inf"):
        return "inf"
    return format(value, fmt)


def render(rows, env, size) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"CSRNet `paper` (shipped checkpoint, sha256 `{env['checkpoint'][:12]}`) at {size}, every "
        "installed format x precision. Regenerate with:",
        "",
        "```sh",
        f"{env['command'].strip()}",
        "```",
        "",
        f"Machine: {env['machine']}; Python {env['python']}; measured {env['date_utc']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v) + ".",
        "",
        "| format | precision | size (MB) | size vs fp32 | weights vs fp32 "
        "| parity PSNR vs float (dB) | task drop (dB) "
        "| latency median (ms) | p90 (ms) | speed-up vs fp32 | check |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['format']} | {r['precision']} | {_f(r['size_mb'], '.3f')} | "
            f"{_f(r['size_vs_fp32'], '.0%')} | {_f(r['weights_vs_fp32'], '.0%')} | "
            f"{_f(r['parity_psnr_db'], '.2f')} | "
            f"{_f(r['task_drop_db'], '.3f')} | {_f(r['latency_median_ms'], '.1f')} | "
            f"{_f(r['latency_p90_ms'], '.1f')} | {_f(r['speedup_vs_fp32'], '.2f')} | "
            f"{'pass' if r['passed'] else 'FAIL'}{'' if r['mode'] == 'runtime' else ' (' + r['mode'] + ')'} |"
        )
    lines += [
        "",
        "Task drop: mean PSNR of the float model minus the artifact's against the Canon targets of "
        f"the DPED iPhone->Canon patch pairs ({env['task_data'] or 'not available: ../shared/data absent'}), "
        "each patch resized to the export size. Latency: host CPU, median and 90th percentile of "
        "timed runs after 2 warm-ups; Core ML runs on macOS only, so its rows are checked "
        "statically here. Weights vs fp32: the weight payload only (ONNX initializers, TFLite "
        "buffers, Core ML weight.bin), the part int8 shrinks; the rest of a file is graph "
        "structure, tensor names, quantization parameters and (Core ML) coremltools' debug "
        "mapping, a fixed cost that CSRNet's 36k parameters (146 KB in fp32) do not dwarf.",
    ]
    return "\n".join(lines) + "\n"


def render_accuracy(rows: list[dict], budget_db: float) -> str:
    if not rows:
        return ""
    lines = [
        "",
        f"## Accuracy-aware w8a8 (`--max-drop-db {budget_db:g}`)",
        "",
        "Same model, pairs and size; each format's w8a8 export with the budget. When the fully "
        "quantized artifact misses it, layers are ranked by sensitivity and the most sensitive "
        "are kept float until the drop is within budget (docs/int8.md: Accuracy-aware quantization).",
        "",
        "| format | drop fully quantized (dB) | final drop (dB) | layers kept float | exports "
        "| most sensitive (ranking) | wall time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['format']} | | | {r['error']} | | | {r['seconds']:.0f} |")
            continue
        kept = ", ".join(f"`{k}`" for k in r["kept_float_layers"]) or "none"
        top = ", ".join(r["ranking_top"]) or "(not needed)"
        lines.append(
            f"| {r['format']} | {r['first_drop_db']:.3f} | {r['final_drop_db']:.3f} | {kept} | "
            f"{r['trials']} | {top} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
