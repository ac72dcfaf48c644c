"""Full-resolution splits (torch): the module a ``split`` model exports, and its thumbnails.

A model whose only global operations are statistics of the whole image (CSRNet's condition
vector, WESPE's and EdgeConnect's instance norms, NAFNet's pooled channel attention) cannot be
tiled as it is: each tile would compute its own statistics. Its split artifact takes, beside
every input, a *thumbnail* of the whole photo's input (``<input>_thumbnail``, a fixed size,
``toolkit.fullres.thumbnail``) and computes every global statistic from the thumbnail; the
rest runs on the tile, which is then local and tiles like any convolutional model.

Two ways to build it:

* the model's own ``split(net)`` (its model.py), when it can do better: CSRNet runs only its
  condition network on the thumbnail and its per-pixel network (1x1 convs) on the tile;
* ``StatisticsSplit`` for any model whose global statistics go through
  ``toolkit.models._blocks.spatial_mean`` (``InstanceNorm``, ``global_mean``, NAFNet's
  channel attention): the whole network runs on the thumbnail recording every statistic, then
  on the tile replaying them in the same order. The thumbnail pass costs (thumbnail pixels /
  tile pixels) of a tile's pass, 1/4 with the default divisor 2.

Why one artifact with two inputs, not a condition artifact and a per-pixel artifact: every
format, precision, I/O dtype, calibration set and parity check works on it unchanged (the
thumbnail is an image like the photo), and an app feeds two images, never a model-specific
vector; the price is the thumbnail pass once per tile instead of once per photo (CSRNet paper
at 1080x1920 with its default 540x960 mosaic thumbnail: the condition network's 0.97 GMAC
per tile beside the per-pixel network's 9.3; toolkit/models/_cost.py counts).
"""

from __future__ import annotations

import math
from dataclasses import replace

from torch import nn

from toolkit.errors import CamkitError
from toolkit.models._blocks import STATISTICS
from toolkit.spec import ModelSpec, TensorSpec


class StatisticsSplit(nn.Module):
    """``forward(*inputs, *thumbnails)``: ``net`` on the tile with every ``spatial_mean`` taken
    from ``net``'s pass over the thumbnails (module docstring)."""

    def __init__(self, net: nn.Module, inputs: int) -> None:
        super().__init__()
        self.inner = net  # "inner": layer ids drop it (toolkit/quantization/layers.py)
        self.inputs = inputs

    def forward(self, *xs):
        tiles, thumbs = xs[:self.inputs], xs[self.inputs:]
        STATISTICS.mode, STATISTICS.kept = "record", []
        try:
            self.inner(*thumbs)
            if not STATISTICS.kept:
                raise CamkitError("the model computed no global statistic through "
                                  "toolkit.models._blocks.spatial_mean: it needs no split; "
                                  "declare FullResolution('tiles')")
            STATISTICS.mode = "replay"
            out = self.inner(*tiles)
            if STATISTICS.kept:
                raise CamkitError("the tile pass used fewer statistics than the thumbnail pass "
                                  "kept: the model's global operations depend on the input "
                                  "size; it cannot be split (declare 'resize')")
        finally:
            STATISTICS.mode, STATISTICS.kept = None, []
        return out


def thumbnail_size(model: ModelSpec, height: int, width: int,
                   size: tuple[int, int] | None = None) -> tuple[int, int]:
    """The thumbnail of a split export of ``height`` x ``width``: ``size`` when given (checked
    against the size multiple), else the export's size over the model's divisor, rounded to the
    size multiple."""
    fr = model.full_resolution
    m = model.size_multiple
    cells = fr.mosaic_cells if fr.thumbnail_rule == "mosaic" else 1
    step = math.lcm(m, cells)
    if size is not None:
        th, tw = size
        if th < step or tw < step or th % step or tw % step:
            raise CamkitError(f"thumbnail {th}x{tw}: {model.model_id} needs sides that are "
                              f"multiples of {step} (its size multiple {m}, {cells} mosaic "
                              f"cells)")
        return th, tw
    d = fr.thumbnail_divisor
    return (max(step, round(height / d / step) * step), max(step, round(width / d / step) * step))


def split_model_spec(model: ModelSpec, size: tuple[int, int]) -> ModelSpec:
    """``model`` with a thumbnail input of ``size`` after its inputs (what a split export is)."""
    if any(t.role == "thumbnail" for t in model.inputs):
        return model
    thumbs = tuple(TensorSpec(f"{t.name}_thumbnail", t.channels, t.value_range, t.color_space,
                              description=f"the whole photo's {t.name}, shrunk to {size[0]}x"
                              f"{size[1]} (toolkit.fullres.thumbnail)", role="thumbnail",
                              size=tuple(size), of=t.name)
                   for t in model.inputs)
    return replace(model, inputs=model.inputs + thumbs)


def split_module(model: ModelSpec, net: nn.Module) -> nn.Module:
    """The module a split export converts: the model's own ``split(net)``, else
    ``StatisticsSplit``."""
    from toolkit import registry

    if model.full_resolution.strategy != "split":
        raise CamkitError(f"{model.model_id} declares full resolution by "
                          f"'{model.full_resolution.strategy}', not 'split'")
    own = getattr(registry.model_module(model.model_id), "split", None)
    inputs = sum(t.role != "thumbnail" for t in model.inputs)
    return (own(net) if own is not None else StatisticsSplit(net, inputs)).eval()
