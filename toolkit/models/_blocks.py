"""Export-friendly layers shared by the models.

Every block here traces under ``torch.export`` with dynamic height and width, uses no in-place
ops (converters dislike them) and keeps NCHW inside torch.
"""

from __future__ import annotations

import torch
from torch import nn


class _Statistics:
    """Where ``spatial_mean`` is: off (compute), recording (compute and keep), or replaying
    (return what was kept, in order, and compute nothing). A full-resolution split
    (toolkit/fullres_split.py) runs the network on the photo's thumbnail while recording, then
    on a tile while replaying: every global statistic of the tile's pass is the thumbnail's."""

    mode: str | None = None
    kept: list = []


STATISTICS = _Statistics()


def spatial_mean(x: torch.Tensor, square: bool = False) -> torch.Tensor:
    """Mean of ``x`` (of ``x * x`` with ``square``) over height and width, kept as (N, C, 1, 1):
    every global statistic of the models goes through here, so a full-resolution split can take
    it from the thumbnail (``STATISTICS``)."""
    if STATISTICS.mode == "replay":
        if not STATISTICS.kept:
            raise RuntimeError("a split replayed more statistics than its thumbnail pass kept")
        return STATISTICS.kept.pop(0)
    mean = (x * x if square else x).mean(dim=(2, 3), keepdim=True)
    if STATISTICS.mode == "record":
        STATISTICS.kept.append(mean)
    return mean


def global_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over height and width, (N, C, H, W) -> (N, C). Works for any input size. Outside a
    split's record/replay it is the plain mean op (no keepdim and reshape: NNCF's ONNX backend
    then leaves the Linear layers after it unquantized, tests/test_onnx_w8a16.py)."""
    if STATISTICS.mode is None:
        return x.mean(dim=(2, 3))
    return spatial_mean(x).flatten(1)


class GlobalFeatureModulation(nn.Module):
    """Per-channel affine from a condition vector: ``x * (1 + scale(c)) + shift(c)``.

    This is the GFM layer of CSRNet; ``scale`` and ``shift`` are named so that the official
    checkpoints map on by key (``cond_scaleN`` / ``cond_shiftN`` live in the parent).
    """

    @staticmethod
    def apply(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        n, c = scale.shape
        return x * (1.0 + scale.reshape(n, c, 1, 1)) + shift.reshape(n, c, 1, 1)

    def forward(self, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        return self.apply(x, scale, shift)


class InstanceNorm(nn.Module):
    """Affine instance norm, ``(x - mean) / sqrt(var + eps) * scale + shift`` per image and channel.

    Mean and biased variance over height and width with ``Tensor.mean`` (no ``instance_norm``
    op, which ONNX, LiteRT and Core ML converters lower unevenly, and no running statistics), so
    it traces under ``torch.export`` with dynamic height and width. ``eps`` defaults to 1e-3,
    DPED's ``_instance_norm`` (PyTorch's ``InstanceNorm2d`` uses 1e-5).

    w8a8 keeps every op of an instance norm float (``W8A8_KEEP_FLOAT``; the exporter turns it
    into ``<path>/*`` entries of ``precision_scheme.kept_float_layers``, see
    toolkit/quantization/layers.py ``default_float_layers``); its input (a conv output) and the
    consumers of its output stay int8. Per-tensor int8 statistics break it: the squares
    ``centred * centred`` span [0, max^2] over all channels and images, so one int8 step
    (0.58 in WESPE mobile's block 0 norm2) is larger than most channels' variance; LiteRT's
    int8 MEAN then keeps its input's scale, so the variance itself is quantized in those steps
    (0, 1 or 2 of them), and rsqrt amplifies whatever error is left by 1/std per channel.
    Measured on the shipped WESPE mobile checkpoint at 256x256 (worst PSNR / SSIM vs float over
    photos_pd): all int8 ONNX 31.1 dB / 0.927, LiteRT 19.2 / 0.771, Core ML (simulated)
    31.1 / 0.923; with the norms float 43.2 / 0.991, 40.1 / 0.980, 40.2 / 0.980. Keeping only
    the statistics float (mean, centring, square, +eps, rsqrt) gave ONNX 40.3 / 0.985; only
    the squares and +eps, LiteRT 29.7 / 0.960. The formula is already the better one for
    integer kernels (variance of the centred tensor, not ``mean(x^2) - mean^2``).

    w8a16 keeps it float too (``W8A16_KEEP_FLOAT``). TFLite's int16 kernels still lose it: the
    official DPED iPhone generator (imported weights, 256x256), LiteRT w8a16 against torch float
    on 26 held-apart photos, mean / worst 47.4 / 35.5 dB all-int16, 54.7 / 48.9 with the norms
    float (the 5 calibration photos: worst 47.7 -> 53.0); ONNX's uint16 Q/DQ pairs around float
    kernels lose less, 53.6 / 46.4 -> 54.7 / 48.9.
    """

    #: w8a8 computes this block in float (above); toolkit/quantization/layers.py reads it
    W8A8_KEEP_FLOAT = True
    #: and so does w8a16 (above)
    W8A16_KEEP_FLOAT = True

    def __init__(self, channels: int, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(channels))
        self.shift = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - spatial_mean(x)
        var = spatial_mean(centred, square=True)
        c = self.scale.shape[0]
        return centred * torch.rsqrt(var + self.eps) * self.scale.reshape(1, c, 1, 1) + (
            self.shift.reshape(1, c, 1, 1)
        )


class NormResidual(nn.Module):
    """``skip + branch`` (``skip + relu(branch)`` with ``relu=True``), where ``branch`` is the
    output of an instance norm: the sum of a residual block whose last op before it is a float
    norm. No parameters (state-dict keys are the block's as before).

    w8a8 keeps it float (``W8A8_KEEP_FLOAT``): the norm's float output then goes into the sum
    without an int8 round trip, the residual stream stays float between blocks, and each conv
    quantizes only its own input, which is what the float simulation of benchmarks/
    int8_error_budget.py models. Exported, the sum is one more quantization point per block
    (the ReLU'd norm output and the sum, each with its own per-tensor range). Measured on the
    official DPED iPhone generator at 256x256 (simulation of the default w8a8, 26 held-apart
    photos, mean / worst dB): 42.9 / 37.2 with the sums float, 39.3 / 33.5 with them int8;
    each block's points alone cost little (50-71 dB), together they compound through the
    norms that follow. Elementwise ops, no MACs: the convs stay int8.
    """

    #: w8a8 computes the sum in float (above); toolkit/quantization/layers.py reads it
    W8A8_KEEP_FLOAT = True

    def __init__(self, relu: bool = False) -> None:
        super().__init__()
        self.relu = relu

    def forward(self, branch: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return skip + (torch.relu(branch) if self.relu else branch)
