"""A self-contained report.html: before/after photos, the artifact table, a PSNR-vs-latency
plot (inline SVG) and the commands that reproduce every number. No external files or scripts."""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass

import numpy as np

from toolkit.data.io import to_uint8


@dataclass
class Row:
    """One artifact line of the table."""

    format: str
    precision: str
    size_bytes: int
    psnr_db: float | None
    ssim: float | None
    latency_ms: float | None
    mode: str
    passed: bool
    problems: list[str]
    file: str


def image_uri(image_hwc: np.ndarray, max_width: int = 320) -> str:
    """A JPEG data URI of an HWC [0, 1] image, downscaled to ``max_width``."""
    from PIL import Image

    pil = Image.fromarray(to_uint8(image_hwc))
    if pil.width > max_width:
        pil = pil.resize((max_width, round(pil.height * max_width / pil.width)), Image.BICUBIC)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _num(value: float | None, digits: int) -> str:
    if value is None:
        return "n/a"
    return "∞" if math.isinf(value) else f"{value:.{digits}f}"


def psnr_latency_svg(rows: list[Row], width: int = 520, height: int = 300) -> str:
    """Scatter of PSNR vs float (dB, capped at 120) against host latency (ms)."""
    pts = [(r.latency_ms, min(r.psnr_db, 120.0), f"{r.format} {r.precision}") for r in rows
           if r.latency_ms is not None and r.psnr_db is not None]
    if not pts:
        return "<p>No artifact could be both run and timed on this host.</p>"
    pad = 50
    x_max = max(p[0] for p in pts) * 1.15
    y_lo = min(p[1] for p in pts) - 5
    y_hi = max(p[1] for p in pts) + 5

    def sx(v):
        return pad + (width - 2 * pad) * v / x_max

    def sy(v):
        return height - pad - (height - 2 * pad) * (v - y_lo) / (y_hi - y_lo)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#333"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#333"/>',
        f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle">host latency (ms)</text>',
        f'<text x="14" y="{height / 2}" transform="rotate(-90 14 {height / 2})" '
        f'text-anchor="middle">PSNR vs float (dB, capped 120)</text>',
    ]
    for frac in (0, 0.5, 1):
        xv, yv = x_max * frac, y_lo + (y_hi - y_lo) * frac
        parts.append(f'<text x="{sx(xv)}" y="{height - pad + 14}" text-anchor="middle">{xv:.0f}</text>')
        parts.append(f'<text x="{pad - 4}" y="{sy(yv) + 4}" text-anchor="end">{yv:.0f}</text>')
    colours = {"fp32": "#1f77b4", "fp16": "#ff7f0e"}
    for x, y, label in pts:
        colour = colours.get(label.split()[-1], "#2ca02c")
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="5" fill="{colour}"/>')
        parts.append(f'<text x="{sx(x) + 8:.1f}" y="{sy(y) + 4:.1f}">{html.escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.pass{color:#070}.fail{color:#b00;font-weight:bold}
figure{display:inline-block;margin:4px}figcaption{font-size:12px;text-align:center}
pre{background:#f6f6f6;padding:8px;overflow-x:auto}.note{color:#555;font-size:13px}
"""


def render(
    title: str,
    summary: str,
    rows: list[Row],
    photos: list[tuple[str, list[tuple[str, np.ndarray]]]],
    commands: list[str],
    notes: list[str],
) -> str:
    """The whole page. ``photos``: (photo name, [(caption, HWC image), ...])."""
    table = [
        "<table><tr><th class=l>format</th><th class=l>precision</th><th>size (KiB)</th>"
        "<th>PSNR vs float (dB)</th><th>SSIM</th><th>host latency (ms)</th><th class=l>check</th>"
        "<th class=l>artifact</th></tr>"
    ]
    for r in rows:
        verdict = "pass" if r.passed else "FAIL: " + "; ".join(r.problems)
        cls = "pass" if r.passed else "fail"
        mode = "" if r.mode == "runtime" else f" ({r.mode})"
        table.append(
            f"<tr><td class=l>{r.format}</td><td class=l>{r.precision}</td>"
            f"<td>{r.size_bytes / 1024:.1f}</td><td>{_num(r.psnr_db, 2)}</td>"
            f"<td>{_num(r.ssim, 5)}</td><td>{_num(r.latency_ms, 1)}</td>"
            f"<td class='l {cls}'>{html.escape(verdict)}{mode}</td>"
            f"<td class=l><code>{html.escape(r.file)}</code></td></tr>"
        )
    table.append("</table>")
    figures = []
    for name, panels in photos:
        figures.append(f"<h3>{html.escape(name)}</h3><div>")
        for caption, image in panels:
            figures.append(
                f'<figure><img src="{image_uri(image)}" alt="{html.escape(caption)}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        figures.append("</div>")
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(summary)}</p><h2>Artifacts</h2>{''.join(table)}"
        + "".join(f"<p class=note>{html.escape(n)}</p>" for n in notes)
        + f"<h2>PSNR vs latency</h2>{psnr_latency_svg(rows)}"
        f"<h2>Before / after</h2>{''.join(figures)}"
        f"<h2>Reproduce</h2><pre>{html.escape(chr(10).join(commands))}</pre></body></html>"
    )
