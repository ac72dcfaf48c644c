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
from toolkit.checks.gate import run_checks  # noqa: E402
from toolkit.export import export_artifacts, make_spec, resolve_weights  # noqa: E402
from toolkit.profilers.host import time_runner  # noqa: E402
from toolkit.quantization.calibration import calibration_set, feeds_for  # noqa: E402
from toolkit.data.io import read_image  # noqa: E402

DPED = REPO.parent / "shared" / "data" / "dped_patches"


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
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    args = parser.parse_args()
    quiet_environment()

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
            rows.append({
                "format": result.format,
                "precision": result.precision,
                "size_mb": manifest["artifact"]["size_bytes"] / 1e6,
                "parity_psnr_db": result.worst_psnr_db,
                "task_drop_db": result.task["drop_db"] if result.task else None,
                "latency_median_ms": latency["median_ms"] if latency else None,
                "latency_p90_ms": latency["p90_ms"] if latency else None,
                "mode": result.mode,
                "passed": result.passed,
                "scheme_path": manifest["precision_scheme"].get("path"),
            })
    for row in rows:
        base = next((r for r in rows if r["format"] == row["format"] and r["precision"] == "fp32"), None)
        row["speedup_vs_fp32"] = (
            base["latency_median_ms"] / row["latency_median_ms"]
            if base and base["latency_median_ms"] and row["latency_median_ms"] else None
        )
        row["size_vs_fp32"] = row["size_mb"] / base["size_mb"] if base else None

    env = {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "versions": artifacts.package_versions(),
        "checkpoint": weights.describe()["sha256"],
        "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
        "task_data": f"{DPED}, first {args.pairs} pairs" if pairs else None,
    }
    (REPO / "benchmarks" / "results.json").write_text(json.dumps({"env": env, "rows": rows}, indent=2) + "\n")
    args.out.write_text(render(rows, env, args.size))
    print(f"wrote {args.out}")
    return 0


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
        "| format | precision | size (MB) | size vs fp32 | parity PSNR vs float (dB) | task drop (dB) "
        "| latency median (ms) | p90 (ms) | speed-up vs fp32 | check |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['format']} | {r['precision']} | {_f(r['size_mb'], '.3f')} | "
            f"{_f(r['size_vs_fp32'], '.0%')} | {_f(r['parity_psnr_db'], '.2f')} | "
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
        "statically here.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
