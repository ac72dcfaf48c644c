"""PSNR, SSIM and max-abs error between images in [0, 1] (HWC or NCHW arrays or tensors).

SSIM follows Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, data range 1,
averaged over channels and valid pixels. PSNR of identical images is reported as ``inf``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _nchw(x) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).double()
    if t.ndim == 3:  # HWC
        t = t.permute(2, 0, 1)[None]
    return t


def psnr_db(a, b, data_range: float = 1.0) -> float:
    mse = float(((_nchw(a) - _nchw(b)) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def max_abs(a, b) -> float:
    return float((_nchw(a) - _nchw(b)).abs().max())


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(a, b, data_range: float = 1.0) -> float:
    x, y = _nchw(a), _nchw(b)
    if x.shape != y.shape:
        raise ValueError(f"ssim needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    c = x.shape[1]
    win = _gaussian_window().to(x)
    win = win.expand(c, 1, *win.shape)
    if min(x.shape[-2:]) < win.shape[-1]:
        raise ValueError(f"ssim needs images of at least {win.shape[-1]}x{win.shape[-1]} pixels")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(t):
        return F.conv2d(t, win, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x**2
    syy = blur(y * y) - mu_y**2
    sxy = blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return float((num / den).mean())


def psnr_tensor(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample PSNR (dB) of NCHW batches, for training loops; infinite where identical."""
    mse = ((a.detach() - b.detach()) ** 2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse)
