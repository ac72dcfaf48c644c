"""The one result every profiler writes: dataclasses, JSON round trip and schema validation.

A profile result has to be comparable across tools (benchmark_model, onnxruntime_perf_test,
host runners) and across machines, so every time is in ms, every memory figure in MB (MiB, as
benchmark_model computes it: KB / 1024), and a value a tool did not report is ``None`` / JSON
null, never 0: a 0 ms p90 would read as "very fast", a null reads as "not measured".
``profile_result.schema.json`` beside this file describes exactly what ``to_json`` writes;
tests keep the two in step.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.errors import CamkitError

#: 2 added ``app`` (what the camkit Android and iOS apps measure on the phone); a schema 1
#: result is read as schema 2 with ``app`` null (``upgrade``)
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
SCHEMA_PATH = Path(__file__).with_name("profile_result.schema.json")
#: measured: timed on the target; estimated: derived (roofline, scaling); static: from the graph
KINDS = ("measured", "estimated", "static")


@dataclass(frozen=True)
class ModelRef:
    """Which artifact was profiled; all null when the output came without a manifest."""

    sha256: str | None = None
    format: str | None = None
    precision: str | None = None
    manifest: str | None = None


@dataclass(frozen=True)
class Runtime:
    """What ran the model: runtime, tool, delegate or execution provider, and its options."""

    name: str | None = None            # litert | onnxruntime
    tool: str | None = None            # benchmark_model | onnxruntime_perf_test
    tool_generation: str | None = None  # interpreter | compiled_model (benchmark_model only)
    version: str | None = None
    delegate: str | None = None        # XNNPACK, GPU, NNAPI, or an ORT execution provider
    accelerator: str | None = None     # cpu | gpu | npu when the tool says so
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Device:
    """A phone or board the tool ran on (from adb getprop when a device runner writes it)."""

    model: str | None = None
    soc: str | None = None
    os: str | None = None
    abi: str | None = None


@dataclass(frozen=True)
class Host:
    """A desktop or CI machine the tool ran on."""

    cpu_model: str | None = None
    cores: int | None = None
    versions: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Latency:
    """Per-inference wall time in ms over ``n`` timed runs (warm-up runs excluded)."""

    init_ms: float | None = None
    first_ms: float | None = None
    warmup_mean_ms: float | None = None
    mean_ms: float | None = None
    median_ms: float | None = None
    p5_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    std_ms: float | None = None
    n: int | None = None


@dataclass(frozen=True)
class Delegation:
    """How much of the graph a delegate took; a partial delegation is the usual slow-down."""

    delegate: str | None = None
    nodes_delegated: int | None = None
    nodes_total: int | None = None
    partitions: int | None = None
    delegate_kernels: int | None = None
    fully_delegated: bool | None = None


@dataclass(frozen=True)
class Memory:
    """Memory footprint in MB as the tool reports it (deltas from the tool's start for TFLite)."""

    init_mb: float | None = None
    overall_mb: float | None = None
    peak_mb: float | None = None


@dataclass(frozen=True)
class OpRow:
    """One row of an op table. ``table`` names which: run_order, top_by_time, by_type (timed),
    static (counted from the graph: the last five fields, null in timed rows), or estimated
    (a roofline row: the static fields plus ``avg_ms``, the op's estimated time), or
    compute_plan (Core ML's per-op device placement and cost: the last three fields)."""

    table: str
    node_type: str
    name: str | None = None
    first_ms: float | None = None
    avg_ms: float | None = None
    percent: float | None = None
    cdf_percent: float | None = None
    mem_kb: float | None = None
    times_called: int | None = None
    count: int | None = None
    output_shape: list[int | None] | None = None  # first output; null dims are unknown
    macs: int | None = None            # multiply-accumulates; 0 for ops without any
    params: int | None = None          # weight and bias elements the op reads
    activation_bytes: int | None = None  # output elements x dtype size, all outputs
    unsupported_on: list[str] | None = None  # targets the op would fall back on
    # compute_plan rows (Core ML's MLComputePlan, macOS 14.4+): where the op is planned to run
    placement: str | None = None       # preferred device: CPU | GPU | NeuralEngine
    supported_on: list[str] | None = None  # devices that could run it
    cost_fraction: float | None = None  # Core ML's estimated share of the model's work, 0..1


@dataclass(frozen=True)
class StaticSummary:
    """Totals of a static op report (kind "static"): sums of the op rows, null when a row's
    value is unknown; the peak of live activations in MB and the node where it occurs; per
    target, where its support data comes from and how many op rows fall back."""

    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    macs: int | None = None
    params: int | None = None
    activation_bytes: int | None = None
    peak_activation_mb: float | None = None
    peak_at: str | None = None
    targets: dict[str, str] = field(default_factory=dict)
    fallback_ops: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProfileError:
    """Why a run gave no (or partial) numbers: truncated | crashed | tool_error | empty."""

    kind: str
    message: str
    last_line: str | None = None


@dataclass(frozen=True)
class AppParity:
    """One output of the artifact run on the phone on its sample input vs the torch reference
    stored in the sample: PSNR in dB over values in [0, 1] ("inf" when identical) and the
    largest absolute difference. This is where a GPU delegate's fp16 or an NPU's
    requantization shows."""

    output: str
    psnr_db: float | str
    max_abs: float
    reference: str = "sample"


@dataclass(frozen=True)
class AppRun:
    """What the camkit Android or iOS app measured beside the latency: loads, the app's own
    pre- and post-processing (median per inference), thermal state, ops that fell back off the
    accelerator, and on-device parity (null: not measured)."""

    name: str                          # camkit-android | camkit-ios
    version: str | None
    backend: str                       # litert-gpu, ort-nnapi, coreml-ane, ...
    strict: bool                       # a fallback off the accelerator fails instead
    load_cold_ms: float | None = None
    load_warm_ms: float | None = None
    preprocess_ms: float | None = None
    postprocess_ms: float | None = None
    input_size: list[int] | None = None  # the sample input's [H, W]
    thermal_before: str | None = None
    thermal_after: str | None = None
    fallback_ops: list[str] | None = None
    parity: list[AppParity] | None = None

    def worst_parity_db(self) -> float | None:
        """The lowest PSNR over the outputs (inf when all are identical), None if unmeasured."""
        if not self.parity:
            return None
        return min(float("inf") if p.psnr_db == "inf" else float(p.psnr_db)
                   for p in self.parity)


@dataclass(frozen=True)
class ProfileResult:
    kind: str
    runtime: Runtime
    latency: Latency
    raw_output_sha256: str | None = None
    model: ModelRef = field(default_factory=ModelRef)
    device: Device | None = None
    host: Host | None = None
    argv: list[str] | None = None
    delegation: Delegation | None = None
    memory: Memory = field(default_factory=Memory)
    ops: list[OpRow] = field(default_factory=list)
    error: ProfileError | None = None
    static: StaticSummary | None = None
    app: AppRun | None = None
    schema: int = SCHEMA_VERSION

    def __post_init__(self):
        if self.kind not in KINDS:
            raise CamkitError(f"profile kind '{self.kind}' is not one of {', '.join(KINDS)}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ProfileResult:
        """Inverse of ``to_json``; unknown or missing keys are errors, not silently dropped.
        A schema 1 result is upgraded first (``upgrade``)."""
        return _build(cls, upgrade(obj), "profile result")

    def with_model(self, model: ModelRef) -> ProfileResult:
        return dataclasses.replace(self, model=model)


#: fields that hold another dataclass (or a list of one), for ``from_json``
_NESTED: dict[str, type] = {
    "runtime": Runtime, "latency": Latency, "model": ModelRef, "device": Device, "host": Host,
    "delegation": Delegation, "memory": Memory, "error": ProfileError, "static": StaticSummary,
    "app": AppRun,
}


def upgrade(obj: Any) -> Any:
    """A schema 1 result as schema 2 (``app`` null); a newer schema is a one-line error."""
    if not isinstance(obj, dict):
        return obj
    version = obj.get("schema")
    if version == 1 and "app" not in obj:
        return {**obj, "schema": SCHEMA_VERSION, "app": None}
    if isinstance(version, int) and version not in READABLE_VERSIONS:
        raise CamkitError(f"profile result has schema {version}, but this camkit reads "
                          f"{', '.join(map(str, READABLE_VERSIONS))}; upgrade camkit")
    return obj


def _build(cls: type, obj: Any, where: str):
    if not isinstance(obj, dict):
        raise CamkitError(f"{where} must be a JSON object, got {type(obj).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    extra, missing = set(obj) - names, names - set(obj)
    if extra or missing:
        raise CamkitError(
            f"{where} does not match schema {SCHEMA_VERSION}: unknown keys {sorted(extra)}, "
            f"missing keys {sorted(missing)}; re-create it with this camkit version"
        )
    values = {}
    for name, value in obj.items():
        if cls is ProfileResult and name in _NESTED and value is not None:
            value = _build(_NESTED[name], value, f"{where}.{name}")
        elif cls is ProfileResult and name == "ops":
            if not isinstance(value, list):
                raise CamkitError(f"{where}.ops must be a list of op rows, got "
                                  f"{type(value).__name__}")
            value = [_build(OpRow, row, f"{where}.ops[{i}]") for i, row in enumerate(value)]
        elif cls is AppRun and name == "parity" and value is not None:
            if not isinstance(value, list):
                raise CamkitError(f"{where}.parity must be a list, got {type(value).__name__}")
            value = [_build(AppParity, row, f"{where}.parity[{i}]")
                     for i, row in enumerate(value)]
        values[name] = value
    return cls(**values)


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def validate(obj: dict[str, Any]) -> None:
    """Raise CamkitError naming the first violation when ``obj`` does not match the schema."""
    try:
        import jsonschema
    except ImportError:
        raise CamkitError("jsonschema is not installed; pip install 'jsonschema>=4'") from None
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(upgrade(obj)), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = "/".join(str(p) for p in first.absolute_path) or "(root)"
        raise CamkitError(f"profile result is invalid at {path}: {first.message}")
