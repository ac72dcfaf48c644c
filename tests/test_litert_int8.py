"""LiteRT integer exports (w8a8, w8a16) of tiny CSRNet through the real pipeline.

Each artifact is exported with ``export_artifacts`` from the shipped tiny checkpoint and the
calibration set, checked with ``check_artifact`` against the card.yaml budget, and inspected in
the file itself: every conv and fully-connected op computes in int8 (w8a8) or int16 (w8a16), one
QUANTIZE after the float32 input and one DEQUANTIZE before the float32 output, nothing else in
float. Bit-identical agreement with fp32 would mean the quantization silently did nothing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from toolkit._quiet import quiet

with quiet():  # importing litert-torch (torchao, jax, absl) prints warnings from C++ and logging
    pytest.importorskip("litert_torch")
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("nncf")
    pytest.importorskip("ai_edge_quantizer")

from toolkit import artifacts  # noqa: E402
from toolkit.checks.parity import check_artifact  # noqa: E402
from toolkit.conversion import litert  # noqa: E402
from toolkit.conversion._common import prepare_for_export  # noqa: E402
from toolkit.errors import CamkitError  # noqa: E402
from toolkit.quantization.options import PtqOptions  # noqa: E402
from toolkit.export import build_model, export_artifacts, make_spec, resolve_weights  # noqa: E402
from toolkit.quantization import litert_ptq  # noqa: E402

#: every layer int8 (CSRNet's declared float layers off, no card search): these tests check the
#: integer file itself
ALL_INT8 = PtqOptions(float_defaults=False, auto_float=False)

MODEL, VARIANT = "retouch_csrnet", "tiny"
ACTIVATION_DTYPE = {"w8a8": "int8", "w8a16": "int16"}
PATHS = {"w8a8": litert_ptq.PT2E_PATH, "w8a16": "ai-edge-quantizer static_wi8_ai16"}


def _export(out, precisions, layout="nchw"):
    spec = make_spec(MODEL, VARIANT, None, layout, False)
    weights = resolve_weights(MODEL, VARIANT, None, False)
    return export_artifacts(spec, weights, ["litert"], precisions, out, progress=False,
                            ptq=ALL_INT8)


def _artifact(manifest):
    return manifest.parent / json.loads(manifest.read_text())["artifact"]["file"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """fp32, w8a8 and w8a16 manifests from one export run (the sample and calibration shared)."""
    manifests = _export(tmp_path_factory.mktemp("litert-int8"), ["fp32", "w8a8", "w8a16"])
    return dict(zip(["fp32", "w8a8", "w8a16"], manifests))


@pytest.mark.parametrize("precision", ["w8a8", "w8a16"])
def test_within_budget_and_not_float(exported, precision):
    result, runner, _ = check_artifact(exported[precision])
    assert result.passed, result.problems
    assert len(result.samples) == 5  # every calibration photo, at the tiny size
    fp32_runner = check_artifact(exported["fp32"])[1]
    feeds = {"image": np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)}
    assert not np.array_equal(runner(feeds)["retouched"], fp32_runner(feeds)["retouched"])


@pytest.mark.parametrize("precision", ["w8a8", "w8a16"])
def test_file_is_integer_with_float_io(exported, precision):
    info = litert.inspect(_artifact(exported[precision]))
    dtypes = info["op_dtypes"]
    act = ACTIVATION_DTYPE[precision]
    assert dtypes["CONV_2D"] == {act: 6} and dtypes["FULLY_CONNECTED"] == {act: 6}
    assert info["ops"]["QUANTIZE"] == 1 and dtypes["QUANTIZE"] == {"float32": 1}
    assert info["ops"]["DEQUANTIZE"] == 1 and dtypes["DEQUANTIZE"] == {act: 1}
    assert {k: set(v) for k, v in dtypes.items() if k not in ("QUANTIZE",)} == {
        k: {act} for k in dtypes if k != "QUANTIZE"
    }, "every op but the input QUANTIZE computes on integers"
    facts = litert_ptq.describe(_artifact(exported[precision]))
    assert facts["io"] == "float32" and facts["float_layers"] == []
    assert facts["boundary"] == {"dequantize_at_output": 1, "quantize_at_input": 1}
    assert "QUANTIZE" not in litert.inspect(_artifact(exported["fp32"]))["ops"]


@pytest.mark.parametrize("precision", ["w8a8", "w8a16"])
def test_scheme_in_manifest_matches_file(exported, precision):
    manifest = json.loads(exported[precision].read_text())
    scheme = manifest["precision_scheme"]
    bits = litert_ptq.ACTIVATION_BITS[precision]
    assert scheme["id"] == precision and scheme["path"] == PATHS[precision]
    assert scheme["weights"] == {"bits": 8, "granularity": "per-channel", "symmetric": True}
    assert scheme["activations"] == {
        "bits": bits,
        "granularity": "per-tensor",
        "symmetric": precision == "w8a16",  # int8 is affine (zero points != 0), int16 symmetric
    }
    assert scheme["calibration"]["count"] == 5  # calibration/photos_pd
    assert scheme["float_layers"] == [] and scheme["io"] == "float32"
    assert f"int{bits} activations" in scheme["description"]
    facts = litert_ptq.describe(_artifact(exported[precision]))
    assert {k: scheme[k] for k in facts} == facts


def test_fp32_scheme_is_unchanged(exported):
    scheme = json.loads(exported["fp32"].read_text())["precision_scheme"]
    assert scheme["float_layers"] == "all" and "path" not in scheme


@pytest.mark.parametrize("precision", ["w8a8", "w8a16"])
def test_deterministic(exported, tmp_path, precision):
    [again] = _export(tmp_path, [precision])
    assert artifacts.sha256_path(_artifact(again)) == artifacts.sha256_path(
        _artifact(exported[precision])
    )


def test_nhwc_w8a8(tmp_path):
    [manifest] = _export(tmp_path, ["w8a8"], layout="nhwc")
    data = json.loads(manifest.read_text())
    assert data["io"]["inputs"][0]["shape"] == [1, 64, 64, 3]
    assert data["precision_scheme"]["path"] == litert_ptq.PT2E_PATH
    result, _, _ = check_artifact(manifest, max_images=2)
    assert result.passed, result.problems
    assert litert.inspect(_artifact(manifest))["op_dtypes"]["CONV_2D"] == {"int8": 6}


@pytest.fixture(scope="module")
def tiny_module():
    spec = make_spec(MODEL, VARIANT, None, "nchw", False)
    model = build_model(MODEL, VARIANT, resolve_weights(MODEL, VARIANT, None, False))
    return spec, prepare_for_export(model, spec)


@pytest.mark.parametrize("precision", ["w8a8", "w8a16"])
def test_missing_calibration_is_one_line_error(tiny_module, tmp_path, precision):
    spec, module = tiny_module
    for calib in (None, []):
        with pytest.raises(CamkitError) as err:
            litert.export(module, spec, precision, tmp_path, calib)
        assert "\n" not in str(err.value) and "calibration" in str(err.value)
    assert not any(tmp_path.iterdir())


def test_wrong_size_calibration_is_refused(tiny_module, tmp_path):
    spec, module = tiny_module
    feeds = [{"image": np.zeros((1, 64, 64, 3), np.float32)}]  # NHWC for an NCHW export
    with pytest.raises(CamkitError, match=r"\(1, 3, 64, 64\)"):
        litert.export(module, spec, "w8a8", tmp_path, feeds)


def test_dynamic_quantized_is_refused(tmp_path):
    spec = make_spec(MODEL, VARIANT, None, "nchw", True)
    model = build_model(MODEL, VARIANT, resolve_weights(MODEL, VARIANT, None, False))
    with pytest.raises(CamkitError, match="static --size") as err:
        litert.export(prepare_for_export(model, spec), spec, "w8a8", tmp_path, [])
    assert "\n" not in str(err.value)


def test_fallback_path_is_recorded(tiny_module, tmp_path, monkeypatch):
    """When the NNCF + PT2E path breaks, ai-edge-quantizer's static recipe takes over, labelled."""

    def broken(*args, **kwargs):
        raise RuntimeError("simulated PT2E failure\nsecond line")

    monkeypatch.setattr(litert_ptq, "pt2e_w8a8", broken)
    spec, module = tiny_module
    from toolkit.quantization.calibration import calibration_feeds

    path = litert.export(module, spec, "w8a8", tmp_path, calibration_feeds(spec))
    scheme = json.loads((tmp_path / "scheme.json").read_text())
    assert scheme["path"] == "ai-edge-quantizer static_wi8_ai8 (fallback: simulated PT2E failure)"
    assert scheme["activations"]["bits"] == 8 and scheme["io"] == "float32"
    assert litert.inspect(path)["op_dtypes"]["CONV_2D"] == {"int8": 6}


def test_large_mean_is_split_and_right_under_xnnpack(tmp_path):
    """At 736x736 tiny CSRNet's condition net averages 92x92 = 8464 > 8192 values per channel,
    where XNNPACK's int8 MEAN goes wrong; the export splits it (litert_ptq.split_large_means)."""
    spec = make_spec(MODEL, VARIANT, (736, 736), "nchw", False)
    weights = resolve_weights(MODEL, VARIANT, None, False)
    [manifest] = export_artifacts(spec, weights, ["litert"], ["w8a8"], tmp_path, progress=False,
                                  ptq=ALL_INT8)
    assert litert.inspect(_artifact(manifest))["op_dtypes"]["MEAN"] == {"int8": 2}
    result, _, _ = check_artifact(manifest, max_images=2)  # LiteRTRunner: XNNPACK on
    assert result.passed, result.problems


@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (2, 2, 0), (6, 2, 2), (8, 4, 2), (3, 1, 1)])
def test_subpixel_rewrite_equals_the_transposed_conv(k, s, p):
    import torch

    torch.manual_seed(0)
    t = torch.nn.ConvTranspose2d(5, 7, k, stride=s, padding=p)
    q = litert_ptq.SubPixelConvTranspose.half_width(t)
    assert q is not None
    x = torch.randn(2, 5, 9, 13)
    with torch.no_grad():
        want, got = t(x), litert_ptq.SubPixelConvTranspose(t, q)(x)
    assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5)


def test_subpixel_rewrite_leaves_what_it_cannot_rewrite():
    import torch

    odd = torch.nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1)  # 2H - 1 outputs
    grouped = torch.nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1, groups=2)
    net = torch.nn.Sequential(odd, grouped)
    same, rewritten = litert_ptq.subpixel_transposed_convs(net)
    assert same is net and rewritten == []


def test_transposed_conv_exports_as_int8_subpixel_conv(tmp_path):
    """litert-torch lowers a transposed conv with REVERSE_V2 / TRANSPOSE on its weight, so
    quantized it computes in float; the integer export rewrites it (exactly) as a CONV_2D and a
    pixel shuffle (RESHAPE / TRANSPOSE), all int8, and the scheme names it. The caller's module
    is not changed."""
    import torch

    from toolkit.spec import ExportSpec, ModelSpec, TensorSpec

    class Up(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.down = torch.nn.Conv2d(3, 8, 4, stride=2, padding=1)
            self.up = torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
            self.head = torch.nn.Conv2d(4, 3, 1)

        def forward(self, image):
            return image + self.head(torch.relu(self.up(torch.relu(self.down(image)))))

    torch.manual_seed(0)
    module = Up().eval()
    model = ModelSpec(model_id="up_test", task="test", title="test", paper="none",
                      inputs=(TensorSpec("image", 3),), outputs=(TensorSpec("out", 3),),
                      variants=("tiny",), default_variant="tiny", default_size={"tiny": (32, 32)})
    spec = ExportSpec(model, "tiny", 32, 32)
    rng = np.random.default_rng(0)
    calib = [{"image": rng.random((1, 3, 32, 32), dtype=np.float32)} for _ in range(4)]
    path = litert.export(module, spec, "w8a8", tmp_path, calib)
    info = litert.inspect(path)
    assert "TRANSPOSE_CONV" not in info["ops"] and "REVERSE_V2" not in info["ops"]
    assert info["op_dtypes"]["CONV_2D"] == {"int8": 3}
    assert litert_ptq.describe(path)["float_layers"] == []
    assert json.loads((tmp_path / "scheme.json").read_text())["subpixel_transposed_convs"] == ["up"]
    assert isinstance(module.up, torch.nn.ConvTranspose2d)
    feed = {"image": rng.random((1, 3, 32, 32), dtype=np.float32)}
    got = litert.load(path)(feed)["out"]
    with torch.no_grad():
        want = module(torch.from_numpy(feed["image"])).numpy()
    psnr = 10 * np.log10(1.0 / np.mean((got - want) ** 2))
    assert psnr > 35, psnr


def test_w8a16_ranges_get_the_onnx_headroom_on_each_side_away_from_zero():
    from toolkit.quantization.litert_ptq import widen_ranges
    from toolkit.quantization.options import ACTIVATION16_HEADROOM as HEADROOM

    qsvs = {"relu_out": {"min": np.array([0.0]), "max": np.array([2.0])},
            "signed": {"min": np.array([-1.0, -0.5]), "max": np.array([3.0, 0.0])},
            "other": {"something": 1}}
    got = widen_ranges(qsvs)
    assert got["relu_out"]["min"][0] == 0 and got["relu_out"]["max"][0] == 2 + 2 * HEADROOM
    assert got["signed"]["min"].tolist() == [-1 - 4 * HEADROOM, -0.5 - 0.5 * HEADROOM]
    assert got["signed"]["max"].tolist() == [3 + 4 * HEADROOM, 0.0]  # zero stays the end
    assert got["other"] == {"something": 1}
    assert qsvs["relu_out"]["max"][0] == 2.0  # the calibrator's own record is left alone
