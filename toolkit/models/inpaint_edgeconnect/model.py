"""EdgeConnect inpainting (Nazeri et al., "EdgeConnect: Structure Guided Image Inpainting using
Edge Prediction", ICCV Workshops 2019): G1 draws the missing edges, G2 fills the colours.

Facts checked against the official code (github.com/knazeri/edge-connect, ``src/networks.py``,
``src/models.py``, ``src/loss.py``, ``config.yml.example``): both generators are
7x7 conv -> two 4x4 stride-2 convs (64, 128, 256 channels) -> 8 residual blocks (3x3 conv with
dilation 2, 3x3 conv, instance norm, no ReLU after the sum) -> two 4x4 stride-2 transposed
convs -> 7x7 conv; instance norm + ReLU after every conv but the last; G1 ends in a sigmoid (an
edge probability), G2 in ``(tanh + 1) / 2``. G1 has spectral norm on every conv but the last;
the two 70x70 PatchGAN discriminators have it on every conv. ``paper`` here: 10.78 M (G1) and
10.79 M (G2) parameters (tests/test_edgeconnect.py asserts ~10.8 M).

The exported graph (``EdgeConnect.forward(image, mask)``, mask 1 = hole):

    known  = 1 - mask;  masked = image * known         # whatever is in the hole cannot leak
    edges  = CannyEdges(image, known)                  # in-graph Canny of the known region
    gray   = luma(masked)
    e_hat  = G1(gray, edges, mask)                     # sigmoid edge map
    e_comp = edges * known + e_hat * mask
    colour = G2(masked, e_comp, mask)
    out    = image * known + colour * mask             # known pixels pass through exactly

Swaps made for export, each documented: zero padding instead of ``ReflectionPad2d`` (one op
less per conv; reflection pads lower to MIRROR_PAD / reflect modes that converters support
unevenly; the receptive field is large either way); affine instance norm from
``toolkit.models._blocks.InstanceNorm`` (mean/var ops, kept float in w8a8) instead of
``nn.InstanceNorm2d``; the hole is fed as an explicit mask channel to both generators (the
official G1 gets it, G2 gets a white-filled hole instead; an extra input channel costs 3k
parameters); G2's output is a sigmoid (``(tanh(x) + 1) / 2 == sigmoid(2x)``, one op).

Variants (GMACs at 512x512, whole graph; counted by tests/test_edgeconnect.py):

* ``paper``: the official widths (64/128/256, 8 blocks each), ~10.8 M parameters per generator,
  ~388 GMACs at 512x512 (both generators run at full resolution).
* ``mobile``: <= 20 GMACs. A 3x3 conv at the 1/4-scale bottleneck costs 9 C^2 H W / 16 MACs,
  so the 16 residual convs of a generator dominate (~93 % in ``paper``); width 256 -> 64 cuts
  them 16x, and 8 -> 4 blocks halves them again. Widths 16/32/64 keep the encoder ratios.
  G1 stays at full resolution: edges are one pixel wide and a lower-resolution G1 would blur
  them before G2 (EdgeConnect's ablation shows edge quality drives the result). Result: about
  7.8 (G1) and 8.6 (G2) GMACs, 16.5 GMACs for the graph.
* ``tiny``: width 4/8/16, one block: the test variant.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations, parametrize

from toolkit.checkpoints import load_weights
from toolkit.errors import CamkitError
from toolkit.models._blocks import InstanceNorm, NormResidual
from toolkit.models.inpaint_edgeconnect.edges import LUMA, CannyEdges
from toolkit.spec import FullResolution, ModelSpec, TensorSpec

#: instance-norm epsilon of torch's nn.InstanceNorm2d, which the official code uses
NORM_EPS = 1e-5

# ------------------------------------------------------------------------------------- blocks


def _sn(module: nn.Module, on: bool) -> nn.Module:
    """Spectral norm (Miyato et al., ICLR 2018) on ``module.weight`` when ``on``."""
    return parametrizations.spectral_norm(module) if on else module


class ResnetBlock(nn.Module):
    """3x3 conv (dilation 2) - IN - ReLU - 3x3 conv - IN, plus the input (official ResnetBlock;
    no activation after the sum)."""

    def __init__(self, ch: int, sn: bool) -> None:
        super().__init__()
        self.conv1 = _sn(nn.Conv2d(ch, ch, 3, padding=2, dilation=2, bias=not sn), sn)
        self.norm1 = InstanceNorm(ch, eps=NORM_EPS)
        self.conv2 = _sn(nn.Conv2d(ch, ch, 3, padding=1, bias=not sn), sn)
        self.norm2 = InstanceNorm(ch, eps=NORM_EPS)
        self.merge = NormResidual()  # x + norm2(...), float in w8a8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merge(self.norm2(self.conv2(F.relu(self.norm1(self.conv1(x))))), x)


class Luma(nn.Module):
    """G1's grey input, ``LUMA``-weighted channels as a 1x1 conv with a fixed kernel, kept float
    in w8a8 like the edge operator's own luma (PT2E leaves a conv with a buffer weight
    unquantized on the LiteRT path anyway)."""

    W8A8_KEEP_FLOAT = True

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("luma", torch.tensor(LUMA).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return F.conv2d(image, self.luma)


class UpConv(nn.ConvTranspose2d):
    """EdgeConnect's 4x4 stride-2 transposed conv, kept float in w8a8 by default.

    Every format can quantize it now (ONNX natively, Core ML by camkit's transposed-conv
    pattern, LiteRT through the exact sub-pixel rewrite in toolkit/quantization/litert_ptq.py),
    but on the shipped mobile checkpoint int8 upsampling fails the budget: at 256x256, worst
    parity vs torch with these convs int8 was LiteRT 28.7 dB, Core ML (simulated) 28.7 dB,
    ONNX 40.4 dB (budget 30), against 36.1 / 36.2 / 41.3 dB
    with them float (benchmarks/float_defaults_inpaint_edgeconnect.md, written by
    ``benchmarks/float_defaults_int8.py --model inpaint_edgeconnect --int8 UpConv``). Same
    parameters and state-dict keys as ``nn.ConvTranspose2d``."""

    W8A8_KEEP_FLOAT = True


class ColourHead(nn.Conv2d):
    """G2's last conv (7x7, full resolution, the logits of the colours), kept float in w8a8 by
    default; G1's head stays int8.

    Its int8 output steps land directly in the filled hole: the logits span about +-10, so a
    per-tensor int8 step is ~0.08 of a logit, and nothing after it averages the error away. On
    the shipped mobile checkpoint at 256x256, held-apart mean / worst parity vs torch with it
    int8 was LiteRT 43.7 / 37.2, Core ML (simulated) 43.7 / 37.7 dB; float, 47.3 / 39.0 and
    47.4 / 39.4 dB, for 3.8% more float MACs (the accuracy search on 24 further photos picked it
    first: benchmarks/int8_shipped_mobile.md, frontier section; and
    benchmarks/float_defaults_inpaint_edgeconnect_head.md, written by
    ``benchmarks/float_defaults_int8.py --model inpaint_edgeconnect --int8 ColourHead``). Same
    parameters and state-dict keys as ``nn.Conv2d``."""

    W8A8_KEEP_FLOAT = True


class Generator(nn.Module):
    """EdgeConnect's encoder / dilated residual middle / decoder; ``out_ch`` logits.

    ``widths``: (stem, 1/2, 1/4 scale) channels; ``sn``: spectral norm on every conv but the
    head (G1 in training); ``float_head``: the head is a ``ColourHead`` (float in w8a8)."""

    def __init__(self, in_ch: int, out_ch: int, widths: tuple[int, int, int], blocks: int,
                 sn: bool, float_head: bool = False) -> None:
        super().__init__()
        w0, w1, w2 = widths
        layers: list[nn.Module] = []
        for c_in, c_out, k, s, p in ((in_ch, w0, 7, 1, 3), (w0, w1, 4, 2, 1), (w1, w2, 4, 2, 1)):
            layers += [_sn(nn.Conv2d(c_in, c_out, k, stride=s, padding=p), sn),
                       InstanceNorm(c_out, eps=NORM_EPS), nn.ReLU()]
        self.encoder = nn.Sequential(*layers)
        self.middle = nn.Sequential(*(ResnetBlock(w2, sn) for _ in range(blocks)))
        layers = []
        for c_in, c_out in ((w2, w1), (w1, w0)):
            layers += [_sn(UpConv(c_in, c_out, 4, stride=2, padding=1), sn),
                       InstanceNorm(c_out, eps=NORM_EPS), nn.ReLU()]
        self.decoder = nn.Sequential(*layers)
        self.head = (ColourHead if float_head else nn.Conv2d)(w0, out_ch, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(self.middle(self.encoder(x))))


class EdgeConnect(nn.Module):
    """The exported graph: ``forward(image, mask) -> inpainted`` (module docstring).

    ``forward_train`` also returns G1's edge map and G2's raw colours, and lets G2 take given
    edges (the recipe's stage-2 training on Canny edges)."""

    def __init__(self, widths: tuple[int, int, int], blocks: tuple[int, int],
                 spectral_norm_g1: bool = False) -> None:
        super().__init__()
        self.edges = CannyEdges()
        self.g1 = Generator(3, 1, widths, blocks[0], sn=spectral_norm_g1)
        self.g2 = Generator(5, 3, widths, blocks[1], sn=False, float_head=True)
        self.gray = Luma()

    def edge_stage(self, image: torch.Tensor, mask: torch.Tensor):
        """(masked image, known-region edges, G1's edge map) for ``image`` and ``mask``."""
        known = 1.0 - mask
        masked = image * known
        edges = self.edges(image, known) * known
        # = luma(masked) (luma is per pixel, known is 0/1), written so that no converter merges it
        # with the edge operator's identical conv of the masked image (ONNX did, and the merged
        # op lost this module's name, which w8a8 keeps float)
        gray = self.gray(image) * known
        predicted = torch.sigmoid(self.g1(torch.cat([gray, edges, mask], dim=1)))
        return masked, edges, predicted

    def forward_train(self, image: torch.Tensor, mask: torch.Tensor,
                      guide: torch.Tensor | None = None):
        """(inpainted, G1 edges, G2 colours, known-region edges); G2 is guided by ``guide``
        when given (full edge map), else by the composite of known edges and G1's."""
        masked, edges, predicted = self.edge_stage(image, mask)
        if guide is None:
            guide = edges * (1.0 - mask) + predicted * mask
        colour = torch.sigmoid(self.g2(torch.cat([masked, guide, mask], dim=1)))
        return masked + colour * mask, predicted, colour, edges

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.forward_train(image, mask)[0]


# ------------------------------------------------------------------------------ discriminator


class PatchDiscriminator(nn.Module):
    """Training only. The official 70x70 PatchGAN: 4x4 convs 64 s2, 128 s2, 256 s2, 512 s1, 1 s1
    (``width`` scales them), LeakyReLU 0.2, spectral norm on every conv, no bias.
    ``forward`` -> (logits, [features of every layer]) for the feature-matching loss."""

    def __init__(self, in_ch: int, width: int) -> None:
        super().__init__()
        chans = (in_ch, width, 2 * width, 4 * width, 8 * width, 1)
        strides = (2, 2, 2, 1, 1)
        self.convs = nn.ModuleList(
            _sn(nn.Conv2d(chans[i], chans[i + 1], 4, stride=strides[i], padding=1, bias=False),
                True) for i in range(5))

    def forward(self, x: torch.Tensor):
        features = []
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < 4:
                x = F.leaky_relu(x, 0.2)
            features.append(x)
        return x, features


# ------------------------------------------------------------------------------------ variants

VARIANTS: dict[str, dict] = {
    "paper": {"widths": (64, 128, 256), "blocks": (8, 8)},
    "mobile": {"widths": (16, 32, 64), "blocks": (4, 4)},
    "tiny": {"widths": (4, 8, 16), "blocks": (1, 1)},
}

#: discriminator base width per variant (official: 64)
DISCRIMINATORS: dict[str, int] = {"paper": 64, "mobile": 32, "tiny": 8}

SPEC = ModelSpec(
    model_id="inpaint_edgeconnect",
    task="image inpainting (fill a masked hole)",
    title="EdgeConnect edge-guided inpainting",
    paper="Nazeri et al., EdgeConnect: Structure Guided Image Inpainting using Edge Prediction, "
    "ICCV Workshops 2019",
    inputs=(TensorSpec("image", 3, description="sRGB photo; the hole's content is ignored"),
            TensorSpec("mask", 1, role="mask", description="1 = hole")),
    outputs=(TensorSpec("inpainted", 3, description="the photo with the hole filled; known "
                        "pixels are passed through"),),
    variants=tuple(VARIANTS),
    default_variant="mobile",
    default_size={"paper": (512, 512), "mobile": (512, 512), "tiny": (64, 64)},
    size_multiple=4,
    calibration_set="photos_pd",
    baselines=("telea", "navier_stokes", "biharmonic"),
    full_resolution=FullResolution(
        "split", why="both generators' instance norms take statistics over the whole image; "
        "those come from the thumbnails of the photo and its mask, the rest runs on tiles"),
)


def build_training(variant: str) -> EdgeConnect:
    """The training graph: G1 with spectral norm (as the official EdgeGenerator)."""
    if variant not in VARIANTS:
        raise CamkitError(f"unknown variant {variant!r}; choose one of {list(VARIANTS)}")
    return EdgeConnect(**VARIANTS[variant], spectral_norm_g1=True)


def remove_spectral_norm(net: nn.Module) -> nn.Module:
    """Bake every spectral norm into its plain weight (in place) and return ``net``."""
    for module in list(net.modules()):
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return net


def build(variant: str, checkpoint: str | Path | None = None) -> EdgeConnect:
    """The export graph of ``variant`` (no spectral norm anywhere); weights from ``checkpoint``
    (saved from the training graph) when given."""
    net = build_training(variant)
    if checkpoint is not None:
        load_weights(net, checkpoint, SPEC.model_id, variant)
    with torch.no_grad():
        net.eval()
        return remove_spectral_norm(net)


def build_discriminator(variant: str, in_ch: int) -> PatchDiscriminator:
    """D1 (``in_ch`` 2: gray + edges, as official) or D2 (``in_ch`` 3: RGB); training only."""
    return PatchDiscriminator(in_ch, DISCRIMINATORS[variant])


#: MACs per pixel of the in-graph Canny and the luma of G1's input: luma 3 + two 17+17-tap
#: blurs (image, known) 68 + Sobel 18 + erosion 9 + eight neighbour kernels 72 + G1 luma 3
EDGE_MACS_PER_PIXEL = 3 + 2 * 2 * 17 + 2 * 9 + 9 + 8 * 9 + 3


def graph_macs(variant: str, height_px: int, width_px: int) -> dict[str, int]:
    """MACs of the exported graph at one size: G1, G2 (toolkit.models._cost, on meta) and the
    fixed edge operator's convs (counted by hand: functional convs, not modules)."""
    from toolkit.models._cost import conv_linear_macs

    net = EdgeConnect(**VARIANTS[variant])
    g1 = conv_linear_macs(net.g1, 3, height_px, width_px)
    g2 = conv_linear_macs(net.g2, 5, height_px, width_px)
    edges = EDGE_MACS_PER_PIXEL * height_px * width_px
    return {"g1": g1, "g2": g2, "edges": edges, "total": g1 + g2 + edges}
