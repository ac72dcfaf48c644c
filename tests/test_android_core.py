"""android_demo/:core (Kotlin/JVM, issue 17) built and tested without Gradle by
scripts/android_core_test.sh against camkit's golden fixtures, and the profile results its
benchmark tests write: valid against the host's schema, read back, joined by `camkit report`.

The toolchain (kotlin-compiler from the npm registry, junit5 and libgoogle-gson-java from
Debian) is fetched once into android_demo/.tools/; a machine that cannot fetch it fails here
with the reason, unless CAMKIT_SKIP_APPS=1 says to skip the apps' tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from toolkit.profilers.schema import ProfileResult, validate

SCRIPT = REPO / "scripts" / "android_core_test.sh"
CONTRACT = REPO / "android_demo" / "core" / "build-jvm" / "contract"
FIXTURE_MANIFESTS = REPO / "android_demo" / "core" / "build-jvm" / "fixtures" / "manifests"
#: what the script prints last: "android core: N tests passed, M failed; ..."
SUMMARY = re.compile(r"android core: (\d+) tests passed, (\d+) failed")
#: the script's exit status when the toolchain cannot be fetched
TOOLCHAIN_MISSING = 3


@pytest.fixture(scope="module")
def core_run() -> subprocess.CompletedProcess:
    """One run of the script (a warm cache: seconds; a cold one: about a minute)."""
    if os.environ.get("CAMKIT_SKIP_APPS") == "1":
        pytest.skip("CAMKIT_SKIP_APPS=1: the apps' cores are not built here")
    result = subprocess.run(["bash", str(SCRIPT)], cwd=REPO, capture_output=True, text=True,
                            timeout=600)
    if result.returncode == TOOLCHAIN_MISSING:
        pytest.fail("the Kotlin toolchain for android_demo/:core could not be set up: "
                    f"{(result.stderr.strip().splitlines() or ['no message'])[-1]} (set "
                    "CAMKIT_SKIP_APPS=1 to skip "
                    "the apps' tests on a machine without npm and Debian's apt)", pytrace=False)
    return result


def test_core_tests_run_and_pass(core_run):
    out = core_run.stdout + core_run.stderr
    match = SUMMARY.search(out)
    assert match, f"no summary from {SCRIPT.name}:\n{out[-4000:]}"
    passed, failed = int(match[1]), int(match[2])
    assert core_run.returncode == 0 and failed == 0, out[-8000:]
    assert passed >= 50, f"only {passed} Kotlin tests ran"


def _results() -> list[Path]:
    return sorted(CONTRACT.glob("*.json"))


def test_result_json_matches_the_schema(core_run):
    paths = _results()
    assert len(paths) >= 6, f"the Kotlin benchmark tests wrote {len(paths)} results to {CONTRACT}"
    kinds = set()
    for path in paths:
        obj = json.loads(path.read_text())
        validate(obj)  # the host's JSON schema (schema 2, app block included)
        result = ProfileResult.from_json(obj)
        assert result.schema == 2 and result.app is not None, path.name
        assert result.app.name == "camkit-android" and result.runtime.tool == "camkit-android"
        kinds.add(result.error.kind if result.error else "ok")
        if result.error is None:
            lat = result.latency
            assert lat.n and lat.n > 0 and lat.min_ms <= lat.median_ms <= lat.max_ms, path.name
            assert result.app.parity and result.app.input_size == [16, 24], path.name
            assert result.app.load_cold_ms == lat.init_ms is not None
        else:
            assert "\n" not in result.error.message and result.error.message, path.name
    assert {"ok", "tool_error", "crashed"} <= kinds


def test_results_join_in_camkit_report(core_run, tmp_path):
    """camkit report ingests the app's results as device rows beside the check's artifacts."""
    manifests = [json.loads(p.read_text()) for p in
                 sorted(FIXTURE_MANIFESTS.glob("toy-*.manifest.json"))]
    assert len(manifests) == 2
    rows = [{"manifest": str(FIXTURE_MANIFESTS / f"{m['artifact']['file']}.manifest.json"),
             "artifact_sha256": m["artifact"]["sha256"], "model_id": m["model_id"],
             "variant": m["variant"], "format": m["format"], "precision": m["precision"],
             "mode": "parity", "passed": True, "worst_psnr_db": 45.0, "worst_ssim": 0.99,
             "task": None} for m in manifests]
    (tmp_path / "check.json").write_text(json.dumps({"artifacts": rows}))
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for path in _results():
        shutil.copy(path, profiles / path.name)
    result = run_cli("report", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"{len(_results())} profile result(s) joined" in result.stdout
    report = (tmp_path / "report.md").read_text()
    assert "Pixel 8 · app litert-gpu" in report and "Pixel 8 · app ort-cpu" in report
    assert "app litert-npu" not in report  # a refused run has no latency row


BUILD = REPO / "android_demo" / "core" / "build-jvm"


def _inspect(*manifests: Path) -> subprocess.CompletedProcess:
    """The Kotlin core's InspectKt on real manifests (classpath from the script's build)."""
    stdlib = REPO / "android_demo" / ".tools" / "npm" / "node_modules" / "kotlin-compiler" / \
        "lib" / "kotlin-stdlib.jar"
    classpath = f"{BUILD / 'core.jar'}:{REPO / 'android_demo' / '.tools' / 'jars' / 'gson.jar'}:"\
        f"{stdlib}"
    return subprocess.run(["java", "-cp", classpath, "dev.camkit.core.InspectKt",
                           *map(str, manifests)], capture_output=True, text=True, timeout=120)


def test_the_core_reads_real_exports_as_numpy_does(core_run, tiny_onnx, tiny_litert, tmp_path):
    """Freshly exported artifacts (not fixtures): the Kotlin core accepts their manifests,
    reads their deflated samples to the same float32 bytes as numpy, takes the card's budget,
    and its pixel round trip of the sample photo agrees with camkit's rule."""
    import hashlib

    import numpy as np

    from toolkit.registry import card

    assert core_run.returncode == 0, core_run.stderr[-2000:]
    done = _inspect(tiny_onnx, tiny_litert)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    for manifest_path, got in zip((tiny_onnx, tiny_litert), lines, strict=True):
        manifest = json.loads(manifest_path.read_text())
        assert got["ok"] and got["format"] == manifest["format"]
        budget = card("retouch_csrnet").tolerance(manifest["format"], "fp32").psnr_db_min
        assert got["psnr_budget_db"] == manifest["budget"]["psnr_db_min"] == budget
        assert [t["shape"] for t in got["inputs"]] == \
            [t["shape"] for t in manifest["io"]["inputs"]]
        with np.load(manifest_path.parent / manifest["sample"]["file"]) as sample:
            assert sorted(got["arrays"]) == sorted(sample.files)
            for key in sample.files:
                values = sample[key].astype("<f4")
                assert got["arrays"][key]["shape"] == list(values.shape), key
                assert got["arrays"][key]["sha256"] == \
                    hashlib.sha256(values.tobytes()).hexdigest(), key
            photo = sample["in/image"]
            back = np.floor(np.clip(photo, 0, 1) * np.float32(255) + np.float32(0.5)) \
                / np.float32(255)
            assert got["arrays"]["in/image"]["repack_max_abs"] == pytest.approx(
                float(np.abs(back.astype(np.float32) - photo).max()), abs=1e-7)
    # a changed artifact is refused as the app would refuse it, in one line
    artifact = tiny_onnx.parent / json.loads(tiny_onnx.read_text())["artifact"]["file"]
    copy = tmp_path / artifact.name
    shutil.copytree(tiny_onnx.parent, tmp_path, dirs_exist_ok=True)
    copy.write_bytes(copy.read_bytes() + b"\0")
    refused = _inspect(tmp_path / tiny_onnx.name)
    assert refused.returncode == 1
    line = json.loads(refused.stdout)
    assert not line["ok"] and "sha256" in line["error"] and "camkit app push" in line["error"]
