"""Post-training integer quantization for LiteRT (.tflite): w8a8 and w8a16, and what a file holds.

w8a8 (the preferred path): NNCF calibrates a torch.export graph annotated by litert-torch's
``PT2EQuantizer`` (int8 weights per-channel symmetric, int8 activations per-tensor affine), and
litert-torch converts the Q/DQ graph into a fully integer .tflite: int8 CONV_2D, FULLY_CONNECTED,
ADD, MUL, MEAN, ..., with one QUANTIZE after the float32 input and one DEQUANTIZE before the
float32 output. Five details make that path work on CSRNet (tiny, random and paper weights):

* ``torch.export(strict=True)``: litert-torch's add/mul annotators find their ops through
  ``get_source_partitions``, which reads ``source_fn_stack``; only the strict (dynamo) exporter
  writes it. Under the default non-strict export (torch 2.13) no ADD or MUL is annotated and the
  last GFM add of CSRNet stays float.
* min/max activation ranges over all calibration samples
  (``RangeEstimatorParametersSet.MINMAX``). NNCF's default averages per-sample minima and maxima;
  with a handful of photos that clips the outliers: tiny CSRNet gave 26.7 dB on
  hubble_deep_field.jpg (the condition vector of a dark photo fell outside the averaged range),
  > 41 dB on every photo with min/max.
* no bias correction: NNCF's fast bias correction fitted the five calibration photos and cost
  tiny CSRNet 6 dB on one of them; the slow variant fails in nncf 3.4 on this graph
  ("'NoneType' object is not iterable").
* large means split (``split_large_means``): XNNPACK, LiteRT's default CPU delegate (here
  ai-edge-litert 2.3 on x86; Android's CPU path is XNNPACK too, its ARM kernels untested here),
  computes an int8 MEAN that reduces more than 8192 elements per output wrong, while the builtin
  kernel is right. A conv + ReLU + mean
  over (H, W) gave the right means at 64x64 and 90x91 and values off by up to 0.75 from 91x91
  (8281 elements) on; CSRNet's condition net reduces 135x240 at 1080p and its w8a8 file gave
  6-17 dB under XNNPACK against 43-48 dB with the builtin kernels. A mean over H and W is
  therefore exported as a mean over W, then over H (each well below the limit; both keep the
  input's scale, so the only extra error is one rounding of the row means).
* the converter's strict Q/DQ mode (``ConvertToTFLConfig.strict_qdq_mode``, which litert-torch
  0.10 does not expose): in the default mode the converter folds the input QUANTIZE and the output
  DEQUANTIZE into the signature, so the file takes and returns int8 tensors, which apps and
  ``LiteRTRunner`` feed float32. ``_strict_qdq`` sets the flag for one conversion.

Means share their input's quantization: litert-torch's annotator gives ``aten.mean`` a
``SharedQuantizationSpec`` (``_is_share_obs_or_fq_op`` in litert_torch/quantize/
pt2e_quantizer_utils.py, https://github.com/google-ai-edge/ai-edge-torch), so an int8 MEAN
output has the step of its input. For an instance norm's ``mean(centred * centred)`` that step
is the largest square's / 255 (0.58 in WESPE mobile's block 0 norm2, for variances <= 1.07):
the variance is quantized to 0-2 steps, and that model fell to 19.2 dB. The other formats keep
the mean float and lose less (31 dB), but no format meets the budget with int8 statistics, so
the block itself declares float (toolkit/models/_blocks.py ``InstanceNorm``), not this module.

w8a16 and the w8a8 fallback: ai-edge-quantizer's static recipes (``static_wi8_ai16``,
``static_wi8_ai8``) on the float32 .tflite, calibrated on the same feeds through its calibrator
with min/max ranges (its default is a moving average with factor 0.95, which weights the first
photo most), with INPUT and OUTPUT left float so the signature keeps float32 I/O. int16
activations are symmetric (zero point 0), as TFLite's 16x8 kernels require.

``describe`` reads the facts for the manifest from the written file, not from the recipe.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from toolkit.errors import CamkitError
from toolkit.quantization import layers, options
from toolkit.spec import IO_DTYPES

#: activation bits per quantized precision id this module produces
ACTIVATION_BITS = {"w8a8": 8, "w8a16": 16}
#: the toolchain labels written into the scheme's "path"
PT2E_PATH = "nncf.quantize_pt2e + litert-torch PT2EQuantizer"
AEQ_RECIPES = {8: "static_wi8_ai8", 16: "static_wi8_ai16"}
#: ops whose second input is a weight tensor
WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
#: XNNPACK's int8 MEAN was right at 8190 and wrong at 8281 reduced elements per output (above)
XNNPACK_INT8_MEAN_MAX = 8192
#: interpreter threads for ai-edge-quantizer's calibration runs
CALIBRATION_THREADS = 2


def aeq_path(bits: int, fallback_reason: str | None = None) -> str:
    label = f"ai-edge-quantizer {AEQ_RECIPES[bits]}"
    return f"{label} (fallback: {fallback_reason})" if fallback_reason else label


def _torch_feeds(feeds: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v, np.float32)) for k, v in feeds.items()}


# ------------------------------------------------------------------------- w8a8: NNCF + PT2E


def pt2e_w8a8(
    named: nn.Module, sample: dict[str, torch.Tensor], calib: list[dict], path: Path,
    float_layers: Sequence[str] = (),
) -> int:
    """Quantize ``named`` (keyword inputs, dict output) with NNCF + PT2E and write ``path``;
    ``float_layers`` (layer ids, toolkit/quantization/layers.py) stay float. Returns how many
    conv / linear nodes were kept float."""
    import litert_torch
    import nncf
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig
    from nncf.experimental.torch.fx import quantize_pt2e

    torch.manual_seed(0)  # nothing here draws random numbers today; keep it that way if one does
    graph = torch.export.export(named, (), sample, strict=True).module()
    split_large_means(graph)
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    )
    kept = _keep_float(quantizer, float_layers)
    quantized = quantize_pt2e(
        graph,
        quantizer,
        nncf.Dataset(calib, _torch_feeds),  # a dict item is passed as keyword arguments
        subset_size=len(calib),
        fast_bias_correction=None,
        smooth_quant=False,
        activations_range_estimator_params=options.active().nncf_range_estimator(),
        fold_quantize=False,  # litert-torch lowers the explicit Q/DQ pairs itself
    )
    with _strict_qdq():
        edge_model = litert_torch.convert(
            quantized, sample_kwargs=sample, quant_config=QuantConfig(pt2e_quantizer=quantizer)
        )
    edge_model.export(str(path))
    return kept["weighted"]


def _keep_float(quantizer, float_layers: Sequence[str]) -> dict[str, int]:
    """Make ``quantizer.annotate`` drop the annotations of the ``float_layers`` nodes, so PT2E
    inserts no observers for them: their weights stay float and they compute in float (a
    quantized consumer still quantizes their output on its own input). Returns a dict that
    ``annotate`` fills with the number of conv/linear nodes kept float ("weighted")."""
    from toolkit.quantization.layers import WEIGHTED_ATEN, fx_layer_id, selector

    kept = {"weighted": 0}
    wanted = list(dict.fromkeys(float_layers))
    if not wanted:
        return kept
    select = selector(wanted)
    annotate = quantizer.annotate

    def annotate_keeping_float(model: torch.fx.GraphModule) -> torch.fx.GraphModule:
        model = annotate(model)
        found, weighted, stripped = set(), 0, set()
        for node in model.graph.nodes:
            if node.op == "call_function" and select(fx_layer_id(node)) is not None:
                found.add(select(fx_layer_id(node)))
                node.meta.pop("quantization_annotation", None)
                weighted += str(node.target).startswith(WEIGHTED_ATEN)
                # the quantizer annotates a conv's ReLU (and tanh, ...) on its own: their
                # output would requantize the tensor this layer is kept float for
                follower = node
                while len(follower.users) == 1:
                    follower = next(iter(follower.users))
                    if follower.op != "call_function" or not _is_activation(follower):
                        break
                    follower.meta.pop("quantization_annotation", None)
                    stripped.add(follower)
                stripped.add(node)
            elif node.op == "call_function" and _has_fixed_qparams(node):
                # NNCF's PT2E adapter refuses FixedQParamsQuantizationSpec (litert-torch gives
                # LOGISTIC/softmax outputs a fixed 1/256 scale): such an op stays float here,
                # as the ai-edge-quantizer fallback that would keep it int8 cannot keep layers
                # float (nncf/experimental/torch/fx/quantization/quantizer/torch_ao_adapter.py)
                node.meta.pop("quantization_annotation", None)
                stripped.add(node)
        _strip_sharing(model.graph, stripped)
        missing = sorted(set(wanted) - found)
        if missing:
            raise CamkitError(f"no layer named {missing} in the graph LiteRT quantizes")
        kept["weighted"] = weighted
        return model

    quantizer.annotate = annotate_keeping_float
    return kept


def _has_fixed_qparams(node) -> bool:
    annotation = node.meta.get("quantization_annotation")
    if annotation is None:
        return False
    specs = [*annotation.input_qspec_map.values(), annotation.output_qspec]
    return any(type(q).__name__ == "FixedQParamsQuantizationSpec" for q in specs)


def _strip_sharing(graph: torch.fx.Graph, stripped: set) -> None:
    """Un-annotate, to a fixed point, every op whose quantization is *shared* with a stripped
    one (a mean, reshape or concat takes its input's scale: ``SharedQuantizationSpec``). PT2E
    cannot resolve a shared spec whose root has no annotation (torchao's
    ``_find_root_edge_or_node`` raises KeyError), and such an op computes on the float tensor
    anyway; the next op with its own input spec quantizes again."""

    def refers_to_stripped(qspec) -> bool:
        target = getattr(qspec, "edge_or_node", None)  # only SharedQuantizationSpec has it
        if target is None:
            return False
        return (target[1] if isinstance(target, tuple) else target) in stripped

    changed = True
    while changed:
        changed = False
        for node in graph.nodes:
            annotation = node.meta.get("quantization_annotation")
            if annotation is None or node in stripped:
                continue
            qspecs = [*annotation.input_qspec_map.values(), annotation.output_qspec]
            if any(refers_to_stripped(q) for q in qspecs):
                node.meta.pop("quantization_annotation")
                stripped.add(node)
                changed = True


#: elementwise activations that follow a layer and belong to it when it is kept float
_ACTIVATIONS = ("relu", "relu6", "hardtanh", "clamp", "sigmoid", "tanh", "gelu", "silu",
                "leaky_relu", "hardswish", "hardsigmoid", "elu")


def _is_activation(node) -> bool:
    """An aten activation (``aten.relu.default``, ``aten.tanh.default``, ...) on one tensor."""
    target = str(node.target)
    op = target.split(".")[1] if target.startswith("aten.") else ""
    return op.rstrip("_") in _ACTIVATIONS and len(node.all_input_nodes) == 1


class SubPixelConvTranspose(nn.Module):
    """A ``ConvTranspose2d`` (kernel k, stride s, padding p, k - 2p == s) rewritten exactly as a
    KxK conv with s*s*C_out channels followed by ``pixel_shuffle(s)`` (the sub-pixel form, Shi et
    al., CVPR 2016): output pixel (s*m + a, s*n + b) of the transposed conv reads inputs
    m + d with kernel tap ``a + p - s*d``, so phase (a, b) is a conv whose taps are those, the
    rest zero. For EdgeConnect's 4x4 stride-2 padding-1 upsampling that is a 3x3 conv: 9/4 of
    the transposed conv's MACs (the zero taps), exact to float rounding.

    Why LiteRT needs it: litert-torch 0.10 lowers ``conv_transpose2d`` by flipping and
    transposing the weight in the graph (REVERSE_V2 and TRANSPOSE before TRANSPOSE_CONV); with a
    quantized weight those ops run on the dequantized float weight and the TRANSPOSE_CONV
    computes in float, and its PT2E quantizer has no transposed-conv pattern anyway. CONV_2D +
    DEPTH_TO_SPACE are int8 (and int16x8) kernels everywhere, GPU and NNAPI delegates included."""

    def __init__(self, t: nn.ConvTranspose2d, q: int) -> None:
        super().__init__()
        k, s, p = t.kernel_size[0], t.stride[0], t.padding[0]
        c_in, c_out = t.in_channels, t.out_channels
        size = 2 * q + 1
        weight = torch.zeros(c_out, s, s, c_in, size, size, dtype=t.weight.dtype)
        source = t.weight.detach()  # [C_in, C_out, k, k]
        for a in range(s):
            for u in range(size):
                ky = a + p - s * (u - q)
                if not 0 <= ky < k:
                    continue
                for b in range(s):
                    for v in range(size):
                        kx = b + p - s * (v - q)
                        if 0 <= kx < k:
                            weight[:, a, b, :, u, v] = source[:, :, ky, kx].T
        self.stride, self.padding = s, q
        self.weight = nn.Parameter(weight.reshape(c_out * s * s, c_in, size, size))
        self.bias = (None if t.bias is None
                     else nn.Parameter(t.bias.detach().repeat_interleave(s * s)))

    @staticmethod
    def half_width(t: nn.Module) -> int | None:
        """The sub-pixel conv's padding q (kernel 2q+1) when ``t`` can be rewritten, else None."""
        if type(t).forward is not nn.ConvTranspose2d.forward:
            return None  # a subclass that computes something else
        k, s, p = t.kernel_size, t.stride, t.padding
        if (len(set(k)) != 1 or len(set(s)) != 1 or len(set(p)) != 1 or t.groups != 1
                or set(t.dilation) != {1} or set(t.output_padding) != {0}
                or t.padding_mode != "zeros" or k[0] - 2 * p[0] != s[0]):
            return None
        k, s, p = k[0], s[0], p[0]
        low, high = -((k - 1 - p) // s), (s - 1 + p) // s  # the input offsets d phases read
        return high if -low == high else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.conv2d(x, self.weight, self.bias, padding=self.padding)
        return nn.functional.pixel_shuffle(y, self.stride)


def subpixel_transposed_convs(module: nn.Module) -> tuple[nn.Module, list[str]]:
    """(``module`` with every rewritable ``ConvTranspose2d`` replaced by its exact
    ``SubPixelConvTranspose``, their module paths). The paths stay, so layer ids still name
    them; the module is a copy when something was replaced, ``module`` itself otherwise. Other
    transposed convs stay (and fail the integer check if they compute in float)."""
    import copy

    found = [name for name, m in module.named_modules()
             if isinstance(m, nn.ConvTranspose2d) and SubPixelConvTranspose.half_width(m) is not None]
    if not found:
        return module, []
    module = copy.deepcopy(module)
    with torch.no_grad():
        for name in found:
            parent_name, _, child = name.rpartition(".")
            parent = module.get_submodule(parent_name)
            old = parent.get_submodule(child)
            setattr(parent, child, SubPixelConvTranspose(old, SubPixelConvTranspose.half_width(old)))
    return module, found


def xnnpack_safe_graph(named: nn.Module, sample: dict[str, torch.Tensor]) -> nn.Module:
    """``named`` as an exported graph with its large means split, for the float conversion that
    ai-edge-quantizer's int8 recipe starts from (its int8 MEAN runs on the same XNNPACK kernel)."""
    graph = torch.export.export(named, (), sample).module()
    return graph if split_large_means(graph) else named


def split_large_means(graph: torch.fx.GraphModule) -> int:
    """Rewrite each mean over several axes that reduces more than ``XNNPACK_INT8_MEAN_MAX``
    elements into one mean per axis (the last axis first); returns how many were rewritten.

    A single axis longer than the limit stays as it is (no image model here reduces 8192+ pixels
    along one axis); ``meta["val"]`` is filled so NNCF's graph builder sees the new shapes."""
    from math import prod

    rewritten = 0
    for node in list(graph.graph.nodes):
        if node.op != "call_function" or node.target != torch.ops.aten.mean.dim:
            continue
        source, dims = node.args[0], node.args[1]
        keepdim = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
        value = source.meta.get("val") if isinstance(source, torch.fx.Node) else None
        if value is None or len(node.args) > 3 or node.kwargs.get("dtype") is not None:
            continue
        rank = value.dim()
        axes = sorted({int(d) % rank for d in dims}, reverse=True)  # high axes first: indices hold
        if len(axes) < 2 or prod(int(value.shape[a]) for a in axes) <= XNNPACK_INT8_MEAN_MAX:
            continue
        from toolkit.quantization.layers import LAYER_ID_META, fx_layer_id

        lid = fx_layer_id(node)  # the split means keep the mean's layer id (kept float alike)
        with graph.graph.inserting_before(node):
            x, x_val = source, value
            for axis in axes:
                x_val = torch.ops.aten.mean.dim(x_val, [axis], keepdim)
                x = graph.graph.call_function(torch.ops.aten.mean.dim, (x, [axis], keepdim))
                x.meta.update({k: v for k, v in node.meta.items() if k != "val"}, val=x_val)
                x.meta[LAYER_ID_META] = lid
        node.replace_all_uses_with(x)
        graph.graph.erase_node(node)
        rewritten += 1
    if rewritten:
        graph.graph.lint()
        graph.recompile()
    return rewritten


@contextlib.contextmanager
def _strict_qdq() -> Iterator[None]:
    """Convert with ``strict_qdq_mode``: keep the boundary QUANTIZE/DEQUANTIZE ops (float I/O).

    litert-torch 0.10 builds its ``ConvertToTFLConfig`` inside
    ``exported_programs_to_flatbuffer`` and passes it to
    ``converter_api_ext.run_convert_to_tfl_passes``; the flag is set there, for this block only.
    """
    from litert_torch._convert import litert_converter

    ext = litert_converter.converter_api_ext
    run_passes = ext.run_convert_to_tfl_passes

    def run(module, pass_manager, config):
        config.strict_qdq_mode = True
        return run_passes(module, pass_manager, config)

    ext.run_convert_to_tfl_passes = run
    try:
        yield
    finally:
        ext.run_convert_to_tfl_passes = run_passes


# ------------------------------------------------- w8a16 and the w8a8 fallback: ai-edge-quantizer


def aeq_static(
    float_model: bytes, signature: str, calib: list[dict], bits: int, path: Path,
    float_layers: Sequence[str] = (),
) -> int:
    """ai-edge-quantizer static int8-weight / ``bits``-activation recipe, float32 I/O kept;
    the ops of ``float_layers`` (module layer ids: ``<path>/*`` or a conv/linear's path) stay
    float (``NO_QUANTIZE`` by ``float_scope_regex``; the quantizer puts a DEQUANTIZE before them
    and a QUANTIZE after). Returns how many conv / fully-connected ops stayed float."""
    from ai_edge_quantizer import calibrator, qtyping, quantizer, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.utils import qsv_utils

    recipes = recipe_manager.RecipeManager()
    recipes.add_static_config(
        regex=".*",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        activation_num_bits=bits,
        weight_num_bits=8,
        algorithm_key=AlgorithmName.MIN_MAX_UNIFORM_QUANT,
    )
    kept_weighted = 0
    if float_layers:
        ops = op_scopes(float_model)
        for lid in dict.fromkeys(float_layers):
            regex = float_scope_regex(lid)
            hits = [op for op, scope in ops if re.search(regex, scope)]
            if not hits:
                raise CamkitError(
                    f"no op of layer {lid!r} in the LiteRT graph (ai-edge-quantizer selects ops "
                    f"by their tensor names, regex {regex!r})"
                )
            kept_weighted += sum(op in WEIGHTED_TFL_OPS for op in hits)
            recipes.add_quantization_config(regex, qtyping.TFLOperationName.ALL_SUPPORTED,
                                            algorithm_key=AlgorithmName.NO_QUANTIZE)
    for boundary in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
        recipes.add_quantization_config(".*", boundary, algorithm_key=AlgorithmName.NO_QUANTIZE)

    ranges = calibrator.Calibrator(
        float_model, num_threads=CALIBRATION_THREADS, qsv_update_func=qsv_utils.min_max_update
    )
    ranges.calibrate({signature: calib}, recipes)
    qsvs = ranges.get_model_qsvs()
    if bits == 16:
        qsvs = widen_ranges(qsvs)
    engine = quantizer.Quantizer(float_model, recipes.get_quantization_recipe())
    result = engine.quantize(qsvs, enable_progress_report=False)
    Path(path).write_bytes(bytes(result.quantized_model))
    return kept_weighted


#: TFLite ops that carry weights (what "conv / linear kept float" counts)
WEIGHTED_TFL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED")


def float_scope_regex(lid: str) -> str:
    """The ai-edge-quantizer scope regex for a module layer id: litert-torch names an op's output
    tensor after its module stack, ``<Class>_<attribute>`` per level joined by ``/`` (the export
    wrappers as ``<Class>_inner``), ops of one module told apart by ``;N``, fused ops' names
    joined by ``;;``: ``..._NamedIO/...Generator_inner/...Sequential_blocks/...ResidualBlock_0/
    toolkit.models._blocks.InstanceNorm_norm1;3``. So ``blocks.0.norm1/*`` and
    ``blocks.0.norm1`` select that module's ops and its submodules'. A functional op's id
    (``cond_net/mean``) has no name of its own there (CSRNet_inner;3): refused."""
    module = lid.removesuffix(layers.MODULE_WILDCARD)
    if "/" in module or not module:
        raise CamkitError(
            f"LiteRT w8a16 keeps whole modules float, not the single op {lid!r} "
            f"(ai-edge-quantizer selects ops by tensor name, which names modules only)"
        )
    parts = "".join(f"/[^/;]+_{re.escape(part)}" for part in module.split("."))
    return f"_{layers.WRAPPER_ATTR}{parts}(?=[;/]|$)"


def op_scopes(model: bytes) -> list[tuple[str, str]]:
    """(op name, the output tensor names joined by ``;``) of each op of a .tflite's main
    subgraph: what an ai-edge-quantizer recipe regex is matched against."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}
    m = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    graph = m.subgraphs[0]
    out = []
    for op in graph.operators:
        code = m.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        scope = ";".join(graph.tensors[i].name.decode() if isinstance(graph.tensors[i].name, bytes)
                         else graph.tensors[i].name for i in op.outputs)
        out.append((names.get(builtin, str(builtin)), scope))
    return out


def widen_ranges(qsvs: dict, headroom: float | None = None) -> dict:
    """Activation ranges with headroom for 16-bit activations, as ONNX w8a16 has: each side of
    a range that is not at zero moves out by ``headroom`` (options.ACTIVATION16_HEADROOM) of the
    range's width. Five calibration photos give the condition vectors of CSRNet narrow ranges
    that other photos leave, and a 16-bit range clips them where an 8-bit one would only round:
    official CSRNet LiteRT w8a16 at 128x128, worst of 26 held-apart photos 27.4 dB without
    headroom (a Places2 photo), 47.8 at 0.5 and 47.7 at 1.0 (47.9 when calibrated on those
    photos themselves)."""
    headroom = options.ACTIVATION16_HEADROOM if headroom is None else headroom
    out = {}
    for name, qsv in qsvs.items():
        if "min" not in qsv or "max" not in qsv:
            out[name] = qsv
            continue
        lo, hi = np.asarray(qsv["min"], np.float32), np.asarray(qsv["max"], np.float32)
        width = hi - lo
        out[name] = {**qsv, "min": np.where(lo < 0, lo - headroom * width, lo),
                     "max": np.where(hi > 0, hi + headroom * width, hi)}
    return out


# ------------------------------------------------------------------------------ what's inside


def _dtype_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k.lower() for k, v in vars(schema.TensorType).items() if k.isupper()}


def describe(path: Path) -> dict:
    """The quantization facts of a .tflite, read from its tensors.

    Returns ``weights`` and ``activations`` ({bits, granularity, symmetric}, None when nothing
    is integer), ``float_layers`` (ops that compute in float, as "OP tensor-name"; QUANTIZE and
    DEQUANTIZE ops that read a graph input or write a graph output are the boundary, not layers),
    ``io`` (dtype of the signature tensors: "float32", "uint8", or e.g. "float32/int8" when they
    differ), ``io_quantization`` (per signature name, {scale, zero_point} of a quantized tensor,
    None for a float one), ``boundary`` (QUANTIZE/DEQUANTIZE counts at the I/O and inside).
    """
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools.flatbuffer_utils import get_builtin_code_from_operator_code

    dtypes = _dtype_names()
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}
    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)

    def op_name(op) -> str:
        code = get_builtin_code_from_operator_code(model.OperatorCodes(op.OpcodeIndex()))
        return op_names.get(code, "CUSTOM")

    weights, activations = [], []  # (bits, per_channel, symmetric)
    float_layers: list[str] = []
    boundary: Counter[str] = Counter()
    io_types = set()
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        inputs = set(graph.InputsAsNumpy().tolist())
        outputs = set(graph.OutputsAsNumpy().tolist())
        if g == 0:
            io_types |= {dtypes[graph.Tensors(i).Type()] for i in inputs | outputs}
        produced = {
            int(i)
            for k in range(graph.OperatorsLength())
            for i in graph.Operators(k).OutputsAsNumpy()
        }

        def facts(index: int) -> tuple[str, int, bool]:
            """dtype, number of scales (0: not quantized), symmetric (all zero points 0)."""
            tensor = graph.Tensors(index)
            q = tensor.Quantization()
            scales = q.ScaleLength() if q is not None else 0
            symmetric = q is None or q.ZeroPointLength() == 0 or not q.ZeroPointAsNumpy().any()
            return dtypes[tensor.Type()], scales, symmetric

        for k in range(graph.OperatorsLength()):
            op = graph.Operators(k)
            name = op_name(op)
            ins = [int(i) for i in op.InputsAsNumpy() if i >= 0]
            outs = [int(i) for i in op.OutputsAsNumpy() if i >= 0]
            activation_ins = [i for i in ins if i in produced or i in inputs]
            if name in ("QUANTIZE", "DEQUANTIZE") and activation_ins:  # else a widened constant
                where = ("at_input" if set(activation_ins) <= inputs
                         else "at_output" if set(outs) <= outputs else "inside")
                boundary[f"{name.lower()}_{where}"] += 1
            if name == "DEQUANTIZE" and not activation_ins:
                continue
            out_dtype = facts(outs[0])[0] if outs else "none"
            if name not in ("QUANTIZE", "DEQUANTIZE") and out_dtype.startswith("float"):
                label = graph.Tensors(outs[0]).Name()
                label = label.decode() if isinstance(label, bytes) else str(label)
                float_layers.append(f"{name} {label}")
            if name in WEIGHT_OPS and len(ins) > 1:
                dtype, scales, symmetric = facts(ins[1])
                if scales and dtype.startswith(("int", "uint")):
                    weights.append((_bits(dtype), scales > 1, symmetric))
            for i in outs:
                dtype, scales, symmetric = facts(i)
                if scales and dtype.startswith(("int", "uint")):
                    activations.append((_bits(dtype), scales > 1, symmetric))
    return {
        "weights": _summary(weights),
        "activations": _summary(activations),
        "float_layers": float_layers,
        "io": "/".join(sorted(io_types)),
        "io_quantization": _io_quantization(model),
        "boundary": dict(sorted(boundary.items())),
    }


def _io_quantization(model) -> dict[str, dict | None]:
    """{scale, zero_point} of each quantized signature tensor (first signature), None if float."""
    if not model.SignatureDefsLength():
        return {}
    sig = model.SignatureDefs(0)
    graph = model.Subgraphs(sig.SubgraphIndex())
    maps = [sig.Inputs(i) for i in range(sig.InputsLength())]
    maps += [sig.Outputs(i) for i in range(sig.OutputsLength())]
    out = {}
    for m in maps:
        q = graph.Tensors(m.TensorIndex()).Quantization()
        name = m.Name().decode()
        if q is None or q.ScaleLength() == 0:
            out[name] = None
        else:  # per-tensor at the boundary: one scale (a float32 in the file) and zero point
            zero_point = int(q.ZeroPoint(0)) if q.ZeroPointLength() else 0
            out[name] = {"scale": float(q.Scale(0)), "zero_point": zero_point}
    return out


def _bits(dtype: str) -> int:
    return int("".join(c for c in dtype if c.isdigit()))


def _summary(entries: list[tuple[int, bool, bool]]) -> dict | None:
    """{bits, granularity, symmetric} over tensors; "mixed" granularity where they disagree."""
    if not entries:
        return None
    bits = sorted({b for b, _, _ in entries})
    channel = {c for _, c, _ in entries}
    return {
        "bits": bits[0] if len(bits) == 1 else bits,
        "granularity": (
            "mixed" if len(channel) > 1 else "per-channel" if True in channel else "per-tensor"
        ),
        # affine ranges may land on zero point 0 by chance: symmetric only if every one does
        "symmetric": all(s for _, _, s in entries),
    }


def integer_problems(
    facts: dict, activation_bits: int, kept_float: int = 0, io_dtype: str = "float32"
) -> list[str]:
    """Why a file is not the promised integer model (empty when it is); ``kept_float`` conv /
    fully-connected ops may compute in float (layers kept float on purpose); its signature
    tensors must be ``io_dtype`` with that dtype's scale and zero point (``spec.IO_DTYPES``)."""
    problems = []
    weights, activations = facts["weights"], facts["activations"]
    float_weight_ops = [f for f in facts["float_layers"] if f.split()[0] in WEIGHT_OPS]
    all_kept = weights is None and 0 < len(float_weight_ops) <= kept_float
    if (weights is None and not all_kept) or (weights is not None and weights["bits"] != 8):
        problems.append(f"weights are not int8 ({weights})")
    if activations is None or activations["bits"] != activation_bits:
        problems.append(f"activations are not int{activation_bits} ({activations})")
    if len(float_weight_ops) > kept_float:
        problems.append(f"{len(float_weight_ops)} conv/fully-connected ops compute in float")
    if facts["io"] != io_dtype:
        problems.append(f"signature I/O is {facts['io']}, not {io_dtype}")
    want = IO_DTYPES[io_dtype]
    for name, got in facts["io_quantization"].items():
        if not _same_quantization(got, want):
            problems.append(f"signature tensor {name} has quantization {got}, not {want}")
    return problems


def _same_quantization(got: dict | None, want: dict | None) -> bool:
    """Equal, with the scale compared as the float32 the file stores."""
    if got is None or want is None:
        return got is want
    return (np.float32(got["scale"]) == np.float32(want["scale"])
            and got["zero_point"] == want["zero_point"])


def check_integer(
    facts: dict, activation_bits: int, what: str, kept_float: int = 0, io_dtype: str = "float32"
) -> None:
    problems = integer_problems(facts, activation_bits, kept_float, io_dtype)
    if problems:
        raise CamkitError(f"{what} is not a w8a{activation_bits} model: {'; '.join(problems)}")
