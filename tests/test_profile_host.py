"""`camkit profile host` on tiny artifacts: structure, ordering and labels, never ms.

Times on a shared CI machine vary by an order of magnitude, so nothing here asserts how fast a
run was; what must hold on any machine is the schema, n == runs, min <= median <= p90 <= p95
<= max, positive init/first times, null for what was not measured, and ORT's op rows naming
the graph's op types.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from conftest import run_cli
from toolkit.artifacts import MANIFEST_SCHEMA, read_manifest
from toolkit.errors import CamkitError
from toolkit.profilers.host_profile import node_rows, profile_host
from toolkit.profilers.schema import ProfileResult, validate

RUNS = 5


def assert_sound(result: ProfileResult, manifest: Path) -> None:
    """What every host result must satisfy, whatever the machine's speed."""
    validate(result.to_json())
    assert ProfileResult.from_json(json.loads(json.dumps(result.to_json()))) == result
    assert result.kind == "measured"
    assert result.runtime.options["label"].startswith("host proxy")
    assert "host proxy" in result.runtime.tool
    lat = result.latency
    assert lat.n == RUNS
    assert lat.min_ms <= lat.median_ms <= lat.p90_ms <= lat.p95_ms <= lat.max_ms
    assert lat.min_ms <= lat.p5_ms <= lat.median_ms and lat.p95_ms <= lat.p99_ms <= lat.max_ms
    assert lat.min_ms <= lat.mean_ms <= lat.max_ms
    assert lat.init_ms > 0 and lat.first_ms > 0 and lat.warmup_mean_ms > 0 and lat.std_ms >= 0
    assert result.memory.init_mb is None and result.memory.peak_mb is None  # not measured
    assert result.device is None and result.delegation is None and result.error is None
    m = read_manifest(manifest)
    assert (result.model.sha256, result.model.format, result.model.precision) == (
        m["artifact"]["sha256"], m["format"], m["precision"])
    assert result.host.cores >= 1 and result.host.versions["python"]
    assert result.argv and "profile_host(" in result.argv[0]


def test_onnx_host_profile_has_latency_and_per_node_rows_from_the_graph(tiny_onnx):
    result = profile_host(tiny_onnx, runs=RUNS, warmup=1, threads=1)
    assert_sound(result, tiny_onnx)
    assert result.runtime.name == "onnxruntime" and result.runtime.options["threads"] == "1"
    assert result.runtime.delegate == "CPUExecutionProvider"
    graph = onnx.load(tiny_onnx.parent / read_manifest(tiny_onnx)["artifact"]["file"]).graph
    graph_types = {node.op_type for node in graph.node}
    rows = [op for op in result.ops if op.table == "top_by_time"]
    assert rows and "Conv" in {op.node_type for op in rows}
    # ORT may fuse nodes (Conv+Relu -> FusedConv); every type must still be an ONNX/ORT op name
    assert {op.node_type for op in rows} & graph_types
    times = [op.avg_ms for op in rows]
    assert times == sorted(times, reverse=True) and all(t >= 0 for t in times)
    assert all(op.times_called == 1 + RUNS for op in rows)
    assert rows[-1].cdf_percent == pytest.approx(100.0)
    by_type = [op for op in result.ops if op.table == "by_type"]
    assert sum(op.count for op in by_type) == len(rows)


def test_onnx_profiling_file_is_removed(tiny_onnx, tmp_path, monkeypatch):
    import tempfile

    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir(), tmp.mkdir()
    monkeypatch.chdir(cwd)  # ORT's default profile prefix writes here
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    result = profile_host(tiny_onnx, runs=1, warmup=0)
    assert result.ops  # the profiled session did run
    assert list(cwd.iterdir()) == [] and list(tmp.iterdir()) == []


def test_litert_host_profile_with_xnnpack_and_reference_kernels(tiny_litert):
    fast = profile_host(tiny_litert, runs=RUNS, warmup=1)
    assert_sound(fast, tiny_litert)
    assert (fast.runtime.name, fast.runtime.tool_generation) == ("litert", "interpreter")
    assert fast.runtime.delegate == "XNNPACK"
    assert fast.runtime.options["threads"] == "runtime default"
    assert fast.ops == []  # the Python interpreter has no op profiler
    ref = profile_host(tiny_litert, runs=RUNS, warmup=1, threads=1, kernels="reference")
    assert_sound(ref, tiny_litert)
    assert ref.runtime.delegate is None and ref.runtime.options["kernels"] == "reference"


def test_one_run_has_no_std_and_no_warmup_mean(tiny_onnx):
    lat = profile_host(tiny_onnx, runs=1, warmup=0).latency
    assert lat.n == 1 and lat.std_ms is None and lat.warmup_mean_ms is None
    assert lat.min_ms == lat.median_ms == lat.p90_ms == lat.max_ms


def fake_manifest(tmp_path: Path, fmt: str) -> Path:
    path = tmp_path / f"m-{fmt}.manifest.json"
    path.write_text(json.dumps({
        "schema": MANIFEST_SCHEMA, "model_id": "retouch_csrnet", "variant": "tiny",
        "format": fmt, "precision": "fp32", "io": {"inputs": [], "outputs": []},
        "artifact": {"file": "x", "sha256": "ab" * 32, "size_bytes": 1, "export_s": 0.0},
    }))
    return path


def test_core_ml_manifest_is_refused_with_one_line_naming_macos(tmp_path):
    with pytest.raises(CamkitError, match="camkit profile macos") as info:
        profile_host(fake_manifest(tmp_path, "coreml"))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kw, match", [
    ({"runs": 0}, "--runs"), ({"warmup": -1}, "--warmup"), ({"threads": 0}, "--threads"),
    ({"kernels": "gpu"}, "--kernels"), ({"kernels": "reference"}, "applies to LiteRT"),
])
def test_bad_options_are_one_line_errors(tiny_onnx, kw, match):
    with pytest.raises(CamkitError, match=match) as info:
        profile_host(tiny_onnx, **kw)
    assert "\n" not in str(info.value)


def test_node_rows_parse_kernel_events_and_skip_the_rest():
    def event(name, dur, op="Conv", cat="Node"):
        return {"cat": cat, "name": name, "dur": dur, "args": {"op_name": op}}

    events = [
        {"cat": "Session", "name": "session_initialization", "dur": 9000, "args": {}},
        event("conv1_fence_before", 1), event("conv1_kernel_time", 900),
        event("relu_kernel_time", 50, "Relu"),
        event("conv1_kernel_time", 300), event("relu_kernel_time", 10, "Relu"),
        event("conv1_kernel_time", 100), event("relu_kernel_time", 30, "Relu"),
    ]
    rows = node_rows(events)
    top = [r for r in rows if r.table == "top_by_time"]
    assert [(r.name, r.node_type) for r in top] == [("conv1", "Conv"), ("relu", "Relu")]
    assert top[0].avg_ms == pytest.approx(0.2) and top[0].first_ms == pytest.approx(0.9)
    assert top[1].avg_ms == pytest.approx(0.02) and top[0].times_called == 3
    assert node_rows([events[0]]) == []


def test_cli_host_prints_a_table_and_writes_json_that_validates(tiny_onnx, tmp_path):
    out = tmp_path / "host.json"
    proc = run_cli("profile", "host", str(tiny_onnx), "--runs", "3", "--warmup", "1",
                   "--threads", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "camkit host proxy" in proc.stdout and "latency ms" in proc.stdout
    assert "top " in proc.stdout and "Conv" in proc.stdout
    obj = json.loads(out.read_text())
    validate(obj)
    assert obj["argv"][:4] == ["camkit", "profile", "host", str(tiny_onnx)]
    assert obj["latency"]["n"] == 3


def test_cli_host_refuses_core_ml_and_other_targets_options(tmp_path):
    proc = run_cli("profile", "host", str(fake_manifest(tmp_path, "coreml")))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "camkit profile macos" in proc.stderr
    proc = run_cli("profile", "gpu", str(fake_manifest(tmp_path, "onnx")))
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    proc = run_cli("profile", "android", str(fake_manifest(tmp_path, "onnx")))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--binary" in proc.stderr


def test_old_spelling_on_host_still_works_with_one_note(tiny_onnx, tmp_path):
    """`profile run --on host` (deprecated for one release): the same result as `profile host`,
    one note line on stderr, the typed command line in the result."""
    out = tmp_path / "old.json"
    proc = run_cli("profile", "run", str(tiny_onnx), "--on", "host", "--runs", "2",
                   "--warmup", "0", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ("camkit: note: 'camkit profile run --on host' is deprecated; use "
                           "'camkit profile host' (it will be removed in the next release)\n")
    obj = json.loads(out.read_text())
    validate(obj)
    assert obj["argv"][:6] == ["camkit", "profile", "run", str(tiny_onnx), "--on", "host"]
    assert obj["latency"]["n"] == 2 and obj["runtime"]["tool"] == "camkit host proxy"
    proc = run_cli("profile", "run", str(fake_manifest(tmp_path, "onnx")), "--on", "android")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--binary" in proc.stderr
