"""Inpainting holes: random rectangles, free-form brush strokes, and mask folders (white = hole).

Masks are float32 HW1 arrays in {0, 1}, **1 = hole** (the pixels to fill), as in EdgeConnect's
and DeepFill's mask folders. Generated masks are seeded: ``sample_mask(h, w, seed)`` gives the
same hole on every machine, which is what the checks' sample inputs and the INT8 calibration of a
model with a mask input use (``TensorSpec(role="mask")``).

* ``rectangle_mask``: one to three axis-aligned boxes (EdgeConnect's "regular" masks, there one
  centred square of half the side; random boxes are harder and more like a removed object).
* ``stroke_mask``: free-form strokes as a user's finger draws them (Yu et al., DeepFill v2,
  ICCV 2019, Algorithm 1: random vertices joined by thick lines with round joints).
* ``read_mask`` / ``MaskFolder``: a folder of mask images, e.g. the irregular masks of Liu et
  al. 2018 that EdgeConnect trains on; anything brighter than mid-grey is hole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit.data.io import list_images, read_image
from toolkit.errors import CamkitError

#: hole-area fraction a generated mask is kept within (the inpainting literature's 10-50%)
MIN_HOLE, MAX_HOLE = 0.05, 0.5


def rectangle_mask(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """1-3 random boxes, each 10-50% of the side in each direction."""
    mask = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        bh = int(height * rng.uniform(0.1, 0.5))
        bw = int(width * rng.uniform(0.1, 0.5))
        top = int(rng.integers(0, max(1, height - bh)))
        left = int(rng.integers(0, max(1, width - bw)))
        mask[top : top + bh, left : left + bw] = 1.0
    return mask[..., None]


def stroke_mask(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """2-5 free-form strokes; brush width and stroke length scale with the image side."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    side = min(height, width)
    for _ in range(int(rng.integers(2, 6))):
        brush = int(rng.uniform(0.05, 0.15) * side) + 1
        x, y = float(rng.uniform(0, width)), float(rng.uniform(0, height))
        points = [(x, y)]
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(4, 12))):
            angle += rng.uniform(-np.pi / 3, np.pi / 3)
            step = rng.uniform(0.05, 0.2) * side
            x = float(np.clip(x + step * np.cos(angle), 0, width - 1))
            y = float(np.clip(y + step * np.sin(angle), 0, height - 1))
            points.append((x, y))
        draw.line(points, fill=255, width=brush)
        r = brush / 2
        for px, py in points:  # round joints, as a brush leaves
            draw.ellipse((px - r, py - r, px + r, py + r), fill=255)
    return (np.asarray(canvas, np.float32) / 255.0 > 0.5).astype(np.float32)[..., None]


def random_mask(height: int, width: int, rng: np.random.Generator, strokes: float = 0.5) -> np.ndarray:
    """A stroke mask with probability ``strokes``, else boxes; redrawn (up to 20 times) until
    the hole covers MIN_HOLE..MAX_HOLE of the image, else the last draw is returned."""
    for _ in range(20):
        mask = (stroke_mask if rng.random() < strokes else rectangle_mask)(height, width, rng)
        if MIN_HOLE <= mask.mean() <= MAX_HOLE:
            return mask
    return mask


def sample_mask(height: int, width: int, seed: int) -> np.ndarray:
    """The deterministic hole for sample ``seed`` (checks, calibration, the demo)."""
    return random_mask(height, width, np.random.default_rng(seed))


def name_seed(name: str) -> int:
    """A stable seed from an image name (Python's ``hash`` is salted per process)."""
    import zlib

    return zlib.crc32(name.encode())


def read_mask(path: Path) -> np.ndarray:
    """A mask image as HW1 float32 in {0, 1}: white (> 0.5) = hole."""
    mask = (read_image(path, channels=1) > 0.5).astype(np.float32)
    if mask.max() == 0:
        raise CamkitError(f"mask {path} has no hole (no pixel brighter than mid-grey); white = hole")
    return mask


class MaskFolder:
    """The masks of a folder, indexed like a list; ``pick(rng)`` draws one for training."""

    def __init__(self, folder: str | Path):
        self.paths = list_images(Path(folder))
        if not self.paths:
            raise CamkitError(f"mask folder {folder} holds no images (.png, .jpg, ...)")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        return read_mask(self.paths[index])

    def pick(self, rng: np.random.Generator) -> np.ndarray:
        return self[int(rng.integers(len(self.paths)))]
