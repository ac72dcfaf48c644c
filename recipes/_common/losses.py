"""Losses for restoration and enhancement recipes.

Images are NCHW tensors in [0, 1]; every loss returns a scalar tensor. Each function names the
paper (and, where the paper is vague, the official code) it follows. GAN losses take the
discriminator's *logits* (pre-sigmoid): BCE-with-logits is the numerically stable form, and the
relativistic losses need logits anyway.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from toolkit.errors import unknown

# ------------------------------------------------------------------------------ pixel losses


def l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, the CSRNet paper's loss (section 4.1)."""
    return (prediction - target).abs().mean()


# ------------------------------------------------------------------------- perceptual (VGG)

PERCEPTUAL_CRITERIA = ("l1", "mse")


def perceptual(
    vgg, prediction: torch.Tensor, target: torch.Tensor, layer: str, *, criterion: str = "l1"
) -> torch.Tensor:
    """Distance between VGG-19 features of ``prediction`` and ``target`` at ``layer``.

    ``vgg`` is a ``recipes._common.vgg.VGGFeatures`` (frozen; gradients still flow to the
    prediction). Default: L1 on ``conv5_4`` before activation, as ESRGAN (Wang et al., ECCV
    Workshops 2018, section 3.3, and its official code's ``feature_criterion: l1``): the
    before-activation features are signed and heavy-tailed, and L1 does not let a few large
    activations dominate. ``criterion="mse"`` is DPED/WESPE's content loss (Ignatov et al., ICCV
    2017, eq. 3: squared distance of ``relu5_4`` features, divided by their size).
    The target's features are computed without a graph.
    """
    if criterion not in PERCEPTUAL_CRITERIA:
        raise unknown("perceptual criterion", criterion, PERCEPTUAL_CRITERIA)
    with torch.no_grad():
        target_features = vgg(target, (layer,))[layer]
    diff = vgg(prediction, (layer,))[layer] - target_features
    return diff.abs().mean() if criterion == "l1" else diff.pow(2).mean()


# ------------------------------------------------------------------------------------ MS-SSIM

#: Wang, Simoncelli, Bovik, "Multiscale structural similarity for image quality assessment",
#: Asilomar 2003: per-scale exponents, finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_K1, _K2 = 0.01, 0.03
#: cs and ssim are clamped here before the fractional powers: a negative base gives NaN, zero an
#: infinite gradient (TF's ssim_multiscale clamps with a ReLU for the same reason)
_POSITIVE_FLOOR = 1e-6


def _gaussian_1d(size: int, sigma: float, device, dtype) -> torch.Tensor:
    # centred taps, also for even sizes (offset 0.5), as the reference _FSpecialGauss does
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _separable_filter(x: torch.Tensor, taps: torch.Tensor, padding: str | None) -> torch.Tensor:
    """Depthwise 2-D filter ``outer(taps, taps)`` as two 1-D passes; ``padding``: None = valid."""
    c, k = x.shape[1], taps.numel()
    if padding is not None:
        x = F.pad(x, (k // 2, (k - 1) // 2, k // 2, (k - 1) // 2), mode=padding)
    x = F.conv2d(x, taps.reshape(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, taps.reshape(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def _ssim_and_cs(x: torch.Tensor, y: torch.Tensor, window: int, sigma: float):
    """Per-image mean SSIM and mean contrast-structure term, window clipped to the image."""
    size = min(window, x.shape[-2], x.shape[-1])
    # the reference (DPED's ssim.py, from TensorFlow's MS-SSIM): shrink sigma with the window
    taps = _gaussian_1d(size, sigma * size / window, x.device, x.dtype)
    mu_x, mu_y = _separable_filter(x, taps, None), _separable_filter(y, taps, None)
    var_x = _separable_filter(x * x, taps, None) - mu_x**2
    var_y = _separable_filter(y * y, taps, None) - mu_y**2
    cov = _separable_filter(x * y, taps, None) - mu_x * mu_y
    c1, c2 = _K1**2, _K2**2  # data range 1
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
    return ssim_map.mean(dim=(1, 2, 3)), cs_map.mean(dim=(1, 2, 3))


def ms_ssim(
    prediction: torch.Tensor, target: torch.Tensor, *, window: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """Multi-scale SSIM (Wang et al. 2003), 5 scales, Gaussian window 11, sigma 1.5, range 1.

    ``prod_{j<5} cs_j ** w_j * ssim_5 ** w_5`` with the standard weights, per image, then the
    batch mean. Between scales: 2x2 average, stride 2 (an odd side keeps its last row/column).

    Small images: always 5 scales; at a scale smaller than the window, the window shrinks to the
    image side and sigma shrinks in proportion (``sigma * side / 11``). This is the rule of the
    MS-SSIM code DPED reports its numbers with (its ``ssim.py``, from TensorFlow's reference): a
    96x96 DPED patch is measured at 96/48/24/12/6 px with windows 11/11/11/11/6, 64x64 at
    64/32/16/8/4 with 11/11/11/8/4. Any size >= 1x1 works; nothing is dropped or reweighted.
    """
    # variances are differences of means: fp16/bf16 (also under autocast) would cancel them out
    dtype = torch.promote_types(prediction.dtype, torch.float32)
    with torch.autocast(prediction.device.type, enabled=False):
        return _ms_ssim(prediction.to(dtype), target.to(dtype), window, sigma)


def _ms_ssim(x: torch.Tensor, y: torch.Tensor, window: int, sigma: float) -> torch.Tensor:
    weights = torch.tensor(MS_SSIM_WEIGHTS, device=x.device, dtype=x.dtype)
    terms = []
    for scale in range(len(MS_SSIM_WEIGHTS)):
        ssim_value, cs = _ssim_and_cs(x, y, window, sigma)
        last = scale == len(MS_SSIM_WEIGHTS) - 1
        terms.append((ssim_value if last else cs).clamp(min=_POSITIVE_FLOOR))
        if not last:
            x = F.avg_pool2d(x, 2, ceil_mode=True)
            y = F.avg_pool2d(y, 2, ceil_mode=True)
    per_image = torch.prod(torch.stack(terms, dim=1) ** weights, dim=1)
    return per_image.mean()


def ms_ssim_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - MS-SSIM``: 0 for identical images, at most 1."""
    return 1.0 - ms_ssim(prediction, target)


# ------------------------------------------------------- DPED / WESPE: TV, colour and texture


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Total variation as DPED (Ignatov et al., ICCV 2017, eq. 6) and WESPE use it.

    DPED's ``train_model.py``: ``2 * (l2_loss(dx) / size_x + l2_loss(dy) / size_y) / batch``,
    ``l2_loss`` being half the sum of squares and ``size`` the per-image element count: the mean
    squared horizontal difference plus the mean squared vertical difference.
    """
    dy = x[:, :, 1:, :] - x[:, :, :-1, :]
    dx = x[:, :, :, 1:] - x[:, :, :, :-1]
    return dx.pow(2).mean() + dy.pow(2).mean()


#: sigma (px) of the Gaussian that DPED's and WESPE's released blur kernel really is (see below)
DPED_BLUR_SIGMA = 4.69


def gaussian_blur(x: torch.Tensor, sigma: float = 3.0, kernel_size: int = 21) -> torch.Tensor:
    """Colour view for the colour discriminator/loss (DPED section 3.2, WESPE section 3.2).

    Gaussian of ``sigma`` px (the papers' sigma = 3) on ``kernel_size`` taps, per channel,
    replicate padding so a flat image stays flat at the border (DPED's TensorFlow code pads with
    zeros, which darkens the border). DPED's ``utils.gauss_kernel(21, 3)`` spreads its 21 taps over
    +-3.17 standard deviations (sigma 3.32 px) and then takes ``sqrt(outer(k, k))``, a Gaussian of
    sigma 3.32 * sqrt(2) = 4.69 px: pass ``sigma=DPED_BLUR_SIGMA`` to match the released kernel
    (every tap within 1% of its peak tap, tests/test_losses.py).
    """
    taps = _gaussian_1d(kernel_size, sigma, x.device, x.dtype)
    return _separable_filter(x, taps, "replicate")


#: ITU-R BT.601 luma, the weights of ``tf.image.rgb_to_grayscale`` that DPED and WESPE use
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Texture view (N, 3, H, W) -> (N, 1, H, W), what DPED/WESPE's texture discriminator sees."""
    w = torch.tensor(GRAY_WEIGHTS, device=x.device, dtype=x.dtype).reshape(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


# ----------------------------------------------------------------------------------- GAN losses


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def standard_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator of the standard GAN (Goodfellow et al., NeurIPS 2014, eq. 1):
    ``-E[log D(real)] - E[log(1 - D(fake))]``, the sum of the two terms (as SRGAN and DPED)."""
    return _bce(real_logits, True) + _bce(fake_logits, False)


def standard_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator of the standard GAN, non-saturating form (Goodfellow et al. 2014, section 3):
    ``-E[log D(fake)]``."""
    return _bce(fake_logits, True)


def ragan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Relativistic average discriminator (Jolicoeur-Martineau 2018; ESRGAN eq. 2).

    ``D_Ra(a, b) = sigmoid(C(a) - mean C(b))``; the loss is
    ``-E[log D_Ra(real, fake)] - E[log(1 - D_Ra(fake, real))]`` averaged over its two terms, as
    ESRGAN's official code does (its ``(l_d_real + l_d_fake) / 2``), so its weights apply as is.
    """
    return 0.5 * (
        _bce(real_logits - fake_logits.mean(), True) + _bce(fake_logits - real_logits.mean(), False)
    )


def ragan_g_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Relativistic average generator (ESRGAN eq. 3): the symmetric form, real pushed down and
    fake pushed up, averaged over the two terms as ESRGAN's code does. Gradients reach the
    generator through ``fake_logits`` (``real_logits`` may be detached)."""
    return 0.5 * (
        _bce(real_logits - fake_logits.mean(), False) + _bce(fake_logits - real_logits.mean(), True)
    )


GAN_KINDS = ("standard", "ragan")


def discriminator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor):
    """``standard_d_loss`` or ``ragan_d_loss`` by name (a recipe's ``gan: standard|ragan``)."""
    if kind not in GAN_KINDS:
        raise unknown("GAN loss", kind, GAN_KINDS)
    return (standard_d_loss if kind == "standard" else ragan_d_loss)(real_logits, fake_logits)


def generator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor):
    """The generator's adversarial loss by name; the standard GAN ignores ``real_logits``."""
    if kind not in GAN_KINDS:
        raise unknown("GAN loss", kind, GAN_KINDS)
    if kind == "standard":
        return standard_g_loss(fake_logits)
    return ragan_g_loss(real_logits, fake_logits)



# --------------------------------------------------- hinge GAN and gradient penalty (Blur2Blur)


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge discriminator loss (Lim and Ye, "Geometric GAN", 2017; Miyato et al. 2018, eq. 16):
    ``E[relu(1 - D(real))] + E[relu(1 + D(fake))]``, the sum of the two terms. Blur2Blur's
    official code (``models/losses/gan_loss.py``, ``gan_mode hinge``) computes the same two terms
    and halves their sum in ``backward_D``: the recipe applies that 0.5."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge generator loss: ``-E[D(fake)]`` (the same references)."""
    return -fake_logits.mean()


def gradient_penalty(
    discriminator, real: torch.Tensor, fake: torch.Tensor, *, mixing: torch.Tensor | None = None,
    target_norm: float = 1.0,
) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al., NeurIPS 2017, eq. 3), unweighted:
    ``E[(||grad_x D(x)||_2 - target_norm)^2]`` at ``x = a * real + (1 - a) * fake``, one
    ``a ~ U(0, 1)`` per sample (``mixing``, shape (N,), to fix it in tests), the norm taken over
    each sample's whole gradient and ``D(x)`` summed over its patch logits.

    This is the form Blur2Blur's official code uses (``cal_gradient_penalty``, type ``mixed``,
    constant 1, at full scale, weighted 1e-4 by ``--lambda_gp``), not R1 (which penalises
    ``||grad||^2`` on real samples only). The penalty is differentiable in D's weights
    (``create_graph``), so it trains D; ``real`` and ``fake`` are detached here.
    """
    n = real.shape[0]
    if mixing is None:
        mixing = torch.rand(n, device=real.device, dtype=real.dtype)
    a = mixing.reshape(n, 1, 1, 1)
    x = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    return ((grad.reshape(n, -1).norm(2, dim=1) - target_norm) ** 2).mean()


# ----------------------------------------------------------- feature matching and style (Gram)


def feature_matching(fake_features, real_features) -> torch.Tensor:
    """Sum over discriminator layers of the L1 distance between the features of the fake and the
    (detached) real input: EdgeConnect's L_FM for G1 (Nazeri et al. 2019, eq. 3; official
    ``src/models.py``: ``l1_loss(gen_fake_feat[i], dis_real_feat[i].detach())`` over all five
    PatchGAN layers, then weighted by FM_LOSS_WEIGHT = 10). Gradients reach the generator
    through ``fake_features``."""
    total = fake_features[0].new_zeros(())
    for fake, real in zip(fake_features, real_features, strict=True):
        total = total + (fake - real.detach()).abs().mean()
    return total


#: VGG-19 layers of EdgeConnect's style loss (official ``src/loss.py`` StyleLoss)
STYLE_LAYERS = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")
#: ... and of its perceptual loss (PerceptualLoss, each weight 1, L1)
EDGECONNECT_PERCEPTUAL_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) Gram matrices normalised by C*H*W (Gatys et al., CVPR 2016;
    EdgeConnect's ``compute_gram``)."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(vgg, prediction: torch.Tensor, target: torch.Tensor,
               layers: tuple[str, ...] = STYLE_LAYERS) -> torch.Tensor:
    """Sum over ``layers`` of the L1 distance of Gram matrices of VGG-19 features (Johnson et
    al., ECCV 2016; EdgeConnect eq. 7, weight 250, applied to ``output * mask`` vs
    ``image * mask``). The target's features are computed without a graph."""
    with torch.no_grad():
        target_features = vgg(target, layers)
    pred_features = vgg(prediction, layers)
    total = prediction.new_zeros(())
    for name in layers:
        total = total + (gram_matrix(pred_features[name])
                         - gram_matrix(target_features[name])).abs().mean()
    return total


def multi_layer_perceptual(vgg, prediction: torch.Tensor, target: torch.Tensor,
                           layers: tuple[str, ...] = EDGECONNECT_PERCEPTUAL_LAYERS) -> torch.Tensor:
    """Sum over ``layers`` of the L1 distance of VGG-19 features: EdgeConnect's L_perc (eq. 6,
    relu1_1..relu5_1, each weight 1, then weighted by CONTENT_LOSS_WEIGHT = 0.1)."""
    with torch.no_grad():
        target_features = vgg(target, layers)
    pred_features = vgg(prediction, layers)
    total = prediction.new_zeros(())
    for name in layers:
        total = total + (pred_features[name] - target_features[name]).abs().mean()
    return total
