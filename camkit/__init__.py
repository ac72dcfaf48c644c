"""camkit's Python API: export a camera model to ONNX, LiteRT and Core ML, check that every
artifact still produces the same images, and time it.

    import camkit

    artifacts = camkit.export("retouch_csrnet", formats=["onnx", "litert"],
                              precisions=["fp32", "w8a8"], size=(256, 256), out="artifacts")
    result = camkit.check("artifacts")          # parity against the torch float model
    assert result.passed, result.failures()
    timing = camkit.profile(artifacts[0], runs=20)
    camkit.run(artifacts[0], "my_photos/", out="retouched/")   # or a model: its torch network

``model`` is a model id (``camkit.list_models()``), the path of a model folder (model.py +
card.yaml), or an in-memory ``torch.nn.Module`` with a ``camkit.ModelSpec`` describing its
inputs and outputs. Errors are ``camkit.CamkitError`` with a one-line message naming the fix.
docs/python_api.md has a runnable example. The ``camkit`` command is a shell over the same
library (toolkit/).

Importing camkit is cheap: torch and the converters load when a function needs them.
"""

from toolkit.errors import CamkitError
from toolkit.spec import PRECISIONS, ModelSpec, TensorSpec

from camkit.api import (Artifact, CheckResult, add_model_folder, check, export, list_models,
                        profile, run)

__all__ = ["Artifact", "CamkitError", "CheckResult", "ModelSpec", "PRECISIONS", "TensorSpec",
           "add_model_folder", "check", "export", "list_models", "profile", "run"]
