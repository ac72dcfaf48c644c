"""Validation: PSNR/SSIM over the validation set and an image grid (input | output | target)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from toolkit.artifacts import atomic_write_bytes
from toolkit.checks.metrics import psnr_db, ssim

#: PSNR of identical images is infinite; validation means cap each sample here
PSNR_CAP_DB = 100.0
#: the metrics of ``evaluate`` that metrics.csv and TensorBoard record
VAL_METRICS = ["psnr_db", "ssim", "input_psnr_db", "input_ssim"]
#: grey gap between grid cells, in pixels
GRID_GAP_PX = 2


@torch.no_grad()
def evaluate(net: nn.Module, dataset: Dataset, device: torch.device) -> dict[str, float]:
    """Mean PSNR/SSIM of the clipped output vs target and, when shapes match, of input vs target.

    The input scores are the do-nothing baseline of a restoration task: the model should beat them.
    """
    was_training = net.training
    net.eval()
    sums = {"psnr_db": 0.0, "ssim": 0.0, "input_psnr_db": 0.0, "input_ssim": 0.0}
    count, same_shape = len(dataset), True
    for i in range(count):
        inputs, target = dataset[i][:2]
        output = net(inputs[None].to(device)).clamp(0.0, 1.0).cpu()
        sums["psnr_db"] += min(psnr_db(output, target[None]), PSNR_CAP_DB)
        sums["ssim"] += ssim(output, target[None])
        same_shape = same_shape and inputs.shape == target.shape
        if same_shape:
            sums["input_psnr_db"] += min(psnr_db(inputs[None], target[None]), PSNR_CAP_DB)
            sums["input_ssim"] += ssim(inputs[None], target[None])
    net.train(was_training)
    if not same_shape:
        del sums["input_psnr_db"], sums["input_ssim"]
    out: dict[str, float] = {k: round(v / count, 4) for k, v in sums.items()}
    out["samples"] = count
    return out


@torch.no_grad()
def image_grid(net: nn.Module, dataset: Dataset, rows: int, device: torch.device) -> np.ndarray:
    """HWC uint8: one row per validation sample (the first ``rows``), input | output | target.

    Cells of different sizes (e.g. super-resolution) sit top-left in cells of the largest size.
    """
    was_training = net.training
    net.eval()
    cells = []
    for i in range(min(rows, len(dataset))):
        inputs, target = dataset[i][:2]
        output = net(inputs[None].to(device)).clamp(0.0, 1.0)[0].cpu()
        cells.append([inputs, output, target])
    net.train(was_training)
    height = max(c.shape[1] for row in cells for c in row)
    width = max(c.shape[2] for row in cells for c in row)
    gap = GRID_GAP_PX
    grid = np.full((len(cells) * (height + gap) - gap, 3 * (width + gap) - gap, 3), 128, np.uint8)
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            pixels = cell.float().clamp(0, 1).permute(1, 2, 0).numpy()
            pixels = (pixels * 255 + 0.5).astype(np.uint8)
            top, left = r * (height + gap), c * (width + gap)
            grid[top : top + pixels.shape[0], left : left + pixels.shape[1]] = pixels
    return grid


def write_png(path: Path, image: np.ndarray) -> None:
    """Atomically write an HWC uint8 image as PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    atomic_write_bytes(Path(path), buf.getvalue())
