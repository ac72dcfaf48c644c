"""Blur2Blur: translator shapes, the full graph's composition, the PatchGAN's receptive field,
the hinge / gradient-penalty losses on known values, the data, the recipe, the MAC budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from recipes._common.losses import gradient_penalty, hinge_d_loss, hinge_g_loss
from toolkit.checkpoints import read_checkpoint
from toolkit.errors import CamkitError
from toolkit.models._cost import conv_linear_macs
from toolkit.models.deblur_blur2blur import model as b2b
from toolkit.models.deblur_blur2blur_translator import model as translator_entry

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "deblur_blur2blur"


def test_translator_emits_one_output_per_scale_and_deploys_the_full_one():
    torch.manual_seed(0)
    net = b2b.build_translator("tiny").eval()
    x = torch.rand(2, 3, 48, 80)
    outs = net.multi_scale(x)
    assert [tuple(o.shape) for o in outs] == [(2, 3, 12, 20), (2, 3, 24, 40), (2, 3, 48, 80)]
    y = net(x)
    torch.testing.assert_close(y, outs[-1].clamp(0, 1))
    assert (outs[-1] < 0).any() or (outs[-1] > 1).any()  # so the clamp above was exercised


def test_untrained_translator_is_close_to_the_identity():
    """The official N(0, 0.02) init, which the recipe applies: each output ~ its input."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64)
    net = b2b.build_translator("mobile")
    b2b.init_normal(net)
    outs = net.multi_scale(x)
    x2 = b2b.half(x)
    for out, ref in zip(outs, [b2b.half(x2), x2, x]):
        assert (out - ref).abs().max() < 0.02


def test_full_graph_is_translator_then_deblurrer():
    torch.manual_seed(0)
    net = b2b.build("tiny").eval()
    for p in net.parameters():  # make both stages do something
        p.data.normal_(0, 0.1)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        mid = net.translator(x)
        expected = net.deblurrer(mid)
        assert not torch.allclose(mid, x, atol=1e-3)
        assert not torch.allclose(expected, mid, atol=1e-3)
        torch.testing.assert_close(net(x), expected)
    keys = net.state_dict().keys()
    assert {k.split(".")[0] for k in keys} == {"translator", "deblurrer"}


def test_translator_entry_reuses_the_same_class_and_variants():
    assert translator_entry.VARIANTS is b2b.TRANSLATORS
    net = translator_entry.build("tiny")
    assert isinstance(net, b2b.Translator)
    assert translator_entry.SPEC.outputs[0].name == "known_blur"
    assert set(net.state_dict()) == {k.removeprefix("translator.")
                                     for k in b2b.build("tiny").state_dict()
                                     if k.startswith("translator.")}


def test_patchgan_sees_70x70_patches():
    assert b2b.receptive_field_px(b2b.PatchGAN(64)) == 70
    # Empirically, with the instance norms (global statistics) taken out: output row o sees input
    # rows 8o - 23 .. 8o + 46 (70 rows), so zeroing rows >= 100 changes rows o >= 7 only, and
    # zeroing rows < 10 changes rows o <= 4 only.
    torch.manual_seed(0)
    d = b2b.PatchGAN(8).eval()
    d.body = torch.nn.Sequential(*(torch.nn.Identity() if isinstance(m, torch.nn.InstanceNorm2d)
                                   else m for m in d.body))
    x = torch.rand(1, 3, 128, 128)
    base = d(x)
    for rows, expected in ((slice(100, None), lambda o: o >= 7), (slice(0, 10), lambda o: o <= 4)):
        probe = x.clone()
        probe[..., rows, :] = 0.0
        changed = ((d(probe) - base).abs().amax(dim=(0, 1, 3)) > 0).tolist()
        assert changed == [expected(o) for o in range(len(changed))]


def test_hinge_losses_on_known_values():
    real, fake = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([-2.0, 0.5, 1.0])
    # relu(1 - real) = 0, 1, 2 -> mean 1; relu(1 + fake) = 0, 1.5, 2 -> mean 7/6
    assert hinge_d_loss(real, fake).item() == pytest.approx(1 + 7 / 6)
    assert hinge_g_loss(fake).item() == pytest.approx(0.5 / 3)  # -mean(fake)


def test_gradient_penalty_on_a_linear_critic():
    """D(x) = sum(w * x): its gradient is w everywhere, so the penalty is (||w|| - 1)^2 for any
    interpolate; and zero when ||w|| = 1."""
    w = torch.full((1, 3, 4, 4), 0.5)  # ||w|| = 0.5 * sqrt(48)
    critic = lambda x: (x * w).sum(dim=(1, 2, 3))  # noqa: E731
    real, fake = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    gp = gradient_penalty(critic, real, fake, mixing=torch.tensor([0.3, 0.9]))
    assert gp.item() == pytest.approx((0.5 * 48**0.5 - 1) ** 2, rel=1e-5)
    unit = w / w.norm()
    assert gradient_penalty(lambda x: (x * unit).sum(), real, fake).item() == pytest.approx(
        0.0, abs=1e-10)


def test_gradient_penalty_trains_the_critic():
    d = torch.nn.Conv2d(3, 1, 3)
    gp = gradient_penalty(d, torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    gp.backward()
    assert d.weight.grad is not None and d.weight.grad.abs().sum() > 0


def test_mobile_fits_20_gmacs_per_720p_frame():
    full = conv_linear_macs(b2b.build("mobile"), 3, 720, 1280)
    translator = conv_linear_macs(b2b.build_translator("mobile"), 3, 720, 1280)
    assert full <= 20e9 and translator <= 9e9, (full / 1e9, translator / 1e9)
    assert translator > 5e9  # the budget is used, not a toy


def test_paper_translator_is_mimo_unet_sized():
    """MIMO-UNet (base 32, 8 blocks per level) has ~6.8M parameters (Cho et al. 2021, table 1);
    our 2x2-conv downsampling and 1x1+shuffle upsampling change that slightly."""
    n = sum(p.numel() for p in b2b.build_translator("paper").parameters())
    assert 6.0e6 < n < 7.2e6, n


def test_simulated_target_blur_differs_from_the_known_blur():
    from toolkit.data.blur import motion_kernel
    from toolkit.data.blur_unpaired import BlurUnpaired, target_kernel

    rng = np.random.default_rng(0)
    target = target_kernel(rng)
    assert target.shape == (31, 31) and target.sum() == pytest.approx(1, abs=1e-5)
    assert target.min() >= 0
    assert not np.allclose(target, motion_kernel(np.random.default_rng(0)))
    ds = BlurUnpaired(REPO / "calibration" / "photos_pd", 96, train=True, length=4,
                      short_side_px=128)
    a, b = ds[0]
    a2, b2 = ds[0]
    assert a.shape == b.shape == (3, 96, 96)
    torch.testing.assert_close(a, a2)  # a pure function of (seed, epoch, index)
    assert ds.pick(0) != ds.pick(1) or ds.pick(0) != ds.pick(2)


def test_recipe_rejects_a_patch_too_small_for_the_three_scale_patchgan(tmp_path):
    from toolkit.training import run_recipe

    cfg = _tiny_recipe(tmp_path, patch_px=64)
    with pytest.raises(CamkitError, match="patch_px must be at least 96"):
        run_recipe(cfg)


def test_tiny_recipe_trains_and_writes_both_checkpoints(tmp_path):
    from toolkit.training import run_recipe

    cfg = _tiny_recipe(tmp_path)
    ckpt = run_recipe(cfg)
    b2b.build("tiny", ckpt)  # the full graph loads strictly
    translator_ckpt = ckpt.parent / "translator" / ckpt.name
    net = translator_entry.build("tiny", translator_ckpt)
    state, _ = read_checkpoint(ckpt)
    torch.testing.assert_close(net.state_dict()["out1.0.weight"], state["translator.out1.0.weight"])
    meta_info = ckpt.with_suffix(".json").read_text()
    info = json.loads(meta_info)
    assert set(info["val"]) >= {"psnr_db", "ssim", "input_psnr_db"}
    assert set(info["val_deblurrer_alone"]) >= {"psnr_db", "ssim"}
    assert "hinge" in info["train"]["loss"] and "WGAN-GP" in info["train"]["loss"]

    # swap in another deblurrer: the translator stays, the deblurrer is the new one's, both
    # checkpoints are rewritten and re-validated
    from toolkit.checkpoints import save_checkpoint
    from toolkit.models.deblur_nafnet.model import build as build_deblurrer
    from toolkit.training import load_recipe

    torch.manual_seed(1)
    other = build_deblurrer("tiny")
    save_checkpoint(tmp_path / "nafnet.safetensors", other.state_dict(), "deblur_nafnet", "tiny",
                    {})
    recipe, root = load_recipe(cfg)
    recipe.swap_deblurrer(ckpt, tmp_path / "nafnet.safetensors", cfg, root)
    swapped, _ = read_checkpoint(ckpt)
    torch.testing.assert_close(swapped["deblurrer.intro.weight"], other.intro.weight)
    torch.testing.assert_close(swapped["translator.out1.0.weight"],
                               state["translator.out1.0.weight"])
    info = json.loads(ckpt.with_suffix(".json").read_text())
    assert info["deblurrer_swapped_in"]["path"].endswith("nafnet.safetensors")
    assert info["val"]["psnr_db"] != pytest.approx(json.loads(meta_info)["val"]["psnr_db"])


def _tiny_recipe(tmp_path: Path, **data) -> Path:
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "train.py").symlink_to(RECIPE / "train.py")  # as tests/test_train.py
    raw = yaml.safe_load((RECIPE / "tiny.yaml").read_text())
    raw["run_dir"] = str(tmp_path / "run")
    raw["data"]["sharp_photos"] = str(REPO / "calibration" / "photos_pd")
    raw["data"].update(data)
    (folder / "tiny.yaml").write_text(yaml.safe_dump(raw))
    return folder / "tiny.yaml"
