"""The host side of the Android app (issue 17) against a fake adb: `camkit app push`,
`camkit profile android-app`, the device rows of `camkit report` and `camkit check
--device-results`.

There is no phone here. ``FakeAdb`` (test_profile_android.py) replays the exact argv camkit must
send and the replies a real adb and the app give; a command that differs fails the test, so
these goldens are the contract with android_demo/ (its HeadlessActivity reads the same extras).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from test_profile_android import FakeAdb

from toolkit import cli
from toolkit.errors import CamkitError
from toolkit.profilers import android_app
from toolkit.profilers.android import Adb
from toolkit.profilers.android_app import ARTIFACTS, RESULTS
from toolkit.profilers.schema import (AppParity, AppRun, Device, Latency, ModelRef,
                                      ProfileError, ProfileResult, Runtime, validate)

PM_PATH = (["adb", "shell", "pm path dev.camkit.demo"], 0,
           "package:/data/app/~~x==/dev.camkit.demo-y==/base.apk\n", "")
MKDIR = (["adb", "shell", f"mkdir -p {ARTIFACTS} {RESULTS}"], 0, "", "")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_artifact(folder: Path, fmt: str = "litert", precision: str = "w8a8",
                   features: bool = False) -> Path:
    """A manifest with its artifact, sample and (``features``) features artifact: the fields
    the host side reads, the model a built-in one so its card has budgets."""
    suffix = {"litert": "tflite", "onnx": "onnx", "coreml": "mlpackage"}[fmt]
    name = f"retouch_csrnet-mobile-{precision}.{suffix}"
    files = {name: f"model {precision} {fmt}".encode(),
             f"{name}.sample.npz": f"sample {precision}".encode()}
    manifest = {"schema": 1, "model_id": "retouch_csrnet", "variant": "mobile",
                "format": fmt, "precision": precision,
                "artifact": {"file": name, "sha256": sha(files[name])}, "io": {},
                "sample": {"file": f"{name}.sample.npz",
                           "sha256": sha(files[f"{name}.sample.npz"])}}
    if features:
        feat = f"{name.removesuffix('.' + suffix)}.statistics.{suffix}"
        files[feat] = b"features artifact"
        manifest["full_resolution"] = {"strategy": "split", "statistics": {
            "artifact": {"file": feat, "sha256": sha(files[feat])}}}
    for file, data in files.items():
        (folder / file).write_bytes(data)
    path = folder / f"{name}.manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def push_exchanges(manifest: Path, on_phone: set[str] = frozenset()) -> list:
    """get-state, pm path, mkdir, then sha256sum (+ push unless the phone has it) per file."""
    ex = [(["adb", "get-state"], 0, "device\n", ""), PM_PATH, MKDIR]
    for up in android_app.bundle(manifest).uploads:
        if up.local.name in on_phone:
            ex.append((["adb", "shell", f"sha256sum {up.remote}"], 0,
                       f"{up.sha256}  {up.remote}\n", ""))
        else:
            ex.append((["adb", "shell", f"sha256sum {up.remote}"], 1, "", "No such file\n"))
            ex.append((["adb", "push", str(up.local), up.remote], 0, "1 file pushed.\n", ""))
    return ex


def app_result(manifest: Path, psnr_db=48.5, error=None, parity=True) -> dict:
    """What the app writes (android_demo/core ProfileJson): schema 2 with the app block."""
    m = json.loads(manifest.read_text())
    return ProfileResult(
        kind="measured",
        runtime=Runtime(name="litert", tool="camkit-android", tool_generation="compiled_model",
                        version="2.1.0", delegate="GPU", accelerator="gpu",
                        options={"backend": "litert-gpu", "strict": "true"}),
        latency=Latency(init_ms=412.0, first_ms=40.0, warmup_mean_ms=12.0, mean_ms=10.5,
                        median_ms=10.25, p5_ms=9.9, p90_ms=11.5, p95_ms=12.0, p99_ms=12.4,
                        min_ms=9.8, max_ms=12.5, std_ms=0.7, n=20),
        model=ModelRef(sha256=m["artifact"]["sha256"], format=m["format"],
                       precision=m["precision"], manifest=manifest.name),
        device=Device(model="Pixel 8", soc="Tensor G3", os="Android 15", abi="arm64-v8a"),
        argv=["am", "start"], error=error,
        app=AppRun(name="camkit-android", version="0.1.0", backend="litert-gpu", strict=True,
                   load_cold_ms=412.0, load_warm_ms=80.0, preprocess_ms=3.0,
                   postprocess_ms=2.0, input_size=[256, 256], thermal_before="none",
                   thermal_after="light", fallback_ops=[],
                   parity=[AppParity("output", psnr_db, 0.01)] if parity else None),
    ).to_json()


# ------------------------------------------------------------------------------------ push


def test_push_sends_every_file_once_and_skips_what_the_phone_has(tmp_path, capsys,
                                                                monkeypatch):
    manifest = write_artifact(tmp_path, features=True)
    names = [up.local.name for up in android_app.bundle(manifest).uploads]
    assert names == [manifest.name, "retouch_csrnet-mobile-w8a8.tflite",
                     "retouch_csrnet-mobile-w8a8.tflite.sample.npz",
                     "retouch_csrnet-mobile-w8a8.statistics.tflite"]
    fake = FakeAdb(push_exchanges(manifest, on_phone={names[1]}))
    monkeypatch.setattr("toolkit.profilers.android.default_executor", fake)
    assert cli.main(["app", "push", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert fake.done()
    assert f"up to date {names[1]}" in out and f"pushed     {names[3]}" in out
    assert f"3 of 4 files copied to {ARTIFACTS}" in out


def test_push_dry_run_lists_the_adb_commands(tmp_path, capsys):
    manifest = write_artifact(tmp_path)
    assert cli.main(["app", "push", str(tmp_path), "--serial", "R5", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# adb commands 'app push' issues")
    assert lines[1:4] == ["adb -s R5 get-state", "adb -s R5 shell 'pm path dev.camkit.demo'",
                          f"adb -s R5 shell 'mkdir -p {ARTIFACTS} {RESULTS}'"]
    sample = "retouch_csrnet-mobile-w8a8.tflite.sample.npz"
    assert manifest.name.startswith("retouch_csrnet-mobile-w8a8.tflite")
    assert lines[-1] == f"adb -s R5 push {tmp_path / sample} {ARTIFACTS}/{sample}"


def test_push_refuses_a_changed_file_a_coreml_artifact_and_a_missing_app(tmp_path):
    manifest = write_artifact(tmp_path)
    (tmp_path / "retouch_csrnet-mobile-w8a8.tflite.sample.npz").write_bytes(b"edited")
    with pytest.raises(CamkitError, match="sample.npz no longer matches.*re-export"):
        android_app.bundle(manifest)
    coreml = write_artifact(tmp_path, fmt="coreml")
    with pytest.raises(CamkitError, match="coreml artifact.*ios_demo"):
        android_app.bundle(coreml)
    fine = write_artifact(tmp_path, precision="fp32")
    fake = FakeAdb([(["adb", "get-state"], 0, "device\n", ""),
                    (PM_PATH[0], 0, "", "")])
    with pytest.raises(CamkitError, match="not installed.*installStandardDebug"):
        android_app.push(list(android_app.bundle(fine).uploads), Adb(executor=fake))


# --------------------------------------------------------------------------------- profile


def run_exchanges(manifest: Path, plan, result: dict | None, polls: list[str]) -> tuple:
    remote = plan.result_remote
    ex = push_exchanges(manifest, on_phone={p.name for p in manifest.parent.iterdir()})
    ex.append((["adb", "shell", f"rm -f {remote} {remote}.partial"], 0, "", ""))
    ex.append((android_app.start_argv(plan, Adb()), 0,
               "Starting: Intent { act=dev.camkit.demo.action.BENCHMARK }\nStatus: ok\n", ""))
    for state in polls:
        ex.append((android_app.poll_argv(plan, Adb()), 0, f"{state}\n", ""))
    pulls = {}
    if result is not None:
        ex.append((["adb", "pull", remote, "<host temp file>"], 0, "1 file pulled.\n", ""))
        pulls[remote] = json.dumps(result).encode()
    return FakeAdb(ex, pulls), ex


def test_the_headless_intent_is_exactly_what_the_app_reads(tmp_path):
    plan = android_app.plan_app_run(write_artifact(tmp_path), "litert-gpu", runs=20, warmup=3)
    assert android_app.start_argv(plan, Adb("R5")) == [
        "adb", "-s", "R5", "shell",
        "am start -W -n dev.camkit.demo/.HeadlessActivity -a dev.camkit.demo.action.BENCHMARK "
        "--es manifest retouch_csrnet-mobile-w8a8.tflite.manifest.json --es backend litert-gpu "
        f"--ei runs 20 --ei warmup 3 --ez strict true --es out {plan.out_name}"]
    assert plan.out_name == f"{plan.bundle.artifact_sha256[:12]}-litert-gpu.json"


def test_profile_android_app_waits_pulls_and_validates(tmp_path):
    manifest = write_artifact(tmp_path)
    plan = android_app.plan_app_run(manifest, "litert-gpu", runs=20, warmup=3)
    fake, _ = run_exchanges(manifest, plan, app_result(manifest), ["running", "running", "done"])
    slept = []
    result = android_app.profile_android_app(plan, Adb(executor=fake), sleep=slept.append)
    assert fake.done() and slept == [2.0, 2.0]
    assert result.app.parity[0].psnr_db == 48.5 and result.app.backend == "litert-gpu"
    assert result.model.manifest == str(manifest) and result.argv[-1].startswith("am start")
    validate(result.to_json())


def test_a_crashed_app_and_a_timeout_are_results_with_an_error(tmp_path):
    manifest = write_artifact(tmp_path)
    plan = android_app.plan_app_run(manifest, "litert-npu")
    fake, _ = run_exchanges(manifest, plan, None, ["running", "gone", "gone"])
    result = android_app.profile_android_app(plan, Adb(executor=fake), sleep=lambda s: None)
    assert fake.done() and result.error.kind == "crashed" and "logcat" in result.error.message
    validate(result.to_json())
    fake, _ = run_exchanges(manifest, plan, None, ["running"] * 3)
    result = android_app.profile_android_app(plan, Adb(executor=fake), timeout_s=4.0,
                                             sleep=lambda s: None)
    assert fake.done() and result.error.kind == "truncated"


def test_a_result_for_another_artifact_or_off_schema_is_refused(tmp_path):
    manifest = write_artifact(tmp_path)
    plan = android_app.plan_app_run(manifest, "litert-cpu")
    other = app_result(manifest)
    other["model"]["sha256"] = "f" * 64
    fake, _ = run_exchanges(manifest, plan, other, ["done"])
    with pytest.raises(CamkitError, match="ffffffffffff, not .*push again"):
        android_app.profile_android_app(plan, Adb(executor=fake))
    broken = app_result(manifest)
    del broken["app"]["parity"]
    fake, _ = run_exchanges(manifest, plan, broken, ["done"])
    with pytest.raises(CamkitError, match="does not match the profile schema.*update the app"):
        android_app.profile_android_app(plan, Adb(executor=fake))


def test_backend_and_format_must_agree(tmp_path):
    manifest = write_artifact(tmp_path)
    with pytest.raises(CamkitError, match="runs onnx artifacts.*litert-cpu, litert-gpu"):
        android_app.plan_app_run(manifest, "ort-nnapi")
    with pytest.raises(CamkitError, match="did you mean 'litert-gpu'"):
        android_app.plan_app_run(manifest, "litert-gpuu")


def test_profile_android_app_dry_run_and_old_spelling(tmp_path, capsys):
    manifest = write_artifact(tmp_path, fmt="onnx")
    assert cli.main(["profile", "android-app", str(manifest), "--backend", "ort-xnnpack",
                     "--runs", "30", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "--es backend ort-xnnpack --ei runs 30 --ei warmup 2 --ez strict true" in out
    assert out.rstrip().endswith("RESULT_JSON")
    assert cli.main(["profile", "run", str(manifest), "--on", "android-app", "--backend",
                     "ort-nnapi", "--no-strict", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "--ez strict false" in captured.out and "deprecated" in captured.err
    assert cli.main(["profile", "android-app", str(manifest), "--dry-run"]) == 2
    assert "needs --backend" in capsys.readouterr().err


# ------------------------------------------------------------------------- report and check


def test_report_shows_app_rows_with_on_device_parity(tmp_path):
    from toolkit.report import Artifact, join, latency_table, notes

    manifest = write_artifact(tmp_path)
    result = ProfileResult.from_json(app_result(manifest, psnr_db=41.25))
    m = json.loads(manifest.read_text())
    artifact = Artifact(m["artifact"]["sha256"], "retouch_csrnet-mobile", "litert", "w8a8",
                        manifest.name, "artifact", True, 44.0, 0.99, None, None)
    rows = join([artifact], [result], [tmp_path / "r.json"])
    head, row = latency_table(rows)
    assert row[head.index("target")] == "Pixel 8 · app litert-gpu"
    assert row[head.index("on-device PSNR (dB)")] == "41.25"
    assert row[head.index("PSNR vs float (dB)")] == "44.00"
    assert any("camkit app on the phone" in n for n in notes([artifact], rows, "parity"))


def test_check_device_results_gates_on_the_cards_budget(tmp_path, capsys):
    art, res = tmp_path / "artifacts", tmp_path / "results"
    art.mkdir()
    res.mkdir()
    good = write_artifact(art, precision="w8a8")      # card: litert w8a8 psnr_db_min 30
    bad = write_artifact(art, precision="fp16")       # card: litert fp16 psnr_db_min 40
    (res / "good.json").write_text(json.dumps(app_result(good, psnr_db="inf")))
    (res / "bad.json").write_text(json.dumps(app_result(bad, psnr_db=35.0)))
    assert cli.main(["check", str(art), "--device-results", str(res)]) == 1
    out = capsys.readouterr().out
    row = "| retouch_csrnet-mobile-{} | Pixel 8 | litert-gpu | {} | 0.01 | ≥ {} | {} |"
    assert row.format("fp16.tflite", "35.00", 40, "FAIL") in out
    assert row.format("w8a8.tflite", "identical", 30, "pass") in out
    report = json.loads((art / "device_check.json").read_text())
    assert report["passed"] is False and len(report["rows"]) == 2
    (res / "bad.json").write_text(json.dumps(app_result(bad, psnr_db=45.0)))
    assert cli.main(["check", str(art), "--device-results", str(res)]) == 0
    capsys.readouterr()


def test_check_device_results_fails_a_run_that_failed_or_measured_no_parity(tmp_path, capsys):
    art, res = tmp_path / "artifacts", tmp_path / "results"
    art.mkdir()
    res.mkdir()
    m = write_artifact(art)
    failed = app_result(m, error=ProfileError("tool_error", "GPU delegate refused 3 ops"))
    (res / "failed.json").write_text(json.dumps(failed))
    (res / "unmeasured.json").write_text(json.dumps(app_result(m, parity=False)))
    host = app_result(m)
    host["app"] = None
    (res / "host.json").write_text(json.dumps(host))
    assert cli.main(["check", str(art), "--device-results", str(res)]) == 1
    out = capsys.readouterr().out
    assert "FAIL: the run failed on the phone: tool_error: GPU delegate refused 3 ops" in out
    assert "FAIL: the app measured no on-device parity" in out
    assert "host.json: not from a camkit app" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CamkitError, match="no profile result JSON under"):
        from toolkit.checks.device import check_device_results
        check_device_results(art, empty)
