"""Task quality: artifact and torch float model against ground truth on a data folder.

Reports mean PSNR/SSIM of the float model and of the artifact against the targets, and the
drop (float minus artifact, dB), which card.yaml budgets as ``task_drop_db_max``. Outputs are
clipped to [0, 1] first: this is about the pixels a user sees.

Data layouts (``load_pairs``): paired folders (``input/`` + ``target/``, or GoPro's flat
``NAME_blurK`` / ``NAME_sharpK``) for models with one image input; inpainting folders
(``images/`` + ``masks/``, white = hole) for models with a mask input, where every metric is
taken **inside the hole** (``masked_psnr_db``, ``masked_ssim``) and the "input" row is the photo
with its hole filled with mid-grey (what a viewer sees before any fill).

Fitting a photo to the artifact's static size: resize to cover and centre-crop, except for
models whose ``ModelSpec.data_fit`` is ``"crop"`` (deblurring: resizing a blurry photo rescales
its blur, so a photo at least as large as the artifact is centre-cropped, never resized).

Beside them, the classical methods of ``ModelSpec.baselines`` (toolkit/checks/baselines.py) run
once per data set and size and are reported under ``baselines``; they never change the verdict.
"""

from __future__ import annotations

import sys
from pathlib import Path
from statistics import mean

import numpy as np

from toolkit.checks.metrics import masked_psnr_db, masked_ssim, psnr_db, ssim
from toolkit.checks.parity import ArtifactCheck, check_sizes
from toolkit.data.io import (from_layout, masked_files, paired_files, read_image, resize_cover,
                             to_layout)
from toolkit.errors import CamkitError
from toolkit.spec import ExportSpec, Tolerance


#: mid-grey fill of an inpainting hole: the "input" row of inpainting metrics
HOLE_FILL = 0.5


def load_pairs(
    data_dir: Path, channels: int = 3, count: int | None = None, masked: bool = False
) -> list[tuple]:
    """Read the (first ``count``) items up front, so a bad file stops the run before any slow
    work starts: (name, input, target) per pair, or (name, image, image, mask) for an
    inpainting folder (``masked``)."""
    if masked:
        from toolkit.data.masks import read_mask

        out = []
        for image, mask in masked_files(data_dir)[:count]:
            photo = read_image(image, channels)
            out.append((image.name, photo, photo, read_mask(mask)))
        return out
    return [
        (inp.name, read_image(inp, channels), read_image(tgt, channels))
        for inp, tgt in paired_files(data_dir)[:count]
    ]


def is_masked(spec: ExportSpec) -> bool:
    return any(t.role == "mask" for t in spec.model.inputs)


def fit(image: np.ndarray, height: int, width: int, mode: str) -> np.ndarray:
    """``image`` at height x width: centre crop (``mode="crop"``, when large enough) or resize to
    cover + centre crop."""
    h, w = image.shape[:2]
    if mode == "crop" and h >= height and w >= width:
        top, left = (h - height) // 2, (w - width) // 2
        return image[top : top + height, left : left + width]
    return resize_cover(image, height, width)


def _fitted(item: tuple, spec: ExportSpec, height: int, width: int):
    name, x_full, y_full = item[:3]
    mode = spec.model.data_fit
    x, y = fit(x_full, height, width, mode), fit(y_full, height, width, mode)
    mask = None
    if len(item) > 3:
        mask = (fit(item[3], height, width, mode) > 0.5).astype(np.float32)
        if mask.max() == 0:
            raise CamkitError(f"{name}: the mask has no hole left at {height}x{width}")
    return name, x, y, mask


def _feeds(spec: ExportSpec, x: np.ndarray, mask: np.ndarray | None, name: str) -> dict:
    from toolkit.data.masks import name_seed, sample_mask

    feeds = {}
    for t in spec.model.inputs:
        if t.role == "mask":
            m = mask if mask is not None else sample_mask(*x.shape[:2], name_seed(name))
            feeds[t.name] = to_layout(m, spec.layout)
        else:
            feeds[t.name] = to_layout(x, spec.layout)
    return feeds


def _scores(image: np.ndarray, target: np.ndarray, mask: np.ndarray | None) -> tuple[float, float]:
    if mask is None:
        return psnr_db(image, target), ssim(image, target)
    return masked_psnr_db(image, target, mask), masked_ssim(image, target, mask)


def _input_view(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return x if mask is None else x * (1 - mask) + HOLE_FILL * mask


def task_quality(runner, reference, spec: ExportSpec, pairs: list) -> dict:
    """Mean PSNR/SSIM against the targets of the artifact (``runner``) and of the float model
    (``reference``) on ``pairs`` (from load_pairs), at the spec's size; ``drop_db`` = float
    minus artifact PSNR. Also used by accuracy-aware quantization at export time."""
    height, width = check_sizes(spec)[0]
    out_name = spec.model.outputs[0].name
    rows = []
    for item in pairs:
        name, x, y, mask = _fitted(item, spec, height, width)
        feeds = _feeds(spec, x, mask, name)
        art = np.clip(from_layout(runner(feeds)[out_name], spec.layout), 0, 1)
        flt = np.clip(from_layout(reference(feeds)[out_name], spec.layout), 0, 1)
        in_psnr, in_ssim = _scores(_input_view(x, mask), y, mask)
        flt_psnr, flt_ssim = _scores(flt, y, mask)
        art_psnr, art_ssim = _scores(art, y, mask)
        rows.append(
            {
                "image": name,
                "input_psnr_db": in_psnr,
                "input_ssim": in_ssim,
                "float_psnr_db": flt_psnr,
                "artifact_psnr_db": art_psnr,
                "float_ssim": flt_ssim,
                "artifact_ssim": art_ssim,
            }
        )
    summary = {k: mean(r[k] for r in rows) for k in rows[0] if k != "image"}
    drop = summary["float_psnr_db"] - summary["artifact_psnr_db"]
    region = "inside the hole" if is_masked(spec) else "whole image"
    out = {"pairs": len(rows), "size": [height, width], "region": region, **summary,
           "drop_db": drop, "rows": rows}
    if is_masked(spec):
        # example sets often ship the photo with the hole already painted (EdgeConnect's
        # examples: white): then there is no ground truth in the hole and its PSNR is meaningless
        painted = [item[0] for item in pairs if _painted_hole(item[1], item[3])]
        if painted:
            out["warning"] = (f"{len(painted)} of {len(pairs)} photos have a constant colour inside "
                              f"the hole (painted in, e.g. {painted[0]}): no ground truth there")
    return out


def _painted_hole(image: np.ndarray, mask: np.ndarray) -> bool:
    hole = image[mask[..., 0] > 0.5]
    return hole.size > 0 and float(hole.std()) < 1e-3


#: (data folder, size, item count, psf key) -> baseline summary; baselines run once per data set
_BASELINE_CACHE: dict[tuple, dict] = {}


def baseline_quality(spec: ExportSpec, pairs: list, data_dir: Path, psf_path: Path | None) -> dict:
    """{baseline name: {"psnr_db", "ssim", "rows"}} for ``spec.model.baselines`` on ``pairs``
    (+ "psf" for the deblurring ones: which kernel was used, given or estimated per image)."""
    from tqdm import tqdm

    from toolkit.checks import baselines

    names = spec.model.baselines
    if not names:
        return {}
    height, width = check_sizes(spec)[0]
    key = (str(Path(data_dir).resolve()), height, width, len(pairs), spec.model.data_fit,
           str(psf_path), names)
    if key in _BASELINE_CACHE:
        return _BASELINE_CACHE[key]
    given = baselines.read_psf(psf_path) if psf_path is not None else None
    per_name: dict[str, list] = {n: [] for n in names}
    psf_used = []
    work = [(item, n) for item in pairs for n in names]
    bar = tqdm(total=len(work), desc="baselines", unit="run", disable=None, file=sys.stderr)
    for item in pairs:
        name, x, y, mask = _fitted(item, spec, height, width)
        psf = None
        if any(n in baselines.DEBLUR for n in names):
            if given is not None:
                psf, info = given, {"method": f"given: {psf_path}"}
            else:
                psf, info = baselines.estimate_linear_psf(x)
            psf_used.append({"image": name, **info})
        for n in names:
            out = baselines.run(n, x, mask, psf)
            p, s = _scores(out, y, mask)
            per_name[n].append({"image": name, "psnr_db": p, "ssim": s})
            bar.update()
    bar.close()
    result = {
        n: {"psnr_db": mean(r["psnr_db"] for r in rows), "ssim": mean(r["ssim"] for r in rows),
            "rows": rows}
        for n, rows in per_name.items()
    }
    if psf_used:
        result["psf"] = psf_used
    _BASELINE_CACHE[key] = result
    return result


def evaluate_task(
    result: ArtifactCheck, runner, reference, spec: ExportSpec, pairs: list, data_dir: Path,
    tol: Tolerance, baselines: bool = True, psf_path: Path | None = None,
) -> None:
    """Fill ``result.task`` (``pairs`` from load_pairs; with the classical ``baselines`` of the
    model beside it) and add a problem when the drop breaks the budget."""
    quality = task_quality(runner, reference, spec, pairs)
    result.task = {"data": str(data_dir), **quality}
    if baselines and spec.model.baselines:
        result.task["baselines"] = baseline_quality(spec, pairs, data_dir, psf_path)
    drop = quality["drop_db"]
    if drop > tol.task_drop_db_max:
        result.problems.append(
            f"task PSNR drop {drop:.3f} dB > budget {tol.task_drop_db_max:g} dB on {data_dir}"
        )
