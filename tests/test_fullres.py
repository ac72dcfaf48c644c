"""Full resolution by tiles (toolkit/fullres.py): the grid covers every pixel, the blend weights
sum to one, tiled == whole-photo for local models when the margin holds the measured receptive
field (non-square odd sizes, a photo smaller than a tile, exactly one tile, a strided model),
and the receptive-field measurement tells local models from global ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from toolkit.errors import CamkitError
from toolkit.fullres import TilePlan, grid, ramp, receptive_radius, run_tiled, starts


def _local(depth: int = 3, stride: bool = False) -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()]
    if stride:
        layers += [nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                   nn.Upsample(scale_factor=2, mode="nearest")]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()]
    layers += [nn.Conv2d(8, 3, 3, padding=1)]
    return nn.Sequential(*layers).eval()


def _runner(net: nn.Module):
    def run(tile: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = net(torch.from_numpy(np.ascontiguousarray(tile.transpose(2, 0, 1)))[None])
        return out[0].numpy().transpose(1, 2, 0)
    return run


def _photo(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(1).random((h, w, 3), dtype=np.float32)


def test_starts_cover_the_side_and_end_flush():
    assert starts(64, 64, 20) == [0]
    assert starts(50, 64, 20) == [0]
    assert starts(200, 64, 20) == [0, 44, 88, 132, 136]
    assert starts(200, 64, 20, align=8) == [0, 40, 80, 120, 136]


def test_blend_weights_sum_to_one_across_a_seam():
    plan = TilePlan(64, 64, margin=5, blend=8)
    a = ramp(64, False, True, plan.margin, plan.blend)
    b = ramp(64, True, False, plan.margin, plan.blend)
    step = 64 - plan.overlap
    total = np.zeros(64 + step)
    total[:64] += a
    total[step:] += b
    assert np.allclose(total, 1.0)
    assert (a[-5:] == 0).all() and (b[:5] == 0).all()


@pytest.mark.parametrize("size", [(157, 211), (40, 50), (64, 64), (64, 130)])
def test_tiled_equals_whole_for_a_local_model(size):
    net = _local(depth=3)
    rf = receptive_radius(net, (3,))
    assert rf["support"] == 4 and rf["radius"] <= 4 and not rf["global"]  # four 3x3 convs
    plan = TilePlan(64, 64, margin=rf["support"], blend=8)
    photo = _photo(*size)
    whole = _runner(net)(photo)
    done = []
    tiled = run_tiled(_runner(net), photo, plan, on_tile=lambda i, n: done.append((i, n)))
    assert tiled.shape == whole.shape
    assert done[-1] == (len(done), len(grid(*size, plan)))  # every tile ran once, reported
    if min(size) >= 64:  # the photo is the truth: tiling must not change a pixel
        assert np.abs(tiled - whole).max() < 1e-5
    else:  # smaller than a tile: reflected up to it, so the border sees reflection, not zeros
        err = np.abs(tiled - whole)
        assert err[:size[0] - 4, :size[1] - 4].max() < 1e-5


def test_a_strided_model_needs_aligned_tiles():
    net = _local(depth=2, stride=True)
    rf = receptive_radius(net, (3,))
    photo = _photo(160, 224)  # multiples of 2, like the whole-photo run
    whole = _runner(net)(photo)
    aligned = run_tiled(_runner(net), photo, TilePlan(64, 64, rf["support"] + 1, 6, align=2))
    assert np.abs(aligned - whole).max() < 1e-5
    unaligned = run_tiled(_runner(net), photo, TilePlan(64, 64, rf["support"] + 1, 5, align=1))
    assert np.abs(unaligned - whole).max() > 1e-3  # odd origins sample the other phase


def test_a_global_model_is_measured_as_global():
    class Norm(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return (y - y.mean((2, 3), keepdim=True)) / (y.std((2, 3), keepdim=True) + 1e-5)

    assert receptive_radius(Norm(), (3,))["global"]


def test_plans_refuse_what_cannot_tile_and_round_trip():
    with pytest.raises(CamkitError, match="too small for margin"):
        TilePlan(32, 32, margin=6, blend=8)
    with pytest.raises(CamkitError, match="multiple of the model's size multiple 16"):
        TilePlan(72, 64, margin=4, blend=8, align=16)
    plan = TilePlan(256, 512, margin=12, blend=16, align=4)
    assert TilePlan.from_json(plan.to_json()) == plan
    with pytest.raises(CamkitError, match="not one this camkit reads"):
        TilePlan.from_json({**plan.to_json(), "version": 99})
