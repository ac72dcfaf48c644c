"""The known-blur domain: seeded camera-shake motion-blur kernels and a blurred-photo generator.

A hand-held exposure records the scene while the camera drifts and jitters; the blur kernel (PSF)
is the path the image of a point takes on the sensor, weighted by the time spent at each place.
``shake_trajectory`` draws such a path as a random walk with inertia (Boracchi and Foi, "Modeling
the performance of image restoration from motion blur", IEEE TIP 2012, section II: the camera's
velocity keeps its direction, receives Gaussian jitter and, rarely, an abrupt jerk, and is pulled
back towards the start), ``rasterize`` splats it onto a square grid (bilinear, so sub-pixel paths
stay smooth) and ``motion_kernel`` normalises and centres the result on its centroid, so a blurred
image is not shifted.

The *known* blur of Blur2Blur is exactly this distribution at one ``KernelParams`` setting: the
deblurrer (``deblur_nafnet``) is trained on it, and the translator learns to map a camera's
unknown blur into it.

``SyntheticBlur(folder)`` turns any folder of sharp photos into (blurry, sharp) training pairs of
this domain, with the interface of ``toolkit.data.datasets.SyntheticPhone`` (random crops and
flips for training, centre crops for validation, randomness a pure function of
``(seed, epoch, index)``).

Arrays: kernels are float32 ``(k, k)`` summing to 1; images HWC float32 in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from toolkit.data.datasets import _EDIT, _CroppedPairs, _photos, _tensor
from toolkit.errors import CamkitError


@dataclass(frozen=True)
class KernelParams:
    """One known-blur domain. Defaults: GoPro-like hand shake on 720p frames."""

    #: kernel side in pixels (odd); the trajectory is scaled to fit inside it
    size: int = 31
    #: path length as a fraction of ``size``, drawn uniformly from this range per kernel
    length: tuple[float, float] = (0.4, 1.6)
    #: samples along the exposure
    steps: int = 96
    #: Gaussian velocity jitter per step, relative to the mean speed (the "anxiety")
    jitter: float = 0.5
    #: probability per step of an abrupt jerk (velocity change ~ 4x the jitter)
    jerk_probability: float = 0.02
    #: pull of each step back towards the start (keeps paths compact, as real shake is)
    centripetal: float = 0.05


KNOWN_BLUR = KernelParams()


def shake_trajectory(rng: np.random.Generator, params: KernelParams = KNOWN_BLUR) -> np.ndarray:
    """(steps, 2) positions of a camera-shake path, in pixels, starting at the origin; its total
    length is ``uniform(params.length) * params.size``."""
    if params.steps < 2:
        raise CamkitError(f"a trajectory needs at least 2 steps, got {params.steps}")
    angle = rng.uniform(0, 2 * np.pi)
    velocity = np.array([np.cos(angle), np.sin(angle)])
    position = np.zeros(2)
    path = [position.copy()]
    for _ in range(params.steps - 1):
        kick = rng.normal(size=2) * params.jitter
        if rng.random() < params.jerk_probability:
            kick += rng.normal(size=2) * 4 * params.jitter
        velocity = velocity + kick - params.centripetal * position / max(1, len(path))
        speed = np.linalg.norm(velocity)
        if speed > 1e-8:
            velocity = velocity / speed  # direction changes, speed stays: length is set below
        position = position + velocity
        path.append(position.copy())
    path = np.asarray(path)
    steps_len = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
    target = rng.uniform(*params.length) * params.size
    path = path * (target / max(steps_len, 1e-8))
    # fit inside the kernel: a long path that wandered off is shrunk, never cropped
    extent = np.abs(path - path.mean(axis=0)).max()
    limit = (params.size - 3) / 2
    if extent > limit:
        path = path * (limit / extent)
    return path


def rasterize(path: np.ndarray, size: int) -> np.ndarray:
    """Bilinear splat of a path (each sample weight 1) onto a ``size`` x ``size`` grid, centred
    on the path's mean; then shifted so the centroid is the centre pixel to sub-pixel accuracy."""
    kernel = np.zeros((size, size), np.float64)
    centre = (size - 1) / 2
    dense = _densify(path)
    pts = dense - dense.mean(axis=0) + centre
    x0, y0 = np.floor(pts[:, 0]).astype(int), np.floor(pts[:, 1]).astype(int)
    fx, fy = pts[:, 0] - x0, pts[:, 1] - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                      (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xs, ys = x0 + dx, y0 + dy
        ok = (xs >= 0) & (xs < size) & (ys >= 0) & (ys < size)
        np.add.at(kernel, (ys[ok], xs[ok]), w[ok])
    return kernel


def _densify(path: np.ndarray) -> np.ndarray:
    """Resample so consecutive points are at most 0.25 px apart (no gaps in fast segments)."""
    out = [path[:1]]
    for a, b in zip(path[:-1], path[1:]):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / 0.25)))
        t = (np.arange(1, n + 1) / n)[:, None]
        out.append(a + (b - a) * t)
    return np.concatenate(out)


def motion_kernel(rng: np.random.Generator, params: KernelParams = KNOWN_BLUR) -> np.ndarray:
    """One random camera-shake PSF: float32 (size, size), non-negative, sums to 1."""
    if params.size < 3 or params.size % 2 == 0:
        raise CamkitError(f"kernel size must be odd and >= 3, got {params.size}")
    kernel = rasterize(shake_trajectory(rng, params), params.size)
    return (kernel / kernel.sum()).astype(np.float32)


def kernel_for(seed: int, params: KernelParams = KNOWN_BLUR) -> np.ndarray:
    """The kernel of one seed: the same seed gives the same kernel on every machine."""
    return motion_kernel(np.random.default_rng(seed), params)


def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel of an HWC image with ``kernel`` (reflect-padded borders, so the
    output has the input's size), as a sensor integrates light: in the image's own values."""
    from scipy.signal import fftconvolve

    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise CamkitError(f"a blur kernel must be square with an odd side, got {kernel.shape}")
    r = kernel.shape[0] // 2
    h, w = image.shape[:2]
    if min(h, w) <= r:
        raise CamkitError(f"image {h}x{w} is smaller than the blur kernel radius {r}")
    padded = np.pad(image, ((r, r), (r, r), (0, 0)), mode="reflect")
    out = np.stack(
        [fftconvolve(padded[..., c], kernel, mode="valid") for c in range(image.shape[-1])], -1
    )
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def blur_photo(
    image: np.ndarray, rng: np.random.Generator, params: KernelParams = KNOWN_BLUR,
    noise_sigma: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(blurred image, its kernel): one draw of the known-blur domain, plus optional Gaussian
    read noise of ``noise_sigma`` (in [0, 1] units) as a real exposure has."""
    kernel = motion_kernel(rng, params)
    out = blur(image, kernel)
    if noise_sigma > 0:
        out = np.clip(out + rng.normal(0, noise_sigma, out.shape).astype(np.float32), 0, 1)
    return out, kernel


#: read noise of the known domain (sigma in [0, 1] units, ~2.5 of 255): a well-lit phone frame
DEFAULT_NOISE_SIGMA = 0.01


class SyntheticBlur(_CroppedPairs):
    """Any folder of sharp photos: target = a crop, input = that crop under a fresh known-domain
    camera-shake kernel (``blur_photo``: ``params``) plus Gaussian read noise ``noise_sigma``.

    The blur is computed on the crop grown by the kernel radius on every side and then cut back,
    so the pixels at the crop's border are blurred with real neighbours, as in a photo (a crop
    blurred on its own would show reflect-padding artifacts no camera makes). Photos smaller
    than the grown window are scaled up (``short_side_px`` scales them first, as in the other
    synthetic datasets). Deterministic: the window, flip, kernel and noise of sample ``index``
    are functions of ``(seed, epoch, index)`` (training) or ``(seed, index)`` (validation).
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
        params: KernelParams = KNOWN_BLUR,
        noise_sigma: float = DEFAULT_NOISE_SIGMA,
    ) -> None:
        folder = Path(folder)
        self.photos = _photos(folder, names)
        if not 0 <= noise_sigma <= 0.2:
            raise CamkitError(f"noise_sigma is {noise_sigma}; use 0..0.2 ([0, 1] units, e.g. 0.01)")
        if params.size < 3 or params.size % 2 == 0:
            raise CamkitError(f"kernel size must be odd and >= 3, got {params.size}")
        self.params = params
        self.noise_sigma = noise_sigma
        super().__init__(
            crop_px, train=train, seed=seed, count=len(self.photos), length=length,
            short_side_px=short_side_px,
        )

    def kernel(self, index: int) -> np.ndarray:
        """The blur kernel of sample ``index`` (of the current epoch, for training samples)."""
        return motion_kernel(self._rng(index, _EDIT), self.params)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        from toolkit.data.io import resize_cover

        r = self.params.size // 2
        photo = self._image(self.photos[index % len(self.photos)])
        h, w = photo.shape[:2]
        need = self.crop_px + 2 * r
        if min(h, w) < need:
            scale = need / min(h, w)
            photo = resize_cover(photo, max(need, round(h * scale)), max(need, round(w * scale)))
        rows, cols, flip = self._window((photo.shape[0] - 2 * r, photo.shape[1] - 2 * r), index)
        grown = photo[rows.start:rows.stop + 2 * r, cols.start:cols.stop + 2 * r]
        rng = self._rng(index, _EDIT)
        blurry, _ = blur_photo(grown, rng, self.params, 0.0)
        blurry = blurry[r:-r, r:-r]
        if self.noise_sigma > 0:
            noise = rng.normal(0, self.noise_sigma, blurry.shape).astype(np.float32)
            blurry = np.clip(blurry + noise, 0.0, 1.0)
        sharp = grown[r:-r, r:-r]
        return _tensor(blurry, flip), _tensor(sharp, flip)
