"""Host profiling: time an artifact on this machine's CPU and write the one profile-result schema.

``camkit profile host MANIFEST`` runs the artifact the manifest describes in its own
runtime (onnxruntime CPU, or the LiteRT interpreter with XNNPACK or the reference kernels), on
the manifest's sample input, and records what a phone profile records: init, first inference,
warm-up, then ``runs`` timed calls summarised as median and percentiles. It is a *host proxy*:
the same graph and runtime as on a phone, but a desktop CPU, so it ranks variants and catches
regressions; it does not predict phone milliseconds. The label travels in the result
(``runtime.tool`` and ``runtime.options["label"]``) so a table never passes it off as a phone.

What is timed is the runtime's own inference call on inputs prepared once (float32, or the
file's integer dtype for quantized I/O), so the numbers leave out numpy conversions that an app
would not do. The sequence is: create the session (``init_ms``), one call (``first_ms``: it
includes XNNPACK's delegate set-up and allocation), ``warmup`` calls (``warmup_mean_ms``), then
``runs`` timed calls. onnxruntime's per-node times come from a second, profiled session (its
profiling JSON), so the profiler's own overhead never touches the headline latency. LiteRT's
per-op times are not collected here: the Python interpreter has no op profiler; phones report
them through ``benchmark_model --enable_op_profiling`` (``camkit profile parse``).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from toolkit.errors import CamkitError
from toolkit.profilers.schema import Host, Latency, ModelRef, OpRow, ProfileResult, Runtime

#: what ``profile host`` can run; Core ML predicts only on macOS (``profile macos``, macos.py)
HOST_FORMATS = ("onnx", "litert")
#: LiteRT kernel sets: XNNPACK (the interpreter's default delegate) or TFLite's reference kernels
KERNELS = ("xnnpack", "reference")
LABEL = "host proxy: this machine's CPU, not a phone"
TOOL = "camkit host proxy"


def profile_host(manifest_path: Path, threads: int | None = None, runs: int = 10,
                 warmup: int = 2, kernels: str | None = None,
                 argv: list[str] | None = None) -> ProfileResult:
    """Profile the manifest's artifact on this CPU; ``argv`` is the camkit command line."""
    from toolkit.artifacts import read_manifest
    from toolkit.publish import open_published

    manifest_path = Path(manifest_path)
    if runs < 1:
        raise CamkitError(f"--runs must be at least 1, got {runs}")
    if warmup < 0:
        raise CamkitError(f"--warmup must be 0 or more, got {warmup}")
    if threads is not None and threads < 1:
        raise CamkitError(f"--threads must be at least 1 (or left out for the runtime's "
                          f"default), got {threads}")
    if kernels is not None and kernels not in KERNELS:
        raise CamkitError(f"--kernels '{kernels}' is not one of {', '.join(KERNELS)}")
    manifest = read_manifest(manifest_path)  # what it is first; its files are verified below
    fmt = manifest["format"]
    if fmt == "coreml":
        raise CamkitError(f"{manifest_path} is a Core ML artifact; camkit profile host runs "
                          "ONNX and LiteRT artifacts, Core ML is profiled with camkit profile "
                          "macos (on a Mac)")
    if fmt not in HOST_FORMATS:
        raise CamkitError(f"{manifest_path} is a '{fmt}' artifact; camkit profile host runs "
                          f"{' and '.join(HOST_FORMATS)} artifacts")
    if fmt == "onnx" and kernels == "reference":
        raise CamkitError("--kernels applies to LiteRT artifacts; onnxruntime runs its CPU "
                          "execution provider, leave --kernels out")
    published = open_published(manifest_path)
    artifact, inputs = published.artifact, published.inputs
    if argv is None:
        argv = [f"profile_host({str(manifest_path)!r}, threads={threads}, runs={runs}, "
                f"warmup={warmup}, kernels={kernels!r})"]
    if fmt == "onnx":
        runtime, create, ops = _onnx(artifact, inputs, threads, runs)
    else:
        runtime, create, ops = _litert(artifact, inputs, threads, kernels or "xnnpack")
    return ProfileResult(
        kind="measured",
        runtime=runtime,
        latency=measure(create, runs, warmup),
        model=ModelRef(sha256=published.sha256, format=fmt,
                       precision=manifest["precision"], manifest=str(manifest_path)),
        host=host_facts(),
        argv=list(argv),
        ops=ops,
    )


def measure(create: Callable[[], Callable[[], object]], runs: int, warmup: int) -> Latency:
    """Time ``create()`` (init), its callable's first call, ``warmup`` calls, ``runs`` calls."""
    start = time.perf_counter()
    infer = create()
    init_ms = (time.perf_counter() - start) * 1000.0
    first_ms = _timed_ms(infer)
    warm_ms = [_timed_ms(infer) for _ in range(warmup)]
    times_ms = [_timed_ms(infer) for _ in range(runs)]
    return latency_from_times(init_ms, first_ms, warm_ms, times_ms)


def latency_from_times(init_ms: float | None, first_ms: float | None, warm_ms: list[float],
                       times_ms: list[float]) -> Latency:
    """Summarise measured times (ms) as a Latency; shared by every runner that times itself."""
    times = np.asarray(times_ms, dtype=np.float64)
    p5, p50, p90, p95, p99 = (float(v) for v in np.percentile(times, [5, 50, 90, 95, 99]))
    return Latency(
        init_ms=init_ms, first_ms=first_ms,
        warmup_mean_ms=float(np.mean(warm_ms)) if warm_ms else None,
        mean_ms=float(times.mean()), median_ms=p50, p5_ms=p5, p90_ms=p90, p95_ms=p95,
        p99_ms=p99, min_ms=float(times.min()), max_ms=float(times.max()),
        # population std, as benchmark_model reports it; one run has no spread to report
        std_ms=float(times.std()) if len(times) > 1 else None, n=len(times),
    )


def _timed_ms(infer: Callable[[], object]) -> float:
    start = time.perf_counter()
    infer()
    return (time.perf_counter() - start) * 1000.0


def _threads_option(threads: int | None) -> str:
    return "runtime default" if threads is None else str(threads)


# ------------------------------------------------------------------------------- onnxruntime


def _onnx(path: Path, inputs: dict, threads: int | None, runs: int):
    import onnxruntime as ort

    feeds = {k: np.ascontiguousarray(v, np.float32) for k, v in inputs.items()}

    def options(profile_prefix: str | None = None):
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: keep the CLI quiet
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            opts.intra_op_num_threads = threads
        if profile_prefix is not None:
            opts.enable_profiling = True
            opts.profile_file_prefix = profile_prefix
        return opts

    def session(opts):
        try:
            return ort.InferenceSession(str(path), sess_options=opts,
                                        providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own Fail/InvalidGraph types
            raise CamkitError(f"onnxruntime cannot load {path}: "
                              f"{str(e).splitlines()[0]}") from None

    def create():
        sess = session(options())
        return lambda: sess.run(None, feeds)

    runtime = Runtime(
        name="onnxruntime", tool=TOOL, version=ort.__version__,
        delegate="CPUExecutionProvider", accelerator="cpu",
        options={"label": LABEL, "threads": _threads_option(threads),
                 "graph_optimization_level": "ORT_ENABLE_ALL"},
    )
    with tempfile.TemporaryDirectory(prefix="camkit-ort-profile-") as tmp:
        sess = session(options(str(Path(tmp) / "ort")))
        for _ in range(1 + runs):  # the first call is cold; node_rows drops it
            sess.run(None, feeds)
        events = json.loads(Path(sess.end_profiling()).read_text())
    return runtime, create, node_rows(events)


def node_rows(events: list[dict]) -> list[OpRow]:
    """onnxruntime profiling events -> per-node rows (top_by_time) and per-op-type rows (by_type).

    Each node's first call is dropped (cold caches, lazy allocation); ``avg_ms`` is the mean of
    the rest, or the first call when a node ran once. Times in the JSON are in microseconds.
    """
    calls_us: dict[str, list[float]] = {}
    op_type: dict[str, str] = {}
    for event in events:
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue  # fence_before/after events and session-level events
        node = name[: -len("_kernel_time")]
        calls_us.setdefault(node, []).append(float(event["dur"]))
        op_type[node] = event.get("args", {}).get("op_name") or "unknown"
    if not calls_us:
        return []
    avg_ms = {n: float(np.mean(c[1:] if len(c) > 1 else c)) / 1000.0 for n, c in calls_us.items()}
    total_ms = sum(avg_ms.values()) or 1.0
    rows, cdf = [], 0.0
    for node in sorted(avg_ms, key=avg_ms.get, reverse=True):
        percent = 100.0 * avg_ms[node] / total_ms
        cdf += percent
        rows.append(OpRow(table="top_by_time", node_type=op_type[node], name=node,
                          first_ms=calls_us[node][0] / 1000.0, avg_ms=avg_ms[node],
                          percent=percent, cdf_percent=cdf,
                          times_called=len(calls_us[node])))
    by_type: dict[str, list[str]] = {}
    for node, kind in op_type.items():
        by_type.setdefault(kind, []).append(node)
    type_ms = {k: sum(avg_ms[n] for n in nodes) for k, nodes in by_type.items()}
    cdf = 0.0
    for kind in sorted(type_ms, key=type_ms.get, reverse=True):
        percent = 100.0 * type_ms[kind] / total_ms
        cdf += percent
        rows.append(OpRow(table="by_type", node_type=kind, avg_ms=type_ms[kind],
                          percent=percent, cdf_percent=cdf, count=len(by_type[kind])))
    return rows


# ------------------------------------------------------------------------------------ LiteRT


def _litert(path: Path, inputs: dict, threads: int | None, kernels: str):
    from importlib import metadata

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from toolkit._quiet import quiet
    from toolkit.conversion.litert import SIGNATURE, _quantized

    resolver = OpResolverType.AUTO if kernels == "xnnpack" else OpResolverType.BUILTIN_REF
    prepared: dict[str, np.ndarray] = {}

    def create():
        with quiet():
            try:
                interpreter = Interpreter(model_path=str(path), num_threads=threads,
                                          experimental_op_resolver_type=resolver)
                signatures = interpreter.get_signature_list()
                key = SIGNATURE if SIGNATURE in signatures else next(iter(signatures))
                runner = interpreter.get_signature_runner(key)
            except (RuntimeError, ValueError) as e:  # C++ text; keep the first line
                raise CamkitError(f"LiteRT cannot load {path}: "
                                  f"{str(e).strip().splitlines()[0]}") from None
        prepared.update(_litert_feeds(inputs, _quantized(runner.get_input_details())))
        warm: list[bool] = []

        def infer():
            with quiet(enabled=not warm):  # XNNPACK logs from C++ on the first allocation
                runner(**prepared)
            warm.append(True)

        return infer

    runtime = Runtime(
        name="litert", tool=TOOL, tool_generation="interpreter",
        version=metadata.version("ai-edge-litert"),
        delegate="XNNPACK" if kernels == "xnnpack" else None, accelerator="cpu",
        options={"label": LABEL, "threads": _threads_option(threads), "kernels": kernels},
    )
    return runtime, create, []


def _litert_feeds(inputs: dict, quantization: dict) -> dict[str, np.ndarray]:
    """Sample inputs in the file's I/O dtype, as an app would hand them over (once, untimed)."""
    out = {k: np.ascontiguousarray(v, np.float32) for k, v in inputs.items()}
    for k, (dtype, scale, zero_point) in quantization.items():
        info = np.iinfo(dtype)
        stored = np.round(out[k] / np.float32(scale)) + zero_point
        out[k] = np.clip(stored, info.min, info.max).astype(dtype)
    return out


# -------------------------------------------------------------------------------------- host


def host_facts() -> Host:
    """CPU model, logical cores and the versions that decide host numbers."""
    from toolkit.artifacts import package_versions

    versions = package_versions()
    keep = ("camkit", "numpy", "onnxruntime", "ai-edge-litert")
    return Host(cpu_model=_cpu_model(), cores=os.cpu_count(),
                versions={"python": platform.python_version(), **{k: versions[k] for k in keep}})


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to platform
    return platform.processor() or None
