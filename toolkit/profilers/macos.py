"""Core ML on a Mac: prediction latency per compute unit, and where Core ML plans to run each op.

``camkit profile macos MANIFEST`` loads the manifest's .mlpackage once per compute unit
(Apple's ``MLComputeUnits`` names: all, cpuOnly, cpuAndGPU, cpuAndNeuralEngine) and times it the
way ``profile host`` times ONNX and LiteRT (``host_profile.measure``): model creation, which is
Core ML's compile and load, as ``init_ms``; the first prediction; ``warmup`` predictions; then
``runs`` timed predictions on the manifest's sample input. One profile result per compute unit,
so "does the Neural Engine help this model?" is a side-by-side read.

On macOS 14.4+ each result also carries Core ML's own plan (``MLComputePlan``, coremltools 8+):
per operation of the main function, the preferred device, the devices that could run it and
the estimated share of the model's work. That is the Core ML counterpart of a TFLite delegate's
"N of M nodes delegated": an op planned on the CPU under ``all`` is a Neural Engine fallback,
and every fallback splits the graph into another hand-over. The plan comes from the compiled
model, not from timing, so the rows say where Core ML *intends* to run an op.

Core ML predicts only on macOS. Elsewhere the run stops, before any heavy import, with a
one-line error that points at ``profile static``. The walk over the plan (``plan_records``) and
the mapping to rows and summaries (``plan_rows``, ``placement_summary``, ``coreml_result``) take
plain Python values, so they are tested on Linux with a recorded structure
(tests/fixtures/profilers/coreml_compute_plan.json).
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

from toolkit.errors import CamkitError, unknown
from toolkit.profilers.schema import Device, Latency, ModelRef, OpRow, ProfileResult, Runtime

#: Apple's MLComputeUnits names -> the runner keys in toolkit/conversion/coreml.py
COMPUTE_UNITS = {
    "all": "all",
    "cpuOnly": "cpu_only",
    "cpuAndGPU": "cpu_and_gpu",
    "cpuAndNeuralEngine": "cpu_and_ne",
}
#: the devices each compute unit lets Core ML use (an op outside them cannot be placed there)
UNIT_DEVICES = {
    "all": ("CPU", "GPU", "NeuralEngine"),
    "cpuOnly": ("CPU",),
    "cpuAndGPU": ("CPU", "GPU"),
    "cpuAndNeuralEngine": ("CPU", "NeuralEngine"),
}
#: coremltools' MLComputeDevice subclasses (coremltools/models/compute_device.py) -> short names
DEVICE_CLASSES = {
    "MLCPUComputeDevice": "CPU",
    "MLGPUComputeDevice": "GPU",
    "MLNeuralEngineComputeDevice": "NeuralEngine",
}
#: MLComputePlan needs the Core ML of macOS 14.4 (and coremltools 8)
PLAN_MIN_MACOS = (14, 4)
TOOL = "camkit macos"
NOT_ON_MACOS = ("Core ML prediction needs macOS; on Linux use camkit profile static for op "
                "counts and CPU fallbacks, or export ONNX/LiteRT and use camkit profile host")


def parse_compute_units(text: str | None) -> tuple[str, ...]:
    """``--compute-units`` (a comma list, None for all four) -> validated unit names."""
    if text is None:
        return tuple(COMPUTE_UNITS)
    units = tuple(part.strip() for part in text.split(",") if part.strip())
    if not units:
        raise CamkitError(f"--compute-units is empty; choose from: {', '.join(COMPUTE_UNITS)}")
    for unit in units:
        _check_unit(unit)
    if len(set(units)) != len(units):
        raise CamkitError(f"--compute-units names a unit twice: {text}; list each once")
    return units


#: other spellings of a unit (coremltools' ComputeUnit, camkit's runner keys), folded
_SPELLINGS = {k.lower().replace("_", ""): k for k in COMPUTE_UNITS} | {
    "cpuandne": "cpuAndNeuralEngine"}


def _check_unit(unit: str) -> None:
    """Unknown unit -> error; coremltools' or camkit's spelling of one names Apple's."""
    folded = _SPELLINGS.get(unit.lower().replace("_", ""))
    if folded is not None and folded != unit:
        raise CamkitError(f"unknown Core ML compute unit '{unit}' (did you mean '{folded}'?); "
                          f"choose from: {', '.join(COMPUTE_UNITS)}")
    if unit not in COMPUTE_UNITS:
        raise unknown("Core ML compute unit", unit, COMPUTE_UNITS)


def on_macos() -> bool:
    return sys.platform == "darwin"


def profile_macos(manifest_path: Path, compute_units: tuple[str, ...] = tuple(COMPUTE_UNITS),
                  runs: int = 10, warmup: int = 2,
                  argv: list[str] | None = None) -> list[ProfileResult]:
    """Time the manifest's .mlpackage under each compute unit; one result per unit, in order."""
    if runs < 1:
        raise CamkitError(f"--runs must be at least 1, got {runs}")
    if warmup < 0:
        raise CamkitError(f"--warmup must be 0 or more, got {warmup}")
    for unit in compute_units:
        _check_unit(unit)
    if not on_macos():
        raise CamkitError(NOT_ON_MACOS)

    from toolkit.artifacts import read_manifest
    from toolkit.publish import open_published

    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)  # what it is first; its files are verified below
    if manifest["format"] != "coreml":
        raise CamkitError(f"{manifest_path} is a '{manifest['format']}' artifact; camkit "
                          "profile macos runs Core ML (.mlpackage) artifacts, use camkit profile "
                          "host for ONNX/LiteRT")
    published = open_published(manifest_path)
    artifact, inputs = published.artifact, published.inputs
    if argv is None:
        argv = [f"profile_macos({str(manifest_path)!r}, compute_units={compute_units!r}, "
                f"runs={runs}, warmup={warmup})"]
    model = ModelRef(sha256=published.sha256, format="coreml",
                     precision=manifest["precision"], manifest=str(manifest_path))
    device, macos_version = mac_device(), platform.mac_ver()[0]
    return [_profile_unit(artifact, inputs, unit, runs, warmup, model, device, macos_version,
                          argv) for unit in compute_units]


def _profile_unit(artifact: Path, inputs: dict, unit: str, runs: int, warmup: int,
                  model: ModelRef, device: Device, macos_version: str,
                  argv: list[str]) -> ProfileResult:
    import numpy as np

    from toolkit.conversion.coreml import CoreMLRunner, _coremltools
    from toolkit.profilers.host_profile import measure

    feeds = {k: np.ascontiguousarray(v, np.float32) for k, v in inputs.items()}
    loaded: list[CoreMLRunner] = []

    def create():
        runner = CoreMLRunner(artifact, COMPUTE_UNITS[unit])  # MLModel(): compile + load
        loaded.append(runner)
        return lambda: runner.model.predict(feeds)  # Core ML's own call, inputs prepared once

    latency = measure(create, runs, warmup)
    records, plan_note = _compute_plan(loaded[0], unit, macos_version)
    return coreml_result(unit, latency, model, device, _coremltools().__version__,
                         plan_rows(records, unit) if records is not None else [], argv,
                         plan_note)


def _compute_plan(runner, unit: str, macos_version: str) -> tuple[list[dict] | None, str]:
    """The op records of Core ML's plan, or None and why not (the timing still stands)."""
    if _version_tuple(macos_version) < PLAN_MIN_MACOS:
        return None, f"needs macOS 14.4+, this is {macos_version or 'unknown'}"
    from toolkit.conversion.coreml import COMPUTE_UNITS as RUNNER_UNITS
    from toolkit.conversion.coreml import _coremltools, _first_line

    ct = _coremltools()
    try:
        from coremltools.models.compute_plan import MLComputePlan
    except ImportError:
        return None, f"needs coremltools 8+, this is {ct.__version__}"
    try:
        units = getattr(ct.ComputeUnit, RUNNER_UNITS[COMPUTE_UNITS[unit]])
        plan = MLComputePlan.load_from_path(runner.model.get_compiled_model_path(), units)
        return plan_records(plan), "MLComputePlan"
    except Exception as e:  # the native proxy raises plain Exceptions; keep the timing
        return None, f"MLComputePlan failed: {_first_line(e)}"


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return ()


# ------------------------------------------------------------------------ compute plan (pure)


def plan_records(plan) -> list[dict]:
    """Walk an ``MLComputePlan`` into plain records, one per op of the main function.

    Uses only what coremltools/models/compute_plan.py defines: ``model_structure.program
    .functions["main"].block.operations``, each op's ``operator_name``, ``outputs[i].name``
    (an ML program op has no name of its own; its first output names it) and nested ``blocks``;
    ``get_compute_device_usage_for_mlprogram_operation`` (preferred and supported
    ``MLComputeDevice``s, or None, e.g. for ``const``) and
    ``get_estimated_cost_for_mlprogram_operation`` (``weight`` in [0, 1], or None).
    """
    program = plan.model_structure.program
    if program is None:
        raise CamkitError("the compute plan has no ML program (a neuralnetwork model?); "
                          "re-export with camkit export --format coreml")
    if "main" not in program.functions:
        raise CamkitError(f"the Core ML program has no 'main' function (has "
                          f"{', '.join(program.functions)}); re-export with camkit export")
    records: list[dict] = []

    def walk(block) -> None:
        for op in block.operations:
            usage = plan.get_compute_device_usage_for_mlprogram_operation(op)
            cost = plan.get_estimated_cost_for_mlprogram_operation(op)
            records.append({
                "operator_name": op.operator_name,
                "name": op.outputs[0].name if op.outputs else None,
                "preferred": None if usage is None else device_name(
                    usage.preferred_compute_device),
                "supported": None if usage is None else [
                    device_name(d) for d in usage.supported_compute_devices],
                "cost_weight": None if cost is None else float(cost.weight),
            })
            for inner in op.blocks:  # loops and conditionals; camkit's models have none
                walk(inner)

    walk(program.functions["main"].block)
    return records


def device_name(device) -> str:
    """CPU | GPU | NeuralEngine for a coremltools MLComputeDevice (by its class)."""
    cls = type(device).__name__
    if cls not in DEVICE_CLASSES:
        raise CamkitError(f"unknown Core ML compute device {cls}; camkit knows "
                          f"{', '.join(DEVICE_CLASSES)} (a newer coremltools?)")
    return DEVICE_CLASSES[cls]


def plan_rows(records: list[dict], unit: str) -> list[OpRow]:
    """Plan records -> ``compute_plan`` op rows. ``unsupported_on`` lists the unit's devices the
    op cannot run on (null when Core ML gave no usage, as for ``const``)."""
    rows = []
    for r in records:
        supported = r["supported"]
        rows.append(OpRow(
            table="compute_plan", node_type=r["operator_name"], name=r["name"],
            placement=r["preferred"], supported_on=supported, cost_fraction=r["cost_weight"],
            unsupported_on=None if supported is None else [
                d for d in UNIT_DEVICES[unit] if d not in supported],
        ))
    return rows


def placement_summary(rows: list[OpRow]) -> dict:
    """Ops per planned device and the ops that fall off the Neural Engine (placed elsewhere).

    Ops without a placement (constants) are not counted. ``off_ne_cost`` sums their estimated
    cost (null when Core ML gave a cost for none of them)."""
    placed = [r for r in rows if r.table == "compute_plan" and r.placement is not None]
    by_device: dict[str, int] = {}
    for r in placed:
        by_device[r.placement] = by_device.get(r.placement, 0) + 1
    off = [r for r in placed if r.placement != "NeuralEngine"]
    costs = [r.cost_fraction for r in off if r.cost_fraction is not None]
    return {"ops": len(placed), "by_device": by_device, "off_ne": off,
            "off_ne_cost": sum(costs) if costs else None}


def format_plan(result: ProfileResult) -> str:
    """The plan under the latency table: counts per device and each op off the Neural Engine."""
    rows = [r for r in result.ops if r.table == "compute_plan"]
    note = result.runtime.options.get("compute_plan", "")
    if not rows:
        return f"{'plan':<12}no per-op placement ({note})\n" if note else ""
    s = placement_summary(rows)
    counts = ", ".join(f"{d} {n}" for d, n in sorted(s["by_device"].items()))
    lines = [f"{'plan':<12}{s['ops']} ops placed: {counts}"]
    if "NeuralEngine" in UNIT_DEVICES[result.runtime.options["compute_units"]]:
        cost = "" if s["off_ne_cost"] is None else f", {100 * s['off_ne_cost']:.1f}% of cost"
        lines.append(f"{'':<12}{len(s['off_ne'])} off the Neural Engine{cost}:")
        for r in s["off_ne"]:
            why = "not supported on NE" if "NeuralEngine" in (r.unsupported_on or []) else \
                "NE supported, not preferred"
            lines.append(f"  {r.placement:<13} {r.node_type:<22} {r.name or '-'}  ({why})")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ result (pure)


def coreml_result(unit: str, latency: Latency, model: ModelRef, device: Device,
                  coremltools_version: str | None, ops: list[OpRow], argv: list[str],
                  plan_note: str) -> ProfileResult:
    """One measured result for one compute unit; ``plan_note`` says where the op rows came
    from or why there are none."""
    return ProfileResult(
        kind="measured",
        runtime=Runtime(
            name="coreml", tool=TOOL, version=coremltools_version,
            # only cpuOnly pins the device; the others let Core ML choose per op (see ops)
            accelerator="cpu" if unit == "cpuOnly" else None,
            options={"compute_units": unit, "compute_plan": plan_note},
        ),
        latency=latency, model=model, device=device, argv=list(argv), ops=ops,
    )


def mac_device() -> Device:
    """The Mac: hw.model (e.g. Mac14,2), the chip (e.g. Apple M2), macOS version, arch."""
    version = platform.mac_ver()[0]
    return Device(model=_sysctl("hw.model"), soc=_sysctl("machdep.cpu.brand_string"),
                  os=f"macOS {version}" if version else None, abi=platform.machine() or None)


def _sysctl(key: str) -> str | None:
    try:
        out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None
