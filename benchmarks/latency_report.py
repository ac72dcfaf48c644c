"""CSRNet paper at 1080x1920 through the CLI, the way a user runs it, into one `camkit report`.

    nice -n 10 .venv/bin/python benchmarks/latency_report.py [--runs 20] [--pairs 8]
    # ~10 min on 2 shared cores; writes benchmarks/latency_report.md and
    # docs/report_csrnet_paper_1080p.png (the plot in docs/profiling.md)

1. ``camkit export retouch_csrnet --variant paper --size 1080x1920 --format onnx,litert
   --precision fp32,fp16,w8a8`` (the shipped checkpoint);
2. ``camkit check`` (with ``--data`` on the DPED iPhone->Canon pairs in ../shared/data when
   present, so the plot's quality axis is task PSNR; else PSNR against the float model);
3. ``camkit profile host`` for every artifact (the measured points) and ``camkit profile
   estimate --device host_x86_avx2`` for the fp32 ONNX one (a hollow point with its band; the
   device profile has no published fp16/int8 peak, so other precisions are refused there);
4. ``camkit report``.
Every command is printed and recorded in the markdown, so each number can be reproduced alone.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _camkit import camkit as _camkit  # noqa: E402  (benchmarks/ is on sys.path when run)

REPO = Path(__file__).resolve().parents[1]
DPED = REPO.parent / "shared" / "data" / "dped_patches"
PLOT = REPO / "docs" / "report_csrnet_paper_1080p.png"
MARKDOWN = REPO / "benchmarks" / "latency_report.md"
KEEP = REPO / "benchmarks" / "latency_report"  # check.json + profiles/ of the last run


def camkit(*args: str, ok=(0,)) -> list[str]:
    return _camkit(*args, ok=ok, show_output=True)  # the report wants camkit's own output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed host runs per artifact")
    parser.add_argument("--pairs", type=int, default=8, help="DPED pairs for the task check")
    args = parser.parse_args()
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="camkit-latency-report-") as tmp:
        out = Path(tmp) / "out"
        commands = [camkit("export", "retouch_csrnet", "--variant", "paper", "--size",
                           "1080x1920", "--format", "onnx,litert", "--precision",
                           "fp32,fp16,w8a8", "--out", str(out), "--no-check")]
        data = []
        if (DPED / "iphone").is_dir():  # camkit check --data reads input/ and target/
            pairs = Path(tmp) / "dped_pairs"
            pairs.mkdir()
            (pairs / "input").symlink_to(DPED / "iphone")
            (pairs / "target").symlink_to(DPED / "canon")
            data = ["--data", str(pairs), "--max-images", str(args.pairs)]
        # exit 1 is a broken budget: still a report (the page shows which row failed)
        commands.append(camkit("check", str(out), "--out", str(out), *data, ok=(0, 1)))
        for manifest in sorted(out.rglob("*.manifest.json")):
            stem = manifest.name.removesuffix(".manifest.json")
            commands.append(camkit("profile", "host", str(manifest), "--runs",
                                   str(args.runs), "--warmup", "2", "--json",
                                   str(out / "profiles" / f"{stem}.host.json")))
            # the host profile lists an fp32 peak only (no published fp16/int8 single numbers)
            if manifest.name.endswith("-fp32.onnx.manifest.json"):
                commands.append(camkit("profile", "estimate", str(manifest), "--device",
                                       "host_x86_avx2", "--json",
                                       str(out / "profiles" / f"{stem}.estimate.json")))
        commands.append(camkit("report", str(out)))
        # keep the inputs of the page, so `camkit report benchmarks/latency_report` redraws it
        if KEEP.exists():
            shutil.rmtree(KEEP)
        KEEP.mkdir()
        shutil.copyfile(out / "check.json", KEEP / "check.json")
        shutil.copytree(out / "profiles", KEEP / "profiles")
        PLOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(out / "psnr_vs_latency.png", PLOT)
        report = (out / "report.md").read_text().replace(tmp, "TMP")
        commands = [[a.replace(tmp, "TMP") for a in c] for c in commands]
    minutes = (time.time() - start) / 60
    text = [
        "# CSRNet paper, 1080x1920: accuracy and host latency in one `camkit report`",
        "",
        f"Regenerate: `nice -n 10 .venv/bin/python benchmarks/latency_report.py --runs "
        f"{args.runs} --pairs {args.pairs}` ({minutes:.0f} min here). Task data: "
        + (f"{args.pairs} DPED iPhone->Canon pairs (../shared/data/dped_patches)." if data else
           "none (../shared/data absent), so quality is PSNR against the float model."),
        "Host rows are this shared 2-core x86 machine: a proxy that ranks artifacts.",
        "",
        "![quality vs latency](../docs/report_csrnet_paper_1080p.png)",
        "",
        report.split("\n", 1)[1].replace("![quality vs latency](psnr_vs_latency.png)", ""),
        "## Commands (TMP = a temporary folder; TMP/dped_pairs links input/ and target/ to the "
        "DPED iphone/ and canon/ patches)",
        "",
        "```sh",
        *(" ".join(c) for c in commands),
        "```",
        "",
    ]
    MARKDOWN.write_text("\n".join(text))
    print(f"wrote {MARKDOWN} and {PLOT}", file=sys.stderr)


if __name__ == "__main__":
    main()
