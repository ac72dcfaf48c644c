"""DPED: aligned phone/Canon patch pairs (Ignatov et al., ICCV 2017, "DSLR-Quality Photos on
Mobile Devices with Deep Convolutional Networks").

Layout of the official archive, as read by the authors' code (github.com/aiff22/DPED at commit
ebb0131: ``load_dataset.py`` ``load_batch`` and ``load_test_data``, ``test_model.py`` line 35;
phones ``iphone``, ``sony``, ``blackberry`` in ``utils.py``; 100x100 patches, ``PATCH_WIDTH`` /
``PATCH_HEIGHT`` in ``train_model.py``)::

    dped/<phone>/training_data/<phone>/N.jpg      phone patch N (training)
    dped/<phone>/training_data/canon/N.jpg        the aligned Canon 70D patch N
    dped/<phone>/test_data/patches/<phone>/N.jpg  test patches, same pairing
    dped/<phone>/test_data/patches/canon/N.jpg
    dped/<phone>/test_data/full_size_test_images/N.jpg   full phone photos, no targets

``root`` may be ``dped/`` or ``dped/<phone>``. A *flat* copy, ``root/<phone>/N.jpg`` beside
``root/canon/N.jpg`` (the shared sample in ../shared/data/dped_patches), is read as one split:
either ``split`` gives the same pairs there. Pairs match by file name (without the suffix);
a name on one side only is an error. Files are in natural order (``2.jpg`` before ``10.jpg``).

``DPEDPatches`` shares crops, flips, the decoded-image cache and the per-(seed, epoch, index)
randomness of ``toolkit.data.datasets``; ``patch_px`` takes a random (training) or centred
(validation) square of that size, the same window for phone and Canon patch (e.g. 96 of 100, the
Dense U-Net setting). ``unpaired=True`` shuffles the phone and the Canon patches independently
(``toolkit.data.unpaired``), as WESPE's DPED experiments do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from toolkit.data.datasets import _choose, _CroppedPairs, _fit, _tensor
from toolkit.data.io import _by_stem, _few, list_images, read_image
from toolkit.data.unpaired import _UnpairedSampling
from toolkit.errors import CamkitError, unknown

PHONES = ("iphone", "sony", "blackberry")
CANON = "canon"
SPLITS = ("train", "test")
#: size of the published DPED patches
DPED_PATCH_PX = 100


class DPEDPatches(_UnpairedSampling, _CroppedPairs):
    """DPED patch pairs ``(phone patch, Canon patch)`` of one phone and split; see the module doc.

    ``patch_px`` None keeps the whole patch (still flipped at random for training). With
    ``unpaired`` sample ``i`` is (phone patch a_i, Canon patch b_i) drawn independently.
    ``names`` selects phone patch file names (e.g. to hold some out for validation).
    """

    def __init__(
        self,
        root: Path,
        phone: str,
        split: str = "train",
        *,
        train: bool,
        seed: int = 0,
        patch_px: int | None = None,
        names: Sequence[str] | None = None,
        length: int | None = None,
        unpaired: bool = False,
    ) -> None:
        self.phone_dir, self.canon_dir, self.layout = patch_dirs(Path(root), phone, split)
        by_stem = _match(self.phone_dir, self.canon_dir, phone)
        stems = sorted(by_stem, key=_natural)
        chosen = _choose(stems, [by_stem[s][0].name for s in stems], names, self.phone_dir)
        self.pairs = [by_stem[s] for s in chosen]
        self.unpaired = unpaired
        self._init_sides([p for p, _ in self.pairs], [c for _, c in self.pairs])
        first = self.pairs[0][0]
        height, width = read_image(first).shape[:2]
        if patch_px is not None and patch_px > min(height, width):
            raise CamkitError(
                f"patch_px {patch_px} is larger than the DPED patches ({first.name} is "
                f"{width}x{height}); use at most {min(height, width)}, or leave it unset"
            )
        super().__init__(
            patch_px or min(height, width), train=train, seed=seed, count=len(self.pairs),
            length=length, short_side_px=None,
        )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.unpaired:
            return self._unpaired_item(index)
        src, dst = self.pairs[index % len(self.pairs)]
        source, target = self._image(src), self._image(dst)
        if source.shape != target.shape:
            raise CamkitError(
                f"{src} is {source.shape[1]}x{source.shape[0]} but its Canon patch {dst} is "
                f"{target.shape[1]}x{target.shape[0]}; DPED pairs must have the same size"
            )
        rows, cols, flip = self._window(source.shape, index)
        return _tensor(source[rows, cols], flip), _tensor(target[rows, cols], flip)


class DPEDFullImages(Dataset):
    """``test_data/full_size_test_images`` of one phone: CHW inputs only (inference, grids).

    ``short_side_px`` scales each photo (DPED's are 1536 to 1944 px on the short side); ``files``
    lists the photos, ``self[i]`` is ``files[i]`` decoded. Nothing is cached (they are large).
    """

    def __init__(
        self,
        root: Path,
        phone: str,
        *,
        short_side_px: int | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        root = Path(root)
        _check_phone(phone)
        folders = [base / "test_data" / "full_size_test_images" for base in (root / phone, root)]
        folder = next((f for f in folders if f.is_dir()), None)
        if folder is None:
            raise CamkitError(
                f"no DPED full-size test images for {phone} under {root}: expected "
                f"{folders[0]} (from the official DPED archive; the flat patch copy has none)"
            )
        files = sorted(list_images(folder), key=lambda p: _natural(p.stem))
        if not files:
            raise CamkitError(f"{folder} holds no images (.jpg, .png, ...)")
        labels = [p.name for p in files]
        self.folder = folder
        self.files = [folder / n for n in _choose(labels, labels, names, folder)]
        self.short_side_px = short_side_px

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = read_image(self.files[index])
        if self.short_side_px is not None:
            image = _fit(image, self.short_side_px, 1)
        return _tensor(image, False)


def patch_dirs(root: Path, phone: str, split: str) -> tuple[Path, Path, str]:
    """(phone patch folder, Canon patch folder, ``"official"`` or ``"flat"``) under ``root``."""
    _check_phone(phone)
    if split not in SPLITS:
        raise unknown("DPED split", split, SPLITS)
    for base in (root / phone, root):
        if (base / "training_data").is_dir() or (base / "test_data").is_dir():
            sub = base / "training_data" if split == "train" else base / "test_data" / "patches"
            phone_dir, canon_dir = sub / phone, sub / CANON
            if not phone_dir.is_dir():
                missing = phone_dir.relative_to(base)
                raise CamkitError(
                    f"DPED folder {base} has no {missing}/ for split '{split}'; "
                    f"unpack the full DPED archive for {phone} there"
                )
            layout = "official"
            break
    else:
        if not (root / phone).is_dir():
            present = [p for p in PHONES if (root / p).is_dir()]
            raise CamkitError(
                f"{root} is not a DPED folder for {phone}: expected {root / phone}/training_data/"
                f"{phone} (official archive) or {root / phone}/ beside {root / CANON}/ (flat); "
                f"phones found there: {', '.join(present) or 'none'}"
            )
        phone_dir, canon_dir, layout = root / phone, root / CANON, "flat"
    if not canon_dir.is_dir():
        raise CamkitError(
            f"{canon_dir} is missing: DPED pairs each patch in {phone_dir} with the Canon patch of "
            f"the same name there; add the canon/ folder of the archive"
        )
    return phone_dir, canon_dir, layout


def _check_phone(phone: str) -> None:
    if phone not in PHONES:
        raise unknown("DPED phone", phone, PHONES)


def _match(phone_dir: Path, canon_dir: Path, phone: str) -> dict[str, tuple[Path, Path]]:
    phones, canons = _by_stem(list_images(phone_dir)), _by_stem(list_images(canon_dir))
    only_phone = sorted(set(phones) - set(canons), key=_natural)
    only_canon = sorted(set(canons) - set(phones), key=_natural)
    if only_phone or only_canon:
        raise CamkitError(
            f"DPED {phone_dir.parent}: {phone}/ and {CANON}/ must hold the same names; only in "
            f"{phone}/: {_few(only_phone)}; only in {CANON}/: {_few(only_canon)}"
        )
    if not phones:
        raise CamkitError(f"{phone_dir} holds no images (.jpg, .png, ...)")
    return {stem: (phones[stem], canons[stem]) for stem in phones}


def _natural(stem: str) -> tuple[int, int, str]:
    """Sort key: numeric names in numeric order (2 before 10), then the others by name."""
    return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)
