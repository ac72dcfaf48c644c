"""ONNX: torch.export-based exporter (``torch.onnx.export(dynamo=True)``), onnxruntime runner.

fp32 exports the prepared module as is. fp16 wraps it so that weights and activations are
float16 inside while the graph's I/O stays float32 (the casts sit at the boundary), which is what
mobile runtimes (NNAPI, QNN, Core ML EP) take.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch import nn

from toolkit.conversion._common import Calibration, dynamic_hw, example_inputs
from toolkit.errors import CamkitError
from toolkit.spec import ExportSpec

name = "onnx"
suffix = "onnx"
precisions = ("fp32", "fp16")
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
    module: nn.Module, spec: ExportSpec, precision: str, out_dir: Path, calib: Calibration
) -> Path:
    import onnx

    if precision == "fp16":
        module = _Float16Inside(module).eval()
    path = Path(out_dir) / f"model.{suffix}"
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
    onnx.checker.check_model(model)
    onnx.save_model(model, str(path))
    return path


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
