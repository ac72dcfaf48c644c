"""Core ML w8a8 of tiny CSRNet (shipped tiny checkpoint): int8 weights and activations.

Core ML prediction needs macOS, so on Linux these tests prove what can be proved without it:
the package holds int8 quantize/dequantize ops and int8 weights behind float32 I/O with the
spec's names, ``verify`` accepts it as w8a8 and tells it apart from float packages, the
quantized torch graph it was converted from (the "simulated" reference) is really quantized and
within the card's budget, the scheme file says what was done, and the same inputs give the same
program.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

pytest.importorskip("coremltools")
pytest.importorskip("nncf")
pytest.importorskip("torchao")

from toolkit import registry  # noqa: E402
from toolkit.checks.metrics import psnr_db  # noqa: E402
from toolkit.conversion import coreml  # noqa: E402
from toolkit.conversion._common import SCHEME_FILE, prepare_for_export, torch_runner  # noqa: E402
from toolkit.errors import CamkitError  # noqa: E402
from toolkit.models.retouch_csrnet.model import SPEC, build  # noqa: E402
from toolkit.quantization.calibration import calibration_feeds  # noqa: E402
from toolkit.registry import MODELS_DIR  # noqa: E402
from toolkit.spec import ExportSpec  # noqa: E402

SIZE = 64
LAYOUTS = ("nchw", "nhwc")
CHECKPOINT = MODELS_DIR / "retouch_csrnet" / "checkpoints" / "tiny.safetensors"


def _tiny():
    return build("tiny", CHECKPOINT)


def _spec(layout: str) -> ExportSpec:
    return ExportSpec(SPEC, "tiny", SIZE, SIZE, layout)


def _export(spec: ExportSpec, precision: str, out_dir, calib):
    out_dir.mkdir(parents=True, exist_ok=True)
    return coreml.export(prepare_for_export(_tiny(), spec), spec, precision, out_dir, calib)


def _program_and_weights(path) -> tuple[bytes, bytes]:
    """The MIL program (without the model description, whose metadata carries a date) and the
    weight file's bytes."""
    proto = coreml._load_spec(path)
    program = proto.mlProgram.SerializeToString(deterministic=True)
    weights = (path / "Data" / "com.apple.CoreML" / "weights" / "weight.bin").read_bytes()
    return program, weights


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """One w8a8 package per layout at 64x64, with its calibration feeds and scheme."""
    root = tmp_path_factory.mktemp("coreml_w8a8")
    made = {}
    for layout in LAYOUTS:
        spec = _spec(layout)
        calib = calibration_feeds(spec)
        path = _export(spec, "w8a8", root / layout, calib)
        scheme = json.loads((root / layout / SCHEME_FILE).read_text())
        made[layout] = spec, path, calib, scheme
    return made


def test_w8a8_is_exported():
    assert "w8a8" in coreml.precisions
    assert coreml.deployment_target("w8a8") == "iOS17"
    assert coreml.deployment_target("fp32") == coreml.deployment_target("fp16") == "iOS16"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_verify_and_inspect(packages, layout):
    spec, path, _, _ = packages[layout]
    assert coreml.verify(path, spec, "w8a8") == []
    info = coreml.inspect(path)
    assert info["inputs"] == {n: list(s) for n, s in spec.input_shapes().items()}
    assert info["outputs"] == {n: list(s) for n, s in spec.output_shapes().items()}
    ops = info["ops"]
    assert ops["conv"] == 6 and ops["linear"] == 6
    assert ops["quantize"] >= 12 and ops["dequantize"] >= 12  # int8 activations
    assert ops["constexpr_affine_dequantize"] == 12  # int8 weights of 6 convs + 6 linears
    assert ("transpose" in ops) == (layout == "nhwc")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_program_is_int8_behind_float32_io(packages, layout):
    from coremltools.proto import FeatureTypes_pb2, MIL_pb2

    _, path, _, _ = packages[layout]
    proto = coreml._load_spec(path)
    assert proto.specificationVersion == 8  # iOS 17: MIL quantize/dequantize
    function, block = coreml._main_block(proto)
    assert function.opset == "CoreML7"
    dtype = MIL_pb2.DataType.Name
    quantized = [dtype(o.type.tensorType.dataType) for op in coreml._operations(block)
                 if op.type == "quantize" for o in op.outputs]
    # int8 with a zero point; coremltools turns zero point -128 (ReLU outputs) into uint8 + 0
    assert set(quantized) <= {"INT8", "UINT8"} and "INT8" in quantized
    weights = [dtype(op.attributes["quantized_data"].type.tensorType.dataType)
               for op in coreml._operations(block) if op.type == "constexpr_affine_dequantize"]
    assert set(weights) == {"INT8"}
    array = FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name
    io = {f.name: array(f.type.multiArrayType.dataType)
          for f in (*proto.description.input, *proto.description.output)}
    assert io == {"image": "FLOAT32", "retouched": "FLOAT32"}


def test_verify_tells_float_and_int8_apart(packages, tmp_path):
    spec, w8a8, _, _ = packages["nchw"]
    fp32 = _export(spec, "fp32", tmp_path / "fp32", None)
    problems = coreml.verify(fp32, spec, "w8a8")
    assert any("precision w8a8 expected" in p and "quantize" in p for p in problems), problems
    assert any("stored in float, not int8" in p for p in problems), problems
    assert any("deployment target" in p for p in problems), problems
    for other in ("fp32", "fp16"):
        problems = coreml.verify(w8a8, spec, other)
        assert any(f"precision {other} expected, but the program quantizes" in p
                   for p in problems), problems
    # I/O is still checked for w8a8
    assert any("input 'image' shape" in p
               for p in coreml.verify(w8a8, _spec("nhwc"), "w8a8"))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_simulated_reference_is_quantized_and_within_budget(packages, layout):
    spec, _, calib, scheme = packages[layout]
    budget = registry.card("retouch_csrnet").tolerance("coreml", "w8a8")
    simulated = coreml.simulated_runner(_tiny(), spec, calib, scheme)
    reference = torch_runner(_tiny(), spec)
    for feeds in calib:
        got, want = simulated(feeds)["retouched"], reference(feeds)["retouched"]
        assert got.shape == want.shape == spec.output_shapes()["retouched"]
        assert np.abs(got - want).max() > 0, "a quantized graph cannot match float exactly"
        if layout == "nhwc":
            got, want = got.transpose(0, 3, 1, 2), want.transpose(0, 3, 1, 2)
        assert psnr_db(got, want) >= budget.psnr_db_min


def test_simulated_reference_must_match_the_export(packages):
    spec, _, calib, scheme = packages["nchw"]
    tampered = dict(scheme, activation_qparams=[list(q) for q in scheme["activation_qparams"]])
    tampered["activation_qparams"][3][1] *= 1.5
    with pytest.raises(CamkitError, match="not the exported graph") as e:
        coreml.simulated_runner(_tiny(), spec, calib, tampered)
    assert "\n" not in str(e.value)
    with pytest.raises(CamkitError, match="not the exported graph"):  # another calibration
        coreml.simulated_runner(_tiny(), spec, calib[:1], scheme)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_scheme_file(packages, layout):
    _, _, calib, scheme = packages[layout]
    assert "nncf" in scheme["path"] and "quantize_pt2e" in scheme["path"]
    assert {k: scheme["weights"][k] for k in ("bits", "granularity", "symmetric")} == {
        "bits": 8, "granularity": "per-channel", "symmetric": True}
    assert {k: scheme["activations"][k] for k in ("bits", "granularity", "symmetric")} == {
        "bits": 8, "granularity": "per-tensor", "symmetric": False}
    assert scheme["calibration"] == {"count": len(calib)}
    assert scheme["deployment_target"] == "iOS17"
    assert scheme["bias_correction"] is False and scheme["weights"]["bias"] == "float"
    assert "cond_net.mean (aten.mean.dim)" in scheme["float_layers"]
    assert any("model output" in layer for layer in scheme["float_layers"])
    # one [producer, scale, zero point] per activation quantizer
    qparams = scheme["activation_qparams"]
    assert qparams and all(len(q) == 3 and q[1] > 0 and -128 <= q[2] <= 127 for q in qparams)
    json.dumps(scheme)  # merged into the manifest as is


def test_missing_calibration_is_one_line(tmp_path):
    spec = _spec("nchw")
    for calib in (None, []):
        with pytest.raises(CamkitError, match="calibration") as e:
            _export(spec, "w8a8", tmp_path, calib)
        assert "\n" not in str(e.value)
    assert not (tmp_path / SCHEME_FILE).exists()


def test_same_inputs_same_program_quietly(packages, tmp_path, capfd, monkeypatch):
    """A second export gives the same MIL program and weight bytes, and prints nothing."""
    monkeypatch.delenv("CAMKIT_VERBOSE", raising=False)
    monkeypatch.setattr(sys, "stdout", sys.__stdout__)  # fds 1 and 2, as in the CLI
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    spec, first, calib, scheme = packages["nchw"]
    second = _export(spec, "w8a8", tmp_path, calib)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert _program_and_weights(second) == _program_and_weights(first)
    assert json.loads((tmp_path / SCHEME_FILE).read_text()) == scheme


def test_transposed_conv_is_quantized():
    """camkit's Core ML quantizer covers conv_transpose2d (weights per output channel, axis 1 of
    a [C_in, C_out, kH, kW] weight); without that pattern it is listed as computing in float."""
    import torch

    from toolkit.quantization import coreml_ptq
    from toolkit.spec import ModelSpec, TensorSpec

    class Up(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.down = torch.nn.Conv2d(3, 8, 4, stride=2, padding=1)
            self.up = torch.nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1)

        def forward(self, image):
            return image + self.up(torch.relu(self.down(image)))

    torch.manual_seed(0)
    model = ModelSpec(model_id="up_test", task="test", title="test", paper="none",
                      inputs=(TensorSpec("image", 3),), outputs=(TensorSpec("out", 3),),
                      variants=("tiny",), default_variant="tiny", default_size={"tiny": (32, 32)})
    spec = ExportSpec(model, "tiny", 32, 32)
    rng = np.random.default_rng(0)
    calib = [{"image": rng.random((1, 3, 32, 32), dtype=np.float32)} for _ in range(4)]
    q = coreml_ptq.quantize(Up().eval(), spec, calib)
    assert "up" in q.layers and q.kept_weighted == 0
    assert not any("conv_transpose" in f for f in q.float_layers), q.float_layers
    int8 = [t for t in q.graph.state_dict().values() if t.dtype == torch.int8]
    assert any(t.shape == (8, 3, 4, 4) for t in int8), [t.shape for t in int8]
