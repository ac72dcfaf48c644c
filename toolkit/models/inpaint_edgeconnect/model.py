"""EdgeConnect inpainting (Nazeri et al., "EdgeConnect: Structure Guided Image Inpainting using
Edge Prediction", ICCV Workshops 2019): G1 draws the missing edges, G2 fills the colours.

Facts checked against the official code (github.com/knazeri/edge-connect, ``src/networks.py``,
``src/models.py``, ``src/loss.py``, ``config.yml.example``): both generators are
7x7 conv -> two 4x4 stride-2 convs (64, 128, 256 channels) -> 8 residual blocks (3x3 conv with
dilation 2, 3x3 conv, instance norm, no ReLU after the sum) -> two 4x4 stride-2 transposed
convs -> 7x7 conv; instance norm + ReLU after every conv but the last; G1 ends in a sigmoid (an
edge probability), G2 in ``(tanh + 1) / 2``. G1 has spectral norm on every conv but the last;
the two 70x70 PatchGAN discriminators have it on every conv. ``paper`` here: 10.77 M (G1) and
10.78 M (G2) parameters (tests/test_edgeconnect.py asserts ~10.8 M).

The exported graph (``EdgeConnect.forward(image, mask)``, mask 1 = hole):

    known  = 1 - mask;  masked = image * known         # whatever is in the hole cannot leak
    edges  = CannyEdges(image, known)                  # in-graph Canny of the known region
    paper (the official graph: EdgeModel.forward, InpaintingModel.forward, EdgeConnect.test):
      e_hat  = G1(luma(masked) + mask, edges, mask)    # sigmoid edge map; hole white
      colour = (tanh(G2(masked + mask, e_hat)) + 1) / 2   # RGB + G1's whole edge map, 4 ch
    mobile, tiny:
      e_hat  = G1(luma(masked), edges, mask)
      colour = sigmoid(G2(masked, edges * known + e_hat * mask, mask))   # 5 ch
    out    = image * known + colour * mask             # known pixels pass through exactly

``paper`` computes what the official code computes (reflection padding on the 7x7 stem, the
head and the residual convs; zero padding on the stride-2 convs, as there), so the authors'
``EdgeModel_gen.pth`` + ``InpaintingModel_gen.pth`` load key for key (``import_state_dict``;
G1's spectral norm is folded into plain weights; parity with the authors' code:
benchmarks/importers.md). One swap in every variant: affine instance norm from
``toolkit.models._blocks.InstanceNorm`` (mean/var ops, kept float in w8a8; scale 1, shift 0
when imported) instead of the non-affine ``nn.InstanceNorm2d``, same numbers.
``mobile`` and ``tiny`` deviate for export and training: zero padding (one op less per conv;
reflection pads lower to MIRROR_PAD / reflect modes that converters support unevenly; the
receptive field is large either way), a zero-filled hole, the hole as an explicit mask channel
into G2 too (3k parameters) with the known edges composited into G1's, and a sigmoid head
(``(tanh(x) + 1) / 2 == sigmoid(2x)``, one op); the shipped mobile checkpoint was trained so.

Variants (GMACs at 512x512, whole graph; counted by tests/test_edgeconnect.py):

* ``paper``: the official widths (64/128/256, 8 blocks each), ~10.8 M parameters per generator,
  ~387 GMACs at 512x512 (both generators run at full resolution).
* ``mobile``: <= 20 GMACs. A 3x3 conv at the 1/4-scale bottleneck costs 9 C^2 H W / 16 MACs,
  so the 16 residual convs of a generator dominate (~93 % in ``paper``); width 256 -> 64 cuts
  them 16x, and 8 -> 4 blocks halves them again. Widths 16/32/64 keep the encoder ratios.
  G1 stays at full resolution: edges are one pixel wide and a lower-resolution G1 would blur
  them before G2 (EdgeConnect's ablation shows edge quality drives the result). Result: about
  7.8 (G1) and 8.6 (G2) GMACs, 16.5 GMACs for the graph.
* ``tiny``: width 4/8/16, one block: the test variant.
"""

from __future__ import annotations

import re
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
    no activation after the sum). ``bias``: the official G1's block convs have none (they are
    spectral-normed), G2's have one; ``pad``: "reflect" (official ``ReflectionPad2d``) or
    "zeros"."""

    def __init__(self, ch: int, sn: bool, bias: bool, pad: str) -> None:
        super().__init__()
        self.conv1 = _sn(nn.Conv2d(ch, ch, 3, padding=2, dilation=2, bias=bias,
                                   padding_mode=pad), sn)
        self.norm1 = InstanceNorm(ch, eps=NORM_EPS)
        self.conv2 = _sn(nn.Conv2d(ch, ch, 3, padding=1, bias=bias, padding_mode=pad), sn)
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
    head (G1 in training); ``block_bias``: the residual blocks' convs have a bias (G2);
    ``reflect``: the 7x7 stem, the head and the residual convs pad by reflection, as the
    official code (the stride-2 convs pad zeros there too); ``float_head``: the head is a
    ``ColourHead`` (float in w8a8). Same state-dict keys either way."""

    def __init__(self, in_ch: int, out_ch: int, widths: tuple[int, int, int], blocks: int,
                 sn: bool, block_bias: bool, reflect: bool = False,
                 float_head: bool = False) -> None:
        super().__init__()
        self.in_ch = in_ch
        w0, w1, w2 = widths
        pad = "reflect" if reflect else "zeros"
        layers: list[nn.Module] = []
        for c_in, c_out, k, s, p, mode in ((in_ch, w0, 7, 1, 3, pad), (w0, w1, 4, 2, 1, "zeros"),
                                           (w1, w2, 4, 2, 1, "zeros")):
            layers += [_sn(nn.Conv2d(c_in, c_out, k, stride=s, padding=p, padding_mode=mode), sn),
                       InstanceNorm(c_out, eps=NORM_EPS), nn.ReLU()]
        self.encoder = nn.Sequential(*layers)
        self.middle = nn.Sequential(*(ResnetBlock(w2, sn, block_bias, pad)
                                      for _ in range(blocks)))
        layers = []
        for c_in, c_out in ((w2, w1), (w1, w0)):
            layers += [_sn(UpConv(c_in, c_out, 4, stride=2, padding=1), sn),
                       InstanceNorm(c_out, eps=NORM_EPS), nn.ReLU()]
        self.decoder = nn.Sequential(*layers)
        self.head = (ColourHead if float_head else nn.Conv2d)(w0, out_ch, 7, padding=3,
                                                              padding_mode=pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(self.middle(self.encoder(x))))


class EdgeConnect(nn.Module):
    """The exported graph: ``forward(image, mask) -> inpainted`` (module docstring).

    ``forward_train`` also returns G1's edge map and G2's raw colours, and lets G2 take given
    edges (the recipe's stage-2 training on Canny edges).

    ``official``: the official graph (``paper``): reflection padding, the hole filled white in
    G1's grey and G2's RGB input, G2 reads RGB + G1's whole edge map (4 channels, no mask; as the
    official ``EdgeConnect.test``), G2 ends in ``(tanh + 1) / 2``. Otherwise (``mobile``,
    ``tiny``): zero padding, the hole zero in both inputs, G2 reads RGB + the known edges
    composited with G1's + the mask (5 channels) and ends in a sigmoid."""

    def __init__(self, widths: tuple[int, int, int], blocks: tuple[int, int],
                 spectral_norm_g1: bool = False, official: bool = False) -> None:
        super().__init__()
        self.official = official
        self.edges = CannyEdges()
        self.g1 = Generator(3, 1, widths, blocks[0], sn=spectral_norm_g1, block_bias=False,
                            reflect=official)
        self.g2 = Generator(4 if official else 5, 3, widths, blocks[1], sn=False,
                            block_bias=True, reflect=official, float_head=True)
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
        if self.official:  # official EdgeModel.forward: grey * (1 - mask) + mask
            gray = gray + mask
        predicted = torch.sigmoid(self.g1(torch.cat([gray, edges, mask], dim=1)))
        return masked, edges, predicted

    def forward_train(self, image: torch.Tensor, mask: torch.Tensor,
                      guide: torch.Tensor | None = None):
        """(inpainted, G1 edges, G2 colours, known-region edges); G2 is guided by ``guide``
        when given (full edge map), else by the composite of known edges and G1's."""
        masked, edges, predicted = self.edge_stage(image, mask)
        if self.official:  # official InpaintingModel.forward on EdgeConnect.test's edges
            if guide is None:
                guide = predicted
            logits = self.g2(torch.cat([masked + mask, guide], dim=1))
            colour = (torch.tanh(logits) + 1.0) / 2.0
            return masked + colour * mask, predicted, colour, edges
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
    "paper": {"widths": (64, 128, 256), "blocks": (8, 8), "official": True},
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


def _has_spectral_norm(checkpoint: str | Path) -> bool:
    """Whether ``checkpoint`` was saved from the training graph (G1 spectral-normed) rather than
    with plain weights (``camkit import-weights``); True when unreadable (load_weights says why)."""
    try:
        from safetensors import safe_open

        with safe_open(str(checkpoint), framework="pt") as f:
            return any(".parametrizations." in key for key in f.keys())
    except Exception:  # noqa: BLE001 -- load_weights reports the real problem
        return True


def build(variant: str, checkpoint: str | Path | None = None) -> EdgeConnect:
    """The export graph of ``variant`` (no spectral norm anywhere); weights from ``checkpoint``
    (saved from the training graph, or imported with plain weights) when given."""
    if checkpoint is not None and variant in VARIANTS and not _has_spectral_norm(checkpoint):
        net = EdgeConnect(**VARIANTS[variant])
    else:
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
    g2 = conv_linear_macs(net.g2, net.g2.in_ch, height_px, width_px)
    edges = EDGE_MACS_PER_PIXEL * height_px * width_px
    return {"g1": g1, "g2": g2, "edges": edges, "total": g1 + g2 + edges}


# ------------------------------------------------------------------------- official weights

#: the official release is two files (``torch.save({'iteration', 'generator'})`` each);
#: ``camkit import-weights`` reads them (or a folder holding both) and prefixes each file's keys
#: with its generator, ``g1.`` / ``g2.``, before ``import_state_dict``
IMPORT_FILES = {"g1": "EdgeModel_gen.pth", "g2": "InpaintingModel_gen.pth"}
#: the variant the official weights fit
IMPORT_VARIANT = "paper"

# official Sequential indices (ReflectionPad2d modules take slots) -> camkit module names
_ENCODER = {"1": "encoder.0", "4": "encoder.3", "7": "encoder.6"}
_DECODER = {"0": "decoder.0", "3": "decoder.3", "7": "head"}
_BLOCK = {"1": "conv1", "5": "conv2"}
#: camkit norm after each conv (InstanceNorm2d is not affine there: scale 1, shift 0)
_NORM_AFTER = {"encoder.0": "encoder.1", "encoder.3": "encoder.4", "encoder.6": "encoder.7",
               "decoder.0": "decoder.1", "decoder.3": "decoder.4", "conv1": "norm1",
               "conv2": "norm2"}
_OFFICIAL_KEY = re.compile(r"^(g[12])\.(?:module\.)?(?:(encoder|decoder)\.(\d+)|middle\.(\d+)"
                           r"\.conv_block\.(\d+))\.(weight|bias|weight_orig|weight_u|weight_v)$")


def fold_spectral_norm(weight_orig: torch.Tensor, u: torch.Tensor, v: torch.Tensor,
                       dim: int = 0) -> torch.Tensor:
    """The weight ``torch.nn.utils.spectral_norm`` computes in eval mode: ``W / sigma``, sigma =
    ``u . (W_mat v)``, ``W_mat`` the weight with ``dim`` (1 for transposed convs) first,
    flattened to 2-D; the stored u, v are used as they are (no power iteration)."""
    w = weight_orig.double()
    if dim != 0:
        w = w.transpose(0, dim)
    sigma = torch.dot(u.double(), w.reshape(w.shape[0], -1) @ v.double())
    return (weight_orig.double() / sigma).to(weight_orig.dtype)


def import_state_dict(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the official ``EdgeModel_gen.pth`` (keys prefixed ``g1.``) and
    ``InpaintingModel_gen.pth`` (``g2.``) generators onto the ``paper`` export graph: official
    ``encoder.{1,4,7}`` -> ``encoder.{0,3,6}``, ``middle.N.conv_block.{1,5}`` ->
    ``middle.N.conv{1,2}``, ``decoder.{0,3}`` -> ``decoder.{0,3}``, ``decoder.7`` -> ``head``;
    spectral norm (``weight_orig``, ``weight_u``, ``weight_v``) folded into the plain weight
    (``fold_spectral_norm``); every instance norm gets scale 1, shift 0 (official norms are not
    affine). A DataParallel ``module.`` prefix is dropped."""
    out: dict[str, torch.Tensor] = {}
    spectral: dict[str, dict[str, torch.Tensor]] = {}
    seen = set()
    for key, value in raw.items():
        m = _OFFICIAL_KEY.match(key)
        name = None
        if m:
            g, part, index, block, inner, leaf = m.groups()
            seen.add(g)
            if part == "encoder":
                name = _ENCODER.get(index)
            elif part == "decoder":
                name = _DECODER.get(index)
            elif inner in _BLOCK:
                name = f"middle.{block}.{_BLOCK[inner]}"
        if name is None:
            raise CamkitError(
                f"unexpected key {key!r} in the official weights; pass the EdgeConnect "
                f"generator files {' and '.join(IMPORT_FILES.values())} (not the *_dis.pth "
                f"discriminators), or a folder holding both")
        target = f"{g}.{name}"
        if leaf in ("weight_orig", "weight_u", "weight_v"):
            spectral.setdefault(target, {})[leaf] = value
        else:
            out[f"{target}.{leaf}"] = value
    for g, file in IMPORT_FILES.items():
        if g not in seen:
            raise CamkitError(f"the official weights hold no {file} generator; pass both "
                              f"{' and '.join(IMPORT_FILES.values())}, or a folder holding both")
    for target, parts in spectral.items():
        if set(parts) != {"weight_orig", "weight_u", "weight_v"}:
            raise CamkitError(
                f"spectral norm of {target} is incomplete (has {sorted(parts)}, needs "
                f"weight_orig, weight_u, weight_v); get a complete copy of the official weights")
        out[f"{target}.weight"] = fold_spectral_norm(
            parts["weight_orig"], parts["weight_u"], parts["weight_v"],
            dim=1 if ".decoder." in target else 0)
    for key in [k for k in out if k.endswith(".weight")]:
        conv = key.removesuffix(".weight")
        g, _, local = conv.partition(".")
        norm_name = _NORM_AFTER.get(local.rpartition(".")[2] if ".conv" in local else local)
        if norm_name is None:
            continue
        channels = out[key].shape[1 if ".decoder." in key else 0]
        prefix = conv.rpartition(".")[0] + "." if ".conv" in local else f"{g}."
        out[f"{prefix}{norm_name}.scale"] = torch.ones(channels)
        out[f"{prefix}{norm_name}.shift"] = torch.zeros(channels)
    return out
