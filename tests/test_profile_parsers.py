"""Parsers for benchmark_model and onnxruntime_perf_test output, and `camkit profile parse`.

Every fixture in tests/fixtures/profilers was written by hand from the tools' format strings
(that folder's README names them); none is a pasted third-party log.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import run_cli
from toolkit.artifacts import MANIFEST_SCHEMA
from toolkit.profilers.parsers import (
    _body, parse_benchmark_model, parse_onnxruntime_perf_test,
)
from toolkit.profilers.schema import validate

FIXTURES = Path(__file__).parent / "fixtures" / "profilers"


def bm(name: str, **kw):
    return parse_benchmark_model((FIXTURES / name).read_bytes(), **kw)


def ort(name: str):
    return parse_onnxruntime_perf_test((FIXTURES / name).read_bytes())


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.txt")))
def test_every_fixture_gives_a_valid_result_with_the_raw_sha256(name):
    raw = (FIXTURES / name).read_bytes()
    result = (parse_onnxruntime_perf_test if name.startswith("ort") else parse_benchmark_model)(raw)
    validate(result.to_json())
    assert result.raw_output_sha256 == hashlib.sha256(raw).hexdigest()
    assert result.kind == "measured"


def test_old_interpreter_output_without_info_prefix_or_percentiles():
    r = bm("tflite_interpreter_old.txt")
    lat = r.latency
    assert (lat.init_ms, lat.first_ms, lat.warmup_mean_ms) == (212.417, 38.214, 23.9086)
    assert (lat.mean_ms, lat.min_ms, lat.max_ms, lat.std_ms, lat.n) == (
        22.7413, 21.87, 24.112, 0.498, 50)
    assert lat.median_ms is lat.p5_ms is lat.p95_ms is None  # not printed: null, not 0
    assert (r.memory.init_mb, r.memory.overall_mb, r.memory.peak_mb) == (3.10156, 17.6484, None)
    d = r.delegation  # old "Replacing N node(s)" line: no total
    assert (d.delegate, d.nodes_delegated, d.nodes_total, d.partitions) == ("NNAPI", 27, None, 5)
    assert (d.delegate_kernels, d.fully_delegated) == (2, False)
    assert r.runtime.options["Num threads"] == "4" and r.runtime.options["Use nnapi"] == "1"
    assert r.runtime.tool_generation == "interpreter" and r.error is None


def test_new_interpreter_output_with_percentiles_and_exponent_averages():
    r = bm("tflite_interpreter_new.txt")
    lat = r.latency
    assert lat.mean_ms == 1035.12  # avg=1.03512e+06 us
    assert lat.warmup_mean_ms == 1362.91  # Warmup (avg): 1.36291e+06
    assert (lat.median_ms, lat.p5_ms, lat.p95_ms) == (1033.207, 1023.114, 1057.346)
    assert lat.p90_ms is None  # benchmark_model prints no p90
    assert (lat.init_ms, lat.first_ms, lat.n) == (48.21, 1362.914, 50)
    assert (r.memory.init_mb, r.memory.overall_mb, r.memory.peak_mb) == (8.73828, 214.293, 221.648)
    d = r.delegation
    assert (d.delegate, d.nodes_delegated, d.nodes_total, d.partitions, d.fully_delegated) == (
        "XNNPACK", 31, 31, 1, True)
    assert (r.runtime.delegate, r.runtime.accelerator) == ("XNNPACK", "cpu")


def test_line_endings_and_logcat_prefixes_do_not_change_the_numbers():
    text = (FIXTURES / "tflite_interpreter_new.txt").read_text()
    plain = parse_benchmark_model(text)
    crlf = parse_benchmark_model(text.replace("\n", "\r\n"))
    logcat = parse_benchmark_model(
        "\n".join("I tflite  : " + line.removeprefix("INFO: ") for line in text.splitlines()))
    assert crlf.latency == logcat.latency == plain.latency
    assert crlf.delegation == logcat.delegation == plain.delegation
    assert crlf.raw_output_sha256 != plain.raw_output_sha256


def test_op_profiling_tables_skip_initialization_and_keep_the_run_tables():
    r = bm("tflite_interpreter_op_profiling.txt")
    tables = [op.table for op in r.ops]
    assert tables == ["run_order"] * 2 + ["top_by_time"] * 2 + ["by_type"] * 2
    assert "ModifyGraphWithDelegate" not in {op.node_type for op in r.ops}
    first = r.ops[0]
    assert (first.node_type, first.name, first.first_ms, first.avg_ms) == (
        "TfLiteXNNPackDelegate", "[rgb_out]:31", 10.481, 10.215)
    assert (first.percent, first.cdf_percent, first.mem_kb, first.times_called) == (
        98.116, 98.116, 0.0, 1)
    by_type = r.ops[-1]
    assert (by_type.node_type, by_type.count, by_type.avg_ms, by_type.name) == (
        "RESIZE_BILINEAR", 1, 0.196, None)
    d = r.delegation
    assert (d.nodes_delegated, d.nodes_total, d.partitions, d.delegate_kernels) == (31, 32, 2, 1)
    assert d.fully_delegated is False


def test_op_profiling_csv_keeps_node_types_that_contain_commas():
    csv = (FIXTURES / "tflite_op_profiling.csv").read_bytes()
    r = bm("tflite_interpreter_op_profiling.txt", op_csv=csv)
    rows = [op for op in r.ops[6:] if op.table == "run_order"]
    assert [op.node_type for op in rows] == [
        "Convolution (NHWC, F32) IGEMM", "Convolution (NHWC, F32) GEMM",
        "Convolution (NHWC, F32) IGEMM", "RESIZE_BILINEAR"]
    assert (rows[1].avg_ms, rows[1].percent, rows[1].cdf_percent, rows[1].times_called) == (
        4.092, 39.305, 76.4873, 1)
    assert rows[0].name == "Delegate/Convolution (NHWC\t F32) IGEMM:0"
    by_type = [op for op in r.ops[6:] if op.table == "by_type"]
    assert [(op.node_type, op.count, op.avg_ms) for op in by_type][0] == (
        "Convolution (NHWC, F32) IGEMM", 2, 6.123)
    validate(r.to_json())


def test_litert_compiled_model_tool_and_its_results_block():
    r = bm("litert_compiled_model.txt")
    assert r.runtime.tool_generation == "compiled_model" and r.error is None
    assert (r.latency.mean_ms, r.latency.median_ms, r.latency.n) == (11.2834, 11.24, 89)
    # the tool's own ms block alone (e.g. a log filtered to LiteRT's lines) gives the same run
    text = (FIXTURES / "litert_compiled_model.txt").read_text()
    block = "\n".join(line for line in text.splitlines()
                      if "count=" not in line and "Inference timings" not in line
                      and "(MB)" not in line)
    lat = parse_benchmark_model(block).latency
    assert (lat.init_ms, lat.first_ms, lat.warmup_mean_ms, lat.mean_ms, lat.n) == (
        187.42, 41.87, 12.93, 11.28, 89)
    assert (lat.min_ms, lat.max_ms, lat.std_ms, lat.median_ms) == (10.74, 13.05, 0.41, None)
    mem = parse_benchmark_model(block).memory
    assert (mem.init_mb, mem.overall_mb, mem.peak_mb) == (96.52, 131.09, 140.77)


def test_a_delegate_that_took_nothing_is_recorded_as_such():
    text = ("INFO: Though GPU delegate is explicitly applied, the model graph will not be "
            "executed by the delegate.\n")
    d = parse_benchmark_model(text).delegation
    assert (d.delegate, d.nodes_delegated, d.delegate_kernels, d.fully_delegated) == (
        "GPU", 0, 0, False)


@pytest.mark.parametrize("line", [
    "INFO: Num threads: [4]",  # TFLITE_LOG(INFO), tools/logging.h
    "WARN: Num threads: [4]",  # TFLITE_LOG(WARN)
    "VERBOSE: Num threads: [4]",  # minimal logging, as the "Replacing ..." line is printed
    "INFO: [benchmark_litert_model.h:94] Num threads: [4]",  # LITERT_LOG adds [file:line]
    "I tflite  : Num threads: [4]",  # logcat
    "Num threads: [4]",  # tools/logging.h before the prefix existed
])
def test_every_log_prefix_is_taken_off(line):
    assert _body(line) == "Num threads: [4]"


def test_runs_that_all_took_the_same_time_print_only_curr():
    # Stat::OutputToStream: "count=N curr=X(all same)", then StatWithPercentiles' percentiles
    text = ("INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but "
            "terminate if exceeding 150 seconds.\n"
            "INFO: count=1 curr=20500 p5=20500 median=20500 p95=20500\n\n"
            "INFO: Running benchmark for at least 50 iterations and at least 1 seconds but "
            "terminate if exceeding 150 seconds.\n"
            "INFO: count=50 curr=20000(all same) p5=20000 median=20000 p95=20000\n\n"
            "INFO: Inference timings in us: Init: 3000, First inference: 20500, "
            "Warmup (avg): 20500, Inference (avg): 20000\n")
    lat = parse_benchmark_model(text).latency
    assert (lat.mean_ms, lat.min_ms, lat.max_ms, lat.median_ms, lat.n) == (20.0, 20.0, 20.0,
                                                                          20.0, 50)
    assert (lat.first_ms, lat.warmup_mean_ms) == (20.5, 20.5)


@pytest.mark.parametrize("suffix", [
    "for the whole graph.",  # LiteRT tflite/core/subgraph.cc until 2024-12-19
    "for subgraph {i}.",  # until 2026-07-09
    "for subgraph {i} (main).",  # since
])
def test_replacing_line_every_wording_and_subgraph_0_first(suffix):
    line = ("VERBOSE: Replacing {d} out of {t} node(s) with delegate (TfLiteXNNPackDelegate) "
            "node, yielding {p} partitions " + suffix)
    text = (line.format(d=3, t=4, p=2, i=1) + "\n" + line.format(d=31, t=32, p=2, i=0) + "\n")
    d = parse_benchmark_model(text).delegation
    expected = (3, 4) if suffix == "for the whole graph." else (31, 32)  # unnumbered: the first
    assert (d.nodes_delegated, d.nodes_total, d.partitions) == (*expected, 2)
    assert d.delegate == "TfLiteXNNPackDelegate" and d.fully_delegated is False


def test_truncated_output_is_a_structured_error_with_the_numbers_before_it():
    r = bm("tflite_truncated.txt")
    assert r.error.kind == "truncated"
    assert r.error.last_line == "INFO: count=96 first=10685 curr=10402 min=10288 max=1"
    assert (r.latency.init_ms, r.latency.first_ms) == (6.72, 12.871)
    # the line cut mid-number gives nothing: no max=0.001, no timed mean
    assert r.latency.max_ms is r.latency.mean_ms is r.latency.n is None
    validate(r.to_json())


def test_crash_and_tool_failure_and_empty_output_are_told_apart():
    crashed = bm("tflite_crashed.txt")
    assert crashed.error.kind == "crashed" and "Segmentation fault" in crashed.error.message
    assert (crashed.runtime.delegate, crashed.runtime.accelerator) == ("GPU", "gpu")
    failed = parse_benchmark_model("INFO: Loaded model m.tflite\n"
                                   "ERROR: Failed to apply GPU delegate.\nBenchmarking failed.\n")
    assert failed.error.kind == "tool_error"
    assert "Failed to apply GPU delegate." in failed.error.message
    assert failed.error.last_line == "Benchmarking failed."
    empty = parse_benchmark_model("")
    assert (empty.error.kind, empty.error.last_line) == ("empty", None)
    ort_failed = parse_onnxruntime_perf_test(
        "2026-01-01 10:00:00.000 onnxruntime_perf_test[E:onnxruntime:, inference_session.cc:1 "
        "operator()] Exception during initialization: model.onnx: invalid model\n")
    assert ort_failed.error.kind == "tool_error"


def test_onnxruntime_perf_test_seconds_and_bytes_become_ms_and_mb():
    r = ort("ort_perf_test.txt")
    lat = r.latency
    assert (lat.init_ms, lat.first_ms, lat.mean_ms, lat.n) == (87.3412, 31.0, 25.1934, 100)
    assert (lat.median_ms, lat.p90_ms, lat.p95_ms, lat.p99_ms) == (
        24.9712, 26.319, 27.1843, 29.8013)  # P999 is not taken for P99
    assert (lat.min_ms, lat.max_ms, lat.std_ms, lat.p5_ms) == (23.8841, 30.1276, None, None)
    assert r.memory.peak_mb == pytest.approx(183427072 / 2**20)
    assert r.runtime.options == {"intra_op_num_threads": "4"}
    old = ort("ort_perf_test_old.txt")
    assert (old.latency.mean_ms, old.latency.n, old.latency.median_ms) == (26.1177, 100, None)
    assert old.error is None


# ----------------------------------------------------------------------------------------- CLI


def _manifest(tmp_path: Path, fmt: str) -> Path:
    """The fields `camkit profile parse` reads, in a manifest read_manifest accepts."""
    path = tmp_path / f"m-{fmt}.manifest.json"
    path.write_text(json.dumps({
        "schema": MANIFEST_SCHEMA, "model_id": "retouch_csrnet", "variant": "mobile",
        "format": fmt, "precision": "w8a8", "io": {"inputs": [], "outputs": []},
        "artifact": {"file": "x", "sha256": "ab" * 32, "size_bytes": 1, "export_s": 0.0},
    }))
    return path


def test_cli_parse_writes_json_that_validates_with_the_manifest_model(tmp_path):
    out = tmp_path / "run.json"
    proc = run_cli("profile", "parse", "--tool", "benchmark_model",
                   str(FIXTURES / "tflite_interpreter_op_profiling.txt"),
                   "--ops-csv", str(FIXTURES / "tflite_op_profiling.csv"),
                   "--manifest", str(_manifest(tmp_path, "litert")), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "latency ms" in proc.stdout and "mean 10.411" in proc.stdout
    obj = json.loads(out.read_text())
    validate(obj)
    assert (obj["model"]["sha256"], obj["model"]["format"], obj["model"]["precision"]) == (
        "ab" * 32, "litert", "w8a8")
    assert len(obj["ops"]) == 6 + 11 and obj["error"] is None


def test_cli_truncated_output_exits_1_with_one_line_and_still_writes_the_error(tmp_path):
    out = tmp_path / "run.json"
    proc = run_cli("profile", "parse", "--tool", "benchmark_model",
                   str(FIXTURES / "tflite_truncated.txt"), "--json", str(out))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "truncated" in lines[0] and "Traceback" not in proc.stderr
    obj = json.loads(out.read_text())
    validate(obj)
    assert obj["error"]["kind"] == "truncated" and obj["model"]["sha256"] is None


@pytest.mark.parametrize("args, needle", [
    (["--tool", "benchmark_modl", "ort_perf_test.txt"], "did you mean 'benchmark_model'"),
    (["--tool", "onnxruntime_perf_test", "missing.txt"], "does not exist"),
    (["--tool", "benchmark_model", "tflite_interpreter_new.txt", "--manifest", "ONNX"],
     "is a onnx artifact but benchmark_model runs litert"),
])
def test_cli_bad_input_is_one_clean_line(tmp_path, args, needle):
    args = [str(FIXTURES / a) if a.endswith(".txt") else a for a in args]
    args = [str(_manifest(tmp_path, "onnx")) if a == "ONNX" else a for a in args]
    proc = run_cli("profile", "parse", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
