"""``camkit report``: accuracy (``camkit check``) and latency (``camkit profile``) on one page.

Inputs are files other commands wrote: ``check.json`` from ``camkit check DIR`` and profile
results from ``camkit profile host|android|macos|estimate ... --json FILE``. A profile result
belongs to an artifact when its ``model.sha256`` equals the sha256 in that artifact's manifest,
so results taken elsewhere (a phone, a device lab) join as long as they were parsed with
``--manifest``. One latency row per
artifact x target, where a target is where it ran and how: "host · onnxruntime CPU", "Pixel 8 ·
benchmark_model GPU", "Apple A17 Pro · roofline npu".

The plot puts quality (task PSNR against ground truth when every plotted artifact has it, else
PSNR against the float model) over median latency: measured points are filled, estimated points
hollow with their uncertainty band as a bar, so an estimate never passes for a measurement.
Static results carry no latency and stay out of the plot and the table.

Writes ``report.md``, ``report.html`` (self-contained, the plot inlined) and
``psnr_vs_latency.png`` into the output folder.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.artifacts import atomic_write_bytes
from toolkit.errors import CamkitError, missing_extra
from toolkit.profilers.compare import load_results
from toolkit.profilers.schema import ProfileResult

PSNR_CAP_DB = 120.0
QUALITY_AXES = ("auto", "task", "parity")


@dataclass(frozen=True)
class Artifact:
    """One checked artifact, as check.json recorded it."""

    sha256: str | None
    model: str
    format: str
    precision: str
    file: str
    mode: str
    passed: bool
    parity_psnr_db: float | None
    parity_ssim: float | None
    task_psnr_db: float | None
    task_drop_db: float | None


@dataclass(frozen=True)
class LatencyRow:
    """One artifact on one target."""

    artifact: Artifact | None  # None: the result's model matches no checked artifact
    format: str
    precision: str
    target: str
    kind: str
    median_ms: float | None
    p90_ms: float | None
    min_ms: float | None
    max_ms: float | None
    n: int | None
    delegation: str
    source: str
    device_parity_db: float | None = None  # the camkit app's on-device parity (worst output)


# ------------------------------------------------------------------------------------ inputs


def load_checks(check_json: Path) -> list[Artifact]:
    """The artifacts of a check.json; each manifest is read for its artifact's sha256."""
    try:
        data = json.loads(Path(check_json).read_text())
        rows = data["artifacts"]
    except FileNotFoundError:
        raise CamkitError(f"{check_json} does not exist; run 'camkit check DIR' first (or pass "
                          "--checks FILE)") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise CamkitError(f"{check_json} is not a check.json written by 'camkit check'; "
                          "re-run camkit check") from None
    out = []
    for row in rows:
        task = row["task"] or {}
        out.append(Artifact(
            sha256=row.get("artifact_sha256") or _manifest_sha(Path(row["manifest"])),
            model=f"{row['model_id']}-{row['variant']}",
            format=row["format"], precision=row["precision"],
            file=Path(row["manifest"]).name.removesuffix(".manifest.json"),
            mode=row["mode"], passed=row["passed"],
            parity_psnr_db=_number(row["worst_psnr_db"]), parity_ssim=row["worst_ssim"],
            task_psnr_db=task.get("artifact_psnr_db"), task_drop_db=task.get("drop_db"),
        ))
    return out


def _manifest_sha(path: Path) -> str | None:
    """check.json files from before artifact_sha256 was recorded: read it from the manifest."""
    try:
        return json.loads(path.read_text())["artifact"]["sha256"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None  # moved or deleted since the check: the row cannot be joined, and says so


def _number(value: Any) -> float | None:
    """check.json writes identical outputs' PSNR as the string 'inf'."""
    if value == "inf":
        return math.inf
    return value


def find_profiles(folder: Path) -> list[Path]:
    """Profile results under ``folder``: every JSON file with the profile schema's keys."""
    found = []
    for path in sorted(Path(folder).rglob("*.json")):
        if path.name == "check.json" or path.name.endswith(".manifest.json"):
            continue
        try:
            obj = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(obj, dict) and {"kind", "runtime", "latency", "schema"} <= set(obj):
            found.append(path)
    return found


# ------------------------------------------------------------------------------------- join


def target_label(result: ProfileResult) -> str:
    """Where and how a result ran, short enough for a legend."""
    rt = result.runtime
    if result.app is not None:  # the camkit app: its backend id says runtime and accelerator
        where = (result.device.model or result.device.soc) if result.device else None
        return f"{where or 'device'} · app {result.app.backend}"
    if result.device is not None:
        where = result.device.model or result.device.soc or "device"
    else:
        where = "host"
    how = rt.name or rt.tool or "?"
    engine = rt.options.get("compute_units") or rt.delegate or rt.accelerator
    if engine == "CPUExecutionProvider":
        engine = "CPU"
    return f"{where} · {how}" + (f" {engine}" if engine else "")


def join(artifacts: list[Artifact], results: list[ProfileResult],
         paths: list[Path]) -> list[LatencyRow]:
    """One row per timed result (static results have no latency), matched by sha256."""
    by_sha = {a.sha256: a for a in artifacts if a.sha256}
    rows = []
    for result, path in zip(results, paths, strict=True):
        if result.kind == "static" or result.latency.median_ms is None:
            continue
        artifact = by_sha.get(result.model.sha256)
        d = result.delegation
        delegation = "-" if d is None else (
            f"{d.nodes_delegated}/{d.nodes_total}" if d.nodes_total else "?")
        rows.append(LatencyRow(
            artifact=artifact,
            format=result.model.format or (artifact.format if artifact else "?"),
            precision=result.model.precision or (artifact.precision if artifact else "?"),
            target=target_label(result), kind=result.kind,
            median_ms=result.latency.median_ms, p90_ms=result.latency.p90_ms,
            min_ms=result.latency.min_ms, max_ms=result.latency.max_ms, n=result.latency.n,
            delegation=delegation, source=str(path),
            device_parity_db=result.app.worst_parity_db() if result.app else None,
        ))
    return sorted(rows, key=lambda r: (r.target, r.format, r.precision, r.kind))


def quality_axis(rows: list[LatencyRow], choice: str) -> str:
    """'task' when asked or (auto) when every plotted artifact has a task PSNR, else 'parity'."""
    if choice not in QUALITY_AXES:
        raise CamkitError(f"--quality must be one of {', '.join(QUALITY_AXES)}, got '{choice}'")
    joined = [r.artifact for r in rows if r.artifact is not None]
    has_task = bool(joined) and all(a.task_psnr_db is not None for a in joined)
    if choice == "task" and not has_task:
        raise CamkitError("--quality task needs task results for every artifact; run "
                          "'camkit check DIR --data PAIRED_DIR' first")
    if choice == "auto":
        return "task" if has_task else "parity"
    return choice


def quality_of(artifact: Artifact, axis: str) -> float | None:
    value = artifact.task_psnr_db if axis == "task" else artifact.parity_psnr_db
    return None if value is None else min(value, PSNR_CAP_DB)


# ------------------------------------------------------------------------------------- plot

_MARKERS = {"onnx": "o", "litert": "s", "coreml": "^"}


def plot_png(rows: list[LatencyRow], axis: str, title: str) -> bytes | None:
    """PNG bytes of quality vs median latency, or None when no row has both."""
    points = [r for r in rows if r.artifact is not None and quality_of(r.artifact, axis) is not None]
    if not points:
        return None
    try:
        import matplotlib
    except ImportError:
        raise missing_extra("matplotlib", "report") from None
    matplotlib.use("Agg")
    import io

    from matplotlib import pyplot as plt

    targets = sorted({r.target for r in points})
    colours = {t: plt.get_cmap("tab10")(i % 10) for i, t in enumerate(targets)}
    fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    placed: list[tuple[float, float, int]] = []  # (log10 ms, dB, stack level) of labels drawn
    y_all = [quality_of(r.artifact, axis) for r in points]
    y_span = (max(y_all) - min(y_all)) or 1.0
    for r in sorted(points, key=lambda r: (r.median_ms, r.format, r.precision)):
        y = quality_of(r.artifact, axis)
        colour = colours[r.target]
        marker = _MARKERS.get(r.format, "D")
        if r.kind == "estimated":
            low = r.median_ms - (r.min_ms if r.min_ms is not None else r.median_ms)
            high = (r.max_ms if r.max_ms is not None else r.median_ms) - r.median_ms
            ax.errorbar(r.median_ms, y, xerr=[[low], [high]], fmt="none", ecolor=colour,
                        alpha=0.6, capsize=3)
            ax.scatter(r.median_ms, y, s=60, marker=marker, facecolors="none",
                       edgecolors=[colour], linewidths=1.5, zorder=3)
        else:
            ax.scatter(r.median_ms, y, s=60, marker=marker, color=colour, zorder=3)
        # labels of points that sit on top of each other are stacked, not overprinted
        here = (math.log10(r.median_ms), y)
        taken = {level for x, v, level in placed
                 if abs(here[0] - x) < 0.12 and abs(here[1] - v) < 0.04 * y_span}
        clash = min(set(range(len(taken) + 1)) - taken)
        placed.append((*here, clash))
        ax.annotate(f"{r.format} {r.precision}", (r.median_ms, y), textcoords="offset points",
                    xytext=(7, 4 + 11 * clash), fontsize=8)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    low, high = ax.get_xlim()
    narrow = math.log10(high / low) < 1.2  # within about a decade: label every minor tick
    ax.xaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:g}" if narrow or f"{v:g}"[0] in "25" else ""))
    ax.set_xlabel("median latency (ms, log scale)")
    ax.set_ylabel("task PSNR vs ground truth (dB)" if axis == "task"
                  else f"PSNR vs float model (dB, worst sample, capped {PSNR_CAP_DB:g})")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], color=colours[t], marker="o", linestyle="", label=t)
               for t in targets]
    handles += [plt.Line2D([], [], color="grey", marker=m, linestyle="", label=f)
                for f, m in _MARKERS.items() if any(r.format == f for r in points)]
    if any(r.kind == "estimated" for r in points):
        handles.append(plt.Line2D([], [], color="grey", marker="o", markerfacecolor="none",
                                  linestyle="", label="estimated (hollow, band)"))
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14),
              ncol=2, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


# ----------------------------------------------------------------------------------- tables


def _f(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def accuracy_table(artifacts: list[Artifact]) -> list[list[str]]:
    head = ["artifact", "format", "precision", "check mode", "PSNR vs float (dB)", "SSIM",
            "task PSNR (dB)", "task drop (dB)", "check"]
    body = [[a.file, a.format, a.precision, a.mode, _f(a.parity_psnr_db, 2),
             _f(a.parity_ssim, 5), _f(a.task_psnr_db, 2), _f(a.task_drop_db, 3),
             "pass" if a.passed else "FAIL"] for a in artifacts]
    return [head, *body]


def latency_table(rows: list[LatencyRow]) -> list[list[str]]:
    head = ["format", "precision", "target", "kind", "median ms", "p90 ms", "min ms", "max ms",
            "n", "delegated", "PSNR vs float (dB)", "on-device PSNR (dB)", "task drop (dB)"]
    body = []
    for r in rows:
        a = r.artifact
        body.append([r.format, r.precision, r.target, r.kind, _f(r.median_ms, 2),
                     _f(r.p90_ms, 2), _f(r.min_ms, 2), _f(r.max_ms, 2),
                     "-" if r.n is None else str(r.n), r.delegation,
                     _f(a.parity_psnr_db, 2) if a else "no check",
                     _f(r.device_parity_db, 2), _f(a.task_drop_db, 3) if a else "-"])
    return [head, *body]


def _md(table: list[list[str]]) -> list[str]:
    head, *body = table
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(row) + " |" for row in body]


def _html_table(table: list[list[str]]) -> str:
    head, *body = table
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in body)
    return f"<table><tr>{cells}</tr>{rows}</table>"


def notes(artifacts: list[Artifact], rows: list[LatencyRow], axis: str) -> list[str]:
    out = []
    if any(r.target.startswith("host") for r in rows):
        out.append("host rows are a proxy measured on this machine's CPU: they rank artifacts, "
                   "they do not predict phone milliseconds.")
    if any(r.kind == "estimated" for r in rows):
        out.append("estimated rows are roofline estimates (camkit profile estimate); min/max "
                   "is their uncertainty band, and the plot draws them hollow.")
    if any(" · app " in r.target for r in rows):
        out.append("app rows come from the camkit app on the phone (camkit profile "
                   "android-app); on-device PSNR is the artifact there, on its sample input, "
                   "against the torch output stored in the sample (worst output).")
    unmatched = sorted({r.source for r in rows if r.artifact is None})
    if unmatched:
        out.append(f"{len(unmatched)} profile result(s) match no checked artifact by sha256 (not "
                   f"plotted): {', '.join(unmatched)}")
    unjoinable = [a.file for a in artifacts if a.sha256 is None]
    if unjoinable:
        out.append("manifest missing for: " + ", ".join(unjoinable))
    untimed = [a.file for a in artifacts if a.sha256 and
               not any(r.artifact is a for r in rows)]
    if untimed:
        out.append("no latency result for: " + ", ".join(untimed))
    out.append("quality axis: " + ("task PSNR of the artifact against ground truth"
                                   if axis == "task" else
                                   "worst-sample PSNR of the artifact against the float model"))
    return out


# ------------------------------------------------------------------------------------ write


def write_report(check_json: Path, profile_paths: list[Path], out_dir: Path,
                 quality: str = "auto") -> dict[str, Path]:
    """Write report.md, report.html and (when anything is plottable) psnr_vs_latency.png."""
    artifacts = load_checks(check_json)
    results = load_results(profile_paths)
    rows = join(artifacts, results, profile_paths)
    axis = quality_axis(rows, quality)
    models = sorted({a.model for a in artifacts})
    title = f"{', '.join(models) or 'camkit'}: quality vs latency"
    png = plot_png(rows, axis, title)
    out_dir = Path(out_dir)
    paths = {"markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    if png is not None:
        paths["plot"] = out_dir / "psnr_vs_latency.png"
        atomic_write_bytes(paths["plot"], png)
    remarks = notes(artifacts, rows, axis)
    md = [f"# {title}", "", "## Accuracy", "", *_md(accuracy_table(artifacts)), "",
          "## Latency", ""]
    md += _md(latency_table(rows)) if rows else ["No latency results (run camkit profile host "
                                                 "... --json FILE and pass them with --profiles)."]
    if png is not None:
        md += ["", "![quality vs latency](psnr_vs_latency.png)"]
    md += ["", *[f"- {n}" for n in remarks]]
    atomic_write_bytes(paths["markdown"], ("\n".join(md) + "\n").encode())
    plot = ("" if png is None else
            f'<img alt="quality vs latency" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode()}">')
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em auto;max-width:1100px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 7px}"
        "th{background:#f4f4f4}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><h2>Accuracy</h2>{_html_table(accuracy_table(artifacts))}"
        f"<h2>Latency</h2>{_html_table(latency_table(rows)) if rows else '<p>none</p>'}{plot}"
        + "".join(f"<p>{html.escape(n)}</p>" for n in remarks) + "</body></html>"
    )
    atomic_write_bytes(paths["html"], page.encode())
    return paths
