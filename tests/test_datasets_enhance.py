"""Enhancement data: DPED layouts, unpaired folders and the synthetic phone-camera degradation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from toolkit.data import degradations
from toolkit.data.datasets import SyntheticPhone
from toolkit.data.dped import DPEDFullImages, DPEDPatches
from toolkit.data.unpaired import UnpairedFolders
from toolkit.errors import CamkitError

SHARED_DPED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dped_patches"
#: Canon patch N = phone patch N + this many 8-bit levels (exact in PNG), so pairs are checkable
OFFSET_LEVELS = 20


def _level(n: int) -> int:
    """Base 8-bit level of patch ``n``: distinct per patch, so a crop's mean names its file."""
    return 30 + 12 * n


def _patch(n: int, size: int = 40, offset: int = 0) -> np.ndarray:
    """uint8 HWC texture around _level(n) (+ offset), the same texture for every n."""
    rng = np.random.default_rng(99)
    texture = rng.integers(-8, 9, size=(size, size, 3))
    return np.clip(_level(n) + offset + texture, 0, 255).astype(np.uint8)


def _save(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _pairs(phone_dir: Path, canon_dir: Path, count: int, suffix: str = ".png") -> None:
    for n in range(count):
        _save(phone_dir / f"{n}{suffix}", _patch(n))
        _save(canon_dir / f"{n}{suffix}", _patch(n, offset=OFFSET_LEVELS))


@pytest.fixture
def official(tmp_path) -> Path:
    """dped/iphone/{training_data,test_data/patches}/{iphone,canon} + 2 full-size test images."""
    base = tmp_path / "dped" / "iphone"
    _pairs(base / "training_data" / "iphone", base / "training_data" / "canon", 12)
    _pairs(base / "test_data" / "patches" / "iphone", base / "test_data" / "patches" / "canon", 3)
    for n in range(2):
        _save(base / "test_data" / "full_size_test_images" / f"{n}.jpg", _patch(n, 120)[:, :100])
    return tmp_path / "dped"


@pytest.fixture
def flat(tmp_path) -> Path:
    _pairs(tmp_path / "flat" / "iphone", tmp_path / "flat" / "canon", 5, ".jpg")
    return tmp_path / "flat"


def _mean_level(image: torch.Tensor) -> float:
    return float(image.mean()) * 255.0


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------------- DPED layout


def test_official_layout_pairs_by_name_in_natural_order(official):
    ds = DPEDPatches(official, "iphone", "train", train=True)
    assert ds.layout == "official" and len(ds) == 12
    assert [p.stem for p, _ in ds.pairs] == [str(n) for n in range(12)]  # 2 before 10
    assert all(p.name == c.name for p, c in ds.pairs)
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape == y.shape == (3, 40, 40) and x.dtype == y.dtype == torch.float32
        assert abs(_mean_level(x) - _level(i)) < 1.0
        offset = torch.full_like(x, OFFSET_LEVELS / 255)
        torch.testing.assert_close(y - x, offset, rtol=0, atol=1e-6)
    test = DPEDPatches(official, "iphone", "test", train=False)
    assert len(test) == 3
    assert test.phone_dir == official / "iphone" / "test_data" / "patches" / "iphone"
    # root may also be the phone's own folder
    inner = DPEDPatches(official / "iphone", "iphone", "test", train=False)
    assert inner.pairs == test.pairs


def test_flat_layout_and_name_selection(flat):
    ds = DPEDPatches(flat, "iphone", train=False)
    assert ds.layout == "flat" and len(ds) == 5
    assert ds.canon_dir == flat / "canon"
    assert [p.name for p, _ in DPEDPatches(flat, "iphone", "test", train=False).pairs] == [
        p.name for p, _ in ds.pairs
    ]  # one split in a flat copy
    some = DPEDPatches(flat, "iphone", train=True, names=["3.jpg", "1.jpg"])
    assert [p.name for p, _ in some.pairs] == ["1.jpg", "3.jpg"]
    with pytest.raises(CamkitError, match="did you mean '3.jpg'"):
        DPEDPatches(flat, "iphone", train=True, names=["3.jpeg"])


def test_full_size_test_images_are_inputs_only(official, flat):
    full = DPEDFullImages(official, "iphone")
    assert len(full) == 2 and [p.name for p in full.files] == ["0.jpg", "1.jpg"]
    image = full[1]
    assert isinstance(image, torch.Tensor) and image.shape == (3, 120, 100)
    assert DPEDFullImages(official, "iphone", short_side_px=50)[0].shape == (3, 60, 50)
    with pytest.raises(CamkitError, match="full-size test images") as err:
        DPEDFullImages(flat, "iphone")
    _one_line(err)


def test_missing_canon_folder_is_a_one_line_error(official, flat):
    import shutil

    shutil.rmtree(flat / "canon")
    with pytest.raises(CamkitError, match=r"canon is missing") as err:
        DPEDPatches(flat, "iphone", train=True)
    _one_line(err)
    shutil.rmtree(official / "iphone" / "test_data" / "patches" / "canon")
    with pytest.raises(CamkitError, match=r"patches/canon is missing") as err:
        DPEDPatches(official, "iphone", "test", train=True)
    _one_line(err)


def test_mismatched_names_list_a_few(official):
    train = official / "iphone" / "training_data"
    for n in (3, 4, 5, 6, 7):
        (train / "canon" / f"{n}.png").rename(train / "canon" / f"x{n}.png")
    with pytest.raises(CamkitError) as err:
        DPEDPatches(official, "iphone", train=True)
    message = _one_line(err)
    assert "only in iphone/: 3, 4, 5 (+2 more); only in canon/: x3, x4, x5 (+2 more)" in message


def test_bad_names_and_folders(official, flat, tmp_path):
    with pytest.raises(CamkitError, match="unknown DPED phone 'iphon' \\(did you mean 'iphone'"):
        DPEDPatches(official, "iphon", train=True)
    with pytest.raises(CamkitError, match="unknown DPED split 'val'"):
        DPEDPatches(official, "iphone", "val", train=True)
    with pytest.raises(CamkitError, match="training_data/sony") as err:
        DPEDPatches(official / "iphone", "sony", train=True)
    _one_line(err)
    with pytest.raises(CamkitError, match="not a DPED folder for sony.*phones found there: iphone"):
        DPEDPatches(flat, "sony", train=True)
    with pytest.raises(CamkitError, match="patch_px 64 is larger than the DPED patches"):
        DPEDPatches(flat, "iphone", train=True, patch_px=64)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_jpeg_names_the_file(flat, damage):
    bad = flat / "iphone" / "3.jpg"
    data = bad.read_bytes()
    bad.write_bytes(b"not a jpeg at all" if damage == "garbage" else data[: len(data) // 2])
    ds = DPEDPatches(flat, "iphone", train=True)
    with pytest.raises(CamkitError, match="cannot read .*3.jpg as an image") as err:
        ds[3]
    _one_line(err)


# ------------------------------------------------------------------ crops, epochs, determinism


def test_patch_crop_is_the_same_window_for_input_and_target(official):
    ds = DPEDPatches(official, "iphone", train=True, patch_px=24, length=40)
    offset = torch.full((3, 24, 24), OFFSET_LEVELS / 255)
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            x, y = ds[i]
            assert x.shape == y.shape == (3, 24, 24)
            torch.testing.assert_close(y - x, offset, rtol=0, atol=1e-6)  # same window, same flip


def test_training_samples_are_a_function_of_seed_epoch_index(official):
    def make(seed: int) -> DPEDPatches:
        return DPEDPatches(official, "iphone", train=True, seed=seed, patch_px=24)

    a, b = make(3), make(3)
    b.set_epoch(2)
    b.set_epoch(0)  # a resumed run: no state but (seed, epoch, index)
    for i in (0, 5, 11):
        torch.testing.assert_close(a[i], b[i], rtol=0, atol=0)
    first = [a[i][0] for i in range(12)]
    a.set_epoch(1)
    assert any(not torch.equal(a[i][0], first[i]) for i in range(12))
    assert any(not torch.equal(make(4)[i][0], first[i]) for i in range(12))


def test_validation_takes_the_centre_without_flips(official):
    sets = [DPEDPatches(official, "iphone", train=False, seed=s, patch_px=24) for s in (0, 1)]
    sets[1].set_epoch(5)
    whole = DPEDPatches(official, "iphone", train=False)
    for i in range(12):
        torch.testing.assert_close(sets[0][i], sets[1][i], rtol=0, atol=0)
        torch.testing.assert_close(sets[0][i][0], whole[i][0][:, 8:32, 8:32], rtol=0, atol=0)


# ------------------------------------------------------------------------------------ unpaired


def test_unpaired_dped_draws_phone_and_canon_independently(official):
    ds = DPEDPatches(official, "iphone", train=True, seed=1, unpaired=True)
    picks = [ds.pick(i) for i in range(len(ds))]
    sides_a, sides_b = [a for a, _ in picks], [b for _, b in picks]
    assert sorted(sides_a) == sorted(sides_b) == list(range(12))  # each patch once per epoch
    assert sum(a == b for a, b in picks) < 6  # not the aligned pairs
    for i, (ia, ib) in enumerate(picks[:4]):
        x, y = ds[i]
        assert abs(_mean_level(x) - _level(ia)) < 1.0
        assert abs(_mean_level(y) - _level(ib) - OFFSET_LEVELS) < 1.0
    ds.set_epoch(1)
    later = [ds.pick(i) for i in range(len(ds))]
    assert [a for a, _ in later] != sides_a and [b for _, b in later] != sides_b
    fresh = DPEDPatches(official, "iphone", train=True, seed=1, unpaired=True)
    fresh.set_epoch(1)
    assert [fresh.pick(i) for i in range(len(ds))] == later


def test_unpaired_folders_lengths_epochs_and_validation(tmp_path):
    for n in range(3):
        _save(tmp_path / "phone" / f"p{n}.png", _patch(n, 48))
    for n in range(5):
        _save(tmp_path / "good" / f"g{n}.jpg", _patch(n + 10, 56))
    ds = UnpairedFolders(tmp_path / "phone", tmp_path / "good", 32, train=True, seed=0)
    assert len(ds) == 5  # max of the two folders: every good photo once per epoch
    picks = [ds.pick(i) for i in range(5)]
    assert sorted(b for _, b in picks) == list(range(5))
    assert {a for a, _ in picks} == {0, 1, 2}  # the smaller side is cycled
    x, y = ds[0]
    assert x.shape == y.shape == (3, 32, 32)
    epochs = []
    for epoch in range(4):
        ds.set_epoch(epoch)
        epochs.append([ds.pick(i) for i in range(5)])
    assert len({tuple(e) for e in epochs}) == 4
    longer = UnpairedFolders(tmp_path / "phone", tmp_path / "good", 32, train=True, length=12)
    assert len(longer) == 12 and longer[11][0].shape == (3, 32, 32)
    val = [UnpairedFolders(tmp_path / "phone", tmp_path / "good", 32, train=False) for _ in "ab"]
    val[1].set_epoch(7)
    for i in range(5):
        assert val[0].pick(i) == val[1].pick(i)
        torch.testing.assert_close(val[0][i], val[1][i], rtol=0, atol=0)
    with pytest.raises(CamkitError, match="good photos data folder .* does not exist"):
        UnpairedFolders(tmp_path / "phone", tmp_path / "nowhere", 32, train=True)


# ------------------------------------------------------------------------ phone degradation


def _photo(seed: int = 0, size: int = 64) -> np.ndarray:
    """Smooth gradient + texture, mid-range values (no clipping at either end)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = 0.3 + 0.3 * np.stack([x, y, (x + y) / 2], axis=-1)
    return (base + rng.uniform(-0.1, 0.1, size=(size, size, 3))).astype(np.float32)


def _high_frequency_energy(image: np.ndarray) -> float:
    return float(np.mean(np.diff(image, axis=0) ** 2) + np.mean(np.diff(image, axis=1) ** 2))


def test_phone_identity_and_determinism():
    image = _photo()
    identity = degradations.PhoneParams()
    np.testing.assert_array_equal(degradations.apply_phone(image, identity), image)
    zero = degradations.sample_phone(np.random.default_rng(3), strength=0.0)
    np.testing.assert_array_equal(degradations.apply_phone(image, zero), image)
    a = degradations.sample_phone(np.random.default_rng(7))
    b = degradations.sample_phone(np.random.default_rng(7))
    assert a == b and a != degradations.sample_phone(np.random.default_rng(8))
    out = degradations.apply_phone(image, a)
    np.testing.assert_array_equal(out, degradations.apply_phone(image, b))
    assert out.dtype == np.float32 and out.shape == image.shape
    assert 0.0 <= out.min() and out.max() <= 1.0 and np.abs(out - image).mean() > 1e-2
    with pytest.raises(CamkitError, match="strength 3 is out of range"):
        degradations.sample_phone(np.random.default_rng(0), 3)


def test_each_phone_stage_moves_the_image_the_expected_way():
    apply, params = degradations.apply_phone, degradations.PhoneParams
    grey = np.full((64, 64, 3), 0.5, np.float32)
    noisy = apply(grey, params(shot_noise=4e-3, read_noise=5e-3, noise_seed=1))
    assert noisy.var() > 1e-4 and grey.var() == 0.0
    assert not np.array_equal(noisy, apply(grey, params(shot_noise=4e-3, noise_seed=2)))
    dark = apply(np.full((64, 64, 3), 0.1, np.float32), params(shot_noise=4e-3, noise_seed=1))
    bright = apply(grey, params(shot_noise=4e-3, noise_seed=1))
    gamma = degradations.DISPLAY_GAMMA
    assert (dark**gamma).std() < 0.5 * (bright**gamma).std()  # shot noise grows with the signal

    image = _photo()
    blurred = apply(image, params(blur_sigma_px=1.0))
    assert _high_frequency_energy(blurred) < 0.5 * _high_frequency_energy(image)
    assert abs(blurred.mean() - image.mean()) < 0.01

    flat = apply(image, params(contrast=0.7))
    assert flat.std() < 0.8 * image.std()
    lifted = apply(image, params(black_lift=0.1))
    assert lifted.min() > image.min() and lifted.std() < image.std()

    cast = apply(image, params(cast_gains=(1.2, 1.0, 0.8)))
    r, g, b = (cast - image).reshape(-1, 3).mean(axis=0)
    assert r > 0.02 and b < -0.02 and abs(g) < 1e-5

    low, high = apply(image, params(jpeg_quality=20)), apply(image, params(jpeg_quality=90))
    np.testing.assert_array_equal(low, apply(image, params(jpeg_quality=20)))
    assert np.abs(low - image).mean() > np.abs(high - image).mean() > 0.0


def test_retouch_draws_are_unchanged_by_the_phone_additions():
    """sample_params still draws 8 uniforms per edit, as the shipped checkpoints were made."""
    rng = np.random.default_rng(7)
    degradations.sample_params(rng)
    reference = np.random.default_rng(7)
    reference.uniform(size=8)
    assert rng.uniform() == reference.uniform()


def test_synthetic_phone_degrades_the_crop(tmp_path):
    for n in range(3):
        _save(tmp_path / "photos" / f"p{n}.png", (_photo(n, 80) * 255).astype(np.uint8))
    val = SyntheticPhone(tmp_path / "photos", 48, train=False, seed=2, length=6)
    for i in range(6):
        x, y = val[i]
        assert x.shape == y.shape == (3, 48, 48)
        photo = val._image(val.photos[i % 3])
        np.testing.assert_array_equal(y.numpy().transpose(1, 2, 0), photo[16:64, 16:64])
        expected = degradations.apply_phone(photo[16:64, 16:64], val.params(i))
        np.testing.assert_array_equal(x.numpy().transpose(1, 2, 0), expected)  # at crop scale
    again = SyntheticPhone(tmp_path / "photos", 48, train=False, seed=2, length=6)
    torch.testing.assert_close(again[4], val[4], rtol=0, atol=0)
    train = SyntheticPhone(tmp_path / "photos", 32, train=True, seed=2, strength=0.5)
    first = train.params(1)
    train.set_epoch(1)
    assert train.params(1) != first
    with pytest.raises(CamkitError, match="out of range"):
        SyntheticPhone(tmp_path / "photos", 32, train=True, strength=-1)


# ----------------------------------------------------------------------------- shared sample


@pytest.mark.skipif(
    not SHARED_DPED.is_dir(),
    reason=f"shared DPED sample {SHARED_DPED} is absent (it sits beside the project, not in it)",
)
def test_shared_dped_patches():
    ds = DPEDPatches(SHARED_DPED, "iphone", "test", train=False)
    assert ds.layout == "flat" and len(ds) == 300
    for i in (0, 150, 299):
        x, y = ds[i]
        assert x.shape == y.shape == (3, 100, 100) and 0.0 <= x.min() and y.max() <= 1.0
    cropped = DPEDPatches(SHARED_DPED, "iphone", train=True, patch_px=96)
    assert cropped[7][0].shape == cropped[7][1].shape == (3, 96, 96)
    unpaired = DPEDPatches(SHARED_DPED, "iphone", train=True, unpaired=True)
    assert unpaired.pick(0)[0] != unpaired.pick(0)[1] or unpaired.pick(1)[0] != unpaired.pick(1)[1]
