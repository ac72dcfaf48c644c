"""Blur2Blur: camera-specific deblurring by translating an unknown blur into a known one.

Pham, Tran, Tran, Pham, Nguyen and Hoai, "Blur2Blur: Blur Conversion for Unsupervised Image
Deblurring on Unknown Domains", CVPR 2024. A translator G maps a blurry photo of the target
camera (unknown blur) to a blurry photo of the *known* blur domain, which a deblurrer trained on
that domain (here ``deblur_nafnet``) then restores. G is trained on unpaired data with a PatchGAN
discriminator (real = known-blur photos, fake = G's outputs) and a perceptual loss between G's
outputs and its inputs (content preservation); the deblurrer stays frozen. Facts checked against
the official code (github.com/VinAIResearch/Blur2Blur): the translator is MIMO-UNet
(``models/mimo/MIMOUNet.py``, ``--netG mimounet`` in its train script; Cho et al., "Rethinking
Coarse-to-Fine Approach in Single Image Deblurring", ICCV 2021), the discriminator pix2pix's
70x70 PatchGAN (``models/networks.py`` ``NLayerDiscriminator``, ndf 64, 3 layers, instance norm
in the train script); losses in recipes/deblur_blur2blur/train.py. The code here is our own.

**Translator (MIMO-UNet, multi-input multi-output).** Three levels of widths ``w, 2w, 4w``; the
image at full, 1/2 and 1/4 scale goes in (the two smaller ones through a shallow conv module,
SCM, merged into the encoder by feature attention, FAM: ``x + conv3(x * scm)``); encoder and
decoder levels are ``blocks`` residual blocks (conv3-ReLU-conv3 + x); asymmetric feature fusion
(AFF: every encoder level resized to a level, concatenated, 1x1 + 3x3 conv) feeds the skips; the
decoder emits an RGB output at each scale, each a residual on the input at that scale.
``multi_scale`` returns all three (training: the loss compares each with the input at its scale);
``forward`` computes only the full-scale output (the 1/4 and 1/2 heads are skipped), clamped to
[0, 1] because it is the deblurrer's input.

Export choices (each the same role as MIMO-UNet's layer, in an op every converter lowers):

* **Image pyramid: 2x2 average pool** (MIMO-UNet: ``F.interpolate(x, scale_factor=0.5)``,
  nearest, i.e. every other pixel, which aliases). Average pooling is one op everywhere (ONNX
  AveragePool, TFLite AVERAGE_POOL_2D, Core ML avg_pool), has no size-dependent arithmetic and
  traces with dynamic H/W. Feature downsizing inside AFF uses the same pool.
* **Downsampling: 2x2 stride-2 conv** (MIMO-UNet: 3x3 stride-2, padding 1), as deblur_nafnet:
  no padding arithmetic, so it lowers with dynamic H/W (strided padded convs do not in
  litert-torch, see enhance_dense_unet).
* **Upsampling: 1x1 conv + PixelShuffle(2)** (MIMO-UNet: 4x4 transposed conv), deblur_nafnet's
  ``Up``: transposed convs are lowered unevenly, and pixel shuffle has no checkerboard pattern.
  Feature upsizing inside AFF is nearest x2 resize (MIMO-UNet: nearest too).

Input height and width must be multiples of 4 (two 2x levels); the full graph ``Blur2Blur`` takes
the deblurrer's multiple (16). 720x1280 fits both.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.checkpoints import load_weights
from toolkit.errors import CamkitError
from toolkit.spec import FullResolution, ModelSpec, TensorSpec

LEVELS = 3

# ------------------------------------------------------------------------------------- blocks


def half(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pool: the export-friendly x0.5 (see the module docstring)."""
    return F.avg_pool2d(x, 2)


def double(x: torch.Tensor) -> torch.Tensor:
    """Nearest x2 resize (ONNX Resize, TFLite RESIZE_NEAREST_NEIGHBOR, Core ML upsample)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def conv(in_ch: int, out_ch: int, k: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, k, padding=k // 2)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """MIMO-UNet's residual block: conv3x3-ReLU-conv3x3 plus the input."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(c, c, 3, True), conv(c, c, 3, False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SCM(nn.Module):
    """Shallow convolutional module: features of a downscaled image (3x3 c/4, 1x1 c/2, 3x3 c/2,
    1x1 c-3, each + ReLU), concatenated with the image itself, then a 1x1 conv to ``c``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(3, c // 4, 3, True), conv(c // 4, c // 2, 1, True),
                                  conv(c // 2, c // 2, 3, True), conv(c // 2, c - 3, 1, True))
        self.merge = conv(c, c, 1, False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([image, self.body(image)], dim=1))


class FAM(nn.Module):
    """Feature attention module: ``x + conv3x3(x * scm)``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = conv(c, c, 3, False)

    def forward(self, x: torch.Tensor, scm: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x * scm)


class AFF(nn.Module):
    """Asymmetric feature fusion: concatenated multi-level features, 1x1 conv + ReLU, 3x3 conv."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(in_ch, out_ch, 1, True), conv(out_ch, out_ch, 3, False))

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat(features, dim=1))


class Up(nn.Module):
    """1x1 conv to ``4 * out_ch``, PixelShuffle(2), ReLU: ``out_ch`` channels at twice the size."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, 4 * out_ch, 1)
        self.shuffle = nn.PixelShuffle(2)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


def init_normal(net: nn.Module, std: float = 0.02) -> None:
    """The official initialisation (pix2pix ``init_weights``, ``init_type normal``, gain 0.02,
    which Blur2Blur applies to G and D): conv weights ~ N(0, 0.02), biases 0. For the translator
    this makes every residual branch nearly zero, so an untrained G is close to the identity
    (each output ~ its input) and training starts where the content loss is already met. The
    PatchGAN applies it itself; the recipe applies it to the translator before training
    (``Translator`` keeps PyTorch's default init, so a seeded random translator, which the
    export tests use, is not a near-identity that any artifact would match)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)


def _stage(c: int, n: int) -> nn.Sequential:
    return nn.Sequential(*(ResBlock(c) for _ in range(n)))


# --------------------------------------------------------------------------------- translator


class Translator(nn.Module):
    """MIMO-UNet blur translator (module docstring). ``blocks``: residual blocks per level,
    finest first, the same count in the encoder and the decoder of a level."""

    def __init__(self, width: int, blocks: tuple[int, int, int]) -> None:
        super().__init__()
        if len(blocks) != LEVELS or min(blocks) < 1 or width < 4:
            raise CamkitError(f"the translator takes {LEVELS} block counts of at least 1 "
                              f"(finest first) and a width of at least 4, got {blocks}, {width}")
        c1, c2, c4 = width, 2 * width, 4 * width
        self.intro = conv(3, c1, 3, True)
        self.enc1, self.enc2, self.enc4 = _stage(c1, blocks[0]), _stage(c2, blocks[1]), _stage(
            c4, blocks[2])
        self.down2 = nn.Sequential(nn.Conv2d(c1, c2, 2, stride=2), nn.ReLU())
        self.down4 = nn.Sequential(nn.Conv2d(c2, c4, 2, stride=2), nn.ReLU())
        self.scm2, self.scm4 = SCM(c2), SCM(c4)
        self.fam2, self.fam4 = FAM(c2), FAM(c4)
        self.aff1, self.aff2 = AFF(c1 + c2 + c4, c1), AFF(c1 + c2 + c4, c2)
        self.dec4, self.dec2, self.dec1 = _stage(c4, blocks[2]), _stage(c2, blocks[1]), _stage(
            c1, blocks[0])
        self.up2, self.up1 = Up(c4, c2), Up(c2, c1)
        self.merge2, self.merge1 = conv(2 * c2, c2, 1, True), conv(2 * c1, c1, 1, True)
        self.out4, self.out2 = conv(c4, 3, 3, False), conv(c2, 3, 3, False)  # training heads
        self.out1 = conv(c1, 3, 3, False)

    def _decode(self, image: torch.Tensor, heads: bool) -> list[torch.Tensor]:
        image2 = half(image)
        image4 = half(image2)
        res1 = self.enc1(self.intro(image))
        res2 = self.enc2(self.fam2(self.down2(res1), self.scm2(image2)))
        z = self.enc4(self.fam4(self.down4(res2), self.scm4(image4)))
        z42 = double(z)
        skip2 = self.aff2(half(res1), res2, z42)
        skip1 = self.aff1(res1, double(res2), double(z42))
        outputs = []
        z = self.dec4(z)
        if heads:
            outputs.append(self.out4(z) + image4)
        z = self.dec2(self.merge2(torch.cat([self.up2(z), skip2], dim=1)))
        if heads:
            outputs.append(self.out2(z) + image2)
        z = self.dec1(self.merge1(torch.cat([self.up1(z), skip1], dim=1)))
        outputs.append(self.out1(z) + image)
        return outputs

    def multi_scale(self, image: torch.Tensor) -> list[torch.Tensor]:
        """[1/4, 1/2, full]-scale outputs (unclamped), as MIMO-UNet returns them for training."""
        return self._decode(image, heads=True)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The deployed output: full scale only, clamped to [0, 1]."""
        return self._decode(image, heads=False)[0].clamp(0.0, 1.0)


# ------------------------------------------------------------------------------ discriminator


class PatchGAN(nn.Module):
    """Training only. pix2pix's 70x70 PatchGAN (Isola et al., CVPR 2017, appendix 6.1.2;
    official ``NLayerDiscriminator``, n_layers 3): 4x4 convs, C64 (no norm) stride 2, C128 and
    C256 stride 2, C512 stride 1, each + LeakyReLU 0.2 with instance norm (not affine, as the
    official train script's ``--norm instance``; the norm's conv has a bias then), and a 4x4
    stride-1 conv to one logit per patch. Each output sees a 70x70 input window
    (``receptive_field_px``). Returns logits (the hinge losses take logits)."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        for i, stride in enumerate((2, 2, 2, 1)):
            layers.append(nn.Conv2d(chans[i], chans[i + 1], 4, stride=stride, padding=1))
            if i:
                layers.append(nn.InstanceNorm2d(chans[i + 1]))
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.Conv2d(chans[-1], 1, 4, stride=1, padding=1))
        self.body = nn.Sequential(*layers)
        init_normal(self)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.body(image)


def receptive_field_px(net: nn.Module) -> int:
    """Receptive field of one output of a chain of convs: ``r <- (r - 1) * stride + kernel``,
    from the last conv back to the input."""
    r = 1
    for module in reversed([m for m in net.modules() if isinstance(m, nn.Conv2d)]):
        r = (r - 1) * module.stride[0] + module.kernel_size[0]
    return r


# ------------------------------------------------------------------------------ the full graph


class Blur2Blur(nn.Module):
    """The deployed graph: the translator's full-scale output, then the known-blur deblurrer."""

    def __init__(self, translator: Translator, deblurrer: nn.Module) -> None:
        super().__init__()
        self.translator = translator
        self.deblurrer = deblurrer

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.deblurrer(self.translator(image))


# ------------------------------------------------------------------------------------ variants

TRANSLATORS: dict[str, dict] = {
    # MIMO-UNet (official MIMOUNet: base_channel 32, num_res 8 per encoder/decoder level); our
    # downsampling/upsampling swaps (module docstring) change its 6.8M parameters slightly.
    "paper": {"width": 32, "blocks": (8, 8, 8)},
    # phone (<= ~9 GMACs per 720x1280 frame so that with deblur_nafnet mobile, 7.5, the graph
    # stays <= 20): width 6, one block per level at full and 1/2 scale, three at 1/4 (a block
    # there costs a sixteenth of one at full scale, and widens the receptive field most, which
    # a long motion blur needs). Numbers in card.yaml; the budget is tested.
    "mobile": {"width": 6, "blocks": (1, 1, 3)},
    # tests
    "tiny": {"width": 4, "blocks": (1, 1, 1)},
}
VARIANTS = TRANSLATORS
#: PatchGAN width per variant (training only): the official ndf 64; tiny for tests
DISCRIMINATOR_WIDTH: dict[str, int] = {"paper": 64, "mobile": 64, "tiny": 8}

SPEC = ModelSpec(
    model_id="deblur_blur2blur",
    task="camera-specific deblurring (unknown blur -> known blur -> sharp)",
    title="Blur2Blur (MIMO-UNet blur translator + NAFNet known-blur deblurrer)",
    paper="Pham et al., Blur2Blur: Blur Conversion for Unsupervised Image Deblurring on Unknown "
    "Domains, CVPR 2024",
    inputs=(TensorSpec("image", 3, description="blurry sRGB photo of the target camera"),),
    outputs=(TensorSpec("deblurred", 3, description="deblurred sRGB photo"),),
    variants=tuple(VARIANTS),
    default_variant="mobile",
    default_size={"paper": (720, 1280), "mobile": (720, 1280), "tiny": (64, 64)},
    size_multiple=16,  # deblur_nafnet's; the translator alone needs 4
    calibration_set="photos_pd_blur",  # blurry photos, as the camera's would be (deblur_nafnet's)
    baselines=("richardson_lucy", "wiener"),
    data_fit="crop",  # resizing a blurry photo would rescale its blur
    full_resolution=FullResolution(
        "split", why="its NAFNet pools the whole image in every block's channel attention; the "
        "pooled vectors come from the thumbnail, the rest runs on tiles"),
)


def build_translator(variant: str) -> Translator:
    if variant not in TRANSLATORS:
        raise CamkitError(f"blur2blur has no variant {variant!r}; pick one of {list(TRANSLATORS)}")
    return Translator(**TRANSLATORS[variant])


def build_discriminator(variant: str, width: int | None = None) -> PatchGAN:
    """The training-only PatchGAN (``width`` overrides the variant's)."""
    return PatchGAN(DISCRIMINATOR_WIDTH[variant] if width is None else width)


def build(variant: str, checkpoint: str | Path | None = None) -> Blur2Blur:
    """Translator + the same-named ``deblur_nafnet`` variant; both from ``checkpoint`` (one
    safetensors file with ``translator.*`` and ``deblurrer.*`` weights) when given."""
    from toolkit.models.deblur_nafnet.model import build as build_deblurrer

    net = Blur2Blur(build_translator(variant), build_deblurrer(variant))
    if checkpoint is not None:
        load_weights(net, checkpoint, SPEC.model_id, variant)
    return net
