"""Blur2Blur's blur translator on its own: a blurry photo of the target camera in, the same photo
with the *known* blur (the one ``deblur_nafnet`` was trained on) out.

The deployed Blur2Blur graph is ``deblur_blur2blur`` (translator then deblurrer in one model);
this entry exports the first stage alone, so an app can run the two stages as separate models
(e.g. swap in another known-blur deblurrer, or place the stages on different accelerators), and
the second stage alone is ``camkit export deblur_nafnet``. The architecture (MIMO-UNet, only the
full-scale output deployed), its variants and its export choices live in
``toolkit/models/deblur_blur2blur/model.py``; this file reuses them. The Blur2Blur recipe
(recipes/deblur_blur2blur) writes a checkpoint for this id beside the full graph's.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.checkpoints import load_weights
from toolkit.errors import CamkitError
from toolkit.models.deblur_blur2blur.model import TRANSLATORS, Translator
from toolkit.spec import FullResolution, ModelSpec, TensorSpec

VARIANTS = TRANSLATORS

SPEC = ModelSpec(
    model_id="deblur_blur2blur_translator",
    task="blur translation (target camera's unknown blur -> known blur)",
    title="Blur2Blur translator (MIMO-UNet)",
    paper="Pham et al., Blur2Blur: Blur Conversion for Unsupervised Image Deblurring on Unknown "
    "Domains, CVPR 2024",
    inputs=(TensorSpec("image", 3, description="blurry sRGB photo of the target camera"),),
    outputs=(TensorSpec("known_blur", 3, description="the photo re-blurred into the known blur "
                        "domain (input of deblur_nafnet)"),),
    variants=tuple(VARIANTS),
    default_variant="mobile",
    default_size={"paper": (720, 1280), "mobile": (720, 1280), "tiny": (64, 64)},
    size_multiple=4,  # two 2x levels
    calibration_set="photos_pd_blur",  # blurry photos, as the camera's would be (deblur_nafnet's)
    full_resolution=FullResolution(
        "tiles", why="convolutions only: the receptive field is finite (measured at export)"),
)


def build(variant: str, checkpoint: str | Path | None = None) -> Translator:
    """The translator of ``variant``; weights from ``checkpoint`` (safetensors) when given."""
    if variant not in VARIANTS:
        raise CamkitError(f"{SPEC.model_id} has no variant {variant!r}; pick one of "
                          f"{list(VARIANTS)}")
    net = Translator(**VARIANTS[variant])
    if checkpoint is not None:
        load_weights(net, checkpoint, SPEC.model_id, variant)
    return net
