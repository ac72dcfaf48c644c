"""Random *global* retouching edits: the kind of edit a per-pixel network (CSRNet) can express.

He et al. (CSRNet, ECCV 2020, section 3.1) show that exposure, white balance, contrast,
saturation and tone curves are all position-independent colour maps, which a stack of 1x1
convolutions modulated by a global condition can represent. ``SyntheticRetouch`` applies one
random edit from this module to a good photo and trains the model to undo it (auto-correct).

Images are float arrays in [0, 1] with channels last (``HWC`` or any ``(..., 3)`` batch). The
pipeline, in this order, skipping every stage whose parameter is the identity:

1. exposure and white balance: gains in linear light (the photo is decoded with a 2.2 gamma);
2. tone curve: a gamma (``x ** gamma``) then a smooth S-curve (blend toward smoothstep);
3. contrast around mid-grey 0.5;
4. saturation around the Rec. 709 luma.

Every stage clips to [0, 1], as a photo editor writing 8-bit pixels would.

The second half of the module (``PhoneParams``, ``sample_phone``, ``apply_phone``) is a different,
*local* degradation: a good photo as a cheap phone camera would record it (blur, sensor noise,
colour cast, flat tone, JPEG), for ``SyntheticPhone`` (DPED-style enhancement without DPED).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.errors import CamkitError

DISPLAY_GAMMA = 2.2
LUMA_REC709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)

#: half-widths of the sampling ranges at strength 1 (log-uniform for the multiplicative ones)
MAX_EXPOSURE_STOPS = 0.8
MAX_LOG_WB_GAIN = 0.15
MAX_LOG_GAMMA = 0.3
MAX_S_CURVE = 0.6
MAX_LOG_CONTRAST = 0.25
MAX_LOG_SATURATION = 0.4


@dataclass(frozen=True)
class RetouchParams:
    """One global edit. The defaults are the identity (``apply`` returns the image unchanged)."""

    exposure_stops: float = 0.0
    #: per-channel gains (R, G, B) in linear light
    wb_gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    #: tone curve ``x ** gamma``: > 1 darkens the mid-tones, < 1 brightens them
    gamma: float = 1.0
    #: blend toward smoothstep in [-1, 1]: > 0 adds mid-tone contrast, < 0 flattens it
    s_curve: float = 0.0
    #: slope around mid-grey 0.5
    contrast: float = 1.0
    #: 0 = grey, 1 = unchanged, > 1 = more colourful
    saturation: float = 1.0


def sample_params(rng: np.random.Generator, strength: float = 1.0) -> RetouchParams:
    """A random edit; ``strength`` scales every range (0 gives the identity)."""

    def sym(half_width: float) -> float:
        return float(rng.uniform(-half_width, half_width)) * strength

    return RetouchParams(
        exposure_stops=sym(MAX_EXPOSURE_STOPS),
        wb_gains=tuple(float(np.exp(sym(MAX_LOG_WB_GAIN))) for _ in range(3)),  # type: ignore[arg-type]
        gamma=float(np.exp(sym(MAX_LOG_GAMMA))),
        s_curve=sym(MAX_S_CURVE),
        contrast=float(np.exp(sym(MAX_LOG_CONTRAST))),
        saturation=float(np.exp(sym(MAX_LOG_SATURATION))),
    )


def apply(image: np.ndarray, params: RetouchParams) -> np.ndarray:
    """The edited image, float32 in [0, 1], same shape as ``image`` (channels last, 3 channels)."""
    x = np.array(image, dtype=np.float32)  # a copy: the caller's array is never aliased
    if x.shape[-1] != 3:
        raise ValueError(f"retouching needs 3 channels last, got shape {x.shape}")
    gains = np.float32(2.0**params.exposure_stops) * np.asarray(params.wb_gains, np.float32)
    if np.any(gains != 1.0):
        linear = np.clip(x, 0.0, 1.0) ** np.float32(DISPLAY_GAMMA)
        x = np.clip(linear * gains, 0.0, 1.0) ** np.float32(1.0 / DISPLAY_GAMMA)
    if params.gamma != 1.0:
        x = np.clip(x, 0.0, 1.0) ** np.float32(params.gamma)
    if params.s_curve != 0.0:
        smooth = x * x * (3.0 - 2.0 * x)
        x = np.clip(x + np.float32(params.s_curve) * (smooth - x), 0.0, 1.0)
    if params.contrast != 1.0:
        x = np.clip((x - 0.5) * np.float32(params.contrast) + 0.5, 0.0, 1.0)
    if params.saturation != 1.0:
        luma = (x @ LUMA_REC709)[..., None]
        x = np.clip(luma + np.float32(params.saturation) * (x - luma), 0.0, 1.0)
    return x.astype(np.float32, copy=False)


# ------------------------------------------------------------------ synthetic phone camera
#
# ``SyntheticPhone`` (toolkit.data.datasets) turns a folder of good photos into DPED-like pairs
# for users who have no phone/DSLR pairs: target = the photo, input = the photo as a small, cheap
# phone camera would have recorded it. ``apply_phone`` runs, in this order, skipping every stage
# whose parameter is the identity:
#
# 1. decode to linear light (2.2 gamma), as the sensor saw the scene;
# 2. optical blur: a Gaussian point-spread function of ``blur_sigma_px`` (small lens, no AF);
# 3. sensor noise, signal dependent (heteroscedastic Gaussian approximation of Poisson-Gaussian
#    noise: variance = ``shot_noise * x + read_noise ** 2`` for linear signal x), then clipping;
# 4. colour cast: wrong white-balance gains (R, G, B) in linear light, then clipping;
# 5. encode back to display gamma;
# 6. low contrast / flat tone: slope ``contrast`` around mid-grey 0.5, then shadows lifted to
#    ``black_lift`` (x -> lift + (1 - lift) x), a hazy, flat rendering;
# 7. JPEG at ``jpeg_quality`` (PIL, 4:2:0 chroma subsampling, in memory), as the phone stores it.
#
# Blur and noise are per pixel, so a dataset must apply them to the crop the model sees (at the
# crop's scale), never to a full photo that is later resized.

#: ranges at strength 1 (``sample_phone`` scales each by ``strength``)
MAX_BLUR_SIGMA_PX = 1.2
#: variance of shot noise per unit of linear signal (std 0.027 at 18 % grey, about 8 levels)
MAX_SHOT_NOISE = 4e-3
#: std of read noise in linear light
MAX_READ_NOISE = 5e-3
#: half-width of log white-balance gains of R and B (G stays 1 so brightness is kept)
MAX_LOG_CAST_GAIN = 0.15
MAX_CONTRAST_LOSS = 0.35
MAX_BLACK_LIFT = 0.08
#: JPEG quality goes from JPEG_QUALITY_HIGH down to JPEG_QUALITY_LOW at strength 1
JPEG_QUALITY_HIGH, JPEG_QUALITY_LOW = 95, 30
MAX_PHONE_STRENGTH = 2.0


@dataclass(frozen=True)
class PhoneParams:
    """One phone-camera degradation. The defaults are the identity (``apply_phone`` copies)."""

    #: std of the Gaussian blur in pixels (0 = sharp)
    blur_sigma_px: float = 0.0
    #: shot noise: variance per unit of linear signal
    shot_noise: float = 0.0
    #: read noise: std in linear light
    read_noise: float = 0.0
    #: seed of the noise pattern, so one ``PhoneParams`` always gives one image
    noise_seed: int = 0
    #: white-balance gains (R, G, B) in linear light
    cast_gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    #: slope around mid-grey 0.5 in display space: < 1 is flatter
    contrast: float = 1.0
    #: shadows lifted to this level in display space (0 = none)
    black_lift: float = 0.0
    #: JPEG quality 1..100, or None for no compression
    jpeg_quality: int | None = None


def sample_phone(rng: np.random.Generator, strength: float = 1.0) -> PhoneParams:
    """A random phone degradation; ``strength`` (0..2) scales every range, 0 gives the identity.

    Always draws the same numbers from ``rng`` whatever the strength.
    """
    if not 0.0 <= strength <= MAX_PHONE_STRENGTH:
        raise CamkitError(
            f"phone degradation strength {strength} is out of range; use 0 (none) to "
            f"{MAX_PHONE_STRENGTH} (twice the default ranges)"
        )
    u = rng.uniform(0.0, 1.0, size=8)
    noise_seed = int(rng.integers(0, 2**31 - 1))
    log_r, log_b = 2.0 * u[3] - 1.0, 2.0 * u[4] - 1.0
    quality = round(JPEG_QUALITY_HIGH - strength * u[7] * (JPEG_QUALITY_HIGH - JPEG_QUALITY_LOW))
    return PhoneParams(
        blur_sigma_px=float(strength * u[0] * MAX_BLUR_SIGMA_PX),
        shot_noise=float(strength * u[1] * MAX_SHOT_NOISE),
        read_noise=float(strength * u[2] * MAX_READ_NOISE),
        noise_seed=noise_seed,
        cast_gains=(
            float(np.exp(strength * log_r * MAX_LOG_CAST_GAIN)),
            1.0,
            float(np.exp(strength * log_b * MAX_LOG_CAST_GAIN)),
        ),
        contrast=float(1.0 - strength * u[5] * MAX_CONTRAST_LOSS),
        black_lift=float(strength * u[6] * MAX_BLACK_LIFT),
        jpeg_quality=None if strength == 0.0 else int(np.clip(quality, 5, 100)),
    )


def apply_phone(image: np.ndarray, params: PhoneParams) -> np.ndarray:
    """The degraded image, float32 in [0, 1], same shape as ``image`` (HWC, 3 channels).

    Stages in the order listed above this function; identity stages are skipped, so
    ``PhoneParams()`` returns an exact copy.
    """
    x = np.array(image, dtype=np.float32)  # a copy: the caller's array is never aliased
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"phone degradation needs one HWC image, 3 channels, got shape {x.shape}")
    gains = np.asarray(params.cast_gains, np.float32)
    noisy = params.shot_noise > 0.0 or params.read_noise > 0.0
    if params.blur_sigma_px > 0.0 or noisy or np.any(gains != 1.0):
        linear = np.clip(x, 0.0, 1.0) ** np.float32(DISPLAY_GAMMA)
        if params.blur_sigma_px > 0.0:
            linear = _gaussian_blur(linear, params.blur_sigma_px)
        if noisy:
            linear = _sensor_noise(linear, params.shot_noise, params.read_noise, params.noise_seed)
        if np.any(gains != 1.0):
            linear = np.clip(linear * gains, 0.0, 1.0)
        x = np.clip(linear, 0.0, 1.0) ** np.float32(1.0 / DISPLAY_GAMMA)
    if params.contrast != 1.0:
        x = np.clip((x - 0.5) * np.float32(params.contrast) + 0.5, 0.0, 1.0)
    if params.black_lift != 0.0:
        x = np.float32(params.black_lift) + np.float32(1.0 - params.black_lift) * x
    if params.jpeg_quality is not None:
        x = _jpeg(x, params.jpeg_quality)
    return x.astype(np.float32, copy=False)


def _gaussian_blur(x: np.ndarray, sigma_px: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, sigma=(sigma_px, sigma_px, 0.0), mode="reflect", truncate=3.0)


def _sensor_noise(linear: np.ndarray, shot: float, read: float, seed: int) -> np.ndarray:
    std = np.sqrt(np.float32(shot) * np.clip(linear, 0.0, 1.0) + np.float32(read) ** 2)
    normal = np.random.default_rng(seed).standard_normal(linear.shape, dtype=np.float32)
    return np.clip(linear + std * normal, 0.0, 1.0)


def _jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode at ``quality`` in memory (8-bit, as a phone stores its photos)."""
    import io

    from PIL import Image

    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1..100, got {quality}")
    pixels = (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=int(quality), subsampling="4:2:0")
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / np.float32(255.0)
