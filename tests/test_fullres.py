"""Full resolution by tiles (toolkit/fullres.py): the grid covers every pixel, the blend weights
sum to one, tiled == whole-photo for local models when the margin holds the measured receptive
field (non-square odd sizes, a photo smaller than a tile, exactly one tile, a strided model),
and the receptive-field measurement tells local models from global ones."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from toolkit.errors import CamkitError
from toolkit.fullres import (TilePlan, grid, ramp, receptive_radius, run_tiled, starts,
                             thumbnail)


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
    with pytest.raises(CamkitError, match="this camkit reads"):
        TilePlan.from_json({**plan.to_json(), "version": 99})


def test_uint8_photos_stream_to_the_same_result():
    """A uint8 photo tiled into a uint8 result (what camkit run does: one band of tiles at a
    time, never a float copy of the photo) matches the float path to one step."""
    net = _local(depth=3)
    photo = (_photo(301, 173) * 255 + 0.5).astype(np.uint8)
    plan = TilePlan(64, 64, margin=4, blend=8)
    as_float = run_tiled(_runner(net), photo.astype(np.float32) / 255, plan)
    as_bytes = run_tiled(_runner(net), photo, plan, dtype=np.uint8)
    expected = (np.clip(as_float, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert as_bytes.dtype == np.uint8 and as_bytes.shape == (301, 173, 3)
    assert np.abs(as_bytes.astype(int) - expected.astype(int)).max() <= 1


def test_thumbnails_are_torch_adaptive_average_pooling():
    photo = (_photo(157, 211) * 255 + 0.5).astype(np.uint8)
    small = thumbnail(photo, 16, 24)
    x = torch.from_numpy(photo.astype(np.float32).transpose(2, 0, 1) / 255)[None]
    pooled = torch.nn.functional.adaptive_avg_pool2d(x, (16, 24))[0].numpy().transpose(1, 2, 0)
    assert np.abs(small - pooled).max() < 1e-5
    assert np.array_equal(thumbnail(photo, 157, 211), photo.astype(np.float32) / 255)
    mask = np.zeros((40, 40, 1), np.float32)
    mask[:30, :10] = 1
    assert thumbnail(mask, 4, 4, mask=True)[:, :, 0].tolist() == [[1, 0, 0, 0]] * 3 + [[0] * 4]


@pytest.mark.parametrize("model_id", ["retouch_csrnet", "enhance_wespe", "deblur_nafnet",
                                      "inpaint_edgeconnect", "deblur_blur2blur"])
def test_a_split_with_the_photo_as_thumbnail_is_the_model(model_id):
    """Every model with global statistics: its split module (the model's own, or the
    statistics replay; WESPE declares resize, its replay is built directly) fed the photo itself
    as the thumbnail gives the whole-photo model's output."""
    from toolkit import registry
    from toolkit.building import Weights, build_model
    from toolkit.fullres_split import StatisticsSplit, split_model_spec, split_module

    spec = registry.model_spec(model_id)
    if spec.full_resolution.statistics == "tiles":  # CSRNet: its thumbnail split, not declared
        spec = replace(spec, full_resolution=replace(spec.full_resolution,
                                                     statistics="thumbnail"))
    net = build_model(model_id, "tiny", Weights(None, 3)).eval()
    split = (split_module(split_model_spec(spec, (64, 64)), net)
             if spec.full_resolution.strategy == "split" else StatisticsSplit(net, 1))
    g = torch.Generator().manual_seed(0)
    xs = [torch.rand(1, t.channels, 64, 96, generator=g) for t in spec.inputs]
    if len(xs) > 1:
        xs[1] = (xs[1] > 0.8).float()
    with torch.no_grad():
        assert torch.allclose(split(*xs, *xs), net(*xs), atol=1e-6)
        other = split(*xs, *[torch.flip(x, (2, 3)) * 0.5 for x in xs])
    assert not torch.allclose(other, net(*xs), atol=1e-3)  # the thumbnail is what it reads


def test_export_plans_measure_margins_and_say_when_they_are_lossy():
    from toolkit.building import Weights, build_for_spec, make_spec
    from toolkit.fullres import export_plan

    tiles = make_spec("enhance_dense_unet", "tiny", (256, 320), "nchw", False)
    plan = export_plan(tiles, build_for_spec(tiles, Weights(None, 0)))
    measured = receptive_radius(build_for_spec(tiles, Weights(None, 0)), (3,), size=128)
    assert plan["strategy"] == "tiles" and plan["exact"]
    assert plan["margin"] == plan["receptive_field"]["support"] == measured["support"]
    assert TilePlan.from_json(plan) == TilePlan(256, 320, measured["support"], 16, 8)

    whole = make_spec("retouch_csrnet", "tiny", None, "nchw", False)
    resize = export_plan(whole, build_for_spec(whole, Weights(None, 0)))
    assert resize["strategy"] == "resize" and resize["lossy"] and "--split" in resize["why"]
    dyn = make_spec("retouch_csrnet", "tiny", None, "nchw", True)
    assert export_plan(dyn, None)["strategy"] == "whole"

    split = make_spec("deblur_nafnet", "tiny", (128, 192), "nchw", False, split=True)
    plan = export_plan(split, build_for_spec(split, Weights(None, 0)))
    assert plan["strategy"] == "split" and plan["thumbnails"] == [
        {"input": "image_thumbnail", "of": "image", "size": [64, 96], "resize": "mosaic",
         "cells": 4}]
    assert 0 < plan["margin"] < 30 and plan["exact"]  # local once the pooling reads the thumbnail
    declared = make_spec("enhance_wespe", "tiny", None, "nchw", False)
    assert export_plan(declared, None)["strategy"] == "resize"  # measured: see its model.py
    # a margin that does not fit the tile: resize, and why
    small = make_spec("inpaint_edgeconnect", "tiny", (128, 192), "nchw", False, split=True)
    fallback = export_plan(small, build_for_spec(small, Weights(None, 0)))
    assert fallback["strategy"] == "resize" and "does not fit a 128x192 tile" in fallback["why"]
    with pytest.raises(CamkitError, match="not a split; drop --split"):
        make_spec("enhance_dense_unet", "tiny", None, "nchw", False, split=True)


def test_a_split_plan_by_tiles_equals_the_split_on_the_whole_photo():
    """apply_plan with a split: tiles of a statistics-replay NAFNet, each fed the same photo
    thumbnail, equal that split run on the whole photo with that thumbnail (the margin holds
    the tile network's measured receptive field)."""
    from toolkit.building import Weights, build_for_spec, make_spec
    from toolkit.fullres import apply_plan, export_plan, make_thumbnail

    spec = make_spec("deblur_nafnet", "tiny", (128, 192), "nchw", False, split=True)
    net = build_for_spec(spec, Weights(None, 0))
    plan = export_plan(spec, net)
    photo = _photo(203, 251)

    def run(*feeds):
        with torch.no_grad():
            out = net(*[torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
                        for x in feeds])
        return out[0].numpy().transpose(1, 2, 0)

    tiled = apply_plan(plan, run, [photo], spec.model.inputs, dtype=np.float32)
    thumb = make_thumbnail(photo, plan["thumbnails"][0])
    padded = np.pad(photo, ((0, 5), (0, 5), (0, 0)), mode="reflect")  # to the multiple 16
    whole = run(padded, thumb)[:203, :251]
    assert np.abs(tiled - whole).max() < 1e-4


def test_a_mosaic_samples_the_photo_at_its_own_scale():
    from toolkit.fullres import make_thumbnail, mosaic

    photo = (_photo(400, 600) * 255 + 0.5).astype(np.uint8)
    m = mosaic(photo, 80, 120, 4)
    assert m.shape == (80, 120, 3)
    # cell (1, 2): centred on the photo's cell centre (150, 375), 20 x 30 px
    assert np.array_equal(m[20:40, 60:90], photo[140:160, 360:390].astype(np.float32) / 255)
    same = (_photo(80, 120) * 255).astype(np.uint8)
    assert np.array_equal(mosaic(same, 80, 120, 4), same.astype(np.float32) / 255)
    small = mosaic(photo[:50, :60], 80, 120, 4)  # smaller than the mosaic: shrunk instead
    assert np.array_equal(small, thumbnail(photo[:50, :60], 80, 120))
    with pytest.raises(CamkitError, match="thumbnail rule 'bilinear'"):
        make_thumbnail(photo, {"size": [8, 8], "resize": "bilinear"})


def test_resize_plans_run_lossy_but_whole():
    from toolkit.fullres import apply_plan
    from toolkit.spec import TensorSpec

    plan = {"version": 1, "strategy": "resize", "lossy": True, "size": [32, 48]}
    seen = []

    def run(x):
        seen.append(x.shape)
        return x

    out = apply_plan(plan, run, [_photo(100, 150)], (TensorSpec("image", 3),))
    assert seen == [(32, 48, 3)] and out.shape == (100, 150, 3) and out.dtype == np.uint8
    with pytest.raises(CamkitError, match="version 7"):
        apply_plan({**plan, "version": 7}, run, [_photo(10, 10)], (TensorSpec("image", 3),))


def test_tiles_with_the_whole_photos_statistics_are_exact():
    """Why WESPE falls back to resize, not to its own tiles: its instance norms are the only
    global part, so tiles replaying the whole photo's statistics equal the whole photo; it is
    the statistics a thumbnail gives that are off (benchmarks/full_resolution.md)."""
    from toolkit.building import Weights, build_model
    from toolkit.models._blocks import STATISTICS

    net = build_model("enhance_wespe", "tiny", Weights(None, 0)).eval()
    photo = _photo(130, 202)
    x = torch.from_numpy(np.ascontiguousarray(photo.transpose(2, 0, 1)))[None]
    STATISTICS.mode, STATISTICS.kept = "record", []
    try:
        with torch.no_grad():
            whole = net(x)[0].numpy().transpose(1, 2, 0)
        kept = list(STATISTICS.kept)
    finally:
        STATISTICS.mode, STATISTICS.kept = None, []
    support = receptive_radius(_Replay(net, kept), (3,), size=96)["support"]

    def run(tile):
        with torch.no_grad():
            out = _replaying(net, kept, torch.from_numpy(
                np.ascontiguousarray(tile.transpose(2, 0, 1)))[None])
        return out[0].numpy().transpose(1, 2, 0)

    tiled = run_tiled(run, photo, TilePlan(80, 96, support, 8, 2))
    assert np.abs(tiled - whole).max() < 1e-4
    own = run_tiled(_runner(net), photo, TilePlan(80, 96, support, 8, 2))
    assert np.abs(own - whole).max() > 1e-2  # each tile's own statistics: not the model


class _Replay(nn.Module):
    def __init__(self, net, kept):
        super().__init__()
        self.net, self.kept = net, kept

    def forward(self, x):
        return _replaying(self.net, self.kept, x)


def _replaying(net, kept, x):
    from toolkit.models._blocks import STATISTICS

    STATISTICS.mode, STATISTICS.kept = "replay", list(kept)
    try:
        return net(x)
    finally:
        STATISTICS.mode, STATISTICS.kept = None, []


def test_statistics_by_tiles_equal_the_whole_photo():
    """CSRNet's split by tiles: the features module over the photo by tiles (its measured
    stride and receptive field), the mean fed to the per-pixel module per tile, equals CSRNet on
    the whole photo to float precision when the photo is at least a tile and its sides differ
    from the tile's by multiples of the stride; close otherwise (odd sizes, a photo smaller than
    a tile)."""
    from toolkit.building import Weights, build_for_spec, build_model, make_spec
    from toolkit.fullres import apply_plan, export_plan
    from toolkit.fullres_split import features_module

    spec = make_spec("retouch_csrnet", "tiny", (64, 96), "nchw", False, split=True)
    assert [t.role for t in spec.model.inputs] == ["image", "statistics"]
    assert spec.statistics[0].shape(64, 96) == (1, 8, 1, 1) and spec.tags() == ["split", "64x96"]
    weights = Weights(None, 5)
    split, whole = build_for_spec(spec, weights), build_model("retouch_csrnet", "tiny", weights)
    plan = export_plan(spec, split)
    stats = plan["statistics"]
    # conv 7/2 pad 1, 3/2 pad 1, 3/2 pad 1: feature k reads input rows 8k-7 .. 8k+11
    assert (stats["stride"], stats["before"], stats["after"]) == (8, 7, 11)
    assert stats["features"] == [8, 12] and stats["into"] == {"image": "image_statistics"}
    assert plan["margin"] == 0 and "thumbnails" not in plan

    def runner(net):
        def run(*xs):
            with torch.no_grad():
                out = net(*[torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
                            for x in xs])
            return out[0].numpy().transpose(1, 2, 0)
        return run

    rng = np.random.default_rng(0)
    for (h, w), tol in [((200, 304), 1e-6), ((64, 96), 1e-6), ((72, 104), 1e-6),
                        ((147, 203), 2e-2), ((40, 50), 2e-2)]:
        photo = rng.random((h, w, 3), dtype=np.float32)
        truth = runner(whole.eval())(photo)
        got = apply_plan(plan, runner(split), [photo], spec.model.inputs, dtype=np.float32,
                         run_features=runner(features_module(split)))
        assert np.abs(got - truth).max() < tol, (h, w)
    with pytest.raises(CamkitError, match="no features artifact"):
        apply_plan(plan, runner(split), [photo], spec.model.inputs, dtype=np.float32)


@pytest.mark.parametrize("length", [1, 7, 64, 65, 100, 151, 333, 1000])
def test_statistics_tiles_take_every_feature_once(length):
    from toolkit.fullres import _feature_spans, statistics_step

    step = statistics_step(64, 8, 7, 11)
    spans = _feature_spans(length, 64, 8, 7, 11, step)
    taken = [y0 // 8 + i for y0, a, b in spans for i in range(a, b)]
    assert taken == list(range(-(-length // 8)))
    for y0, a, b in spans:  # a feature is taken where its receptive field is in the tile
        assert y0 % 8 == 0
        assert all(8 * i - 7 >= 0 or y0 == 0 for i in range(a, b))
        assert all(8 * i + 11 <= 63 or y0 + 64 >= length for i in range(a, b))


def test_split_by_tiles_refusals():
    from toolkit.building import make_spec

    with pytest.raises(CamkitError, match="no thumbnail\\); drop --thumbnail"):
        make_spec("retouch_csrnet", "tiny", None, "nchw", False, split=True, thumbnail=(32, 32))
    with pytest.raises(CamkitError, match="float statistics vector.*drop --io uint8"):
        make_spec("retouch_csrnet", "tiny", None, "nchw", False, "uint8", split=True)
