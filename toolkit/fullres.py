"""Full resolution through a fixed-size artifact: the tile plan, its grid, its blend, and the
measured receptive field that sizes its margins (issue 16; the first, pure part).

A photo larger than the artifact is cut into tiles of the artifact's size. Neighbouring tiles
overlap by ``2 * margin + blend`` pixels: within ``margin`` pixels of a tile edge that lies
inside the photo the output is discarded (its receptive field reaches past the tile, where the
tile saw padding instead of the photo), and over the next ``blend`` pixels it is mixed linearly
with the neighbour's, so no seam is visible. Tile edges on the photo's own border keep
everything: there the tile sees exactly what a whole-photo run sees. With ``margin`` at least
the model's receptive-field radius the tiled result equals the whole-photo result to float
precision (tests/test_fullres.py); ``receptive_radius`` measures that radius. A photo smaller
than a tile along a side is reflected up to the tile's size and cropped back; a model with a size
multiple (stride-2 layers) gets tile origins on that multiple and the photo reflected up to one,
as its whole-photo run pads it.

Everything here is numpy on HWC float32 images and a callable ``run(tile_hwc) -> out_hwc``, so
the same code drives a torch model, an ONNX or LiteRT artifact, and is what the apps' cores
mirror.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from toolkit.errors import CamkitError

#: a tile plan's schema version, recorded in manifests (the apps refuse versions they do not know)
PLAN_VERSION = 1


@dataclass(frozen=True)
class TilePlan:
    """Tiles of ``tile_h`` x ``tile_w`` (the artifact's input), ``margin`` pixels discarded at
    interior tile edges, ``blend`` pixels of linear cross-fade after them."""

    tile_h: int
    tile_w: int
    margin: int
    blend: int = 16
    #: tile origins are multiples of this (the model's size multiple: a stride-2 layer must see
    #: each tile at the same phase as the whole photo); the photo is reflected up to a multiple
    align: int = 1

    def __post_init__(self) -> None:
        if self.align < 1 or self.tile_h % self.align or self.tile_w % self.align:
            raise CamkitError(f"tile {self.tile_h}x{self.tile_w} must be a multiple of the "
                              f"model's size multiple {self.align}")
        if self.margin < 0 or self.blend < 1:
            raise CamkitError(f"tile margin must be >= 0 and blend >= 1, got {self.margin}, "
                              f"{self.blend}")
        if min(self.tile_h, self.tile_w) <= 2 * (2 * self.margin + self.blend):
            raise CamkitError(
                f"a {self.tile_h}x{self.tile_w} tile is too small for margin {self.margin} and "
                f"blend {self.blend}: each side needs more than 2 x (2 x margin + blend) = "
                f"{2 * (2 * self.margin + self.blend)} px; export a larger size")

    @property
    def overlap(self) -> int:
        return 2 * self.margin + self.blend

    def to_json(self) -> dict:
        return {"version": PLAN_VERSION, "strategy": "tiles", "tile": [self.tile_h, self.tile_w],
                "margin": self.margin, "blend": self.blend, "blend_kind": "linear",
                "overlap": self.overlap, "align": self.align, "border": "reflect"}

    @classmethod
    def from_json(cls, raw: dict) -> TilePlan:
        if raw.get("version") != PLAN_VERSION or raw.get("strategy") not in ("tiles", "split"):
            raise CamkitError(f"full_resolution plan version {raw.get('version')} / strategy "
                              f"{raw.get('strategy')!r} has no tiles this camkit reads "
                              f"(version {PLAN_VERSION}, tiles or split)")
        return cls(int(raw["tile"][0]), int(raw["tile"][1]), int(raw["margin"]),
                   int(raw["blend"]), int(raw.get("align", 1)))


def starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Tile origins along one side: step ``tile - overlap`` rounded down to ``align``, the last
    tile flush with the end (so it may overlap its neighbour by more); one tile at 0 when the
    side fits in one. ``length`` and ``tile`` are multiples of ``align``."""
    if length <= tile:
        return [0]
    step = (tile - overlap) // align * align
    origins = list(range(0, length - tile, step))
    return origins + [length - tile]


def ramp(size: int, lead: bool, trail: bool, margin: int, blend: int) -> np.ndarray:
    """1-D weights of a tile side: 0 over ``margin``, a linear rise over ``blend`` (pixel
    centres: (i + 0.5) / blend), then 1, at each end that has a neighbour (``lead``: the start,
    ``trail``: the end); 1 at an end on the photo's border."""
    w = np.ones(size, np.float64)
    rise = (np.arange(blend) + 0.5) / blend
    if lead:
        w[:margin] = 0.0
        w[margin:margin + blend] = np.minimum(w[margin:margin + blend], rise)
    if trail:
        w[size - margin:] = 0.0
        w[size - margin - blend:size - margin] = np.minimum(
            w[size - margin - blend:size - margin], rise[::-1])
    return w


def grid(height: int, width: int, plan: TilePlan) -> list[tuple[int, int]]:
    """(top, left) of every tile, row by row, for a photo of ``height`` x ``width`` (after any
    reflection up to the tile size)."""
    return [(top, left)
            for top in starts(max(height, plan.tile_h), plan.tile_h, plan.overlap, plan.align)
            for left in starts(max(width, plan.tile_w), plan.tile_w, plan.overlap, plan.align)]


def reflect_index(index: np.ndarray, length: int) -> np.ndarray:
    """Indices past either end of ``0..length-1`` folded back by reflection without repeating
    the edge (numpy's and torch's "reflect"), repeatedly when they reach past a whole side."""
    if length == 1:
        return np.zeros_like(index)
    period = 2 * (length - 1)
    folded = np.mod(index, period)
    return np.where(folded >= length, period - folded, folded)


def crop_reflected(image: np.ndarray, top: int, left: int, height: int, width: int
                   ) -> np.ndarray:
    """``image[top:top+height, left:left+width]`` of the photo reflected past its borders, as
    float32 in [0, 1] (uint8 photos are divided by 255); copies only the tile."""
    rows = reflect_index(np.arange(top, top + height), image.shape[0])
    cols = reflect_index(np.arange(left, left + width), image.shape[1])
    tile = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] if (
        rows[-1] - rows[0] == height - 1 and cols[-1] - cols[0] == width - 1) else image[
        np.ix_(rows, cols)]
    if tile.dtype == np.uint8:
        return tile.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(tile, dtype=np.float32)


def padded_size(height: int, width: int, plan: TilePlan) -> tuple[int, int]:
    """The photo's size after reflection up to the tile size and the alignment multiple."""
    a = plan.align
    return max(plan.tile_h, -(-height // a) * a), max(plan.tile_w, -(-width // a) * a)


def _to_out(acc: np.ndarray, weight: np.ndarray, dtype) -> np.ndarray:
    if (weight <= 0).any():  # cannot happen with a valid plan; a bug must not pass silently
        raise CamkitError("tile weights left a pixel uncovered; report this plan as a bug")
    values = acc / weight  # the one float temporary: the rest is in place
    if dtype == np.uint8:
        np.clip(values, 0.0, 1.0, out=values)
        values *= 255.0
        values += 0.5
        return values.astype(np.uint8)
    return values.astype(dtype, copy=False)


def run_tiled(run: Callable[..., np.ndarray], image: np.ndarray | list[np.ndarray],
              plan: TilePlan, on_tile: Callable[[int, int], None] | None = None,
              out: np.ndarray | None = None, dtype=np.float32) -> np.ndarray:
    """``run`` (tile HWC float32 -> output HWC of the same size; one tile per image when
    ``image`` is a list: an inpainting photo and its mask) over ``image`` by ``plan``; the
    blended result of the image's size, float32 (or ``dtype`` uint8: rounded, clipped to
    [0, 1] first) written into ``out`` when given. ``on_tile(done, total)`` reports progress.
    Photos may be uint8 (0..255) or float (0..1).

    Memory: the result, plus one band of the tile height across the photo (float32 sums and
    weights) and one tile: rows are finished and written out as soon as no later tile row
    reaches them. The photo is never copied (tiles past its border are reflected per tile)."""
    images = image if isinstance(image, list) else [image]
    height, width = images[0].shape[:2]
    ph, pw = padded_size(height, width, plan)
    tiles = grid(ph, pw, plan)
    tops = sorted({t for t, _ in tiles})
    lefts = sorted({left for _, left in tiles})
    band = None  # float32 sums and weights of rows [band_top, band_top + tile_h)
    band_top = 0
    done = 0
    for top in tops:
        if band is not None and top > band_top:  # rows above this tile row are final
            finished = min(top, height) - band_top
            if finished > 0:
                out[band_top:band_top + finished] = _to_out(
                    band[0][:finished, :width], band[1][:finished, :width], out.dtype)
            shift = top - band_top  # keep the overlap rows, in place (no second band)
            for part in band:
                part[:plan.tile_h - shift] = part[shift:].copy()
                part[plan.tile_h - shift:] = 0.0
            band_top = top
        wy = ramp(plan.tile_h, top > 0, top < tops[-1], plan.margin, plan.blend)
        for left in lefts:
            crops = [crop_reflected(x, top, left, plan.tile_h, plan.tile_w) for x in images]
            result = np.asarray(run(*crops), dtype=np.float32)
            if result.shape[:2] != (plan.tile_h, plan.tile_w):
                raise CamkitError(f"the model returned {result.shape[:2]} for a "
                                  f"{plan.tile_h}x{plan.tile_w} tile; tiling needs same-size "
                                  f"outputs")
            if band is None:
                band = (np.zeros((plan.tile_h, pw, result.shape[2]), np.float32),
                        np.zeros((plan.tile_h, pw, 1), np.float32))
                if out is None:
                    out = np.zeros((height, width, result.shape[2]), dtype)
            wx = ramp(plan.tile_w, left > 0, left < lefts[-1], plan.margin, plan.blend)
            w = (wy[:, None] * wx[None, :]).astype(np.float32)[..., None]
            band[0][:, left:left + plan.tile_w] += result * w
            band[1][:, left:left + plan.tile_w] += w
            done += 1
            if on_tile is not None:
                on_tile(done, len(tiles))
    rest = min(height - band_top, plan.tile_h)
    out[band_top:band_top + rest] = _to_out(band[0][:rest, :width], band[1][:rest, :width],
                                            out.dtype)
    return out


def mosaic(image: np.ndarray, height: int, width: int, cells: int) -> np.ndarray:
    """A ``height`` x ``width`` sample of the photo at full scale: ``cells`` x ``cells`` crops
    of (height / cells) x (width / cells) pixels, crop (i, j) centred on the centre of cell
    (i, j) of the photo's own ``cells`` x ``cells`` grid (top = floor((2i+1) H / (2 cells)) -
    ch // 2, clamped into the photo; columns likewise), placed side by side; float32 [0, 1].
    Global statistics of local features (a condition vector, instance-norm moments, pooled
    attention) are means over the photo; a sample at the photo's own scale estimates them where
    a shrunk photo changes what every convolution sees (benchmarks/full_resolution.md: CSRNet's
    official weights at 12 MP, 21 dB with a 272x480 shrunk thumbnail, 36 dB with this mosaic).
    A photo smaller than the mosaic gets ``thumbnail``'s adaptive average instead."""
    src_h, src_w = image.shape[:2]
    ch, cw = height // cells, width // cells
    if src_h < height or src_w < width:
        return thumbnail(image, height, width)
    out = np.empty((height, width, image.shape[2]), np.float32)
    for i in range(cells):
        top = min(max(0, (2 * i + 1) * src_h // (2 * cells) - ch // 2), src_h - ch)
        for j in range(cells):
            left = min(max(0, (2 * j + 1) * src_w // (2 * cells) - cw // 2), src_w - cw)
            crop = image[top:top + ch, left:left + cw].astype(np.float32)
            out[i * ch:(i + 1) * ch, j * cw:(j + 1) * cw] = (
                crop / np.float32(255.0) if image.dtype == np.uint8 else crop)
    return out


def make_thumbnail(image: np.ndarray, entry: dict, mask: bool = False) -> np.ndarray:
    """The thumbnail a manifest's ``full_resolution.thumbnails`` ``entry`` describes."""
    h, w = entry["size"]
    rule = entry.get("resize", "adaptive_average")
    if rule == "mosaic":
        return mosaic(image, h, w, int(entry["cells"]))
    if rule in ("adaptive_average", "adaptive_average_threshold"):
        return thumbnail(image, h, w, mask=mask)
    raise CamkitError(f"thumbnail rule {rule!r} is not one this camkit knows (mosaic, "
                      f"adaptive_average); upgrade camkit or re-export")


def thumbnail(image: np.ndarray, height: int, width: int, mask: bool = False) -> np.ndarray:
    """The whole photo shrunk to ``height`` x ``width`` by adaptive average pooling (torch's
    ``adaptive_avg_pool2d`` bins: output row i averages input rows floor(i*H/h) up to
    ceil((i+1)*H/h), columns likewise), float32 in [0, 1]; a mask's thumbnail marks a hole
    where its bin holds more than half hole. Separable, one output row at a time: memory is
    the thumbnail and one row band, never a float copy of the photo. The apps' cores do the
    same arithmetic (manifest ``full_resolution.thumbnails[].resize``: "adaptive_average")."""
    src_h, src_w = image.shape[:2]
    scale = np.float32(255.0) if image.dtype == np.uint8 else np.float32(1.0)
    rows = np.empty((height, src_w, image.shape[2]), np.float32)
    for i in range(height):
        a, b = (i * src_h) // height, -(-((i + 1) * src_h) // height)
        rows[i] = image[a:b].astype(np.float32).mean(axis=0) / scale
    small = np.empty((height, width, image.shape[2]), np.float32)
    for j in range(width):
        a, b = (j * src_w) // width, -(-((j + 1) * src_w) // width)
        small[:, j] = rows[:, a:b].mean(axis=1)
    return (small > 0.5).astype(np.float32) if mask else small


def receptive_radius(net, in_channels: tuple[int, ...], size: int = 96,
                     mass: float = 1e-4, seed: int = 0, fixed: tuple = ()) -> dict:
    """The measured receptive field of a torch image model, for tile margins.

    The gradient of one output pixel (the centre, summed over channels) with respect to every
    input pixel, on a seeded random input of ``size`` x ``size``: its support is the receptive
    field, its spread the *effective* one (Luo et al., 2016). Returns ``support`` (the largest
    Chebyshev distance from the centre with a non-zero gradient), ``radius`` (the smallest
    radius whose window holds all but ``mass`` of the gradient's absolute sum) and ``global``
    (True when the support reaches the input's border: a global operation such as a mean or an
    instance norm, which tiles cannot reproduce). ``fixed``: further inputs (tensors, e.g. a
    split's thumbnails) passed after the measured ones and held constant."""
    import torch

    g = torch.Generator().manual_seed(seed)
    inputs = [torch.rand(1, c, size, size, generator=g, requires_grad=True) for c in in_channels]
    net = net.eval()
    out = net(*inputs, *fixed)
    c = size // 2
    out[0, :, c, c].sum().backward()
    grad = sum(x.grad[0].abs().sum(0) for x in inputs).numpy().astype(np.float64)
    yy, xx = np.mgrid[0:size, 0:size]
    dist = np.maximum(np.abs(yy - c), np.abs(xx - c))
    total = grad.sum()
    nonzero = dist[grad > 0]
    support = int(nonzero.max()) if nonzero.size else 0
    radius = support
    for r in range(support + 1):
        if grad[dist > r].sum() <= mass * total:
            radius = r
            break
    return {"support": support, "radius": radius, "mass": mass, "size": size,
            "global": support >= c - 1}


#: the largest input side ``measure_margin`` tries; a support that reaches its border is global
MEASURE_MAX = 512
#: the gradient mass an approximate margin may leave outside (when the support does not fit)
APPROX_MASS = 1e-6


def measure_margin(module, inputs: tuple, tile: tuple[int, int], multiple: int,
                   blend: int = 16) -> dict:
    """The tile margin of ``module`` (the float torch module an artifact is exported from, with
    its weights): its receptive field measured by ``receptive_radius`` on inputs of 128, 256,
    then 512 px (the first where the support stays inside). ``inputs``: (channels, fixed
    tensor or None) per input; fixed ones (a split's thumbnails) are held constant. The margin
    is the support (exact tiles) when the tile has room for it, else the radius holding all but
    ``APPROX_MASS`` of the gradient (approximate, and said so). ``global``: no margin fits."""
    measured = [c for c, fixed in inputs if fixed is None]
    fixed = tuple(f for _, f in inputs if f is not None)
    rf = None
    for size in (128, 256, MEASURE_MAX):
        size = max(multiple, size // multiple * multiple)
        rf = receptive_radius(module, tuple(measured), size=size, mass=APPROX_MASS,
                              fixed=fixed)
        if not rf["global"]:
            break
    info = {"support": rf["support"], "radius": rf["radius"], "mass": APPROX_MASS,
            "input": rf["size"], "global": rf["global"],
            "how": "gradient of the centre output pixel w.r.t. a seeded random input "
                   "(toolkit.fullres.receptive_radius), with the exported weights"}
    if rf["global"]:
        return {**info, "margin": None, "exact": False}
    room = (min(tile) // 2 - 1 - blend) // 2  # a side must exceed 2 x (2 x margin + blend)
    if rf["support"] <= room:
        return {**info, "margin": rf["support"], "exact": True}
    if rf["radius"] <= room:
        return {**info, "margin": rf["radius"], "exact": False}
    return {**info, "margin": None, "exact": False}


def thumbnail_entry(tensor, role: str, model) -> dict:
    """The manifest's description of a thumbnail input (``make_thumbnail`` reads it)."""
    fr = model.full_resolution
    entry = {"input": tensor.name, "of": tensor.of, "size": list(tensor.size)}
    if fr.thumbnail_rule == "mosaic":
        return {**entry, "resize": "mosaic", "cells": fr.mosaic_cells}
    return {**entry, "resize": "adaptive_average_threshold" if role == "mask"
            else "adaptive_average"}


def export_plan(spec, module, blend: int = 16) -> dict:
    """The manifest's ``full_resolution`` block for an artifact of ``spec`` (an ExportSpec)
    exported from the float torch ``module`` (the model, or its split): the whole contract an
    app needs to process a photo of any size, nothing model-specific.

    * dynamic artifacts: ``whole`` (each photo at its own size, reflected up to the multiple);
    * ``tiles`` and ``split`` (with its thumbnails): the ``TilePlan`` of the artifact's size,
      its margin measured on ``module`` (``measure_margin``); a split also lists its thumbnail
      inputs, what each is the thumbnail of, their size and resize rule;
    * ``resize`` (lossy): declared by the model, a split model exported whole (without
      ``--split``), or a tile margin that does not fit the artifact's size."""
    import torch

    model = spec.model
    declared = model.full_resolution
    m = model.size_multiple
    base = {"version": PLAN_VERSION}
    if spec.dynamic:
        return {**base, "strategy": "whole", "size_multiple": m, "border": "reflect",
                "why": "a dynamic artifact takes each photo at its own size, reflected up to a "
                       f"multiple of {m} and cropped back; memory grows with the photo"}
    resize = {**base, "strategy": "resize", "lossy": True, "size": [spec.height, spec.width],
              "resize_in": "area", "resize_out": "bicubic"}
    if declared.strategy == "resize":
        return {**resize, "why": declared.why}
    if declared.strategy == "split" and not spec.split:
        return {**resize, "why": f"exported whole ({declared.why}); export with --split to "
                                 "process photos of any size by tiles"}
    g = torch.Generator().manual_seed(1)
    inputs = [(t.channels, None if t.role not in ("thumbnail", "statistics") else
               torch.rand(t.shape(None, None), generator=g)) for t in model.inputs]
    rf = measure_margin(module.eval(), inputs, (spec.height, spec.width), m, blend)
    if rf["margin"] is None:
        return {**resize, "receptive_field": rf,
                "why": (f"the receptive field reaches past {rf['input']} px (a global "
                        f"operation): {declared.why}" if rf["global"] else
                        f"a margin of {rf['radius']} px (the measured receptive field) does not "
                        f"fit a {spec.height}x{spec.width} tile: export a larger --size")}
    plan = TilePlan(spec.height, spec.width, rf["margin"], blend, m)
    raw = {**plan.to_json(), "strategy": declared.strategy, "exact": rf["exact"],
           "receptive_field": {k: v for k, v in rf.items() if k not in ("margin", "exact")},
           "why": declared.why}
    if spec.thumbnails:
        roles = {t.name: t.role for t in model.inputs}
        raw["thumbnails"] = [thumbnail_entry(t, roles[t.of], model) for t in spec.thumbnails]
    if spec.statistics:
        from toolkit.fullres_split import features_module

        raw["statistics"] = statistics_entry(spec, features_module(module))
    return raw


def statistics_geometry(features, channels: int, seeds: int = 3) -> dict:
    """The features module's stride and receptive field, measured: ``stride`` = input side /
    feature side (the same on 128 and 256 px inputs, else it is not a fixed-stride map);
    ``before`` / ``after``: how far the receptive field of feature ``k`` reaches above / below
    input pixel ``stride * k`` (the support of its gradient w.r.t. ``seeds`` seeded random
    inputs, united, so a ReLU that happens to be off for one input cannot shrink it)."""
    import torch

    features = features.eval()
    strides = []
    for size in (128, 256):
        with torch.no_grad():
            out = features(torch.zeros(1, channels, size, size))
        fh, fw = out.shape[2], out.shape[3]
        if size % fh or size % fw or size // fh != size // fw:
            raise CamkitError(f"the statistics features are {out.shape[2]}x{out.shape[3]} for a "
                              f"{size}x{size} input: not a fixed stride; declare "
                              f"statistics='thumbnail'")
        strides.append(size // out.shape[2])
    if strides[0] != strides[1]:
        raise CamkitError(f"the statistics features' stride changes with the input size "
                          f"({strides}); declare statistics='thumbnail'")
    stride, size = strides[0], 256
    k = size // stride // 2
    grad = np.zeros((size, size))
    for seed in range(seeds):
        x = torch.rand(1, channels, size, size, generator=torch.Generator().manual_seed(seed),
                       requires_grad=True)
        features(x)[0, :, k, k].sum().backward()
        grad += x.grad[0].abs().sum(0).numpy()
    rows, cols = np.nonzero(grad.sum(1))[0], np.nonzero(grad.sum(0))[0]
    if not len(rows):
        raise CamkitError("the statistics features do not depend on the input")
    anchor = stride * k
    before = int(max(anchor - rows.min(), anchor - cols.min(), 0))
    after = int(max(rows.max() - anchor, cols.max() - anchor, 0))
    return {"stride": stride, "before": before, "after": after}


def statistics_step(tile: int, stride: int, before: int, after: int) -> int:
    """Tile origins of the statistics pass along a side are this far apart (a multiple of the
    stride): consecutive tiles' whole-receptive-field features then meet without a gap."""
    valid = (tile - 1 - after) // stride + 1 - -(-before // stride)
    if valid < 1:
        raise CamkitError(f"a {tile} px tile holds no feature with its whole receptive field "
                          f"({before} + {after} px); export a larger size")
    return valid * stride


def statistics_entry(spec, features) -> dict:
    """The manifest's ``full_resolution.statistics`` block (the files are added per format at
    export): how the features artifact runs over the photo and what its mean feeds."""
    images = [t for t in spec.model.inputs if t.role == "image"]
    geo = statistics_geometry(features, images[0].channels)
    s = geo["stride"]
    th, tw = spec.height, spec.width
    return {
        "inputs": [t.name for t in images],
        "into": {t.of: t.name for t in spec.statistics},
        "output": "features",
        "tile": [th, tw],
        "features": [th // s, tw // s],
        **geo,
        "step": [statistics_step(th, s, geo["before"], geo["after"]),
                 statistics_step(tw, s, geo["before"], geo["after"])],
        "pad": "zeros",
        "reduce": "mean",
        "exact": "when the photo is at least one tile and each side minus the tile's is a "
                 f"multiple of {s}; else the features at the bottom and right borders are "
                 "approximate",
        "how": "stride: input side / feature side; before/after: the support of a feature's "
               "gradient w.r.t. seeded random inputs (toolkit.fullres.statistics_geometry)",
    }


def _feature_spans(length: int, tile: int, stride: int, before: int, after: int,
                   step: int) -> list[tuple[int, int, int]]:
    """(tile origin, first owned feature, end owned feature) along one side; photo feature
    ``i`` (anchor ``stride * i`` inside the photo) is owned by the first tile whose features
    ``i - origin / stride`` has its whole receptive field in the tile, or reaches past the
    tile only across the photo's own border."""
    count = -(-length // stride)
    origins = list(range(0, max(1, length - tile + 1), step))
    last = -(-max(0, length - tile) // stride) * stride  # the last tile reaches the photo's end
    if origins[-1] < last:
        origins.append(last)
    spans, done = [], 0
    n = tile // stride
    for y0 in origins:
        first = 0 if y0 == 0 else -(-before // stride)
        end = n if y0 + tile >= length else (tile - 1 - after) // stride + 1
        lo, hi = y0 // stride + first, min(count, y0 // stride + end)
        if lo > done:
            raise CamkitError(f"statistics tiles leave features {done}..{lo - 1} uncovered "
                              f"(step {step}, tile {tile}); a camkit bug, please report it")
        if hi > done:
            spans.append((y0, done - y0 // stride, hi - y0 // stride))
            done = hi
    if done < count:
        raise CamkitError(f"statistics tiles cover {done} of {count} features; a camkit bug")
    return spans


def statistics_pass(entry: dict, run_features: Callable[..., np.ndarray],
                    inputs: list[np.ndarray], on_tile: Callable[[int, int], None] | None = None
                    ) -> np.ndarray:
    """The whole photo's statistics by a manifest's ``full_resolution.statistics`` ``entry``:
    the features artifact (``run_features(*tiles) -> (h', w', C)`` on HWC float32 tiles of
    ``entry["tile"]``, zero-padded past the photo) over the photo by tiles, each photo feature
    taken once from a tile holding its receptive field (``_feature_spans``), averaged. Returns
    the (1, 1, C) float32 vector the per-tile artifact's statistics input takes."""
    th, tw = entry["tile"]
    s, before, after = int(entry["stride"]), int(entry["before"]), int(entry["after"])
    height, width = inputs[0].shape[:2]
    rows = _feature_spans(height, th, s, before, after, int(entry["step"][0]))
    cols = _feature_spans(width, tw, s, before, after, int(entry["step"][1]))
    total, count = None, 0
    buffers = [np.zeros((th, tw, x.shape[2]), np.float32) for x in inputs]
    done, n = 0, len(rows) * len(cols)
    for y0, r0, r1 in rows:
        for x0, c0, c1 in cols:
            for buf, x in zip(buffers, inputs):
                crop = x[y0:y0 + th, x0:x0 + tw]
                buf.fill(0.0)
                h, w = crop.shape[:2]
                buf[:h, :w] = crop / np.float32(255.0) if x.dtype == np.uint8 else crop
            f = np.asarray(run_features(*buffers), np.float32)[r0:r1, c0:c1]
            part = f.reshape(-1, f.shape[-1]).sum(0, dtype=np.float64)
            total = part if total is None else total + part
            count += f.shape[0] * f.shape[1]
            done += 1
            if on_tile is not None:
                on_tile(done, n)
    return (total / count).astype(np.float32)[None, None, :]


def _resize(image: np.ndarray, height: int, width: int, method: str) -> np.ndarray:
    """HWC float32 [0, 1] (or uint8) resized by PIL per channel in float: "area" (box), or
    "bicubic"."""
    from PIL import Image

    resample = {"area": Image.Resampling.BOX, "bicubic": Image.Resampling.BICUBIC}[method]
    x = image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0)
    return np.stack([np.asarray(Image.fromarray(x[..., c]).resize((width, height), resample))
                     for c in range(x.shape[2])], axis=-1).astype(np.float32)


def apply_plan(plan: dict, run: Callable[..., np.ndarray], inputs: list[np.ndarray],
               tensors, on_tile: Callable[[int, int], None] | None = None,
               dtype=np.uint8, run_features: Callable[..., np.ndarray] | None = None
               ) -> np.ndarray:
    """A photo through a fixed-size artifact by its manifest's ``full_resolution`` ``plan``.

    ``run(*feeds)`` runs the artifact once on HWC float32 arrays, one per tensor of ``tensors``
    (the artifact's inputs, TensorSpecs: images, masks, thumbnails in that order);
    ``inputs``: the photo's arrays for the non-thumbnail tensors (uint8 or float [0, 1], a mask
    0/1). Returns the result at the photo's size as ``dtype`` (uint8: what is written). The
    thumbnails are made once per photo (``thumbnail``) and fed with every tile; a split by
    tiles (``plan["statistics"]``) first runs ``run_features`` (its features artifact) over the
    photo (``statistics_pass``) and feeds the vector with every tile."""
    strategy = plan.get("strategy")
    if plan.get("version") != PLAN_VERSION:
        raise CamkitError(f"full_resolution plan version {plan.get('version')} is not one this "
                          f"camkit reads ({PLAN_VERSION}); upgrade camkit or re-export")
    height, width = inputs[0].shape[:2]
    own = [t for t in tensors if t.role not in ("thumbnail", "statistics")]
    if strategy in ("tiles", "split"):
        thumbs = []
        entries = {e["input"]: e for e in plan.get("thumbnails", [])}
        vector = None
        if any(t.role == "statistics" for t in tensors):
            if "statistics" not in plan or run_features is None:
                raise CamkitError("this artifact takes the photo's statistics but "
                                  + ("its manifest's full_resolution has no statistics block; "
                                     "re-export it" if "statistics" not in plan else
                                     "no features artifact was given to compute them"))
            names = plan["statistics"]["inputs"]
            vector = statistics_pass(plan["statistics"], run_features,
                                     [inputs[i] for i, t in enumerate(own) if t.name in names])
        for t in tensors:
            if t.role == "thumbnail":
                source = next(i for i, s in enumerate(own) if s.name == t.of)
                thumbs.append(make_thumbnail(inputs[source], entries[t.name],
                                             mask=own[source].role == "mask"))
            elif t.role == "statistics":
                thumbs.append(vector)
        return run_tiled(lambda *tiles: run(*tiles, *thumbs), list(inputs),
                         TilePlan.from_json(plan), on_tile=on_tile, dtype=dtype)
    if strategy == "resize":
        h, w = plan["size"]
        small = [(_resize(x, h, w, "area") > 0.5).astype(np.float32) if t.role == "mask"
                 else _resize(x, h, w, "area") for t, x in zip(own, inputs)]
        out = _resize(np.asarray(run(*small), np.float32), height, width, "bicubic")
        if on_tile is not None:
            on_tile(1, 1)
        if dtype == np.uint8:
            return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return out.astype(dtype)
    raise CamkitError(f"full_resolution strategy {strategy!r} is not one this camkit runs "
                      f"through a fixed-size artifact (tiles, split, resize)")
