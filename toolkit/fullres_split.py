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

**Statistics by tiles** (``FullResolution(statistics="tiles")``; the model's
``split_statistics(net)`` returns (features module, per-tile module)): for a model whose only
global operation is one mean of local features (CSRNet's condition vector), a thumbnail is an
estimate (the mosaic reaches 36-40 dB on the authors' CSRNet at 12 MP) where the exact value is
cheap: a *features artifact* (``<artifact>.statistics.<suffix>``, float32, beside the per-tile
artifact and named by its manifest) runs over the photo by tiles first, and the mean of its
features over the photo (each feature taken from a tile that holds its whole receptive field:
toolkit/fullres.py ``statistics_pass``) is the per-tile artifact's ``<input>_statistics``
input, a (1, 1) vector. CSRNet's condition network then reads the whole photo once at full
scale (3.9 GMAC per 1080x1920 tile-sized pass) and the per-pixel network each tile once.

Why the thumbnail split is one artifact with two inputs, not a condition artifact and a
per-pixel artifact: every
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


def statistics_channels(model: ModelSpec, variant: str) -> int:
    """The channels of ``model``'s features artifact (statistics by tiles), from the
    variant's module on a small input."""
    import torch

    from toolkit import registry

    mod = registry.model_module(model.model_id)
    features, _ = mod.split_statistics(mod.build(variant))
    probe = [torch.zeros(1, t.channels, 64, 64) for t in model.inputs if t.role == "image"]
    with torch.no_grad():
        return int(features.eval()(*probe).shape[1])


def split_model_spec(model: ModelSpec, size: tuple[int, int] | None,
                     channels: int | None = None) -> ModelSpec:
    """``model`` with a thumbnail input of ``size`` after its inputs (what a split export is),
    or with a statistics input of ``channels`` for a split by tiles."""
    if any(t.role in ("thumbnail", "statistics") for t in model.inputs):
        return model
    if model.full_resolution.statistics == "tiles":
        if channels is None:
            raise CamkitError(f"{model.model_id}: a split by tiles needs its statistics' "
                              f"channels (toolkit.fullres_split.statistics_channels)")
        image = next(t for t in model.inputs if t.role == "image")
        stats = TensorSpec(f"{image.name}_statistics", channels, (-math.inf, math.inf),
                           "features", description=f"the mean over the whole photo of the "
                           f"features artifact's output on {image.name} (statistics by tiles)",
                           role="statistics", size=(1, 1), of=image.name)
        return replace(model, inputs=model.inputs + (stats,))
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
    mod = registry.model_module(model.model_id)
    if model.full_resolution.statistics == "tiles":
        features, pixels = mod.split_statistics(net)
        # not a submodule: the per-tile artifact converts ``pixels`` alone
        object.__setattr__(pixels, "statistics_features", features.eval())
        return pixels.eval()
    own = getattr(mod, "split", None)
    inputs = sum(t.role != "thumbnail" for t in model.inputs)
    return (own(net) if own is not None else StatisticsSplit(net, inputs)).eval()


def features_module(module: nn.Module) -> nn.Module:
    """The features module of a split by tiles' per-tile module (``split_module``)."""
    features = getattr(module, "statistics_features", None)
    if features is None:
        raise CamkitError("this module is not a split by tiles (no statistics_features); build "
                          "it with toolkit.fullres_split.split_module")
    return features


def features_artifact(fmt, folder, entry: dict):
    """A split by tiles' features artifact (manifest ``full_resolution.statistics.artifact``
    ``entry``, in ``folder``), loaded by the format module ``fmt``, as ``run(*tiles_hwc) ->
    features_hwc``: float32 HWC in and out, whatever the artifact's layout."""
    import numpy as np

    from toolkit.data.io import from_layout, to_layout

    runner = fmt.load(folder / entry["file"])
    io = entry["io"]
    out = io["outputs"][0]

    def run(*tiles):
        feeds = {t["name"]: to_layout(x, t["layout"]) for t, x in zip(io["inputs"], tiles)}
        return from_layout(np.asarray(runner(feeds)[out["name"]], np.float32), out["layout"])

    return run


def complete_feeds(feeds: dict, spec, module: nn.Module) -> dict:
    """``feeds`` (toolkit.quantization.calibration.feeds_for: the fitted image, in the spec's
    layout) with each statistics input: the mean of the features module over that image (the
    whole image the artifact sees, so the exact statistics of the sample). Unchanged for
    exports without statistics inputs."""
    if not spec.statistics:
        return feeds
    import numpy as np
    import torch

    from toolkit.data.io import from_layout, to_layout

    features = features_module(module)
    out = dict(feeds)
    for t in spec.statistics:
        image = from_layout(feeds[t.of], spec.layout)
        with torch.no_grad():
            f = features(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None])
        vector = f.mean(dim=(2, 3))[0].numpy().astype(np.float32)
        out[t.name] = to_layout(vector[None, None, :], spec.layout)
    return out
