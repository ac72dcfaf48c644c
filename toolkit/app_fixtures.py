"""Golden fixtures for the apps' cores (issue 16): small, deterministic cases that let the
Kotlin (Android) and Swift (iOS) cores prove they tile, pack and blend exactly as camkit does.

No model or artifact is needed: each tile's input and a fixed toy model's output are recorded,
so an app replays the outputs instead of running a network (``camkit app fixtures OUT``).
Beside the tile cases: packing every way and back, a manifest set with its refusals, PSNR and
latency statistics (issue 17; toolkit/app_fixtures_core.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from toolkit import fullres
from toolkit.artifacts import _umask, atomic_replace, publish_new_folder, staging_dir
from toolkit.errors import CamkitError

FIXTURES_VERSION = 3
PLAN = fullres.TilePlan(64, 96, margin=6, blend=8, align=4)
THUMB = (12, 16)
#: the split-by-tiles case's toy features: stride 4, a feature reads rows 4i-1 .. 4i+4
STATS = {"stride": 4, "before": 1, "after": 4}
#: case name -> (photo height, width, kind: "tiles", "thumbnail" (a split with a thumbnail)
#: or "statistics" (a split by tiles))
CASES = {"tiles_157x211": (157, 211, "tiles"), "small_40x50": (40, 50, "tiles"),
         "one_tile_64x96": (64, 96, "tiles"), "split_157x211": (157, 211, "thumbnail"),
         "statistics_157x211": (157, 211, "statistics"),
         "statistics_200x304": (200, 304, "statistics")}
#: the groups beyond tiling (toolkit/app_fixtures_core.py): index key -> file or folder
GROUPS = {"packing": "packing", "manifests": "manifests", "metrics": "metrics.json",
          "latency": "latency.json"}
#: zip entries get this date, so the same arrays give the same .npz bytes
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

README = """\
# camkit golden fixtures for the apps' cores (version {version})

Written by `camkit app fixtures OUT`; `index.json` lists the tile cases (`cases`), names the
other groups (`packing`, `manifests`, `metrics`, `latency`: below) and holds the sha256 of
every file. Each tile case folder holds:

- `photo.png`: the uint8 RGB photo (H x W).
- `plan.json`: the manifest's `full_resolution` block, as an artifact's manifest holds it
  (the split cases: `"strategy": "split"` and its `thumbnails`, or its `statistics`).
- `grid.json`: the photo `size` [H, W], the `padded` size, and every tile in run order (row
  by row): `index`, `top`, `left` (in the padded frame) and the `lead`/`trail` flags of its
  row ramp (`ramp_y`) and column ramp (`ramp_x`).
- `tiles.npz` (a zip, entries stored uncompressed, `KEY.npy` in .npy 1.0, little-endian): per
  tile i: `in_nchw_f32/i` (1,3,h,w) and `in_nhwc_f32/i` (1,h,w,3) float32 in [0, 1] (uint8 / 255);
  `in_nhwc_u8/i`, `in_nchw_u8/i` uint8 (round(x * 255), i.e. the photo's pixels);
  `out_nhwc_f32/i` (1,h,w,3): the toy model's output for that tile. The split case also holds
  `thumb_nhwc_f32` (1,12,16,3) and `thumb_nchw_f32` (1,3,12,16). A statistics case holds, per
  tile j of the statistics pass, `stats_in_nhwc_f32/j` (1,64,96,3; zeros past the photo) and
  `stats_features_nhwc_f32/j` (1,16,24,3), and the photo's `statistics_nhwc_f32` (1,1,1,3).
- `stats.json` (statistics cases): the statistics tiles in run order (row by row): `index`,
  `top`, `left`, and the tile features taken, `rows` [r0, r1) and `cols` [c0, c1).
- `blended_f32.npy`: the blended result, float32 (H, W, 3); `blended.png`: the same as uint8,
  as `camkit run` writes it: u8 = floor(clip(v, 0, 1) * 255 + 0.5), in float32.

The toy model (never needed by an app): a 3x3 box blur (reflect padding at the tile's edges),
then channel 0 becomes 1 - x, then 0.02 * (i mod 4) is added to tile i's output (run order),
so that overlapping tiles disagree and the blend weights show. The split case feeds the
thumbnail alongside and ignores it; the statistics cases add half the statistics vector to
every pixel first. Their toy features:
feature (i, j) of a tile is the mean of its pixels rows 4i-1 .. 4i+4, columns 4j-1 .. 4j+4
(zeros outside the tile): stride 4, 1 px before and 4 after.

## The rules (toolkit/fullres.py)

- Padded size: each side max(tile, ceil(side / align) * align).
- Tile origins per side (`starts`): one at 0 when the padded side fits one tile; else
  0, step, 2 step, ... while < side - tile, then side - tile, with
  step = floor((tile - overlap) / align) * align and overlap = 2 * margin + blend.
- Reflection (`reflect_index`): a tile at (top, left) reads photo[r(top + y), r(left + x)],
  where r folds an index i into 0..n-1 without repeating the edge: p = 2 (n - 1),
  m = i mod p (non-negative), r = m if m < n else p - m (r = 0 when n = 1).
- Weights (`ramp`): per side of a tile, 1 everywhere; at an end with a neighbouring tile
  (`lead`: not the first row/column, `trail`: not the last) 0 over `margin` px, then
  (k + 0.5) / blend for k = 0..blend-1 (mirrored at the trail), min'ed with what is there.
  A tile's weight is ramp_y[y] * ramp_x[x].
- Blend: output = sum over tiles (w * out) / sum over tiles (w), over the padded frame, then
  its top-left H x W.
- Thumbnail, rule "mosaic" (`mosaic`, what camkit exports): cells x cells crops of
  (h / cells) x (w / cells) photo pixels at full scale; crop (i, j) has
  top = clamp(floor((2i + 1) H / (2 cells)) - ch // 2, 0, H - ch) (left likewise) and goes to
  rows i ch.., columns j cw.. of the thumbnail, as x / 255. A photo smaller than the thumbnail
  gets rule "adaptive_average" instead (`thumbnail`): output row i averages photo rows
  floor(i H / h) .. ceil((i + 1) H / h) - 1 (columns likewise, rows first), of x / 255.
- Statistics (`statistics_pass`): per side, origins 0, step, 2 step, ... below side - tile,
  then side - tile rounded up to a multiple of `stride` (one origin 0 when the side fits);
  tile pixels past the photo are 0. Photo feature i (i < ceil(side / stride)) is taken from
  the first tile at y0 where tile feature k = i - y0 / stride has stride k - before >= 0 (or
  y0 = 0) and stride k + after <= tile - 1 (or y0 + tile >= side). The vector is the mean of
  the taken features, summed in float64 in run order.

## How an app test uses them

For each case: decode `photo.png`, parse `plan.json`, compute the grid and compare it with
`grid.json` (exact). Crop and pack every tile in the app's layout and compare with the
`in_*` tensor of that layout (exact: uint8, and float32 as float32(x) / 255). Feed the recorded
`out_nhwc_f32/i` as the model's output for tile i, blend, and compare with `blended_f32.npy`
(max abs difference below 1e-5) and `blended.png` (exact; off by one at most where float
order differs). In the split case compute the thumbnail and compare with `thumb_*` (1e-6).
In a statistics case compute the statistics tiles and spans and compare with `stats.json`
(exact), pack each and compare with `stats_in_*` (exact), feed the recorded
`stats_features_*` and compare the mean with `statistics_nhwc_f32` (1e-6).
"""


def make_photo(height: int, width: int, seed: int = 16) -> np.ndarray:
    """A uint8 RGB photo: integer gradients (no float rounding) plus seeded noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    smooth = np.stack([y * 200 // max(height - 1, 1), x * 200 // max(width - 1, 1),
                       (x + 2 * y) * 200 // max(width + 2 * height - 3, 1)], axis=-1)
    noise = np.random.default_rng(seed).integers(0, 56, (height, width, 3))
    return (smooth + noise).astype(np.uint8)


def toy_model(tile: np.ndarray, *thumbs: np.ndarray, vector: np.ndarray | None = None
              ) -> np.ndarray:
    """3x3 box blur of an HWC float32 tile (reflect padding), then 1 - x on channel 0; with a
    statistics ``vector`` (1, 1, C), half of it is added to every pixel first."""
    h, w = tile.shape[:2]
    if vector is not None:
        tile = (tile + np.float32(0.5) * vector).astype(np.float32)
    padded = np.pad(tile, ((1, 1), (1, 1), (0, 0)), mode="reflect")
    out = sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
    out = (out / np.float32(9.0)).astype(np.float32)
    out[..., 0] = np.float32(1.0) - out[..., 0]
    return out


def tile_offset(index: int) -> np.float32:
    """Added to the toy model's output of tile ``index`` (run order): overlapping tiles then
    disagree, so a wrong blend weight shows in the blended result (without it they agree past
    the margin and any weights that sum to one would pass)."""
    return np.float32(0.02) * np.float32(index % 4)


def toy_features(tile: np.ndarray) -> np.ndarray:
    """The statistics cases' features of an HWC float32 tile (``STATS``; README)."""
    s, before, after = STATS["stride"], STATS["before"], STATS["after"]
    h, w = tile.shape[:2]
    padded = np.pad(tile.astype(np.float64), ((before, after), (before, after), (0, 0)))
    k = before + after + 1
    sums = sum(padded[dy:dy + h:s, dx:dx + w:s] for dy in range(k) for dx in range(k))
    return (sums / (k * k)).astype(np.float32)


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), version=(1, 0))
    return buf.getvalue()


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            z.writestr(info, _npy(array))
    return buf.getvalue()


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def _statistics_files(photo: np.ndarray, plan: dict) -> tuple[dict, dict, np.ndarray]:
    """(stats.json, npz arrays, the vector) of a statistics case."""
    entry = plan["statistics"]
    th, tw = entry["tile"]
    s, b, a = STATS["stride"], STATS["before"], STATS["after"]
    rows = fullres._feature_spans(photo.shape[0], th, s, b, a, entry["step"][0])
    cols = fullres._feature_spans(photo.shape[1], tw, s, b, a, entry["step"][1])
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def record(tile: np.ndarray) -> np.ndarray:
        out = toy_features(tile)
        seen.append((tile.copy(), out))
        return out

    vector = fullres.statistics_pass(entry, record, [photo])
    tiles = [{"index": i, "top": y0, "left": x0, "rows": [r0, r1], "cols": [c0, c1]}
             for i, ((y0, r0, r1), (x0, c0, c1)) in
             enumerate((r, c) for r in rows for c in cols)]
    if len(seen) != len(tiles):
        raise CamkitError("the statistics pass ran another grid than its spans; a camkit bug")
    arrays = {"statistics_nhwc_f32": vector[None]}
    for i, (tile, out) in enumerate(seen):
        arrays |= {f"stats_in_nhwc_f32/{i}": tile[None], f"stats_features_nhwc_f32/{i}": out[None]}
    return {"tiles": tiles}, arrays, vector


def case_files(height: int, width: int, kind: str) -> dict[str, bytes]:
    """The files of one case, name -> bytes."""
    photo = make_photo(height, width)
    plan = PLAN.to_json()
    thumbs = []
    vector = None
    extra: dict[str, bytes] = {}
    arrays: dict[str, np.ndarray] = {}
    if kind == "statistics":
        th, tw = PLAN.tile_h, PLAN.tile_w
        s, b, a = STATS["stride"], STATS["before"], STATS["after"]
        plan = {**plan, "strategy": "split", "statistics": {
            "inputs": ["image"], "into": {"image": "image_statistics"}, "output": "features",
            "tile": [th, tw], "features": [th // s, tw // s], **STATS,
            "step": [fullres.statistics_step(th, s, b, a), fullres.statistics_step(tw, s, b, a)],
            "pad": "zeros", "reduce": "mean"}}
        stats, arrays, vector = _statistics_files(photo, plan)
        extra["stats.json"] = _json(stats)
    if kind == "thumbnail":
        plan = {**plan, "strategy": "split", "thumbnails": [
            {"input": "image_thumbnail", "of": "image", "size": list(THUMB),
             "resize": "mosaic", "cells": 4}]}
        thumbs = [fullres.make_thumbnail(photo, plan["thumbnails"][0])]
    tile_plan = fullres.TilePlan.from_json(plan)
    ph, pw = fullres.padded_size(height, width, tile_plan)
    origins = fullres.grid(ph, pw, tile_plan)
    last_top, last_left = max(t for t, _ in origins), max(left for _, left in origins)
    grid = {"size": [height, width], "padded": [ph, pw], "tile": [PLAN.tile_h, PLAN.tile_w],
            "tiles": [{"index": i, "top": top, "left": left,
                       "ramp_y": {"lead": top > 0, "trail": top < last_top},
                       "ramp_x": {"lead": left > 0, "trail": left < last_left}}
                      for i, (top, left) in enumerate(origins)]}
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def record(tile: np.ndarray) -> np.ndarray:
        out = toy_model(tile, *thumbs, vector=vector) + tile_offset(len(seen))
        seen.append((tile, out))
        return out

    blended = fullres.run_tiled(record, photo, tile_plan)
    calls = iter(range(len(origins)))
    blended_u8 = fullres.run_tiled(
        lambda t: toy_model(t, *thumbs, vector=vector) + tile_offset(next(calls)), photo,
        tile_plan, dtype=np.uint8)
    if len(seen) != len(origins):
        raise CamkitError(f"run_tiled ran {len(seen)} tiles for a grid of {len(origins)}; "
                          f"report this as a bug")
    for i, (tile, out) in enumerate(seen):
        nhwc = tile[None].astype(np.float32)
        u8 = np.round(nhwc * 255.0).astype(np.uint8)
        arrays |= {f"in_nchw_f32/{i}": nhwc.transpose(0, 3, 1, 2), f"in_nhwc_f32/{i}": nhwc,
                   f"in_nhwc_u8/{i}": u8, f"in_nchw_u8/{i}": u8.transpose(0, 3, 1, 2),
                   f"out_nhwc_f32/{i}": out[None].astype(np.float32)}
    for thumb in thumbs:
        arrays |= {"thumb_nhwc_f32": thumb[None],
                   "thumb_nchw_f32": thumb[None].transpose(0, 3, 1, 2)}
    return {"photo.png": _png(photo), "plan.json": _json(plan), "grid.json": _json(grid),
            "tiles.npz": _npz(arrays), "blended_f32.npy": _npy(blended.astype(np.float32)),
            "blended.png": _png(blended_u8), **extra}


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CamkitError(f"{out} is a file, not a folder; name a folder for the fixtures")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise CamkitError(f"{out} already exists and is not empty; pass --overwrite to "
                          f"replace it")


def write_fixtures(out: Path, overwrite: bool = False) -> list[Path]:
    """Every case under ``out`` (``out/<case>/...``, README.md, index.json), built in a staging
    folder beside ``out`` and published by one rename; an existing non-empty ``out`` is
    replaced only with ``overwrite``. Returns the written files (under ``out``)."""
    out = Path(out)
    _check_target(out, overwrite)
    from toolkit import app_fixtures_core as core

    readme = README.format(version=FIXTURES_VERSION) + core.README.format(
        ph=core.PACK_SIZE[0], pw=core.PACK_SIZE[1])
    files: dict[str, bytes] = {"README.md": readme.encode()}
    for name, (height, width, kind) in CASES.items():
        files |= {f"{name}/{k}": v for k, v in case_files(height, width, kind).items()}
    files |= core.core_files(_npz, _png)
    index = {"version": FIXTURES_VERSION, "plan_version": fullres.PLAN_VERSION,
             "cases": list(CASES), **GROUPS,
             "files": {k: hashlib.sha256(v).hexdigest() for k, v in sorted(files.items())}}
    files["index.json"] = _json(index)
    with staging_dir(out.parent) as staging:
        for rel, data in files.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_bytes(data)
        _check_target(out, overwrite)  # again: something may have appeared meanwhile
        if out.exists():
            os.chmod(staging, 0o777 & ~_umask())
            atomic_replace(staging, out)
        else:
            publish_new_folder(staging, out)
    return [out / rel for rel in sorted(files)]
