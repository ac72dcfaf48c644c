"""WESPE: weakly supervised photo enhancement with the DPED ResNet generator.

Ignatov, Kobyshev, Timofte, Vanhoey, Van Gool. "WESPE: Weakly Supervised Photo Enhancer for
Digital Cameras", CVPRW 2018. The enhancer G is the generator of DPED ("DSLR-Quality Photos on
Mobile Devices with Deep Convolutional Networks", ICCV 2017, github.com/aiff22/DPED models.py):
a 9x9 conv, four residual blocks of two 3x3 convs with instance norm, two 3x3 convs and a 9x9
conv, all at full resolution, and a ``tanh(x) * 0.58 + 0.5`` head. WESPE trains it without
pairs: an inverse generator F maps the result back to the phone domain (content loss on
F(G(x)) vs x), and two discriminators judge colour (blurred RGB) and texture (grayscale). Only
G is exported; F and the discriminators live here so the recipe builds them from one place.

``camkit import-weights enhance_wespe PREFIX --from tensorflow`` loads the official DPED
TensorFlow checkpoints (e.g. models_orig/iphone_orig) into the ``paper`` variant.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from toolkit.checkpoints import load_weights
from toolkit.errors import CamkitError
from toolkit.models._blocks import InstanceNorm, NormResidual
from toolkit.spec import FullResolution, ModelSpec, TensorSpec

# ------------------------------------------------------------------------------------- blocks


class ResidualBlock(nn.Module):
    """DPED's residual block: ``relu(IN(conv(relu(IN(conv(x)))))) + x``, 3x3 convs, IN eps 1e-3."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm1 = InstanceNorm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = InstanceNorm(channels)
        self.act = nn.ReLU()
        self.merge = NormResidual(relu=True)  # x + relu(norm2(...)), float in w8a8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.norm1(self.conv1(x)))
        return self.merge(self.norm2(self.conv2(y)), x)


class DiscriminatorConv(nn.Module):
    """DPED's ``_conv_layer``: conv (TF 'SAME' padding) -> LeakyReLU 0.2 -> instance norm.

    The norm comes after the activation, as in DPED, and the first layer has none. For odd
    kernels ``padding = k // 2`` gives TF's SAME output size ``ceil(n / stride)``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, norm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2)
        self.act = nn.LeakyReLU(0.2)
        self.norm = InstanceNorm(out_ch) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.act(self.conv(x)))


# -------------------------------------------------------------------------------------- model


class Generator(nn.Module):
    """The DPED/WESPE enhancer. ``unshuffle`` > 1 runs every conv at 1/unshuffle resolution
    (pixel-unshuffle in, pixel-shuffle out): the phone-sized variant. The head is always
    ``tanh(x) * 0.58 + 0.5`` (range [-0.08, 1.08]; callers clip to [0, 1] to write pixels)."""

    def __init__(self, channels: int = 64, blocks: int = 4, edge_kernel: int = 9,
                 unshuffle: int = 1) -> None:
        super().__init__()
        io_ch = 3 * unshuffle * unshuffle
        self.unshuffle_factor = unshuffle
        self.unshuffle = nn.PixelUnshuffle(unshuffle) if unshuffle > 1 else nn.Identity()
        self.conv_in = nn.Conv2d(io_ch, channels, edge_kernel, padding=edge_kernel // 2)
        self.blocks = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.conv_mid1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_mid2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_out = nn.Conv2d(channels, io_ch, edge_kernel, padding=edge_kernel // 2)
        self.shuffle = nn.PixelShuffle(unshuffle) if unshuffle > 1 else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv_in(self.unshuffle(image)))
        x = self.blocks(x)
        x = self.act(self.conv_mid1(x))
        x = self.act(self.conv_mid2(x))
        return torch.tanh(self.shuffle(self.conv_out(x))) * 0.58 + 0.5


class InverseGenerator(Generator):
    """WESPE's F (training only): the generator's architecture, mapping enhanced -> phone."""


class Discriminator(nn.Module):
    """DPED's adversarial CNN on ``patch_px`` x ``patch_px`` crops -> one logit per image.

    conv 11x11/4, 5x5/2, 3x3, 3x3, 3x3/2 (widths 48, 128, 192, 192, 128 in DPED), FC 1024 +
    LeakyReLU, FC -> 1. DPED ends in a 2-way softmax; a single logit trained with
    BCE-with-logits is the same classifier with one redundant output removed and numerically
    safer. WESPE uses two: colour (3 channels, blurred) and texture (1 channel, grayscale).
    """

    KERNELS_STRIDES = ((11, 4), (5, 2), (3, 1), (3, 1), (3, 2))

    def __init__(self, in_channels: int, patch_px: int, widths: tuple[int, ...] = (48, 128, 192,
                 192, 128), fc_features: int = 1024) -> None:
        super().__init__()
        if patch_px < 1:
            raise CamkitError(f"discriminator patch_px must be >= 1, got {patch_px}")
        self.patch_px = patch_px
        layers, in_ch, side_px = [], in_channels, patch_px
        for i, ((kernel, stride), width) in enumerate(zip(self.KERNELS_STRIDES, widths)):
            layers.append(DiscriminatorConv(in_ch, width, kernel, stride, norm=i > 0))
            in_ch, side_px = width, math.ceil(side_px / stride)
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(in_ch * side_px * side_px, fc_features)  # 128*7*7 at 100 px
        self.act = nn.LeakyReLU(0.2)
        self.logit = nn.Linear(fc_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.patch_px, self.patch_px):
            raise CamkitError(
                f"discriminator built for {self.patch_px}x{self.patch_px} patches got "
                f"{tuple(x.shape[-2:])}; crop to the recipe's patch_px or rebuild with it"
            )
        return self.logit(self.act(self.fc(self.features(x).flatten(1))))


# ------------------------------------------------------------------------------------ variants

VARIANTS: dict[str, dict[str, int]] = {
    # DPED/WESPE generator: 401,475 parameters, ~829 GMACs per 1080x1920 frame.
    "paper": {"channels": 64, "blocks": 4, "edge_kernel": 9, "unshuffle": 1},
    # phone-sized: convs at half resolution (pixel-unshuffle 2: 12 channels in and out), 16
    # channels, 3x3 edges, two residual blocks + the two plain convs: 17,280 MACs per
    # half-resolution position -> 8.96 GMACs per 1080x1920 frame (budget 10); 17,532 params.
    "mobile": {"channels": 16, "blocks": 2, "edge_kernel": 3, "unshuffle": 2},
    # for tests: the mobile graph with 8 channels and one block.
    "tiny": {"channels": 8, "blocks": 1, "edge_kernel": 3, "unshuffle": 2},
}

#: discriminator widths (5 convs) and FC features per variant (training only)
DISCRIMINATORS: dict[str, tuple[tuple[int, ...], int]] = {
    "paper": ((48, 128, 192, 192, 128), 1024),
    "mobile": ((48, 128, 192, 192, 128), 1024),  # training cost only: keep DPED's critic
    "tiny": ((8, 16, 16, 16, 16), 32),
}

#: the variant official DPED checkpoints fit (``import-weights`` default)
IMPORT_VARIANT = "paper"

SPEC = ModelSpec(
    model_id="enhance_wespe",
    task="photo enhancement (phone photo to DSLR-like)",
    title="WESPE / DPED ResNet enhancer",
    paper="Ignatov et al., WESPE: Weakly Supervised Photo Enhancer for Digital Cameras, CVPRW "
    "2018 (generator of DPED, ICCV 2017)",
    inputs=(TensorSpec("image", 3, description="sRGB phone photo"),),
    outputs=(
        TensorSpec(
            "enhanced", 3,
            description="enhanced sRGB photo (tanh head spans [-0.08, 1.08]; clip to display)",
        ),
    ),
    variants=tuple(VARIANTS),
    default_variant="mobile",
    default_size={"paper": (1080, 1920), "mobile": (1080, 1920), "tiny": (64, 64)},
    size_multiple=2,  # pixel-unshuffle 2 in mobile and tiny
    # Measured at 12 MP (benchmarks/full_resolution.md): the split (norm statistics from a
    # mosaic thumbnail) gives 23.2 dB (mobile) / 27.1 dB (DPED official weights) against the
    # whole photo, the resize 24.6 / 29.3; with the whole photo's statistics replayed, tiles
    # are exact (tests/test_fullres.py). The statistics of a
    # sample of the photo miss the whole photo's by 10-30 %, and exact ones need one pass over
    # the photo per statistic (8 for mobile, 16 for paper), which a phone app cannot afford.
    full_resolution=FullResolution(
        "resize", why="its instance norms need each channel's mean and variance over the whole "
        "photo: statistics from a thumbnail missed them by 10-30 % at 12 MP (split 23.2 dB, "
        "resize 24.6 dB against the whole photo, benchmarks/full_resolution.md)"),
)


def build(variant: str, checkpoint: str | Path | None = None) -> Generator:
    """Generator of the given variant; weights from ``checkpoint`` (safetensors) when given."""
    net = Generator(**VARIANTS[variant])
    if checkpoint is not None:
        load_weights(net, checkpoint, SPEC.model_id, variant)
    return net


def build_inverse(variant: str) -> InverseGenerator:
    """WESPE's inverse generator F for training (same architecture as the variant's G)."""
    return InverseGenerator(**VARIANTS[variant])


def build_discriminators(variant: str, patch_px: int) -> tuple[Discriminator, Discriminator]:
    """(colour, texture) discriminators: 3-channel blurred RGB and 1-channel grayscale."""
    widths, fc_features = DISCRIMINATORS[variant]
    return (
        Discriminator(3, patch_px, widths, fc_features),
        Discriminator(1, patch_px, widths, fc_features),
    )


# ------------------------------------------------------------------------------------ import

_CONV_NAME = re.compile(r"generator/W(\d+)")


def import_tf_variables(variables: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map a DPED TensorFlow generator (``models.py: resnet``) onto this module.

    Convs are ``generator/W{i}``/``b{i}`` (HWIO, transposed to OIHW) in graph order: W1 conv_in,
    W2..W(2B+1) the residual blocks' conv1/conv2, then two plain convs and conv_out. DPED's
    ``_instance_norm`` creates unnamed ``tf.Variable``s, shift before scale, so the k-th norm
    in graph order (k = 0, 1, ...) owns ``generator/Variable_{2k}`` (``Variable`` for k = 0) as
    shift and ``Variable_{2k+1}`` as scale. Optimizer slots and other scopes are ignored.
    """
    convs = sorted(int(m.group(1)) for k in variables if (m := _CONV_NAME.fullmatch(k)))
    blocks = (len(convs) - 4) // 2
    if blocks < 1 or convs != list(range(1, 2 * blocks + 5)):
        raise CamkitError(
            f"found convs W{convs} in the checkpoint, not DPED's W1..W12 under 'generator/'; "
            f"is it a DPED generator checkpoint (e.g. models_orig/iphone_orig)?"
        )
    conv_keys = ["conv_in"] + [f"blocks.{b}.conv{j}" for b in range(blocks) for j in (1, 2)]
    conv_keys += ["conv_mid1", "conv_mid2", "conv_out"]
    norm_keys = [f"blocks.{b}.norm{j}" for b in range(blocks) for j in (1, 2)]
    names: dict[str, tuple[str, bool]] = {}  # torch key -> (TF name, is a conv kernel)
    for i, key in enumerate(conv_keys, start=1):
        names[f"{key}.weight"] = (f"generator/W{i}", True)
        names[f"{key}.bias"] = (f"generator/b{i}", False)
    for k, key in enumerate(norm_keys):
        names[f"{key}.shift"] = ("generator/Variable" + (f"_{2 * k}" if k else ""), False)
        names[f"{key}.scale"] = (f"generator/Variable_{2 * k + 1}", False)
    used = {tf_name for tf_name, _ in names.values()}
    extra = sorted(
        k for k in variables if k.startswith("generator/") and k not in used and "/Adam" not in k
    )
    missing = sorted(tf_name for tf_name in used if tf_name not in variables)
    if missing or extra:
        raise CamkitError(
            f"checkpoint does not match DPED's generator (missing {missing[:3]}, unexpected "
            f"{extra[:3]}); import an official DPED checkpoint such as models_orig/iphone_orig"
        )
    state = {}
    for key, (tf_name, is_kernel) in names.items():
        value = np.asarray(variables[tf_name], dtype=np.float32)
        state[key] = torch.from_numpy(value.transpose(3, 2, 0, 1).copy() if is_kernel else value)
    return state
