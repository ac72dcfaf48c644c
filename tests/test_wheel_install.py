"""An installed camkit is whole: the wheel, installed into a fresh virtualenv and run from an
unrelated folder, exports every precision on its bundled calibration set, runs the demo, trains
a shipped recipe by name, builds a calibration set into the user's data folder and finds it by
name, and writes nothing into its own package folder.

The wheel is built from this checkout with pip (no build isolation: nothing is downloaded) and
installed without its dependencies into a venv whose only other path is this environment's
site-packages (a .pth line), so the test needs no network and takes about a minute. That path's
editable-install hook is not run (.pth files in a directory a .pth line adds are not read), so
`toolkit` can only come from the wheel; the test asserts it does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from conftest import REPO

pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")
pytest.importorskip("coremltools")
pytest.importorskip("nncf")


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the venv's bin folder, its site-packages' toolkit folder, a clean env for it)."""
    root = tmp_path_factory.mktemp("wheel")
    start = time.perf_counter()
    wheel_dir = root / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheel_dir), str(REPO)],
        capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    [wheel] = wheel_dir.glob("camkit-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies (torch, the converters) come from this environment
    (purelib / "_camkit_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["CAMKIT_DATA_DIR"] = str(root / "user-data")
    print(f"wheel built and installed in {time.perf_counter() - start:.1f} s")
    return venv / "bin", purelib / "toolkit", env


def _camkit(installed, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    bin_dir, _, env = installed
    result = subprocess.run([str(bin_dir / "camkit"), *args], capture_output=True, text=True,
                            cwd=cwd, env=env, timeout=900)
    assert result.returncode == 0, f"camkit {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_installed_wheel_is_whole(installed, tmp_path):
    bin_dir, package, env = installed
    start = time.perf_counter()
    where = subprocess.run([str(bin_dir / "python"), "-c", "import toolkit; print(toolkit.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    assert Path(where.stdout.strip()).parent == package  # the wheel's code, not this checkout
    api = subprocess.run([str(bin_dir / "python"), "-c",
                          "import camkit; print(camkit.__file__, 'retouch_csrnet' in "
                          "camkit.list_models())"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    assert api.stdout.split() == [str(package.parent / "camkit" / "__init__.py"), "True"]
    assert (package / "_bundled" / "calibration" / "photos_pd" / "manifest.json").is_file()
    before = _files(package)

    listed = _camkit(installed, "calib", "list", cwd=tmp_path).stdout
    assert "photos_pd" in listed and str(package / "_bundled") in listed

    # the demo on the bundled default: fp32, fp16, w8a8 in every format and w8a16 (ONNX)
    demo = _camkit(installed, "demo", "--size", "64x64", "--out", "demo", cwd=tmp_path)
    assert (tmp_path / "demo" / "report.html").is_file(), demo.stdout
    assert "w8a16" in (tmp_path / "demo" / "check.md").read_text()
    # the precision the demo does not cover in LiteRT, on the bundled calibration set
    _camkit(installed, "export", "retouch_csrnet", "--size", "64x64", "--format", "litert",
            "--precision", "w8a16", "--out", "art", cwd=tmp_path)
    assert list((tmp_path / "art" / "retouch_csrnet" / "paper").glob("*-w8a16-64x64.tflite"))

    # a shipped recipe by name; its run lands in the working directory
    trained = _camkit(installed, "train", "retouch_csrnet/tiny", "--max-steps", "2", cwd=tmp_path)
    assert str(tmp_path / "runs" / "retouch_csrnet" / "tiny") in trained.stdout
    assert list((tmp_path / "runs" / "retouch_csrnet" / "tiny" / "checkpoints").glob("*.safetensors"))

    # a calibration set of the user's own photos: into the user's data folder, found by name
    built = _camkit(installed, "calib", "build", "--from",
                    str(package / "_bundled" / "calibration" / "photos_pd"),
                    "--name", "mine", "--size", "64x64", cwd=tmp_path)
    user_set = Path(env["CAMKIT_DATA_DIR"]) / "calibration" / "mine"
    assert (user_set / "manifest.json").is_file() and "--calib mine" in built.stdout
    assert "yours" in _camkit(installed, "calib", "list", cwd=tmp_path).stdout
    _camkit(installed, "export", "retouch_csrnet", "--size", "64x64", "--format", "onnx",
            "--precision", "w8a8", "--calib", "mine", "--out", "mine", cwd=tmp_path)
    # (--out mine makes a folder named like the set: the set name still wins, ./mine would not)
    [manifest] = (tmp_path / "mine" / "retouch_csrnet" / "paper").glob(
        "*-w8a8-64x64.onnx.manifest.json")
    calibration = json.loads(manifest.read_text())["precision_scheme"]["calibration"]
    assert calibration["source"] == "mine" and calibration["count"] == 5

    assert _files(package) == before  # nothing was written into the installed package
    print(f"installed camkit: demo, export, train, calib in {time.perf_counter() - start:.1f} s")
