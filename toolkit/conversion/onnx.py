"""ONNX: torch.export-based exporter (``torch.onnx.export(dynamo=True)``), onnxruntime runner.

fp32 exports the prepared module as is. fp16 wraps it so that weights and activations are
float16 inside while the graph's I/O stays float32 (the casts sit at the boundary), which is what
mobile runtimes (NNAPI, QNN, Core ML EP) take.

w8a8 exports the fp32 graph, then NNCF quantizes that ONNX graph (its ONNX backend) on the
calibration feeds into a QDQ model: int8 weights per-channel symmetric, int8/uint8 activations
per-tensor asymmetric; onnxruntime fuses the QDQ pairs into integer kernels. The settings and why
are in ``toolkit/quantization/onnx_ptq.py``; the scheme read back from the graph goes to
``SCHEME_FILE``. w8a16 (int8 weights, uint16 activations) starts from the same NNCF QDQ graph and
widens every activation Q/DQ pair to 16 bits at opset 21, because NNCF's ONNX backend writes only
8-bit pairs (``toolkit/quantization/onnx_qdq16.py`` says why and what it measured); onnxruntime's
CPU EP has no 16-bit integer kernels and computes it in float between the Q/DQ pairs, so it is
for NPUs with 16x8 kernels (QNN), not for host speed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from toolkit.conversion._common import SCHEME_FILE, Calibration, dynamic_hw, example_inputs
from toolkit.errors import CamkitError
from toolkit.quantization import layers
from toolkit.spec import ExportSpec

name = "onnx"
suffix = "onnx"
precisions = ("fp32", "fp16", "w8a8", "w8a16")
#: precisions quantized by NNCF from the fp32 graph (they need ``calib``)
QUANTIZED = ("w8a8", "w8a16")
extra = "onnx"
requires = ("onnx", "onnxruntime", "onnxscript")

#: opset and IR version: the IR version is pinned because onnx writes the newest IR it knows,
#: which onnxruntime releases lag behind (ORT rejects "Unsupported model IR version").
OPSET = 18
IR_VERSION = 10


class _Float16Inside(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = copy.deepcopy(inner).half()  # never cast the caller's float model

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.inner(*(x.half() for x in xs)).float()


def export(
    module: nn.Module, spec: ExportSpec, precision: str, out_dir: Path, calib: Calibration,
    float_layers: Sequence[str] = (),
) -> Path:
    import onnx

    if precision not in precisions:
        raise CamkitError(
            f"ONNX export has no precision '{precision}'; choose from: {', '.join(precisions)}"
        )
    feeds = None
    if precision in QUANTIZED:  # fail before the slow part
        from toolkit.quantization import onnx_ptq

        feeds = onnx_ptq.calibration_list(calib, precision)
    elif float_layers:
        raise CamkitError(f"ONNX {precision} has no quantized layers to keep in float")
    if precision == "fp16":
        module = _Float16Inside(module).eval()
    path = Path(out_dir) / f"model.{suffix}"
    model = _torch_export(module, spec)
    if precision in QUANTIZED:
        ignored = layers.onnx_nodes_of(model, float_layers) if float_layers else []
        if precision == "w8a8":
            model, host = onnx_ptq.quantize_w8a8_for_host(model, feeds, ignored)
            scheme = onnx_ptq.scheme(model, len(feeds), host_kernels=host)
        else:
            from toolkit.quantization import onnx_qdq16

            model = onnx_qdq16.quantize_w8a16(model, feeds, ignored)  # opset 21 for 16-bit QDQ
            scheme = onnx_qdq16.scheme(model, len(feeds))
        model.ir_version = min(model.ir_version, IR_VERSION)
        scheme["kept_float_layers"] = list(float_layers)
        (Path(out_dir) / SCHEME_FILE).write_text(json.dumps(scheme, indent=1) + "\n")
    strip_debug_metadata(model)
    onnx.checker.check_model(model)
    onnx.save_model(model, str(path))
    return path


#: per-node metadata torch.onnx writes that a shipped model does not need: the Python stack
#: trace (absolute paths of the exporting checkout), the fx node repr and a namespace string.
#: ``name_scopes`` and ``class_hierarchy`` (module path and class per node) are kept: they map
#: ops back to layers (toolkit/quantization/layers.py) and cost little.
DEBUG_METADATA = ("pkg.torch.onnx.stack_trace", "pkg.torch.onnx.fx_node", "namespace")


def strip_debug_metadata(model) -> None:
    """Drop ``DEBUG_METADATA`` from every node, in place. The stack traces made the file depend
    on where the repo was checked out (same model, different bytes) and leak local paths into a
    file that ships in an app; on paper CSRNet they were 16 KB of a 93 KB w8a8 file."""
    for node in model.graph.node:
        keep = [p for p in node.metadata_props if p.key not in DEBUG_METADATA]
        del node.metadata_props[:]
        node.metadata_props.extend(keep)


def _torch_export(module: nn.Module, spec: ExportSpec):
    """The float graph of ``module`` with the spec's I/O names, as an ``onnx.ModelProto``."""
    input_names = [t.name for t in spec.model.inputs]
    output_names = [t.name for t in spec.model.outputs]
    program = torch.onnx.export(
        module,
        example_inputs(spec),
        dynamo=True,
        opset_version=OPSET,
        input_names=input_names,
        output_names=output_names,
        dynamic_shapes=dynamic_hw(module, spec),
        optimize=True,
        verbose=False,
    )
    model = program.model_proto
    model.ir_version = min(model.ir_version, IR_VERSION)
    return model


class OnnxRunner:
    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: keep the CLI quiet
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # ORT raises its own Fail/InvalidGraph types
            raise CamkitError(f"onnxruntime cannot load {path}: {str(e).splitlines()[0]}") from None
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = self.session.run(None, {k: np.ascontiguousarray(v, np.float32) for k, v in feeds.items()})
        return dict(zip(self.output_names, outs))


def load(path: Path) -> OnnxRunner:
    return OnnxRunner(Path(path))
