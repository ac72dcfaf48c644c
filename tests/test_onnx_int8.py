"""ONNX w8a8 of tiny CSRNet (shipped tiny checkpoint): NNCF's QDQ graph, run by onnxruntime.

The artifact passes its card budget against torch and is really quantized (not bit-identical to
fp32; int8 weights and int8/uint8 activation quantizers in the graph), the manifest records the
scheme read from the graph, two exports are byte-identical, NHWC works, a quantized export
without calibration inputs is a one-line error, and weight-only w8 is refused (w8a16 has its own
file, tests/test_onnx_w8a16.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("nncf")

import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

from toolkit import registry  # noqa: E402
from toolkit.checks.parity import check_artifact  # noqa: E402
from toolkit.conversion import onnx as onnx_format  # noqa: E402
from toolkit.conversion._common import prepare_for_export  # noqa: E402
from toolkit.errors import CamkitError  # noqa: E402
from toolkit.export import build_model, export_artifacts, make_spec, resolve_weights  # noqa: E402

MODEL = "retouch_csrnet"
#: CSRNet: 6 convs (3 condition, 3 base) and 6 linears (GFM scale/shift), all quantized
WEIGHTED_LAYERS = 12
#: the convs (three condition convs, three per-pixel 1x1): int8; the six Gemm stay float
QUANTIZED_CONVS = 6


def _export(root, layout, precisions):
    spec = make_spec(MODEL, "tiny", None, layout, False)
    weights = resolve_weights(MODEL, "tiny", None, False)
    return export_artifacts(spec, weights, ["onnx"], precisions, root, progress=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """fp32 + w8a8 (NCHW), a second w8a8 export of the same model, and an NHWC w8a8."""
    root = tmp_path_factory.mktemp("onnx_w8a8")
    fp32, w8a8 = _export(root / "a", "nchw", ["fp32", "w8a8"])
    [again] = _export(root / "b", "nchw", ["w8a8"])
    [nhwc] = _export(root / "nhwc", "nhwc", ["w8a8"])
    return {"fp32": fp32, "w8a8": w8a8, "again": again, "nhwc": nhwc}


def _artifact(manifest):
    return manifest.parent / json.loads(manifest.read_text())["artifact"]["file"]


def test_w8a8_and_w8a16_are_offered_and_w8_is_not():
    assert {"w8a8", "w8a16"} <= set(onnx_format.precisions)
    assert "w8" not in onnx_format.precisions
    with pytest.raises(CamkitError, match="does not export precision w8"):
        registry.check_precision("onnx", "w8")


def test_w8a8_within_budget_and_really_quantized(exported):
    result, _, _ = check_artifact(exported["w8a8"])
    assert result.passed, result.problems
    budget = registry.card(MODEL).tolerance("onnx", "w8a8")
    assert result.worst_psnr_db >= budget.psnr_db_min
    assert len(result.samples) == 5
    assert result.worst_max_abs > 0, "bit-identical to torch: the graph was not quantized"
    fp32, _, _ = check_artifact(exported["fp32"])
    assert fp32.passed, fp32.problems
    assert result.worst_psnr_db < fp32.worst_psnr_db


def test_w8a8_graph_holds_int8_qdq(exported):
    model = onnx.load(str(_artifact(exported["w8a8"])))
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") >= 9 and ops.count("DequantizeLinear") >= 15
    init = {t.name: t for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    readers: dict = {}
    for n in model.graph.node:
        for x in n.input:
            readers.setdefault(x, []).append(n.op_type)
    # the condition head (Gemm) stays float by CSRNet's declaration (W8A8_FLOAT_LAYERS)
    weighted = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(weighted) == WEIGHTED_LAYERS
    gemms = [n for n in weighted if n.op_type == "Gemm"]
    assert gemms and all(producer.get(n.input[1]) is None for n in gemms)  # float weights
    convs = [n for n in weighted if n.op_type == "Conv"]
    for node in convs:  # integer kernels: quantized output, directly or after the ReLU
        users = readers[node.output[0]]
        after = readers[producer_out] if (producer_out := next(
            (n.output[0] for n in model.graph.node if n.op_type == "Relu"
             and n.input[0] == node.output[0]), None)) else []
        assert "QuantizeLinear" in users + after, node.name
    # every Conv reads a dequantized activation and a dequantized int8 weight
    for node in convs:
        act, weight = (producer[x] for x in node.input[:2])
        assert act.op_type == weight.op_type == "DequantizeLinear", node.name
        q = numpy_helper.to_array(init[weight.input[0]])
        assert q.dtype == np.int8 and np.abs(q.astype(int)).max() <= 127
        assert numpy_helper.to_array(init[weight.input[1]]).ndim == 1  # per-channel scales
        assert not numpy_helper.to_array(init[weight.input[2]]).any()  # symmetric
    # activation quantizers: per-tensor, 8-bit zero points, some asymmetric (preset MIXED)
    zero_points = [numpy_helper.to_array(init[n.input[2]]) for n in model.graph.node
                   if n.op_type == "QuantizeLinear"]
    assert {z.dtype for z in zero_points} <= {np.dtype(np.int8), np.dtype(np.uint8)}
    assert all(z.ndim == 0 for z in zero_points)
    assert any(z.any() for z in zero_points)
    # the float weights are gone (the tiny model's file size is mostly node metadata, so the
    # constants are compared, not the files)
    fp32 = onnx.load(str(_artifact(exported["fp32"])))
    assert _constant_bytes(model) < 0.5 * _constant_bytes(fp32)


def _constant_bytes(model) -> int:
    return sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer)


def test_w8a8_manifest_records_the_scheme(exported):
    scheme = json.loads(exported["w8a8"].read_text())["precision_scheme"]
    assert scheme["id"] == "w8a8"
    assert scheme["path"] == "nncf.quantize (ONNX backend, QDQ)"
    assert scheme["weights"] == {
        "bits": 8, "dtype": "int8", "granularity": "per-channel", "symmetric": True,
        "half_range_layers": scheme["weights"]["half_range_layers"],
    }
    # NNCF's overflow fix: the two convs that read the image, or every layer where this host's
    # fused kernels lose parity to the QDQ arithmetic with that (an AVX2 host without VNNI)
    host, half = scheme["host_kernels"], scheme["weights"]["half_range_layers"]
    first = host["first_layer"]
    if host["overflow_fix"] == "first_layer":
        assert len(half) == 2 and scheme["nncf"]["overflow_fix"] == "first_layer (default)"
        assert ("all_layers" in host) == (first["qdq_db"] - first["fused_db"] > 1.0)
    else:
        assert host["overflow_fix"] == "all_layers" and len(half) == QUANTIZED_CONVS
        assert scheme["nncf"]["overflow_fix"] == "all layers"
        assert first["qdq_db"] - first["fused_db"] > host["saturation_loss_db"]
        assert host["all_layers"]["fused_db"] > first["fused_db"]
    act = scheme["activations"]
    assert (act["bits"], act["granularity"], act["symmetric"]) == (8, "per-tensor", False)
    assert act["zero_points_nonzero"] > 0
    assert scheme["calibration"] == {"source": "photos_pd", "count": 5}
    # CSRNet's declared float layers (the condition head, modulations, ReLUs, global mean)
    assert scheme["kept_float_layers"] == scheme["default_float_layers"]
    assert "cond_scale1" in scheme["kept_float_layers"]
    assert len(scheme["float_layers"]) == WEIGHTED_LAYERS - QUANTIZED_CONVS  # the six Gemm
    assert scheme["quantized_layers"] == QUANTIZED_CONVS
    assert scheme["nncf_preset"] == "mixed"


def test_w8a8_export_is_deterministic(exported):
    first, second = _artifact(exported["w8a8"]), _artifact(exported["again"])
    assert first.read_bytes() == second.read_bytes()
    a, b = (json.loads(m.read_text()) for m in (exported["w8a8"], exported["again"]))
    assert a["precision_scheme"] == b["precision_scheme"]


def test_nhwc_w8a8(exported):
    data = json.loads(exported["nhwc"].read_text())
    assert data["io"]["inputs"][0]["shape"] == [1, 64, 64, 3]
    assert data["precision_scheme"]["calibration"] == {"source": "photos_pd", "count": 5}
    result, _, _ = check_artifact(exported["nhwc"], max_images=2)
    assert result.passed, result.problems
    assert result.worst_max_abs > 0


@pytest.mark.parametrize("calib", [None, []])
def test_quantized_export_without_calibration_is_an_error(tmp_path, calib):
    spec = make_spec(MODEL, "tiny", None, "nchw", False)
    weights = resolve_weights(MODEL, "tiny", None, False)
    module = prepare_for_export(build_model(MODEL, "tiny", weights), spec)
    with pytest.raises(CamkitError, match="needs calibration inputs") as err:
        onnx_format.export(module, spec, "w8a8", tmp_path, calib)
    assert "\n" not in str(err.value)
    assert not list(tmp_path.iterdir()), "nothing is written when the export is refused"


def test_shipped_onnx_carries_no_stack_traces_or_local_paths(exported):
    """torch.onnx writes each node's Python stack trace (absolute paths of this checkout);
    onnx.py strips it so the file neither leaks paths nor depends on where the repo lives."""
    from toolkit.conversion.onnx import DEBUG_METADATA

    repo = str(Path(__file__).resolve().parents[1]).encode()
    for key in ("fp32", "w8a8"):
        path = _artifact(exported[key])
        assert repo not in path.read_bytes()
        model = onnx.load(str(path))
        keys = {p.key for n in model.graph.node for p in n.metadata_props}
        assert not keys & set(DEBUG_METADATA)
        assert "pkg.torch.onnx.name_scopes" in keys or key == "w8a8"


@pytest.mark.parametrize("first,all_layers,want", [
    ((45.0, 45.5), None, "first_layer"),  # fused within 1 dB of the QDQ arithmetic: done
    ((19.6, 44.6), (45.1, 45.0), "all_layers"),  # tiny NAFNet on an AVX2 host (onnx_ptq)
    ((40.0, 44.0), (38.0, 38.5), "first_layer"),  # the all-layer fix is worse: keep the first
])
def test_host_saturation_requantizes_with_the_all_layer_fix(monkeypatch, first, all_layers, want):
    from toolkit.quantization import onnx_ptq

    calls = []

    def quantize(model, calib, ignored=(), *, overflow_fix="first_layer_only"):
        calls.append(overflow_fix)
        return overflow_fix

    parity = {"first_layer_only": first, "enable": all_layers}
    monkeypatch.setattr(onnx_ptq, "quantize_w8a8", quantize)
    monkeypatch.setattr(onnx_ptq, "_run_all", lambda model, calib, optimize: [])
    monkeypatch.setattr(onnx_ptq, "host_kernel_parity", lambda m, ref, c: dict(
        zip(("fused_db", "qdq_db"), parity[m])))
    model, record = onnx_ptq.quantize_w8a8_for_host("fp32", [{}])
    assert calls == (["first_layer_only"] if all_layers is None else ["first_layer_only", "enable"])
    assert record["overflow_fix"] == want
    assert model == ("enable" if want == "all_layers" else "first_layer_only")
    assert record["first_layer"] == {"fused_db": first[0], "qdq_db": first[1]}


def _qdq_conv_graph():
    """x -> Q/DQ -> Conv(int8 weights via DQ) -> Relu -> ReduceMean (float), and a second
    Conv -> Mul (float): NNCF's ONNX output for a conv read only by float ops."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(np.array(1 / 255, np.float32), "xs"),
             numpy_helper.from_array(np.array(0, np.uint8), "xz"),
             numpy_helper.from_array(np.array([2.0], np.float32), "two")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"], name="qx"),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"], name="dqx")]
    for i, tail in enumerate(("relu", "mul")):
        w = rng.integers(-127, 128, (4, 3, 1, 1)).astype(np.int8)
        inits += [numpy_helper.from_array(w, f"w{i}"),
                  numpy_helper.from_array(np.full(4, 0.01, np.float32), f"ws{i}"),
                  numpy_helper.from_array(np.zeros(4, np.int8), f"wz{i}")]
        nodes += [helper.make_node("DequantizeLinear", [f"w{i}", f"ws{i}", f"wz{i}"], [f"wd{i}"],
                                   name=f"dqw{i}", axis=0),
                  helper.make_node("Conv", ["xd", f"wd{i}"], [f"c{i}"], name=f"conv{i}")]
        if tail == "relu":
            nodes += [helper.make_node("Relu", [f"c{i}"], ["r"], name="relu"),
                      helper.make_node("ReduceMean", ["r"], ["y0"], name="mean", keepdims=1)]
        else:
            nodes += [helper.make_node("Mul", [f"c{i}", "two"], ["y1"], name="mul")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y0", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("y1", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def test_float_read_convs_get_an_output_pair_after_their_relu():
    import onnxruntime as ort

    from toolkit.quantization.onnx_ptq import requantize_float_consumers

    model = _qdq_conv_graph()
    calib = [{"x": np.random.default_rng(i).random((1, 3, 8, 8), dtype=np.float32)}
             for i in range(3)]
    done = requantize_float_consumers(model, calib)
    assert sorted(done) == ["conv0", "conv1"]
    nodes = list(model.graph.node)
    by_input = {i: n for n in nodes for i in n.input}
    # Conv -> Relu stays float-free of a pair; the pair quantizes the Relu's output (zero point 0:
    # no step spent on negatives) and the mean reads its DequantizeLinear
    assert by_input["c0"].op_type == "Relu"
    q_relu = by_input["r"]
    assert q_relu.op_type == "QuantizeLinear"
    zero = next(i for i in model.graph.initializer if i.name == q_relu.input[2])
    assert zero.int32_data == [0] or np.frombuffer(zero.raw_data, np.uint8).tolist() == [0]
    mean = next(n for n in nodes if n.name == "mean")
    assert by_input[mean.input[0]] is mean and mean.input[0].endswith("_dq")
    # a conv read by another float op gets the pair on its own output
    assert by_input["c1"].op_type == "QuantizeLinear"
    # the graph stays sorted and runs
    ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, calib[0])
