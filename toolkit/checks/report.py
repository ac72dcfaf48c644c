"""``camkit check`` outputs: check.json, check.junit.xml (one testcase per artifact), check.md."""

from __future__ import annotations

import json
import math
from pathlib import Path
from xml.etree import ElementTree as ET

from toolkit.artifacts import atomic_write_bytes, atomic_write_json
from toolkit.checks.parity import ArtifactCheck


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


def _budget(r: ArtifactCheck) -> str:
    return f"≥ {r.budget['psnr_db_min']:g}" if "psnr_db_min" in r.budget else "—"


def write_reports(results: list[ArtifactCheck], out_dir: Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    paths = {
        "json": out_dir / "check.json",
        "junit": out_dir / "check.junit.xml",
        "markdown": out_dir / "check.md",
    }
    atomic_write_json(
        paths["json"],
        {"passed": all(r.passed for r in results), "artifacts": [r.to_json() for r in results]},
    )
    atomic_write_bytes(paths["junit"], junit_xml(results))
    atomic_write_bytes(paths["markdown"], markdown(results).encode())
    return paths


def junit_xml(results: list[ArtifactCheck]) -> bytes:
    failures = sum(not r.passed for r in results)
    suite = ET.Element(
        "testsuite", name="camkit.check", tests=str(len(results)), failures=str(failures)
    )
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{r.model_id}.{r.variant}",
            name=f"{r.format}-{r.precision}-{r.layout}",
        )
        ET.SubElement(case, "system-out").text = json.dumps(r.to_json(), default=str)
        if r.problems:
            failure = ET.SubElement(case, "failure", message=r.problems[0])
            failure.text = "\n".join(r.problems)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def markdown(results: list[ArtifactCheck]) -> str:
    lines = [
        "# camkit check",
        "",
        f"**{'PASS' if all(r.passed for r in results) else 'FAIL'}**: "
        f"{sum(r.passed for r in results)} of {len(results)} artifacts within budget.",
        "",
        "| model | variant | format | precision | layout | mode | PSNR vs float (dB) | budget | "
        "SSIM | max abs | task drop (dB) | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        drop = r.task["drop_db"] if r.task else None
        lines.append(
            f"| {r.model_id} | {r.variant} | {r.format} | {r.precision} | {r.layout} | {r.mode} | "
            f"{_fmt(r.worst_psnr_db)} | {_budget(r)} | {_fmt(r.worst_ssim, 5)} | "
            f"{_fmt(r.worst_max_abs, 6)} | {_fmt(drop, 3)} | "
            f"{'pass' if r.passed else 'FAIL: ' + '; '.join(r.problems)} |"
        )
    lines += _task_tables(results)
    static = [r for r in results if r.mode == "static"]
    if static:
        lines += [
            "",
            "*static*: the runtime cannot run on this platform (Core ML prediction needs macOS), so "
            "only the spec, I/O names and shapes, precision and op histogram were verified.",
        ]
    stored = [r for r in results if r.reference.startswith("torch output stored")]
    if stored:
        lines += [
            "",
            f"**{len(stored)} artifact(s) checked against the stored sample only** "
            "(--accept-stored-sample with their checkpoint gone or changed, or the in-memory "
            "module they were exported from not given): the float model was not rebuilt and one "
            "photo stored at export time stood in for the sample set.",
        ]
    return "\n".join(lines) + "\n"


def _task_tables(results: list[ArtifactCheck]) -> list[str]:
    """One table per model x variant x data set: the input, the classical baselines, the torch
    float model and each artifact, against ground truth: what the network buys, and what the
    export costs."""
    lines: list[str] = []
    groups: dict[tuple, list[ArtifactCheck]] = {}
    for r in results:
        if r.task:
            groups.setdefault((r.model_id, r.variant, r.task["data"]), []).append(r)
    for (model_id, variant, data), rs in groups.items():
        first = rs[0].task
        lines += [
            "",
            f"## Task quality: {model_id} {variant} on {data}",
            "",
            f"{first['pairs']} image(s) at {first['size'][0]}x{first['size'][1]}, "
            f"metrics over the {first.get('region', 'whole image')}."
            + (f" **Warning: {first['warning']}.**" if first.get("warning") else ""),
            "",
            "| method | PSNR (dB) | SSIM |",
            "|---|---|---|",
            f"| input{' (hole filled with mid-grey)' if first.get('region') == 'inside the hole' else ''} "
            f"| {_fmt(first['input_psnr_db'])} | {_fmt(first.get('input_ssim'), 4)} |",
        ]
        for name, b in first.get("baselines", {}).items():
            if name != "psf":
                lines.append(f"| {name} (classical) | {_fmt(b['psnr_db'])} | {_fmt(b['ssim'], 4)} |")
        lines.append(f"| {model_id} torch float | {_fmt(first['float_psnr_db'])} | "
                     f"{_fmt(first['float_ssim'], 4)} |")
        for r in rs:
            lines.append(f"| {r.format} {r.precision} | {_fmt(r.task['artifact_psnr_db'])} | "
                         f"{_fmt(r.task['artifact_ssim'], 4)} |")
        psf = first.get("baselines", {}).get("psf")
        if psf:
            lines += ["", "PSF for the deblurring baselines: " + "; ".join(
                f"{p['image']}: {p['method']}" + (f", {p['length_px']:.0f} px at {p['angle_deg']:.0f} deg"
                                                   if "length_px" in p else "") for p in psf)]
    return lines
