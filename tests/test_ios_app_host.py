"""The host side of the iOS app (issue 18) against a fake ``xcrun devicectl``: `camkit app push
--ios` and `camkit profile ios-app`.

There is no Mac and no iPhone here. ``FakeCtl`` replays the exact argv camkit must send and the
replies devicectl gives (its copies write files, as the real one does); a command that differs
fails the test, so these goldens are the contract with ios_demo/ (the app reads the same launch
arguments).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shlex
from pathlib import Path

import pytest

from test_android_app_host import app_result
from toolkit import cli
from toolkit.errors import CamkitError
from toolkit.profilers import ios_app
from toolkit.profilers.ios_app import ARTIFACTS, INDEX, RESULTS, Devicectl
from toolkit.profilers.schema import validate

UDID = "00008130-000630CE0146001C"
TEMP = "<host temp file>"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_package(folder: Path, precision: str = "fp16") -> Path:
    """A Core ML manifest beside its .mlpackage folder (two files) and its sample."""
    from toolkit.artifacts import sha256_path

    name = f"retouch_csrnet-paper-{precision}.mlpackage"
    package = folder / name
    (package / "Data" / "com.apple.CoreML" / "weights").mkdir(parents=True)
    (package / "Manifest.json").write_text('{"fileFormatVersion": "1.0.0"}')
    (package / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(b"spec")
    (package / "Data" / "com.apple.CoreML" / "weights" / "weight.bin").write_bytes(b"w" * 64)
    sample = folder / f"{name}.sample.npz"
    sample.write_bytes(b"sample")
    manifest = folder / f"{name}.manifest.json"
    manifest.write_text(json.dumps({
        "schema": 1, "model_id": "retouch_csrnet", "variant": "paper", "format": "coreml",
        "precision": precision, "artifact": {"file": name, "sha256": sha256_path(package)},
        "io": {}, "sample": {"file": sample.name, "sha256": sha(b"sample")}}))
    return manifest


class FakeCtl:
    """Replays (argv, returncode, stdout, stderr, bytes a 'copy from' writes or None)."""

    def __init__(self, exchanges):
        self.exchanges = list(exchanges)
        self.pushed_index = None

    def __call__(self, argv, timeout_s):
        assert self.exchanges, f"unexpected call: {shlex.join(argv)}"
        expected, rc, out, err, data = self.exchanges.pop(0)
        assert len(argv) == len(expected) and all(  # camkit picks host temp paths itself
            e == TEMP or a == e for a, e in zip(argv, expected)), shlex.join(argv)
        if argv[4] == "from" and data is not None:
            Path(argv[-1]).write_bytes(data)
        if argv[4] == "to" and argv[-1] == INDEX:
            self.pushed_index = json.loads(Path(argv[argv.index("--source") + 1]).read_text())
        return rc, out, err

    def done(self) -> bool:
        return not self.exchanges


def push_exchanges(manifest: Path, index: dict | None) -> list:
    ctl = Devicectl(UDID)
    ex = [(ctl.copy_from(INDEX, TEMP), 0 if index is not None else 1, "",
           "" if index is not None else "ERROR: file not found",
           None if index is None else json.dumps(index).encode())]
    fresh = False
    for up in ios_app.bundle(manifest).uploads:
        if (index or {}).get(up.remote) != up.sha256:
            ex.append((ctl.copy_to(up.local, up.remote), 0, "", "", None))
            fresh = True
    if fresh:
        ex.append((ctl.copy_to(Path(TEMP), INDEX), 0, "", "", None))
    return ex


def test_a_package_is_pushed_file_by_file_and_the_index_skips_what_is_there(tmp_path, capsys):
    manifest = write_package(tmp_path)
    remotes = [up.remote for up in ios_app.bundle(manifest).uploads]
    assert remotes == [f"{ARTIFACTS}/{manifest.name}",
                       f"{ARTIFACTS}/retouch_csrnet-paper-fp16.mlpackage/Data/com.apple.CoreML/"
                       "model.mlmodel",
                       f"{ARTIFACTS}/retouch_csrnet-paper-fp16.mlpackage/Data/com.apple.CoreML/"
                       "weights/weight.bin",
                       f"{ARTIFACTS}/retouch_csrnet-paper-fp16.mlpackage/Manifest.json",
                       f"{ARTIFACTS}/retouch_csrnet-paper-fp16.mlpackage.sample.npz"]
    uploads = list(ios_app.bundle(manifest).uploads)
    first = FakeCtl(push_exchanges(manifest, None))
    assert ios_app.push(uploads, Devicectl(UDID, first)) == 5 and first.done()
    assert first.pushed_index == {up.remote: up.sha256 for up in uploads}
    # a second push with that index on the phone copies nothing, not even the index
    again = FakeCtl(push_exchanges(manifest, first.pushed_index))
    assert ios_app.push(uploads, Devicectl(UDID, again)) == 0 and again.done()


def test_push_ios_dry_run_on_any_os_and_a_clear_error_off_macos(tmp_path, capsys, monkeypatch):
    manifest = write_package(tmp_path)
    assert cli.main(["app", "push", "--ios", "--device", UDID, str(tmp_path), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == ("xcrun devicectl device copy from --device " + UDID + " --domain-type "
                        "appDataContainer --domain-identifier dev.camkit.demo --source "
                        f"{INDEX} --destination INDEX_JSON")
    assert lines[2].endswith(f"--destination {ARTIFACTS}/{manifest.name}")
    assert len(lines) == 1 + 1 + 5 + 1
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    assert cli.main(["app", "push", "--ios", "--device", UDID, str(manifest)]) == 2
    assert "needs a Mac with Xcode 15+" in capsys.readouterr().err
    assert cli.main(["app", "push", "--ios", str(manifest), "--dry-run"]) == 2
    assert "--device UDID" in capsys.readouterr().err


def test_push_ios_refuses_android_artifacts_and_a_changed_package(tmp_path):
    manifest = write_package(tmp_path)
    (tmp_path / "retouch_csrnet-paper-fp16.mlpackage" / "Manifest.json").write_text("{}")
    with pytest.raises(CamkitError, match="mlpackage no longer matches.*re-export"):
        ios_app.bundle(manifest)
    obj = json.loads(manifest.read_text())
    obj["format"] = "litert"
    manifest.write_text(json.dumps(obj))
    with pytest.raises(CamkitError, match="litert artifact.*android_demo"):
        ios_app.bundle(manifest)


def test_profile_ios_app_launches_polls_and_validates(tmp_path):
    manifest = write_package(tmp_path)
    plan = ios_app.plan_ios_run(manifest, "coreml-ane", runs=20, warmup=3)
    assert plan.arguments() == [
        "-camkitManifest", manifest.name, "-camkitBackend", "coreml-ane", "-camkitRuns", "20",
        "-camkitWarmup", "3", "-camkitStrict", "1", "-camkitOut", plan.out_name]
    ctl = Devicectl(UDID)
    index = {up.remote: up.sha256 for up in plan.bundle.uploads}
    result = app_result(manifest, psnr_db=52.0)
    result["app"].update(name="camkit-ios", backend="coreml-ane")
    result["runtime"].update(name="coreml", tool="camkit-ios", tool_generation=None)
    missing = (ctl.copy_from(plan.result_remote, TEMP), 1, "", "not found", None)
    fake = FakeCtl([*push_exchanges(manifest, index),
                    (ctl.launch(plan.arguments()), 0, "Launched application\n", "", None),
                    missing, missing,
                    (ctl.copy_from(plan.result_remote, TEMP), 0, "", "",
                     json.dumps(result).encode())])
    slept = []
    got = ios_app.profile_ios_app(plan, Devicectl(UDID, fake), sleep=slept.append)
    assert fake.done() and slept == [3.0, 3.0]
    assert got.app.name == "camkit-ios" and got.app.worst_parity_db() == 52.0
    assert got.argv[:6] == ["xcrun", "devicectl", "device", "process", "launch", "--device"]
    assert plan.result_remote == f"{RESULTS}/{plan.out_name}"
    validate(got.to_json())
    timeout = FakeCtl([*push_exchanges(manifest, index),
                       (ctl.launch(plan.arguments()), 0, "", "", None), missing, missing])
    got = ios_app.profile_ios_app(plan, Devicectl(UDID, timeout), timeout_s=3.0,
                                  sleep=lambda s: None)
    assert timeout.done() and got.error.kind == "truncated"


def test_profile_ios_app_dry_run_and_old_spelling(tmp_path, capsys):
    manifest = write_package(tmp_path)
    assert cli.main(["profile", "ios-app", str(manifest), "--device", UDID, "--backend",
                     "coreml-gpu", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == shlex.join([
        "xcrun", "devicectl", "device", "process", "launch", "--device", UDID,
        "--terminate-existing", "dev.camkit.demo", "--", "-camkitManifest", manifest.name,
        "-camkitBackend", "coreml-gpu", "-camkitRuns", "10", "-camkitWarmup", "2",
        "-camkitStrict", "1", "-camkitOut", out[-1].split("/")[-1].split()[0]])
    assert cli.main(["profile", "run", str(manifest), "--on", "ios-app", "--device", UDID,
                     "--backend", "coreml-ane", "--no-strict", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "-camkitStrict 0" in captured.out and "deprecated" in captured.err
    assert cli.main(["profile", "run", str(manifest), "--on", "ios-app", "--backend",
                     "coreml-ane", "--dry-run"]) == 2
    assert "needs --device" in capsys.readouterr().err
    with pytest.raises(CamkitError, match="did you mean 'coreml-ane'"):
        ios_app.plan_ios_run(manifest, "coreml-anee")
