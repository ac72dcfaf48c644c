"""Core ML w8a8 post-training quantization: a torchao PT2E quantizer, calibrated by NNCF.

Path: ``torch.export.export(...).module()`` -> ``nncf.experimental.torch.fx.quantize_pt2e`` with
:class:`CoreMLW8A8Quantizer` -> a torch.fx graph with ``quantized_decomposed`` quantize /
dequantize ops (weights folded to int8 constants) -> ``torch.export`` again -> ``ct.convert``
(toolkit/conversion/coreml.py), which maps them onto MIL ``quantize`` / ``dequantize`` and
``constexpr_affine_dequantize``.

Why not coremltools' own quantizer: ``coremltools.optimize.torch.quantization._coreml_quantizer``
(``CoreMLQuantizer``, coremltools 9.0) imports ``torch.ao.quantization.quantizer`` and the
XNNPACK quantizer utils, which torch 2.13 no longer has (PT2E moved to torchao), so it fails on
import with "No module named 'torch.ao.quantization.quantizer'" -- and so does coremltools' own
prepare_pt2e/convert_pt2e flow, which needs the same class. :class:`CoreMLW8A8Quantizer` is a
small torchao quantizer that annotates the patterns CoreMLQuantizer annotates for these models
(conv/linear + optional ReLU, and binary add/mul/sub) with camkit's w8a8 scheme.

Scheme (``toolkit.spec.PRECISIONS["w8a8"]``):

- weights of conv and linear: int8, per output channel, symmetric, range [-127, 127];
- activations: int8, per tensor, affine (asymmetric: ReLU outputs and [0, 1] images would waste
  half of a symmetric range), range from the global min/max over the calibration set. NNCF's
  default (the *mean* of per-image minima/maxima) clips: tiny CSRNet fell from 44 dB to 27 dB
  worst-case PSNR against float, paper CSRNet at 270x480 from 44 dB to 23 dB;
- biases stay float, and no bias correction (NNCF's ``fast_bias_correction``) is applied, so the
  float weights are exactly the checkpoint's and the scheme is plain calibrated min/max;
- the model outputs stay float: an 8-bit image output would band for no gain (the last op's
  inputs are int8, its output is not requantized).

Deterministic: same module, same calibration feeds -> same graph (min/max statistics, no
sampling). :func:`activation_qparams` lists every activation quantizer (producer, scale, zero
point) so a later process can prove that its re-derived graph is the exported one
(:func:`qparams_mismatch`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from toolkit._quiet import quiet
from toolkit.conversion._common import dynamic_hw, example_inputs
from toolkit.errors import CamkitError, missing_extra
from toolkit.quantization import options
from toolkit.quantization.layers import fx_layer_id, selector
from toolkit.spec import ExportSpec

#: what the scheme file says about the quantized tensors (merged into the manifest)
WEIGHTS = {"bits": 8, "dtype": "int8", "granularity": "per-channel", "axis": 0,
           "symmetric": True, "range": [-127, 127]}
ACTIVATIONS = {"bits": 8, "dtype": "int8", "granularity": "per-tensor", "symmetric": False,
               "range": [-128, 127], "range_estimator": "min/max over the calibration set"}

#: relative scale difference / zero-point steps tolerated when a re-derived graph is compared
#: with the recorded one (float sums may differ in the last bits across thread counts)
SCALE_RTOL, ZERO_POINT_ATOL = 1e-3, 1

_SHAPE_OPS = ("view", "reshape", "permute", "transpose", "squeeze", "unsqueeze", "flatten",
              "contiguous", "clone", "expand", "getitem", "_assert", "sym_size")


def _torchao():
    try:
        with quiet():
            from torchao.quantization.pt2e import observer
            from torchao.quantization.pt2e import quantizer
    except ImportError:
        raise missing_extra("torchao", "quant") from None
    return observer, quantizer


def _nncf():
    try:
        with quiet():
            import nncf
            from nncf.experimental.torch.fx import quantize_pt2e
            from nncf.quantization.range_estimator import RangeEstimatorParametersSet
    except ImportError:
        raise missing_extra("nncf", "quant") from None
    return nncf, quantize_pt2e, RangeEstimatorParametersSet


def _is_shape_op(node) -> bool:
    return node.op == "call_function" and any(s in str(node.target) for s in _SHAPE_OPS)


def _describe(node) -> str:
    """'cond_net.mean (aten.mean.dim)': module path (NHWC wrapper dropped), node, op."""
    stack = node.meta.get("nn_module_stack") or {}
    scope = list(stack.values())[-1][0] if stack else ""
    scope = scope.removeprefix("inner").removeprefix(".")  # ChannelsLast wraps the model as inner
    return f"{scope + '.' if scope else ''}{node.name} ({node.target})"


def _graph_outputs(graph: torch.fx.Graph) -> set:
    """Nodes whose value is a model output, looking through reshapes/permutes (NHWC)."""
    found, todo = set(), [a for n in graph.nodes if n.op == "output" for a in n.all_input_nodes]
    while todo:
        node = todo.pop()
        found.add(node)
        if _is_shape_op(node):
            todo.extend(node.all_input_nodes[:1])
    return found


def make_quantizer(float_layers: Sequence[str] = ()):
    """A fresh :class:`CoreMLW8A8Quantizer` (torchao is imported lazily) that leaves the layers
    ``float_layers`` (ids from toolkit/quantization/layers.py) unannotated: they compute in
    float, and a quantized op that reads their output quantizes it on its input. An id
    ``<module path>/*`` keeps every op of that module float."""
    observer, q = _torchao()
    keep_float = list(dict.fromkeys(float_layers))
    select = selector(keep_float)

    act = q.QuantizationSpec(
        dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine,
        observer_or_fake_quant_ctr=observer.MinMaxObserver.with_args(eps=2**-12),
    )
    weight = q.QuantizationSpec(
        dtype=torch.int8, quant_min=-127, quant_max=127, qscheme=torch.per_channel_symmetric,
        ch_axis=0,
        observer_or_fake_quant_ctr=observer.PerChannelMinMaxObserver.with_args(eps=2**-12),
    )
    # a transposed conv's weight is [C_in, C_out / groups, kH, kW]: per output channel is axis 1
    transposed_weight = q.QuantizationSpec(
        dtype=torch.int8, quant_min=-127, quant_max=127, qscheme=torch.per_channel_symmetric,
        ch_axis=1,
        observer_or_fake_quant_ctr=observer.PerChannelMinMaxObserver.with_args(eps=2**-12),
    )
    aten = torch.ops.aten
    transposed = {aten.conv_transpose2d.input}
    weighted = {aten.conv1d.default, aten.conv2d.default, aten.conv2d.padding,
                aten.linear.default, *transposed}
    binary = {aten.add.Tensor, aten.mul.Tensor, aten.sub.Tensor}
    activation = {aten.relu.default}

    class CoreMLW8A8Quantizer(q.Quantizer):
        """conv/transposed conv/linear (+ReLU) and add/mul/sub: int8 inputs, weights and
        outputs (a transposed conv's weights per output channel: axis 1).

        A model output is not requantized. ``float_layers`` (set by ``annotate``) names the
        compute ops no pattern covers (they compute in float between a dequantize and the next
        quantize) and the ops whose float output is a model output.
        """

        def __init__(self) -> None:
            super().__init__()
            self.float_layers: list[str] = []
            #: layer ids of the ops a pattern covers, in graph order (accuracy-aware candidates)
            self.layers: list[str] = []
            #: conv / linear / transposed-conv ops left float because a float layer selects them
            self.kept_weighted = 0

        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            outputs = _graph_outputs(model.graph)
            handled, floats, layers, used = set(), [], [], set()
            for node in model.graph.nodes:
                if node.op != "call_function":
                    continue
                if select(fx_layer_id(node)) is not None:
                    used.add(select(fx_layer_id(node)))  # ops no pattern covers count too
                    self.kept_weighted += node.target in weighted
                if node.target in weighted or node.target in binary:
                    layer = fx_layer_id(node)
                    if layer not in layers:
                        layers.append(layer)
                    if select(layer) is not None:
                        floats.append(f"{_describe(node)}: kept float ({select(layer)})")
                        continue
                if node.target in weighted:
                    w_spec = transposed_weight if node.target in transposed else weight
                    inputs = {node.args[0]: act, node.args[1]: w_spec}
                elif node.target in binary:
                    inputs = {a: act for a in node.args[:2] if isinstance(a, torch.fx.Node)}
                else:
                    if node not in handled and not _is_shape_op(node):
                        floats.append(_describe(node))
                    continue
                users = list(node.users)
                fused = users[0] if len(users) == 1 and users[0].target in activation else None
                last = fused or node
                out = None if last in outputs else act
                if last in outputs:
                    floats.append(f"{_describe(last)}: model output, not requantized")
                node.meta["quantization_annotation"] = q.QuantizationAnnotation(
                    input_qspec_map=inputs, output_qspec=None if fused else out, _annotated=True
                )
                if fused is not None:
                    handled.add(fused)
                    fused.meta["quantization_annotation"] = q.QuantizationAnnotation(
                        output_qspec=out, _annotated=True
                    )
            missing = sorted(set(keep_float) - used)
            if missing:
                raise CamkitError(
                    f"no quantizable layer named {missing}; the layers are: {', '.join(layers)}"
                )
            self.float_layers, self.layers = floats, layers
            return model

        def validate(self, model: torch.fx.GraphModule) -> None:
            pass

    return CoreMLW8A8Quantizer()


@dataclass
class Quantized:
    """The quantized torch graph (what Core ML is given) and what was done to get it."""

    graph: torch.fx.GraphModule
    calibration_count: int
    float_layers: list[str] = field(default_factory=list)
    qparams: list[list] = field(default_factory=list)
    #: every quantizable layer id, in graph order, and the ids kept float on request (as asked:
    #: ``<module path>/*`` stays one entry)
    layers: list[str] = field(default_factory=list)
    kept_float: list[str] = field(default_factory=list)
    #: conv/linear/transposed-conv ops those ids cover (a ``<module>/*`` id may cover several)
    kept_weighted: int = 0


def _as_feeds(calib) -> list[dict[str, np.ndarray]]:
    feeds = list(calib) if calib is not None else []
    if not feeds:
        raise CamkitError(
            "w8a8 needs calibration inputs and none were given; export with 'camkit export "
            "--precision w8a8' (it calibrates on the model's calibration set) or pass --calib"
        )
    return feeds


def quantize(
    module: nn.Module, spec: ExportSpec, calib, float_layers: Sequence[str] = ()
) -> Quantized:
    """w8a8 PTQ of a prepared module (``prepare_for_export``) on ``calib`` feeds via NNCF, with
    the layers ``float_layers`` left in float."""
    feeds = _as_feeds(calib)
    nncf, quantize_pt2e, _ = _nncf()  # the range estimator comes from options.active()
    names = [t.name for t in spec.model.inputs]
    missing = sorted(set(names) - set(feeds[0]))
    if missing:
        raise CamkitError(
            f"calibration feeds lack the input(s) {missing}; they have {sorted(feeds[0])}"
        )
    with quiet():
        graph = torch.export.export(
            module, example_inputs(spec), dynamic_shapes=dynamic_hw(module, spec)
        ).module()
        quantizer = make_quantizer(float_layers)
        dataset = nncf.Dataset(
            feeds, lambda f: tuple(torch.from_numpy(np.ascontiguousarray(f[n])) for n in names)
        )
        quantized = quantize_pt2e(
            graph, quantizer, calibration_dataset=dataset, subset_size=len(feeds),
            fast_bias_correction=None,  # None: no bias correction, float weights stay as trained
            activations_range_estimator_params=options.active().nncf_range_estimator(),
            fold_quantize=True,  # int8 weight constants -> constexpr_affine_dequantize in MIL
        )
    return Quantized(quantized, len(feeds), quantizer.float_layers, activation_qparams(quantized),
                     quantizer.layers, list(dict.fromkeys(float_layers)), quantizer.kept_weighted)


def activation_qparams(graph: torch.fx.GraphModule) -> list[list]:
    """[producer, scale, zero point] of every activation quantize op, in graph order."""
    target = torch.ops.quantized_decomposed.quantize_per_tensor.default
    return [
        [n.args[0].name if isinstance(n.args[0], torch.fx.Node) else str(n.args[0]),
         float(n.args[1]), int(n.args[2])]
        for n in graph.graph.nodes if n.op == "call_function" and n.target is target
    ]


def qparams_mismatch(found: list[list], recorded: list[list]) -> str | None:
    """Why ``found`` is not the recorded quantization (None when they agree)."""
    if len(found) != len(recorded):
        return f"{len(found)} activation quantizers, the export recorded {len(recorded)}"
    for (name, scale, zp), (rname, rscale, rzp) in zip(found, recorded):
        if name != rname:
            return f"activation quantizer on '{name}', the export recorded '{rname}'"
        if abs(scale - rscale) > SCALE_RTOL * abs(rscale) or abs(zp - rzp) > ZERO_POINT_ATOL:
            return (f"'{name}' has scale {scale:.6g} / zero point {zp}, the export recorded "
                    f"{rscale:.6g} / {rzp}")
    return None


def graph_runner(graph: torch.fx.GraphModule, spec: ExportSpec) -> Callable[[dict], dict]:
    """The quantized graph with the Runner calling convention (arrays in the spec's layout)."""

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(feeds[t.name], np.float32))
                for t in spec.model.inputs]
        with torch.no_grad():
            out = graph(*args)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return {t.name: o.detach().numpy() for t, o in zip(spec.model.outputs, outs)}

    return run
