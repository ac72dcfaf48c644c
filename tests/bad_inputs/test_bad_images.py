"""Bad images and captures (issue 13, items 11, 12, 17 and 18).

11: a huge photo is read (camkit's own pixel limit instead of PIL's bomb error), an absurd one is
    a one-line error, and photos are scaled down or cropped as they are decoded, one pair at a
    time, so nothing holds full-resolution float arrays it does not need (tracemalloc sees every
    numpy allocation, not PIL's decode buffers: exactly the float32 arrays the issue measured);
12: EXIF orientation is applied; a pair whose input and target differ in size is refused;
17: ``calib build --out``, the modes of a built set, ``--calib SET_FOLDER`` (verified by sha256)
    and an unreadable set;
18: a UTF-16 capture (PowerShell's ``>``; big-endian; without a BOM) parses like the UTF-8 one.

Everything is generated in tmp_path at small sizes; the CLI cases run the tiny CSRNet.
"""

from __future__ import annotations

import codecs
import json
import os
import stat
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _harness import assert_one_line_error, cli, snapshot  # pytest prepends this folder
from toolkit.checks.metrics import psnr_db
from toolkit.data import io as image_io
from toolkit.data.io import read_image, resize_cover
from toolkit.errors import CamkitError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "profilers"
ORIENTATION = 0x0112


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth HxWx3 uint8 photo (compresses fast, survives JPEG at high PSNR)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = [np.sin(x / 13 + seed) + np.cos(y / 17), np.sin((x + y) / 29 + seed),
           np.cos(x / 23 - y / 31 + seed)]
    return (np.stack(rgb, -1) * 60 + 127).clip(0, 255).astype(np.uint8)


def _save(path: Path, pixels: np.ndarray, orientation: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kw = {"quality": 95} if path.suffix == ".jpg" else {}
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        kw["exif"] = exif
    Image.fromarray(pixels).save(path, **kw)
    return path


def _rotated_for_tag_6(upright: np.ndarray) -> np.ndarray:
    """The pixels a camera stores for ``upright`` with orientation 6 ("rotate 90 CW to view")."""
    return np.ascontiguousarray(np.rot90(upright, k=1))  # 90 degrees counter-clockwise


def _peak_bytes(fn):
    """(fn(), peak bytes allocated while it ran, as tracemalloc sees them)."""
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _check(manifest: Path, data: Path, out: Path):
    return cli("check", manifest, "--data", data, "--out", out)


# ---------------------------------------------------------------- 11: huge photos, lazy pairs


def test_a_photo_over_pils_bomb_limit_is_read(tmp_path, monkeypatch):
    """PIL's own guard fails at 2x Image.MAX_IMAGE_PIXELS (179 MP by default, under a 200 MP
    phone photo); lowered here so a small photo trips it as a 200 MP one would."""
    import PIL.Image

    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)
    _save(tmp_path / "src" / "big.png", _photo(60, 80))
    result = cli("calib", "build", "--from", tmp_path / "src", "--name", "s", "--size", "32x32",
                 "--out", tmp_path / "sets")
    assert result.rc == 0, result.err
    assert read_image(tmp_path / "src" / "big.png").shape == (60, 80, 3)
    assert PIL.Image.MAX_IMAGE_PIXELS == 1000  # PIL's setting is left as it was


def test_an_absurd_photo_is_one_line_error_naming_its_pixels(tmp_path, monkeypatch, tiny_onnx):
    # 1 MP stands in for 250 MP: above the repo's calibration photos, which `check` reads too
    monkeypatch.setattr(image_io, "MAX_IMAGE_PIXELS", 1_000_000)
    photo = _photo(1000, 1100)
    _save(tmp_path / "src" / "huge.png", photo)
    _save(tmp_path / "data" / "input" / "a.png", photo)
    _save(tmp_path / "data" / "target" / "a.png", photo)
    for args in (
        ["calib", "build", "--from", tmp_path / "src", "--name", "s", "--out", tmp_path / "sets"],
        ["check", tiny_onnx, "--data", tmp_path / "data", "--out", tmp_path / "reports"],
    ):
        assert_one_line_error(cli(*args), "1000x1100", "1.1 megapixels", "limit of 1 megapixels",
                              "scale it down")
    assert not (tmp_path / "sets" / "s").exists()


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_read_image_scales_down_as_it_decodes(tmp_path, suffix):
    path = _save(tmp_path / f"photo{suffix}", _photo(1200, 1600))
    full_float_bytes = 1200 * 1600 * 3 * 4
    small, peak = _peak_bytes(lambda: read_image(path, cover=(48, 48)))
    assert small.shape == (48, 64, 3)  # covers 48x48, aspect kept
    assert peak < full_float_bytes / 20, peak
    reference = resize_cover(read_image(path), 48, 64)
    assert psnr_db(small, reference) > 30


def _paired(root: Path, count: int, height: int, width: int) -> Path:
    for i in range(count):
        photo = _photo(height, width, seed=i)
        _save(root / "input" / f"{i}.png", photo)
        _save(root / "target" / f"{i}.png", photo[::-1].copy())
    return root


def test_pairs_are_decoded_one_at_a_time_at_the_artifact_size(tmp_path):
    """The issue: every pair held at full resolution, 3.4 GB per 12000x12000 pair."""
    from toolkit.checks.task import fit, load_pairs

    data = _paired(tmp_path / "data", 3, 800, 1000)
    one_full_float = 800 * 1000 * 3 * 4

    def fitted():
        pairs = load_pairs(data)
        return pairs, pairs.fitted(64, 64, "resize")

    (pairs, items), peak = _peak_bytes(fitted)
    assert len(items) == 3 and all(x.shape == y.shape == (64, 64, 3) for _, x, y, _ in items)
    assert peak < one_full_float / 2, peak  # not even one full-resolution array at once
    # deblurring crops, never resizes: cropped on load, the same pixels as cropping the full photo
    name, full_x, full_y = pairs[1]
    _, x, y, _ = pairs.fitted(64, 64, "crop")[1]
    assert np.array_equal(x, fit(full_x, 64, 64, "crop"))
    assert np.array_equal(y, fit(full_y, 64, 64, "crop"))


def test_calibration_feeds_keep_only_the_small_feeds(tmp_path):
    from toolkit.export import make_spec
    from toolkit.quantization.calibration import calibration_feeds

    for i in range(3):
        _save(tmp_path / "photos" / f"{i}.jpg", _photo(800, 1000, seed=i))
    spec = make_spec("retouch_csrnet", "tiny", (32, 32), "nchw", False)
    feeds, peak = _peak_bytes(lambda: calibration_feeds(spec, tmp_path / "photos"))
    assert len(feeds) == 3 and feeds[0]["image"].shape == (1, 3, 32, 32)
    assert peak < 800 * 1000 * 3 * 4 / 4, peak


# ---------------------------------------------------------------- 12: orientation, mismatched pairs


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_exif_orientation_is_applied(tmp_path, suffix):
    upright = _photo(60, 90)
    path = _save(tmp_path / f"rotated{suffix}", _rotated_for_tag_6(upright), orientation=6)
    image = read_image(path)
    assert image.shape == (60, 90, 3)
    assert psnr_db(image, upright / 255.0) > 35
    assert image_io.image_size(path) == (60, 90)
    assert read_image(path, cover=(30, 45)).shape == (30, 45, 3)


def test_a_rotated_pair_scores_high_against_its_unrotated_twin(tmp_path, tiny_onnx):
    """The issue: 9.3 dB for a photo against itself, because the EXIF rotation was ignored."""
    upright = _photo(96, 128)
    _save(tmp_path / "data" / "input" / "a.jpg", _rotated_for_tag_6(upright), orientation=6)
    _save(tmp_path / "data" / "target" / "a.png", upright)
    result = _check(tiny_onnx, tmp_path / "data", tmp_path / "reports")
    assert "Traceback" not in result.err, result.err
    task = json.loads((tmp_path / "reports" / "check.json").read_text())["artifacts"][0]["task"]
    assert task["input_psnr_db"] > 35, task


@pytest.mark.parametrize("layout", ["folders", "gopro"])
def test_a_pair_of_different_sizes_is_one_line_error(tmp_path, tiny_onnx, layout):
    names = {"folders": ("input/a.png", "target/a.png"), "gopro": ("a_blur1.png", "a_sharp1.png")}
    first, second = (tmp_path / "data" / n for n in names[layout])
    _save(first, _photo(60, 90))
    _save(second, _photo(64, 90))
    before = snapshot(tmp_path / "data")
    result = _check(tiny_onnx, tmp_path / "data", tmp_path / "reports")
    assert_one_line_error(result, str(first), str(second), "60x90", "64x90", "same size")
    assert snapshot(tmp_path / "data") == before


# ---------------------------------------------------------------- 17: calibration set folders


def _built_set(tmp_path: Path, name: str = "mine") -> Path:
    for i in range(2):
        _save(tmp_path / "photos" / f"{i}.png", _photo(80, 100, seed=i))
    result = cli("calib", "build", "--from", tmp_path / "photos", "--name", name,
                 "--size", "32x32", "--out", tmp_path / "sets")
    assert result.rc == 0, result.err
    assert f"--calib {tmp_path / 'sets' / name}" in result.out
    return tmp_path / "sets" / name


def test_calib_build_out_writes_a_set_other_users_can_read(tmp_path):
    from toolkit.quantization.calibration import CALIBRATION_ROOT

    repo_sets = snapshot(CALIBRATION_ROOT)
    umask = os.umask(0o022)
    try:
        folder = _built_set(tmp_path)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755  # not mkdtemp's 0o700
    files = list(folder.iterdir())
    assert len(files) == 3 and {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o644}
    assert not (CALIBRATION_ROOT / "mine").exists() and snapshot(CALIBRATION_ROOT) == repo_sets


def _export_w8a8(calib: Path, out: Path):
    return cli("export", "retouch_csrnet", "--variant", "tiny", "--random-weights",
               "--format", "onnx", "--precision", "w8a8", "--calib", calib, "--out", out,
               "--no-check")


def test_export_calib_takes_a_built_set_folder_and_verifies_it(tmp_path):
    pytest.importorskip("onnxruntime")
    from toolkit.export import make_spec
    from toolkit.quantization.calibration import calibration_feeds

    folder = _built_set(tmp_path)
    spec = make_spec("retouch_csrnet", "tiny", (32, 32), "nchw", False)
    assert len(calibration_feeds(spec, folder)) == 2
    crop = sorted(folder.glob("*.png"))[0]
    crop.write_bytes(crop.read_bytes() + b"tampered")
    with pytest.raises(CamkitError, match="sha256"):
        calibration_feeds(spec, folder)
    assert_one_line_error(_export_w8a8(folder, tmp_path / "art"), str(crop), "sha256")


def test_an_unreadable_calibration_set_is_one_line_error(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    folder = _built_set(tmp_path)
    crop = sorted(folder.glob("*.png"))[0]
    crop.chmod(0)
    if os.geteuid() == 0:  # root reads it anyway: refuse it the way the kernel would
        read_bytes = Path.read_bytes

        def denied(self):
            if self == crop:
                raise PermissionError(13, "Permission denied", str(self))
            return read_bytes(self)

        monkeypatch.setattr(Path, "read_bytes", denied)
    result = _export_w8a8(folder, tmp_path / "art")
    assert_one_line_error(result, str(folder), "permission denied", "chmod")


# ---------------------------------------------------------------- 18: capture encodings


def _utf16_le_without_bom(text: str) -> bytes:
    return text.encode("utf-16-le")


@pytest.mark.parametrize("encode", [
    lambda t: t.encode("utf-16"),  # BOM FF FE, what PowerShell 5's > writes
    lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
    _utf16_le_without_bom,
], ids=["utf16-bom", "utf16be-bom", "utf16le-no-bom"])
@pytest.mark.parametrize("tool, fixture", [
    ("benchmark_model", "tflite_interpreter_new.txt"),
    ("onnxruntime_perf_test", "ort_perf_test.txt"),
])
def test_a_utf16_capture_parses_like_the_utf8_one(tmp_path, encode, tool, fixture):
    import hashlib

    from toolkit.profilers.parsers import parse_capture

    utf8 = FIXTURES / fixture
    capture = tmp_path / fixture
    capture.write_bytes(encode(utf8.read_text(encoding="utf-8")))
    want, got = parse_capture(tool, utf8).to_json(), parse_capture(tool, capture).to_json()
    assert got["error"] is None
    assert got.pop("raw_output_sha256") == hashlib.sha256(capture.read_bytes()).hexdigest()
    want.pop("raw_output_sha256")
    assert got == want


def test_cli_parses_a_powershell_capture(tmp_path):
    capture = tmp_path / "run.txt"
    capture.write_bytes((FIXTURES / "tflite_interpreter_new.txt").read_text().encode("utf-16"))
    result = cli("profile", "parse", "--tool", "benchmark_model", capture)
    assert result.rc == 0 and "truncated" not in result.err + result.out, result.err
