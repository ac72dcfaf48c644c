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
        if raw.get("version") != PLAN_VERSION or raw.get("strategy") != "tiles":
            raise CamkitError(f"full_resolution plan version {raw.get('version')} / strategy "
                              f"{raw.get('strategy')!r} is not one this camkit reads "
                              f"(version {PLAN_VERSION}, tiles)")
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


def _reflect_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    ph, pw = max(0, height - image.shape[0]), max(0, width - image.shape[1])
    if not ph and not pw:
        return image
    if ph >= image.shape[0] or pw >= image.shape[1]:  # reflection needs more than the photo
        return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect")


def run_tiled(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray, plan: TilePlan,
              on_tile: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``run`` (tile HWC -> output HWC of the same size) over ``image`` by ``plan``; the blended
    HWC float32 result, of the image's size. ``on_tile(done, total)`` reports progress.

    Memory: the output and weight accumulators (the photo's size, float32) and one tile."""
    height, width = image.shape[:2]
    a = plan.align
    padded = _reflect_to(image, max(plan.tile_h, -(-height // a) * a),
                         max(plan.tile_w, -(-width // a) * a))
    ph, pw = padded.shape[:2]
    tiles = grid(ph, pw, plan)
    tops = sorted({t for t, _ in tiles})
    lefts = sorted({left for _, left in tiles})
    out = None
    weight = np.zeros((ph, pw, 1), np.float32)
    for i, (top, left) in enumerate(tiles):
        result = np.asarray(run(padded[top:top + plan.tile_h, left:left + plan.tile_w]),
                            dtype=np.float32)
        if result.shape[:2] != (plan.tile_h, plan.tile_w):
            raise CamkitError(f"the model returned {result.shape[:2]} for a "
                              f"{plan.tile_h}x{plan.tile_w} tile; tiling needs same-size outputs")
        if out is None:
            out = np.zeros((ph, pw, result.shape[2]), np.float32)
        wy = ramp(plan.tile_h, top > 0, top < tops[-1], plan.margin, plan.blend)
        wx = ramp(plan.tile_w, left > 0, left < lefts[-1], plan.margin, plan.blend)
        w = (wy[:, None] * wx[None, :]).astype(np.float32)[..., None]
        out[top:top + plan.tile_h, left:left + plan.tile_w] += result * w
        weight[top:top + plan.tile_h, left:left + plan.tile_w] += w
        if on_tile is not None:
            on_tile(i + 1, len(tiles))
    if (weight <= 0).any():  # cannot happen with a valid plan; a bug must not pass silently
        raise CamkitError("tile weights left a pixel uncovered; report this plan as a bug")
    return (out / weight)[:height, :width]


def receptive_radius(net, in_channels: tuple[int, ...], size: int = 96,
                     mass: float = 1e-4, seed: int = 0) -> dict:
    """The measured receptive field of a torch image model, for tile margins.

    The gradient of one output pixel (the centre, summed over channels) with respect to every
    input pixel, on a seeded random input of ``size`` x ``size``: its support is the receptive
    field, its spread the *effective* one (Luo et al., 2016). Returns ``support`` (the largest
    Chebyshev distance from the centre with a non-zero gradient), ``radius`` (the smallest
    radius whose window holds all but ``mass`` of the gradient's absolute sum) and ``global``
    (True when the support reaches the input's border: a global operation such as a mean or an
    instance norm, which tiles cannot reproduce)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    inputs = [torch.rand(1, c, size, size, generator=g, requires_grad=True) for c in in_channels]
    net = net.eval()
    out = net(*inputs)
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
