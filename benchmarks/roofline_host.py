"""How far is the roofline estimate from host measurements, before and after calibration?

    nice -n 10 .venv/bin/python benchmarks/roofline_host.py   # ~1 min on 2 shared cores
    # writes benchmarks/roofline_host.md and benchmarks/roofline_host.json

Tiny CSRNet (the registry's weights) is exported to ONNX fp32 at four square sizes and timed
on this CPU with ``profile_host`` (one thread, so one AVX2 core is what the ``host_x86_avx2``
profile describes). The estimate for each size uses the profile's nominal peaks and the default
guessed factors ("before"), then factors fitted by ``roofline.fit`` to the calibration sizes
("after"). One size is held out of the fit, so the table shows an error the fit did not see.
A host is a stand-in for a phone here: it is the one device whose measurements this repo can
make, which is what a calibration test needs. The errors depend on this machine's clock,
caches and load; the script records the CPU model beside them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIZES = (64, 128, 192, 256)
HELD_OUT = 192
DEVICE = "host_x86_avx2"
RUNS, WARMUP = 30, 5


def main() -> None:
    from toolkit.export import export_artifacts, make_spec, resolve_weights
    from toolkit.profilers import roofline
    from toolkit.profilers.host_profile import host_facts, profile_host

    device = roofline.load_device(DEVICE)
    weights = resolve_weights("retouch_csrnet", "tiny", None, True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="camkit-roofline-") as tmp:
        measured = []
        for size in SIZES:
            spec = make_spec("retouch_csrnet", "tiny", (size, size), "nchw", False)
            [manifest] = export_artifacts(spec, weights, ["onnx"], ["fp32"],
                                          Path(tmp) / str(size), progress=False)
            measured.append((str(size), profile_host(manifest, threads=1, runs=RUNS,
                                                     warmup=WARMUP)))
        runs = roofline.calibration_runs(device, measured)
    fit_on = [(costs, ms) for size, costs, ms in runs if int(size) != HELD_OUT]
    fitted = roofline.fit(fit_on)
    for size, costs, ms in runs:
        before, after = (roofline.total_ms(costs, f) for f in (roofline.Factors(), fitted))
        rows.append({"size": int(size), "held_out": int(size) == HELD_OUT, "measured_ms": ms,
                     "estimate_before_ms": before, "error_before_pct": 100 * (before - ms) / ms,
                     "estimate_after_ms": after, "error_after_pct": 100 * (after - ms) / ms})
    out = {"device": DEVICE, "cpu_model": host_facts().cpu_model, "runs": RUNS,
           "factors_before": vars(roofline.Factors()), "factors_after": vars(fitted),
           "band_after": roofline.band_after(fit_on, fitted), "rows": rows}
    (REPO / "benchmarks" / "roofline_host.json").write_text(json.dumps(out, indent=2) + "\n")
    (REPO / "benchmarks" / "roofline_host.md").write_text(markdown(out))
    print(markdown(out), end="")


def markdown(out: dict) -> str:
    f = out["factors_after"]
    lines = [
        f"Roofline `{out['device']}` vs `profile host --threads 1` ({out['runs']} runs,"
        f" median), tiny CSRNet ONNX fp32, CPU: {out['cpu_model']}. Fitted: efficiency_compute"
        f" {f['efficiency_compute']:.3g}, efficiency_memory {f['efficiency_memory']:.3g},"
        f" per_op_overhead_ms {f['per_op_overhead_ms']:.3g}; calibrated band x/÷"
        f" {out['band_after']:.2f}.",
        "",
        "| size | measured ms | estimate before ms | error before | estimate after ms |"
        " error after |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in out["rows"]:
        size = f"{r['size']}x{r['size']}" + (" (held out)" if r["held_out"] else "")
        lines.append(f"| {size} | {r['measured_ms']:.3f} | {r['estimate_before_ms']:.3f} | "
                     f"{r['error_before_pct']:+.1f}% | {r['estimate_after_ms']:.3f} | "
                     f"{r['error_after_pct']:+.1f}% |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
