"""The gate must be able to fail: broken artifacts, changed files, broken task budgets."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from toolkit import artifacts
from toolkit.checks.gate import run_checks
from toolkit.checks.metrics import max_abs, psnr_db, ssim


def _copy_artifact(manifest, dst):
    """Copy one artifact with its manifest and sample into ``dst``; returns the new manifest."""
    data = json.loads(manifest.read_text())
    for name in (data["artifact"]["file"], data["sample"]["file"], manifest.name):
        shutil.copy(manifest.parent / name, dst / name)
    return dst / manifest.name, data


def _break_onnx_weights(manifest, scale=1.2):
    """Scale one conv weight of the ONNX model and re-sign the manifest, as a buggy converter would."""
    import onnx
    from onnx import numpy_helper

    data = json.loads(manifest.read_text())
    path = manifest.parent / data["artifact"]["file"]
    model = onnx.load(str(path))
    init = next(i for i in model.graph.initializer if len(i.dims) == 4)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * scale, init.name))
    onnx.save(model, str(path))
    data["artifact"]["sha256"] = artifacts.sha256_path(path)
    manifest.write_text(json.dumps(data))


def test_metrics_basics():
    a = np.random.default_rng(0).random((32, 32, 3))
    assert psnr_db(a, a) == float("inf") and ssim(a, a) == pytest.approx(1.0)
    b = a + 0.01
    assert psnr_db(a, b) == pytest.approx(40.0, abs=1e-6)
    assert max_abs(a, b) == pytest.approx(0.01)
    assert ssim(a, np.random.default_rng(1).random((32, 32, 3))) < 0.2


def test_gate_passes_good_artifact_and_writes_reports(tiny_onnx, tmp_path):
    manifest, _ = _copy_artifact(tiny_onnx, tmp_path)
    results, paths = run_checks(tmp_path, max_images=2, progress=False)
    assert [r.passed for r in results] == [True]
    assert json.loads(paths["json"].read_text())["passed"] is True
    suite = ET.parse(paths["junit"]).getroot()
    assert suite.get("tests") == "1" and suite.get("failures") == "0"
    assert "PASS" in paths["markdown"].read_text()


def test_gate_fails_on_broken_artifact(tiny_onnx, tmp_path):
    manifest, _ = _copy_artifact(tiny_onnx, tmp_path)
    _break_onnx_weights(manifest)
    results, paths = run_checks(tmp_path, max_images=2, progress=False)
    assert not results[0].passed
    assert any("PSNR vs torch" in p for p in results[0].problems)
    assert ET.parse(paths["junit"]).getroot().get("failures") == "1"
    assert "FAIL" in paths["markdown"].read_text()


def test_gate_fails_when_artifact_changed_after_export(tiny_onnx, tmp_path):
    manifest, data = _copy_artifact(tiny_onnx, tmp_path)
    path = tmp_path / data["artifact"]["file"]
    path.write_bytes(path.read_bytes() + b"\0")
    results, _ = run_checks(tmp_path, max_images=1, progress=False)
    assert any("changed since export" in p for p in results[0].problems)


def test_task_check_reports_drop(tiny_onnx, tmp_path):
    from PIL import Image

    art = tmp_path / "art"
    art.mkdir()
    manifest, _ = _copy_artifact(tiny_onnx, art)
    rng = np.random.default_rng(0)
    for sub in ("input", "target"):
        (tmp_path / "pairs" / sub).mkdir(parents=True)
    for i in range(2):
        img = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
        Image.fromarray(img).save(tmp_path / "pairs" / "input" / f"{i}.png")
        Image.fromarray(255 - img).save(tmp_path / "pairs" / "target" / f"{i}.png")
    results, _ = run_checks(art, data_dir=tmp_path / "pairs", max_images=2, progress=False)
    task = results[0].task
    assert task["pairs"] == 2 and abs(task["drop_db"]) < 0.05
    assert results[0].passed

    _break_onnx_weights(manifest, scale=3.0)
    results, _ = run_checks(art, data_dir=tmp_path / "pairs", max_images=2, progress=False)
    assert results[0].task["drop_db"] != pytest.approx(0.0, abs=1e-6)


def test_max_drop_db_fails_quantized_artifact_below_its_real_drop(tmp_path):
    pytest.importorskip("nncf")
    from PIL import Image

    from toolkit.export import export_artifacts, make_spec, resolve_weights

    spec = make_spec("retouch_csrnet", "tiny", None, "nchw", False)
    weights = resolve_weights("retouch_csrnet", "tiny", None, False)
    export_artifacts(spec, weights, ["onnx"], ["w8a8"], tmp_path / "art", progress=False)
    rng = np.random.default_rng(0)
    for sub in ("input", "target"):
        (tmp_path / "pairs" / sub).mkdir(parents=True)
    for i in range(3):
        img = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
        Image.fromarray(img).save(tmp_path / "pairs" / "input" / f"{i}.png")
        Image.fromarray(np.clip(img * 1.1, 0, 255).astype(np.uint8)).save(
            tmp_path / "pairs" / "target" / f"{i}.png"
        )
    [result], _ = run_checks(tmp_path / "art", data_dir=tmp_path / "pairs", progress=False)
    drop = result.task["drop_db"]
    assert drop != 0.0, "an 8-bit artifact must differ from the float model on real pixels"
    [loose], _ = run_checks(tmp_path / "art", data_dir=tmp_path / "pairs", progress=False,
                            max_drop_db=abs(drop) + 0.01)
    assert not any("task PSNR drop" in p for p in loose.problems)
    [tight], _ = run_checks(tmp_path / "art", data_dir=tmp_path / "pairs", progress=False,
                            max_drop_db=drop - 0.01)
    assert any("task PSNR drop" in p for p in tight.problems) and not tight.passed
    assert tight.budget["task_drop_db_max"] == pytest.approx(drop - 0.01)
