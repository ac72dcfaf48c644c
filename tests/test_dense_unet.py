"""enhance_dense_unet: shapes, range, sizes, MAC budget, discriminator, dynamic export."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from toolkit.errors import CamkitError
from toolkit.models.enhance_dense_unet import model as dense_unet

#: pinned; a change here is an architecture change (update card.yaml's summary with it)
PARAMS = {"paper": 1_120_259, "mobile": 64_323, "tiny": 5_919}
MOBILE_GMACS_BUDGET = 10.0


@pytest.mark.parametrize("variant", list(dense_unet.VARIANTS))
def test_forward_shape_and_range(variant):
    torch.manual_seed(0)
    net = dense_unet.build(variant).eval()
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    assert ((y >= 0) & (y <= 1)).all() and y.std() > 0


@pytest.mark.parametrize("variant", list(dense_unet.VARIANTS))
def test_parameter_counts_are_pinned(variant):
    count = sum(p.numel() for p in dense_unet.build(variant).parameters())
    print(f"enhance_dense_unet/{variant}: {count:,} parameters")
    assert count == PARAMS[variant]


def test_paper_variant_is_paper_sized():
    assert 1_000_000 <= PARAMS["paper"] <= 5_000_000


def test_generator_has_no_batchnorm_and_no_inplace_ops():
    for variant in dense_unet.VARIANTS:
        for m in dense_unet.build(variant).modules():
            assert not isinstance(m, nn.modules.batchnorm._BatchNorm), variant
            assert not getattr(m, "inplace", False), (variant, m)


def test_mobile_fits_10_gmacs_per_1080p_frame():
    from toolkit.models._cost import conv_linear_macs

    macs = conv_linear_macs(dense_unet.build("mobile"), 3, 1080, 1920)
    assert macs <= MOBILE_GMACS_BUDGET * 1e9


def test_spec_default_sizes_are_valid_inputs():
    spec = dense_unet.SPEC
    assert spec.default_variant == "mobile" and spec.size_multiple == 8
    for variant, (h, w) in spec.default_size.items():
        assert h % spec.size_multiple == 0 and w % spec.size_multiple == 0, variant
    with torch.no_grad():
        out = dense_unet.build("paper").to("meta")(torch.zeros(1, 3, 1080, 1920, device="meta"))
    assert out.shape == (1, 3, 1080, 1920)


@pytest.mark.parametrize("variant", list(dense_unet.VARIANTS))
def test_discriminator_outputs_probabilities(variant):
    torch.manual_seed(0)
    d = dense_unet.build_discriminator(variant, patch_px=96).eval()
    x = torch.rand(3, 3, 96, 96)
    with torch.no_grad():
        p, logits = d(x), d.logits(x)
    assert p.shape == logits.shape == (3, 1)
    assert ((p > 0) & (p < 1)).all()
    torch.testing.assert_close(p, torch.sigmoid(logits))
    assert any(isinstance(m, nn.BatchNorm2d) for m in d.modules())  # Conv-BN-LeakyReLU stacks


def test_discriminator_refuses_wrong_patch_sizes():
    with pytest.raises(CamkitError, match="multiple of 16"):
        dense_unet.build_discriminator("paper", patch_px=100)
    d = dense_unet.build_discriminator("tiny", patch_px=96)
    with pytest.raises(CamkitError, match="patch_px=64"):
        d(torch.rand(1, 3, 64, 64))


def test_tiny_torch_export_dynamic_hw():
    from toolkit.conversion._common import dynamic_hw, prepare_for_export
    from toolkit.spec import ExportSpec

    spec = ExportSpec(dense_unet.SPEC, "tiny", None, None)
    torch.manual_seed(0)
    net = prepare_for_export(dense_unet.build("tiny"), spec)
    program = torch.export.export(
        net, (torch.rand(1, 3, 64, 64),), dynamic_shapes=dynamic_hw(net, spec)
    )
    for h, w in [(32, 96), (72, 40)]:
        x = torch.rand(1, 3, h, w)
        torch.testing.assert_close(program.module()(x), net(x))


def test_loss_weights_and_their_measured_basis():
    """The weights the recipe reads, and the init magnitude the docstring quotes for eta."""
    from recipes._common.losses import ms_ssim_loss

    assert dense_unet.DEFAULT_LAMBDA_GAN == 5e-3
    assert dense_unet.DEFAULT_ETA_MS_SSIM == 1.0
    g = torch.Generator().manual_seed(0)
    target = F.interpolate(torch.rand(4, 3, 12, 12, generator=g), size=(96, 96), mode="bilinear")
    torch.manual_seed(0)
    with torch.no_grad():
        untrained = ms_ssim_loss(dense_unet.build("mobile")(target), target).item()
    assert 0.9 < untrained < 1.0  # "about 0.96" in model.py
