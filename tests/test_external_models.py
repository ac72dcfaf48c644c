"""Models from outside the package: a model folder anywhere (by path, ``--models DIR``,
``CAMKIT_MODEL_PATH``) and an installed plugin (``camkit.models`` entry point) go through the same
commands as a built-in: export (three formats, fp32 and w8a8) -> check -> profile (host) ->
report; ``check`` refuses code that changed since the export; ids must not collide.

The model is tests/external_models/toy_isp (model.py importing a sibling module, card.yaml),
copied into a temporary folder so the test can change its code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

TOY = REPO / "tests" / "external_models" / "toy_isp"


def _cli(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """camkit in a fresh process, run outside the repo (the package comes from this checkout)."""
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), full.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "toolkit.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=full, timeout=900)


@pytest.fixture
def models(tmp_path) -> Path:
    shutil.copytree(TOY, tmp_path / "models" / "toy_isp",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "models"


def test_a_model_folder_goes_export_check_profile_report(models, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("coremltools")
    listed = _cli("list", "--models", models, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "toy_isp  (enhance;" in listed.stdout and f"from folder {models / 'toy_isp'}" in listed.stdout

    exported = _cli("export", "models/toy_isp", "--variant", "tiny", "--random-weights",
                    "--format", "onnx,litert,coreml", "--precision", "fp32,w8a8", "--out", "art",
                    cwd=tmp_path)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    folder = tmp_path / "art" / "toy_isp" / "tiny"
    manifests = sorted(folder.glob("*.manifest.json"))
    assert len(manifests) == 6
    source = json.loads(manifests[0].read_text())["model_source"]
    assert source["kind"] == "folder" and source["folder"] == str(models / "toy_isp")
    assert len(source["code_sha256"]) == 64

    # a fresh process finds the model again from the manifest alone
    checked = _cli("check", "art", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    onnx = folder / "toy_isp-tiny-w8a8.onnx.manifest.json"
    profiled = _cli("profile", "run", onnx, "--on", "host", "--runs", "3",
                    "--json", tmp_path / "art" / "profiles" / "w8a8.json", cwd=tmp_path)
    assert profiled.returncode == 0, profiled.stderr
    reported = _cli("report", "art", cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    assert "toy_isp" in (tmp_path / "art" / "report.md").read_text()

    # run: the model (torch) and its artifact on a photo of the artifact's size
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (32, 32), (90, 140, 200)).save(photos / "flat.png")
    ran = _cli("run", onnx, photos, "--out", "by_artifact", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "by_artifact" / "flat.png").is_file()
    untrained = _cli("run", "models/toy_isp", "--variant", "tiny", photos, "--out", "by_model",
                     cwd=tmp_path)
    assert untrained.returncode == 2 and "no checkpoint ships for toy_isp/tiny" in untrained.stderr

    # changed code: its float reference is no longer the exported model's
    with open(models / "toy_isp" / "blocks.py", "a") as f:
        f.write("\n# edited after the export\n")
    stale = _cli("check", "art", cwd=tmp_path)
    assert stale.returncode != 0
    assert "changed since this artifact was exported" in stale.stderr
    assert "Traceback" not in stale.stderr


def test_camkit_model_path_and_collisions(models, tmp_path):
    pytest.importorskip("onnxruntime")
    env = {"CAMKIT_MODEL_PATH": str(models)}
    exported = _cli("export", "toy_isp", "--variant", "tiny", "--random-weights", "--format",
                    "onnx", "--precision", "fp32", "--out", "art", cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stdout + exported.stderr

    clash = tmp_path / "clash" / "retouch_csrnet"
    shutil.copytree(TOY, clash, ignore=shutil.ignore_patterns("__pycache__"))
    listed = _cli("list", "--models", clash.parent, cwd=tmp_path)
    assert listed.returncode == 2 and listed.stderr.count("\n") == 1
    assert "model id 'retouch_csrnet' is both built-in and folder" in listed.stderr

    unknown = _cli("export", "toy_isq", cwd=tmp_path, env=env)
    assert unknown.returncode == 2 and "did you mean 'toy_isp'" in unknown.stderr
    not_a_model = _cli("export", "./nowhere/at_all", cwd=tmp_path)
    assert not_a_model.returncode == 2 and "is not a model folder" in not_a_model.stderr


def test_a_mismatched_spec_id_is_named(models, tmp_path):
    renamed = models.parent / "other" / "my_isp"
    shutil.copytree(models / "toy_isp", renamed)
    result = _cli("export", renamed, "--random-weights", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "SPEC.model_id is 'toy_isp'; make it the folder's name, 'my_isp'" in result.stderr


def test_an_installed_plugin_is_listed_and_exported(tmp_path):
    """A real pip install (of a package declaring a camkit.models entry point) into a folder on
    PYTHONPATH: the way `pip install my-team-models` adds models."""
    pytest.importorskip("onnxruntime")
    src = tmp_path / "plugin_src"
    package = src / "team_models"
    shutil.copytree(TOY, package / "plugin_isp", ignore=shutil.ignore_patterns("__pycache__"))
    (package / "__init__.py").write_text("")
    (package / "plugin_isp" / "__init__.py").write_text("")
    for name in ("model.py", "card.yaml"):
        path = package / "plugin_isp" / name
        path.write_text(path.read_text().replace("toy_isp", "plugin_isp"))
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "team-models"\nversion = "0.3"\n'
        '[project.entry-points."camkit.models"]\nplugin_isp = "team_models.plugin_isp"\n'
        '[tool.setuptools.packages.find]\ninclude = ["team_models*"]\n'
        '[tool.setuptools.package-data]\n"*" = ["*.yaml"]\n')
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    env = {"PYTHONPATH": str(site)}
    listed = _cli("list", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "plugin_isp" in listed.stdout
    assert "from plugin team-models 0.3: team_models.plugin_isp" in listed.stdout
    exported = _cli("export", "plugin_isp", "--variant", "tiny", "--random-weights", "--format",
                    "onnx", "--precision", "fp32", "--out", "art", cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    [manifest] = (tmp_path / "art" / "plugin_isp" / "tiny").glob("*.manifest.json")
    source = json.loads(manifest.read_text())["model_source"]
    assert source["kind"] == "plugin" and source["plugin"] == "team-models 0.3: team_models.plugin_isp"
    assert Path(source["folder"]) == site / "team_models" / "plugin_isp"
    checked = _cli("check", "art", cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
