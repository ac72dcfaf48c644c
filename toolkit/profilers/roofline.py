"""Roofline estimate: how long an artifact might take on a device nobody has profiled yet.

``camkit profile estimate MANIFEST --device DEVICE`` starts from the static op report (its rows
already carry MACs, parameters, activation bytes and CPU-fallback flags; nothing is recounted)
and charges each op

    compute_s  = 2 * MACs / (peak ops/s of the unit and dtype * efficiency_compute)
    memory_s   = (2 * activation bytes + weight bytes) / (bandwidth * efficiency_memory)
    time       = max(compute_s, memory_s) + transfer_s + per_op_overhead

Activation bytes are the op's output; counting them twice charges the write and the one read
by the next op (the static rows have no edges, so an op's inputs are its producers' outputs).
Weight bytes are parameters x the precision's weight size. An op the device's accelerator does
not run (its ``unsupported_on`` names one of the device's ``fallback_targets``) is charged at
the CPU's peak, plus ``transfer_s`` = 2 * activation bytes / (bandwidth * efficiency_memory):
its tensors go to the CPU and back.

Peaks and bandwidths come from ``devices/<id>.toml``, each number with its source; a number a
vendor does not publish is listed under ``omitted`` and an estimate that needs it is refused.
The efficiencies and the overhead are guesses until ``--calibrate`` fits them by least squares
to measured results of the same device (``calibrate``). The headline is ``median_ms``;
``min_ms``/``max_ms`` are the uncertainty band: x/÷ ``UNCALIBRATED_BAND`` before calibration,
after it the worst ratio between estimate and measurement on the calibration runs (at least
``MIN_CALIBRATED_BAND``). ``p90_ms`` stays null: an estimate has no distribution.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import CamkitError, unknown
from toolkit.profilers.schema import Device, Latency, OpRow, ProfileResult, Runtime

DEVICES_DIR = Path(__file__).with_name("devices")
TOOL = "camkit roofline estimate"
#: manifest precision -> the dtype the accelerator computes in
COMPUTE_DTYPE = {"fp32": "fp32", "fp16": "fp16", "w8a8": "int8", "w8a16": "int16", "w8": "fp32"}
#: manifest precision -> bytes per stored weight element
WEIGHT_BYTES = {"fp32": 4, "fp16": 2, "w8a8": 1, "w8a16": 1, "w8": 1}
#: uncalibrated estimates are stated as within x/÷ 3 (an assumption, not a statistic)
UNCALIBRATED_BAND = 3.0
#: a fit to a few runs says little about others: the calibrated band is at least x/÷ 1.25
MIN_CALIBRATED_BAND = 1.25
#: what a fitted efficiency may be (above 1: the published peak is below what the unit does)
EFFICIENCY_BOUNDS = (1e-4, 10.0)


@dataclass(frozen=True)
class Peak:
    unit: str          # cpu | gpu | npu
    dtype: str         # fp32 | fp16 | int8 | int16
    ops_per_s: float   # 2 ops per MAC
    source: str


@dataclass(frozen=True)
class DeviceProfile:
    id: str
    name: str
    accelerator: str
    fallback_targets: tuple[str, ...]
    match: str
    bandwidth_bytes_per_s: float | None
    bandwidth_source: str | None
    peaks: tuple[Peak, ...]
    omitted: tuple[tuple[str, str], ...]

    def peak(self, unit: str, dtype: str) -> Peak:
        for p in self.peaks:
            if p.unit == unit and p.dtype == dtype:
                return p
        raise CamkitError(f"device '{self.id}' lists no published {unit} {dtype} peak"
                          f"{self._why(unit)}; add it with its source to "
                          f"{DEVICES_DIR / (self.id + '.toml')} or export another precision")

    def bandwidth(self) -> float:
        if self.bandwidth_bytes_per_s is None:
            raise CamkitError(f"device '{self.id}' lists no published memory bandwidth"
                              f"{self._why('bandwidth')}; add it with its source to "
                              f"{DEVICES_DIR / (self.id + '.toml')}")
        return self.bandwidth_bytes_per_s

    def _why(self, word: str) -> str:
        whys = [why for what, why in self.omitted if word.lower() in what.lower()]
        return f" ({whys[0]})" if whys else ""


@dataclass(frozen=True)
class Factors:
    """What the peaks leave out; the defaults are guesses until --calibrate fits them."""

    efficiency_compute: float = 0.5
    efficiency_memory: float = 0.7
    per_op_overhead_ms: float = 0.01


@dataclass(frozen=True)
class OpCost:
    """One op at 100% efficiency: seconds of compute, memory and CPU round trip."""

    compute_s: float
    memory_s: float
    transfer_s: float = 0.0
    on_cpu: bool = False

    def time_s(self, f: Factors) -> float:
        return (max(self.compute_s / f.efficiency_compute, self.memory_s / f.efficiency_memory)
                + self.transfer_s / f.efficiency_memory + f.per_op_overhead_ms / 1000.0)


def device_ids() -> list[str]:
    return sorted(p.stem for p in DEVICES_DIR.glob("*.toml"))


def load_device(device_id: str) -> DeviceProfile:
    """The device profile ``devices/<device_id>.toml``; unknown ids get the nearest suggestion."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: tomllib arrived in 3.11, tomli is the same parser
        try:
            import tomli as tomllib
        except ImportError:
            raise CamkitError("reading device profiles needs Python 3.11+ (tomllib) or "
                              "pip install tomli") from None
    if device_id not in device_ids():
        raise unknown("device (--device)", device_id, device_ids())
    data = tomllib.loads((DEVICES_DIR / f"{device_id}.toml").read_text())
    bandwidth = data["bandwidth"] if "bandwidth" in data else None  # absent: unpublished
    return DeviceProfile(
        id=data["id"], name=data["name"], accelerator=data["accelerator"],
        fallback_targets=tuple(data["fallback_targets"]), match=data["match"],
        bandwidth_bytes_per_s=bandwidth["gb_s"] * 1e9 if bandwidth else None,
        bandwidth_source=bandwidth["source"] if bandwidth else None,
        peaks=tuple(Peak(p["unit"], p["dtype"], p["tops"] * 1e12, p["source"])
                    for p in (data["peak"] if "peak" in data else [])),
        omitted=tuple((o["what"], o["why"])
                      for o in (data["omitted"] if "omitted" in data else [])),
    )


def op_costs(static: ProfileResult, device: DeviceProfile) -> list[OpCost]:
    """Per static row, its cost on ``device`` at 100% efficiency (see the module docstring)."""
    if static.kind != "static":
        raise CamkitError(f"the roofline reads a static op report, got a '{static.kind}' result")
    precision = static.model.precision
    if precision not in COMPUTE_DTYPE:
        raise unknown("precision", str(precision), COMPUTE_DTYPE)
    dtype, weight_bytes = COMPUTE_DTYPE[precision], WEIGHT_BYTES[precision]
    bandwidth = device.bandwidth()
    accel = device.peak(device.accelerator, dtype).ops_per_s
    costs = []
    for row in static.ops:
        if row.macs is None or row.activation_bytes is None or row.params is None:
            raise CamkitError(f"op '{row.name}' has unknown MACs or bytes in the static "
                              "report; export with a fixed --size to estimate it")
        falls_back = device.accelerator != "cpu" and bool(
            set(row.unsupported_on or []) & set(device.fallback_targets))
        peak = device.peak("cpu", dtype).ops_per_s if falls_back else accel
        costs.append(OpCost(
            compute_s=2.0 * row.macs / peak,
            memory_s=(2.0 * row.activation_bytes + row.params * weight_bytes) / bandwidth,
            transfer_s=2.0 * row.activation_bytes / bandwidth if falls_back else 0.0,
            on_cpu=falls_back,
        ))
    return costs


def total_ms(costs: list[OpCost], factors: Factors) -> float:
    return 1000.0 * sum(c.time_s(factors) for c in costs)


def estimate(static: ProfileResult, device: DeviceProfile, factors: Factors = Factors(),
             band: float = UNCALIBRATED_BAND, calibrated_on: int = 0,
             argv: list[str] | None = None) -> ProfileResult:
    """The estimated profile result: total as median, the band as min/max, per-op rows."""
    costs = op_costs(static, device)
    times_ms = [1000.0 * c.time_s(factors) for c in costs]
    total = sum(times_ms)
    label = (f"estimated: roofline on published peaks of {device.name}, "
             + (f"factors fitted to {calibrated_on} measured runs" if calibrated_on
                else "uncalibrated guessed efficiencies")
             + f"; true latency likely within x/÷ {band:.2f} (min_ms..max_ms)")
    ops = [OpRow(table="estimated", node_type=row.node_type, name=row.name, avg_ms=ms,
                 percent=100.0 * ms / total if total else None,
                 output_shape=row.output_shape, macs=row.macs, params=row.params,
                 activation_bytes=row.activation_bytes,
                 unsupported_on=sorted(set(row.unsupported_on or [])
                                       & set(device.fallback_targets)) if cost.on_cpu else [])
           for row, cost, ms in zip(static.ops, costs, times_ms, strict=True)]
    options = {"label": label, "device": device.id,
               **{k: f"{v:.6g}" for k, v in dataclasses.asdict(factors).items()},
               "band": f"{band:.4g}", "cpu_fallback_ops": str(sum(c.on_cpu for c in costs))}
    return ProfileResult(
        kind="estimated",
        runtime=Runtime(tool=TOOL, accelerator=device.accelerator, options=options),
        latency=Latency(median_ms=total, min_ms=total / band, max_ms=total * band),
        model=static.model,
        device=Device(model=device.name),
        argv=list(argv) if argv is not None else [f"estimate(device={device.id!r})"],
        ops=ops,
    )


# ------------------------------------------------------------------------------ calibration


def fit(runs: list[tuple[list[OpCost], float]], start: Factors = Factors()) -> Factors:
    """Least squares on log(estimate / measured) over ``runs`` = [(costs, measured ms)]."""
    import numpy as np
    from scipy.optimize import least_squares

    if not runs:
        raise CamkitError("--calibrate found no usable measured runs; pass measured results "
                          "of this device whose manifests still exist")

    def residuals(x):
        f = Factors(math.exp(x[0]), math.exp(x[1]), x[2])
        return [math.log(total_ms(costs, f) / ms) for costs, ms in runs]

    x0 = np.array([math.log(start.efficiency_compute), math.log(start.efficiency_memory),
                   start.per_op_overhead_ms])
    low, high = (math.log(b) for b in EFFICIENCY_BOUNDS)
    solution = least_squares(residuals, x0, bounds=([low, low, 0.0], [high, high, np.inf]))
    x = solution.x
    return Factors(math.exp(x[0]), math.exp(x[1]), float(x[2]))


def at_bounds(factors: Factors) -> list[str]:
    """Efficiencies the fit pushed to a bound: that term never (or always) binds on these runs."""
    return [name for name, value in (("efficiency_compute", factors.efficiency_compute),
                                     ("efficiency_memory", factors.efficiency_memory))
            if not EFFICIENCY_BOUNDS[0] * 1.01 < value < EFFICIENCY_BOUNDS[1] / 1.01]


def relative_errors(runs: list[tuple[list[OpCost], float]], factors: Factors) -> list[float]:
    """(estimate - measured) / measured per run."""
    return [(total_ms(costs, factors) - ms) / ms for costs, ms in runs]


def band_after(runs: list[tuple[list[OpCost], float]], factors: Factors) -> float:
    worst = max(max(r + 1.0, 1.0 / (r + 1.0)) for r in relative_errors(runs, factors))
    return max(MIN_CALIBRATED_BAND, worst)


def matches(device: DeviceProfile, result: ProfileResult) -> bool:
    """Whether a measured result ran on ``device`` (host profiles match host results)."""
    if device.match == "host":
        return result.host is not None and result.device is None
    if result.device is None:
        return False
    return any(device.match.lower() in (s or "").lower()
               for s in (result.device.soc, result.device.model))


def calibration_runs(device: DeviceProfile, measured: list[tuple[str, ProfileResult]]
                     ) -> list[tuple[str, list[OpCost], float]]:
    """(file, costs, measured median ms) per measured result, from its manifest's static report."""
    from toolkit.profilers.static import profile_static

    runs = []
    for path, result in measured:
        if result.kind != "measured":
            raise CamkitError(f"{path} holds a '{result.kind}' result; --calibrate takes "
                              "measured results only")
        if not matches(device, result):
            raise CamkitError(f"{path} was not measured on '{device.id}' (match '{device.match}'"
                              "); calibrate with results of the same device")
        if result.model.manifest is None or result.latency.median_ms is None:
            raise CamkitError(f"{path} records no manifest or no median; re-run it with "
                              "camkit profile host|android|macos MANIFEST --json OUT")
        manifest = Path(result.model.manifest)
        if not manifest.exists():
            raise CamkitError(f"{path} names {manifest}, which no longer exists; re-export it "
                              "or drop this file from --calibrate")
        costs = op_costs(profile_static(manifest), device)
        runs.append((path, costs, result.latency.median_ms))
    return runs
