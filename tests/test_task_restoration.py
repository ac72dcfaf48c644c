"""Task data and classical baselines for the restorers: GoPro pairs, inpainting folders, hole
metrics, Richardson-Lucy / Wiener / Telea / Navier-Stokes / biharmonic, the PSF estimate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from toolkit.checks import baselines
from toolkit.checks.metrics import masked_psnr_db, masked_ssim, psnr_db
from toolkit.checks.task import fit, load_pairs
from toolkit.data.blur import blur, kernel_for
from toolkit.data.io import masked_files, paired_files, read_image, write_image
from toolkit.errors import CamkitError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PHOTO = REPO / "calibration" / "photos_pd" / "astronaut.png"


def _photo(size=96) -> np.ndarray:
    return read_image(PHOTO)[100 : 100 + size, 150 : 150 + size]


def test_gopro_flat_naming_pairs_blur_with_sharp(tmp_path):
    img = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    for name in ("a_blur1", "a_sharp1", "b_blur12", "b_sharp12"):
        write_image(tmp_path / f"{name}.png", img)
    pairs = paired_files(tmp_path)
    assert [(i.name, t.name) for i, t in pairs] == [
        ("a_blur1.png", "a_sharp1.png"), ("b_blur12.png", "b_sharp12.png")]
    (tmp_path / "b_sharp12.png").unlink()
    with pytest.raises(CamkitError, match="b_blur12 and b_sharp12 must both exist"):
        paired_files(tmp_path)


def test_folder_of_neither_layout_names_both(tmp_path):
    write_image(tmp_path / "photo.png", np.zeros((8, 8, 3), np.float32))
    with pytest.raises(CamkitError, match="input/ and target/.*NAME_blurK"):
        paired_files(tmp_path)


def test_inpainting_folder_needs_matching_masks(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    write_image(tmp_path / "images" / "a.png", np.zeros((8, 8, 3), np.float32))
    with pytest.raises(CamkitError, match="same names; unmatched: a"):
        masked_files(tmp_path)
    with pytest.raises(CamkitError, match="images/ and masks/"):
        masked_files(tmp_path / "images")


def test_masked_metrics_see_only_the_hole():
    rng = np.random.default_rng(1)
    target = rng.random((48, 48, 3))
    mask = np.zeros((48, 48, 1))
    mask[16:32, 16:32] = 1
    outside_wrong = target.copy()
    outside_wrong[:8] = 0  # errors outside the hole do not count
    assert masked_psnr_db(outside_wrong, target, mask) == math.inf
    off = target.copy()
    off[16:32, 16:32] = np.clip(off[16:32, 16:32] + 0.1, None, None)
    assert masked_psnr_db(off, target, mask) == pytest.approx(20.0, abs=1e-9)  # 20 log10(1/0.1)
    assert masked_ssim(target, target, mask) == pytest.approx(1.0)
    assert masked_ssim(off * 0 + 0.5, target, mask) < 0.2


def test_fit_crops_blurry_photos_instead_of_resizing():
    image = np.random.default_rng(2).random((40, 60, 3)).astype(np.float32)
    assert np.array_equal(fit(image, 20, 30, "crop"), image[10:30, 15:45])
    assert fit(image, 20, 30, "resize").shape == (20, 30, 3)
    assert fit(image, 80, 80, "crop").shape == (80, 80, 3)  # too small: resized up


def test_deconvolution_with_the_true_psf_beats_the_blurry_input():
    sharp = _photo()
    kernel = kernel_for(1)
    blurry = blur(sharp, kernel)
    base = psnr_db(blurry, sharp)
    assert psnr_db(baselines.richardson_lucy(blurry, kernel), sharp) > base + 2
    assert psnr_db(baselines.wiener(blurry, kernel), sharp) > base + 2


@pytest.mark.parametrize("length,angle", [(15, 0), (21, 45), (11, 120)])
def test_cepstrum_estimate_finds_a_linear_blur(length, angle):
    blurry = blur(read_image(PHOTO)[:256, :256], baselines.line_psf(length, angle))
    _, info = baselines.estimate_linear_psf(blurry)
    assert abs(info["length_px"] - length) <= 2
    assert min(abs(info["angle_deg"] - angle), 180 - abs(info["angle_deg"] - angle)) <= 4


def test_inpainting_baselines_beat_a_grey_fill():
    image = _photo(64)
    mask = np.zeros((64, 64, 1), np.float32)
    mask[24:40, 20:44] = 1
    grey = image * (1 - mask) + 0.5 * mask
    floor = masked_psnr_db(grey, image, mask)
    for name in baselines.INPAINT:
        out = baselines.run(name, image, mask, None)
        assert out.shape == image.shape
        assert np.array_equal(out[mask[..., 0] == 0].round(2), image[mask[..., 0] == 0].round(2))
        assert masked_psnr_db(out, image, mask) > floor + 3, name


def test_psf_files(tmp_path):
    kernel = kernel_for(3)
    write_image(tmp_path / "k.png", (kernel / kernel.max())[..., None])
    psf = baselines.read_psf(tmp_path / "k.png")
    assert psf.shape == kernel.shape and psf.sum() == pytest.approx(1.0)
    write_image(tmp_path / "black.png", np.zeros((9, 9, 1), np.float32))
    with pytest.raises(CamkitError, match="all black"):
        baselines.read_psf(tmp_path / "black.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(CamkitError, match="corrupt or truncated"):
        baselines.read_psf(tmp_path / "bad.png")


def test_missing_opencv_gives_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)
    mask = np.ones((16, 16, 1), np.float32)
    with pytest.raises(CamkitError, match=r"pip install 'camkit\[baselines\]'"):
        baselines.run("telea", np.zeros((16, 16, 3), np.float32), mask, None)


def test_unknown_baseline_is_named():
    with pytest.raises(CamkitError, match="telea"):
        baselines.check_names(["teela"])


def _inpainting_folder(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, name in enumerate(("astronaut.png", "coffee.png")):
        image = read_image(REPO / "calibration" / "photos_pd" / name)[:96, :96]
        write_image(root / "images" / name, image)
        mask = np.zeros((96, 96, 1), np.float32)
        mask[30 + i * 5 : 60, 20:70] = 1
        write_image(root / "masks" / name, mask)
    return root


def test_check_reports_hole_metrics_and_baselines_for_inpainting(tmp_path):
    pytest.importorskip("onnxruntime")
    from toolkit.checks.gate import run_checks
    from toolkit.checks.report import markdown
    from toolkit.export import export_artifacts, make_spec, resolve_weights

    spec = make_spec("inpaint_edgeconnect", "tiny", None, "nchw", False)
    weights = resolve_weights("inpaint_edgeconnect", "tiny", None, True)
    export_artifacts(spec, weights, ["onnx"], ["fp32"], tmp_path / "art", progress=False)
    data = _inpainting_folder(tmp_path / "data")
    results, paths = run_checks(tmp_path / "art", data, tmp_path / "out", progress=False)
    [result] = results
    assert result.passed, result.problems
    task = json.loads(paths["json"].read_text())["artifacts"][0]["task"]
    assert task["region"] == "inside the hole" and task["pairs"] == 2
    assert set(task["baselines"]) == {"telea", "navier_stokes", "biharmonic"}
    assert task["baselines"]["telea"]["psnr_db"] > task["input_psnr_db"]
    # the tiny model outputs the input outside the hole, so whole-image numbers would be higher
    assert task["float_psnr_db"] == pytest.approx(task["artifact_psnr_db"], abs=0.5)
    assert "| telea (classical) |" in markdown(results)


def test_check_reports_deblurring_baselines_with_a_given_psf(tmp_path):
    pytest.importorskip("onnxruntime")
    from toolkit.checks.gate import run_checks
    from toolkit.export import export_artifacts, make_spec, resolve_weights

    spec = make_spec("deblur_nafnet", "tiny", None, "nchw", False)
    weights = resolve_weights("deblur_nafnet", "tiny", None, True)
    export_artifacts(spec, weights, ["onnx"], ["fp32"], tmp_path / "art", progress=False)
    kernel = kernel_for(5)
    sharp = read_image(PHOTO)[:80, :96]  # larger than the 64x64 artifact: centre-cropped
    write_image(tmp_path / "data" / "x_blur1.png", blur(sharp, kernel))
    write_image(tmp_path / "data" / "x_sharp1.png", sharp)
    write_image(tmp_path / "k.png", (kernel / kernel.max())[..., None])
    results, paths = run_checks(tmp_path / "art", tmp_path / "data", tmp_path / "out",
                                progress=False, psf=tmp_path / "k.png")
    task = json.loads(paths["json"].read_text())["artifacts"][0]["task"]
    assert task["size"] == [64, 64] and task["region"] == "whole image"
    assert task["baselines"]["psf"][0]["method"].startswith("given")
    assert task["baselines"]["richardson_lucy"]["psnr_db"] > task["input_psnr_db"]
    # input PSNR of the crop, not of a resized photo
    crop = lambda im: im[8:72, 16:80]  # noqa: E731
    blurry = read_image(tmp_path / "data" / "x_blur1.png")
    assert task["input_psnr_db"] == pytest.approx(psnr_db(crop(blurry), crop(sharp)), abs=1e-3)


@pytest.mark.skipif(not (SHARED / "inpainting_examples").is_dir(),
                    reason="../shared/data/inpainting_examples is absent (real Places2 masks)")
def test_real_inpainting_examples_load():
    items = load_pairs(SHARED / "inpainting_examples", masked=True)
    assert len(items) == 6
    for name, image, target, mask in items:
        assert image is target and 0 < mask.mean() < 0.6, name
        # EdgeConnect's example photos carry their holes painted white: no ground truth there
        from toolkit.checks.task import _painted_hole

        assert _painted_hole(image, mask), name


@pytest.mark.skipif(not (SHARED / "gopro_pairs").is_dir(),
                    reason="../shared/data/gopro_pairs is absent (real GoPro blur)")
def test_real_gopro_pairs_load():
    items = load_pairs(SHARED / "gopro_pairs")
    assert [n for n, *_ in items] == ["Flower_blur1.png", "Istanbul_blur1.png"]
    assert all(x.shape == (720, 1280, 3) for _, x, _ in items)
