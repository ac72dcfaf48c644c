"""LiteRT round trip at tiny size: export, load, run, compare with the torch float reference.

Tolerances: fp32 max-abs 1e-4 (same float math, other kernels); fp16 PSNR >= 40 dB against the
float model, and not bit-identical to fp32 (fails if the float16 rewrite silently did nothing).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from toolkit._quiet import quiet

with quiet():  # importing litert-torch (torchao, jax, absl) prints warnings from C++ and logging
    pytest.importorskip("litert_torch")
    pytest.importorskip("ai_edge_litert")

from toolkit.checks.metrics import max_abs, psnr_db  # noqa: E402
from toolkit.conversion import litert  # noqa: E402
from toolkit.conversion._common import (  # noqa: E402
    example_inputs,
    prepare_for_export,
    torch_runner,
)
from toolkit.errors import CamkitError  # noqa: E402
from toolkit.models.retouch_csrnet.model import SPEC, build  # noqa: E402
from toolkit.spec import ExportSpec, ModelSpec, TensorSpec  # noqa: E402

FP32_MAX_ABS = 1e-4
FP16_PSNR_DB_MIN = 40.0
SIZE = (64, 64)


@pytest.fixture(scope="module")
def tiny_csrnet() -> nn.Module:
    torch.manual_seed(0)
    return build("tiny").eval()


@pytest.fixture(scope="module")
def exported(tiny_csrnet, tmp_path_factory):
    """Artifacts and outputs per (layout, precision), so the fp16-vs-fp32 test reuses them."""
    results = {}
    for layout in ("nchw", "nhwc"):
        spec = ExportSpec(SPEC, "tiny", *SIZE, layout)
        feeds = {"image": example_inputs(spec, seed=1)[0].numpy()}
        reference = torch_runner(tiny_csrnet, spec)(feeds)
        for precision in ("fp32", "fp16"):  # quantized ones: tests/test_litert_int8.py
            out_dir = tmp_path_factory.mktemp(f"litert-{layout}-{precision}")
            module = prepare_for_export(tiny_csrnet, spec)
            path = litert.export(module, spec, precision, out_dir, None)
            runner = litert.load(path)
            results[layout, precision] = (spec, path, runner, runner(feeds), reference)
    return results


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_round_trip(exported, layout, precision):
    spec, path, runner, outputs, reference = exported[layout, precision]
    assert path.suffix == ".tflite" and path.is_file()
    assert runner.input_names == tuple(t.name for t in spec.model.inputs)
    assert runner.output_names == tuple(t.name for t in spec.model.outputs)
    out, ref = outputs["retouched"], reference["retouched"]
    assert out.shape == ref.shape == spec.output_shapes()["retouched"]
    if precision == "fp32":
        assert max_abs(out, ref) < FP32_MAX_ABS
    else:
        assert psnr_db(out, ref) >= FP16_PSNR_DB_MIN


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_fp16_is_not_fp32(exported, layout):
    fp32 = exported[layout, "fp32"][3]["retouched"]
    fp16 = exported[layout, "fp16"][3]["retouched"]
    assert not np.array_equal(fp16, fp32)
    assert litert.inspect(exported[layout, "fp16"][1])["ops"].get("DEQUANTIZE", 0) > 0
    assert "DEQUANTIZE" not in litert.inspect(exported[layout, "fp32"][1])["ops"]


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_inspect(exported, layout, precision):
    spec, path, *_ = exported[layout, precision]
    info = litert.inspect(path)
    assert info["inputs"] == {k: list(v) for k, v in spec.input_shapes().items()}
    assert info["outputs"] == {k: list(v) for k, v in spec.output_shapes().items()}
    assert info["ops"] and all(n > 0 for n in info["ops"].values())
    assert info["ops"].get("CONV_2D", 0) >= 6  # 3 in the condition net, 3 in the base net


def test_dynamic_csrnet_is_refused(tiny_csrnet, tmp_path):
    """Dynamic H/W with strided convs gives wrong pixels at some sizes: refused in one line."""
    spec = ExportSpec(SPEC, "tiny", None, None, "nhwc")
    with pytest.raises(CamkitError) as err:
        litert.export(prepare_for_export(tiny_csrnet, spec), spec, "fp32", tmp_path, None)
    assert "\n" not in str(err.value) and "static --size" in str(err.value)
    assert not any(tmp_path.iterdir())


class _PaddedConvs(nn.Module):
    """Convs with built-in padding and a global mean: the layers litert-torch lowers dynamically."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 3, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(image))
        return self.conv2(x) + x.mean(dim=(2, 3), keepdim=True)[:, :3]


_PADDED_SPEC = ModelSpec(
    model_id="padded_convs",
    task="test",
    title="test",
    paper="",
    inputs=(TensorSpec("image", 3),),
    outputs=(TensorSpec("filtered", 3),),
    variants=("tiny",),
    default_variant="tiny",
    default_size={"tiny": (32, 32)},
)


def test_dynamic_runner_resizes(tmp_path):
    """A dynamic export runs at every fed size and its file marks H/W dynamic on both ends."""
    torch.manual_seed(0)
    net = _PaddedConvs().eval()
    spec = ExportSpec(_PADDED_SPEC, "tiny", None, None, "nhwc")
    path = litert.export(prepare_for_export(net, spec), spec, "fp32", tmp_path, None)
    info = litert.inspect(path)
    assert info["inputs"] == {"image": [1, None, None, 3]}
    assert info["outputs"] == {"filtered": [1, None, None, 3]}
    _check_dynamic(net, spec, path, "filtered", [(32, 32), (24, 40)])


def _check_dynamic(net, spec, path, output, sizes):
    runner = litert.load(path)
    for height, width in sizes:
        static = ExportSpec(spec.model, spec.variant, height, width, spec.layout)
        feeds = {"image": example_inputs(static, seed=2)[0].numpy()}
        out = runner(feeds)[output]
        ref = torch_runner(net, static)(feeds)[output]
        assert out.shape == static.output_shapes()[output]
        assert max_abs(out, ref) < FP32_MAX_ABS


@pytest.mark.parametrize(
    "content",
    [None, b"not a model at all", b"\x1c\x00\x00\x00TFL3" + b"\x00" * 40],
    ids=["missing", "foreign", "truncated"],
)
def test_bad_file_is_one_line_error(tmp_path, content):
    path = tmp_path / "model.tflite"
    if content is not None:
        path.write_bytes(content)
    for read in (litert.load, litert.inspect):
        with pytest.raises(CamkitError) as info:
            read(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_static_model_refuses_other_sizes(exported):
    spec, _, runner, *_ = exported["nhwc", "fp32"]
    with pytest.raises(CamkitError, match="shape"):
        runner({"image": np.zeros((1, 32, 32, 3), np.float32)})


def test_truncated_export_is_one_line_error(exported, tmp_path):
    data = exported["nchw", "fp32"][1].read_bytes()
    path = tmp_path / "model.tflite"
    path.write_bytes(data[: len(data) // 2])
    for read in (litert.load, litert.inspect):
        with pytest.raises(CamkitError, match="LiteRT"):
            read(path)
