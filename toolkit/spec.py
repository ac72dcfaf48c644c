"""The contract every model, converter, check and demo reads: frozen dataclasses, no logic.

A ``ModelSpec`` lives in each ``toolkit/models/<id>/model.py``.  An ``ExportSpec`` pins a
ModelSpec to one variant, one input size (or a dynamic one), one memory layout and one I/O dtype;
converters, manifests and checks read shapes from it and nobody re-types a shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Precision ids. Never a bare "int8": the id says what is quantized.
PRECISIONS: dict[str, str] = {
    "fp32": "float32 weights and activations",
    "fp16": "float16 weights and activations (I/O stays float32)",
    "w8a8": "int8 weights (per-channel, symmetric) and int8 activations (per-tensor, calibrated)",
    "w8a16": "int8 weights (per-channel, symmetric), 16-bit integer activations (per-tensor, calibrated)",
    "w8": "int8 weights only (per-channel, symmetric), float activations",
}

LAYOUTS = ("nchw", "nhwc")

#: precisions with no quantization: float artifacts, no calibration
FLOAT_PRECISIONS = ("fp32", "fp16")

#: dtype of an exported model's input and output tensors -> how a stored value maps to the spec's
#: value: ``value = (stored - zero_point) * scale`` (None: the tensors hold the values themselves).
#: uint8 with scale 1/255 and zero point 0 is what a camera app has: RGB bytes, 0..255 for 0..1.
IO_DTYPES: dict[str, dict[str, float] | None] = {
    "float32": None,
    "uint8": {"scale": 1 / 255, "zero_point": 0},
}


@dataclass(frozen=True)
class TensorSpec:
    """One image tensor at a model boundary. Shapes are NCHW inside torch."""

    name: str
    channels: int
    value_range: tuple[float, float] = (0.0, 1.0)
    color_space: str = "srgb"
    dtype: str = "float32"
    description: str = ""
    #: what feeds this input: "image" (a photo, resized like one) or "mask" (1 channel, 1 = hole,
    #: 0 = keep; sample and calibration inputs get a seeded toolkit.data.masks.sample_mask), or
    #: "thumbnail": the whole photo's input ``of`` shrunk to ``size`` (a full-resolution split,
    #: toolkit/fullres.py ``thumbnail``), whatever size the other inputs have, or "statistics":
    #: the whole photo's statistics of the input ``of`` (a (1, 1) vector of ``channels``
    #: floats, the mean of a statistics artifact's features over the photo by tiles:
    #: toolkit/fullres.py ``statistics_pass``); an output: "image", or "features" (a split by
    #: tiles' features artifact, toolkit/export.py ``features_spec``)
    role: str = "image"
    #: a fixed (height, width), whatever the export's size (thumbnails); None: the export's size
    size: tuple[int, int] | None = None
    #: for a thumbnail: the name of the input it is the thumbnail of
    of: str = ""

    def shape(self, height: int | None, width: int | None, layout: str = "nchw") -> tuple:
        """Shape with batch 1; ``None`` marks a dynamic dimension."""
        if self.size is not None:
            height, width = self.size
        if layout == "nhwc":
            return (1, height, width, self.channels)
        return (1, self.channels, height, width)


#: how a model reaches photos larger than its artifact (toolkit/fullres.py, docs/full_resolution.md)
FULL_RES_STRATEGIES = {
    "tiles": "tiles of the artifact's size, overlapping by the measured receptive field, blended",
    "split": "what is global in the model (a condition vector, instance-norm statistics, pooled "
    "channel attention) comes from the whole photo: from a thumbnail the artifact takes beside "
    "each tile, or (statistics by tiles) from a features artifact run over the photo first; the "
    "rest runs per tile",
    "resize": "the photo is resized to the artifact's size and the result back (lossy: the "
    "fallback for models whose global operations cannot be split off)",
}


@dataclass(frozen=True)
class FullResolution:
    """A model's declared way to full resolution (``FULL_RES_STRATEGIES``); the tile margins
    are measured at export (``toolkit.fullres.receptive_radius``), never declared."""

    strategy: str = "resize"
    #: split: the thumbnail's size is the artifact's divided by this (rounded to the size
    #: multiple times the mosaic cells); ``camkit export --thumbnail HxW`` overrides it
    thumbnail_divisor: int = 2
    #: split: "mosaic" (crops of the photo at full scale, toolkit/fullres.py ``mosaic``) or
    #: "adaptive_average" (the photo shrunk)
    thumbnail_rule: str = "mosaic"
    #: a mosaic's cells per side
    mosaic_cells: int = 4
    #: split: where the global statistics come from: "thumbnail" (one artifact, the whole
    #: network on the thumbnail records them) or "tiles" (the model's ``split_statistics``: a
    #: features artifact runs over the photo by tiles first, the mean of its features is a
    #: vector input of the per-tile artifact; exact, for models whose statistics are one mean of
    #: local features, such as CSRNet's condition vector)
    statistics: str = "thumbnail"
    #: why this strategy (what is global in the model, what was measured)
    why: str = "the model declares no full-resolution plan"


@dataclass(frozen=True)
class ModelSpec:
    """What a model promises at its boundary, and how it is built and calibrated."""

    model_id: str
    task: str
    title: str
    paper: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    variants: tuple[str, ...]
    default_variant: str
    #: static export size per variant, (height, width)
    default_size: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: input height and width must be a multiple of this (1 = any size)
    size_multiple: int = 1
    calibration_set: str = "photos_pd"
    #: classical methods ``camkit check --data`` reports beside the model (toolkit/checks/baselines.py)
    baselines: tuple[str, ...] = ()
    #: how ``camkit check --data`` fits a photo to the artifact's size: "resize" (cover + centre
    #: crop) or "crop" (centre crop when large enough: for tasks where resizing changes the
    #: problem, e.g. a blur's size in pixels)
    data_fit: str = "resize"
    #: how photos larger than the artifact are processed (``FullResolution``)
    full_resolution: FullResolution = field(default_factory=FullResolution)


@dataclass(frozen=True)
class ExportSpec:
    """A ModelSpec pinned to one variant, size, layout and I/O dtype: what one artifact is."""

    model: ModelSpec
    variant: str
    height: int | None
    width: int | None
    layout: str = "nchw"
    #: a key of IO_DTYPES: the dtype of the artifact's input and output tensors
    io_dtype: str = "float32"

    @property
    def dynamic(self) -> bool:
        return self.height is None

    @property
    def sample_size(self) -> tuple[int, int]:
        """Size used for sample I/O: the static size, or the variant default when dynamic."""
        if self.height is None or self.width is None:
            return self.model.default_size[self.variant]
        return (self.height, self.width)

    @property
    def thumbnails(self) -> tuple[TensorSpec, ...]:
        """The thumbnail inputs of a full-resolution split export (empty otherwise)."""
        return tuple(t for t in self.model.inputs if t.role == "thumbnail")

    @property
    def statistics(self) -> tuple[TensorSpec, ...]:
        """The statistics inputs of a full-resolution split by tiles (empty otherwise)."""
        return tuple(t for t in self.model.inputs if t.role == "statistics")

    @property
    def split(self) -> bool:
        """A full-resolution split export (thumbnail or statistics inputs)."""
        return bool(self.thumbnails or self.statistics)

    def input_shapes(self) -> dict[str, tuple]:
        return {t.name: t.shape(self.height, self.width, self.layout) for t in self.model.inputs}

    def output_shapes(self) -> dict[str, tuple]:
        return {t.name: t.shape(self.height, self.width, self.layout) for t in self.model.outputs}

    def tags(self) -> list[str]:
        """Name tags that tell artifacts of one variant and precision apart."""
        tags = []
        if self.split:
            tags.append("split")
        if self.layout == "nhwc":
            tags.append("nhwc")
        if self.io_dtype != "float32":
            tags.append(self.io_dtype)
        if self.dynamic:
            tags.append("dyn")
        elif (self.height, self.width) != self.model.default_size[self.variant]:
            tags.append(f"{self.height}x{self.width}")
        return tags


@dataclass(frozen=True)
class Tolerance:
    """A budget for one format x precision, read from card.yaml."""

    psnr_db_min: float
    ssim_min: float
    #: largest allowed task-PSNR drop (float model minus artifact, dB) against ground truth
    task_drop_db_max: float
