"""PSNR, SSIM and max-abs error between images in [0, 1] (HWC or NCHW arrays or tensors).

SSIM follows Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, data range 1,
averaged over channels and valid pixels. PSNR of identical images is reported as ``inf``.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _nchw(x) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).double()
    if t.ndim == 3:  # HWC
        t = t.permute(2, 0, 1)[None]
    return t


def _nchw_f32(x) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    arr = arr.astype(np.float32, copy=False)
    return arr.transpose(2, 0, 1)[None] if arr.ndim == 3 else arr


def psnr_db(a, b, data_range: float = 1.0) -> float:
    mse = float(((_nchw(a) - _nchw(b)) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def max_abs(a, b) -> float:
    return float((_nchw(a) - _nchw(b)).abs().max())


WINDOW = 11


def _gaussian_1d(size: int = WINDOW, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a, b, data_range: float = 1.0, reduce: bool = True):
    """Mean SSIM. Computed in float32 through the difference image d = a - b, using
    (2 mu_a mu_b + C1) = (mu_a^2 + mu_b^2 + C1) - mu_d^2 and likewise for the variances, so that
    near-identical images (parity checks) lose no precision to cancellation. ``reduce=False``
    returns the SSIM map (NCHW over the valid pixels) instead of its mean."""
    from scipy.ndimage import correlate1d

    x, y = (_nchw_f32(v) for v in (a, b))
    if x.shape != y.shape:
        raise ValueError(f"ssim needs equal shapes, got {x.shape} and {y.shape}")
    if min(x.shape[-2:]) < WINDOW:
        raise ValueError(f"ssim needs images of at least {WINDOW}x{WINDOW} pixels")
    g = _gaussian_1d().float().numpy()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    edge = WINDOW // 2

    def blur(t: np.ndarray) -> np.ndarray:
        # separable Gaussian (two 1-D passes); keep only pixels whose window fits ("valid")
        out = correlate1d(correlate1d(t, g, axis=-1), g, axis=-2)
        return out[..., edge:-edge, edge:-edge]

    d = x - y
    mu_x, mu_y, mu_d = blur(x), blur(y), blur(d)
    var_sum = blur(x * x) - mu_x**2 + blur(y * y) - mu_y**2  # sigma_x^2 + sigma_y^2
    var_d = blur(d * d) - mu_d**2  # sigma_x^2 + sigma_y^2 - 2 sigma_xy
    lum_den = mu_x**2 + mu_y**2 + c1
    luminance = (lum_den - mu_d**2) / lum_den
    contrast_structure = (var_sum + c2 - var_d) / (var_sum + c2)
    smap = luminance * contrast_structure
    return float(smap.mean(dtype=np.float64)) if reduce else smap


def psnr_tensor(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample PSNR (dB) of NCHW batches, for training loops; infinite where identical."""
    mse = ((a.detach() - b.detach()) ** 2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse)


def masked_psnr_db(a, b, mask_hw1: np.ndarray, data_range: float = 1.0) -> float:
    """PSNR over the pixels where ``mask_hw1`` is 1 (an inpainting hole), all channels."""
    x, y = (np.asarray(v, np.float64) for v in (a, b))
    m = np.broadcast_to(np.asarray(mask_hw1, np.float64), x.shape)
    if m.sum() == 0:
        raise ValueError("masked PSNR needs a non-empty mask")
    mse = float((((x - y) ** 2) * m).sum() / m.sum())
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def masked_ssim(a, b, mask_hw1: np.ndarray, data_range: float = 1.0) -> float:
    """Mean of the SSIM map (``ssim``'s, per channel) over the hole pixels of ``mask_hw1``
    whose 11x11 window fits in the image. SSIM is a windowed statistic, so pixels near the hole's
    border mix hole and context: that is the usual "SSIM inside the hole" of the inpainting
    literature, read it as such."""
    smap = ssim(a, b, data_range, reduce=False)  # (1, C, H - 10, W - 10)
    edge = WINDOW // 2
    m = np.asarray(mask_hw1, np.float64)[edge:-edge, edge:-edge, 0]
    if m.sum() == 0:
        raise ValueError("masked SSIM needs a hole away from the image border")
    return float((smap[0] * m[None]).sum() / (m.sum() * smap.shape[1]))
