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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
