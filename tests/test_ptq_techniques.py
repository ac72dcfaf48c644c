"""PTQ techniques and their switches (``camkit export --ptq``): CSRNet's model-declared float
layers, cross-layer range equalization, the range estimator; each switch shows in the manifest.
Numbers on real weights: benchmarks/int8_real_weights.md."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from toolkit.errors import CamkitError
from toolkit.quantization import options
from toolkit.quantization.equalize import equalize, pairs_of
from toolkit.quantization.layers import default_float_layers, default_float_reasons


def _tiny_csrnet(seed: int = 0):
    from toolkit.models.retouch_csrnet.model import build

    torch.manual_seed(seed)
    net = build("tiny")
    with torch.no_grad():  # random modulation strong enough to spread the channel ranges
        for name, p in net.named_parameters():
            p.copy_(torch.randn_like(p) * (0.8 if "cond_" in name else 0.5))
    return net.eval()


def _feeds(count: int = 3, size: int = 32) -> list[dict]:
    rng = np.random.default_rng(1)
    return [{"image": rng.random((1, 3, size, size), dtype=np.float32)} for _ in range(count)]


def test_csrnet_declares_its_float_layers_with_reasons():
    reasons = default_float_reasons(_tiny_csrnet())
    assert set(reasons) == {"cond_net/mean", "act/*", *(f"gfm{i}/*" for i in (1, 2, 3)),
                            *(f"cond_{k}{i}" for k in ("scale", "shift") for i in (1, 2, 3))}
    assert all(isinstance(why, str) and len(why) > 20 for why in reasons.values())
    assert default_float_layers(_tiny_csrnet()) == list(reasons)


def test_a_wrapped_model_prefixes_its_ids():
    from toolkit.conversion._common import prepare_for_export
    from toolkit.export import make_spec

    spec = make_spec("retouch_csrnet", "tiny", (32, 32), "nhwc", False)
    wrapped = prepare_for_export(_tiny_csrnet(), spec)  # ChannelsLast(inner=...)
    assert set(default_float_reasons(wrapped)) == set(default_float_reasons(_tiny_csrnet()))
    assert [p[0] for p in pairs_of(wrapped)] == ["inner.conv1", "inner.conv2"]


def test_equalization_keeps_the_float_function_and_spreads_ranges_less():
    net = _tiny_csrnet()
    feeds = _feeds()
    out, record = equalize(net, feeds, ["image"])
    assert out is not net and record["max_float_change"] < 1e-4
    x = torch.from_numpy(_feeds(1, 40)[0]["image"])  # a size and input it was not fitted on
    with torch.no_grad():
        want = net(x)
        assert torch.allclose(want, out(x), atol=1e-4 * float(want.abs().max()))
    for pair in record["pairs"]:
        assert 1 / record["cap"] <= pair["factor_min"] <= pair["factor_max"] <= record["cap"]
        assert pair["range_spread_after"] < pair["range_spread_before"]
    # the original is untouched
    assert not torch.equal(net.conv1.weight, out.conv1.weight)


def test_equalization_is_deterministic_and_a_no_op_without_pairs():
    net, feeds = _tiny_csrnet(), _feeds()
    a, ra = equalize(net, feeds, ["image"])
    b, rb = equalize(net, feeds, ["image"])
    assert ra == rb and torch.equal(a.conv2.weight, b.conv2.weight)
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1))
    same, record = equalize(plain, feeds, ["image"])
    assert same is plain and record is None


def test_a_pair_that_is_not_scale_equivariant_is_refused():
    class Bad(torch.nn.Module):
        W8A8_EQUALIZE = (("a", (), "b"),)

        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Conv2d(3, 4, 1), torch.nn.Conv2d(4, 3, 1)

        def forward(self, image):
            return self.b(torch.tanh(self.a(image)))  # tanh(kx) != k tanh(x)

    torch.manual_seed(0)
    with pytest.raises(CamkitError, match="not scale-equivariant"):
        equalize(Bad(), _feeds(), ["image"])


def test_ptq_parse():
    assert options.parse(None) == options.DEFAULT
    assert options.parse("") == options.DEFAULT
    got = options.parse("no-equalize, range=mean_quantile,no-float-defaults")
    assert (got.equalize, got.float_defaults, got.range_estimator) == (False, False,
                                                                        "mean_quantile")
    with pytest.raises(CamkitError, match="unknown --ptq item 'smooth'"):
        options.parse("smooth")
    with pytest.raises(CamkitError, match="unknown range estimator 'mse'"):
        options.parse("range=mse")
    # a manifest without the record is an export from before the switches: nothing equalized
    assert options.from_scheme({}).equalize is False
    assert options.from_scheme({"ptq": got.describe()}) == got


@pytest.fixture(scope="module")
def tiny_exports(tmp_path_factory):
    """tiny CSRNet w8a8 ONNX (random weights) with the defaults and with each switch off."""
    from toolkit.export import export_artifacts, make_spec, resolve_weights

    spec = make_spec("retouch_csrnet", "tiny", (32, 32), "nchw", False)
    weights = resolve_weights("retouch_csrnet", "tiny", None, True)
    got = {}
    for label, text in [("default", ""), ("no-equalize", "no-equalize"),
                        ("no-float-defaults", "no-float-defaults"),
                        ("range", "range=mean_minmax")]:
        out = tmp_path_factory.mktemp(label)
        [manifest] = export_artifacts(spec, weights, ["onnx"], ["w8a8"], out, progress=False,
                                      ptq=options.parse(text))
        got[label] = json.loads(manifest.read_text())["precision_scheme"]
    return got


def test_each_switch_changes_the_scheme_in_the_manifest(tiny_exports):
    default = tiny_exports["default"]
    assert default["ptq"]["equalize"] and default["ptq"]["equalization"]["pairs"]
    assert set(default["default_float_layers"]) <= set(default["kept_float_layers"])
    assert default["default_float_reasons"]["act/*"].startswith("ReLU")

    off = tiny_exports["no-equalize"]
    assert off["ptq"]["equalize"] is False and off["ptq"]["equalization"] is None

    plain = tiny_exports["no-float-defaults"]
    assert plain["ptq"]["float_defaults"] is False
    assert "default_float_layers" not in plain and not plain.get("kept_float_layers")

    ranged = tiny_exports["range"]
    assert ranged["ptq"]["range_estimator"] == "mean_minmax"
    assert ranged["nncf"]["range_estimator"] == "MEAN_MINMAX"
    assert default["nncf"]["range_estimator"] == "MINMAX"


def test_cli_refuses_an_unknown_ptq_item(tmp_path, capsys):
    from toolkit.cli import main

    code = main(["export", "retouch_csrnet", "--variant", "tiny", "--random-weights",
                 "--format", "onnx", "--precision", "w8a8", "--ptq", "nope",
                 "--out", str(tmp_path)])
    assert code != 0
    assert "unknown --ptq item 'nope'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_official_csrnet_w8a8_passes_its_card_in_every_format(tmp_path):
    """The authors' CSRNet weights, default settings, every format: the card holds on the
    photos `camkit check` measures (the export gates on them), with at most 5% of the MACs
    in float. Full numbers on held-apart photos: benchmarks/int8_real_weights.md."""
    from conftest import shared_path
    from toolkit.checkpoints import import_weights
    from toolkit.checks.parity import check_artifact
    from toolkit.export import Weights, export_artifacts, make_spec

    pytest.importorskip("onnxruntime")
    pytest.importorskip("litert_torch")
    pytest.importorskip("coremltools")
    src = shared_path("csrnet_official", "csrnet.pth")
    ckpt = import_weights("retouch_csrnet", src, tmp_path / "ckpt", "paper")
    spec = make_spec("retouch_csrnet", "paper", (96, 128), "nchw", False)
    manifests = export_artifacts(spec, Weights(ckpt), ["onnx", "litert", "coreml"], ["w8a8"],
                                 tmp_path / "art", progress=False)
    for path in manifests:
        scheme = json.loads(path.read_text())["precision_scheme"]
        result = check_artifact(path)[0]
        assert result.passed, (path.name, result.problems)
        control = scheme["accuracy_control"]
        assert scheme["ptq"]["equalization"]["pairs"] and control["automatic"] is True
        # under the 5% float-MAC aim, or the manifest says it had to go over it
        share = scheme["float_mac_share"]["share"]
        assert share <= 0.05 or control["over_float_share"], scheme["kept_float_layers"]
        assert control["over_float_share"] == (share > 0.05)
    # LiteRT and Core ML compute CSRNet's convs in int8 with no float layer of any size
    for path in manifests:
        manifest = json.loads(path.read_text())
        if manifest["format"] in ("litert", "coreml"):
            assert manifest["precision_scheme"]["float_mac_share"]["share"] <= 0.05


def test_max_float_macs_switch():
    assert options.parse("max-float-macs=10").max_float_share == 0.10
    assert options.parse("no-auto-float").auto_float is False
    with pytest.raises(CamkitError, match="percentage 0..100"):
        options.parse("max-float-macs=lots")
