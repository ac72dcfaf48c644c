"""Core ML: torch.export -> coremltools ML program (.mlpackage); MLModel runner on macOS only.

The prepared module is captured with ``torch.export`` (``torch.jit.trace`` is not used: TorchScript
is deprecated, and coremltools 9.0's TorchScript frontend fails on CSRNet's
``reshape(n, c, 1, 1)`` with "only 0-dimensional arrays can be converted to Python scalars").
coremltools 9.0 is tested up to torch 2.7 and says so on import; the ``torch.export`` frontend
converts torch 2.13 programs fine, and the warning stays inside ``quiet()``.

Precision is Core ML's own ``compute_precision``: fp16 stores weights and runs ops in float16
while the model's I/O stays float32 (casts at the boundary), the same contract as onnx.py.

Deployment target iOS 16 / macOS 13 (both spec version 7), a module constant: its opset adds
the ``constexpr_*`` weight-decompression ops that weight-only int8 (``w8``) will need, so adding
that precision does not move the target; iOS 17 would drop A11 devices (iPhone 8 / X) and is
only required for int8 activations (``w8a8``), which this module does not export.

Core ML *prediction* needs macOS (``libcoremlpython``). Elsewhere ``load`` raises a one-line
error, ``can_run()`` is False, and checks fall back to ``inspect``/``verify``: the saved spec,
its I/O names and shapes, the op histogram and the precision of the MIL program.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
from torch import nn

from toolkit._quiet import quiet
from toolkit.conversion._common import Calibration, dynamic_hw, example_inputs
from toolkit.errors import CamkitError, missing_extra, unknown
from toolkit.spec import ExportSpec

name = "coreml"
suffix = "mlpackage"
precisions = ("fp32", "fp16")
extra = "coreml"
requires = ("coremltools",)

#: oldest OS the packages load on (see the module docstring); read as ``ct.target.<name>``
DEPLOYMENT_TARGET = "iOS16"

#: bounds of a dynamic height/width (rounded to the model's size_multiple)
DYNAMIC_MIN, DYNAMIC_MAX = 16, 8192

#: compute units a macOS runner may use; "all" is what an app gets by default
COMPUTE_UNITS = {
    "all": "ALL",
    "cpu_only": "CPU_ONLY",
    "cpu_and_gpu": "CPU_AND_GPU",
    "cpu_and_ne": "CPU_AND_NE",
}

_NOT_ON_MACOS = (
    "Core ML prediction needs macOS; on this platform camkit verifies the spec, I/O and op "
    "histogram only"
)
_VERBOSE_HINT = "rerun with CAMKIT_VERBOSE=1 to see the converter log"


def _coremltools():
    """coremltools, imported without its noise (sklearn, torch version, libcoremlpython)."""
    try:
        with quiet():
            import coremltools
    except ImportError:
        raise missing_extra("coremltools", extra) from None
    return coremltools


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


# ------------------------------------------------------------------------------------- export


def _input_shape(ct, spec: ExportSpec, tensor) -> tuple:
    """The spec's shape of ``tensor``, with ``ct.RangeDim`` for a dynamic height and width."""
    if not spec.dynamic:
        return tensor.shape(spec.height, spec.width, spec.layout)
    # Core ML ranges have no step: the size_multiple only rounds the bounds, and the metadata
    # ("camkit.size_multiple") tells apps to honour it.
    m = spec.model.size_multiple
    lower, upper = -(-DYNAMIC_MIN // m) * m, DYNAMIC_MAX // m * m
    h, w = (ct.RangeDim(lower, upper, default=size) for size in spec.sample_size)
    return tensor.shape(h, w, spec.layout)


def _describe(mlmodel, spec: ExportSpec, precision: str) -> None:
    """Model and tensor descriptions, as Xcode and apps read them."""
    model = spec.model
    size = "dynamic" if spec.dynamic else f"{spec.height}x{spec.width}"
    mlmodel.short_description = (
        f"camkit {model.model_id} ({spec.variant}, {precision}, {spec.layout}, {size}): "
        f"{model.title}"
    )
    mlmodel.user_defined_metadata.update(
        {
            "camkit.model_id": model.model_id,
            "camkit.variant": spec.variant,
            "camkit.precision": precision,
            "camkit.layout": spec.layout,
            "camkit.size_multiple": str(model.size_multiple),
        }
    )
    for tensors, descriptions in (
        (model.inputs, mlmodel.input_description),
        (model.outputs, mlmodel.output_description),
    ):
        for t in tensors:
            lo, hi = t.value_range
            descriptions[t.name] = (
                f"{t.description or t.name}; {t.color_space} in [{lo:g}, {hi:g}], {spec.layout}"
            )


def export(
    module: nn.Module, spec: ExportSpec, precision: str, out_dir: Path, calib: Calibration
) -> Path:
    import torch

    if precision not in precisions:
        raise unknown("Core ML precision", precision, precisions)
    ct = _coremltools()
    path = Path(out_dir) / f"model.{suffix}"
    inputs = [
        ct.TensorType(name=t.name, shape=_input_shape(ct, spec, t), dtype=np.float32)
        for t in spec.model.inputs
    ]
    outputs = [ct.TensorType(name=t.name, dtype=np.float32) for t in spec.model.outputs]
    compute_precision = ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32
    what = f"{spec.model.model_id} (dynamic height/width)" if spec.dynamic else spec.model.model_id
    fix = "export a fixed size instead, or " if spec.dynamic else ""
    with quiet():
        try:
            program = torch.export.export(
                module, example_inputs(spec), dynamic_shapes=dynamic_hw(module, spec)
            ).run_decompositions({})  # coremltools takes the ATEN dialect
        except Exception as e:  # torch.export raises many types (UserError, guard errors, ...)
            raise CamkitError(
                f"torch.export of {what} for Core ML failed: {_first_line(e)}; {fix}{_VERBOSE_HINT}"
            ) from None
        try:
            mlmodel = ct.convert(
                program,
                inputs=inputs,
                outputs=outputs,
                convert_to="mlprogram",
                minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
                compute_precision=compute_precision,
                skip_model_load=True,  # no compile/load: nothing runs it here, and Linux cannot
            )
        except Exception as e:  # each converter pass raises its own types
            raise CamkitError(
                f"Core ML conversion of {what} failed: {_first_line(e)}; {fix}{_VERBOSE_HINT}"
            ) from None
    _describe(mlmodel, spec, precision)
    with quiet():
        mlmodel.save(str(path))
    return path


# ------------------------------------------------------------------------------------ inspect


def _load_spec(path: Path):
    """The saved package's protobuf spec (model description + MIL program)."""
    path = Path(path)
    if not (path / "Manifest.json").is_file():
        raise CamkitError(f"{path} is not a Core ML package (no Manifest.json); export it again")
    ct = _coremltools()
    try:
        with quiet():
            return ct.utils.load_spec(str(path))
    except Exception as e:
        raise CamkitError(f"cannot read Core ML package {path}: {_first_line(e)}") from None


def _main_block(proto):
    kind = proto.WhichOneof("Type")
    if kind != "mlProgram":
        found = f"a {kind} model" if kind else "no model"
        raise CamkitError(f"expected a Core ML ML program, found {found}; export it again")
    function = proto.mlProgram.functions["main"]
    return function, function.block_specializations[function.opset]


def _dims(value_type) -> list:
    """MIL tensor type -> shape list, None for an unknown (dynamic) dimension."""
    tensor = value_type.tensorType
    return [d.constant.size if d.WhichOneof("dimension") == "constant" else None
            for d in tensor.dimensions]


def _operations(block):
    """Every operation of a block, nested blocks (cond, while_loop) included."""
    for op in block.operations:
        yield op
        for inner in op.blocks:
            yield from _operations(inner)


def _io_types(proto) -> tuple[dict, dict]:
    """{name: MIL ValueType} of the main function's inputs and outputs."""
    function, block = _main_block(proto)
    values = {i.name: i.type for i in function.inputs}
    for op in block.operations:
        values.update((o.name, o.type) for o in op.outputs)
    inputs = {i.name: i.type for i in function.inputs}
    outputs = {n: values[n] for n in block.outputs}
    return inputs, outputs


def _histogram(block) -> dict[str, int]:
    counts = Counter(op.type for op in _operations(block) if op.type != "const")
    return dict(sorted(counts.items()))


def _summary(proto) -> dict:
    inputs, outputs = _io_types(proto)
    _, block = _main_block(proto)
    return {
        "inputs": {n: _dims(t) for n, t in inputs.items()},
        "outputs": {n: _dims(t) for n, t in outputs.items()},
        "ops": _histogram(block),
    }


def inspect(path: Path) -> dict:
    """I/O names and shapes (None = dynamic) and the op histogram of a saved package.

    ``ops`` counts MIL operations except ``const`` (weights and attributes, which ONNX keeps as
    initializers). Reads the protobuf only, so it works on every platform.
    """
    return _summary(_load_spec(path))


# ------------------------------------------------------------------------------------- verify

_FLOAT_TYPES = ("FLOAT16", "FLOAT32")


def _float_dtypes(proto) -> tuple[Counter, Counter]:
    """Float dtype counts of compute-op outputs (casts excluded) and of weights (const ops)."""
    from coremltools.proto import MIL_pb2

    names = MIL_pb2.DataType.Name
    _, block = _main_block(proto)
    compute, weights = Counter(), Counter()
    for op in _operations(block):
        if op.type == "cast":
            continue  # the float32 <-> float16 boundary of an fp16 model
        target = weights if op.type == "const" else compute
        for out in op.outputs:
            dtype = names(out.type.tensorType.dataType)
            if dtype in _FLOAT_TYPES and (op.type != "const" or out.type.tensorType.rank > 0):
                target[dtype] += 1
    return compute, weights


def _precision_problems(proto, precision: str) -> list[str]:
    compute, weights = _float_dtypes(proto)
    if precision == "fp32":
        if compute["FLOAT16"] or weights["FLOAT16"]:
            return [
                f"precision fp32 expected, but {compute['FLOAT16']} ops compute and "
                f"{weights['FLOAT16']} weights are stored in float16"
            ]
        return []
    problems = []
    if not compute["FLOAT16"]:
        problems.append(f"precision fp16 expected, but no op computes in float16 "
                        f"({compute['FLOAT32']} in float32)")
    elif compute["FLOAT32"] > compute["FLOAT16"]:
        # coremltools keeps an op in float32 when a constant would overflow float16; a few such
        # ops are fine, a mostly-float32 program is not an fp16 model
        problems.append(f"precision fp16 expected, but {compute['FLOAT32']} of "
                        f"{sum(compute.values())} float ops compute in float32")
    if weights["FLOAT32"] > weights["FLOAT16"]:
        problems.append(f"precision fp16 expected, but {weights['FLOAT32']} of "
                        f"{sum(weights.values())} weight tensors are stored in float32")
    return problems


def _io_problems(kind: str, found: dict, expected: dict, dtypes: dict) -> list[str]:
    if list(found) != list(expected):
        return [f"{kind} names {list(found)} != spec {list(expected)}"]
    problems = []
    for n, shape in expected.items():
        if tuple(found[n]) != tuple(shape):
            problems.append(f"{kind} '{n}' shape {list(found[n])} != spec {list(shape)}")
        if dtypes[n] != "FLOAT32":
            problems.append(f"{kind} '{n}' is {dtypes[n]}, the spec says float32")
    return problems


def _range_problems(description, spec: ExportSpec) -> list[str]:
    """A dynamic input must accept the spec's sample size."""
    problems = []
    h_axis, w_axis = (1, 2) if spec.layout == "nhwc" else (2, 3)
    for feature in description.input:
        ranges = feature.type.multiArrayType.shapeRange.sizeRanges
        for axis, size in zip((h_axis, w_axis), spec.sample_size):
            if len(ranges) <= axis:
                continue  # not ranged (an enumerated shape set): the shape check reported it
            lo, hi = ranges[axis].lowerBound, ranges[axis].upperBound
            if not (lo <= size and (hi < 0 or size <= hi)):
                problems.append(
                    f"input '{feature.name}' axis {axis} accepts {lo}..{hi}, not the sample {size}"
                )
    return problems


def verify(path: Path, spec: ExportSpec, precision: str) -> list[str]:
    """What the saved package gets wrong against ``spec`` and ``precision`` ([] = nothing).

    Static verification, runnable anywhere: model type, I/O names, shapes (None = dynamic) and
    float32 I/O, the precision of the MIL program, and the camkit metadata written by export.
    """
    if precision not in precisions:
        raise unknown("Core ML precision", precision, precisions)
    try:
        proto = _load_spec(path)
        _main_block(proto)
    except CamkitError as e:
        return [str(e)]
    from coremltools.proto import FeatureTypes_pb2

    array_dtype = FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name
    description = proto.description
    dtypes = {
        f.name: array_dtype(f.type.multiArrayType.dataType) if f.type.HasField("multiArrayType")
        else f.type.WhichOneof("Type")
        for f in (*description.input, *description.output)
    }
    found = _summary(proto)
    problems = _io_problems("input", found["inputs"], spec.input_shapes(), dtypes)
    problems += _io_problems("output", found["outputs"], spec.output_shapes(), dtypes)
    if spec.dynamic:
        problems += _range_problems(description, spec)
    if not found["ops"]:
        problems.append("the ML program has no operations")
    problems += _precision_problems(proto, precision)
    metadata = description.metadata.userDefined
    expected = {
        "camkit.model_id": spec.model.model_id,
        "camkit.variant": spec.variant,
        "camkit.precision": precision,
        "camkit.layout": spec.layout,
    }
    for key, value in expected.items():  # absent keys are fine: a package camkit did not write
        if metadata.get(key, value) != value:
            problems.append(f"metadata {key} is '{metadata[key]}', expected '{value}'")
    return problems


# --------------------------------------------------------------------------------------- load


def can_run() -> bool:
    """Whether Core ML can predict here (macOS only); else checks verify statically."""
    return sys.platform == "darwin"


class CoreMLRunner:
    """Runs an .mlpackage with Core ML (macOS): named float32 arrays in, named arrays out."""

    def __init__(self, path: Path, compute_units: str = "all") -> None:
        if compute_units not in COMPUTE_UNITS:
            raise unknown("Core ML compute units", compute_units, COMPUTE_UNITS)
        ct = _coremltools()
        units = getattr(ct.ComputeUnit, COMPUTE_UNITS[compute_units])
        try:
            with quiet():
                self.model = ct.models.MLModel(str(path), compute_units=units)
        except Exception as e:
            raise CamkitError(f"Core ML cannot load {path}: {_first_line(e)}") from None
        description = self.model.get_spec().description
        self.input_names = tuple(f.name for f in description.input)
        self.output_names = tuple(f.name for f in description.output)

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = {k: np.ascontiguousarray(v, np.float32) for k, v in feeds.items()}
        try:
            outs = self.model.predict(arrays)
        except Exception as e:
            raise CamkitError(f"Core ML prediction failed: {_first_line(e)}") from None
        return {n: np.asarray(outs[n], np.float32) for n in self.output_names}


def load(path: Path, compute_units: str = "all") -> CoreMLRunner:
    if not can_run():
        raise CamkitError(_NOT_ON_MACOS)
    return CoreMLRunner(Path(path), compute_units)
