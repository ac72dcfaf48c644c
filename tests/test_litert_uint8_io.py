"""LiteRT w8a8 with uint8 I/O (``--io uint8``): bytes in, bytes out, int8 inside.

Tiny CSRNet (seeded random weights) at 64x64 through the real pipeline, exported twice: float32
I/O and uint8 I/O. The uint8 file is read in the flatbuffer itself (signature tensors uint8 with
scale 1/255 and zero point 0, a requantize at each end, no DEQUANTIZE, every conv int8), run on
bytes against the float-I/O file, checked with ``camkit check``, and its manifest must tell an app
the dtype, scale and zero point. Formats and precisions without uint8 I/O refuse in one line.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from toolkit._quiet import quiet

with quiet():  # importing litert-torch (torchao, jax, absl) prints warnings from C++ and logging
    pytest.importorskip("litert_torch")
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("nncf")

from toolkit import artifacts, cli  # noqa: E402
from toolkit.checks.parity import check_artifact  # noqa: E402
from toolkit.quantization.options import PtqOptions  # noqa: E402
from toolkit.export import export_artifacts, make_spec, resolve_weights  # noqa: E402

#: every layer int8 (CSRNet's declared float layers off, no card search): these tests check the
#: integer file itself
ALL_INT8 = PtqOptions(float_defaults=False, auto_float=False)

MODEL, VARIANT = "retouch_csrnet", "tiny"
BYTE = {"scale": 1 / 255, "zero_point": 0}


def _export(out, io_dtype):
    spec = make_spec(MODEL, VARIANT, None, "nchw", False, io_dtype)
    weights = resolve_weights(MODEL, VARIANT, None, True)
    [manifest] = export_artifacts(spec, weights, ["litert"], ["w8a8"], out, progress=False,
                                  ptq=ALL_INT8)
    return manifest


def _artifact(manifest):
    return manifest.parent / json.loads(manifest.read_text())["artifact"]["file"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("litert-uint8")
    return {io: _export(out, io) for io in ("float32", "uint8")}


def _flatbuffer(path):
    """(model, signature, subgraph, op name of each operator) of a .tflite."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}
    codes = [names[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in model.operatorCodes]
    sig = model.signatureDefs[0]
    graph = model.subgraphs[sig.subgraphIndex]
    return model, sig, graph, [codes[op.opcodeIndex] for op in graph.operators]


def test_file_takes_and_returns_bytes(exported):
    from ai_edge_litert import schema_py_generated as schema

    model, sig, graph, ops = _flatbuffer(_artifact(exported["uint8"]))
    types = schema.TensorType
    assert [m.name for m in sig.inputs] == [b"image"]  # the spec's names, kept
    assert [m.name for m in sig.outputs] == [b"retouched"]
    for m in [*sig.inputs, *sig.outputs]:
        tensor = graph.tensors[m.tensorIndex]
        assert tensor.type == types.UINT8
        assert list(tensor.quantization.scale) == [np.float32(1 / 255)]
        assert list(tensor.quantization.zeroPoint) == [0]
    first, last = graph.operators[0], graph.operators[-1]
    assert ops[0] == "QUANTIZE" and first.inputs == [sig.inputs[0].tensorIndex]
    assert graph.tensors[first.outputs[0]].type == types.INT8  # requantize uint8 -> int8
    assert ops[-1] == "QUANTIZE" and last.outputs == [sig.outputs[0].tensorIndex]
    assert graph.tensors[last.inputs[0]].type == types.INT8  # requantize int8 -> uint8
    assert "DEQUANTIZE" not in ops and ops.count("QUANTIZE") == 2
    convs = [op for op, name in zip(graph.operators, ops) if name in ("CONV_2D", "FULLY_CONNECTED")]
    assert len(convs) == 12 and all(
        graph.tensors[i].type == types.INT8 for op in convs for i in op.inputs[:2]
    ), "every conv and fully-connected op takes int8 activations and weights"


def test_bytes_match_the_float_io_file(exported):
    """The input requantize is exact for bytes (the int8 input has scale 1/255, zero point -128
    on [0, 1] photos), so the files differ only by the output's requantize to 1/255 and the clip
    to [0, 1]: half a step of rounding, plus up to a quarter step where TFLite's fixed-point
    requantize rounds twice (int8 scale below half of 1/255; see litert_io.py): 0.75 at most."""
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (1, 3, 64, 64), dtype=np.uint8)
    with quiet():
        as_bytes = Interpreter(model_path=str(_artifact(exported["uint8"])))
        as_float = Interpreter(model_path=str(_artifact(exported["float32"])))
        out_bytes = as_bytes.get_signature_runner()(image=pixels)["retouched"]
        out_float = as_float.get_signature_runner()(image=pixels / np.float32(255))["retouched"]
    assert out_bytes.dtype == np.uint8
    steps = np.abs(out_bytes.astype(np.float32) - 255 * np.clip(out_float, 0, 1))
    assert steps.max() <= 0.75 + 1e-4, steps.max()


def test_manifest_tells_the_app(exported):
    data = json.loads(exported["uint8"].read_text())
    assert data["artifact"]["file"] == "retouch_csrnet-tiny-w8a8-uint8.tflite"
    for tensor in [*data["io"]["inputs"], *data["io"]["outputs"]]:
        assert tensor["dtype"] == "uint8" and tensor["quantization"] == BYTE
        assert tensor["value_range"] == [0.0, 1.0]  # value = (byte - zero_point) * scale
    scheme = data["precision_scheme"]
    assert scheme["io"] == "uint8"
    assert scheme["boundary"] == {"quantize_at_input": 1, "quantize_at_output": 1}
    assert scheme["io_quantization"]["image"]["zero_point"] == 0
    float_input = json.loads(exported["float32"].read_text())["io"]["inputs"][0]
    assert float_input["dtype"] == "float32" and float_input["quantization"] is None


def test_camkit_check_passes(exported, tmp_path, capsys):
    assert cli.main(["check", str(exported["uint8"]), "--out", str(tmp_path)]) == 0
    assert "pass" in capsys.readouterr().out
    # against torch, per photo: no worse than the float-I/O file plus the output requantize
    # (0.75 of a step at most, above; the torch output lies in [0, 1] here, so clipping cannot add)
    uint8 = check_artifact(exported["uint8"])[0]
    float_io = check_artifact(exported["float32"])[0]
    for u, f in zip(uint8.samples, float_io.samples, strict=True):
        assert u.max_abs <= f.max_abs + (0.75 + 1e-4) / 255, (u, f)


def test_layers_kept_float_at_the_boundary(tmp_path):
    """Accuracy-aware quantization may keep the layer that reads the input (conv1) or writes the
    output (the last GFM add) float: then a DEQUANTIZE uint8 -> float32 follows the input and a
    QUANTIZE float32 -> uint8 precedes the output, and the file is still within budget."""
    from toolkit.checks.metrics import psnr_db
    from toolkit.conversion import litert
    from toolkit.conversion._common import example_inputs, prepare_for_export, torch_runner
    from toolkit.export import build_model
    from toolkit.quantization import litert_ptq
    from toolkit.quantization.calibration import calibration_feeds

    spec = make_spec(MODEL, VARIANT, None, "nchw", False, "uint8")
    model = build_model(MODEL, VARIANT, resolve_weights(MODEL, VARIANT, None, True))
    path = litert.export(prepare_for_export(model, spec), spec, "w8a8", tmp_path,
                         calibration_feeds(spec), ["conv1", "gfm3/add_5"])
    facts = litert_ptq.describe(path)
    assert facts["io"] == "uint8" and litert_ptq.integer_problems(facts, 8, 1, "uint8") == []
    assert facts["boundary"]["dequantize_at_input"] == 1
    assert facts["boundary"]["quantize_at_output"] == 1
    feeds = {"image": np.round(example_inputs(spec)[0].numpy() * 255) / 255}
    got = litert.load(path)(feeds)["retouched"]
    assert psnr_db(got, torch_runner(model, spec)(feeds)["retouched"]) > 30  # the w8a8 budget


@pytest.mark.parametrize("fmt,precision", [("onnx", "w8a8"), ("coreml", "w8a8"),
                                           ("litert", "fp32"), ("litert", "w8a16")])
def test_no_uint8_io_is_one_line(tmp_path, capsys, fmt, precision):
    args = ["export", MODEL, "--variant", VARIANT, "--random-weights", "--format", fmt,
            "--precision", precision, "--io", "uint8", "--out", str(tmp_path)]
    assert cli.main(args) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert f"{fmt} {precision} has no uint8 I/O" in line and "--precision w8a8" in line
    assert not any(tmp_path.iterdir())


def test_unknown_io_dtype_suggests(capsys):
    assert cli.main(["export", MODEL, "--io", "u8", "--random-weights"]) == 2
    assert "did you mean 'uint8'" in capsys.readouterr().err


def test_deterministic(exported, tmp_path):
    again = _export(tmp_path, "uint8")
    assert artifacts.sha256_path(_artifact(again)) == artifacts.sha256_path(
        _artifact(exported["uint8"])
    )
