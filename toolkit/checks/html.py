"""A self-contained report.html: before/after photos, the artifact table, the PSNR-vs-latency
plot ``camkit report`` draws (inlined PNG) and the commands that reproduce every number. No
external files or scripts."""

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
    plot_png: bytes | None = None,
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
    plot = ("<p>No artifact could be both run and timed on this host.</p>" if plot_png is None
            else f'<img alt="PSNR vs latency" src="data:image/png;base64,'
                 f'{base64.b64encode(plot_png).decode()}">')
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(summary)}</p><h2>Artifacts</h2>{''.join(table)}"
        + "".join(f"<p class=note>{html.escape(n)}</p>" for n in notes)
        + f"<h2>PSNR vs latency</h2>{plot}"
        f"<h2>Before / after</h2>{''.join(figures)}"
        f"<h2>Reproduce</h2><pre>{html.escape(chr(10).join(commands))}</pre></body></html>"
    )
