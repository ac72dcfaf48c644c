"""Unpaired (weakly supervised) data: photos of a phone and good photos of other scenes.

WESPE (Ignatov et al., CVPR 2018 workshops, "WESPE: Weakly Supervised Photo Enhancer for Digital
Cameras") learns from two sets with no correspondence: what the phone records and what good
photos look like. ``UnpairedFolders(phone_dir, good_dir, crop_px)`` returns, for sample ``i``,
``(crop of phone photo a_i, crop of good photo b_i)``; ``DPEDPatches(..., unpaired=True)``
(``toolkit.data.dped``) does the same with DPED's phone and Canon patches, as WESPE's DPED
experiments do.

Which photos sample ``i`` uses (``pick(i)``): each side is read in its own random order, a
permutation of that folder drawn from ``(seed, epoch, side)`` for training and ``(seed, side)``
for validation, so ``a_i`` and ``b_i`` are independent of each other, change from epoch to epoch,
and are still a pure function of ``(seed, epoch, index)`` (resume and multi-process runs agree).
Sample ``i`` takes position ``i mod n`` of the order of cycle ``i div n`` (``n`` photos on that
side); each cycle has a fresh permutation. The default length, ``max(n_a, n_b)``, makes one epoch
show every photo of the larger folder once and every photo of the smaller one at least once.
The two crops come from two independent windows (random for training, centred for validation).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from toolkit.data.datasets import (
    _TRAIN_STREAM,
    _VAL_STREAM,
    _WINDOW,
    _CroppedPairs,
    _folder,
    _tensor,
)

#: random-stream purposes beside datasets._WINDOW and datasets._EDIT
_PICK, _WINDOW_B = 2, 3
_SIDE_A, _SIDE_B = 0, 1
#: permutations kept per dataset (a side's order of one cycle)
_ORDERS_KEPT = 4


class _UnpairedSampling:
    """Mixed into a ``_CroppedPairs`` subclass: independent orders for side A and side B."""

    side_a: list[Path]
    side_b: list[Path]

    def _init_sides(self, side_a: list[Path], side_b: list[Path]) -> None:
        self.side_a, self.side_b = list(side_a), list(side_b)
        self._orders: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()

    def pick(self, index: int) -> tuple[int, int]:
        """Indices into ``side_a`` and ``side_b`` of sample ``index`` (this epoch if training)."""
        return self._position(index, _SIDE_A, len(self.side_a)), self._position(
            index, _SIDE_B, len(self.side_b)
        )

    def _position(self, index: int, side: int, count: int) -> int:
        cycle, position = divmod(index, count)
        return int(self._order(side, count, cycle)[position])

    def _order(self, side: int, count: int, cycle: int) -> np.ndarray:
        ds: _CroppedPairs = self  # type: ignore[assignment]
        if ds.train:
            key = (ds.seed, _TRAIN_STREAM, ds.epoch, _PICK, side, cycle)
        else:
            key = (ds.seed, _VAL_STREAM, _PICK, side, cycle)
        order = self._orders.get(key)
        if order is None:
            order = np.random.default_rng(list(key)).permutation(count)
            self._orders[key] = order
            if len(self._orders) > _ORDERS_KEPT:
                self._orders.popitem(last=False)
        return order

    def _unpaired_item(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        ds: _CroppedPairs = self  # type: ignore[assignment]
        ia, ib = self.pick(index)
        a, b = ds._image(self.side_a[ia]), ds._image(self.side_b[ib])
        rows_a, cols_a, flip_a = ds._window(a.shape, index, _WINDOW)
        rows_b, cols_b, flip_b = ds._window(b.shape, index, _WINDOW_B)
        return _tensor(a[rows_a, cols_a], flip_a), _tensor(b[rows_b, cols_b], flip_b)


class UnpairedFolders(_UnpairedSampling, _CroppedPairs):
    """Sample ``i`` = (crop of a phone photo, crop of an unrelated good photo); see the module doc.

    ``short_side_px`` scales every photo (both folders) before cropping, so the two sides are at
    a comparable scale; photos smaller than ``crop_px`` are scaled up to it.
    """

    def __init__(
        self,
        phone_dir: Path,
        good_dir: Path,
        crop_px: int,
        *,
        train: bool,
        seed: int = 0,
        length: int | None = None,
        short_side_px: int | None = None,
    ) -> None:
        phone_files = _folder(Path(phone_dir), "phone photos")
        good_files = _folder(Path(good_dir), "good photos")
        self._init_sides(phone_files, good_files)
        super().__init__(
            crop_px, train=train, seed=seed, count=max(len(phone_files), len(good_files)),
            length=length, short_side_px=short_side_px,
        )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._unpaired_item(index)
