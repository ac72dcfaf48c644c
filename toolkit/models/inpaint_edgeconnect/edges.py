"""An export-friendly Canny: the edge map of the known region, computed inside the graph.

EdgeConnect (Nazeri et al., ICCV-W 2019) feeds G1 the Canny edges (``skimage.feature.canny``,
sigma 2) of the image outside the hole (official ``src/dataset.py``: ``canny(img, sigma=sigma,
mask=mask)``). An app has no OpenCV/scikit-image in the model, so ``CannyEdges`` rebuilds that
detector from ops every converter has (conv, max pool, comparisons, casts, mul/div), step by
step as ``skimage.feature.canny`` (``_canny.py``, scikit-image 0.26) does it:

1. **Luma** ``0.2125 R + 0.7154 G + 0.0721 B`` (``skimage.color.rgb2gray``, which EdgeConnect
   calls before ``canny``): a 1x1 conv.
2. **Masked Gaussian blur, sigma 2, 17 taps** (skimage's ``truncate=4``): two separable convs on
   ``gray * known`` and on ``known``, then their ratio. That is skimage's ``_preprocess``
   "bleed-over" normalisation: the hole *and* the zero padding outside the image are unknown
   pixels, so neither the hole's content nor the image border makes edges. Because the hole is
   zeroed first, nothing the app leaves in the hole reaches the edges (tested).
3. **Sobel** gradients (``scipy.ndimage.sobel``'s unnormalised [1 2 1] x [-1 0 1]) as one
   two-channel 3x3 conv; magnitude ``sqrt(gx^2 + gy^2)`` (a small epsilon keeps sqrt's
   gradient finite; the op is not trained through).
4. **Erosion**: skimage drops edges next to an unknown pixel (3x3 erosion of the mask, image
   rim included). Here: a 3x3 box-sum conv of ``known`` compared with 9.
5. **Non-maximum suppression** over four direction bins (0, 45, 90, 135 degrees): one fixed conv
   with eight one-hot 3x3 kernels gives each pixel its eight neighbours' magnitudes; a pixel is
   kept when it is >= both neighbours along its bin. The bin comes from comparisons of |gx|,
   |gy| with tan(22.5) and tan(67.5) and the sign of gx*gy. skimage interpolates the two
   neighbours' magnitudes along the exact gradient angle instead of taking the nearest
   neighbours; that is the main source of the small disagreement measured below.
6. **Hysteresis**, low 0.1 / high 0.2 (skimage's defaults for float images, which EdgeConnect
   keeps): skimage keeps every weak pixel 8-connected to a strong one, a global connected-
   component search. Here the strong seeds grow ``HYSTERESIS_STEPS`` times by a 3x3 max pool,
   each step masked to the weak pixels, so a weak chain is kept up to that many pixels from a
   strong pixel (a local, export-friendly truncation).

The result is a {0, 1} float map, ``(N, 1, H, W)``. Agreement with ``skimage.feature.canny(
rgb2gray(img), sigma=2)`` on calibration/photos_pd (5 photos at 256 px short side, measured by
tests/test_edgeconnect.py; see ``canny_agreement``): F1 ~0.90 pixel-exact, ~0.97 when a
pixel one step away counts as a match (the exact numbers are in card.yaml).

Not trained through (comparisons have no gradient); G1 and G2 only consume it. In w8a8 the
whole operator stays float (``W8A8_KEEP_FLOAT``): thresholds at 0.1/0.2 on a magnitude that
spans 0..5.6, and the NMS ties ``>=`` between neighbours, do not survive a per-tensor int8 step.
Cost at 512x512: about 0.04 GMACs (``tests/test_edgeconnect.py`` counts the whole graph).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SIGMA = 2.0
#: skimage.filters.gaussian's default truncate=4.0: radius int(4 * sigma + 0.5) = 8 -> 17 taps
TAPS = 2 * int(4.0 * SIGMA + 0.5) + 1
LOW, HIGH = 0.1, 0.2
HYSTERESIS_STEPS = 32
LUMA = (0.2125, 0.7154, 0.0721)
_EPS = 1e-6
_TAN_22_5 = math.tan(math.radians(22.5))
_TAN_67_5 = math.tan(math.radians(67.5))
#: neighbour offsets (dy, dx) of the eight one-hot kernels; pairs (k, k + 4) are opposite
_OFFSETS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))


def _gaussian_taps(sigma: float, taps: int) -> torch.Tensor:
    x = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return (g / g.sum()).float()


class CannyEdges(nn.Module):
    """``forward(image, known)`` -> edges of ``image`` where ``known`` is 1 (see module doc).

    ``image``: (N, 3, H, W) in [0, 1]; ``known``: (N, 1, H, W), 1 = known pixel, 0 = hole.
    All weights are fixed buffers (no parameters)."""

    #: w8a8 computes this block in float (module docstring); toolkit/quantization/layers.py reads it
    W8A8_KEEP_FLOAT = True

    def __init__(self, low: float = LOW, high: float = HIGH,
                 hysteresis_steps: int = HYSTERESIS_STEPS) -> None:
        super().__init__()
        self.low, self.high, self.steps = low, high, hysteresis_steps
        g = _gaussian_taps(SIGMA, TAPS)
        self.register_buffer("luma", torch.tensor(LUMA).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("blur_x", g.reshape(1, 1, 1, TAPS), persistent=False)
        self.register_buffer("blur_y", g.reshape(1, 1, TAPS, 1), persistent=False)
        smooth, diff = torch.tensor([1.0, 2.0, 1.0]), torch.tensor([-1.0, 0.0, 1.0])
        # d/dx: derivative along columns, smoothing along rows (ndimage.sobel axis=1)
        self.register_buffer("sobel_x", (smooth[:, None] * diff[None, :])[None, None],
                             persistent=False)
        self.register_buffer("sobel_y", (diff[:, None] * smooth[None, :])[None, None],
                             persistent=False)
        self.register_buffer("box", torch.ones(1, 1, 3, 3), persistent=False)
        # one single-output kernel per neighbour: no channel slices in the graph (NNCF's ONNX
        # quantizer fails on Slice outputs feeding several comparisons)
        for k, (dy, dx) in enumerate(_OFFSETS):
            shift = torch.zeros(1, 1, 3, 3)
            shift[0, 0, 1 + dy, 1 + dx] = 1.0
            self.register_buffer(f"shift{k}", shift, persistent=False)

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        r = TAPS // 2
        return F.conv2d(F.conv2d(x, self.blur_x, padding=(0, r)), self.blur_y, padding=(r, 0))

    def forward(self, image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        dtype = image.dtype  # comparisons give bools: cast back to the graph's dtype (fp16 too)
        gray = F.conv2d(image * known, self.luma)
        smoothed = self._blur(gray) / self._blur(known).clamp_min(_EPS)
        gx = F.conv2d(smoothed, self.sobel_x, padding=1)
        gy = F.conv2d(smoothed, self.sobel_y, padding=1)
        inside = (F.conv2d(known, self.box, padding=1) > 8.5).to(dtype)  # eroded mask
        magnitude = torch.sqrt(gx * gx + gy * gy + _EPS) * inside
        n = [F.conv2d(magnitude, getattr(self, f"shift{k}"), padding=1) for k in range(8)]
        # a float product, not ``&``: coremltools has no converter for aten.__and__
        peak = [(magnitude >= n[k]).to(dtype) * (magnitude >= n[k + 4]).to(dtype) for k in range(4)]
        ax, ay = gx.abs(), gy.abs()
        horizontal = (ay <= _TAN_22_5 * ax).to(dtype)  # gradient along x: compare left/right
        vertical = (ay >= _TAN_67_5 * ax).to(dtype)
        diagonal = 1.0 - horizontal - vertical
        same_sign = (gx * gy >= 0).to(dtype)  # gradient towards (+y, +x): compare (1,1)/(-1,-1)
        is_max = (horizontal * peak[0] + vertical * peak[2]
                  + diagonal * (same_sign * peak[1] + (1.0 - same_sign) * peak[3]))
        candidate = magnitude * is_max
        weak = (candidate >= self.low).to(dtype)
        edges = (candidate >= self.high).to(dtype)
        for _ in range(self.steps):
            edges = F.max_pool2d(edges, 3, stride=1, padding=1) * weak
        return edges


def canny_reference(image_hw3, sigma: float = SIGMA, known_hw=None):
    """skimage's Canny of ``rgb2gray(image)`` (EdgeConnect's targets) as float32 HW in {0, 1}."""
    import numpy as np
    from skimage.color import rgb2gray
    from skimage.feature import canny

    mask = None if known_hw is None else known_hw.astype(bool)
    return canny(rgb2gray(image_hw3), sigma=sigma, mask=mask).astype(np.float32)


def canny_agreement(ours, reference, tolerance_px: int = 0) -> float:
    """F1 of two {0, 1} HW edge maps; a pixel within ``tolerance_px`` (Chebyshev) of an edge of
    the other map counts as matched (0: pixel-exact)."""
    import numpy as np
    from scipy import ndimage

    ours, reference = ours.astype(bool), reference.astype(bool)
    if tolerance_px:
        size = 2 * tolerance_px + 1
        near_ref = ndimage.binary_dilation(reference, np.ones((size, size), bool))
        near_ours = ndimage.binary_dilation(ours, np.ones((size, size), bool))
    else:
        near_ref, near_ours = reference, ours
    precision = (ours & near_ref).sum() / max(ours.sum(), 1)
    recall = (reference & near_ours).sum() / max(reference.sum(), 1)
    return float(2 * precision * recall / max(precision + recall, 1e-12))
