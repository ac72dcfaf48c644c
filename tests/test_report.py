"""`camkit report`: check.json + profile results -> tables and a PSNR-vs-latency plot."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest

from conftest import run_cli
from toolkit.errors import CamkitError
from toolkit.profilers.schema import Device, Latency, ModelRef, ProfileResult, Runtime

pytest.importorskip("matplotlib")
pytest.importorskip("jsonschema")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _save(path, result: ProfileResult):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json()))
    return path


@pytest.fixture(scope="module")
def checked(tiny_onnx, tiny_litert, tmp_path_factory):
    """A folder with check.json for two tiny artifacts and host profiles of both, plus an
    estimate of the ONNX one, a static report and a result of an unknown model."""
    from toolkit.checks.gate import run_checks
    from toolkit.profilers.host_profile import profile_host
    from toolkit.profilers.static import profile_static

    out = tmp_path_factory.mktemp("report")
    run_checks(out, out_dir=out, progress=False, only=[tiny_onnx, tiny_litert])
    onnx_host = profile_host(tiny_onnx, runs=3, warmup=1)
    _save(out / "profiles" / "onnx-host.json", onnx_host)
    _save(out / "profiles" / "litert-host.json", profile_host(tiny_litert, runs=3, warmup=1))
    estimate = ProfileResult(kind="estimated", runtime=Runtime(tool="camkit roofline",
                                                               accelerator="npu"),
                             latency=Latency(median_ms=2.0, min_ms=1.0, max_ms=4.0),
                             model=onnx_host.model, device=Device(model="Some phone"))
    _save(out / "profiles" / "onnx-estimate.json", estimate)
    _save(out / "profiles" / "onnx-static.json", profile_static(tiny_onnx))
    stranger = dataclasses.replace(onnx_host, model=ModelRef(sha256="0" * 64, format="onnx",
                                                             precision="fp32"))
    _save(out / "elsewhere" / "stranger.json", stranger)
    return out


def test_report_joins_checks_and_profiles_by_sha256_and_plots(checked):
    from toolkit.report import find_profiles, write_report

    profiles = find_profiles(checked)
    assert {p.name for p in profiles} == {"onnx-host.json", "litert-host.json",
                                          "onnx-estimate.json", "onnx-static.json",
                                          "stranger.json"}
    paths = write_report(checked / "check.json", profiles, checked)
    assert paths["plot"].read_bytes().startswith(PNG_MAGIC)
    md = paths["markdown"].read_text()
    latency = md.split("## Latency")[1]
    rows = [line for line in latency.splitlines() if line.startswith("| ") and "---" not in line]
    # header + onnx host + litert host + estimate + stranger; the static result has no latency
    assert len(rows) == 5, rows
    assert any("host · onnxruntime CPU" in r and "| measured |" in r for r in rows)
    assert any("host · litert" in r and "XNNPACK" in r for r in rows)
    assert any("Some phone · camkit roofline npu" in r and "| estimated |" in r for r in rows)
    assert any("no check" in r for r in rows)  # the stranger matches no checked artifact
    assert "stranger.json" in md and "match no checked artifact" in md
    assert "worst-sample PSNR of the artifact against the float model" in md  # no --data: parity
    assert "host rows are a proxy" in md and "hollow" in md
    page = paths["html"].read_text()
    assert "data:image/png;base64," in page and "<table>" in page


def test_quality_task_needs_task_results(checked):
    from toolkit.report import find_profiles, write_report

    with pytest.raises(CamkitError, match="--data"):
        write_report(checked / "check.json", find_profiles(checked), checked / "o", "task")


def test_cli_report_and_its_errors(checked, tmp_path):
    done = run_cli("report", str(checked), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "5 profile result(s) joined" in done.stdout
    assert (tmp_path / "psnr_vs_latency.png").read_bytes().startswith(PNG_MAGIC)
    assert done.stderr == ""

    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_cli("report", str(empty))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "run 'camkit check DIR' first" in done.stderr

    broken = tmp_path / "broken.json"
    broken.write_text("{")
    done = run_cli("report", str(checked), "--profiles", str(broken), "--out", str(tmp_path))
    assert done.returncode == 2 and "is not JSON" in done.stderr


def test_missing_matplotlib_names_the_extra(checked, monkeypatch):
    from toolkit.report import find_profiles, write_report

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(CamkitError, match=r"camkit\[report\]"):
        write_report(checked / "check.json", find_profiles(checked), checked / "m")


def test_no_latency_results_still_writes_the_accuracy_tables(checked, tmp_path):
    from toolkit.report import write_report

    paths = write_report(checked / "check.json", [], tmp_path)
    assert "plot" not in paths
    md = paths["markdown"].read_text()
    assert "No latency results" in md and "retouch_csrnet-tiny-fp32" in md
    assert "no latency result for" in md
