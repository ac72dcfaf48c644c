"""Classical restorers reported beside a network by ``camkit check --data``: what the net buys.

A model lists the ones that apply in ``ModelSpec.baselines``; each takes the same fitted input
the artifact gets (HWC float in [0, 1]) and returns the restored image. They never affect pass
or fail; they give the numbers a team compares the network against.

Deblurring (scikit-image, non-blind: they need the blur kernel, the PSF):

* ``richardson_lucy``: ``skimage.restoration.richardson_lucy``, ``RL_ITERATIONS`` iterations per
  channel (Richardson 1972, Lucy 1974; 30 is skimage's default and where ringing starts to
  dominate on 8-bit photos).
* ``wiener``: ``skimage.restoration.wiener`` per channel, ``WIENER_BALANCE`` (the regularisation
  weight, the noise-to-signal trade-off; 0.01 suits 8-bit photos with little noise).

The PSF is the one the user gives (``camkit check --psf FILE``: a grey image of the kernel) or,
when none is given, ``estimate_linear_psf``: a linear-motion PSF whose length and angle come from
the blurry photo's cepstrum (Rom, "On the cepstrum of two-dimensional functions", IEEE Trans.
Inf. Theory 1975; Cannon, "Blind deconvolution of spatially invariant image blurs with phase",
IEEE TASSP 1976): the spectrum of a length-L box blur has periodic zeros, which put a strong
negative peak in the cepstrum at distance L along the blur direction. Real camera shake is not a
line, so this estimate is a documented, reproducible lower bound, not the best a blind method can
do; give a measured PSF for a fair comparison.

Inpainting (the hole is where the mask is 1):

* ``telea``: OpenCV ``cv2.inpaint(..., cv2.INPAINT_TELEA)`` (Telea, J. Graphics Tools 2004, fast
  marching), radius ``INPAINT_RADIUS_PX``;
* ``navier_stokes``: ``cv2.INPAINT_NS`` (Bertalmio et al., CVPR 2001), same radius;
* ``biharmonic``: ``skimage.restoration.inpaint_biharmonic`` (smooth biharmonic fill).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit.errors import CamkitError

RL_ITERATIONS = 30
WIENER_BALANCE = 0.01
INPAINT_RADIUS_PX = 5
#: cepstrum search range for the blur length, pixels
MIN_BLUR_PX, MAX_BLUR_PX = 3, 60

DEBLUR = ("richardson_lucy", "wiener")
INPAINT = ("telea", "navier_stokes", "biharmonic")
NAMES = DEBLUR + INPAINT


def _skimage():
    try:
        import skimage.restoration
    except ImportError:
        raise CamkitError("the deblurring/inpainting baselines need scikit-image: "
                          "pip install 'camkit[baselines]' (or pass --no-baselines)") from None
    return skimage.restoration


def _cv2():
    try:
        import cv2
    except ImportError:
        raise CamkitError("the Telea/Navier-Stokes baselines need OpenCV: "
                          "pip install 'camkit[baselines]' (or pass --no-baselines)") from None
    return cv2


def read_psf(path: Path) -> np.ndarray:
    """A PSF image (grey; any bit depth) as float (k, k), non-negative, summing to 1."""
    from toolkit.data.io import read_image

    psf = read_image(Path(path), channels=1)[..., 0].astype(np.float64)
    if psf.sum() <= 0:
        raise CamkitError(f"PSF {path} is all black; a PSF image shows the kernel in white")
    if max(psf.shape) > 255:
        raise CamkitError(f"PSF {path} is {psf.shape[0]}x{psf.shape[1]}; crop it to the kernel "
                          f"(at most 255 px)")
    return psf / psf.sum()


def line_psf(length_px: float, angle_deg: float) -> np.ndarray:
    """A straight motion PSF of ``length_px`` at ``angle_deg`` (0 = horizontal, counter-clockwise
    in image coordinates with y down), anti-aliased, summing to 1."""
    from toolkit.data.blur import rasterize

    size = int(np.ceil(length_px)) | 1
    size = max(size + 2, 3)
    t = np.linspace(-0.5, 0.5, max(2, int(length_px * 4)))[:, None]
    direction = np.array([np.cos(np.radians(angle_deg)), -np.sin(np.radians(angle_deg))])
    kernel = rasterize(t * max(length_px - 1, 0.0) * direction, size)
    return kernel / kernel.sum()


def estimate_linear_psf(blurry_hwc: np.ndarray) -> tuple[np.ndarray, dict]:
    """(PSF, {"length_px", "angle_deg", "method"}) from the cepstrum of the photo's luma."""
    grey = blurry_hwc.mean(-1) if blurry_hwc.ndim == 3 else blurry_hwc
    grey = grey - grey.mean()
    h, w = grey.shape
    window = np.outer(np.hanning(h), np.hanning(w))  # no spectral leakage from the borders
    spectrum = np.abs(np.fft.fft2(grey * window))
    cepstrum = np.fft.fftshift(np.real(np.fft.ifft2(np.log1p(spectrum))))
    cy, cx = h // 2, w // 2
    best = (np.inf, MIN_BLUR_PX, 0.0)
    for angle in np.arange(0.0, 180.0, 1.0):
        dx, dy = np.cos(np.radians(angle)), -np.sin(np.radians(angle))
        for length in range(MIN_BLUR_PX, min(MAX_BLUR_PX, cy - 1, cx - 1)):
            value = cepstrum[int(round(cy + dy * length)), int(round(cx + dx * length))]
            if value < best[0]:
                best = (value, length, angle)
    _, length, angle = best
    info = {"method": "cepstrum linear-motion estimate (Rom 1975, Cannon 1976)",
            "length_px": float(length), "angle_deg": float(angle)}
    return line_psf(length, angle), info


def _per_channel_padded(image: np.ndarray, psf: np.ndarray, restore) -> np.ndarray:
    """Deconvolve each channel of a reflect-padded copy, then crop: both skimage methods treat
    the image as periodic (FFT), and without the padding the wrap-around at the borders rings
    into the whole frame (measured: RL with the true PSF lost 6 dB to the blurry input)."""
    pad = max(psf.shape)
    padded = np.pad(image.astype(np.float64), ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    out = np.stack([restore(padded[..., c]) for c in range(image.shape[-1])], -1)
    return np.clip(out[pad:-pad, pad:-pad], 0, 1).astype(np.float32)


def richardson_lucy(image: np.ndarray, psf: np.ndarray) -> np.ndarray:
    restoration = _skimage()
    return _per_channel_padded(image, psf, lambda ch: restoration.richardson_lucy(
        ch, psf, num_iter=RL_ITERATIONS, clip=True))


def wiener(image: np.ndarray, psf: np.ndarray) -> np.ndarray:
    restoration = _skimage()
    return _per_channel_padded(image, psf, lambda ch: restoration.wiener(
        ch, psf, WIENER_BALANCE, clip=True))


def _inpaint_cv2(image: np.ndarray, mask_hw1: np.ndarray, flag_name: str) -> np.ndarray:
    from toolkit.data.io import to_uint8

    cv2 = _cv2()
    hole = (mask_hw1[..., 0] > 0.5).astype(np.uint8) * 255
    out = cv2.inpaint(to_uint8(image), hole, INPAINT_RADIUS_PX, getattr(cv2, flag_name))
    return out.astype(np.float32) / 255.0


def telea(image: np.ndarray, mask_hw1: np.ndarray) -> np.ndarray:
    return _inpaint_cv2(image, mask_hw1, "INPAINT_TELEA")


def navier_stokes(image: np.ndarray, mask_hw1: np.ndarray) -> np.ndarray:
    return _inpaint_cv2(image, mask_hw1, "INPAINT_NS")


def biharmonic(image: np.ndarray, mask_hw1: np.ndarray) -> np.ndarray:
    restoration = _skimage()
    hole = mask_hw1[..., 0] > 0.5
    out = restoration.inpaint_biharmonic(np.where(hole[..., None], 0, image), hole, channel_axis=-1)
    return np.clip(out, 0, 1).astype(np.float32)


def check_names(names) -> None:
    from toolkit.errors import unknown

    for name in names:
        if name not in NAMES:
            raise unknown("baseline", name, list(NAMES))


def run(name: str, image: np.ndarray, mask_hw1: np.ndarray | None, psf: np.ndarray | None):
    """Output of baseline ``name`` on one fitted input (deblurring ones need ``psf``, inpainting
    ones ``mask_hw1``)."""
    check_names([name])
    if name in DEBLUR:
        return {"richardson_lucy": richardson_lucy, "wiener": wiener}[name](image, psf)
    if mask_hw1 is None:
        raise CamkitError(f"baseline {name} inpaints: it needs a mask input")
    return {"telea": telea, "navier_stokes": navier_stokes, "biharmonic": biharmonic}[name](
        image, mask_hw1)
