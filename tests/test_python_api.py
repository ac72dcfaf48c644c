"""`import camkit`: export / check / profile a model id, a model folder and an in-memory torch
module, typed results, CamkitError for bad input, and an import that loads no heavy library."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import camkit
from conftest import REPO

TOY = REPO / "tests" / "external_models" / "toy_isp"


class Tone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 3, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image + 0.1 * torch.tanh(self.b(torch.relu(self.a(image))))


SPEC = camkit.ModelSpec(
    model_id="api_tone", task="retouch", title="a tone tweak defined in a notebook",
    paper="none", inputs=(camkit.TensorSpec("image", 3),), outputs=(camkit.TensorSpec("out", 3),),
    variants=("main",), default_variant="main", default_size={"main": (48, 64)})


def test_import_is_cheap():
    probe = ("import sys, camkit; heavy = [m for m in ('torch', 'onnx', 'onnxruntime', "
             "'coremltools', 'nncf', 'tensorflow') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
    assert {"export", "check", "profile", "run", "ModelSpec", "CamkitError"} <= set(camkit.__all__)


def test_an_in_memory_module_exports_and_checks(tmp_path):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = Tone()
    arts = camkit.export(net, spec=SPEC, formats=["onnx"], precisions=["fp32", "w8a8"],
                         out=tmp_path / "art")
    assert [(a.format, a.precision) for a in arts] == [("onnx", "fp32"), ("onnx", "w8a8")]
    assert all(isinstance(a, camkit.Artifact) and a.path.is_file() for a in arts)
    source = arts[0].manifest["model_source"]
    assert source["kind"] == "module" and source["module_class"].endswith("Tone")
    assert arts[0].manifest["checkpoint"]["in_memory"] is True

    given = camkit.check(tmp_path / "art", model=net, spec=SPEC)
    assert given.passed, given.failures()
    assert all(r.reference.startswith("the in-memory torch module") for r in given.artifacts)
    assert given.reports["json"].is_file()

    # a fresh process without the module: the output stored at export stands in, said so
    probe = ("import camkit, sys; r = camkit.check(sys.argv[1]); "
             "print(r.passed, r.artifacts[0].reference)")
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "art")],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("True torch output stored") and "was not given" in out.stdout

    photos = tmp_path / "photos"
    photos.mkdir()
    from PIL import Image

    Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(photos / "grey.png")
    [by_module] = camkit.run(net, photos, tmp_path / "by_module", spec=SPEC)
    [by_artifact] = camkit.run(arts[0], photos, tmp_path / "by_artifact")
    a = np.asarray(Image.open(by_module), dtype=np.int16)
    b = np.asarray(Image.open(by_artifact), dtype=np.int16)
    assert a.shape == (48, 64, 3) and np.abs(a - b).max() <= 1

    other = Tone()  # other weights: not the module that was exported
    with pytest.raises(camkit.CamkitError, match="is not the one exported"):
        camkit.check(arts[0], model=other, spec=SPEC)


def test_a_model_folder_through_the_api(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("ai_edge_litert")
    folder = tmp_path / "models" / "toy_isp"
    shutil.copytree(TOY, folder, ignore=shutil.ignore_patterns("__pycache__"))
    arts = camkit.export(folder, variant="tiny", random_weights=True,
                         formats=["onnx", "litert"], precisions=["fp32", "w8a8"],
                         out=tmp_path / "art")
    assert len(arts) == 4 and arts[0].manifest["model_source"]["folder"] == str(folder)
    assert "toy_isp" in camkit.list_models()
    result = camkit.check(arts)
    assert result.passed, result.failures()
    timing = camkit.profile(arts[1], runs=3, json_path=tmp_path / "p.json")
    assert timing.latency.n == 3 and timing.latency.median_ms > 0
    assert (tmp_path / "p.json").is_file()


def test_errors_are_camkit_errors(tmp_path):
    with pytest.raises(camkit.CamkitError, match="did you mean 'retouch_csrnet'"):
        camkit.export("retouch_csrnt")
    with pytest.raises(camkit.CamkitError, match="needs spec=camkit.ModelSpec"):
        camkit.export(Tone())
    with pytest.raises(camkit.CamkitError, match="must be a model id, a model folder"):
        camkit.export(42)
    clash = camkit.ModelSpec(**{**SPEC.__dict__, "model_id": "retouch_csrnet"})
    with pytest.raises(camkit.CamkitError, match="already built-in"):
        camkit.export(Tone(), spec=clash)
    with pytest.raises(camkit.CamkitError, match="holds no model"):
        camkit.add_model_folder(tmp_path)
    assert Path(tmp_path).is_dir()
