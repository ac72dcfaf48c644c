"""Dense U-Net photo enhancer: a U-Net generator with dense blocks, trained as a perceptual GAN.

The seed paper's generator is a U-Net whose every encoder and decoder stage is a DenseNet block
(Huang et al., CVPR 2017: each layer's ``growth`` new channels are concatenated to its input),
with concatenating skip connections between levels; its discriminator is a stack of
Conv-BN-LeakyReLU ending in a sigmoid; its loss is
``L_p (VGG-19 conv5_4, before activation) + lambda * L_GAN + eta * (1 - MS-SSIM)`` on DPED-style
96x96 patches (recipes/_common/losses.py has each term).

Choices made here for export (ONNX, LiteRT, Core ML, INT8), each a one-for-one swap:

* **No BatchNorm in the generator.** Statistics learnt on 96x96 patches drift at full-frame
  inference, and ESRGAN dropped BN from its GAN generator for the artifacts it causes. Each conv
  is followed by a ReLU instead, which every converter fuses into the conv (also in INT8). (The
  other way, BN kept and folded into the preceding conv at export, would need the pre-activation
  BN-ReLU-conv order of DenseNet changed first, since only a BN *after* a conv folds.)
* **Downsampling: 2x2 max pool** (DenseNet/Tiramisu transition-down): no padding arithmetic, so
  it lowers with dynamic H/W (strided convs do not in litert-torch, tests/test_litert.py), and it
  is exact in INT8 (no requantisation).
* **Upsampling: nearest x2 resize, followed by 3x3 convs.** Nearest resize maps to one op
  everywhere (ONNX Resize, TFLite RESIZE_NEAREST_NEIGHBOR, Core ML upsample) with no
  align-corners or half-pixel conventions to disagree on (bilinear does, across converters), is
  exact in INT8, and resize + conv has none of a transposed conv's checkerboard artifacts (Odena
  et al., Distill 2016). Pixel shuffle would also export, but as a reshape/transpose pair that
  the NHWC converters rewrite. ``Up``'s own 1x1 conv runs before the resize (see there).
* **Output: sigmoid**, so pixels are in (0, 1) without a clamp. ``tanh(x)*0.5+0.5`` is the same
  function of ``2x``; sigmoid is one op (TFLite LOGISTIC has a fixed [0, 1] INT8 output range).
* **Three downsamplings** (four resolution levels): 1080 = 8 * 135, so 1080x1920 frames need no
  padding. Inputs must be a multiple of 8 in height and width (``SPEC.size_multiple``).

Loss weights (the paper gives none; module constants because card.yaml's keys are fixed):

``DEFAULT_LAMBDA_GAN = 5e-3``: ESRGAN's adversarial weight (Wang et al. 2018, section 4.1),
tuned for exactly our L_p (L1 of ImageNet-normalised VGG-19 conv5_4 features before activation)
and our RaGAN averaging (losses.ragan_g_loss), so the GAN term keeps ESRGAN's weight relative to
L_p. At initialisation the generator's GAN loss is near ln 2 ~ 0.69 (0.5-0.7 measured for the
three variants' discriminators), about 0.003 after weighting: a small nudge against L_p, as in
ESRGAN, which keeps the adversarial term from overpowering content early on.

``DEFAULT_ETA_MS_SSIM = 1.0``: 1 - MS-SSIM lies in [0, 1]; the untrained generator (a flat,
mid-grey output) scores about 0.96 on it (tests/test_dense_unet.py measures it on smooth 96x96
patches), a DPED-quality result about 0.05-0.1 (DPED reports MS-SSIM of about 0.92). With eta = 1
the structure/colour term starts comparable to L_p and ends near a tenth of it, so it anchors
colour and structure (which VGG features largely ignore) without pulling the result towards a
blurry pixel-wise average; weigh it up if the recipe's logs show colour drift. Both are starting
points, not tuned values: the recipe should log each term so they can be checked with the real
VGG-19 weights (none are available to this repo's tests).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.checkpoints import load_weights
from toolkit.errors import CamkitError
from toolkit.spec import FullResolution, ModelSpec, TensorSpec

DEFAULT_LAMBDA_GAN = 5e-3
DEFAULT_ETA_MS_SSIM = 1.0
#: two max pools would allow any multiple of 4, but 1080 = 8 * 135 fits three
LEVELS = 3

# ------------------------------------------------------------------------------------- blocks


class DenseBlock(nn.Module):
    """``layers`` x (3x3 conv to ``growth`` channels + ReLU), each fed the concatenation of the
    block input and all earlier outputs; then a 1x1 conv + ReLU compressing to ``out_ch``
    (DenseNet-BC's transition, so skip tensors stay narrow)."""

    def __init__(self, in_ch: int, growth: int, layers: int, out_ch: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(in_ch + i * growth, growth, 3, padding=1) for i in range(layers)
        )
        self.compress = nn.Conv2d(in_ch + layers * growth, out_ch, 1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = torch.cat([x, self.act(conv(x))], dim=1)
        return self.act(self.compress(x))


class Up(nn.Module):
    """1x1 conv + ReLU at the coarse level, then nearest x2 resize.

    Per-pixel ops commute with nearest resize, so this is exactly "nearest resize, then 1x1 conv"
    at a quarter of the MACs; the 3x3 convs of the dense block that follows mix space.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.act(self.conv(x)), scale_factor=2.0, mode="nearest")


# -------------------------------------------------------------------------------------- model


class DenseUNet(nn.Module):
    """Encoder: stem conv, then per level a dense block (kept as skip) and a 2x2 max pool; a dense
    bottleneck at 1/8 scale; decoder: per level Up, concatenation with the skip, dense block;
    3x3 conv to RGB and a sigmoid."""

    def __init__(
        self, width: int, growth: tuple[int, ...], enc_layers: tuple[int, ...],
        dec_layers: tuple[int, ...], mid_layers: int,
    ) -> None:
        super().__init__()
        if len(growth) != LEVELS + 1 or len(enc_layers) != LEVELS or len(dec_layers) != LEVELS:
            raise CamkitError(
                f"DenseUNet takes {LEVELS + 1} growth rates and {LEVELS} encoder and decoder "
                f"layer counts (one per level, finest first)"
            )
        widths = [width * 2**level for level in range(LEVELS + 1)]
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2, 2)
        self.down = nn.ModuleList()
        in_ch = width
        for level, n in enumerate(enc_layers):
            self.down.append(DenseBlock(in_ch, growth[level], n, widths[level]))
            in_ch = widths[level]
        self.middle = DenseBlock(in_ch, growth[LEVELS], mid_layers, widths[LEVELS])
        self.up = nn.ModuleList(Up(widths[lv + 1], widths[lv]) for lv in range(LEVELS))
        self.merge = nn.ModuleList(
            DenseBlock(2 * widths[lv], growth[lv], dec_layers[lv], widths[lv])
            for lv in range(LEVELS)
        )
        self.head = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.act(self.stem(image))
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.middle(x)
        for level in reversed(range(LEVELS)):
            x = self.merge[level](torch.cat([self.up[level](x), skips[level]], dim=1))
        return torch.sigmoid(self.head(x))


# ------------------------------------------------------------------------------ discriminator


class Discriminator(nn.Module):
    """Training only. SRGAN's discriminator (Ledig et al., CVPR 2017, figure 4), as ESRGAN uses it:
    Conv-LeakyReLU (no BN on the input layer, as DCGAN), then Conv-BN-LeakyReLU stages that each
    halve the size with a stride-2 conv and double the channels from the second on (64, 64 s2,
    128, 128 s2, ... for width 64), then two linear layers and a sigmoid. ``forward`` gives D(x)
    in (0, 1), shape (N, 1); ``logits`` the pre-sigmoid score that the GAN losses in
    recipes/_common/losses.py take."""

    def __init__(self, width: int, stages: int, hidden: int, patch_px: int) -> None:
        super().__init__()
        if patch_px % 2**stages:
            raise CamkitError(
                f"discriminator patch size {patch_px} px is not a multiple of {2**stages}; "
                f"train on patches of a multiple of {2**stages} px (DPED uses 96)"
            )
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.LeakyReLU(0.2)]
        in_ch = width
        for stage in range(stages):
            out_ch = width * 2**stage
            convs = [(in_ch, 1), (out_ch, 2)] if stage else [(in_ch, 2)]
            for c_in, stride in convs:
                layers += [
                    nn.Conv2d(c_in, out_ch, 3, stride=stride, padding=1, bias=False),
                    nn.BatchNorm2d(out_ch),
                    nn.LeakyReLU(0.2),
                ]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        side = patch_px // 2**stages
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(in_ch * side * side, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )
        self.patch_px = patch_px

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[-2:] != (self.patch_px, self.patch_px):
            raise CamkitError(
                f"discriminator built for {self.patch_px}x{self.patch_px} patches got "
                f"{tuple(image.shape[-2:])}; build it with patch_px={image.shape[-1]}"
            )
        return self.classifier(self.features(image))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(image))


# ------------------------------------------------------------------------------------ variants

VARIANTS: dict[str, dict] = {
    # faithful size: four-layer dense blocks at every stage (six in the bottleneck), growth 16 at
    # the two fine levels and 24/32 below, widths 32/64/128/256: 1,120,259 parameters.
    "paper": {"width": 32, "growth": (16, 16, 24, 32), "enc_layers": (4, 4, 4),
              "dec_layers": (4, 4, 4), "mid_layers": 6},
    # phone: one thin dense layer at full resolution (a MAC there costs 4x one a level down),
    # more below: 64,323 parameters, 9.39 GMACs per 1080x1920 frame (budget 10, tested).
    "mobile": {"width": 8, "growth": (4, 8, 8, 16), "enc_layers": (1, 2, 2),
               "dec_layers": (1, 1, 2), "mid_layers": 4},
    # for tests: same graph, few channels.
    "tiny": {"width": 4, "growth": (4, 4, 4, 4), "enc_layers": (1, 1, 1), "dec_layers": (1, 1, 1),
             "mid_layers": 1},
}

#: discriminator (width, stride-2 stages, hidden units) per variant; 96 px -> 6 px after 4 stages
DISCRIMINATORS: dict[str, tuple[int, int, int]] = {
    "paper": (64, 4, 1024),
    "mobile": (32, 4, 256),
    "tiny": (8, 2, 16),
}

SPEC = ModelSpec(
    model_id="enhance_dense_unet",
    task="photo enhancement (phone photo to DSLR-like)",
    title="Dense U-Net perceptual GAN enhancer",
    paper="U-Net generator with dense blocks, trained with VGG-19 perceptual + GAN + MS-SSIM "
    "losses on DPED patches",
    inputs=(TensorSpec("image", 3, description="sRGB phone photo to enhance"),),
    outputs=(TensorSpec("enhanced", 3, description="enhanced sRGB photo"),),
    variants=tuple(VARIANTS),
    default_variant="mobile",
    default_size={"paper": (1080, 1920), "mobile": (1080, 1920), "tiny": (64, 64)},
    size_multiple=2**LEVELS,
    full_resolution=FullResolution(
        "tiles", why="convolutions only: the receptive field is finite (measured at export)"),
)


def build(variant: str, checkpoint: str | Path | None = None) -> DenseUNet:
    """Generator of the given variant; weights from ``checkpoint`` (safetensors) when given."""
    net = DenseUNet(**VARIANTS[variant])
    if checkpoint is not None:
        load_weights(net, checkpoint, SPEC.model_id, variant)
    return net


def build_discriminator(variant: str, patch_px: int = 96) -> Discriminator:
    """The training-only discriminator for ``patch_px`` x ``patch_px`` patches."""
    width, stages, hidden = DISCRIMINATORS[variant]
    return Discriminator(width, stages, hidden, patch_px)
