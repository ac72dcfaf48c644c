"""w8a16 for ONNX: NNCF's calibrated w8a8 QDQ graph with every activation Q/DQ pair rewritten
as uint16 over the calibrated range plus headroom; the weights stay int8 per-channel symmetric.

NNCF 3.4's ONNX backend writes only 8-bit QuantizeLinear/DequantizeLinear (onnx_ptq.py says
where), but its calibration does not depend on the bit width: an activation quantizer is a real
range [lo, hi] (min/max over the calibration inputs) that the 8-bit scale and zero point encode
exactly. ``widen_activations`` re-encodes each range for 16 bits and raises the default-domain
opset to 21, the first where QuantizeLinear/DequantizeLinear take int16/uint16 (IR version 10,
which onnxruntime 1.31 loads). Quantizers of constants (the int8 weights) are left as they are.
Measured on CSRNet, parity PSNR against torch float, worst of the five photos_pd photos:

=================== ======== ======== ============================================
variant, size        w8a8     w8a16    w8 (int8 weights, float activations)
=================== ======== ======== ============================================
tiny 64x64           36.30    37.34    37.34
paper 540x960        46.52    56.62    56.58
paper 1080x1920      45.89    56.25    56.25
=================== ======== ======== ============================================

So 16-bit activations cost nothing visible: what is left is the int8 weights. (Tiny's worst
photo is weight-bound; its other photos gain 0.3-15 dB.) Worst SSIM: tiny 0.9935, paper 0.9974
(1080x1920; w8a8 0.9880).

- uint16 asymmetric, not int16 symmetric (TFLite's 16x8): CSRNet's activations are not centred
  on zero (ReLU outputs, the [0, 1] image, the GFM products), so a symmetric range leaves up to
  half the levels unused. With float weights and only the activations quantized: paper
  (540x960) 94.5 dB uint16 vs 92.0 dB int16, tiny 94.9 vs 91.8. Either error is 35+ dB below
  the int8 weights', so whole w8a16 models differ by < 0.05 dB. uint16 activations with 8-bit
  weights are also onnxruntime's own 16-bit QDQ recipe for its QNN EP (QuantType.QUInt16,
  https://github.com/microsoft/onnxruntime/pull/17015).
- ``HEADROOM`` 1.0 (0.5 until 2026-12-07): each side of a range that is not at zero moves out
  by the range's width. At 0.5 the official DPED generator (128x128) still clipped a DPED
  iPhone patch unlike the five calibration photos: worst of 26 held-apart photos 41.6 dB, 48.9
  at 1.0 (49.0 when calibrated on those photos themselves; 2.0 gives 49.1), calibration photos
  52.9 dB either way; the official CSRNet moved 47.9 -> 47.8 dB worst. The rest of this item is
  the 0.5 measurement. Five calibration photos give the global condition vectors (GFM scale and shift) narrow
  ranges that other photos leave: on the first 4 DPED iPhone pairs (the task check), 1-4% of
  a range beyond its end, in the last layer. 8 bits cannot spare the levels; 16 bits can
  (activations only: 94.9 -> 89.3 dB, tiny). Task drop against the DPED Canon targets, paper
  at 540x960: 0.103 dB without headroom, 0.070 dB with it, which is the drop of int8 weights
  alone (w8: 0.070); w8a8 0.092. Zero stays exact (zero point 0 on ranges starting at 0).
- NNCF's overflow fix is off (``overflow_fix="disable"``). It gives the first layers' weights
  [-64, 64] for AVX2's u8 x s8 pair sums in int16 (onnx_ptq.py), an instruction a 16-bit
  activation never goes through, and it was the largest error left on paper. Off, paper at
  540x960: parity 56.62 -> 63.05 dB, task drop 0.070 -> 0.021 dB; tiny 37.34 -> 37.22 dB (a
  wash). The table above and the numbers before this item are with it on.

onnxruntime (CPU EP, 1.31) has no 16-bit integer kernels (the PR above added 16-bit Q/DQ and
left QLinear* at 8 bits). With graph optimizations on it keeps the QDQ pairs (duplicating shared
DequantizeLinear nodes, dropping a Relu before a zero-point-0 uint16 Q) and runs Conv/Gemm/Mul
in float32 on the dequantized tensors: nothing becomes QLinearConv, and outputs equal
optimizations-off to 0.01 dB. The QDQ pairs are extra passes over 64-channel tensors, so paper
at 1080x1920 on this 2-core host takes 3183-3366 ms, vs 2183-2578 ms fp32 and 1194-1272 ms w8a8
(medians of 5 interleaved runs, two sessions, shared machine). The file is for runtimes with
16 x 8 kernels (QNN HTP's a16w8); on the host it proves the numbers, not the speed.

``ignored_nodes`` (accuracy-aware fallback) go to NNCF, which feeds them the float tensor, not a
DequantizeLinear; that also keeps them out of onnxruntime 1.31's WeightBiasQuantization pass,
which quantizes (int8, per-tensor) the float weights of a Conv/Gemm that reads a DQ output.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from toolkit.errors import CamkitError
from toolkit.quantization import onnx_ptq
from toolkit.quantization.options import ACTIVATION16_HEADROOM

#: the manifest's precision_scheme.path of a w8a16 model
PATH = "nncf.quantize (ONNX backend, QDQ), activation QDQ widened to 16 bits"
#: the activation type (measured against int16 symmetric above)
ACTIVATION_DTYPE = "uint16"
#: each calibrated range side (not at zero) moves out by this fraction of its width
HEADROOM = ACTIVATION16_HEADROOM
#: QuantizeLinear/DequantizeLinear take int16/uint16 from opset 21 of the default domain
OPSET = 21
#: the IR version opset 21 needs (onnx 1.16); toolkit/conversion/onnx.py pins the same
IR_VERSION = 10
#: integer ranges of the 8-bit zero-point types NNCF writes
_RANGE8 = {"UINT8": (0, 255), "INT8": (-128, 127)}


def quantize_w8a16(model, calib: list[dict[str, np.ndarray]], ignored_nodes: Sequence[str] = ()):
    """w8a16 QDQ model from an fp32 ``onnx.ModelProto``: NNCF w8a8, then 16-bit activations."""
    quantized = onnx_ptq.quantize_w8a8(model, calib, ignored_nodes, overflow_fix="disable")
    return widen_activations(quantized)


def widen_activations(model, dtype: str = ACTIVATION_DTYPE, headroom: float = HEADROOM):
    """A copy of a QDQ model whose activation Q/DQ pairs (those that quantize a computed tensor,
    not a constant) are 16-bit over the same real range widened by ``headroom``, at opset
    ``OPSET``. ``dtype`` int16 (symmetric) and ``headroom`` exist to measure the choices above."""
    import onnx
    from onnx import TensorProto, numpy_helper

    if dtype not in ("uint16", "int16"):
        raise CamkitError(f"activation type '{dtype}' is not 16-bit; choose uint16 or int16")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    init = {t.name: t for t in graph.initializer}
    users = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            users[name].append(node)

    widened = set()  # tensors whose type is now 16-bit: zero points and Q outputs
    for q in graph.node:
        if q.op_type != "QuantizeLinear" or q.input[0] in init:
            continue
        pair = [q, *users[q.output[0]]]
        if any(n.op_type != "DequantizeLinear" or n.input[1:] != q.input[1:] for n in pair[1:]):
            raise CamkitError(
                f"{q.name} does not feed DequantizeLinear nodes with its own scale and zero "
                f"point; only NNCF's QDQ pairs can be widened (export w8a8 to inspect the graph)"
            )
        scale_name, zp_name = q.input[1], q.input[2]
        if any(n not in pair for name in (scale_name, zp_name) for n in users[name]):
            raise CamkitError(f"the scale or zero point of {q.name} is shared beyond its Q/DQ pair")
        scale, zero_point = _widen(
            numpy_helper.to_array(init[scale_name]),
            numpy_helper.to_array(init[zp_name]),
            TensorProto.DataType.Name(init[zp_name].data_type),
            dtype,
            headroom,
        )
        init[scale_name].CopyFrom(numpy_helper.from_array(scale, scale_name))
        init[zp_name].CopyFrom(numpy_helper.from_array(zero_point, zp_name))
        widened.update((zp_name, q.output[0]))

    for info in graph.value_info:  # NNCF records the 8-bit types of these tensors
        if info.name in widened:
            info.type.tensor_type.elem_type = getattr(TensorProto, dtype.upper())
    for opset in out.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = max(opset.version, OPSET)
    out.ir_version = max(out.ir_version, IR_VERSION)
    return out


def _widen(scale8: np.ndarray, zp8: np.ndarray, type8: str, dtype: str, headroom: float):
    """16-bit scale and zero point over the real range [lo, hi] of an 8-bit quantizer, each side
    that is not at zero moved out by ``headroom`` times the range's width."""
    if type8 not in _RANGE8:
        raise CamkitError(f"activation quantizer of type {type8}; expected int8 or uint8")
    qmin, qmax = _RANGE8[type8]
    scale = scale8.astype(np.float64)
    lo = scale * (qmin - zp8.astype(np.float64))
    hi = scale * (qmax - zp8.astype(np.float64))
    margin = headroom * (hi - lo)
    lo, hi = np.where(lo < 0, lo - margin, lo), np.where(hi > 0, hi + margin, hi)
    if dtype == "uint16":
        scale16 = (hi - lo) / 65535
        zp16 = np.clip(np.round(-lo / scale16), 0, 65535)
        return scale16.astype(np.float32), zp16.astype(np.uint16)
    # int16 symmetric: zero point 0, the larger side of [lo, hi] sets the scale
    return (np.maximum(-lo, hi) / 32767).astype(np.float32), np.zeros(zp8.shape, np.int16)


def scheme(model, calibration_count: int) -> dict:
    """The ``SCHEME_FILE`` object of a w8a16 model, read from its graph: int8 weights and 16-bit
    activations, or an error naming what the graph holds instead."""
    facts = onnx_ptq.read_qdq(model)
    if (facts.weight_bits, facts.activation_bits) != (8, 16):
        raise CamkitError(
            f"w8a16 graph holds {facts.weight_bits}-bit weights and {facts.activation_bits}-bit "
            f"activations; export it with onnx_qdq16.quantize_w8a16"
        )
    out = onnx_ptq.scheme(model, calibration_count, path=PATH)
    out["activations"]["range"] = (
        f"min/max over all calibration inputs (NNCF's), each side not at zero moved out by "
        f"{HEADROOM:g} of the width"
    )
    out["opset"] = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return out
