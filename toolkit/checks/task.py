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
its blur, so a photo at least as large as the artifact is centre-cropped, never resized). Both
happen as each photo is decoded, one pair at a time (``Pairs.fitted``), so a folder of huge
photos costs one decode's memory, not every photo at full resolution. An input and target of
different sizes are refused, never fitted separately.

Beside them, the classical methods of ``ModelSpec.baselines`` (toolkit/checks/baselines.py) run
once per data set and size and are reported under ``baselines``; they never change the verdict.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from statistics import mean

import numpy as np

from toolkit.checks.metrics import masked_psnr_db, masked_ssim, psnr_db, ssim
from toolkit.checks.parity import ArtifactCheck, check_sizes
from toolkit.data.io import (from_layout, masked_files, paired_files, read_image, resize_cover,
                             to_layout)
from toolkit.errors import CamkitError, check_count
from toolkit.spec import ExportSpec, Tolerance


#: mid-grey fill of an inpainting hole: the "input" row of inpainting metrics
HOLE_FILL = 0.5


def load_pairs(
    data_dir: Path, channels: int = 3, count: int | None = None, masked: bool = False
) -> "Pairs":
    """The (first ``count``) items of a data folder as a lazy ``Pairs`` sequence: (name, input,
    target) per pair, or (name, image, image, mask) for an inpainting folder (``masked``).

    Every file's header is read up front, so a missing, unreadable or oversized file, and a pair
    whose input and target differ in size (after EXIF orientation), stop the run before any slow
    work starts; the pixels are decoded one item at a time when used (a file damaged past its
    header fails then, with the same kind of one-line error)."""
    from toolkit.data.io import image_size

    check_count("--max-images", count)
    files = masked_files(data_dir)[:count] if masked else paired_files(data_dir)[:count]
    for first, second in files:
        first_size, second_size = image_size(first), image_size(second)
        if first_size != second_size and not masked:  # masks are resized to their photo
            raise CamkitError(
                f"{first} is {_hxw(first_size)} but its target {second} is {_hxw(second_size)} "
                f"(HxW); a pair must be the same size: crop or resize one to match, or remove "
                f"the pair"
            )
    return Pairs(files, channels, masked)


def _hxw(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


class Pairs(Sequence):
    """The items of a data folder (``load_pairs``), decoded when indexed, one at a time, so a
    folder of 200 MP photos never sits in memory at full resolution.

    ``fitted(height, width, mode)`` is what the checks use: every item at the artifact's size,
    each photo scaled down on load (``read_image(cover=...)``) or, for ``mode="crop"``,
    centre-cropped at full resolution on load; those small arrays are kept, per size, so the
    next artifact or accuracy-search trial at that size decodes nothing."""

    def __init__(self, files: list[tuple[Path, Path]], channels: int, masked: bool):
        self.files, self.channels, self.masked = list(files), channels, masked
        self._fitted: dict[tuple[int, int, str], list] = {}

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        return self._decode(self.files[index], {})

    def _decode(self, files: tuple[Path, Path], fit_on_load: dict) -> tuple:
        first, second = files
        if self.masked:
            from toolkit.data.masks import read_mask

            photo = read_image(first, self.channels, **fit_on_load)
            if fit_on_load:  # thresholded after the fit in _fitted, whose error names the size
                mask = (read_image(second, 1, **fit_on_load) > 0.5).astype(np.float32)
            else:
                mask = read_mask(second)
            return first.name, photo, photo, mask
        return (first.name, read_image(first, self.channels, **fit_on_load),
                read_image(second, self.channels, **fit_on_load))

    def fitted(self, height: int, width: int, mode: str) -> list:
        """(name, input, target, mask or None) per item at height x width (see ``fit``)."""
        key = (height, width, mode)
        if key not in self._fitted:
            on_load = {"crop" if mode == "crop" else "cover": (height, width)}
            self._fitted[key] = [
                _fit_item(self._decode(files, on_load), height, width, mode)
                for files in self.files
            ]
        return self._fitted[key]


def is_masked(spec: ExportSpec) -> bool:
    return any(t.role == "mask" for t in spec.model.inputs)


def fit(image: np.ndarray, height: int, width: int, mode: str) -> np.ndarray:
    """``image`` at height x width: centre crop (``mode="crop"``, when large enough) or resize to
    cover + centre crop."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    if mode == "crop" and h >= height and w >= width:
        top, left = (h - height) // 2, (w - width) // 2
        return image[top : top + height, left : left + width]
    return resize_cover(image, height, width)


def _fitted_items(pairs, spec: ExportSpec, height: int, width: int) -> list:
    """(name, input, target, mask or None) per item of ``pairs`` (``Pairs`` or a list of
    load_pairs-style tuples) at height x width."""
    if isinstance(pairs, Pairs):
        return pairs.fitted(height, width, spec.model.data_fit)
    return [_fit_item(item, height, width, spec.model.data_fit) for item in pairs]


def _fit_item(item: tuple, height: int, width: int, mode: str):
    name, x_full, y_full = item[:3]
    x = fit(x_full, height, width, mode)
    y = x if y_full is x_full else fit(y_full, height, width, mode)
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
    items = _fitted_items(pairs, spec, height, width)
    for name, x, y, mask in items:
        feeds = _feeds(spec, x, mask, name)
        art = np.clip(from_layout(runner(feeds)[out_name], spec.layout), 0, 1)
        flt = np.clip(from_layout(reference(feeds)[out_name], spec.layout), 0, 1)
        in_psnr, in_ssim = _scores(_input_view(x, mask), y, mask)
        flt_psnr, flt_ssim = _scores(flt, y, mask)
        art_psnr, art_ssim = _scores(art, y, mask)
        rows.append(
            {
                "image": name,
                # parity: the artifact against the float model on this (held-apart) photo
                "parity_psnr_db": psnr_db(art, flt),
                "parity_ssim": ssim(art, flt),
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
           "worst_parity_psnr_db": min(r["parity_psnr_db"] for r in rows),
           "worst_parity_ssim": min(r["parity_ssim"] for r in rows),
           "drop_db": drop, "rows": rows}
    if is_masked(spec):
        # example sets often ship the photo with the hole already painted (EdgeConnect's
        # examples: white): then there is no ground truth in the hole and its PSNR is meaningless
        painted = [name for name, x, _, mask in items if _painted_hole(x, mask)]
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
    bar = tqdm(total=len(pairs) * len(names), desc="baselines", unit="run", disable=None,
               file=sys.stderr)
    for name, x, y, mask in _fitted_items(pairs, spec, height, width):
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
