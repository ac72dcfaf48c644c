"""Parse the text output of Android benchmark tools into a ``ProfileResult``.

Outputs are captured elsewhere (a device lab, a colleague's phone, ``adb shell ... > log``), so
the parsers read what the tools print and nothing else: no model, no device. They accept the
tools' several generations side by side:

- TFLite ``benchmark_model`` (tensorflow/lite/tools/benchmark/benchmark_model.cc and
  benchmark_tflite_model.cc), with or without the ``INFO:`` log prefix, with or without the
  p5/median/p95 percentiles, ``avg`` printed by ``%g`` (``1.24027e+06``), delegate lines, memory
  footprint lines and the op-profiling tables (text, or CSV from ``--profiling_output_csv_file``);
- LiteRT's CompiledModel ``benchmark_model`` (litert/tools/benchmark_litert_model.h), which
  prints the same statistics plus its own ``BENCHMARK RESULTS`` block in ms;
- ``onnxruntime_perf_test`` (onnxruntime/test/perftest/performance_runner.cc).

A run that crashed or was cut short gives a result whose ``error`` says so (kind, message, last
line), with whatever numbers came before; never an exception. tests/fixtures/profilers/README.md
names the format string behind every line the parsers match.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from toolkit.errors import CamkitError, unknown
from toolkit.profilers.schema import (
    Delegation, Latency, Memory, ModelRef, OpRow, ProfileError, ProfileResult, Runtime,
)

NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
#: log prefixes in front of a message: TFLITE_LOG's "INFO: "/"WARN: "/"ERROR: ", TFLite minimal
#: logging's "VERBOSE: "/"WARNING: ", LITERT_LOG's "INFO: [benchmark_litert_model.h:94] " (file
#: and line), and logcat's "I tflite  : "
_PREFIX = re.compile(r"^\s*(?:(?:INFO|WARN(?:ING)?|ERROR|FATAL|VERBOSE|DEBUG):\s*"
                     r"(?:\[[\w.+-]+:\d+\]\s*)?|[VDIWEF]\s+(?:tflite|litert)\s*:\s*)?")
_CRASH = re.compile(r"Segmentation fault|Aborted|Fatal signal|SIG(?:SEGV|ABRT|BUS|KILL)|"
                    r"core dumped|terminate called|Abort message", re.IGNORECASE)
_TFLITE_FAILURE = re.compile(r"^ERROR:|Failed to|failed\.|Benchmarking failed", re.IGNORECASE)
_ORT_FAILURE = re.compile(r"\[E:onnxruntime|Exception|[Ff]ailed|^Error", re.IGNORECASE)
_US_PER_MS = 1000.0
_MS_PER_S = 1000.0
_BYTES_PER_MB = 1024.0 * 1024.0  # MiB, the unit benchmark_model's "(MB)" figures use


def _text_and_sha(raw: str | bytes) -> tuple[str, str]:
    """The capture as text (see ``_decode``) and the sha256 of its bytes as given."""
    data = raw if isinstance(raw, bytes) else raw.encode()
    return _decode(data), hashlib.sha256(data).hexdigest()


def _decode(data: bytes) -> str:
    """Text of a capture in the encodings shells write: UTF-8 (with or without a BOM), UTF-16
    LE/BE with a BOM (PowerShell 5's ``>``), and UTF-16 without one, recognised by a NUL in
    every other byte; undecodable bytes become U+FFFD."""
    import codecs

    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="replace")
    even, odd = data[0::2], data[1::2]
    if len(data) >= 2:  # an odd length: a capture cut mid-character, the rest still decodes
        if odd.count(0) == len(odd) and even.count(0) < len(even):
            return data.decode("utf-16-le", errors="replace")
        if even.count(0) == len(even) and odd.count(0) < len(odd):
            return data.decode("utf-16-be", errors="replace")
    return data.decode("utf-8", errors="replace")


def _body(line: str) -> str:
    return _PREFIX.sub("", line, count=1).strip()


def _float(pattern: str, text: str, scale: float = 1.0) -> float | None:
    """The number captured by the first match of ``pattern`` divided by ``scale``, or None."""
    m = re.search(pattern, text, re.MULTILINE)
    return _scaled(float(m.group(1)), scale) if m else None


def _scaled(value: float, scale: float) -> float:
    """``value / scale``, rounded to 1e-9 so that 87341.2 us reads 87.3412 ms, not ...99999."""
    return round(value / scale, 9) if scale != 1.0 else value


def _int(pattern: str, text: str) -> int | None:
    m = re.search(pattern, text, re.MULTILINE)
    return int(float(m.group(1))) if m else None


def _last_line(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


def _failure(text: str, failure: re.Pattern, done_hint: str) -> ProfileError:
    """Classify an output that never reached its results: empty, crashed, tool error, truncated."""
    last = _last_line(text)
    if last is None:
        return ProfileError("empty", "the output is empty; capture the tool's stdout and stderr",
                            None)
    lines = [_body(line) for line in text.splitlines() if line.strip()]
    crash = next((line for line in lines if _CRASH.search(line)), None)
    if crash:
        return ProfileError("crashed", f"the tool crashed before {done_hint}: {crash}", last)
    failed = next((line for line in text.splitlines() if failure.search(line.strip())), None)
    if failed:
        return ProfileError("tool_error", f"the tool failed before {done_hint}: {_body(failed)}",
                            last)
    return ProfileError("truncated", f"the output ends before {done_hint}; was the run cut "
                        "short or the capture incomplete?", last)


# ------------------------------------------------------------------------- benchmark_model


def _stat_line(body: str) -> dict[str, float]:
    """``count=50 first=... avg=1.24027e+06 std=... p5=... median=... p95=...`` as a dict.

    ``Stat::OutputToStream`` prints only ``count= curr=`` when every run took the same time
    (always so for a single run), with ``(all same)`` glued to ``curr`` when count > 1; that
    line gets ``all_same`` = 1.
    """
    stats = {k: float(v) for k, v in re.findall(rf"(\w+)=({NUM})", body)}
    if "(all same)" in body or ("first" not in stats and stats.get("count") == 1):
        stats["all_same"] = 1.0
    return stats


def _run_stats(text: str) -> tuple[dict | None, dict | None]:
    """(warm-up stats, timed-run stats) from the ``count=`` line after each "Running benchmark".

    The tool runs the warm-up first, then the timed runs; a log with one ``count=`` line only
    stopped after the warm-up, so that line is never taken for the timed runs.
    """
    stats, armed = [], False
    for line in text.splitlines():
        body = _body(line)
        if body.startswith("Running benchmark for"):
            armed = True
        elif armed and body.startswith("count="):
            stats.append(_stat_line(body))
            armed = False
    warmup = stats[0] if stats else None
    timed = stats[1] if len(stats) > 1 else None
    return warmup, timed


def _options(text: str) -> dict[str, str]:
    """The parameters the tool echoes at start: ``Num threads: [4]``, ``Use xnnpack: [1]``."""
    out = {}
    for line in text.splitlines():
        m = re.fullmatch(r"([#A-Za-z][\w #/().,-]*?): \[(.*)\]", _body(line))
        if m:
            out[m.group(1).strip()] = m.group(2)
    return out


def _delegation(text: str) -> Delegation | None:
    """Coverage from the interpreter's "Replacing ..." line and the tool's "Explicitly applied"
    line. With several subgraphs or delegates the first "Replacing" line (the primary graph's,
    first delegate) is the one recorded; None when no delegate line was printed at all."""
    # the wording ends "for the whole graph." (LiteRT until 2024-12), "for subgraph %d."
    # (until 2026-07), then "for subgraph %d (%s)."; prefer subgraph 0's line where numbered
    lines = list(re.finditer(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((.+?)\) "
                             r"node, yielding (\d+) partitions(?: for subgraph (\d+))?", text))
    replacing = next((m for m in lines if m.group(5) == "0"), lines[0] if lines else None)
    old = re.search(r"Replacing (\d+) node\(s\) with delegate \((.+?)\) node, "
                    r"yielding (\d+) partitions", text)
    full = re.search(r"Explicitly applied (\S+) delegate, and the model graph will be "
                     r"completely executed by the delegate", text)
    partial = re.search(r"Explicitly applied (\S+) delegate, and the model graph will be "
                        r"partially executed by the delegate w/ (\d+) delegate kernels", text)
    none = re.search(r"Though (\S+) delegate is explicitly applied, the model graph will not be "
                     r"executed by the delegate", text)
    if not (replacing or old or full or partial or none):
        return None
    delegated = total = partitions = kernels = None
    fully = None
    name = None
    if replacing:
        delegated, total = int(replacing.group(1)), int(replacing.group(2))
        name, partitions = replacing.group(3), int(replacing.group(4))
        fully = delegated == total
    elif old:
        delegated, name, partitions = int(old.group(1)), old.group(2), int(old.group(3))
    explicit = full or partial or none
    if explicit:
        name = explicit.group(1)  # the tool's short name (XNNPACK, GPU, NNAPI) reads better
    if full:
        fully = True
    elif partial:
        fully, kernels = False, int(partial.group(2))
    elif none:
        fully, kernels = False, 0
        delegated = 0 if delegated is None else delegated
    return Delegation(name, delegated, total, partitions, kernels, fully)


def _accelerator(delegate: str | None) -> str | None:
    low = (delegate or "").lower()
    if "xnnpack" in low:
        return "cpu"
    if "gpu" in low:
        return "gpu"
    if any(word in low for word in ("hexagon", "qnn", "npu", "edgetpu")):
        return "npu"
    return None  # NNAPI and unknown delegates pick their device themselves


_COLUMN = {"first": "first_ms", "avgms": "avg_ms", "%": "percent", "avg%": "percent",
           "cdf%": "cdf_percent", "memkb": "mem_kb", "timescalled": "times_called",
           "count": "count"}
_TABLES = {"Run Order": "run_order", "Top by Computation Time": "top_by_time",
           "Summary by node type": "by_type"}


def _row_values(columns: list[str], cells: list[str]) -> dict:
    values = {}
    for column, cell in zip(columns, cells):
        key = _COLUMN.get(column)
        if key is None:
            continue  # [start], an older column, has no field
        number = float(cell.strip().rstrip("%"))
        values[key] = int(number) if key in ("times_called", "count") else number
    return values


def parse_op_tables(text: str) -> list[OpRow]:
    """Rows of the "Operator-wise Profiling Info for Regular Benchmark Runs" tables, text or CSV.

    The initialization tables (ModifyGraphWithDelegate, AllocateTensors) are skipped: they are
    not per-inference cost. Node types may contain spaces and ", " (XNNPACK's "Convolution
    (NHWC, QC8) IGEMM"), so numeric columns are matched from a fixed count, not by splitting.
    """
    rows: list[OpRow] = []
    in_runs, table, columns, csv = False, None, [], False
    for line in text.splitlines():
        body = _body(line)
        if "Profiling Info for Benchmark Initialization" in body:
            in_runs, table = False, None
        elif "Operator-wise Profiling Info for Regular Benchmark Runs" in body:
            in_runs, table = True, None
        elif m := re.fullmatch(r"=+ (.+?) =+", body):
            table = _TABLES.get(m.group(1)) if in_runs else None
            columns = []
        elif table and not columns and "node type" in body.lower():
            csv = "[" not in body
            names = body.split(",") if csv else re.findall(r"\[([^\]]+)\]", body)
            columns = [re.sub(r"[\s_]", "", n).lower() for n in names]
        elif table and columns and body:
            row = _op_row(table, columns, body, csv)
            if row is not None:
                rows.append(row)
        elif not body:
            table, columns = None, []  # a blank line ends every table
    return rows


def _op_row(table: str, columns: list[str], body: str, csv: bool) -> OpRow | None:
    has_name = columns[-1] == "name"
    numeric = columns[1:-1] if has_name else columns[1:]
    try:
        if csv:
            # the name is last and has its commas replaced by tabs; the type may contain ", "
            cells = [c.strip() for c in body.rsplit(",", len(columns) - 1)]
            node_type, rest = cells[0], cells[1:]
            name = rest[-1] if has_name else None
            values = _row_values(numeric, rest[: len(numeric)])
        else:
            m = re.fullmatch(rf"(.+?)((?:\s+{NUM}%?){{{len(numeric)}}})(?:\s+(.*))?", body)
            if m is None:
                return None
            node_type, name = m.group(1).strip(), (m.group(3) or None) if has_name else None
            values = _row_values(numeric, m.group(2).split())
    except (ValueError, IndexError):
        return None  # a row cut off mid-line by a truncated capture
    return OpRow(table=table, node_type=node_type, name=name, **values)


def parse_benchmark_model(raw: str | bytes, op_csv: str | bytes | None = None) -> ProfileResult:
    """Either generation of TFLite/LiteRT ``benchmark_model``; ``op_csv`` is the content of its
    ``--profiling_output_csv_file`` when op profiling went to a file instead of the log."""
    full_text, sha = _text_and_sha(raw)
    summary = re.search(rf"Inference timings in us: Init: ({NUM}), First inference: ({NUM}), "
                        rf"Warmup \(avg\): ({NUM}), Inference \(avg\): ({NUM})", full_text)
    # LiteRT CompiledModel's own block (ms): used where the classic lines are missing
    cm_avg = re.search(rf"Inference \(avg\):\s+({NUM}) ms \((\d+) runs\)", full_text)
    # both summaries come after the timed runs: without one, the run did not finish
    done = summary is not None or cm_avg is not None
    text = full_text
    if not done and not full_text.endswith("\n"):
        text = full_text.rpartition("\n")[0]  # the capture stopped mid-line: its numbers are cut
    warmup, timed = _run_stats(text)
    compiled = "BENCHMARK RESULTS" in text or re.search(r"Loading model from: ", text)

    def us(i: int) -> float | None:
        return _scaled(float(summary.group(i)), _US_PER_MS) if summary else None

    def timed_ms(key: str) -> float | None:
        if timed is None:
            return None
        if key not in timed and timed.get("all_same") and key in ("avg", "min", "max"):
            key = "curr"  # all runs equal (or a single run) print only curr=: mean, min, max
        return _scaled(timed[key], _US_PER_MS) if key in timed else None

    first_warmup = None
    if warmup is not None:
        first_warmup = warmup.get("first", warmup.get("curr"))
    latency = Latency(
        init_ms=_first(us(1), _float(rf"Initialized session in ({NUM}) ?ms", text),
                       _float(rf"Model initialization:\s+({NUM}) ms", text)),
        first_ms=_first(us(2), None if first_warmup is None
                        else _scaled(first_warmup, _US_PER_MS),
                        _float(rf"Warmup \(first\):\s+({NUM}) ms", text)),
        warmup_mean_ms=_first(us(3), None if warmup is None or "avg" not in warmup
                              else _scaled(warmup["avg"], _US_PER_MS),
                              _float(rf"Warmup \(avg\):\s+({NUM}) ms", text)),
        mean_ms=_first(timed_ms("avg"), us(4), float(cm_avg.group(1)) if cm_avg else None),
        median_ms=timed_ms("median"),
        p5_ms=timed_ms("p5"),
        p95_ms=timed_ms("p95"),
        min_ms=_first(timed_ms("min"), _float(rf"Inference \(min\):\s+({NUM}) ms", text)),
        max_ms=_first(timed_ms("max"), _float(rf"Inference \(max\):\s+({NUM}) ms", text)),
        std_ms=_first(timed_ms("std"), _float(rf"Inference \(std\):\s+({NUM})", text)),
        n=_first(None if timed is None else int(timed["count"]),
                 int(cm_avg.group(2)) if cm_avg else None),
    )
    memory = Memory(
        init_mb=_first(_float(rf"\(MB\): init=({NUM})", text),
                       _float(rf"Init footprint:\s+({NUM}) MB", text)),
        overall_mb=_first(_float(rf"\(MB\): init={NUM} overall=({NUM})", text),
                          _float(rf"Overall footprint:\s+({NUM}) MB", text)),
        peak_mb=_first(_float(rf"Overall peak memory footprint \(MB\) via periodic monitoring: "
                              rf"({NUM})", text),
                       _float(rf"Peak memory:\s+({NUM}) MB", text)),
    )
    delegation = _delegation(text)
    created = re.search(r"Created TensorFlow Lite (?:(\w+) )?delegate for (\w+)", text)
    delegate = _first(delegation.delegate if delegation else None,
                      (created.group(1) or created.group(2)) if created else None)
    runtime = Runtime(
        name="litert", tool="benchmark_model",
        tool_generation="compiled_model" if compiled else "interpreter",
        delegate=delegate, accelerator=_accelerator(delegate), options=_options(text),
    )
    ops = parse_op_tables(text)
    if op_csv is not None:
        ops += parse_op_tables(_text_and_sha(op_csv)[0])
    error = None if done else _failure(full_text, _TFLITE_FAILURE, "the timed runs finished")
    return ProfileResult(kind="measured", runtime=runtime, latency=latency,
                         raw_output_sha256=sha, delegation=delegation, memory=memory, ops=ops,
                         error=error)


def _first(*values):
    """The first value that is not None (0 is a value; only None means unreported)."""
    return next((v for v in values if v is not None), None)


# ------------------------------------------------------------------- onnxruntime_perf_test


def parse_onnxruntime_perf_test(raw: str | bytes) -> ProfileResult:
    """``onnxruntime_perf_test`` output: seconds and bytes converted to ms and MB."""
    text, sha = _text_and_sha(raw)

    def latency_s(label: str) -> float | None:
        return _float(rf"^\s*{label} Latency: ({NUM}) s", text, 1 / _MS_PER_S)

    mean = _float(rf"Average inference time cost(?: total)?: ({NUM}) ms", text)
    latency = Latency(
        init_ms=_float(rf"Session creation time cost: ({NUM}) s", text, 1 / _MS_PER_S),
        first_ms=_float(rf"First inference time cost: ({NUM}) ms", text),
        mean_ms=mean,
        median_ms=latency_s("P50"), p90_ms=latency_s("P90"), p95_ms=latency_s("P95"),
        p99_ms=latency_s("P99"), min_ms=latency_s("Min"), max_ms=latency_s("Max"),
        n=_first(_int(r"^\s*Runs:\s*(\d+)", text), _int(r"Total inference requests: (\d+)", text)),
    )
    peak_bytes = _float(rf"Peak working set size: ?({NUM})", text)
    options = {}
    threads = _int(r"Setting intra_op_num_threads to (\d+)", text)
    if threads is not None:
        options["intra_op_num_threads"] = str(threads)
    runtime = Runtime(name="onnxruntime", tool="onnxruntime_perf_test", options=options)
    error = None if mean is not None else _failure(text, _ORT_FAILURE, "the timed runs finished")
    return ProfileResult(
        kind="measured", runtime=runtime, latency=latency, raw_output_sha256=sha,
        memory=Memory(peak_mb=None if peak_bytes is None else _scaled(peak_bytes, _BYTES_PER_MB)),
        error=error,
    )


PARSERS = {
    "benchmark_model": parse_benchmark_model,
    "onnxruntime_perf_test": parse_onnxruntime_perf_test,
}
#: the artifact format each tool runs, checked against --manifest
TOOL_FORMATS = {"benchmark_model": "litert", "onnxruntime_perf_test": "onnx"}


def parse_capture(tool: str, path: Path, manifest: Path | None = None,
                  ops_csv: Path | None = None) -> ProfileResult:
    """``camkit profile parse``: a captured output file (+ optional manifest) as a result."""
    from toolkit.artifacts import read_manifest

    if tool not in PARSERS:
        raise unknown("tool", tool, PARSERS)
    raw = _read(path, "the captured output")
    if tool == "benchmark_model":
        csv = None if ops_csv is None else _read(ops_csv, "--ops-csv")
        result = parse_benchmark_model(raw, csv)
    elif ops_csv is not None:
        raise CamkitError("--ops-csv reads benchmark_model's --profiling_output_csv_file; "
                          "onnxruntime_perf_test writes none, drop it")
    else:
        result = parse_onnxruntime_perf_test(raw)
    if manifest is None:
        return result
    m = read_manifest(manifest)
    if m["format"] != TOOL_FORMATS[tool]:
        raise CamkitError(f"{manifest} is a {m['format']} artifact but {tool} runs "
                          f"{TOOL_FORMATS[tool]}; pass the manifest of the artifact that ran")
    return result.with_model(ModelRef(sha256=m["artifact"]["sha256"], format=m["format"],
                                      precision=m["precision"], manifest=str(manifest)))


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CamkitError(f"{what} {path} does not exist; save the tool's output to a file "
                          "first (adb shell ... > run.txt 2>&1)") from None
    except IsADirectoryError:
        raise CamkitError(f"{what} {path} is a folder; pass the captured text file") from None
