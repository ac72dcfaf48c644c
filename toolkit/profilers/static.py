"""The static op report: what a graph costs and where it would leave the accelerator, no device.

``camkit profile static MANIFEST`` reads the artifact the manifest names (ONNX or
LiteRT), fixes its input shapes to the manifest's sample input (so a dynamic export is reported
at the size it was checked at), and writes one row per op: type, output shape, MACs,
parameters, activation bytes, and the targets on which the op would fall back.

Conventions (so that numbers from different graphs compare):

* **MACs** are multiply-accumulates of the ops that have them: Conv / ConvTranspose /
  QLinearConv / ConvInteger, Gemm / MatMul (and their integer forms), and LiteRT's CONV_2D,
  DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED, BATCH_MATMUL. Bias adds are not counted.
  Every other op (elementwise, reductions, reshapes, Q/DQ) is listed with 0 MACs: it moves
  bytes, and its ``activation_bytes`` says how many. In a QDQ graph the float Conv between the
  DequantizeLinear and QuantizeLinear nodes is the quantized conv, so it is counted once.
* **Parameters** are the weight and bias elements a node reads; a weight that reaches a Conv
  through a DequantizeLinear is the Conv's, so the DQ row has 0 and nothing is counted twice.
  int64 shape arguments are not parameters.
* **Activation bytes** are a node's output elements times the dtype size. **Peak activation**
  walks the graph in its stored (topological) order: a tensor that depends on a graph input
  lives from the node that writes it to its last reader (graph inputs from the start, graph
  outputs to the end); during a node its inputs and outputs are alive together. Constants are
  not activations. A runtime that fuses or reuses buffers needs less; this is the plain bound.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit.errors import CamkitError
from toolkit.profilers.schema import (Latency, ModelRef, OpRow, ProfileResult, Runtime,
                                      StaticSummary)
from toolkit.profilers.support_rules import (ANE_FLOAT32_NOTE, SOURCES, TARGETS_BY_FORMAT,
                                             heuristic_unsupported)

TOOL = "camkit static op report"
LABEL = "static: counted from the graph, nothing ran"
MIB = 1024.0 * 1024.0
#: ONNX conv op -> index of its weight input (x is input 0 in every form)
_CONV_WEIGHT = {"Conv": 1, "ConvTranspose": 1, "ConvInteger": 1, "QLinearConv": 3}
#: ONNX matmul op -> index of its A input (K is its last dim; Gemm with transA: first)
_MATMUL_A = {"MatMul": 0, "MatMulInteger": 0, "QLinearMatMul": 0, "Gemm": 0}
_QDQ = ("QuantizeLinear", "DequantizeLinear")


def profile_static(manifest_path: Path, argv: list[str] | None = None) -> ProfileResult:
    """The static report for the artifact ``manifest_path`` describes."""
    from toolkit.artifacts import read_manifest
    from toolkit.publish import open_published

    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)  # what it is first; its files are verified below
    fmt = manifest["format"]
    if fmt not in TARGETS_BY_FORMAT:
        raise CamkitError(f"{manifest_path} is a '{fmt}' artifact; camkit profile static "
                          "reads ONNX and LiteRT graphs, export --format onnx or litert for the "
                          "op report")
    published = open_published(manifest_path)
    artifact, inputs = published.artifact, published.inputs
    shapes = {name: list(array.shape) for name, array in inputs.items()}
    if fmt == "onnx":
        rows, peak_mb, peak_at = onnx_rows(artifact, shapes)
    else:
        from toolkit.profilers.static_litert import litert_rows

        rows, peak_mb, peak_at = litert_rows(artifact, shapes)
    notes = [ANE_FLOAT32_NOTE] if fmt == "onnx" and manifest["precision"] == "fp32" else []
    targets = TARGETS_BY_FORMAT[fmt]
    summary = StaticSummary(
        input_shapes=shapes,
        macs=_total(r.macs for r in rows), params=_total(r.params for r in rows),
        activation_bytes=_total(r.activation_bytes for r in rows),
        peak_activation_mb=peak_mb, peak_at=peak_at,
        targets={t: SOURCES[t] for t in targets},
        fallback_ops={t: sum(t in (r.unsupported_on or []) for r in rows) for t in targets},
        notes=notes,
    )
    return ProfileResult(
        kind="static",
        runtime=Runtime(tool=TOOL, options={"label": LABEL}),
        latency=Latency(),
        model=ModelRef(sha256=published.sha256, format=fmt,
                       precision=manifest["precision"], manifest=str(manifest_path)),
        argv=list(argv) if argv is not None else [f"profile_static({str(manifest_path)!r})"],
        ops=rows,
        static=summary,
    )


def _total(values) -> int | None:
    """Sum, or None when any row's value is unknown (a partial sum would read as the total)."""
    values = list(values)
    return None if any(v is None for v in values) else int(sum(values))


def peak_activation(order: list[tuple[str, list[str], list[str]]], sizes: dict[str, int | None],
                    graph_inputs: list[str], graph_outputs: list[str]
                    ) -> tuple[float | None, str | None]:
    """(peak MB, node at the peak) over ``order`` = [(node, activation inputs, outputs)].

    Only tensors in ``sizes`` are activations; None when one of their sizes is unknown.
    """
    if any(v is None for v in sizes.values()):
        return None, None
    last_read: dict[str, int] = {}
    for i, (_, ins, _) in enumerate(order):
        for name in ins:
            last_read[name] = i
    keep = set(graph_outputs)
    live = {n: sizes[n] for n in graph_inputs if n in sizes}
    peak, peak_at = sum(live.values()), None
    for i, (node, ins, outs) in enumerate(order):
        live.update({n: sizes[n] for n in outs if n in sizes})
        if sum(live.values()) > peak:
            peak, peak_at = sum(live.values()), node
        for name in set(ins) | set(outs):
            if name not in keep and last_read.get(name, -1) <= i:
                live.pop(name, None)
    return peak / MIB, peak_at


# ----------------------------------------------------------------------------------- ONNX


def onnx_rows(path: Path, input_shapes: dict[str, list[int]]):
    """Op rows, peak MB and the node at the peak for an ONNX graph at ``input_shapes``."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    for i, node in enumerate(graph.node):
        node.name = node.name or f"{node.op_type}_{i}"  # the support checker matches by name
    for value in graph.input:
        if value.name in input_shapes:
            dims = value.type.tensor_type.shape.dim
            if len(dims) != len(input_shapes[value.name]):
                raise CamkitError(f"{path} input '{value.name}' has rank {len(dims)} but the "
                                  f"sample has shape {input_shapes[value.name]}; re-export it")
            for dim, size in zip(dims, input_shapes[value.name], strict=True):
                dim.Clear()
                dim.dim_value = int(size)
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as e:  # onnx raises InferenceError and friends
        raise CamkitError(f"onnx shape inference failed on {path}: {str(e).splitlines()[0]}; "
                          "re-export the artifact") from None
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    types = {v.name: v.type.tensor_type for v in [*graph.input, *graph.output, *graph.value_info]}

    def shape(name: str) -> list[int | None] | None:
        if name in inits:
            return list(inits[name].dims)
        if name not in types or not types[name].HasField("shape"):
            return None
        return [d.dim_value if d.HasField("dim_value") else None for d in types[name].shape.dim]

    def nbytes(name: str) -> int | None:
        dims = shape(name)
        if dims is None or None in dims or name not in types:
            return None
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(types[name].elem_type).itemsize
        return int(np.prod(dims, dtype=np.int64)) * itemsize

    producer = {out: node for node in graph.node for out in node.output}
    dynamic = {v.name for v in graph.input if v.name not in inits}
    for node in graph.node:
        if any(i in dynamic for i in node.input):
            dynamic.update(o for o in node.output if o)
    unsupported = _ort_unsupported(model)
    rows, order, sizes = [], [], {}
    for node in graph.node:
        outs = [o for o in node.output if o]
        out_bytes = [nbytes(o) for o in outs]
        flags = [t for t, names in unsupported.items() if node.name in names]
        if heuristic_unsupported("coreml_ane_heuristic", node.op_type):
            flags.append("coreml_ane_heuristic")
        rows.append(OpRow(
            table="static", node_type=node.op_type, name=node.name,
            output_shape=shape(outs[0]) if outs else None,
            macs=_onnx_macs(node, shape),
            params=0 if node.op_type in _QDQ else _onnx_params(node, inits, producer),
            activation_bytes=None if None in out_bytes else sum(out_bytes),
            unsupported_on=flags,
        ))
        order.append((node.name, [i for i in node.input if i in dynamic],
                      [o for o in outs if o in dynamic]))
        sizes.update({o: nbytes(o) for o in outs if o in dynamic})
    ins = [v.name for v in graph.input if v.name in dynamic]
    sizes.update({n: nbytes(n) for n in ins})
    peak_mb, peak_at = peak_activation(order, sizes, ins, [v.name for v in graph.output])
    return rows, peak_mb, peak_at


def _onnx_macs(node, shape) -> int | None:
    op = node.op_type
    if op in _CONV_WEIGHT:
        weight, out = shape(node.input[_CONV_WEIGHT[op]]), shape(node.output[0])
        x = shape(node.input[0])
        if weight is None or out is None or x is None or None in weight + out + x:
            return None
        per_element = int(np.prod(weight[1:], dtype=np.int64))  # Cin/group * kH * kW
        # ConvTranspose scatters each input element into Cout/group * kH * kW outputs
        elements = x if op == "ConvTranspose" else out
        return int(np.prod(elements, dtype=np.int64)) * per_element
    if op in _MATMUL_A:
        a, out = shape(node.input[_MATMUL_A[op]]), shape(node.output[0])
        if a is None or out is None or None in a + out:
            return None
        trans_a = any(att.name == "transA" and att.i for att in node.attribute)
        k = a[0] if op == "Gemm" and trans_a else a[-1]
        return int(np.prod(out, dtype=np.int64)) * int(k)
    return 0


def _onnx_params(node, inits, producer) -> int:
    """Weight and bias elements ``node`` reads, following a weight's DequantizeLinear."""
    import onnx

    total = 0
    for name in node.input:
        source = producer.get(name)
        if source is not None and source.op_type == "DequantizeLinear":
            name = source.input[0]
        tensor = inits.get(name)
        if tensor is not None and tensor.data_type != onnx.TensorProto.INT64:
            total += int(np.prod(tensor.dims, dtype=np.int64))
    return total


def _ort_unsupported(model) -> dict[str, set[str]]:
    """Target -> names of nodes onnxruntime's mobile usability checker leaves to the CPU EP."""
    try:
        from onnxruntime.tools.mobile_helpers import usability_checker as uc
    except ImportError:
        raise CamkitError("onnxruntime's mobile usability checker is not importable; "
                          "pip install 'onnxruntime>=1.17'") from None
    every = {node.name for node in model.graph.node}
    checks = {
        "ort_nnapi": lambda: uc.check_nnapi_partitions(model, require_fixed_input_sizes=True),
        "ort_coreml": lambda: uc.check_coreml_partitions(
            model, require_fixed_input_sizes=True,
            config_filename="coreml_supported_mlprogram_ops.md"),
    }
    out = {}
    for target, check in checks.items():
        info = check()
        supported = {node.name for group in info.supported_groups for node in group}
        out[target] = every - supported
    return out
