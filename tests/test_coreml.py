"""Core ML export of tiny CSRNet: spec, I/O, op histogram and precision, checked statically.

Core ML prediction needs macOS, so on Linux these tests prove what can be proved without it:
the package converts, names and shapes follow the ExportSpec, the MIL program computes in the
requested precision, and ``verify`` can fail. The numeric round trip runs only on macOS.
"""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("coremltools")

from toolkit.conversion import coreml  # noqa: E402
from toolkit.conversion._common import (  # noqa: E402
    example_inputs,
    prepare_for_export,
    torch_runner,
)
from toolkit.errors import CamkitError  # noqa: E402
from toolkit.models.retouch_csrnet.model import SPEC, build  # noqa: E402
from toolkit.spec import ExportSpec  # noqa: E402

SIZE = 64
#: the float precisions; w8a8 needs calibration and is tested in tests/test_coreml_int8.py
FLOAT_PRECISIONS = ("fp32", "fp16")
CASES = [(layout, precision) for layout in ("nchw", "nhwc") for precision in FLOAT_PRECISIONS]


def _tiny() -> nn.Module:
    torch.manual_seed(0)
    return build("tiny")


def _export(spec: ExportSpec, precision: str, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    return coreml.export(prepare_for_export(_tiny(), spec), spec, precision, out_dir, None)


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """One package per (layout, precision) at 64x64, plus dynamic-size ones."""
    root = tmp_path_factory.mktemp("coreml")
    made = {}
    for layout, precision in CASES:
        spec = ExportSpec(SPEC, "tiny", SIZE, SIZE, layout)
        made[layout, precision] = spec, _export(spec, precision, root / f"{layout}-{precision}")
    for layout, precision in (("nchw", "fp32"), ("nhwc", "fp16")):
        spec = ExportSpec(SPEC, "tiny", None, None, layout)
        made["dyn", layout] = spec, _export(spec, precision, root / f"dyn-{layout}")
    return made


def test_format_contract():
    assert coreml.name == "coreml"
    assert coreml.suffix == "mlpackage"
    assert coreml.precisions == ("fp32", "fp16", "w8a8")
    assert coreml.extra == "coreml"
    assert coreml.requires == ("coremltools",)


@pytest.mark.parametrize("layout,precision", CASES)
def test_export_inspect_verify(packages, layout, precision):
    spec, path = packages[layout, precision]
    assert path.name == "model.mlpackage" and path.is_dir()
    info = coreml.inspect(path)
    assert info["inputs"] == {n: list(s) for n, s in spec.input_shapes().items()}
    assert info["outputs"] == {n: list(s) for n, s in spec.output_shapes().items()}
    assert list(info["inputs"]) == ["image"] and list(info["outputs"]) == ["retouched"]
    assert info["ops"].get("conv", 0) == 6  # 3 in the condition net, 3 in the base net
    assert "const" not in info["ops"]
    assert ("transpose" in info["ops"]) == (layout == "nhwc")
    assert ("cast" in info["ops"]) == (precision == "fp16")  # the float32 I/O boundary
    assert coreml.verify(path, spec, precision) == []


@pytest.mark.parametrize("layout,precision", CASES)
def test_verify_catches_wrong_precision(packages, layout, precision):
    spec, path = packages[layout, precision]
    other = "fp16" if precision == "fp32" else "fp32"
    problems = coreml.verify(path, spec, other)
    # the MIL program itself must give it away, not only the metadata export wrote
    assert any(f"precision {other} expected" in p for p in problems), problems


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_verify_catches_wrong_spec(packages, layout):
    _, path = packages[layout, "fp32"]
    problems = coreml.verify(path, ExportSpec(SPEC, "tiny", 32, 48, layout), "fp32")
    assert any("input 'image' shape" in p for p in problems), problems
    assert any("output 'retouched' shape" in p for p in problems), problems
    other = "nhwc" if layout == "nchw" else "nchw"
    assert coreml.verify(path, ExportSpec(SPEC, "tiny", SIZE, SIZE, other), "fp32")


def test_metadata(packages):
    _, path = packages["nhwc", "fp16"]
    meta = coreml._load_spec(path).description.metadata
    assert meta.userDefined["camkit.model_id"] == "retouch_csrnet"
    assert meta.userDefined["camkit.variant"] == "tiny"
    assert meta.userDefined["camkit.precision"] == "fp16"
    assert meta.userDefined["camkit.layout"] == "nhwc"
    assert "retouch_csrnet" in meta.shortDescription


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_dynamic(packages, layout):
    spec, path = packages["dyn", layout]
    info = coreml.inspect(path)
    expected = [1, 3, None, None] if layout == "nchw" else [1, None, None, 3]
    assert info["inputs"] == {"image": expected}
    assert info["outputs"] == {"retouched": expected}
    precision = "fp32" if layout == "nchw" else "fp16"
    assert coreml.verify(path, spec, precision) == []
    # a fixed-size spec does not describe a dynamic package
    assert coreml.verify(path, ExportSpec(SPEC, "tiny", SIZE, SIZE, layout), precision)


def test_load_needs_macos(packages):
    _, path = packages["nchw", "fp32"]
    if sys.platform == "darwin":
        pytest.skip("Core ML runs here; see test_round_trip_on_macos")
    assert not coreml.can_run()
    with pytest.raises(CamkitError, match="macOS") as e:
        coreml.load(path)
    assert "\n" not in str(e.value)


@pytest.mark.skipif(sys.platform != "darwin", reason="Core ML prediction needs macOS")
@pytest.mark.parametrize("layout,precision", CASES)
def test_round_trip_on_macos(packages, layout, precision):
    spec, path = packages[layout, precision]
    runner = coreml.load(path, compute_units="cpu_only")
    assert runner.input_names == ("image",) and runner.output_names == ("retouched",)
    feeds = {"image": example_inputs(spec)[0].numpy()}
    got = runner(feeds)["retouched"]
    want = torch_runner(_tiny(), spec)(feeds)["retouched"]
    assert got.shape == want.shape
    assert np.abs(got - want).max() < (1e-4 if precision == "fp32" else 2e-2)


def test_inspect_missing_or_corrupt(packages, tmp_path):
    with pytest.raises(CamkitError, match="not a Core ML package"):
        coreml.inspect(tmp_path / "absent.mlpackage")
    assert coreml.verify(tmp_path / "absent.mlpackage", packages["nchw", "fp32"][0], "fp32")

    _, good = packages["nchw", "fp32"]
    broken = tmp_path / "broken.mlpackage"
    shutil.copytree(good, broken)
    (broken / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(b"\xff not a model")
    with pytest.raises(CamkitError) as e:
        coreml.inspect(broken)
    assert "\n" not in str(e.value)

    (broken / "Manifest.json").write_text("{ truncated")
    with pytest.raises(CamkitError, match="cannot read Core ML package"):
        coreml.inspect(broken)


class _DataDependent(nn.Module):
    """Python control flow on a tensor value: torch.export refuses it."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image * 2 if image.sum() > 0 else image


class _Unsupported(nn.Module):
    """torch.export takes it, coremltools 9.0 has no converter for aten.bucketize."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.bucketize(image, torch.tensor([0.25, 0.5])).float()


def _like_the_cli(monkeypatch) -> None:
    """sys.stdout/stderr on fds 1 and 2, as in the CLI (pytest points them at its own files)."""
    monkeypatch.delenv("CAMKIT_VERBOSE", raising=False)
    monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)


@pytest.mark.parametrize(
    "module,start",
    [
        (_DataDependent, "torch.export of retouch_csrnet for Core ML failed: "),
        (_Unsupported, "Core ML conversion of retouch_csrnet failed: Unsupported fx node"),
    ],
    ids=["torch.export", "coremltools"],
)
def test_failure_is_one_quiet_line(tmp_path, capfd, monkeypatch, module, start):
    _like_the_cli(monkeypatch)
    spec = ExportSpec(SPEC, "tiny", SIZE, SIZE, "nchw")
    with pytest.raises(CamkitError) as e:
        coreml.export(module().eval(), spec, "fp32", tmp_path, None)
    message = str(e.value)
    assert message.startswith(start) and message.endswith("converter log"), message
    assert "\n" not in message and "CAMKIT_VERBOSE=1" in message
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_export_prints_nothing(tmp_path, capfd, monkeypatch):
    _like_the_cli(monkeypatch)
    spec = ExportSpec(SPEC, "tiny", SIZE, SIZE, "nhwc")
    _export(spec, "fp16", tmp_path)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_unknown_precision(tmp_path):
    spec = ExportSpec(SPEC, "tiny", SIZE, SIZE, "nchw")
    with pytest.raises(CamkitError, match="did you mean 'fp16'"):
        coreml.export(prepare_for_export(_tiny(), spec), spec, "fp61", tmp_path, None)
