"""The static op report: MACs against a hand count from the torch layers, totals, peak memory,
fallback flags from the support tables, the JSON schema and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli
from toolkit.errors import CamkitError
from toolkit.profilers import schema
from toolkit.profilers.static import onnx_rows, peak_activation, profile_static
from toolkit.profilers.support_rules import heuristic_unsupported

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def _hand_count(variant: str, height: int, width: int) -> list[tuple[str, int, int]]:
    """(kind, MACs, params) per Conv2d / Linear of the torch model, from its layers alone:
    a conv's output is floor((H + 2p - k) / s) + 1 per side, each output element costs
    Cin/groups * kH * kW MACs; a Linear costs in * out per sample. The condition net's convs run
    one after another on the image; the base convs are 1x1 at full resolution."""
    from toolkit.models.retouch_csrnet.model import build

    net = build(variant)
    out = []
    h, w = height, width
    for conv in (net.cond_net.conv1, net.cond_net.conv2, net.cond_net.conv3):
        (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
        h, w = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        macs = conv.out_channels * h * w * conv.in_channels // conv.groups * kh * kw
        out.append(("Conv", macs, sum(p.numel() for p in conv.parameters())))
    for conv in (net.conv1, net.conv2, net.conv3):
        out.append(("Conv", conv.out_channels * height * width * conv.in_channels,
                    sum(p.numel() for p in conv.parameters())))
    for name in ("scale", "shift"):
        for i in (1, 2, 3):
            fc = getattr(net, f"cond_{name}{i}")
            out.append(("Gemm", fc.in_features * fc.out_features,
                        sum(p.numel() for p in fc.parameters())))
    return sorted(out)


@pytest.fixture(scope="module")
def tiny_static(tiny_onnx):
    return profile_static(tiny_onnx)


def test_conv_and_gemm_macs_and_params_match_a_hand_count(tiny_static):
    _, _, height, width = tiny_static.static.input_shapes["image"]
    counted = sorted((op.node_type, op.macs, op.params) for op in tiny_static.ops
                     if op.node_type in ("Conv", "Gemm"))
    assert counted == _hand_count("tiny", height, width)
    others = [op for op in tiny_static.ops if op.node_type not in ("Conv", "Gemm")]
    assert others and all(op.macs == 0 for op in others)  # elementwise, reshape, mean


def test_totals_are_the_sums_of_the_rows_and_peak_holds_the_largest_tensor(tiny_static):
    s, ops = tiny_static.static, tiny_static.ops
    assert s.macs == sum(op.macs for op in ops) > 0
    assert s.params == sum(op.params for op in ops) > 0
    assert s.activation_bytes == sum(op.activation_bytes for op in ops)
    largest_mb = max(op.activation_bytes for op in ops) / 2**20
    assert s.peak_activation_mb >= largest_mb
    assert s.peak_activation_mb < s.activation_bytes / 2**20  # tensors are freed
    assert s.peak_at in {op.name for op in ops}
    assert tiny_static.latency == schema.Latency()  # nothing was timed


def test_peak_walk_frees_a_tensor_after_its_last_reader():
    # a -> n1 -> b -> n2 -> c, and a is read again by n3 -> d: a lives until n3
    order = [("n1", ["a"], ["b"]), ("n2", ["b"], ["c"]), ("n3", ["a", "c"], ["d"])]
    sizes = {"a": 4 * 2**20, "b": 8 * 2**20, "c": 1 * 2**20, "d": 2 * 2**20}
    peak_mb, at = peak_activation(order, sizes, ["a"], ["d"])
    assert (peak_mb, at) == (13.0, "n2")  # a + b + c; b freed after n2
    assert peak_activation(order, {**sizes, "c": None}, ["a"], ["d"]) == (None, None)


def test_json_validates_and_round_trips(tiny_static):
    obj = json.loads(json.dumps(tiny_static.to_json()))
    schema.validate(obj)
    assert schema.ProfileResult.from_json(obj) == tiny_static
    assert obj["kind"] == "static" and obj["latency"]["median_ms"] is None
    assert set(obj["static"]["fallback_ops"]) == set(obj["static"]["targets"])
    assert any("heuristic" in source for source in obj["static"]["targets"].values())


def _graph(path, nodes, inits, out_shape, out_type=onnx.TensorProto.FLOAT):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
        [helper.make_tensor_value_info("y", out_type, out_shape)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_an_op_absent_from_every_support_table_is_flagged(tmp_path):
    from onnx import helper, numpy_helper

    k = numpy_helper.from_array(np.array([3], np.int64), "k")
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("TopK", ["r", "k"], ["y", "idx"], name="topk")]
    rows, _, _ = onnx_rows(_graph(tmp_path / "topk.onnx", nodes, [k], [1, 2, 8, 3]),
                           {"x": [1, 2, 8, 8]})
    flags = {row.name: row.unsupported_on for row in rows}
    assert flags["topk"] == ["ort_nnapi", "ort_coreml", "coreml_ane_heuristic"]
    assert flags["relu"] == []


def test_a_qdq_conv_is_counted_once_with_its_weights(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 2, 3, 3), np.int8), "w_q")
    scale = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    zero = numpy_helper.from_array(np.array(0, np.int8), "z")
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q_in"),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq_in"),
        helper.make_node("DequantizeLinear", ["w_q", "s", "z"], ["wd"], name="dq_w"),
        helper.make_node("Conv", ["xd", "wd"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["c", "s", "z"], ["y"], name="q_out"),
    ]
    path = _graph(tmp_path / "qdq.onnx", nodes, [w, scale, zero], [1, 4, 8, 8],
                  TensorProto.INT8)
    rows, peak_mb, _ = onnx_rows(path, {"x": [1, 2, 8, 8]})
    by_name = {row.name: row for row in rows}
    assert by_name["conv"].macs == 4 * 8 * 8 * 2 * 3 * 3
    assert by_name["conv"].params == 4 * 2 * 3 * 3
    assert sum(row.macs for row in rows) == by_name["conv"].macs
    assert sum(row.params for row in rows) == by_name["conv"].params
    assert by_name["q_out"].activation_bytes == 4 * 8 * 8  # int8: one byte an element
    # dq_w reads only constants: its output is a weight, not an activation
    assert peak_mb * 2**20 == 2 * 8 * 8 * 4 + 4 * 8 * 8 * 4  # the conv: its input + output


@pytest.fixture(scope="module")
def tiny_litert(tmp_path_factory):
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("litert_torch")
    from toolkit.export import export_artifacts, make_spec, resolve_weights

    out = tmp_path_factory.mktemp("tiny_litert")
    spec = make_spec("retouch_csrnet", "tiny", None, "nchw", False)
    weights = resolve_weights("retouch_csrnet", "tiny", None, True)
    [manifest] = export_artifacts(spec, weights, ["litert"], ["fp32"], out, progress=False)
    return manifest


def test_litert_conv_and_fc_macs_match_the_hand_count(tiny_litert):
    result = profile_static(tiny_litert)
    _, _, height, width = result.static.input_shapes["image"]
    kind = {"CONV_2D": "Conv", "FULLY_CONNECTED": "Gemm"}
    counted = sorted((kind[op.node_type], op.macs, op.params) for op in result.ops
                     if op.node_type in kind)
    assert counted == _hand_count("tiny", height, width)
    assert result.static.macs == sum(op.macs for op in result.ops)
    assert result.static.peak_activation_mb >= max(op.activation_bytes for op in result.ops) / 2**20
    assert list(result.static.targets) == ["litert_gpu_heuristic"]
    schema.validate(result.to_json())


def test_the_litert_gpu_table_flags_an_op_the_delegate_does_not_take():
    assert heuristic_unsupported("litert_gpu_heuristic", "NON_MAX_SUPPRESSION_V5")
    assert heuristic_unsupported("litert_gpu_heuristic", "CUSTOM")
    assert not heuristic_unsupported("litert_gpu_heuristic", "CONV_2D")
    assert heuristic_unsupported("coreml_ane_heuristic", "NonZero")
    assert not heuristic_unsupported("coreml_ane_heuristic", "Conv")


def test_cli_prints_the_table_and_writes_json(tiny_onnx, tmp_path):
    out = tmp_path / "static.json"
    proc = run_cli("profile", "static", str(tiny_onnx), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "MACs" in proc.stdout and "peak" in proc.stdout and "heuristic" in proc.stdout
    obj = json.loads(out.read_text())
    schema.validate(obj)
    assert obj["argv"][:3] == ["camkit", "profile", "static"]
    timed = run_cli("profile", "static", str(tiny_onnx), "--threads", "2")
    assert timed.returncode == 2 and timed.stderr.count("\n") == 1
    assert "unrecognized argument --threads" in timed.stderr


def test_old_spelling_static_still_works_with_one_note(tiny_onnx, tmp_path):
    """`profile run --static` (deprecated for one release): the same report as `profile
    static`, one note line on stderr; --static with --on stays refused."""
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    proc = run_cli("profile", "run", str(tiny_onnx), "--static", "--json", str(old))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ("camkit: note: 'camkit profile run --static' is deprecated; use "
                           "'camkit profile static' (it will be removed in the next release)\n")
    assert run_cli("profile", "static", str(tiny_onnx), "--json", str(new)).returncode == 0
    old_obj, new_obj = json.loads(old.read_text()), json.loads(new.read_text())
    assert old_obj["argv"][:3] == ["camkit", "profile", "run"] and "--static" in old_obj["argv"]
    assert {k: v for k, v in old_obj.items() if k != "argv"} == \
        {k: v for k, v in new_obj.items() if k != "argv"}
    both = run_cli("profile", "run", str(tiny_onnx), "--static", "--on", "host")
    assert both.returncode == 2 and "exactly one of" in both.stderr
    assert both.stderr.count("\n") == 1


def test_a_core_ml_manifest_is_a_one_line_error(tiny_onnx, tmp_path):
    manifest = json.loads(tiny_onnx.read_text())
    manifest["format"] = "coreml"
    path = tmp_path / "m.mlpackage.manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(CamkitError, match="export --format onnx or litert") as err:
        profile_static(path)
    assert "\n" not in str(err.value)
