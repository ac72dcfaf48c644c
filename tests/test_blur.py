"""The known-blur domain (toolkit/data/blur.py): seeded kernels, the SyntheticBlur pairs and the
photos_pd_blur calibration set that calibration/photos_pd_blur/regenerate.py rewrites."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from toolkit.data.blur import KNOWN_BLUR, KernelParams, SyntheticBlur, blur, kernel_for, motion_kernel
from toolkit.errors import CamkitError
from toolkit.quantization.calibration import calibration_set

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / "calibration" / "photos_pd"
BLUR_SET = REPO / "calibration" / "photos_pd_blur"


def test_kernels_are_seeded_normalised_and_centred():
    a, b = kernel_for(3), kernel_for(3)
    assert np.array_equal(a, b), "same seed, same kernel"
    assert not np.array_equal(a, kernel_for(4))
    for seed in range(8):
        k = kernel_for(seed)
        assert k.shape == (KNOWN_BLUR.size, KNOWN_BLUR.size) and k.dtype == np.float32
        assert k.min() >= 0 and abs(float(k.sum()) - 1.0) < 1e-5
        ys, xs = np.mgrid[: k.shape[0], : k.shape[1]]
        centre = (k.shape[0] - 1) / 2
        # centroid on the centre pixel: a blurred image is not shifted
        assert abs(float((k * ys).sum()) - centre) < 0.5 and abs(float((k * xs).sum()) - centre) < 0.5
        assert (k > 1e-4).sum() > 3, "a motion kernel is a path, not a delta"


@pytest.mark.parametrize("size", [30, 1])
def test_even_or_tiny_kernel_sizes_are_one_line_errors(size):
    with pytest.raises(CamkitError, match="odd"):
        motion_kernel(np.random.default_rng(0), KernelParams(size=size))


def test_blur_rejects_an_even_kernel_and_keeps_size_and_mean():
    image = np.random.default_rng(0).random((40, 48, 3)).astype(np.float32)
    with pytest.raises(CamkitError, match="odd"):
        blur(image, np.ones((4, 4), np.float32) / 16)
    out = blur(image, kernel_for(0, KernelParams(size=9)))
    assert out.shape == image.shape
    assert abs(float(out.mean() - image.mean())) < 0.01 and out.std() < image.std()


def test_synthetic_blur_pairs_are_shaped_deterministic_and_blurred():
    data = SyntheticBlur(PHOTOS, 64, train=True, seed=1, short_side_px=128, length=6)
    blurry, sharp = data[2]
    assert blurry.shape == sharp.shape == (3, 64, 64)
    assert blurry.dtype == torch.float32 and 0 <= blurry.min() and blurry.max() <= 1
    again = SyntheticBlur(PHOTOS, 64, train=True, seed=1, short_side_px=128, length=6)[2]
    assert torch.equal(again[0], blurry) and torch.equal(again[1], sharp)
    data.set_epoch(1)
    assert not torch.equal(data[2][0], blurry), "another epoch, another crop and kernel"
    # blur smooths: less high-frequency energy than the sharp crop
    grad = lambda x: (x[:, 1:] - x[:, :-1]).abs().mean()  # noqa: E731
    assert grad(SyntheticBlur(PHOTOS, 64, train=True, seed=1, short_side_px=128,
                              noise_sigma=0.0, length=6)[2][0]) < grad(sharp)
    val = SyntheticBlur(PHOTOS, 96, train=False, seed=1, length=10)
    v0, t0 = val[0]
    assert v0.shape == t0.shape == (3, 96, 96)
    val.set_epoch(5)
    assert torch.equal(val[0][0], v0), "validation samples do not depend on the epoch"


def test_synthetic_blur_bad_input_is_a_one_line_error(tmp_path):
    with pytest.raises(CamkitError, match="noise_sigma"):
        SyntheticBlur(PHOTOS, 64, train=True, noise_sigma=0.5)
    with pytest.raises(CamkitError, match="does not exist"):
        SyntheticBlur(tmp_path / "nope", 64, train=True)


def test_calibration_set_is_what_regenerate_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("regenerate", BLUR_SET / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    manifest = module.regenerate(tmp_path)
    assert (tmp_path / "manifest.json").read_bytes() == (BLUR_SET / "manifest.json").read_bytes()
    for entry in manifest["files"]:
        assert (tmp_path / entry["file"]).read_bytes() == (BLUR_SET / entry["file"]).read_bytes()
    source = {e["file"]: e for e in json.loads((PHOTOS / "manifest.json").read_text())["files"]}
    assert len(manifest["files"]) == len(source) == len(calibration_set("photos_pd_blur"))
    for entry, name in zip(manifest["files"], module.SEEDS):
        assert entry["license"] == source[name]["license"]
        assert entry["source"].startswith(f"photos_pd/{name} blurred with toolkit.data.blur kernel seed ")
