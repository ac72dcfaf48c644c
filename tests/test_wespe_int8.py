"""WESPE w8a8: instance norms stay float by default (toolkit/models/_blocks.py InstanceNorm says
why), in every format, and that is what brings a model whose channels differ in scale within
its card's w8a8 budget.

The tiny variant is given channels whose scales span 0.03x..10x (per output channel of the
residual blocks' convs; an instance norm is scale-invariant, so the float model barely changes).
That is the failure of the shipped mobile checkpoint in small: per-tensor int8 squares and
variances lose the small channels. All-int8 it measured 28.9 dB / SSIM 0.82 (Core ML simulated),
26.8 / 0.72 (LiteRT), 29.8 / 0.88 (ONNX) against float; with the norms float 43-57 dB.
"""

from __future__ import annotations

import json

import pytest
import torch

from toolkit import registry
from toolkit.checks.parity import check_artifact
from toolkit.checkpoints import save_checkpoint
from toolkit.export import Weights, export_artifacts, make_spec
from toolkit.models.enhance_wespe import model as wespe
from toolkit.quantization.layers import default_float_layers, selector, selects

NORMS = ["blocks.0.norm1/*", "blocks.0.norm2/*"]  # the tiny variant has one residual block


def test_every_instance_norm_is_a_default_float_layer():
    assert default_float_layers(wespe.build("tiny")) == NORMS
    assert len(default_float_layers(wespe.build("paper"))) == 8


def test_module_wildcard_covers_the_module_and_nothing_else():
    assert selects("blocks.0.norm1/*", "blocks.0.norm1/mul_1")
    assert selects("blocks.0/*", "blocks.0.conv1") and selects("blocks.0/*", "blocks.0/add_4")
    assert not selects("blocks.0.norm1/*", "blocks.0.norm10/mul")
    assert not selects("blocks.0.norm1/*", "blocks.0.conv1")
    select = selector(["conv_in", "blocks.0.norm2/*"])
    assert select("conv_in") == "conv_in" and select("blocks.0.norm2/rsqrt") == "blocks.0.norm2/*"
    assert select("blocks.0.norm1/sub") is None and select(None) is None


@pytest.fixture(scope="module")
def spread_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    net = wespe.build("tiny")
    with torch.no_grad():
        for block in net.blocks:
            for conv in (block.conv1, block.conv2):
                gain = torch.logspace(-1.5, 1, conv.out_channels)
                conv.weight.mul_(gain.view(-1, 1, 1, 1))
                conv.bias.mul_(gain)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, net.state_dict(), "enhance_wespe", "tiny", {"test": "channel spread"})
    return path


@pytest.mark.parametrize("fmt", ["onnx", "litert", "coreml"])
def test_w8a8_keeps_instance_norms_float_and_meets_the_budget(tmp_path, spread_checkpoint, fmt):
    if not registry.format_available(fmt):
        pytest.skip(f"{fmt} extra not installed")
    spec = make_spec("enhance_wespe", "tiny", None, "nchw", False)
    [manifest] = export_artifacts(spec, Weights(spread_checkpoint), [fmt], ["w8a8"], tmp_path,
                                  progress=False)
    scheme = json.loads(manifest.read_text())["precision_scheme"]
    assert scheme["kept_float_layers"] == NORMS and scheme["default_float_layers"] == NORMS
    result, _, _ = check_artifact(manifest, max_images=2)
    assert result.passed, result.problems  # 30 dB / SSIM 0.95 (card.yaml)
