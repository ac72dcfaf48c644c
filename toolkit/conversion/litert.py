"""LiteRT (.tflite): litert-torch exporter (torch.export based), ai-edge-litert interpreter runner.

Names: the .tflite has one signature (``serving_default``) whose input and output names are the
spec's tensor names. litert-torch 0.10 names signature inputs after the keys of
``sample_kwargs`` (``sample_args`` would give ``args_0``) and outputs after the keys of a dict the
module returns (otherwise ``output_0``): ``Signature.flat_arg_names`` in
litert_torch/_convert/signature.py and ``_get_output_names`` in litert_converter.py. ``_NamedIO``
gives it both.

fp16 is the standard TFLite float16 model: the weights of convolutions and fully-connected layers
stored as float16, each behind a DEQUANTIZE op; biases, activations and I/O stay float32. GPU
delegates then compute in float16; XNNPACK on CPU computes in float32 from the rounded weights.
litert-torch 0.10 has no fp16 switch for ordinary modules; ``quant_config=full_fp16_recipe()``
(litert_torch.generative.quantize.quant_recipes; generative API, but its layer regex is ``.*``)
runs ai-edge-quantizer's ``float_casting`` algorithm on the converted model, which is exactly that
rewrite (litert_torch/quantize/translate_recipe.py,
ai_edge_quantizer/algorithms/nonlinear_quantize/float_casting.py). Casting the torch module to
half instead would emit float16 ops, which TFLite's CPU kernels mostly lack.

w8a8 and w8a16 are integer models with float32 I/O, built by
``toolkit/quantization/litert_ptq.py`` (which says why each step is there): w8a8 through NNCF's
``quantize_pt2e`` with litert-torch's PT2E quantizer (int8 weights per-channel symmetric, int8
activations per-tensor, one QUANTIZE after the input and one DEQUANTIZE before the output, every
layer in between integer); should that path fail or leave a conv in float, through
ai-edge-quantizer's ``static_wi8_ai8`` recipe instead, and the scheme's ``path`` says so with the
reason. w8a16 is ai-edge-quantizer's ``static_wi8_ai16`` (int16 activations, symmetric: TFLite's
16x8 kernels; XNNPACK has none, so the CPU runs the reference kernels), the model's
``W8A16_KEEP_FLOAT`` blocks (instance norms) left float by their module's tensor names. Both calibrate on
``calib`` with min/max ranges over all samples. The scheme written to ``SCHEME_FILE`` is read back
from the file's tensors, and an export that is not the promised integer model fails.

uint8 I/O (``spec.io_dtype == "uint8"``, ``--io uint8``): w8a8 only. The float-I/O w8a8 file is
rewritten so the signature takes and returns uint8 with scale 1/255 and zero point 0, the input
QUANTIZE becoming a requantize uint8 -> int8 and the output DEQUANTIZE a requantize int8 -> uint8
(``toolkit/quantization/litert_io.py``; outputs above 1.0 clip to 255). w8a16 is refused:
TFLite's QUANTIZE kernel cannot requantize int16 to uint8 ("output->type == kTfLiteInt8 ||
kTfLiteInt16 || kTfLiteInt32" at quantize.cc:183, ai-edge-litert 2.3), so its uint8 I/O would need
a float DEQUANTIZE/QUANTIZE hop inside the file, which is what the app was avoiding; it worked
on tiny CSRNet (within half a step of 1/255 of the float-I/O file) but is not offered.

Dynamic height/width: torch.export's symbolic sizes go in, but litert-torch 0.10 lowers some ops
through its JAX bridge, which cannot take unknown sizes (``aten.constant_pad_nd`` fails with
"Dimension size after padding is not at least 0"), so models with explicit padding layers must be
exported at a static size; ``export`` says so in one line. Convolutions that pad themselves
(``nn.Conv2d(padding=...)``) convert, and the runner then resizes inputs to the fed size.

Strided convolutions with dynamic height/width convert but compute wrong pixels at some sizes:
tiny CSRNet exported dynamically matched torch at 64x64, 48x80 and 70x70 (> 150 dB) but gave
46.9 dB at 42x38, 52.8 dB at 65x65 and 59.9 dB at 66x66, while static exports at those sizes are
exact (> 150 dB). ``export`` therefore refuses dynamic sizes for modules with a stride > 1
conv rather than ship an artifact that is right only at some resolutions.
"""

from __future__ import annotations

import importlib.util
import inspect as _inspect
import json
import os
import re
import traceback
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from toolkit._quiet import quiet
from toolkit.conversion._common import SCHEME_FILE, Calibration, dynamic_hw, example_inputs
from toolkit.errors import CamkitError, missing_extra
from toolkit.quantization import litert_io, litert_ptq, options
from toolkit.spec import ExportSpec

name = "litert"
suffix = "tflite"
precisions = ("fp32", "fp16", "w8a8", "w8a16")
#: non-float I/O dtypes (spec.IO_DTYPES) -> the precisions that export them (see above)
io_dtypes = {"uint8": ("w8a8",)}
extra = "litert"
requires = ("litert_torch", "ai_edge_litert")

#: the one signature every camkit .tflite carries (litert-torch's default name)
SIGNATURE = "serving_default"
#: interpreter threads for the host runner
NUM_THREADS = 2
#: the flatbuffer file identifier of .tflite files (bytes 4..8)
_TFLITE_ID = b"TFL3"


class _NamedIO(nn.Module):
    """Keyword inputs and a dict output named after the spec, so the signature carries them.

    ``forward`` takes ``**feeds``, but torch.export (2.13, non-strict) cannot match
    ``dynamic_shapes`` to a ``**kwargs`` parameter ("Must provide a tree_name when there might be a
    mismatch"), so ``wrap`` builds a subclass whose ``forward`` advertises keyword-only parameters
    with the spec's names; torch.export binds inputs (and ``dynamic_hw`` reads them) by that
    signature.
    """

    def __init__(self, inner: nn.Module, input_names: list[str], output_names: list[str]) -> None:
        super().__init__()
        self.inner = inner
        self.input_names = list(input_names)
        self.output_names = list(output_names)

    def forward(self, **feeds: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.inner(*(feeds[n] for n in self.input_names))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return dict(zip(self.output_names, outs))

    @classmethod
    def wrap(cls, inner: nn.Module, spec: ExportSpec) -> _NamedIO:
        input_names = [t.name for t in spec.model.inputs]
        output_names = [t.name for t in spec.model.outputs]
        params = [_inspect.Parameter("self", _inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        params += [_inspect.Parameter(n, _inspect.Parameter.KEYWORD_ONLY) for n in input_names]

        def forward(self, **feeds):
            return cls.forward(self, **feeds)

        forward.__signature__ = _inspect.Signature(params)
        named = type(cls.__name__, (cls,), {"forward": forward})
        return named(inner, input_names, output_names).eval()


def _first_line(text: str) -> str:
    """The first line of a message that says something (not a traceback frame or marker)."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "File ", "^", "~", "WARNING", "I0000")):
            return line
    return ""


# ------------------------------------------------------------------------------------- export


def export(
    module: nn.Module, spec: ExportSpec, precision: str, out_dir: Path, calib: Calibration,
    float_layers: Sequence[str] = (),
) -> Path:
    if precision not in precisions:
        raise CamkitError(
            f"LiteRT export has no precision '{precision}'; choose from: {', '.join(precisions)}"
        )
    if spec.io_dtype != "float32" and precision not in io_dtypes.get(spec.io_dtype, ()):
        raise CamkitError(
            f"LiteRT {precision} has no {spec.io_dtype} I/O (only the fully integer w8a8 file "
            f"takes and returns bytes); export --precision w8a8, or drop --io {spec.io_dtype}"
        )
    if spec.dynamic and _has_strided_conv(module):
        raise CamkitError(
            "LiteRT with dynamic height/width computes wrong pixels at some sizes for strided "
            "convolutions (litert-torch 0.10); export a static --size per resolution, or use "
            "ONNX / Core ML for --dynamic"
        )
    bits = litert_ptq.ACTIVATION_BITS.get(precision)
    if bits is not None:
        calib = _calibration_feeds(calib, spec, precision)
        if precision == "w8a8" and importlib.util.find_spec("nncf") is None:
            raise missing_extra("nncf", "quant")
    if float_layers and bits is None:
        raise CamkitError(f"LiteRT {precision} has no quantized layers to keep in float")
    rewritten: list[str] = []
    if bits is not None:  # (the integer paths cannot quantize a transposed conv; it says why)
        module, rewritten = litert_ptq.subpixel_transposed_convs(module)
    named = _NamedIO.wrap(module, spec)
    sample = dict(zip(named.input_names, example_inputs(spec)))
    path = Path(out_dir) / f"model.{suffix}"
    failure = None
    # quiet() covers the imports too: litert-torch pulls in torchao, jax and absl, which warn.
    with quiet() as log:
        try:
            if bits is None:
                _convert(named, sample, spec, precision).export(str(path))
                if spec.dynamic:
                    _mark_dynamic_outputs(path, spec)
            else:
                route, kept_weighted = _quantize(named, sample, spec, precision, calib, path,
                                                 float_layers)
                litert_io.set_io_dtype(path, spec.io_dtype)
        except CamkitError as e:  # already one line with its fix
            failure = e
        except Exception as e:  # torch.export, MLIR lowering, the quantizer: each its own types
            failure = e
    if isinstance(failure, CamkitError):
        raise failure
    if failure is not None:
        if os.environ.get("CAMKIT_VERBOSE"):  # the log went to the terminal; add the traceback
            traceback.print_exception(failure)
        raise _conversion_error(failure, log.text, spec) from None
    if bits is not None:
        _write_scheme(path, Path(out_dir) / SCHEME_FILE, route, bits, len(calib), kept_weighted,
                      float_layers, spec.io_dtype, rewritten)
    return path


def _convert(named: nn.Module, sample: dict, spec: ExportSpec, precision: str):
    """litert-torch conversion of the float model (fp16: float16 weights); an edge model."""
    import litert_torch
    from litert_torch.generative.quantize import quant_recipes

    return litert_torch.convert(
        named,
        sample_kwargs=sample,
        dynamic_shapes=dynamic_hw(named, spec),
        quant_config=quant_recipes.full_fp16_recipe() if precision == "fp16" else None,
    )


def _calibration_feeds(calib: Calibration, spec: ExportSpec, precision: str) -> list[dict]:
    """The calibration feeds as a list; one-line errors where a quantized export cannot start."""
    if spec.dynamic:
        raise CamkitError(
            f"LiteRT {precision} is calibrated and exported at one size; export a static --size"
        )
    if calib is None:
        raise CamkitError(
            f"LiteRT {precision} needs calibration inputs (calib is None); export it through "
            "'camkit export' or toolkit.export.export_artifacts, which pass the calibration set"
        )
    feeds = list(calib)
    want = spec.input_shapes()
    for feed in feeds:
        if set(feed) != set(want) or any(tuple(feed[k].shape) != want[k] for k in want):
            got = ", ".join(f"{k} {tuple(v.shape)}" for k, v in feed.items())
            shown = ", ".join(f"{k} {v}" for k, v in want.items())
            raise CamkitError(
                f"LiteRT {precision} calibration feeds must be {shown} (the spec's layout and "
                f"size); got {got}"
            )
    if not feeds:
        raise CamkitError(f"LiteRT {precision} got an empty calibration set; give it some photos")
    return feeds


def _quantize(named, sample, spec, precision, calib, path, float_layers=()) -> tuple[str, int]:
    """Write the integer model to ``path``; returns the toolchain label for the scheme and how
    many conv / fully-connected ops the kept-float layers cover (a ``<module>/*`` id may cover
    several).

    w8a8 layers kept float (accuracy-aware quantization) need the PT2E path: ai-edge-quantizer's
    recipes select ops by tensor-name regex, and litert-torch names functional ops after their
    module only (``CSRNet_inner;3``), so a ``mul_1`` cannot be picked out there. w8a16 (always
    ai-edge-quantizer) keeps whole modules float (``<path>/*`` and conv/linear ids: the model's
    ``W8A16_KEEP_FLOAT`` blocks) by their module path in the tensor names
    (``litert_ptq.float_scope_regex``)."""
    bits = litert_ptq.ACTIVATION_BITS[precision]
    fallback = None
    if precision == "w8a8":
        try:
            kept_weighted = litert_ptq.pt2e_w8a8(named, sample, calib, path, float_layers)
            problems = litert_ptq.integer_problems(litert_ptq.describe(path), bits, kept_weighted)
            if problems:
                raise RuntimeError("; ".join(problems))
            return litert_ptq.PT2E_PATH, kept_weighted
        except CamkitError:
            raise
        except Exception as e:  # nncf, torch.export strict, the converter: each its own types
            if float_layers:
                raise CamkitError(
                    f"LiteRT w8a8 with layers kept in float failed on the NNCF + PT2E path: "
                    f"{_first_line(str(e)) or type(e).__name__} (the ai-edge-quantizer fallback "
                    f"cannot keep these layers float)"
                ) from None
            fallback = _first_line(str(e)) or type(e).__name__
            if len(fallback) > 120:
                fallback = fallback[:117] + "..."
    if float_layers and bits == 8:  # (the fallback; a w8a8 float_layers failure raised above)
        raise CamkitError("LiteRT w8a8 keeps layers float only on the NNCF + PT2E path")
    source = litert_ptq.xnnpack_safe_graph(named, sample) if bits == 8 else named
    float_model = _convert(source, sample, spec, "fp32").model_content()
    kept_weighted = litert_ptq.aeq_static(float_model, SIGNATURE, calib, bits, path,
                                          float_layers)
    return litert_ptq.aeq_path(bits, fallback), kept_weighted


def _write_scheme(path: Path, scheme_file: Path, route: str, bits: int, count: int,
                  kept_weighted: int, float_layers: Sequence[str] = (),
                  io_dtype: str = "float32", rewritten: Sequence[str] = ()) -> None:
    """The precision scheme, read back from the file; fails if it is not the promised model."""
    facts = litert_ptq.describe(path)
    litert_ptq.check_integer(facts, bits, f"the LiteRT export ({route})", kept_weighted, io_dtype)
    acts = facts["activations"]
    scheme = {
        # spec.PRECISIONS words w8a16 as float16 activations; here they are int16 in the file
        "description": (
            f"int8 weights (per-channel, symmetric) and int{bits} activations (per-tensor, "
            f"{'symmetric' if acts['symmetric'] else 'asymmetric'}, calibrated)"
        ),
        "path": route,
        "weights": facts["weights"],
        "activations": facts["activations"],
        "calibration": {"count": count, "ranges": "min/max over all samples" if bits == 8 else
                        f"min/max over all samples, each side not at zero moved out by "
                        f"{options.ACTIVATION16_HEADROOM:g} of the width "
                        f"(litert_ptq.widen_ranges)"},
        "float_layers": facts["float_layers"],
        "kept_float_layers": list(float_layers),
        "io": facts["io"],
        "io_quantization": facts["io_quantization"],
        "boundary": facts["boundary"],
    }
    if rewritten:  # exact rewrites made before quantizing (litert_ptq.SubPixelConvTranspose)
        scheme["subpixel_transposed_convs"] = list(rewritten)
    scheme_file.write_text(json.dumps(scheme, indent=2) + "\n")


def _has_strided_conv(module: nn.Module) -> bool:
    return any(
        isinstance(m, nn.Conv2d) and tuple(m.stride) != (1, 1) for m in module.modules()
    )


def _conversion_error(failure: Exception, log_text: str, spec: ExportSpec) -> CamkitError:
    """One line: the op that failed (torch.fx names it), the first line of the reason, the fix."""
    what = _first_line(str(failure)) or _first_line(log_text) or type(failure).__name__
    if len(what) > 100:
        what = what[:97] + "..."
    node = re.search(r"While executing %(\w+)", str(failure))
    where = f" at {node.group(1)}" if node else ""
    if spec.dynamic:
        return CamkitError(
            f"litert-torch cannot convert this model with dynamic height/width{where} ({what}); "
            "LiteRT export needs a static --size (CAMKIT_VERBOSE=1 shows the converter log)"
        )
    return CamkitError(
        f"LiteRT conversion failed{where}: {what} (CAMKIT_VERBOSE=1 shows the converter log)"
    )


def _mark_dynamic_outputs(path: Path, spec: ExportSpec) -> None:
    """Write the spec's dynamic output dims (-1) into the signature outputs' shape_signature.

    litert-torch 0.10 keeps dynamic sizes on the inputs only: every other tensor, outputs included,
    is written with its sample-size shape and no shape_signature, so the file would claim a fixed
    output size. The interpreter recomputes shapes after resizing the inputs either way; this only
    makes the file say what it does (apps and ``inspect`` read it).
    """
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    sig = model.signatureDefs[0]
    subgraph = model.subgraphs[sig.subgraphIndex]
    wanted = spec.output_shapes()
    for item in sig.outputs:
        tensor = subgraph.tensors[item.tensorIndex]
        shape = wanted[_text(item.name)]
        tensor.shapeSignature = [-1 if d is None else int(d) for d in shape]
    flatbuffer_utils.write_model(model, str(path))


# ------------------------------------------------------------------------------------ inspect


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _model_bytes(path: Path) -> bytes:
    """The file's bytes; CamkitError if it is missing or not a .tflite flatbuffer."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CamkitError(f"cannot read LiteRT model {path}: {e.strerror}") from None
    if data[4:8] != _TFLITE_ID:
        raise CamkitError(f"{path} is not a LiteRT (.tflite) model; export it again")
    return data


def inspect(path: Path) -> dict:
    """Static view of a .tflite: signature I/O shapes (None = dynamic), an op histogram, and the
    same histogram by the dtype each op computes in (``op_dtypes``: the dtype of its first input,
    e.g. ``{"CONV_2D": {"int8": 6}}``; QUANTIZE is listed under its float input, DEQUANTIZE under
    its integer or float16 input).

    Reads the flatbuffer lazily (no interpreter, no delegate, weights untouched).
    """
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools.flatbuffer_utils import get_builtin_code_from_operator_code

    path = Path(path)
    data = _model_bytes(path)
    builtin_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if k.isupper()}

    def shape_of(tensor) -> list:
        if not tensor.ShapeLength():
            return []
        static = tensor.ShapeSignatureIsNone()
        dims = tensor.ShapeAsNumpy() if static else tensor.ShapeSignatureAsNumpy()
        return [None if int(d) < 0 else int(d) for d in np.atleast_1d(dims)]

    try:
        model = schema.Model.GetRootAs(data, 0)
        if model.SignatureDefsLength():
            sig = model.SignatureDefs(0)
            graph = model.Subgraphs(sig.SubgraphIndex())
            io = [
                {_text(m.Name()): shape_of(graph.Tensors(m.TensorIndex())) for m in maps}
                for maps in (
                    [sig.Inputs(i) for i in range(sig.InputsLength())],
                    [sig.Outputs(i) for i in range(sig.OutputsLength())],
                )
            ]
        else:  # not written by litert-torch: the main subgraph's tensors by their names
            graph = model.Subgraphs(0)
            io = [
                {_text(graph.Tensors(i).Name()): shape_of(graph.Tensors(i)) for i in indices}
                for indices in (graph.InputsAsNumpy(), graph.OutputsAsNumpy())
            ]
        ops: Counter[str] = Counter()
        op_dtypes: dict[str, Counter[str]] = {}
        for g in range(model.SubgraphsLength()):
            graph = model.Subgraphs(g)
            for k in range(graph.OperatorsLength()):
                op = graph.Operators(k)
                code = model.OperatorCodes(op.OpcodeIndex())
                builtin = get_builtin_code_from_operator_code(code)
                if builtin == schema.BuiltinOperator.CUSTOM:
                    op_name = _text(code.CustomCode() or b"CUSTOM")
                else:
                    op_name = builtin_names.get(builtin, f"BUILTIN_{builtin}")
                ops[op_name] += 1
                inputs = [int(i) for i in op.InputsAsNumpy() if i >= 0] if op.InputsLength() else []
                dtype = type_names.get(graph.Tensors(inputs[0]).Type(), "?") if inputs else "none"
                op_dtypes.setdefault(op_name, Counter())[dtype] += 1
    except Exception:  # flatbuffers raises struct/index errors on damaged files
        message = f"{path} is a damaged or truncated LiteRT model; export it again"
        raise CamkitError(message) from None
    return {
        "inputs": io[0],
        "outputs": io[1],
        "ops": dict(sorted(ops.items())),
        "op_dtypes": {k: dict(sorted(v.items())) for k, v in sorted(op_dtypes.items())},
    }


# ------------------------------------------------------------------------------------- runner


class LiteRTRunner:
    """Runs the model's signature on the ai-edge-litert interpreter (XNNPACK on CPU).

    The signature runner resizes the input tensors to each call's shapes before it allocates, so
    a model exported with dynamic height/width runs at the size it is fed.

    Float32 arrays in, float32 arrays out, whatever the file's I/O dtype (the Runner contract, so
    checks, demo and benchmark need no case for uint8 I/O): a quantized input gets
    ``clip(round(x / scale) + zero_point, dtype min, dtype max)``, a quantized output
    ``(q - zero_point) * scale``, with scale and zero point read from the file. That conversion
    is exactly what an app does with the manifest's ``io`` numbers; for camera bytes (x = b/255)
    the input side is exact and the app simply passes the bytes.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        _model_bytes(self.path)  # one-line errors for missing and foreign files
        failure = None
        with quiet():
            try:
                from ai_edge_litert.interpreter import Interpreter

                self.interpreter = Interpreter(model_path=str(self.path), num_threads=NUM_THREADS)
                signatures = self.interpreter.get_signature_list()
                key = SIGNATURE if SIGNATURE in signatures else next(iter(signatures))
                self.runner = self.interpreter.get_signature_runner(key)
            except Exception as e:  # the interpreter raises ValueError/RuntimeError with C++ text
                failure = e
        if failure is not None:
            why = _first_line(str(failure)) or type(failure).__name__
            raise CamkitError(f"LiteRT cannot load {self.path}: {why}") from None
        self.input_names = tuple(signatures[key]["inputs"])
        self.output_names = tuple(signatures[key]["outputs"])
        inputs, outputs = self.runner.get_input_details(), self.runner.get_output_details()
        #: per input, the exported shape with -1 for dynamic dims
        self.input_shapes = {
            k: tuple(int(d) for d in v["shape_signature"]) for k, v in inputs.items()
        }
        #: per quantized I/O tensor: (dtype, scale, zero point); float tensors are absent
        self.input_quantization = _quantized(inputs)
        self.output_quantization = _quantized(outputs)
        self._warm = False

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if set(feeds) != set(self.input_names):
            raise CamkitError(
                f"LiteRT model takes inputs {', '.join(self.input_names)}; got {', '.join(feeds)}"
            )
        arrays = {k: np.ascontiguousarray(v, np.float32) for k, v in feeds.items()}
        for k, array in arrays.items():
            # The interpreter would resize a static input too and may then compute garbage.
            want = self.input_shapes[k]
            if len(want) != array.ndim or any(w not in (-1, a) for w, a in zip(want, array.shape)):
                shown = tuple("?" if w < 0 else w for w in want)
                raise CamkitError(
                    f"{self.path.name} takes '{k}' of shape {shown}; got {tuple(array.shape)} "
                    "(export a dynamic model or one at this size)"
                )
        for k, (dtype, scale, zero_point) in self.input_quantization.items():
            info = np.iinfo(dtype)
            stored = np.round(arrays[k] / np.float32(scale)) + zero_point
            arrays[k] = np.clip(stored, info.min, info.max).astype(dtype)
        failure = None
        # XNNPACK is applied on the first allocation and then logs "Created ... delegate" from
        # C++; that cannot happen at load for dynamic models (no sizes yet), so the first call
        # runs inside quiet().
        with quiet(enabled=not self._warm):
            try:
                outs = self.runner(**arrays)
            except (RuntimeError, ValueError) as e:
                failure = e
        if failure is not None:
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
            raise CamkitError(
                f"LiteRT cannot run {self.path.name} on {shapes}: {_first_line(str(failure))}"
            ) from None
        self._warm = True
        for k, (_, scale, zero_point) in self.output_quantization.items():
            outs[k] = (outs[k].astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
        return {k: outs[k] for k in self.output_names}


def _quantized(details: dict) -> dict[str, tuple]:
    """(numpy dtype, scale, zero point) of each integer tensor in a signature's I/O details."""
    return {
        k: (np.dtype(v["dtype"]), *v["quantization"])
        for k, v in details.items()
        if np.issubdtype(np.dtype(v["dtype"]), np.integer) and v["quantization"][0] != 0.0
    }


def load(path: Path) -> LiteRTRunner:
    return LiteRTRunner(Path(path))
