"""Unpaired blur data for Blur2Blur: blurry photos of the target camera vs known-blur photos.

Blur2Blur (Pham et al., CVPR 2024, section 3) trains its translator on two unrelated sets: (a)
blurry photos of the target camera (its blur is unknown) and (b) photos with the *known* blur,
made from sharp photos of the same camera (the paper blurs them with kernels of the known domain;
here ``toolkit.data.blur.blur_photo`` with ``KNOWN_BLUR`` plus read noise, exactly what
``deblur_nafnet`` is trained on). ``BlurUnpaired`` returns, for sample ``i``, ``(crop of a
target-camera photo, crop of a known-blur photo)`` from two independent photos and windows
(``toolkit.data.unpaired``'s sampling, so the two sides are unpaired and every draw is a pure
function of ``(seed, epoch, index)``).

Side (a) is either a folder the user gives (``target_dir``: real photos of the camera) or, for the
redistributable demo, a **simulated target camera** whose blur differs from the known domain on
purpose (``TargetCamera``): a long, nearly straight motion streak (a fast pan or a long exposure on
a tripod that slipped, rather than hand-shake jitter), convolved with a small defocus disk (a lens
slightly out of focus), then Gaussian sensor noise stronger than the known domain's. Each sample
draws its own kernel from the seeded ranges below. ``SimulatedTargetPairs`` gives the aligned
(target-camera blurry, sharp) pairs validation needs, from another random stream than training
("held-out degradations": the same photos, blurs never trained on).

Blurs are computed on the crop grown by the kernel radius and then cut back (as
``blur.SyntheticBlur``), so border pixels are blurred with their real neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from toolkit.data.blur import DEFAULT_NOISE_SIGMA, KNOWN_BLUR, blur, blur_photo, rasterize
from toolkit.data.datasets import _WINDOW, _CroppedPairs, _folder, _photos, _tensor
from toolkit.data.unpaired import _WINDOW_B, _UnpairedSampling
from toolkit.errors import CamkitError

#: random-stream purposes of the two blurs (beside datasets._WINDOW/_EDIT, unpaired._PICK/_WINDOW_B)
_BLUR_A, _BLUR_B = 4, 5


@dataclass(frozen=True)
class TargetCamera:
    """The simulated target camera's blur (ranges drawn uniformly per sample)."""

    size: int = 31  # kernel side (px, odd), as KNOWN_BLUR
    length_px: tuple[float, float] = (12.0, 22.0)  # streak length
    bend: tuple[float, float] = (0.0, 0.1)  # sideways sag of the streak's middle, x length
    defocus_radius_px: tuple[float, float] = (1.0, 2.5)  # disk radius
    noise_sigma: tuple[float, float] = (0.01, 0.03)  # Gaussian read noise, [0, 1] units


TARGET_CAMERA = TargetCamera()


def disk(radius_px: float, size: int) -> np.ndarray:
    """A defocus disk (pillbox) of ``radius_px``, anti-aliased by 4x4 supersampling, sum 1."""
    centre, sub = (size - 1) / 2, 4
    offsets = (np.arange(size * sub) + 0.5) / sub - 0.5 - centre
    yy, xx = np.meshgrid(offsets, offsets, indexing="ij")
    inside = (xx**2 + yy**2 <= radius_px**2).astype(np.float64)
    k = inside.reshape(size, sub, size, sub).sum(axis=(1, 3))
    return k / k.sum()


def target_kernel(rng: np.random.Generator, camera: TargetCamera = TARGET_CAMERA) -> np.ndarray:
    """One kernel of the simulated target camera: float32 (size, size), sums to 1."""
    from scipy.signal import fftconvolve

    if camera.size < 3 or camera.size % 2 == 0:
        raise CamkitError(f"target-camera kernel size must be odd and >= 3, got {camera.size}")
    length, angle = rng.uniform(*camera.length_px), rng.uniform(0, np.pi)
    sag = rng.uniform(*camera.bend) * length * rng.choice([-1.0, 1.0])
    t = np.linspace(-0.5, 0.5, 64)
    along, across = t * length, sag * (1 - 4 * t**2)  # a parabola through the ends
    c, s = np.cos(angle), np.sin(angle)
    path = np.stack([along * c - across * s, along * s + across * c], axis=1)
    streak = rasterize(path, camera.size)
    k = fftconvolve(streak, disk(rng.uniform(*camera.defocus_radius_px), camera.size), "same")
    k = np.clip(k, 0, None)
    return (k / k.sum()).astype(np.float32)


def _grown_window(ds: _CroppedPairs, photo: np.ndarray, index: int, purpose: int, r: int):
    """(crop grown by ``r`` on every side, flip) for sample ``index``; photos too small for the
    grown window are scaled up first."""
    from toolkit.data.io import resize_cover

    h, w = photo.shape[:2]
    need = ds.crop_px + 2 * r
    if min(h, w) < need:
        scale = need / min(h, w)
        photo = resize_cover(photo, max(need, round(h * scale)), max(need, round(w * scale)))
    rows, cols, flip = ds._window((photo.shape[0] - 2 * r, photo.shape[1] - 2 * r), index, purpose)
    return photo[rows.start:rows.stop + 2 * r, cols.start:cols.stop + 2 * r], flip


def _noisy(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return image
    return np.clip(image + rng.normal(0, sigma, image.shape).astype(np.float32), 0.0, 1.0)


def simulate_target(grown: np.ndarray, rng: np.random.Generator, camera: TargetCamera,
                    r: int) -> np.ndarray:
    """The target camera's photo of a grown crop: blur, cut the border ``r`` back, add noise."""
    blurred = blur(grown, target_kernel(rng, camera))[r:-r, r:-r]
    return _noisy(blurred, rng, rng.uniform(*camera.noise_sigma))


def known_blur(grown: np.ndarray, rng: np.random.Generator, noise_sigma: float,
               r: int) -> np.ndarray:
    """The known domain's photo of a grown crop (``blur_photo`` with ``KNOWN_BLUR``)."""
    blurred, _ = blur_photo(grown, rng, KNOWN_BLUR, 0.0)
    return _noisy(blurred[r:-r, r:-r], rng, noise_sigma)


class BlurUnpaired(_UnpairedSampling, _CroppedPairs):
    """Sample ``i`` = (target-camera blurry crop, known-blur crop of an unrelated sharp photo).

    ``target_dir`` None: side (a) is ``sharp_dir``'s photos under the simulated ``camera``; else
    the camera's own blurry photos, cropped as they are.
    """

    def __init__(
        self, sharp_dir: Path, crop_px: int, *, train: bool, seed: int = 0,
        target_dir: Path | None = None, length: int | None = None,
        short_side_px: int | None = None, camera: TargetCamera = TARGET_CAMERA,
        known_noise_sigma: float = DEFAULT_NOISE_SIGMA,
    ) -> None:
        sharp = _folder(Path(sharp_dir), "sharp photos")
        side_a = sharp if target_dir is None else _folder(Path(target_dir), "target-camera photos")
        self._init_sides(side_a, sharp)
        self.simulated, self.camera = target_dir is None, camera
        if not 0 <= known_noise_sigma <= 0.2:
            raise CamkitError(f"known_noise_sigma is {known_noise_sigma}; use 0..0.2 ([0, 1] "
                              f"units)")
        self.known_noise_sigma = known_noise_sigma
        super().__init__(crop_px, train=train, seed=seed, count=max(len(side_a), len(sharp)),
                         length=length, short_side_px=short_side_px)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        ia, ib = self.pick(index)
        r_a, r_b = (self.camera.size // 2 if self.simulated else 0), KNOWN_BLUR.size // 2
        grown, flip_a = _grown_window(self, self._image(self.side_a[ia]), index, _WINDOW, r_a)
        if self.simulated:
            a = simulate_target(grown, self._rng(index, _BLUR_A), self.camera, r_a)
        else:
            a = grown
        grown, flip_b = _grown_window(self, self._image(self.side_b[ib]), index, _WINDOW_B, r_b)
        b = known_blur(grown, self._rng(index, _BLUR_B), self.known_noise_sigma, r_b)
        return _tensor(a, flip_a), _tensor(b, flip_b)


class SimulatedTargetPairs(_CroppedPairs):
    """Aligned (simulated target-camera blurry crop, sharp crop) pairs: validation. Sample ``i``
    uses photo ``i mod n``; centre crops (``train=False``) with a blur of the validation stream."""

    def __init__(
        self, folder: Path, crop_px: int, *, train: bool = False, seed: int = 0,
        names: Sequence[str] | None = None, length: int | None = None,
        short_side_px: int | None = None, camera: TargetCamera = TARGET_CAMERA,
    ) -> None:
        folder = Path(folder)
        self.photos, self.camera = _photos(folder, names), camera
        super().__init__(crop_px, train=train, seed=seed, count=len(self.photos), length=length,
                         short_side_px=short_side_px)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.camera.size // 2
        photo = self._image(self.photos[index % len(self.photos)])
        grown, flip = _grown_window(self, photo, index, _WINDOW, r)
        blurry = simulate_target(grown, self._rng(index, _BLUR_A), self.camera, r)
        return _tensor(blurry, flip), _tensor(grown[r:-r, r:-r], flip)
