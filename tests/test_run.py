"""`camkit run`: a model (torch) or an artifact applied to photos: upright, colour profile kept,
the artifact's result equal to the model's, and clear refusals (wrong size, missing mask, an
existing result)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from conftest import run_cli
from toolkit.artifacts import sha256_path
from toolkit.checks.metrics import psnr_db


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    rng = np.random.default_rng(seed)
    img = np.stack([np.sin(6 * xx) * 0.3 + 0.5, np.cos(4 * yy) * 0.3 + 0.5, xx * yy], -1)
    return np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1)


def _save_jpeg_rotated(path, pixels: np.ndarray) -> bytes:
    """Store the photo turned on its side with EXIF orientation 6 (as phones do) and an sRGB
    ICC profile; returns the profile's bytes."""
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    stored = Image.fromarray((pixels * 255 + 0.5).astype(np.uint8)).transpose(Image.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display: undoes the ROTATE_90 above
    stored.save(path, format="JPEG", quality=98, exif=exif.tobytes(), icc_profile=icc)
    return icc


def _torch_output(model_id: str, variant: str, pixels: np.ndarray) -> np.ndarray:
    from toolkit.building import build_model, resolve_weights

    net = build_model(model_id, variant, resolve_weights(model_id, variant, None, False)).eval()
    with torch.no_grad():
        out = net(torch.from_numpy(pixels.transpose(2, 0, 1).astype(np.float32))[None])
    return np.clip(out[0].numpy().transpose(1, 2, 0), 0, 1)


def test_a_model_on_a_rotated_jpeg_keeps_orientation_and_profile(tmp_path):
    pixels = _photo(48, 80)
    photo = tmp_path / "in" / "phone.jpg"
    photo.parent.mkdir()
    icc = _save_jpeg_rotated(photo, pixels)
    result = run_cli("run", "retouch_csrnet", "--variant", "tiny", str(photo.parent),
                     "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "out" / "phone.jpg") as im:
        assert im.format == "JPEG" and im.size == (80, 48)  # upright, as displayed
        assert im.info.get("icc_profile") == icc
        assert im.getexif().get(0x0112, 1) == 1
        got = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
    with Image.open(photo) as im:  # what the model saw: the decoded JPEG, upright
        from PIL import ImageOps

        seen = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.float32) / 255
    expected = _torch_output("retouch_csrnet", "tiny", seen)
    assert psnr_db(got, expected) > 38  # JPEG q95 of the same result


def test_an_artifact_gives_the_models_result_and_refuses_other_sizes(tmp_path):
    pytest.importorskip("onnxruntime")
    pixels = _photo(64, 96, seed=1)
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray((pixels * 255 + 0.5).astype(np.uint8)).save(folder / "a.png")
    exported = run_cli("export", "retouch_csrnet", "--variant", "tiny", "--format", "onnx",
                       "--precision", "fp32", "--dynamic", "--out", str(tmp_path / "art"),
                       "--no-check")
    assert exported.returncode == 0, exported.stderr
    [artifact] = (tmp_path / "art" / "retouch_csrnet" / "tiny").glob("*.onnx")
    ran = run_cli("run", str(artifact), str(folder), "--out", str(tmp_path / "out"))
    assert ran.returncode == 0, ran.stderr
    got = np.asarray(Image.open(tmp_path / "out" / "a.png"), dtype=np.float32) / 255
    seen = np.asarray(Image.open(folder / "a.png"), dtype=np.float32) / 255
    assert np.abs(got - _torch_output("retouch_csrnet", "tiny", seen)).max() <= 1 / 255 + 1e-6

    again = run_cli("run", str(artifact), str(folder), "--out", str(tmp_path / "out"))
    assert again.returncode == 2 and "exists; pass --overwrite" in again.stderr
    assert run_cli("run", str(artifact), str(folder), "--out", str(tmp_path / "out"),
                   "--overwrite").returncode == 0

    static = run_cli("export", "retouch_csrnet", "--variant", "tiny", "--format", "onnx",
                     "--precision", "fp32", "--out", str(tmp_path / "static"), "--no-check")
    assert static.returncode == 0, static.stderr
    [fixed] = (tmp_path / "static" / "retouch_csrnet" / "tiny").glob("*.manifest.json")
    resized = run_cli("run", str(fixed), str(folder), "--out", str(tmp_path / "resized"))
    assert resized.returncode == 0, resized.stderr
    assert "the 64x96 photo is resized to the artifact's 64x64" in resized.stderr
    assert "lossy" in resized.stderr and "export with --split" in resized.stderr
    assert Image.open(tmp_path / "resized" / "a.png").size == (96, 64)


def test_a_split_artifact_runs_a_larger_photo_by_tiles_as_torch_does(tmp_path):
    """CSRNet's split by tiles, exported to ONNX: the per-tile artifact and its features
    artifact beside it, named by the manifest. camkit run follows the plan (features over the
    photo by tiles, then the per-pixel network per tile) and gives CSRNet on the whole photo;
    `camkit check` fails the artifact whose features artifact is gone."""
    pytest.importorskip("onnxruntime")
    from toolkit.building import build_model, resolve_weights

    # 136x200: larger than the 64x64 tile, sides differing from it by multiples of 8 (exact)
    pixels = (_photo(136, 200, seed=3) * 255 + 0.5).astype(np.uint8)
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(pixels).save(folder / "big.png")
    exported = run_cli("export", "retouch_csrnet", "--variant", "tiny", "--format", "onnx",
                       "--precision", "fp32", "--split", "--out", str(tmp_path / "art"),
                       "--no-check")
    assert exported.returncode == 0, exported.stderr
    art = tmp_path / "art" / "retouch_csrnet" / "tiny"
    [manifest] = art.glob("*split.onnx.manifest.json")
    plan = json.loads(manifest.read_text())["full_resolution"]
    assert plan["strategy"] == "split" and plan["margin"] == 0 and plan["exact"]
    entry = plan["statistics"]
    assert entry["artifact"]["file"] == manifest.name.replace(".onnx.manifest.json",
                                                              ".statistics.onnx")
    assert (art / entry["artifact"]["file"]).is_file()
    assert entry["artifact"]["io"]["outputs"][0]["shape"] == [1, 8, 8, 8]
    ran = run_cli("run", str(manifest), str(folder / "big.png"), "--out", str(tmp_path / "out"))
    assert ran.returncode == 0, ran.stderr
    got = np.asarray(Image.open(tmp_path / "out" / "big.png")).astype(int)

    weights = resolve_weights("retouch_csrnet", "tiny", None, False)
    whole = build_model("retouch_csrnet", "tiny", weights).eval()
    x = torch.from_numpy(pixels.astype(np.float32).transpose(2, 0, 1) / 255)[None]
    with torch.no_grad():
        truth = whole(x)[0].clamp(0, 1).numpy().transpose(1, 2, 0)
    assert np.abs(got - (truth * 255 + 0.5).astype(int)).max() <= 1

    checked = run_cli("check", str(art))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # another model's features artifact in its place (its sha256 recorded): the check measures
    other = run_cli("export", "retouch_csrnet", "--variant", "tiny", "--format", "onnx",
                    "--precision", "fp32", "--split", "--random-weights", "--out",
                    str(tmp_path / "other"), "--no-check")
    assert other.returncode == 0, other.stderr
    [wrong] = (tmp_path / "other" / "retouch_csrnet" / "tiny").glob("*.statistics.onnx")
    shutil.copyfile(wrong, art / entry["artifact"]["file"])
    raw = json.loads(manifest.read_text())
    raw["full_resolution"]["statistics"]["artifact"]["sha256"] = sha256_path(wrong)
    manifest.write_text(json.dumps(raw))
    swapped = run_cli("check", str(art))
    assert swapped.returncode != 0 and "its mean differs from the float model's statistics" \
        in swapped.stdout + swapped.stderr
    (art / entry["artifact"]["file"]).unlink()
    broken = run_cli("check", str(art))
    assert broken.returncode != 0 and "features artifact" in broken.stdout + broken.stderr
    refused = run_cli("run", str(manifest), str(folder / "big.png"), "--out",
                      str(tmp_path / "out2"))
    assert refused.returncode != 0 and "features artifact" in refused.stderr


def test_inpainting_needs_masks_and_bad_photos_are_named(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray((_photo(64, 64) * 255).astype(np.uint8)).save(folder / "p.png")
    missing = run_cli("run", "inpaint_edgeconnect", str(folder), "--out", str(tmp_path / "o"))
    assert missing.returncode == 2 and "pass --masks DIR" in missing.stderr
    masks = tmp_path / "masks"
    masks.mkdir()
    hole = np.zeros((64, 64), np.uint8)
    hole[20:40, 24:44] = 255
    Image.fromarray(hole).save(masks / "p.png")
    filled = run_cli("run", "inpaint_edgeconnect", str(folder), "--masks", str(masks),
                     "--out", str(tmp_path / "o"))
    assert filled.returncode == 0, filled.stderr
    out = np.asarray(Image.open(tmp_path / "o" / "p.png"), dtype=np.int16)
    src = np.asarray(Image.open(folder / "p.png"), dtype=np.int16)
    assert np.abs(out - src)[hole == 0].max() <= 1  # known pixels pass through
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    bad = run_cli("run", "retouch_csrnet", str(folder / "broken.jpg"), "--out", str(tmp_path / "b"))
    assert bad.returncode == 2 and "cannot read" in bad.stderr and bad.stderr.count("\n") == 1
