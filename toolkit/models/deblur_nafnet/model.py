"""NAFNet deblurrer: a U-Net of nonlinear-activation-free blocks (known camera-shake blur).

Chen, Chu, Zhang and Sun, "Simple Baselines for Image Restoration", ECCV 2022 (arXiv 2204.04676).
Architecture checked against the official code (github.com/megvii-research/NAFNet,
``basicsr/models/archs/NAFNet_arch.py``) and the GoPro width-32 option files
(``options/{train,test}/GoPro/NAFNet-width32.yml``); the code here is written afresh.

**NAFBlock** (paper section 3.3, figure 3c): ``y = x + beta * conv3(SCA(SG(dw3x3(conv1(LN(x))))))``
then ``out = y + gamma * conv5(SG(conv4(LN(y))))``: LayerNorm2d over channels, 1x1 conv c->2c,
3x3 depthwise conv, SimpleGate (split the channels in half, multiply the halves: 2c -> c),
simplified channel attention (global mean -> 1x1 conv -> multiply), 1x1 conv c->c; the second
half is a gated feed-forward 1x1 c->2c, SimpleGate, 1x1 c->c. ``beta`` and ``gamma`` are
learnable per-channel residual scales initialised to zero (official code), so an untrained block
is the identity. No ReLU/GELU anywhere: SimpleGate is the only nonlinearity (section 3.3).

**U-Net** (figure 3): 3x3 intro conv to ``width``; per encoder stage its blocks, then a 2x2
stride-2 conv doubling the channels; middle blocks; per decoder stage a bias-free 1x1 conv
c->2c + PixelShuffle(2) (so c -> c/2 at twice the size), add the encoder skip, its blocks;
3x3 ending conv to 3 channels plus the input (global residual: the net predicts the correction).

Export choices (each the same function as the paper's, written so every converter lowers it):

* **Channel-attention pooling is ``x.mean((2, 3), keepdim=True)``** (``_blocks.spatial_mean``,
  so a full-resolution split can take it from the photo's thumbnail), not AdaptiveAvgPool2d (whose
  kernel size depends on the input size) and not the test-time local converter (TLC, section
  4.4 / ``NAFNetLocal``), which replaces the global pool by a sliding-window mean whose window
  depends on the training patch size. TLC gains the paper ~0.1-0.3 dB at full resolution; it is
  not worth a size-dependent graph on a phone.
* **LayerNorm2d as explicit ops**: mean and biased variance over the channel axis, eps 1e-6 (the
  official ``LayerNormFunction``); no ``layer_norm`` op on a permuted tensor, so NCHW stays NCHW.
  Whether it stays float in w8a8 is ``LayerNorm2d.W8A8_KEEP_FLOAT`` (measured, see there).
* **No input padding inside the graph** (official ``check_image_size`` pads to a multiple of
  16): callers pass sizes that are multiples of ``SPEC.size_multiple`` (720x1280 is, for all
  variants), so the graph has no size-dependent pad and no output crop.

Parameter names follow the official checkpoint except ``sca.1`` -> ``sca.conv`` and
``ups.N.0`` -> ``ups.N.conv``; ``import_state_dict`` renames them (paper variant). The import
matches the authors' code output for output (max abs 6e-7, benchmarks/importers.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from toolkit.checkpoints import load_weights
from toolkit.errors import CamkitError
from toolkit.models._blocks import spatial_mean
from toolkit.spec import FullResolution, ModelSpec, TensorSpec

# ------------------------------------------------------------------------------------- blocks


class LayerNorm2d(nn.Module):
    """Per-pixel layer norm over channels: ``(x - mean_c) / sqrt(var_c + eps) * weight + bias``.

    w8a8 keeps it float (``W8A8_KEEP_FLOAT``, same mechanism as ``_blocks.InstanceNorm``). The
    statistics are per pixel over only ``c`` channels, but the int8 tensors are per-tensor: the
    squares of the centred values span [0, max^2] over every pixel, so one int8 step is far
    larger than a flat region's variance and rsqrt blows that error up by 1/std. Measured on the
    shipped mobile checkpoint at 256x256 (worst parity PSNR vs torch over photos_pd_blur, norms
    float -> int8): ONNX 52.9 -> 51.8 dB, LiteRT 51.0 -> 46.6 dB, Core ML (simulated) 52.4 ->
    51.8 dB. Both pass the 30 dB budget; float is kept for the 1-4 dB, at the price of a float
    island per norm on an NPU (not measured here: no phone). benchmarks/float_defaults_int8.py.
    """

    #: toolkit/quantization/layers.py reads it (w8a8 computes this block in float)
    W8A8_KEEP_FLOAT = True

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=1, keepdim=True)
        var = (centred * centred).mean(dim=1, keepdim=True)
        c = self.weight.shape[0]
        return centred * torch.rsqrt(var + self.eps) * self.weight.reshape(1, c, 1, 1) + (
            self.bias.reshape(1, c, 1, 1)
        )


def simple_gate(x: torch.Tensor) -> torch.Tensor:
    """SimpleGate (section 3.3): split the channels in half and multiply, 2c -> c."""
    a, b = x.chunk(2, dim=1)
    return a * b


class ChannelAttention(nn.Module):
    """Simplified channel attention (section 3.3): ``x * conv1x1(mean_hw(x))``, any input size."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv(spatial_mean(x))


class NAFBlock(nn.Module):
    """The paper's block (module docstring); expansion 2 in both halves, as in the paper.
    ``residual_init``: the initial value of ``beta`` and ``gamma`` (the paper's 0; see VARIANTS)."""

    def __init__(self, c: int, residual_init: float = 0.0) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, 2 * c, 1)
        self.conv2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c)
        self.sca = ChannelAttention(c)
        self.conv3 = nn.Conv2d(c, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.conv4 = nn.Conv2d(c, 2 * c, 1)
        self.conv5 = nn.Conv2d(c, c, 1)
        self.beta = nn.Parameter(torch.full((1, c, 1, 1), residual_init))
        self.gamma = nn.Parameter(torch.full((1, c, 1, 1), residual_init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv3(self.sca(simple_gate(self.conv2(self.conv1(self.norm1(x))))))
        y = x + h * self.beta
        h = self.conv5(simple_gate(self.conv4(self.norm2(y))))
        return y + h * self.gamma


class Up(nn.Module):
    """Bias-free 1x1 conv c -> 2c, then PixelShuffle(2): c/2 channels at twice the size."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, 2 * c, 1, bias=False)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


# -------------------------------------------------------------------------------------- model


class NAFNet(nn.Module):
    """NAFNet U-Net (module docstring). ``unshuffle`` > 1 adds a PixelUnshuffle stem: the U-Net
    runs at 1/unshuffle resolution on 3*unshuffle^2 channels and a PixelShuffle restores full
    resolution before the global residual (the ``mobile`` variant's change, see VARIANTS)."""

    def __init__(
        self, width: int, enc_blocks: tuple[int, ...], middle_blocks: int,
        dec_blocks: tuple[int, ...], unshuffle: int = 1, residual_init: float = 0.0,
    ) -> None:
        super().__init__()
        if len(enc_blocks) != len(dec_blocks):
            raise CamkitError(
                f"NAFNet needs one decoder stage per encoder stage, got {len(enc_blocks)} "
                f"encoder and {len(dec_blocks)} decoder block counts"
            )
        self.unshuffle = unshuffle

        def blocks(c: int, n: int) -> nn.Sequential:
            return nn.Sequential(*(NAFBlock(c, residual_init) for _ in range(n)))

        io_ch = 3 * unshuffle * unshuffle
        self.stem = nn.PixelUnshuffle(unshuffle) if unshuffle > 1 else nn.Identity()
        self.head = nn.PixelShuffle(unshuffle) if unshuffle > 1 else nn.Identity()
        self.intro = nn.Conv2d(io_ch, width, 3, padding=1)
        self.encoders, self.downs = nn.ModuleList(), nn.ModuleList()
        c = width
        for n in enc_blocks:
            self.encoders.append(blocks(c, n))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle_blks = blocks(c, middle_blocks)
        self.ups, self.decoders = nn.ModuleList(), nn.ModuleList()
        for n in dec_blocks:
            self.ups.append(Up(c))
            c //= 2
            self.decoders.append(blocks(c, n))
        self.ending = nn.Conv2d(width, io_ch, 3, padding=1)

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (stem x downsamplings)."""
        return self.unshuffle * 2 ** len(self.encoders)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.intro(self.stem(image))
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.middle_blks(x)
        for decoder, up, skip in zip(self.decoders, self.ups, reversed(skips)):
            x = decoder(up(x) + skip)
        return self.head(self.ending(x)) + image


# ------------------------------------------------------------------------------------ variants

VARIANTS: dict[str, dict] = {
    # official GoPro width-32 config (options/test/GoPro/NAFNet-width32.yml): enc [1, 1, 1, 28],
    # middle 1, dec [1, 1, 1, 1]; 17,111,907 parameters (tests/test_deblur_nafnet.py), 15.96 GMACs
    # per 256x256 patch (the paper's ~16 G for NAFNet-32), 224 GMACs per 720x1280 frame; the
    # official checkpoint scores 32.87 dB / 0.9606 on GoPro test (official readme.md).
    "paper": {"width": 32, "enc_blocks": (1, 1, 1, 28), "middle_blocks": 1,
              "dec_blocks": (1, 1, 1, 1)},
    # phone: <= 10 GMACs per 720x1280 frame (Blur2Blur = translator + this in 20). Changes: a 2x
    # PixelUnshuffle stem (the U-Net runs at 360x640 on 12 channels: full-resolution blocks
    # cost 4x the MACs of half-resolution ones and the first 2x2 conv of the paper already
    # halves the size after one block), width 16 and three stages (720 = 16 * 45 has no fourth
    # factor of 2 after the stem), the paper's deep-at-the-bottom layout kept (most blocks at
    # the coarsest level, where a block is cheapest and the receptive field is widest, which a
    # long camera-shake kernel needs). Numbers in card.yaml.
    "mobile": {"width": 16, "enc_blocks": (1, 2, 4), "middle_blocks": 6,
               "dec_blocks": (1, 1, 1), "unshuffle": 2},
    # for tests: same graph as paper (no stem), width 4, two stages. residual_init 0.5, not the
    # paper's 0: tests export *random* tiny weights, and with beta = gamma = 0 every block would
    # be multiplied away, so the parity checks would never see a layer norm, gate or attention.
    "tiny": {"width": 4, "enc_blocks": (1, 1), "middle_blocks": 1, "dec_blocks": (1, 1),
             "residual_init": 0.5},
}

SPEC = ModelSpec(
    model_id="deblur_nafnet",
    task="known-blur deblurring (camera shake)",
    title="NAFNet (nonlinear activation free network)",
    paper="Chen, Chu, Zhang and Sun, Simple Baselines for Image Restoration, ECCV 2022",
    inputs=(TensorSpec("image", 3, description="blurry sRGB photo"),),
    outputs=(TensorSpec("deblurred", 3, description="deblurred sRGB photo"),),
    variants=tuple(VARIANTS),
    default_variant="mobile",
    default_size={"paper": (720, 1280), "mobile": (720, 1280), "tiny": (64, 64)},
    # paper: 4 downsamplings; mobile: 2x stem + 3; tiny: 2 (16 covers all: 720 = 16 * 45)
    size_multiple=16,
    calibration_set="photos_pd_blur",
    baselines=("richardson_lucy", "wiener"),
    data_fit="crop",  # resizing a blurry photo would rescale its blur
    full_resolution=FullResolution(
        "split", why="each block's channel attention pools the whole image; the pooled vectors "
        "come from the thumbnail, the rest (convolutions, per-pixel LayerNorm) runs on tiles"),
)


def build(variant: str, checkpoint: str | Path | None = None) -> NAFNet:
    """NAFNet of the given variant; weights from ``checkpoint`` (safetensors) when given."""
    if variant not in VARIANTS:
        raise CamkitError(f"deblur_nafnet has no variant {variant!r}; pick one of {list(VARIANTS)}")
    net = NAFNet(**VARIANTS[variant])
    if checkpoint is not None:
        load_weights(net, checkpoint, SPEC.model_id, variant)
    return net


#: the variant the official weights fit (``camkit import-weights deblur_nafnet X.pth --out D``)
IMPORT_VARIANT = "paper"


def import_state_dict(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the authors' release (``NAFNet-GoPro-width32.pth``'s ``params``) onto the paper variant:
    drop a DataParallel ``module.`` prefix, rename ``sca.1.`` -> ``sca.conv.`` and
    ``ups.N.0.`` -> ``ups.N.conv.``; the other names already match."""
    out = {}
    for key, value in raw.items():
        key = key.removeprefix("module.").replace(".sca.1.", ".sca.conv.")
        out[re.sub(r"^ups\.(\d+)\.0\.", r"ups.\1.conv.", key)] = value
    return out
