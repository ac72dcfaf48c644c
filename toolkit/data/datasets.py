"""Training datasets: (input, target) pairs of CHW float32 tensors in [0, 1].

``PairedFolder(root)`` reads ``root/input/*`` and ``root/target/*`` with matching names (the usual
MIT-Adobe FiveK layout: camera rendering vs expert C). ``SyntheticRetouch(folder)`` turns any
folder of good photos into pairs: target = the photo, input = the photo after a random global edit
(``toolkit.data.degradations``), so a model learns to undo a bad edit. ``SyntheticPhone(folder)``
does the same with a phone-camera degradation (blur, noise, colour cast, flat tone, JPEG).
DPED (``toolkit.data.dped``) and unpaired folders (``toolkit.data.unpaired``) build on the same
``_CroppedPairs`` base.

Randomness is a pure function of ``(seed, epoch, index)`` for training samples (random crop,
flip, edit) and of ``(seed, index)`` for validation samples (centre crop, fixed edit). A resumed
run therefore sees exactly the samples an uninterrupted run would, with no RNG state to save, and
every process of a multi-process run agrees on them. Call ``set_epoch`` before each epoch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from toolkit.data import degradations
from toolkit.data.io import list_images, paired_files, read_image, resize_cover
from toolkit.errors import CamkitError, unknown

_TRAIN_STREAM, _VAL_STREAM = 0, 1
_WINDOW, _EDIT = 0, 1
#: decoded images kept per dataset (and per loader worker): a small folder is read once
CACHE_IMAGES = 32


class _CroppedPairs(Dataset):
    """Shared logic: file list, length, epoch, cached decoding, crops and flips."""

    def __init__(
        self,
        crop_px: int,
        *,
        train: bool,
        seed: int,
        count: int,
        length: int | None,
        short_side_px: int | None,
    ) -> None:
        if crop_px < 16:
            raise CamkitError(f"crop size {crop_px} px is too small; use at least 16")
        self.crop_px = crop_px
        self.train = train
        self.seed = seed
        self.short_side_px = short_side_px
        self.epoch = 0
        self._length = count if length is None else length
        if self._length < 1:
            raise CamkitError(f"dataset length must be at least 1, got {self._length}")
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return self._length

    def set_epoch(self, epoch: int) -> None:
        """Training samples of another epoch get other crops, flips and edits."""
        self.epoch = epoch

    def _rng(self, index: int, purpose: int) -> np.random.Generator:
        """Independent streams per sample and purpose (_WINDOW, _EDIT)."""
        if self.train:
            return np.random.default_rng([self.seed, _TRAIN_STREAM, self.epoch, index, purpose])
        return np.random.default_rng([self.seed, _VAL_STREAM, index, purpose])

    def _image(self, path: Path) -> np.ndarray:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        image = _fit(read_image(path), self.short_side_px, self.crop_px)
        self._cache[path] = image
        if len(self._cache) > CACHE_IMAGES:
            self._cache.popitem(last=False)
        return image

    def _window(
        self, shape: tuple[int, ...], index: int, purpose: int = _WINDOW
    ) -> tuple[slice, slice, bool]:
        """Rows, columns and a flip flag: random for training, centred for validation.

        ``purpose`` picks the random stream: unpaired datasets crop their two images with two
        independent windows (``_WINDOW`` and another purpose).
        """
        height, width, crop = shape[0], shape[1], self.crop_px
        if self.train:
            rng = self._rng(index, purpose)
            top = int(rng.integers(0, height - crop + 1))
            left = int(rng.integers(0, width - crop + 1))
            flip = bool(rng.integers(0, 2))
        else:
            top, left, flip = (height - crop) // 2, (width - crop) // 2, False
        return slice(top, top + crop), slice(left, left + crop), flip


class PairedFolder(_CroppedPairs):
    """``root/input/NAME.*`` and ``root/target/NAME.*``, paired by name without the suffix."""

    def __init__(
        self,
        root: Path,
        crop_px: int,
        *,
        train: bool,
        seed: int = 0,
        names: Sequence[str] | None = None,
        length: int | None = None,
        short_side_px: int | None = None,
    ) -> None:
        root = Path(root)
        _folder(root / "input", "paired")
        _folder(root / "target", "paired")
        by_stem = {src.stem: (src, dst) for src, dst in paired_files(root)}
        stems = sorted(by_stem)
        chosen = _choose(stems, [by_stem[s][0].name for s in stems], names, root / "input")
        self.pairs = [by_stem[s] for s in chosen]
        super().__init__(
            crop_px, train=train, seed=seed, count=len(self.pairs), length=length,
            short_side_px=short_side_px,
        )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        src, dst = self.pairs[index % len(self.pairs)]
        source, target = self._image(src), self._image(dst)
        if source.shape != target.shape:
            raise CamkitError(
                f"{src.name} is {source.shape[1]}x{source.shape[0]} but its target {dst.name} is "
                f"{target.shape[1]}x{target.shape[0]}; paired images must have the same size"
            )
        rows, cols, flip = self._window(source.shape, index)
        return _tensor(source[rows, cols], flip), _tensor(target[rows, cols], flip)


class SyntheticRetouch(_CroppedPairs):
    """Any folder of photos: target = the photo, input = the photo after a random global edit."""

    def __init__(
        self,
        folder: Path,
        crop_px: int,
        *,
        train: bool,
        seed: int = 0,
        names: Sequence[str] | None = None,
        length: int | None = None,
        short_side_px: int | None = None,
        strength: float = 1.0,
    ) -> None:
        folder = Path(folder)
        self.photos = _photos(folder, names)
        self.strength = strength
        super().__init__(
            crop_px, train=train, seed=seed, count=len(self.photos), length=length,
            short_side_px=short_side_px,
        )

    def params(self, index: int) -> degradations.RetouchParams:
        """The edit applied to sample ``index`` (of the current epoch, for training samples)."""
        return degradations.sample_params(self._rng(index, _EDIT), self.strength)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        photo = self._image(self.photos[index % len(self.photos)])
        rows, cols, flip = self._window(photo.shape, index)
        target = photo[rows, cols]
        edited = degradations.apply(target, self.params(index))
        return _tensor(edited, flip), _tensor(target, flip)


class SyntheticPhone(_CroppedPairs):
    """Any folder of good photos: target = the photo, input = as a cheap phone camera records it.

    The degradation (``degradations.apply_phone``: blur, sensor noise, colour cast, flat tone,
    JPEG) is applied to the crop, after any ``short_side_px`` resize, so blur, noise and JPEG
    blocks are at the scale the model sees. ``strength`` (0..2) scales the random ranges.
    """

    def __init__(
        self,
        folder: Path,
        crop_px: int,
        *,
        train: bool,
        seed: int = 0,
        names: Sequence[str] | None = None,
        length: int | None = None,
        short_side_px: int | None = None,
        strength: float = 1.0,
    ) -> None:
        folder = Path(folder)
        self.photos = _photos(folder, names)
        degradations.sample_phone(np.random.default_rng(0), strength)  # validates strength
        self.strength = strength
        super().__init__(
            crop_px, train=train, seed=seed, count=len(self.photos), length=length,
            short_side_px=short_side_px,
        )

    def params(self, index: int) -> degradations.PhoneParams:
        """The degradation of sample ``index`` (of the current epoch, for training samples)."""
        return degradations.sample_phone(self._rng(index, _EDIT), self.strength)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        photo = self._image(self.photos[index % len(self.photos)])
        rows, cols, flip = self._window(photo.shape, index)
        target = photo[rows, cols]
        degraded = degradations.apply_phone(target, self.params(index))
        return _tensor(degraded, flip), _tensor(target, flip)


# ------------------------------------------------------------------------------------ helpers


def _folder(folder: Path, kind: str) -> list[Path]:
    if not folder.is_dir():
        raise CamkitError(f"{kind} data folder {folder} does not exist; check the path in the recipe")
    files = list_images(folder)
    if not files:
        raise CamkitError(f"{kind} data folder {folder} holds no images (.png, .jpg, ...)")
    return files


def _photos(folder: Path, names: Sequence[str] | None) -> list[Path]:
    """The photos of a synthetic-pairs folder, those named in ``names`` (all when None)."""
    files = _folder(folder, "photos")
    return [folder / n for n in _choose([p.name for p in files], [p.name for p in files], names,
                                        folder)]


def _choose(keys: list[str], labels: list[str], names: Sequence[str] | None, where: Path) -> list[str]:
    """The keys whose file name (label) is in ``names``, in folder order; all when None."""
    if names is None:
        return keys
    by_label = dict(zip(labels, keys))
    for name in names:
        if name not in by_label:
            raise unknown(f"file in {where}", name, labels)
    if not names:
        raise CamkitError(f"no files of {where} selected; list at least one name")
    wanted = set(names)
    return [key for label, key in zip(labels, keys) if label in wanted]


def _fit(image: np.ndarray, short_side_px: int | None, crop_px: int) -> np.ndarray:
    """Scale to ``short_side_px`` (when given), and up to the crop size when smaller."""
    h, w = image.shape[:2]
    short = min(h, w)
    target = short_side_px if short_side_px is not None else short
    target = max(target, crop_px)
    if target == short:
        return image
    scale = target / short
    return resize_cover(image, max(target, round(h * scale)), max(target, round(w * scale)))


def _tensor(image: np.ndarray, flip: bool) -> torch.Tensor:
    chw = image.transpose(2, 0, 1)
    if flip:
        chw = chw[:, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(chw, dtype=np.float32))

