"""`camkit profile macos`: what runs here is the off-macOS error, compute-unit
validation, the timing-to-result mapping and Core ML's compute plan -> op rows, on a plan
recorded by hand in the shape coremltools 9.0 returns (tests/fixtures/profilers/
coreml_compute_plan.json). The prediction itself is tested only on a Mac."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import run_cli
from toolkit.errors import CamkitError
from toolkit.profilers import macos
from toolkit.profilers.host_profile import latency_from_times
from toolkit.profilers.schema import Device, ModelRef, ProfileResult, validate

FIXTURE = Path(__file__).parent / "fixtures" / "profilers" / "coreml_compute_plan.json"
LINUX_ONLY = pytest.mark.skipif(sys.platform == "darwin", reason="Core ML runs on a Mac")
MAC_ONLY = pytest.mark.skipif(sys.platform != "darwin", reason="Core ML prediction needs macOS")


class FakePlan:
    """An object with the MLComputePlan surface plan_records uses, built from the fixture:
    devices are instances of classes named like coremltools' MLComputeDevice subclasses."""

    def __init__(self, recorded: dict) -> None:
        device = {name: type(name, (), {})() for name in macos.DEVICE_CLASSES}
        self._usage, self._cost = {}, {}
        ops = []
        for rec in recorded["model_structure"]["program"]["functions"]["main"]["block"][
                "operations"]:
            op = SimpleNamespace(operator_name=rec["operator_name"], inputs=rec["inputs"],
                                 outputs=[SimpleNamespace(**o) for o in rec["outputs"]],
                                 blocks=[])
            usage = rec["device_usage"]
            self._usage[id(op)] = None if usage is None else SimpleNamespace(
                preferred_compute_device=device[usage["preferred_compute_device"]],
                supported_compute_devices=[device[d] for d in usage[
                    "supported_compute_devices"]])
            self._cost[id(op)] = None if rec["cost"] is None else SimpleNamespace(**rec["cost"])
            ops.append(op)
        main = SimpleNamespace(block=SimpleNamespace(operations=ops))
        self.model_structure = SimpleNamespace(
            program=SimpleNamespace(functions={"main": main}), neuralnetwork=None, pipeline=None)

    def get_compute_device_usage_for_mlprogram_operation(self, op):
        return self._usage[id(op)]

    def get_estimated_cost_for_mlprogram_operation(self, op):
        return self._cost[id(op)]


@pytest.fixture
def records() -> list[dict]:
    return macos.plan_records(FakePlan(json.loads(FIXTURE.read_text())))


def _result(unit: str, ops) -> ProfileResult:
    latency = latency_from_times(812.5, 41.0, [12.0, 10.0], [10.0, 12.0, 11.0, 13.0, 9.0])
    model = ModelRef(sha256="ab" * 32, format="coreml", precision="fp16",
                     manifest="m.mlpackage.manifest.json")
    device = Device(model="Mac14,2", soc="Apple M2", os="macOS 15.1", abi="arm64")
    return macos.coreml_result(unit, latency, model, device, "9.0", ops,
                               ["camkit", "profile", "run"], "MLComputePlan")


# ------------------------------------------------------------------------------- off macOS


@LINUX_ONLY
def test_off_macos_the_cli_says_so_in_one_line_before_any_heavy_import(tmp_path):
    proc = run_cli("profile", "macos", str(tmp_path / "m.manifest.json"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "needs macOS" in proc.stderr
    assert "camkit profile static" in proc.stderr
    code = ("import sys\nfrom toolkit.cli import main\n"
            f"assert main(['profile', 'macos', {str(tmp_path / 'm.json')!r}]) == 2\n"
            "print(sorted(m for m in ('torch', 'coremltools', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@LINUX_ONLY
def test_off_macos_the_api_raises_the_same_error():
    with pytest.raises(CamkitError, match="needs macOS") as info:
        macos.profile_macos(Path("absent.manifest.json"), ("cpuOnly",), runs=1, warmup=0)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- compute units


def test_compute_units_default_to_all_four_and_keep_the_given_order():
    assert macos.parse_compute_units(None) == (
        "all", "cpuOnly", "cpuAndGPU", "cpuAndNeuralEngine")
    assert macos.parse_compute_units(" cpuAndNeuralEngine,cpuOnly ") == (
        "cpuAndNeuralEngine", "cpuOnly")


@pytest.mark.parametrize("text, match", [
    ("cpuonly", "did you mean 'cpuOnly'"),
    ("all,cpuAndNE", "did you mean 'cpuAndNeuralEngine'"),
    ("CPU_AND_GPU", "did you mean 'cpuAndGPU'"),
    ("cpu_only", "did you mean 'cpuOnly'"),
    (" , ", "empty"),
    ("all,all", "twice"),
])
def test_bad_compute_units_are_one_line_errors(text, match):
    with pytest.raises(CamkitError, match=match) as info:
        macos.parse_compute_units(text)
    assert "\n" not in str(info.value)


def test_compute_units_are_checked_on_the_cli_and_only_go_with_macos(tmp_path):
    manifest = str(tmp_path / "m.manifest.json")
    proc = run_cli("profile", "macos", manifest, "--compute-units", "gpu")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "unknown Core ML compute unit 'gpu'" in proc.stderr and "cpuAndGPU" in proc.stderr
    proc = run_cli("profile", "host", manifest, "--compute-units", "all")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "unrecognized argument --compute-units (an option of 'camkit profile macos')" \
        in proc.stderr


@LINUX_ONLY
def test_old_spelling_on_macos_says_it_is_deprecated_then_fails_cleanly(tmp_path):
    """`profile run --on macos` (deprecated for one release) maps to `profile macos`: the note,
    then the same one-line off-macOS error."""
    proc = run_cli("profile", "run", str(tmp_path / "m.manifest.json"), "--on", "macos")
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        "camkit: note: 'camkit profile run --on macos' is deprecated; use 'camkit profile macos' "
        "(it will be removed in the next release)",
        f"camkit: error: {macos.NOT_ON_MACOS}"]
    proc = run_cli("profile", "run", str(tmp_path / "m.manifest.json"), "--on", "host",
                   "--compute-units", "all")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--compute-units applies to --on macos" in proc.stderr


def test_every_compute_unit_maps_to_a_core_ml_runner_key():
    pytest.importorskip("coremltools")
    from toolkit.conversion.coreml import COMPUTE_UNITS as RUNNER_KEYS

    assert set(macos.COMPUTE_UNITS.values()) == set(RUNNER_KEYS)
    assert set(macos.UNIT_DEVICES) == set(macos.COMPUTE_UNITS)


# ------------------------------------------------------------------ timings -> result


def test_fake_timings_map_to_a_valid_measured_result_per_unit():
    result = _result("cpuAndNeuralEngine", [])
    lat = result.latency
    assert (lat.init_ms, lat.first_ms, lat.warmup_mean_ms) == (812.5, 41.0, 11.0)
    assert (lat.n, lat.median_ms, lat.min_ms, lat.max_ms, lat.mean_ms) == (5, 11.0, 9.0, 13.0,
                                                                           11.0)
    assert lat.std_ms == pytest.approx(2 ** 0.5)
    assert result.kind == "measured" and result.runtime.name == "coreml"
    assert result.runtime.options == {"compute_units": "cpuAndNeuralEngine",
                                      "compute_plan": "MLComputePlan"}
    assert result.runtime.accelerator is None  # Core ML picks per op; the plan says which
    assert _result("cpuOnly", []).runtime.accelerator == "cpu"
    assert result.device.soc == "Apple M2" and result.host is None
    obj = result.to_json()
    validate(obj)
    assert ProfileResult.from_json(json.loads(json.dumps(obj))) == result


# ------------------------------------------------------------------- compute plan -> rows


def test_plan_records_walk_every_op_with_devices_by_class(records):
    assert len(records) == 12
    assert records[0] == {"operator_name": "const", "name": "conv_0_weight_to_fp16",
                          "preferred": None, "supported": None, "cost_weight": None}
    conv = records[3]
    assert conv["operator_name"] == "conv" and conv["name"] == "conv_0_cast_fp16"
    assert conv["preferred"] == "NeuralEngine"
    assert conv["supported"] == ["CPU", "GPU", "NeuralEngine"]
    assert conv["cost_weight"] == pytest.approx(0.28)


def test_rows_flag_the_ops_that_fall_off_the_neural_engine(records):
    rows = macos.plan_rows(records, "all")
    assert {r.table for r in rows} == {"compute_plan"}
    by_name = {r.name: r for r in rows}
    assert by_name["conv_0_weight_to_fp16"].unsupported_on is None  # const: no usage
    assert by_name["conv_1_cast_fp16"].placement == "NeuralEngine"
    assert by_name["conv_1_cast_fp16"].unsupported_on == []
    assert by_name["cond_0_vec_cast_fp16"].unsupported_on == ["NeuralEngine"]  # reshape
    summary = macos.placement_summary(rows)
    assert summary["ops"] == 10
    assert summary["by_device"] == {"CPU": 3, "NeuralEngine": 6, "GPU": 1}
    assert [(r.node_type, r.placement) for r in summary["off_ne"]] == [
        ("cast", "CPU"), ("reshape", "CPU"), ("linear", "GPU"), ("cast", "CPU")]
    assert summary["off_ne_cost"] == pytest.approx(0.06)


def test_the_unit_decides_which_devices_an_op_can_be_missing_from(records):
    rows = macos.plan_rows(records, "cpuAndGPU")
    assert all("NeuralEngine" not in (r.unsupported_on or []) for r in rows)


def test_plan_rows_validate_and_print_the_fallbacks(records):
    result = _result("all", macos.plan_rows(records, "all"))
    validate(result.to_json())
    text = macos.format_plan(result)
    assert "10 ops placed: CPU 3, GPU 1, NeuralEngine 6" in text
    assert "4 off the Neural Engine, 6.0% of cost" in text
    assert text.count("not supported on NE") == 3
    assert text.count("NE supported, not preferred") == 1
    cpu_only = _result("cpuOnly", macos.plan_rows(records, "cpuOnly"))
    assert "off the Neural Engine" not in macos.format_plan(cpu_only)


def test_without_a_plan_the_result_says_why():
    result = macos.coreml_result("all", latency_from_times(1.0, 1.0, [], [1.0]), ModelRef(),
                                 Device(), "9.0", [], ["camkit"], "needs macOS 14.4+, this is 13.6")
    validate(result.to_json())
    assert macos.format_plan(result) == "plan        no per-op placement (needs macOS 14.4+, " \
                                        "this is 13.6)\n"


def test_a_plan_without_an_ml_program_or_an_unknown_device_is_a_clear_error(records):
    plan = FakePlan(json.loads(FIXTURE.read_text()))
    plan.model_structure.program = None
    with pytest.raises(CamkitError, match="no ML program"):
        macos.plan_records(plan)
    with pytest.raises(CamkitError, match="unknown Core ML compute device MLTPUComputeDevice"):
        macos.device_name(type("MLTPUComputeDevice", (), {})())


def test_schema_rejects_a_placement_core_ml_does_not_have(records):
    obj = _result("all", macos.plan_rows(records, "all")).to_json()
    obj["ops"][3]["placement"] = "ANE"
    with pytest.raises(CamkitError, match="ops/3/placement"):
        validate(obj)


# ------------------------------------------------------------------------------ on a Mac


@MAC_ONLY
def test_profile_a_tiny_core_ml_package_per_compute_unit(tmp_path):
    pytest.importorskip("coremltools")
    from toolkit.export import export_artifacts, make_spec, resolve_weights

    spec = make_spec("retouch_csrnet", "tiny", None, "nchw", False)
    weights = resolve_weights("retouch_csrnet", "tiny", None, True)
    [manifest] = export_artifacts(spec, weights, ["coreml"], ["fp16"], tmp_path, progress=False)
    results = macos.profile_macos(manifest, ("cpuOnly", "all"), runs=3, warmup=1)
    assert [r.runtime.options["compute_units"] for r in results] == ["cpuOnly", "all"]
    for result in results:
        validate(result.to_json())
        lat = result.latency
        assert lat.n == 3 and lat.init_ms > 0 and lat.min_ms <= lat.median_ms <= lat.max_ms
        assert result.device.os.startswith("macOS")
        if result.runtime.options["compute_plan"] == "MLComputePlan":
            assert any(r.node_type == "conv" and r.placement for r in result.ops)
