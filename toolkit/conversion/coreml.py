"""Core ML: torch.export -> coremltools ML program (.mlpackage); MLModel runner on macOS only.

The prepared module is captured with ``torch.export`` (``torch.jit.trace`` is not used: TorchScript
is deprecated, and coremltools 9.0's TorchScript frontend fails on CSRNet's
``reshape(n, c, 1, 1)`` with "only 0-dimensional arrays can be converted to Python scalars").
coremltools 9.0 is tested up to torch 2.7 and says so on import; the ``torch.export`` frontend
converts torch 2.13 programs fine, and the warning stays inside ``quiet()``.

Precision is Core ML's own ``compute_precision``: fp16 stores weights and runs ops in float16
while the model's I/O stays float32 (casts at the boundary), the same contract as onnx.py.

Deployment target iOS 16 / macOS 13 (both spec version 7) for fp32 and fp16: its opset adds
the ``constexpr_*`` weight-decompression ops that weight-only int8 (``w8``) will need, so adding
that precision does not move the target. iOS 17 / macOS 14 (spec version 8) drops A11 devices
(iPhone 8 / X) and is used for ``w8a8`` only, because int8 *activations* need the MIL
``quantize`` / ``dequantize`` ops, which exist from the iOS 17 opset on
(coremltools/converters/mil/mil/ops/defs/iOS17/quantization_ops.py); the iOS 16 opset has only
the weight-side ``constexpr_affine_dequantize``.

w8a8 (int8 weights per channel, symmetric; int8 activations per tensor, calibrated): NNCF's
``quantize_pt2e`` with a torchao PT2E quantizer inserts quantize/dequantize pairs into the
``torch.export`` graph, which ``ct.convert`` maps onto MIL ``quantize``/``dequantize`` and
``constexpr_affine_dequantize`` (toolkit/quantization/coreml_ptq.py has the scheme, and why
coremltools' own CoreMLQuantizer cannot be used with torch 2.13). Between a dequantize and the
next quantize the ops compute in float16 (``compute_precision=FLOAT16``): that is what the
Neural Engine computes in, and what lets A17 Pro / M4 and later run int8 x int8 convolutions;
float32 would keep the model off the Neural Engine. coremltools' MIL passes may rewrite the
pairs (an int8 zero point of -128 becomes uint8 with zero point 0; ``add`` of two dequantized
tensors gets its scales factored out), which is the same arithmetic.

On Linux the package cannot run. ``simulated_runner`` rebuilds the quantized torch graph that
was converted (same checkpoint, same calibration feeds, deterministic) and runs it with
quantize/dequantize simulated in float32: the reference for what Core ML computes, up to its
float16 arithmetic. It checks its activation scales against the ones the export recorded in the
scheme (``activation_qparams``). The graph is rebuilt rather than saved beside the package
(``torch.export.save``) because ``torch.export.load`` unpickles (torch's own warning), and
camkit never unpickles an artifact it did not make.

Core ML *prediction* needs macOS (``libcoremlpython``). Elsewhere ``load`` raises a one-line
error, ``can_run()`` is False, and checks fall back to ``inspect``/``verify``: the saved spec,
its I/O names and shapes, the op histogram and the precision of the MIL program.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import nn

from toolkit._quiet import quiet
from toolkit.conversion._common import SCHEME_FILE, Calibration, dynamic_hw, example_inputs
from toolkit.errors import CamkitError, missing_extra, unknown
from toolkit.spec import ExportSpec

name = "coreml"
suffix = "mlpackage"
precisions = ("fp32", "fp16", "w8a8")
extra = "coreml"
requires = ("coremltools",)

#: oldest OS the packages load on (see the module docstring); read as ``ct.target.<name>``
DEPLOYMENT_TARGET = "iOS16"
#: int8 activations need the iOS 17 opset (MIL quantize/dequantize); w8a8 packages only
QUANTIZED_DEPLOYMENT_TARGET = "iOS17"
QUANTIZED_PRECISIONS = ("w8a8",)

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


def deployment_target(precision: str) -> str:
    """``ct.target`` name a package of ``precision`` is exported for (module docstring: why)."""
    return QUANTIZED_DEPLOYMENT_TARGET if precision in QUANTIZED_PRECISIONS else DEPLOYMENT_TARGET


def _quantize(module: nn.Module, spec: ExportSpec, calib: Calibration, what: str, fix: str,
              float_layers: Sequence[str] = ()):
    """w8a8 PTQ (toolkit/quantization/coreml_ptq.py) with camkit's one-line errors."""
    from toolkit.quantization import coreml_ptq

    if calib is None:
        raise CamkitError(
            f"Core ML w8a8 of {spec.model.model_id} needs calibration inputs (calib is None); "
            f"export it with 'camkit export ... --precision w8a8', which calibrates on the "
            f"model's calibration set (or --calib)"
        )
    try:
        return coreml_ptq.quantize(module, spec, calib, float_layers)
    except CamkitError:
        raise
    except Exception as e:  # torch.export, NNCF and torchao raise many types
        raise CamkitError(
            f"w8a8 quantization of {what} for Core ML failed: {_first_line(e)}; "
            f"{fix}{_VERBOSE_HINT}"
        ) from None


def _write_scheme(out_dir: Path, quantized, equalized: bool = False) -> None:
    """``SCHEME_FILE`` beside the package: exactly what w8a8 did (merged into the manifest;
    camkit export replaces ``ptq`` with its full record)."""
    from toolkit.quantization import coreml_ptq, options

    scheme = {
        "path": "nncf.experimental.torch.fx.quantize_pt2e with camkit's CoreMLW8A8Quantizer "
                "(torchao PT2E) -> torch.export -> coremltools ct.convert",
        "weights": {**coreml_ptq.WEIGHTS, "bias": "float"},
        "activations": dict(coreml_ptq.ACTIVATIONS),
        "calibration": {"count": quantized.calibration_count},
        "bias_correction": False,
        "float_layers": quantized.float_layers,
        "kept_float_layers": quantized.kept_float,
        "kept_float_weighted_ops": quantized.kept_weighted,
        "compute_precision": "float16",
        "deployment_target": QUANTIZED_DEPLOYMENT_TARGET,
        "activation_qparams": quantized.qparams,
        # what simulated_runner must redo to rebuild this graph
        "ptq": {**options.active().describe(), "equalize": equalized},
    }
    (Path(out_dir) / SCHEME_FILE).write_text(json.dumps(scheme, indent=1) + "\n")


def export(
    module: nn.Module, spec: ExportSpec, precision: str, out_dir: Path, calib: Calibration,
    float_layers: Sequence[str] = (),
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
    # w8a8: float16 between dequantize and quantize (module docstring)
    compute_precision = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    what = f"{spec.model.model_id} (dynamic height/width)" if spec.dynamic else spec.model.model_id
    fix = "export a fixed size instead, or " if spec.dynamic else ""
    quantized = None
    if precision in QUANTIZED_PRECISIONS:
        from toolkit.quantization.equalize import was_equalized

        equalized = was_equalized(module)
        quantized = _quantize(module, spec, calib, what, fix, float_layers)
        module = quantized.graph
        _JUST_QUANTIZED.clear()  # only the latest: an export's trial measures it right away
        _JUST_QUANTIZED[str(path.resolve())] = quantized.graph
    elif float_layers:
        raise CamkitError(f"Core ML {precision} has no quantized layers to keep in float")
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
                minimum_deployment_target=getattr(ct.target, deployment_target(precision)),
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
    if quantized is not None:
        _write_scheme(out_dir, quantized, equalized)
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


#: MIL ops that decompress int8 weights at load time (iOS16 / iOS18 opsets)
_WEIGHT_DEQUANTIZE = ("constexpr_affine_dequantize", "constexpr_blockwise_shift_scale")
#: ops with a weight input: MIL op type -> (activation input, weight input)
_WEIGHTED = {"conv": ("x", "weight"), "linear": ("x", "weight"), "conv_transpose": ("x", "weight")}
_INT8_TYPES = ("INT8", "UINT8")


def _quantization(proto) -> dict[str, int]:
    """What the MIL program quantizes: 8-bit activation (de)quantize ops, int8 weights, and
    how many conv/linear ops take int8 weights and dequantized int8 inputs."""
    from coremltools.proto import MIL_pb2

    names = MIL_pb2.DataType.Name
    _, block = _main_block(proto)
    ops = list(_operations(block))
    producer = {out.name: op for op in ops for out in op.outputs}

    def source(op, argument: str):
        args = op.inputs[argument].arguments if argument in op.inputs else ()
        bound = [a.name for a in args if a.WhichOneof("binding") == "name"]
        return producer.get(bound[0]) if bound else None

    def int8_weight(op) -> bool:
        if op is None or op.type not in _WEIGHT_DEQUANTIZE:
            return False
        data = op.attributes.get("quantized_data") or op.attributes.get("data")
        if data is not None:
            return names(data.type.tensorType.dataType) in _INT8_TYPES
        data_op = source(op, "quantized_data") or source(op, "data")
        return data_op is not None and any(
            names(o.type.tensorType.dataType) in _INT8_TYPES for o in data_op.outputs
        )

    found = Counter()
    for op in ops:
        if op.type == "quantize":
            found["quantize"] += 1
            found["quantize_8bit"] += all(
                names(o.type.tensorType.dataType) in _INT8_TYPES for o in op.outputs
            )
        elif op.type == "dequantize":
            found["dequantize"] += 1
        elif op.type in _WEIGHT_DEQUANTIZE:
            found["int8_weights"] += int8_weight(op)
        elif op.type in _WEIGHTED:
            x, weight = _WEIGHTED[op.type]
            found["weighted"] += 1
            found["weighted_int8_weight"] += int8_weight(source(op, weight))
            x_op = source(op, x)
            found["weighted_int8_input"] += x_op is not None and x_op.type == "dequantize"
    return dict(found)


def _w8a8_problems(proto, kept_float: int = 0) -> list[str]:
    """``kept_float``: how many conv/linear layers accuracy-aware quantization kept in float."""
    q = Counter(_quantization(proto))
    problems = []
    if not q["quantize"] or not q["dequantize"]:
        problems.append(
            f"precision w8a8 expected, but the program has {q['quantize']} quantize and "
            f"{q['dequantize']} dequantize ops (int8 activations need both)"
        )
    elif q["quantize_8bit"] != q["quantize"]:
        problems.append(f"precision w8a8 expected, but {q['quantize'] - q['quantize_8bit']} of "
                        f"{q['quantize']} quantize ops do not produce int8/uint8")
    if not q["weighted"]:
        problems.append("precision w8a8 expected, but the program has no conv or linear op")
    else:
        if q["weighted"] - q["weighted_int8_weight"] > kept_float:
            problems.append(
                f"precision w8a8 expected, but {q['weighted'] - q['weighted_int8_weight']} of "
                f"{q['weighted']} conv/linear weights are stored in float, not int8 ({kept_float} "
                f"layer(s) were kept float)"
            )
        if q["weighted"] - q["weighted_int8_input"] > kept_float:
            problems.append(
                f"precision w8a8 expected, but {q['weighted'] - q['weighted_int8_input']} of "
                f"{q['weighted']} conv/linear inputs are not dequantized int8 activations"
            )
    return problems


def _precision_problems(proto, precision: str, kept_float: int = 0) -> list[str]:
    if precision in QUANTIZED_PRECISIONS:
        return _w8a8_problems(proto, kept_float)
    q = _quantization(proto)
    if q.get("quantize") or q.get("int8_weights"):
        return [f"precision {precision} expected, but the program quantizes "
                f"({q.get('quantize', 0)} quantize ops, {q.get('int8_weights', 0)} int8 weights)"]
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


def verify(path: Path, spec: ExportSpec, precision: str,
           kept_float_layers: Sequence[str] = (), kept_weighted_ops: int = 0) -> list[str]:
    """What the saved package gets wrong against ``spec`` and ``precision`` ([] = nothing).

    Static verification, runnable anywhere: model type, I/O names, shapes (None = dynamic) and
    float32 I/O, the precision of the MIL program, and the camkit metadata written by export.
    w8a8: int8/uint8 ``quantize`` and ``dequantize`` ops, every conv/linear with int8 weights
    and dequantized int8 inputs, and the iOS 17 deployment target (spec version 8); a float
    package fails it, and a quantized package fails fp32/fp16. ``kept_float_layers`` (the
    manifest's, from accuracy-aware quantization) may leave that many conv/linear ops in float,
    or ``kept_weighted_ops`` when more (a ``<module>/*`` id covers all the module's convs).
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
    problems += _precision_problems(proto, precision,
                                    max(len(kept_float_layers), kept_weighted_ops))
    if precision in QUANTIZED_PRECISIONS:
        ct = _coremltools()
        target = getattr(ct.target, deployment_target(precision))
        if proto.specificationVersion != target.value:
            problems.append(
                f"deployment target: spec version {proto.specificationVersion}, w8a8 is exported "
                f"for {deployment_target(precision)} (spec version {target.value})"
            )
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


# -------------------------------------------------------------------------- simulated (w8a8)


#: the quantized torch graph of the latest w8a8 export in this process, by the package path it
#: was written to (``just_quantized_runner``)
_JUST_QUANTIZED: dict = {}


def just_quantized_runner(path: Path, spec: ExportSpec):
    """The simulated runner of the package this process just exported at ``path`` (the graph it
    was converted from, kept in memory), or None: an export's accuracy trial measures it without
    quantizing the model a second time. `camkit check` always re-derives (simulated_runner)."""
    from toolkit.quantization import coreml_ptq

    graph = _JUST_QUANTIZED.get(str(Path(path).resolve()))
    return None if graph is None else coreml_ptq.graph_runner(graph, spec)


def simulated_runner(module: nn.Module, spec: ExportSpec, calib: Calibration,
                     scheme: dict | None = None):
    """The w8a8 torch graph that Core ML was given, as a Runner-style callable (feeds -> outputs).

    Quantize/dequantize are simulated in float32: the reference for what the package computes
    where Core ML cannot run (module docstring). ``module`` is the float model as built (it is
    prepared here, as ``torch_runner`` does); ``calib`` the calibration feeds of the export.
    With ``scheme`` (the manifest's ``precision_scheme``) the re-derived activation scales must
    match the recorded ``activation_qparams``, else CamkitError: the reference would not be the
    exported graph (another calibration set, or a changed NNCF).
    """
    from toolkit.conversion._common import prepare_for_export
    from toolkit.quantization import coreml_ptq, options
    from toolkit.quantization.equalize import equalize

    what = spec.model.model_id
    # layers the export kept float (accuracy-aware quantization); older manifests have none
    kept = scheme["kept_float_layers"] if scheme and "kept_float_layers" in scheme else ()
    # the techniques the export used (during an export's own trials: the active ones)
    ptq = options.from_scheme(scheme) if scheme is not None else options.active()
    prepared = prepare_for_export(module, spec)
    if ptq.equalize:
        prepared, _ = equalize(prepared, calib, [t.name for t in spec.model.inputs])
    with options.using(ptq):
        quantized = _quantize(prepared, spec, calib, what, "", kept)
    if scheme is not None:
        # a package camkit did not write may lack the record: nothing to compare then
        why = (coreml_ptq.qparams_mismatch(quantized.qparams, scheme["activation_qparams"])
               if "activation_qparams" in scheme else None)
        if why:
            raise CamkitError(
                f"the simulated w8a8 reference is not the exported graph: {why}; export again "
                f"with the calibration set the check uses"
            )
    return coreml_ptq.graph_runner(quantized.graph, spec)


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
