"""w8a8 post-training quantization of an ONNX graph with NNCF's ONNX backend, and a reading of
the QDQ graph it returns, so that the scheme written into the manifest is what the file holds.

``quantize_w8a8`` calls ``nncf.quantize`` on the fp32 ``ModelProto``; NNCF inserts
QuantizeLinear/DequantizeLinear pairs (QDQ), folds the weight quantizers into int8 initializers
and returns a model that onnxruntime runs (it fuses QDQ around Conv/Gemm into integer kernels).
The settings, each against what NNCF 3.4 would otherwise do, measured on CSRNet (parity PSNR
against torch, worst of the five photos_pd images; paper variant at 1080x1920, tiny at 64x64):

- ``preset=MIXED``: weights int8 symmetric per-channel, activations asymmetric per-tensor (int8
  or uint8 with a zero point), the scheme TFLite, NNAPI and QNN use. PERFORMANCE (symmetric
  activations) wastes levels on the GFM products of an image-to-image model, which are not
  centred on zero: paper 43.5 dB vs 45.9 dB for MIXED (tiny: 36.5 vs 36.3 dB, a wash).
- ``activations_range_estimator_params=MINMAX`` (min and max over all calibration samples).
  NNCF's default for per-tensor activations is MEAN_MINMAX (the mean over samples of each
  sample's min and max), which with a handful of photos clips the brighter ones: the input
  quantizer alone then cuts [0, 1] at 0.95. Paper: 23.3 dB (default) -> 45.9 dB (MINMAX).
- ``overflow_fix`` left at NNCF's default (FIRST_LAYER): the weights of the layers that read the
  model input use half the int8 range ([-64, 64]). onnxruntime's u8 x s8 kernels on x86 CPUs
  without VNNI (AVX2, like this CI host) add pairs of products in int16 (vpmaddubsw), which
  saturates; with full-range first-layer weights paper parity falls to 35.0 dB on such a host
  (47.1 dB with onnxruntime's graph optimizations off, i.e. unfused QDQ arithmetic), with the fix
  it is 45.9 dB either way. The layers affected are listed in the scheme (``half_range_layers``).
  onnxruntime's own quantizer has ``reduce_range`` (7-bit weights) for the same reason:
  https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html
- The overflow fix on *every* layer when the first-layer fix is not enough on the export host:
  after quantizing, the calibration feeds run through onnxruntime twice, with its graph
  optimizations (fused integer kernels, what apps get) and without (QDQ arithmetic in float, the
  file's own meaning), each compared with the float graph. When the fused run loses more than
  ``SATURATION_LOSS_DB`` of worst-case parity to the QDQ run, the host's kernels saturate inside
  the graph, and it is quantized again with ``OverflowFix.ENABLE`` (7-bit weights everywhere),
  kept if its fused parity is better. Measured (worst of photos_pd, fused / QDQ parity vs
  torch): tiny NAFNet, random weights, first layer 19.6 / 44.6 dB, all layers 45.1 / 45.0;
  NAFNet mobile at 256x256 49.0 / 53.0, all layers 52.9 / 52.9. Where nothing saturates the
  all-layer fix costs parity (at 96x96: WESPE mobile 45.8 -> 44.6 dB, Dense U-Net mobile
  47.1 -> 44.6; CSRNet paper 46.3 -> 45.1 at 256x256), so it is not the default. Which kernels
  the export host has decides (a VNNI or ARM host does not saturate and keeps the first-layer
  fix); the scheme records the parities (``host_kernels``).
- no bias correction by default (``--ptq bias-correction`` turns NNCF's fast bias correction
  on; options.py has what it cost on the official CSRNet). The full BiasCorrection fails on
  CSRNet's graph: onnxruntime rejects the subgraph NNCF cuts out ("Duplicate definition-site
  for (mean)").
- conv outputs that only float ops read are requantized (``requantize_float_consumers``), so
  onnxruntime runs those convs as integer kernels, as LiteRT and Core ML do.
- ``subset_size=len(calib)``: every calibration input is used, in order; model_type None and
  target_device ANY (defaults), no ignored scope.

16-bit activations (w8a16) are not possible through NNCF 3.4's ONNX backend:
``nncf/onnx/quantization/quantizer_parameters.py::convert_fq_params_to_onnx_params`` raises
"Can only export to INT8/UIN8 8 bits ONNX Quantize/Dequantize pairs." for any ``num_bits != 8``
(also at opset 21), and ``ONNXModelTransformer._get_scale_zero_point_tensors`` only writes
uint8/int8/float8 zero points. Its only other ONNX mode is FP8 (E4M3/E5M2). camkit's w8a16 therefore
widens this module's 8-bit graph to 16-bit activation QDQ itself: toolkit/quantization/onnx_qdq16.py.

Determinism: NNCF draws no random numbers here (statistics over the whole list, in order); two
exports of the same module give byte-identical files. Statistics come from onnxruntime runs with
its default thread count, so a machine with another core count may round a float differently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from toolkit._quiet import quiet
from toolkit.errors import CamkitError
from toolkit.quantization import options

#: what produced the QDQ graph (the manifest's precision_scheme.path)
PATH = "nncf.quantize (ONNX backend, QDQ)"
#: NNCF preset: asymmetric per-tensor activations, symmetric per-channel weights (see above)
PRESET = "mixed"
#: ops whose inputs carry the weights; a QDQ-free one of these is a float layer
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
#: NNCF's overflow fix gives the weights of these layers the range [-64, 64] of 7 bits
HALF_RANGE_MAX = 64
#: parity (dB) the host's fused kernels may lose against the file's QDQ arithmetic before the
#: export counts them as saturating and tries the overflow fix on every layer (see above)
SATURATION_LOSS_DB = 1.0
_BITS = {"INT8": 8, "UINT8": 8, "INT16": 16, "UINT16": 16, "INT4": 4, "UINT4": 4}


def calibration_list(calib: Iterable[dict[str, np.ndarray]] | None, precision: str) -> list[dict]:
    """The calibration feeds as a list, or a one-line error when there are none."""
    feeds = list(calib) if calib is not None else []
    if not feeds:
        raise CamkitError(
            f"onnx {precision} needs calibration inputs and none were given; export with "
            f"'camkit export --precision {precision}' (it calibrates on the model's calibration "
            f"set) or pass --calib DIR"
        )
    return feeds


def _float32_feeds(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()}


def quantize_w8a8(
    model, calib: list[dict[str, np.ndarray]], ignored_nodes: Sequence[str] = (), *,
    overflow_fix: str = "first_layer_only",
):
    """int8 QDQ model from an fp32 ``onnx.ModelProto`` and its calibration feeds, with NNCF.

    ``ignored_nodes``: ONNX node names NNCF leaves in float (no quantizer on their inputs, float
    weights): the layers accuracy-aware quantization keeps float. ``overflow_fix``: NNCF's
    OverflowFix value; w8a16 passes "disable" (onnx_qdq16.py says why)."""
    failure = None
    with quiet() as log:  # NNCF logs on import and draws progress bars while it calibrates
        try:
            import nncf
            from nncf.quantization.advanced_parameters import (
                AdvancedQuantizationParameters,
                OverflowFix,
            )

            quantized = nncf.quantize(
                model,
                nncf.Dataset(calib, _float32_feeds),
                preset=nncf.QuantizationPreset(PRESET),
                subset_size=len(calib),
                fast_bias_correction=True,  # False is the full BiasCorrection (fails, above)
                ignored_scope=nncf.IgnoredScope(names=list(ignored_nodes)) if ignored_nodes else None,
                advanced_parameters=AdvancedQuantizationParameters(
                    activations_range_estimator_params=options.active().nncf_range_estimator(),
                    disable_bias_correction=not options.active().fast_bias_correction,
                    overflow_fix=OverflowFix(overflow_fix),
                ),
            )
        except Exception as e:  # NNCF and onnxruntime raise many types
            if os.environ.get("CAMKIT_VERBOSE"):
                raise
            failure = e
    if failure is None:
        requantize_float_consumers(quantized, calib)
    if failure is not None:
        lines = [ln for ln in str(failure).splitlines() if ln.strip()]
        detail = lines[0] if lines else type(failure).__name__
        raise CamkitError(
            f"NNCF w8a8 quantization of the ONNX graph failed: {detail} (rerun with "
            f"CAMKIT_VERBOSE=1 for NNCF's log; {len(log.text.splitlines())} lines were hidden)"
        ) from None
    return quantized


#: suffix of what :func:`requantize_float_consumers` adds (node and tensor names)
REQUANT = "_camkit_requant"


def requantize_float_consumers(model, calib: list[dict[str, np.ndarray]]) -> list[str]:
    """Give every quantized Conv/Gemm/MatMul whose output only float ops read an output
    QuantizeLinear/DequantizeLinear pair (uint8, zero point, min/max of that tensor over
    ``calib``), in place; returns the names of those layers.

    NNCF's ONNX backend quantizes a tensor on the inputs of the quantized ops that read it, so a
    conv whose consumers stay float (CSRNet's convs before their float modulation) keeps a float
    output, and onnxruntime, which fuses DequantizeLinear -> Conv -> QuantizeLinear into an
    integer kernel, runs it in float on dequantized weights. With the pair it computes in
    integers and requantizes its output, as the LiteRT and Core ML exports of the same layers do.

    A conv whose only reader is a Relu gets the pair after the Relu (Conv+Relu is one fused
    integer kernel, as in LiteRT and Core ML): before it, half the 256 steps would go to negatives
    the Relu drops. On the official CSRNet that one placement (the condition net's last conv,
    read by a Relu and the float global mean) cost 29.6 dB worst held-apart parity where the
    fused placement costs 50 dB (benchmarks/int8_error_budget.md).
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}

    def is_dq(name: str) -> bool:
        node = producer.get(name)
        return node is not None and node.op_type == "DequantizeLinear"

    def quantized_after(name: str) -> bool:  # read by a QuantizeLinear, maybe after a Relu
        users = readers.get(name, [])
        if any(u.op_type == "QuantizeLinear" for u in users):
            return True
        return (len(users) == 1 and users[0].op_type == "Relu"
                and any(u.op_type == "QuantizeLinear" for u in readers.get(users[0].output[0], [])))

    todo = [node for node in graph.node
            if node.op_type in WEIGHTED_OPS and all(is_dq(n) for n in node.input[:2])
            and node.output[0] not in outputs and readers.get(node.output[0])
            and not quantized_after(node.output[0])]
    if not todo:
        return []
    def quantized_tensor(node):  # (the tensor the pair quantizes, the node it follows)
        users = readers[node.output[0]]
        if len(users) == 1 and users[0].op_type == "Relu" and readers.get(users[0].output[0]):
            return users[0].output[0], users[0]
        return node.output[0], node

    placed = {node.name: quantized_tensor(node) for node in todo}
    ranges = _tensor_ranges(model, [t for t, _ in placed.values()], calib)
    pairs: dict[str, list] = {}
    for node in todo:
        out, after = placed[node.name]
        lo, hi = min(ranges[out][0], 0.0), max(ranges[out][1], 0.0)
        scale = max(hi - lo, 1e-8) / 255.0
        zero = int(np.clip(round(-lo / scale), 0, 255))
        s_name, z_name = f"{out}{REQUANT}_scale", f"{out}{REQUANT}_zero_point"
        graph.initializer.extend([numpy_helper.from_array(np.array(scale, np.float32), s_name),
                                  numpy_helper.from_array(np.array(zero, np.uint8), z_name)])
        q_out, dq_out = f"{out}{REQUANT}_q", f"{out}{REQUANT}_dq"
        for user in readers[out]:
            for i, name in enumerate(user.input):
                if name == out:
                    user.input[i] = dq_out
        pairs[after.name] = [
            helper.make_node("QuantizeLinear", [out, s_name, z_name], [q_out],
                             name=f"{node.name}{REQUANT}_q"),
            helper.make_node("DequantizeLinear", [q_out, s_name, z_name], [dq_out],
                             name=f"{node.name}{REQUANT}_dq"),
        ]
    ordered = []
    for node in graph.node:  # each pair right after its layer: the graph stays sorted
        ordered.append(node)
        ordered.extend(pairs.get(node.name, []))
    ordered = [onnx.NodeProto.FromString(n.SerializeToString()) for n in ordered]
    del graph.node[:]
    graph.node.extend(ordered)
    return [n.name for n in todo]


def _tensor_ranges(model, names: list[str], calib: list[dict[str, np.ndarray]]
                   ) -> dict[str, tuple[float, float]]:
    """min and max of the tensors ``names`` of ``model`` over ``calib`` (onnxruntime CPU)."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto.FromString(model.SerializeToString())
    probe.graph.output.extend([onnx.helper.make_empty_tensor_value_info(n) for n in names])
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    found = {n: (np.inf, -np.inf) for n in names}
    for feed in calib:
        for name, value in zip(names, session.run(names, _float32_feeds(feed))):
            lo, hi = found[name]
            found[name] = (min(lo, float(value.min())), max(hi, float(value.max())))
    return found


def _run_all(model, calib: list[dict[str, np.ndarray]], optimize: bool) -> list[list[np.ndarray]]:
    """``model``'s outputs for every feed, onnxruntime CPU, with all graph optimizations (QDQ
    fused into integer kernels) or none (QDQ computed in float)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    session = ort.InferenceSession(model.SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    return [session.run(None, _float32_feeds(feed)) for feed in calib]


def _worst_psnr_db(got: list[list[np.ndarray]], want: list[list[np.ndarray]]) -> float:
    from toolkit.checks.metrics import psnr_db

    return min((psnr_db(a, b) for outs, refs in zip(got, want) for a, b in zip(outs, refs)),
               default=float("inf"))


def host_kernel_parity(model, reference: list[list[np.ndarray]],
                       calib: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Worst PSNR (peak 1) over ``calib`` of the quantized ``model`` against the float graph's
    outputs ``reference``: run as apps run it (``fused``) and as its QDQ arithmetic says
    (``qdq``)."""
    return {"fused_db": _worst_psnr_db(_run_all(model, calib, True), reference),
            "qdq_db": _worst_psnr_db(_run_all(model, calib, False), reference)}


def quantize_w8a8_for_host(model, calib: list[dict[str, np.ndarray]],
                           ignored_nodes: Sequence[str] = ()) -> tuple[object, dict]:
    """``quantize_w8a8`` with the first-layer overflow fix, or with the fix on every layer when
    the host's fused kernels lose more than ``SATURATION_LOSS_DB`` of parity against the file's
    own QDQ arithmetic (module docstring); returns (model, the ``host_kernels`` record)."""
    reference = _run_all(model, calib, True)  # the float graph
    quantized = quantize_w8a8(model, calib, ignored_nodes)
    first = host_kernel_parity(quantized, reference, calib)
    record = {"overflow_fix": "first_layer", "saturation_loss_db": SATURATION_LOSS_DB,
              "first_layer": _rounded_all(first)}
    if first["qdq_db"] - first["fused_db"] <= SATURATION_LOSS_DB:
        return quantized, record
    retry = quantize_w8a8(model, calib, ignored_nodes, overflow_fix="enable")
    again = host_kernel_parity(retry, reference, calib)
    record["all_layers"] = _rounded_all(again)
    if again["fused_db"] <= first["fused_db"]:
        return quantized, record
    record["overflow_fix"] = "all_layers"
    return retry, record


def _rounded_all(parity: dict[str, float]) -> dict[str, float | None]:
    return {k: _rounded(v) for k, v in parity.items()}


def _rounded(db: float) -> float | None:
    return None if db == float("inf") else round(db, 2)  # JSON has no infinity; None = exact


# ----------------------------------------------------------------------- reading the QDQ graph


@dataclass
class QdqFacts:
    """What a QDQ graph holds, read from the graph itself (not from the settings asked for)."""

    weight_dtypes: set[str] = field(default_factory=set)
    weights_per_channel: bool = True
    weights_symmetric: bool = True
    activation_dtypes: set[str] = field(default_factory=set)
    activations_per_tensor: bool = True
    #: activation quantizers with a non-zero zero point (asymmetric ranges)
    activation_zero_points_nonzero: int = 0
    activation_quantizers: int = 0
    quantized_layers: list[str] = field(default_factory=list)
    float_layers: list[str] = field(default_factory=list)
    half_range_layers: list[str] = field(default_factory=list)

    @property
    def weight_bits(self) -> int | None:
        return _bits(self.weight_dtypes)

    @property
    def activation_bits(self) -> int | None:
        return _bits(self.activation_dtypes)


def _bits(dtypes: set[str]) -> int | None:
    bits = {_BITS[d] for d in dtypes if d in _BITS}
    if len(bits) > 1:
        raise CamkitError(f"QDQ graph mixes quantized types {sorted(dtypes)}")
    return bits.pop() if bits else None


def read_qdq(model) -> QdqFacts:
    """Weight and activation quantizers, and the weighted layers left without QDQ inputs."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    facts = QdqFacts()

    def is_dq(name: str) -> bool:
        node = producer.get(name)
        return node is not None and node.op_type == "DequantizeLinear"

    for node in graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] not in initializers:
            facts.activation_quantizers += 1
            zero_point = initializers[node.input[2]]
            facts.activation_dtypes.add(onnx.TensorProto.DataType.Name(zero_point.data_type))
            if numpy_helper.to_array(initializers[node.input[1]]).size != 1:
                facts.activations_per_tensor = False
            if np.any(numpy_helper.to_array(zero_point) != 0):
                facts.activation_zero_points_nonzero += 1
        if node.op_type not in WEIGHTED_OPS:
            continue
        if not all(is_dq(name) for name in node.input[:2]):
            facts.float_layers.append(node.name)
            continue
        facts.quantized_layers.append(node.name)
        weight_dq = next(  # the DequantizeLinear whose input is a constant: the weight
            (producer[n] for n in node.input[:2] if producer[n].input[0] in initializers), None
        )
        if weight_dq is None:  # both inputs are activations (a MatMul of two tensors)
            continue
        weight = numpy_helper.to_array(initializers[weight_dq.input[0]])
        scale = numpy_helper.to_array(initializers[weight_dq.input[1]])
        zero_point = numpy_helper.to_array(initializers[weight_dq.input[2]])
        facts.weight_dtypes.add(
            onnx.TensorProto.DataType.Name(initializers[weight_dq.input[0]].data_type)
        )
        if scale.ndim != 1 or scale.size != weight.shape[_axis(weight_dq, weight.ndim)]:
            facts.weights_per_channel = False
        if np.any(zero_point != 0):
            facts.weights_symmetric = False
        if np.abs(weight.astype(np.int32)).max() <= HALF_RANGE_MAX:
            facts.half_range_layers.append(node.name)
    return facts


def _axis(node, ndim: int) -> int:
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    return axis % ndim


def scheme(model, calibration_count: int, path: str = PATH,
           host_kernels: dict | None = None) -> dict:
    """The ``SCHEME_FILE`` object of a QDQ model (merged into the manifest); ``path`` says what
    produced it (onnx_qdq16 passes its own for w8a16). Bits and types are read from the graph;
    ``host_kernels`` is ``quantize_w8a8_for_host``'s record."""
    import nncf

    facts = read_qdq(model)
    if not facts.quantized_layers:
        raise CamkitError("NNCF left every Conv/Gemm/MatMul in float; nothing was quantized")
    return {
        "path": path,
        "weights": {
            "bits": facts.weight_bits,
            "dtype": "/".join(sorted(facts.weight_dtypes)).lower(),
            "granularity": "per-channel" if facts.weights_per_channel else "per-tensor",
            "symmetric": facts.weights_symmetric,
            # NNCF's overflow fix: 7-bit range for the layers reading the model input, or for
            # all when the host's kernels saturated (see above)
            "half_range_layers": facts.half_range_layers,
        },
        "activations": {
            "bits": facts.activation_bits,
            "dtype": "/".join(sorted(facts.activation_dtypes)).lower(),
            "granularity": "per-tensor" if facts.activations_per_tensor else "per-channel",
            # preset MIXED: NNCF maps each calibrated [min, max] to the full int8/uint8 range
            # with a zero point (ranges starting at 0, after ReLU, get uint8 and zero point 0);
            # symmetric only when the graph's zero points are all 0
            "symmetric": facts.activation_zero_points_nonzero == 0,
            "zero_points_nonzero": facts.activation_zero_points_nonzero,
            "quantizers": facts.activation_quantizers,
            "range": "min/max over all calibration inputs",
        },
        "calibration": {"count": calibration_count},
        "quantized_layers": len(facts.quantized_layers),
        "float_layers": facts.float_layers,
        "nncf_preset": PRESET,
        "nncf": {
            "version": nncf.__version__,
            "range_estimator": options.RANGE_ESTIMATORS[options.active().range_estimator],
            "overflow_fix": (
                "disable" if not facts.half_range_layers
                else "all layers" if host_kernels and host_kernels["overflow_fix"] == "all_layers"
                else "first_layer (default)"
            ),
            "fast_bias_correction": options.active().fast_bias_correction,
            "subset_size": calibration_count,
        },
        **({"host_kernels": host_kernels} if host_kernels else {}),
    }
