"""Accuracy-aware quantization (``--max-drop-db``): a model made to be sensitive to w8a8 (one
tensor with a 1000x activation range, tests/_sensitive_model.py) ends within budget with layers
kept in float, for every format; the search logic and its errors on fakes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from toolkit import registry
from toolkit.errors import CamkitError
from toolkit.quantization.accuracy import Sensitivity, quantize_within_budget

import _sensitive_model  # tests/ is on sys.path: pytest prepends the test file's folder

BUDGET_DB = 0.3


@pytest.fixture
def sensitive(monkeypatch):
    """Register ``sensitive_test`` for this test only."""
    original = registry.model_module
    monkeypatch.setattr(
        registry, "model_module",
        lambda model_id: _sensitive_model if model_id == "sensitive_test" else original(model_id),
    )
    from toolkit.export import make_spec, resolve_weights

    spec = make_spec("sensitive_test", "tiny", None, "nchw", False)
    return spec, resolve_weights("sensitive_test", "tiny", None, True)


def _pairs(folder: Path, spec, weights, count: int = 3) -> Path:
    """Smooth synthetic inputs; targets = the float model's output plus fixed noise (about
    34 dB), so the float model's task PSNR is finite and a quantization error shows as a drop."""
    from toolkit.conversion._common import torch_runner
    from toolkit.export import build_model

    run = torch_runner(build_model("sensitive_test", "tiny", weights), spec)
    rng = np.random.default_rng(0)
    for sub in ("input", "target"):
        (folder / sub).mkdir(parents=True)
    yy, xx = np.mgrid[0:48, 0:48] / 48
    for i in range(count):
        img = np.stack([np.sin(3 * xx + i) * 0.4 + 0.5, np.cos(2 * yy + i) * 0.4 + 0.5,
                        (xx * yy + i * 0.1) % 1], -1).astype(np.float32)
        img = np.round(img * 255) / 255
        out = run({"image": img.transpose(2, 0, 1)[None]})["out"][0].transpose(1, 2, 0)
        target = np.clip(out + rng.normal(0, 0.02, out.shape), 0, 1)
        Image.fromarray(np.round(img * 255).astype(np.uint8)).save(folder / "input" / f"{i}.png")
        Image.fromarray(np.round(target * 255).astype(np.uint8)).save(folder / "target" / f"{i}.png")
    return folder


@pytest.mark.parametrize("fmt", ["onnx", "litert", "coreml"])
def test_sensitive_model_ends_within_budget_with_layers_in_float(fmt, sensitive, tmp_path):
    if not registry.format_available(fmt):
        pytest.skip(f"{fmt} extra not installed")
    from toolkit.checks.task import load_pairs, task_quality
    from toolkit.conversion._common import torch_runner
    from toolkit.export import AccuracyTarget, _trial_runner, build_model, export_artifacts
    from toolkit.quantization.calibration import calibration_feeds

    spec, weights = sensitive
    data = _pairs(tmp_path / "pairs", spec, weights)
    target = AccuracyTarget(BUDGET_DB, data, load_pairs(data))
    [manifest_path] = export_artifacts(spec, weights, [fmt], ["w8a8"], tmp_path / "out",
                                       progress=False, accuracy=target)
    scheme = json.loads(manifest_path.read_text())["precision_scheme"]
    control = scheme["accuracy_control"]
    assert control["trials"][0]["kept_float"] == []
    assert control["trials"][0]["drop_db"] > 3, "the model is meant to break w8a8"
    kept = scheme["kept_float_layers"]
    assert len(kept) >= 1 and kept == control["kept_float_layers"]
    assert "spike" in kept or "tail" in kept  # the layers around the 1000x tensor
    assert control["ranking"][0]["layer"] in ("spike", "tail")
    assert control["drop_db"] <= BUDGET_DB

    # measure the written artifact again, independently of the search
    module = registry.format_module(fmt)
    model = build_model("sensitive_test", "tiny", weights)
    artifact = manifest_path.parent / json.loads(manifest_path.read_text())["artifact"]["file"]
    runner = _trial_runner(module, artifact, model, spec, calibration_feeds(spec)) \
        if fmt != "coreml" else module.simulated_runner(model, spec, calibration_feeds(spec), scheme)
    quality = task_quality(runner, torch_runner(model, spec), spec, load_pairs(data))
    assert quality["drop_db"] <= BUDGET_DB
    assert quality["drop_db"] == pytest.approx(control["drop_db"], abs=1e-6)
    assert not list((tmp_path / "out").rglob("trial-*")), "trial artifacts must not be left"


def _fake_search(drops: dict[tuple, float], budget: float, shares: dict | None = None,
                 bound: float | None = None):
    """The search on fakes; ``shares``: float-MAC share per layer, ``bound`` the share it stays
    under while it can."""
    exported = []

    def export_trial(kept):
        exported.append(tuple(kept))
        return Path(f"trial-{len(kept)}")

    def measure(path):
        drop = drops[exported[-1]]
        return {"drop_db": drop, "float_psnr_db": 30.0, "artifact_psnr_db": 30.0 - drop}

    ranking = [Sensitivity("b", 20.0), Sensitivity("a", 25.0), Sensitivity("c", 60.0)]
    share = None if shares is None else (lambda kept: sum(shares[k] for k in kept))
    return quantize_within_budget(export_trial, measure, lambda: ranking, budget, "onnx w8a8",
                                  float_share=share, max_float_share=bound), exported


def test_the_search_passes_over_a_layer_that_breaks_the_float_mac_bound():
    shares = {"b": 0.6, "a": 0.02, "c": 0.02}
    drops = {(): 2.0, ("a",): 0.5, ("a", "c"): 0.2, ("b",): 0.1}
    outcome, exported = _fake_search(drops, 0.3, shares, 0.05)
    assert exported == [(), ("a",), ("a", "c")]  # "b" (60% of MACs) was passed over
    control = outcome.describe("d", 3)
    assert control["float_share"] == 0.04 and control["over_float_share"] is False


def test_the_search_goes_over_the_bound_when_nothing_under_it_passes_and_says_so():
    shares = {"b": 0.6, "a": 0.02, "c": 0.02}
    drops = {(): 2.0, ("a",): 0.9, ("a", "c"): 0.8, ("a", "c", "b"): 0.1}
    outcome, exported = _fake_search(drops, 0.3, shares, 0.05)
    assert exported[-1] == ("a", "c", "b")
    control = outcome.describe("d", 3)
    assert control["over_float_share"] is True and control["max_float_share"] == 0.05


def test_search_keeps_the_fewest_ranked_layers():
    drops = {(): 2.0, ("b",): 0.8, ("b", "a"): 0.1, ("b", "a", "c"): 0.05}
    outcome, exported = _fake_search(drops, 0.3)
    assert outcome.kept_float == ["b", "a"]
    assert exported == [(), ("b",), ("b", "a")]  # stops at the first that passes
    assert outcome.path == Path("trial-2")


def test_search_within_budget_at_once_ranks_nothing():
    outcome, exported = _fake_search({(): 0.1}, 0.3)
    assert outcome.kept_float == [] and outcome.ranking is None and exported == [()]


def test_search_says_by_how_much_it_cannot_be_reached():
    drops = {(): 2.0, ("b",): 0.9, ("b", "a"): 0.5, ("b", "a", "c"): 0.6}
    with pytest.raises(CamkitError, match=r"smallest task drop was 0\.500 dB \(over by 0\.200 "
                                          r"dB\) with 2 of 3 layers in float"):
        _fake_search(drops, 0.3)


def _fake_parity_search(results: dict[tuple, tuple], max_drop, min_psnr, min_ssim=None):
    """Like _fake_search, with (task drop, worst parity PSNR[, worst parity SSIM]) per trial."""
    exported = []

    def export_trial(kept):
        exported.append(tuple(kept))
        return Path(f"trial-{len(kept)}")

    def measure(path):
        drop, parity, *rest = results[exported[-1]]
        return {"drop_db": drop, "float_psnr_db": 30.0, "artifact_psnr_db": 30.0 - drop,
                "worst_parity_psnr_db": parity, "worst_parity_ssim": rest[0] if rest else None}

    ranking = [Sensitivity("b", 20.0), Sensitivity("a", 25.0), Sensitivity("c", 60.0)]
    return quantize_within_budget(export_trial, measure, lambda: ranking, max_drop, "onnx w8a8",
                                  min_psnr, min_ssim), exported


def test_parity_budget_is_seen_when_the_task_drop_looks_fine():
    """Issue 14: CSRNet's w8a8 lost 0.09 dB of task PSNR at 29 dB parity."""
    results = {(): (0.09, 29.3), ("b",): (0.05, 33.0), ("b", "a"): (0.02, 41.0)}
    outcome, exported = _fake_parity_search(results, 0.1, None)
    assert exported == [()]  # the drop alone stops at once
    outcome, exported = _fake_parity_search(results, 0.1, 38.0)
    assert outcome.kept_float == ["b", "a"] and exported == [(), ("b",), ("b", "a")]
    assert outcome.describe("d", 3)["worst_parity_psnr_db"] == 41.0
    outcome, _ = _fake_parity_search(results, None, 30.0)  # the parity budget alone
    assert outcome.kept_float == ["b"]


def test_the_cards_ssim_budget_is_seen_too():
    """The official CSRNet at 96x96: 30.8 dB parity with 4 float layers, SSIM still 0.83."""
    results = {(): (0.0, 29.0, 0.80), ("b",): (0.0, 30.8, 0.83), ("b", "a"): (0.0, 31.0, 0.96)}
    outcome, _ = _fake_parity_search(results, 0.1, 30.0)
    assert outcome.kept_float == ["b"]
    outcome, _ = _fake_parity_search(results, 0.1, 30.0, 0.95)
    assert outcome.kept_float == ["b", "a"]
    assert outcome.describe("d", 1)["worst_parity_ssim"] == 0.96


def test_parity_budget_shortfall_is_reported():
    results = {(): (0.0, 20.0), ("b",): (0.0, 25.0), ("b", "a"): (0.0, 27.0),
               ("b", "a", "c"): (0.0, 26.0)}
    with pytest.raises(CamkitError, match=r"--min-psnr-db 38: the best worst-photo value was "
                                          r"27\.00 dB \(under by 11\.00 dB\) with 2 of 3"):
        _fake_parity_search(results, 0.3, 38.0)
    with pytest.raises(CamkitError, match="needs --max-drop-db or --min-psnr-db"):
        _fake_parity_search(results, None, None)


def test_sensitive_model_parity_budget_keeps_layers_float(sensitive, tmp_path):
    """A task-drop budget the fully quantized artifact meets (100 dB) and a parity budget it does
    not: the search keeps layers float until the worst photo's parity holds."""
    if not registry.format_available("onnx"):
        pytest.skip("onnx extra not installed")
    from toolkit.checks.task import load_pairs
    from toolkit.export import AccuracyTarget, export_artifacts

    spec, weights = sensitive
    data = _pairs(tmp_path / "pairs", spec, weights)
    target = AccuracyTarget(100.0, data, load_pairs(data), min_psnr_db=35.0)
    [manifest_path] = export_artifacts(spec, weights, ["onnx"], ["w8a8"], tmp_path / "out",
                                       progress=False, accuracy=target)
    control = json.loads(manifest_path.read_text())["precision_scheme"]["accuracy_control"]
    first = control["trials"][0]
    assert first["kept_float"] == [] and first["drop_db"] <= 100.0
    assert first["worst_parity_psnr_db"] < 35.0, "the model is meant to break w8a8"
    assert control["kept_float_layers"] and control["min_psnr_db"] == 35.0
    share = json.loads(manifest_path.read_text())["precision_scheme"]["float_mac_share"]
    assert share["layers"] == len(control["kept_float_layers"]) and 0 < share["share"] < 1
    assert control["worst_parity_psnr_db"] == "inf" or control["worst_parity_psnr_db"] >= 35.0


def test_negative_budget_is_refused():
    with pytest.raises(CamkitError, match="must be >= 0"):
        _fake_search({(): 0.0}, -0.1)


def test_unknown_float_layer_is_a_clear_error(sensitive, tmp_path):
    from toolkit.conversion._common import prepare_for_export
    from toolkit.export import build_model
    from toolkit.quantization import coreml_ptq
    from toolkit.quantization.calibration import calibration_feeds

    spec, weights = sensitive
    prepared = prepare_for_export(build_model("sensitive_test", "tiny", weights), spec)
    with pytest.raises(CamkitError, match="no quantizable layer named .*'nope'"):
        coreml_ptq.quantize(prepared, spec, calibration_feeds(spec), ["nope"])


def test_cli_max_drop_db_needs_data():
    from conftest import run_cli

    result = run_cli("export", "retouch_csrnet", "--variant", "tiny", "--random-weights",
                     "--format", "onnx", "--precision", "w8a8", "--max-drop-db", "0.3",
                     "--out", "/tmp/camkit-unused")
    assert result.returncode != 0
    assert "--max-drop-db is measured on photos the calibration never saw, which needs --data" \
        in result.stderr


def test_litert_keeps_a_layer_whose_output_others_share_float(tmp_path):
    """cond_net.conv3 feeds ReLU -> mean; the quantizer gives the mean its input's scale
    (a shared spec), which must go float with it instead of breaking PT2E (KeyError: relu_2)."""
    if not registry.format_available("litert"):
        pytest.skip("litert extra not installed")
    from toolkit.conversion._common import prepare_for_export
    from toolkit.export import build_model, make_spec, resolve_weights
    from toolkit.quantization import litert_ptq
    from toolkit.quantization.calibration import calibration_feeds

    spec = make_spec("retouch_csrnet", "tiny", None, "nchw", False)
    weights = resolve_weights("retouch_csrnet", "tiny", None, True)
    prepared = prepare_for_export(build_model("retouch_csrnet", "tiny", weights), spec)
    litert = registry.format_module("litert")
    path = litert.export(prepared, spec, "w8a8", tmp_path, calibration_feeds(spec),
                         ["cond_net.conv3"])
    facts = litert_ptq.describe(path)
    float_convs = [f for f in facts["float_layers"] if f.startswith("CONV_2D")]
    assert len(float_convs) == 1 and "Conv2d_conv3" in float_convs[0]
    assert "cond_net" in float_convs[0]
    scheme = json.loads((tmp_path / "scheme.json").read_text())
    assert scheme["kept_float_layers"] == ["cond_net.conv3"]
    assert facts["weights"]["bits"] == 8  # every other conv is still int8


def test_cli_max_images_must_be_positive(tmp_path):
    from conftest import run_cli

    result = run_cli("export", "retouch_csrnet", "--variant", "tiny", "--random-weights",
                     "--format", "onnx", "--precision", "w8a8", "--max-drop-db", "0.3",
                     "--data", str(tmp_path), "--max-images", "0", "--out", str(tmp_path / "o"))
    assert result.returncode != 0
    assert "--max-images: must be at least 1, got 0" in result.stderr
    assert not (tmp_path / "o").exists()


def test_float_mac_share_counts_the_kept_layers(sensitive):
    """head 3->8 3x3 (216 MACs/px), spike 8->8 1x1 (64), tail 8->3 1x1 (24)."""
    from toolkit.models._cost import float_mac_share

    net = _sensitive_model.build("tiny")
    shapes = [(1, 3, 16, 16)]
    assert float_mac_share(net, shapes, [])["share"] == 0.0
    spike = float_mac_share(net, shapes, ["spike"])
    assert spike["total_macs"] == 304 * 256 and spike["float_macs"] == 64 * 256
    assert spike["share"] == pytest.approx(64 / 304, abs=1e-6)
    assert float_mac_share(net, shapes, ["spike", "mul", "tail/*"])["float_macs"] == 88 * 256
