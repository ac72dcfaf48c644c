"""Roofline estimate: device profiles carry sources, the roofline picks the right bound, CPU
fallbacks pay a round trip, calibration recovers known factors and lowers the host's error."""

from __future__ import annotations

import json
import math

import pytest

from conftest import run_cli
from toolkit.errors import CamkitError
from toolkit.profilers import roofline
from toolkit.profilers.roofline import DeviceProfile, Factors, OpCost, Peak
from toolkit.profilers.schema import (Latency, ModelRef, OpRow, ProfileResult, Runtime,
                                      validate)

pytest.importorskip("jsonschema")

GOPS = 1e9
#: a made-up device for hand-checked arithmetic: 100 GOP/s accelerator, 10 GOP/s CPU, 1 GB/s
TOY = DeviceProfile(
    id="toy", name="toy", accelerator="npu", fallback_targets=("toy_npu",), match="toy",
    bandwidth_bytes_per_s=1e9, bandwidth_source="test",
    peaks=(Peak("npu", "fp32", 100 * GOPS, "test"), Peak("cpu", "fp32", 10 * GOPS, "test")),
    omitted=(("npu int8 peak", "not published in this test"),),
)


def _static(rows: list[OpRow], precision: str = "fp32") -> ProfileResult:
    return ProfileResult(kind="static", runtime=Runtime(tool="test"), latency=Latency(),
                         model=ModelRef(sha256="0" * 64, format="onnx", precision=precision),
                         ops=rows)


def _row(name: str, macs: int, activation_bytes: int, params: int = 0,
         unsupported_on: list[str] | None = None) -> OpRow:
    return OpRow(table="static", node_type="Conv", name=name, macs=macs, params=params,
                 activation_bytes=activation_bytes, unsupported_on=unsupported_on or [])


def test_every_device_number_has_a_source_and_every_omission_a_reason():
    ids = roofline.device_ids()
    assert {"apple_a17_pro", "snapdragon_8_gen_3", "host_x86_avx2"} <= set(ids)
    for device_id in ids:
        device = roofline.load_device(device_id)
        assert device.id == device_id
        assert all(p.source.strip() and p.ops_per_s > 0 for p in device.peaks)
        if device.bandwidth_bytes_per_s is not None:
            assert device.bandwidth_source.strip()
        assert all(what.strip() and why.strip() for what, why in device.omitted)


def test_unknown_device_gets_the_nearest_suggestion():
    with pytest.raises(CamkitError, match="did you mean 'snapdragon_8_gen_3'"):
        roofline.load_device("snapdragon_8gen3")


def test_compute_bound_and_memory_bound_ops_take_the_larger_time():
    # compute: 2 * 1e9 MACs / 100 GOP/s = 20 ms; memory: 2 * 1000 B / 1 GB/s = 0.002 ms
    # memory: 2 * 5e6 B / 1 GB/s = 10 ms; compute: 0
    rows = [_row("conv", macs=10**9, activation_bytes=1000), _row("add", 0, 5 * 10**6)]
    compute, memory = roofline.op_costs(_static(rows), TOY)
    f = Factors(1.0, 1.0, 0.0)
    assert compute.time_s(f) == pytest.approx(0.020) and compute.compute_s > compute.memory_s
    assert memory.time_s(f) == pytest.approx(0.010) and memory.memory_s > memory.compute_s
    # efficiencies divide only their own bound
    assert compute.time_s(Factors(0.5, 1.0, 0.0)) == pytest.approx(0.040)
    assert memory.time_s(Factors(0.5, 1.0, 0.0)) == pytest.approx(0.010)
    # weights count as memory traffic at the precision's size: 1e6 fp32 params = 4 ms
    [weighted] = roofline.op_costs(_static([_row("fc", 0, 0, params=10**6)]), TOY)
    assert weighted.memory_s == pytest.approx(0.004)


def test_cpu_fallback_ops_pay_the_cpu_peak_and_a_round_trip():
    rows = [_row("on_npu", 10**8, 10**6, unsupported_on=["some_other_target"]),
            _row("falls_back", 10**8, 10**6, unsupported_on=["toy_npu"])]
    on_npu, fallback = roofline.op_costs(_static(rows), TOY)
    assert not on_npu.on_cpu and on_npu.transfer_s == 0.0
    assert on_npu.compute_s == pytest.approx(2e8 / 100e9)
    assert fallback.on_cpu and fallback.compute_s == pytest.approx(2e8 / 10e9)
    assert fallback.transfer_s == pytest.approx(2 * 10**6 / 1e9)
    f = Factors(1.0, 1.0, 0.0)
    assert fallback.time_s(f) == pytest.approx(max(0.02, 0.002) + 0.002)


def test_a_missing_published_number_is_refused_with_the_reason():
    with pytest.raises(CamkitError, match="no published npu int8 peak.*not published"):
        roofline.op_costs(_static([_row("conv", 1, 1)], precision="w8a8"), TOY)
    sd = roofline.load_device("snapdragon_8_gen_3")
    with pytest.raises(CamkitError, match="npu fp32"):
        roofline.op_costs(_static([_row("conv", 1, 1)]), sd)


def test_estimate_is_an_estimated_result_with_a_band_and_per_op_rows():
    rows = [_row("conv", 10**9, 1000), _row("add", 0, 5 * 10**6, unsupported_on=["toy_npu"])]
    result = roofline.estimate(_static(rows), TOY, Factors(1.0, 1.0, 0.5))
    validate(result.to_json())
    assert result.kind == "estimated" and result.latency.p90_ms is None
    lat = result.latency
    assert lat.min_ms < lat.median_ms < lat.max_ms
    assert lat.max_ms / lat.median_ms == pytest.approx(roofline.UNCALIBRATED_BAND)
    assert [op.table for op in result.ops] == ["estimated", "estimated"]
    assert sum(op.avg_ms for op in result.ops) == pytest.approx(lat.median_ms)
    assert result.ops[1].unsupported_on == ["toy_npu"] and result.ops[0].unsupported_on == []
    assert "uncalibrated" in result.runtime.options["label"]
    assert result.runtime.options["cpu_fallback_ops"] == "1"


def _synthetic_models() -> list[list[OpCost]]:
    """Graphs of different shape: compute-heavy, memory-heavy, many tiny ops, mixed."""
    return [
        [OpCost(2e-3, 1e-4)] * 4,
        [OpCost(1e-5, 3e-3)] * 3,
        [OpCost(1e-6, 1e-6)] * 200,
        [OpCost(4e-3, 1e-4), OpCost(1e-5, 2e-3)] * 2,
        [OpCost(1e-3, 5e-4)] * 10,
    ]


def test_calibration_recovers_known_factors_and_lowers_the_error():
    truth = Factors(efficiency_compute=0.3, efficiency_memory=0.6, per_op_overhead_ms=0.02)
    runs = [(costs, roofline.total_ms(costs, truth)) for costs in _synthetic_models()]
    fitted = roofline.fit(runs)
    assert fitted.efficiency_compute == pytest.approx(0.3, rel=0.02)
    assert fitted.efficiency_memory == pytest.approx(0.6, rel=0.02)
    assert fitted.per_op_overhead_ms == pytest.approx(0.02, rel=0.02)
    before = roofline.relative_errors(runs, Factors())
    after = roofline.relative_errors(runs, fitted)
    assert max(map(abs, after)) < 0.01 < max(map(abs, before))
    assert roofline.band_after(runs, fitted) == roofline.MIN_CALIBRATED_BAND
    assert roofline.at_bounds(fitted) == []
    assert roofline.at_bounds(Factors(10.0, 0.5, 0.0)) == ["efficiency_compute"]


def test_calibration_on_measured_host_runs_lowers_the_error(tiny_onnx, tmp_path):
    """Host runs of tiny CSRNet at three sizes against the host profile: direction, not ms."""
    from toolkit.export import export_artifacts, make_spec, resolve_weights
    from toolkit.profilers.host_profile import profile_host

    weights = resolve_weights("retouch_csrnet", "tiny", None, True)
    manifests = [tiny_onnx]
    for size in (128, 192):
        spec = make_spec("retouch_csrnet", "tiny", (size, size), "nchw", False)
        manifests += export_artifacts(spec, weights, ["onnx"], ["fp32"], tmp_path / str(size),
                                      progress=False)
    device = roofline.load_device("host_x86_avx2")
    measured = [(str(m), profile_host(m, threads=1, runs=5, warmup=1)) for m in manifests]
    runs = [(costs, ms) for _, costs, ms in roofline.calibration_runs(device, measured)]
    fitted = roofline.fit(runs)

    def squared_log_error(factors):
        return sum(math.log1p(e) ** 2 for e in roofline.relative_errors(runs, factors))

    assert squared_log_error(fitted) < squared_log_error(Factors())


def test_calibration_refuses_results_of_another_kind_or_device(tiny_onnx):
    static = _static([_row("conv", 1, 1)])
    device = roofline.load_device("host_x86_avx2")
    with pytest.raises(CamkitError, match="measured results only"):
        roofline.calibration_runs(device, [("s.json", static)])
    phone = ProfileResult(kind="measured", runtime=Runtime(), latency=Latency(median_ms=1.0),
                          model=ModelRef(manifest=str(tiny_onnx)))
    with pytest.raises(CamkitError, match="not measured on 'host_x86_avx2'"):
        roofline.calibration_runs(device, [("p.json", phone)])


def test_cli_estimate_writes_a_valid_estimated_result(tiny_onnx, tmp_path):
    out = tmp_path / "est.json"
    proc = run_cli("profile", "estimate", str(tiny_onnx), "--device", "host_x86_avx2",
                   "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "kind estimated" in proc.stdout and "uncalibrated" in proc.stdout
    obj = json.loads(out.read_text())
    validate(obj)
    assert obj["kind"] == "estimated" and obj["runtime"]["options"]["device"] == "host_x86_avx2"
    assert obj["argv"][:3] == ["camkit", "profile", "estimate"]
    proc = run_cli("profile", "estimate", str(tiny_onnx), "--device", "host_x86")
    assert proc.returncode == 2 and "did you mean 'host_x86_avx2'" in proc.stderr
    proc = run_cli("profile", "estimate", str(tiny_onnx))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--device" in proc.stderr
    proc = run_cli("profile", "estimate", str(tiny_onnx), "--device", "host_x86_avx2",
                   "--static")
    assert proc.returncode == 2 and "unrecognized argument --static" in proc.stderr


def test_old_spelling_estimate_still_works_with_one_note(tiny_onnx, tmp_path):
    """`profile run --estimate DEVICE` (deprecated for one release): the same estimate as
    `profile estimate --device DEVICE`, one note line on stderr."""
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    proc = run_cli("profile", "run", str(tiny_onnx), "--estimate", "host_x86_avx2",
                   "--json", str(old))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ("camkit: note: 'camkit profile run --estimate DEVICE' is deprecated; "
                           "use 'camkit profile estimate --device DEVICE' (it will be removed in "
                           "the next release)\n")
    assert run_cli("profile", "estimate", str(tiny_onnx), "--device", "host_x86_avx2", "--json",
                   str(new)).returncode == 0
    old_obj, new_obj = json.loads(old.read_text()), json.loads(new.read_text())
    assert old_obj["argv"][:5] == ["camkit", "profile", "run", str(tiny_onnx), "--estimate"]
    assert {k: v for k, v in old_obj.items() if k != "argv"} == \
        {k: v for k, v in new_obj.items() if k != "argv"}
    proc = run_cli("profile", "run", str(tiny_onnx), "--estimate", "host_x86_avx2", "--static")
    assert proc.returncode == 2 and "exactly one of" in proc.stderr
