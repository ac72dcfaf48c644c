"""Losses of recipes/_common: MS-SSIM, TV, colour/texture views, GAN losses, VGG-19 features."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recipes._common import losses
from recipes._common.vgg import ENV_VAR, LAYER_NAMES, VGGFeatures, expected_keys, load_vgg19
from toolkit.errors import CamkitError


def _smooth(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Photo-like test images: smooth random colour fields in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, max(h // 8, 2), max(w // 8, 2), generator=g)
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


# ------------------------------------------------------------------------------------ MS-SSIM


@pytest.mark.parametrize("size", [(96, 96), (64, 64), (100, 100), (37, 53)])
def test_ms_ssim_of_an_image_with_itself_is_one(size):
    x = _smooth(2, *size)
    assert losses.ms_ssim(x, x).item() == pytest.approx(1.0, abs=1e-5)
    assert losses.ms_ssim_loss(x, x).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("size", [(96, 96), (64, 64)])
def test_ms_ssim_decreases_with_noise(size):
    x = _smooth(2, *size)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=g)
    scores = [losses.ms_ssim((x + s * noise).clamp(0, 1), x).item() for s in (0.0, 0.02, 0.1, 0.3)]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert 0 < scores[-1] < 0.9


@pytest.mark.parametrize("size", [(16, 16), (8, 8), (5, 7), (1, 1)])
def test_ms_ssim_never_crashes_on_small_images(size):
    x, y = _smooth(1, *size), _smooth(1, *size, seed=3)
    value = losses.ms_ssim(x, y)
    assert torch.isfinite(value) and 0 < value.item() <= 1


def test_ms_ssim_of_flat_images_is_the_hand_computed_luminance_term():
    # flat images: every variance and covariance is 0, so cs = C2/C2 = 1 at every scale and only
    # the coarsest scale's luminance term remains, raised to its weight 0.1333
    a, b = 0.3, 0.7
    x, y = torch.full((1, 3, 96, 96), a), torch.full((1, 3, 96, 96), b)
    c1 = 0.01**2
    expected = ((2 * a * b + c1) / (a * a + b * b + c1)) ** 0.1333
    x64 = torch.full_like(x, a, dtype=torch.float64)
    y64 = torch.full_like(y, b, dtype=torch.float64)
    assert losses.ms_ssim(x64, y64).item() == pytest.approx(expected, rel=1e-9)
    assert losses.ms_ssim(x, y).item() == pytest.approx(expected, rel=1e-4)  # float32 rounding


def test_ms_ssim_gradient_flows():
    target = _smooth(2, 96, 96)
    pred = (target + 0.1 * torch.randn_like(target)).clamp(0, 1).requires_grad_(True)
    losses.ms_ssim_loss(pred, target).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


# ---------------------------------------------------------------------- TV, colour and texture


def test_total_variation_of_a_constant_is_zero():
    assert losses.total_variation(torch.full((2, 3, 9, 7), 0.4)).item() == 0.0


def test_total_variation_matches_hand_computation():
    x = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # horizontal diffs 1, 2 -> mean square 2.5; vertical diffs 2, 3 -> 6.5 (DPED's formula)
    assert losses.total_variation(x).item() == pytest.approx(9.0)


def test_blur_keeps_a_flat_image_flat_and_preserves_mean_colour():
    colour = torch.tensor([0.2, 0.5, 0.9]).reshape(1, 3, 1, 1)
    flat = colour.expand(2, 3, 30, 40).clone()
    blurred = losses.gaussian_blur(flat)
    assert blurred.shape == flat.shape
    torch.testing.assert_close(blurred, flat)
    assert torch.allclose(blurred.mean(dim=(0, 2, 3)), colour.flatten())


def test_blur_smooths():
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    assert losses.total_variation(losses.gaussian_blur(x)) < 0.05 * losses.total_variation(x)


def test_blur_with_dped_sigma_matches_dpeds_kernel():
    from scipy import stats

    # DPED utils.gauss_kernel(21, 3): bin-integrated taps, then sqrt(outer(k, k)), normalised
    interval = 7 / 21
    edges = np.linspace(-3 - interval / 2, 3 + interval / 2, 22)
    k1 = np.sqrt(np.diff(stats.norm.cdf(edges)))
    dped = np.outer(k1, k1) / np.outer(k1, k1).sum()
    delta = torch.zeros(1, 1, 41, 41, dtype=torch.float64)
    delta[0, 0, 20, 20] = 1.0
    ours = losses.gaussian_blur(delta, sigma=losses.DPED_BLUR_SIGMA)[0, 0, 10:31, 10:31].numpy()
    assert np.abs(ours - dped).max() < 0.01 * dped.max()


def test_grayscale_uses_bt601_weights():
    assert losses.GRAY_WEIGHTS == (0.2989, 0.5870, 0.1140)
    for channel, weight in enumerate(losses.GRAY_WEIGHTS):
        x = torch.zeros(1, 3, 4, 5)
        x[:, channel] = 1.0
        gray = losses.grayscale(x)
        assert gray.shape == (1, 1, 4, 5)
        assert torch.allclose(gray, torch.full_like(gray, weight))


# ------------------------------------------------------------------------------------- GAN


def _softplus(z: float) -> float:
    return math.log1p(math.exp(z))


def test_standard_gan_losses_match_hand_values():
    real, fake = torch.tensor([[2.0]]), torch.tensor([[-1.0]])
    # -log sigmoid(2) - log(1 - sigmoid(-1)) = softplus(-2) + softplus(-1)
    assert losses.standard_d_loss(real, fake).item() == pytest.approx(_softplus(-2) + _softplus(-1))
    assert losses.standard_g_loss(fake).item() == pytest.approx(_softplus(1))  # -log sigmoid(-1)
    zeros = torch.zeros(4, 1)
    assert losses.standard_d_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))


def test_ragan_losses_match_hand_values():
    real, fake = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [-2.0]])
    # real - mean(fake) = [2, 4]; fake - mean(real) = [-2, -4]
    d = 0.5 * (
        (_softplus(-2) + _softplus(-4)) / 2  # -log sigmoid(real - mean fake)
        + (_softplus(-2) + _softplus(-4)) / 2  # -log(1 - sigmoid(fake - mean real))
    )
    g = 0.5 * ((_softplus(2) + _softplus(4)) / 2 + (_softplus(2) + _softplus(4)) / 2)
    assert losses.ragan_d_loss(real, fake).item() == pytest.approx(d)
    assert losses.ragan_g_loss(real, fake).item() == pytest.approx(g)
    assert losses.discriminator_loss("ragan", real, fake).item() == pytest.approx(d)
    assert losses.generator_loss("ragan", real, fake).item() == pytest.approx(g)
    assert losses.generator_loss("standard", real, fake).item() == pytest.approx(
        losses.standard_g_loss(fake).item()
    )


def test_unknown_gan_kind_is_a_clear_error():
    with pytest.raises(CamkitError, match="did you mean 'ragan'"):
        losses.discriminator_loss("rgan", torch.zeros(1, 1), torch.zeros(1, 1))


# ----------------------------------------------------------------------------------- VGG-19

#: torchvision's vgg19().features: conv layers at these indices, ReLU after each, max pool at
#: 4, 9, 18, 27, 36
CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
CONV_CHANNELS = (64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512)


def _torchvision_keys() -> dict[str, tuple[int, ...]]:
    keys, in_ch = {}, 3
    for index, out_ch in zip(CONV_INDICES, CONV_CHANNELS):
        keys[f"features.{index}.weight"] = (out_ch, in_ch, 3, 3)
        keys[f"features.{index}.bias"] = (out_ch,)
        in_ch = out_ch
    return keys


def test_vgg_state_dict_keys_are_torchvisions():
    assert expected_keys() == _torchvision_keys()
    net = load_vgg19(None, random_init_ok=True)
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == _torchvision_keys()
    assert LAYER_NAMES[34] == "conv5_4" and LAYER_NAMES[35] == "relu5_4"
    assert len(LAYER_NAMES) == 37  # torchvision's features has 37 modules


def _torchvision_file(path, seed=0, **changes):
    g = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(shape, generator=g) * 0.05 for k, shape in _torchvision_keys().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored, as in the real file
    state.update(changes)
    torch.save(state, path)
    return state


def test_vgg_weights_round_trip(tmp_path):
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    state = _torchvision_file(path)
    net = load_vgg19(path)
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def test_vgg_weights_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "w.pth"
    state = _torchvision_file(path, seed=5)
    monkeypatch.setenv(ENV_VAR, str(path))
    assert torch.equal(load_vgg19(None).state_dict()["features.34.bias"], state["features.34.bias"])


def test_no_vgg_weights_is_a_one_line_error(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(CamkitError) as err:
        load_vgg19(None)
    message = str(err.value)
    assert "\n" not in message
    for needle in ("VGG-19", "--vgg-weights", ENV_VAR, "vgg19", "nothing is downloaded"):
        assert needle in message


def test_missing_vgg_file_is_a_clear_error(tmp_path):
    with pytest.raises(CamkitError, match="do not exist.*--vgg-weights"):
        load_vgg19(tmp_path / "nope.pth", random_init_ok=True)


def test_truncated_vgg_file_is_a_clear_error(tmp_path):
    path = tmp_path / "vgg19.pth"
    _torchvision_file(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CamkitError, match="cannot read VGG-19 weights") as err:
        load_vgg19(path)
    assert "\n" not in str(err.value)


def test_wrong_vgg_shapes_and_keys_are_clear_errors(tmp_path):
    path = tmp_path / "bad.pth"
    _torchvision_file(path, **{"features.34.weight": torch.zeros(512, 512, 1, 1)})
    with pytest.raises(CamkitError, match=r"wrong shape features\.34\.weight"):
        load_vgg19(path)
    state = _torchvision_file(path)
    state["features.17.weight"] = state.pop("features.16.weight")  # vgg16-like layout
    torch.save(state, path)
    with pytest.raises(CamkitError, match=r"missing features\.16\.weight.*unexpected features\.17"):
        load_vgg19(path)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": torch.zeros(1), "x": _Pickled()}, path)
    with pytest.raises(CamkitError, match="cannot read VGG-19 weights"):
        load_vgg19(path)


class _Pickled:
    pass


def test_conv5_4_is_relu5_4_before_its_activation():
    net = load_vgg19(None, random_init_ok=True)
    x = _smooth(2, 96, 96)
    out = net(x, ("conv5_4", "relu5_4", "relu1_1"))
    assert out["conv5_4"].shape == out["relu5_4"].shape == (2, 512, 6, 6)
    assert (out["conv5_4"] < 0).any()
    torch.testing.assert_close(out["relu5_4"], torch.relu(out["conv5_4"]))
    assert out["relu1_1"].shape == (2, 64, 96, 96)
    with pytest.raises(CamkitError, match="did you mean 'conv5_4'"):
        net(x, ("conv5_5",))


def test_perceptual_loss():
    net = load_vgg19(None, random_init_ok=True)
    target = _smooth(2, 96, 96)
    pred = _smooth(2, 96, 96, seed=7).requires_grad_(True)
    assert losses.perceptual(net, target, target, "conv5_4").item() == 0.0
    l1 = losses.perceptual(net, pred, target, "conv5_4")
    mse = losses.perceptual(net, pred, target, "relu5_4", criterion="mse")
    assert l1 > 0 and mse > 0
    l1.backward()
    assert pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())
    with pytest.raises(CamkitError, match="did you mean 'mse'"):
        losses.perceptual(net, pred, target, "conv5_4", criterion="mes")


def test_vgg_features_is_our_own_module():
    assert isinstance(load_vgg19(None, random_init_ok=True), VGGFeatures)
