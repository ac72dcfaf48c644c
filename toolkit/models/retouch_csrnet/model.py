"""CSRNet: Conditional Sequential Modulation for efficient global image retouching.

He, Liu, Qiao, Dong. "Conditional Sequential Modulation for Efficient Global Image Retouching",
ECCV 2020. A base network of three 1x1 convolutions (a per-pixel MLP, so it can only express
global, position-independent colour and tone operations), modulated channel by channel by a
condition network that pools the whole image into one vector (GFM: global feature modulation).

Parameter names follow the authors' release so ``camkit import-weights`` loads it key for key.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from toolkit.checkpoints import load_weights
from toolkit.models._blocks import GlobalFeatureModulation, global_mean
from toolkit.spec import FullResolution, ModelSpec, TensorSpec

# ------------------------------------------------------------------------------------- blocks


class ConditionNet(nn.Module):
    """Three stride-2 convs (7x7, 3x3, 3x3) on the whole image, then a global mean.

    The authors zero-pad with ``nn.ZeroPad2d(1)`` before unpadded convs; ``padding=1`` in the
    conv is the same arithmetic with the same state-dict keys, and litert-torch 0.10 converts it
    with dynamic height and width (its ``constant_pad_nd`` lowering cannot).
    """

    #: w8a8 keeps the global mean float (toolkit/quantization/layers.py): an int8 condition
    #: vector moves every pixel of a channel by the same step (LiteRT quantizes MEAN otherwise)
    W8A8_FLOAT_LAYERS = {"mean": "the condition vector: an int8 step here shifts whole channels"}

    def __init__(self, in_nc: int, cond_nf: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_nc, cond_nf, 7, stride=2, padding=1)
        self.conv2 = nn.Conv2d(cond_nf, cond_nf, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(cond_nf, cond_nf, 3, stride=2, padding=1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return global_mean(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The local features the condition vector is the mean of (stride 8)."""
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        return self.act(self.conv3(x))


# -------------------------------------------------------------------------------------- model


class CSRNet(nn.Module):
    """Base network (1x1 convs) with a GFM after each conv, driven by the condition vector."""

    #: w8a8 keeps the condition head (six Linear layers on the 32-value pooled vector, 6k MACs
    #: per image) and the modulation (a per-channel multiply-add) float; the per-pixel 1x1 convs
    #: and the condition convs stay int8 (toolkit/quantization/layers.py reads this). Int8
    #: condition vectors and scales shift every pixel of a channel by the same step, and the GFM
    #: scale (up to 8x on the official weights) multiplies whatever rounding its input carries.
    #: cross-layer range equalization (toolkit/quantization/equalize.py): a conv's output
    #: channel c times k, the modulation's shift with it (x * (1 + s) + b is then k times
    #: larger, ReLU keeps the factor), the next conv's input channel c divided by k
    W8A8_EQUALIZE = (("conv1", ("cond_shift1",), "conv2"), ("conv2", ("cond_shift2",), "conv3"))
    W8A8_FLOAT_LAYERS = {
        **{f"cond_{kind}{i}": "condition head: 6k MACs per image; an int8 condition vector "
           "or scale shifts a whole channel" for kind in ("scale", "shift") for i in (1, 2, 3)},
        **{f"gfm{i}/*": "modulation x*(1+scale)+shift: no MACs; int8 scales up to 8x multiply "
           "the rounding of their input" for i in (1, 2, 3)},
        "act/*": "ReLU after a float modulation: an int8 ReLU input would spend half its steps "
        "on the negatives the ReLU drops (the next conv quantizes its output instead)",
    }

    def __init__(self, in_nc: int = 3, out_nc: int = 3, base_nf: int = 64, cond_nf: int = 32):
        super().__init__()
        self.cond_net = ConditionNet(in_nc, cond_nf)
        self.cond_scale1 = nn.Linear(cond_nf, base_nf)
        self.cond_scale2 = nn.Linear(cond_nf, base_nf)
        self.cond_scale3 = nn.Linear(cond_nf, out_nc)
        self.cond_shift1 = nn.Linear(cond_nf, base_nf)
        self.cond_shift2 = nn.Linear(cond_nf, base_nf)
        self.cond_shift3 = nn.Linear(cond_nf, out_nc)
        self.conv1 = nn.Conv2d(in_nc, base_nf, 1)
        self.conv2 = nn.Conv2d(base_nf, base_nf, 1)
        self.conv3 = nn.Conv2d(base_nf, out_nc, 1)
        self.act = nn.ReLU()
        # parameter-free: the state dict keeps the authors' keys
        self.gfm1 = GlobalFeatureModulation()
        self.gfm2 = GlobalFeatureModulation()
        self.gfm3 = GlobalFeatureModulation()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.pixels(image, self.cond_net(image))

    def pixels(self, image: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The base network on ``image``, modulated by the condition vector ``cond``."""
        x = self.act(self.gfm1(self.conv1(image), self.cond_scale1(cond), self.cond_shift1(cond)))
        x = self.act(self.gfm2(self.conv2(x), self.cond_scale2(cond), self.cond_shift2(cond)))
        # Unbounded, as in the paper: callers clip to [0, 1] when they write pixels, so parity
        # checks see every difference, also outside the displayable range.
        return self.gfm3(self.conv3(x), self.cond_scale3(cond), self.cond_shift3(cond))


class CSRNetSplit(nn.Module):
    """The full-resolution split (toolkit/fullres_split.py): the condition network reads the
    whole photo's thumbnail, the per-pixel base network (1x1 convs: exactly tileable) the tile.
    With the photo itself as its thumbnail it is CSRNet."""

    def __init__(self, net: CSRNet) -> None:
        super().__init__()
        self.inner = net  # "inner": layer ids drop it (toolkit/quantization/layers.py)

    def forward(self, image: torch.Tensor, image_thumbnail: torch.Tensor) -> torch.Tensor:
        return self.inner.pixels(image, self.inner.cond_net(image_thumbnail))


def split(net: CSRNet) -> CSRNetSplit:
    """The thumbnail split (``FullResolution(statistics="thumbnail")``: one artifact; kept for
    the thumbnail study in benchmarks/full_resolution.py)."""
    return CSRNetSplit(net)


class CSRNetFeatures(nn.Module):
    """The statistics artifact of the split by tiles: the condition network's local features
    (stride 8, a 19 px receptive field), whose mean over the whole photo is the condition."""

    def __init__(self, net: CSRNet) -> None:
        super().__init__()
        self.inner = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.inner.cond_net.features(image)


class CSRNetPixels(nn.Module):
    """The per-tile artifact of the split by tiles: the per-pixel network (1x1 convs) modulated
    by the condition, a (1, cond_nf, 1, 1) input. With the condition of the whole photo it is
    CSRNet on the whole photo, exactly."""

    #: CSRNet's w8a8 float layers and equalization: the same layers under the same ids
    W8A8_FLOAT_LAYERS = CSRNet.W8A8_FLOAT_LAYERS
    W8A8_EQUALIZE = CSRNet.W8A8_EQUALIZE

    def __init__(self, net: CSRNet) -> None:
        super().__init__()
        # CSRNet's per-pixel layers, shared (not the condition network: it is not in this
        # graph, and its default float op must not be looked for here)
        for name in ("conv1", "conv2", "conv3", "act", "gfm1", "gfm2", "gfm3",
                     *(f"cond_{k}{i}" for k in ("scale", "shift") for i in (1, 2, 3))):
            setattr(self, name, getattr(net, name))

    def forward(self, image: torch.Tensor, image_statistics: torch.Tensor) -> torch.Tensor:
        return CSRNet.pixels(self, image, image_statistics.flatten(1))


def split_statistics(net: CSRNet) -> tuple[CSRNetFeatures, CSRNetPixels]:
    """The split by tiles (``FullResolution(statistics="tiles")``, toolkit/fullres_split.py):
    (the features artifact's module, the per-tile artifact's module)."""
    return CSRNetFeatures(net), CSRNetPixels(net)


# ------------------------------------------------------------------------------------ variants

VARIANTS: dict[str, dict[str, int]] = {
    # ECCV 2020, section 4: base_nf 64, cond_nf 32 -> 36,489 parameters.
    "paper": {"base_nf": 64, "cond_nf": 32},
    # for tests: same graph, 8 channels everywhere.
    "tiny": {"base_nf": 8, "cond_nf": 8},
}

SPEC = ModelSpec(
    model_id="retouch_csrnet",
    task="global photo retouching",
    title="CSRNet (conditional sequential modulation)",
    paper="He et al., Conditional Sequential Modulation for Efficient Global Image Retouching, "
    "ECCV 2020",
    inputs=(TensorSpec("image", 3, description="sRGB photo to retouch"),),
    outputs=(TensorSpec("retouched", 3, description="retouched sRGB photo"),),
    variants=tuple(VARIANTS),
    default_variant="paper",
    default_size={"paper": (1080, 1920), "tiny": (64, 64)},
    full_resolution=FullResolution(
        "split", statistics="tiles",
        why="the condition network pools the whole photo into one vector: its features "
        "artifact runs over the photo by tiles (the mean of its local features is the whole "
        "photo's condition, exactly), then the per-pixel network (1x1 convs) runs per tile with "
        "that vector; a thumbnail misses it (benchmarks/full_resolution.md: 36-40 dB)"),
)


def build(variant: str, checkpoint: str | Path | None = None) -> CSRNet:
    """CSRNet of the given variant; weights from ``checkpoint`` (safetensors) when given."""
    net = CSRNet(**VARIANTS[variant])
    if checkpoint is not None:
        load_weights(net, checkpoint, SPEC.model_id, variant)
    return net


def import_state_dict(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the authors' release (``codes/models/archs/CSRNet_arch.py``) onto this module.

    The names already match; DataParallel checkpoints carry a ``module.`` prefix, dropped here.
    """
    return {k.removeprefix("module."): v for k, v in raw.items()}
