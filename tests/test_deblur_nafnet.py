"""NAFNet deblurrer (toolkit/models/deblur_nafnet): the paper's size, the phone budget, the
export-safe pooling and layer norm, the official-checkpoint key mapping and the tiny recipe."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from toolkit.models._cost import conv_linear_macs
from toolkit.models.deblur_nafnet.model import (
    SPEC, VARIANTS, ChannelAttention, LayerNorm2d, NAFBlock, NAFNet, build, import_state_dict,
)
from toolkit.training import load_recipe

REPO = Path(__file__).resolve().parents[1]
RECIPE_DIR = REPO / "recipes" / "deblur_nafnet"


pytestmark = pytest.mark.usefixtures("one_thread")


def test_paper_is_the_official_gopro_width32_network():
    net = build("paper")
    assert isinstance(net, NAFNet)
    # official NAFNet-GoPro-width32: width 32, enc [1, 1, 1, 28], middle 1, dec [1, 1, 1, 1]
    assert sum(p.numel() for p in net.parameters()) == 17_111_907
    assert [len(e) for e in net.encoders] == [1, 1, 1, 28] and len(net.middle_blks) == 1
    assert round(conv_linear_macs(net, 3, 256, 256) / 1e9, 1) == 16.0  # the paper's ~16 GMACs


def test_mobile_fits_its_720p_budget():
    macs = conv_linear_macs(build("mobile"), 3, 720, 1280)
    assert 5e9 < macs <= 10e9, f"mobile costs {macs / 1e9:.2f} GMACs per 720x1280 frame"
    for variant, net in ((v, build(v)) for v in VARIANTS):
        h, w = SPEC.default_size[variant]
        assert h % SPEC.size_multiple == 0 and w % SPEC.size_multiple == 0
        assert SPEC.size_multiple % net.size_multiple == 0, variant


def test_no_size_dependent_pooling_in_modules_or_exported_graph():
    for variant in VARIANTS:
        kinds = {type(m) for m in build(variant).modules()}
        assert not kinds & {nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.LayerNorm, nn.GroupNorm}
    program = torch.export.export(build("tiny").eval(), (torch.rand(1, 3, 64, 64),))
    ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert not [op for op in ops if "pool" in op or "layer_norm" in op or "pad" in op], ops
    assert any("mean" in op for op in ops)


def test_channel_attention_is_the_papers_global_pool_at_any_size():
    torch.manual_seed(0)
    sca = ChannelAttention(4)
    paper = nn.AdaptiveAvgPool2d(1)  # the official op, replaced for export
    for size in ((8, 8), (24, 40)):
        x = torch.rand(2, 4, *size)
        torch.testing.assert_close(sca(x), x * sca.conv(paper(x)))


def test_layer_norm_2d_is_layer_norm_over_channels():
    torch.manual_seed(0)
    norm = LayerNorm2d(6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2)
        norm.bias.uniform_(-1, 1)
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (6,), norm.weight, norm.bias, 1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(norm(x), ref, atol=1e-5, rtol=1e-5)


def test_untrained_paper_blocks_are_identity_and_tiny_blocks_are_not():
    x = torch.rand(1, 8, 8, 8)
    torch.testing.assert_close(NAFBlock(8)(x), x)  # beta = gamma = 0, as the official init
    tiny_block = build("tiny").encoders[0][0]
    x = torch.rand(1, 4, 8, 8)
    assert (tiny_block(x) - x).abs().max() > 1e-3  # random tiny exports exercise every block


def test_official_key_names_map_onto_the_paper_variant():
    net = build("paper")
    ours = net.state_dict()
    official = {}
    for key, value in ours.items():
        key = key.replace(".sca.conv.", ".sca.1.")
        if key.startswith("ups."):
            key = key.replace(".conv.", ".0.", 1)
        official["module." + key] = value
    mapped = import_state_dict(official)
    assert set(mapped) == set(ours)
    net.load_state_dict(mapped, strict=True)


def test_tiny_recipe_trains_and_the_loss_falls(tmp_path):
    cfg = yaml.safe_load((RECIPE_DIR / "tiny.yaml").read_text())
    cfg["run_dir"] = str(tmp_path / "run")
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(cfg))
    recipe, _ = load_recipe(RECIPE_DIR / "tiny.yaml")
    checkpoint = recipe.run(config, root=REPO, resume=False, max_steps=None, run_dir=None)
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    losses = [float(r["loss"]) for r in rows if r["split"] == "train"]
    assert len(losses) == cfg["train"]["steps"] // cfg["train"]["log_every_steps"]
    assert losses[-1] < losses[0] - 2.0, f"PSNR loss did not fall: {losses}"
    val = [r for r in rows if r["split"] == "val"]
    assert float(val[-1]["psnr_db"]) > float(val[0]["psnr_db"])
    out = build("tiny", checkpoint)(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
    # tiny.yaml anneals along the official cosine (1e-3 -> 1e-7 over 24 steps); logged lr: the
    # last update of each 4-step row
    lrs = [float(r["lr"]) for r in rows if r["split"] == "train"]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] < 1e-3 and lrs[-1] < 1e-5, lrs


def test_held_out_photos_by_count(tmp_path):
    from recipes.deblur_nafnet.train import DataConfig, build_datasets

    photos = REPO / "calibration" / "photos_pd"
    train, val = build_datasets(DataConfig(photos=photos, val_holdout=1, crop_px=32,
                                           val_crop_px=32), seed=0)
    names = sorted(p.name for p in train.photos) + sorted(p.name for p in val.photos)
    assert [p.name for p in val.photos] == [sorted(names)[-1]] and len(train.photos) == 4
