"""Training recipe for Blur2Blur (Pham et al., CVPR 2024): the blur translator G against a
PatchGAN D, with a frozen, pretrained known-blur deblurrer (``deblur_nafnet``).

Facts from the official code (github.com/VinAIResearch/Blur2Blur): ``models/blur2blur_model.py``
(the losses and their order), ``models/losses/gan_loss.py`` (hinge), ``models/losses/__init__.py``
(gradient penalty), ``models/losses/vgg_loss.py`` (perceptual loss), ``options/train_options.py``
(Adam lr 2e-4, beta1 0.5, ``gan_mode hinge``) and the train script (``--netG mimounet --norm
instance --batch_size 1``, 256 px crops). Each step runs two phases:

1. ``d`` (D): ``0.5 * mean_s [hinge_d(D(real_s), D(fake_s))] + gp_weight * GP``, ``s`` over the
   three scales (full, 1/2, 1/4; one D shared by the scales, losses averaged over them as the
   official ``GANLoss`` does for a list), real = known-blur crops y at each scale, fake = G's
   three outputs. GP = WGAN-GP's penalty at full scale (interpolates of real and fake, target
   norm 1), ``gp_weight`` = 1e-4 (``--lambda_gp``): ``losses.gradient_penalty``.
2. ``g`` (G): ``mean_s hinge_g(D(G_s(x))) + perc_weight * sum_s P(G_s(x), x_s)``,
   ``perc_weight`` = 0.8 (``--lambda_Perc``): each output must keep the content of its input at
   that scale (only the blur should change) while D judges whether its blur is the known one.

``P`` is the official multi-layer VGG distance: L1 of features before activation at conv2_2,
conv3_3, conv4_1, conv4_3 and conv5_1, weighted 1/32, 1/16, 1/8, 1/4 and 1. The official code
uses VGG-16 for it; this repo's VGG loader is VGG-19 (recipes/_common/vgg.py, torchvision's
ImageNet file), so the same-named VGG-19 layers are used (a documented deviation).
``perceptual: none`` replaces P with pixel L1 (machines without the VGG-19 weights). The scales
of x and y are 2x2 average pools (the translator's own pyramid; the official code resizes real
images bilinearly, which for x0.5 is the same 2x2 average).

The **deblurrer** (``deblurrer:`` section) is loaded from a ``deblur_nafnet`` checkpoint of the
same variant (default: the one the repo ships) and never trained: no loss reaches it, so Adam
leaves its weights as they are (gradients stay None). It is part of the exported network
``blur2blur`` (the deployed graph, translator then deblurrer), so validation measures the full
graph: PSNR/SSIM against the sharp photos on held-out simulated target-camera blur (the
engine's ``psnr_db``/``ssim``; ``input_*`` is the blurry input). At the end ``run`` also
measures the deblurrer alone on the same inputs (what the translator buys), records it in the
final checkpoint, and writes the translator's own checkpoint (model id
``deblur_blur2blur_translator``) to ``RUN_DIR/checkpoints/translator/``.

Data (``toolkit.data.blur_unpaired``): ``sharp_photos: DIR`` (the camera's sharp photos, blurred
with the known blur for D's real side) and either ``target_photos: DIR`` (the camera's blurry
photos; validation then needs ``val_paired: DIR`` with input/ and target/) or nothing (a
simulated target camera, ``TargetCamera``, on the sharp photos).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recipes._common import trainer
from recipes._common.config import as_plain, relative
from recipes._common.losses import gradient_penalty, hinge_d_loss, hinge_g_loss, l1
from recipes._common.trainer import Phase, StepContext
from recipes._common.vgg import load_vgg, vgg_source
from toolkit.data.blur import DEFAULT_NOISE_SIGMA
from toolkit.data.blur_unpaired import BlurUnpaired, SimulatedTargetPairs
from toolkit.data.datasets import PairedFolder
from toolkit.errors import CamkitError, unknown
from toolkit.models.deblur_blur2blur import model as b2b

#: the official VGG distance: layer -> weight (vgg_loss.py's VGG16 slices, same-named in VGG-19)
VGG_LAYERS = {"conv2_2": 1 / 32, "conv3_3": 1 / 16, "conv4_1": 1 / 8, "conv4_3": 1 / 4,
              "conv5_1": 1.0}
PERCEPTUAL_KINDS = ("vgg19_multi", "none")
DEFAULT_PERC_WEIGHT = 0.8  # --lambda_Perc
DEFAULT_GP_WEIGHT = 1e-4  # --lambda_gp
EXPORTED = "blur2blur"
#: smallest training crop: its 1/4 scale (24 px) must still give the PatchGAN an output
MIN_PATCH_PX = 96


@dataclass(frozen=True)
class LossConfig:
    """The ``loss:`` section (optional; every key has the official default)."""

    perceptual: str = "vgg19_multi"  # vgg19_multi | none (pixel L1 instead)
    perc_weight: float = DEFAULT_PERC_WEIGHT
    gp_weight: float = DEFAULT_GP_WEIGHT
    d_width: int | None = None  # PatchGAN width (None: the variant's, 64 = official ndf)
    vgg_random_init_for_tests: bool = False

    def __post_init__(self) -> None:
        if self.perceptual not in PERCEPTUAL_KINDS:
            raise unknown("loss.perceptual", self.perceptual, PERCEPTUAL_KINDS)
        if self.perc_weight < 0 or self.gp_weight < 0:
            raise CamkitError("loss.perc_weight and loss.gp_weight must be 0 or more")
        if self.d_width is not None and self.d_width < 1:
            raise CamkitError(f"loss.d_width must be at least 1, got {self.d_width}")
        if self.vgg_random_init_for_tests and self.layer is None:
            raise CamkitError("loss.vgg_random_init_for_tests applies to the VGG loss; drop it "
                              "with perceptual: none")

    @property
    def layer(self) -> str | None:  # what recipes._common.vgg reads (None: no VGG)
        return None if self.perceptual == "none" else "conv5_1"


@dataclass(frozen=True)
class DeblurrerConfig:
    """The ``deblurrer:`` section: the frozen known-blur deblurrer (deblur_nafnet, same variant)."""

    checkpoint: Path | None = None  # None: toolkit/models/deblur_nafnet/checkpoints/<variant>
    random_init_for_tests: bool = False  # no checkpoint: a random NAFNet (tests only)


@dataclass(frozen=True)
class DataConfig:
    """The ``data:`` section."""

    sharp_photos: Path  # the camera's sharp photos (known-blur side; simulated target side)
    target_photos: Path | None = None  # the camera's blurry photos (None: simulated camera)
    val_paired: Path | None = None  # with target_photos: aligned input/ (blurry), target/
    patch_px: int = 256  # training crops (the official crop_size)
    val_crop_px: int | None = None  # validation centre crops (None: patch_px)
    short_side_px: int | None = None  # scale each photo to this short side first
    samples_per_epoch: int | None = None
    val_per_photo: int = 4  # simulated validation: samples per photo
    known_noise_sigma: float = DEFAULT_NOISE_SIGMA  # read noise of the known domain

    def __post_init__(self) -> None:
        if (self.target_photos is None) != (self.val_paired is None):
            raise CamkitError("data.target_photos (real blurry photos) needs data.val_paired: DIR "
                              "(input/ blurry, target/ sharp) for validation, and val_paired "
                              "applies only with target_photos")
        for key in ("patch_px", "val_crop_px"):
            value = getattr(self, key)
            if value is not None and (value < 32 or value % b2b.SPEC.size_multiple):
                raise CamkitError(f"data.{key} must be a multiple of {b2b.SPEC.size_multiple} and "
                                  f"at least 32, got {value}")
        if self.patch_px < MIN_PATCH_PX:
            raise CamkitError(f"data.patch_px must be at least {MIN_PATCH_PX}: at 1/4 scale the "
                              f"PatchGAN needs 24 px (three stride-2 and two 4x4 convs) and "
                              f"VGG conv5_1 16 px; got {self.patch_px}")
        if self.val_per_photo < 1:
            raise CamkitError("data.val_per_photo must be at least 1")


def build_datasets(data: DataConfig, seed: int) -> tuple[Any, Any]:
    common = {"seed": seed, "short_side_px": data.short_side_px}
    train_set = BlurUnpaired(data.sharp_photos, data.patch_px, train=True,
                             target_dir=data.target_photos, length=data.samples_per_epoch,
                             known_noise_sigma=data.known_noise_sigma, **common)
    val_px = data.val_crop_px or data.patch_px
    if data.val_paired is not None:
        return train_set, PairedFolder(data.val_paired, val_px, train=False, **common)
    n = len(SimulatedTargetPairs(data.sharp_photos, val_px).photos)
    return train_set, SimulatedTargetPairs(data.sharp_photos, val_px, length=n * data.val_per_photo,
                                           **common)


def describe_data(data: DataConfig, root: Path) -> dict[str, Any]:
    simulated = data.target_photos is None
    manifest = data.sharp_photos / "manifest.json"
    return {
        "kind": "unpaired: " + ("simulated target camera (toolkit/data/blur_unpaired.py "
                                "TargetCamera) on the sharp photos" if simulated else
                                "the camera's blurry photos") + " vs known-blur sharp photos",
        **{k: v for k, v in as_plain(data, root).items() if v is not None},
        "licenses": relative(manifest, root) if manifest.is_file() else None,
        "validation": ("training photos, centre crops with held-out simulated target-camera "
                       "blur" if simulated else "val_paired"),
    }


# ------------------------------------------------------------------------------------ networks


class TrainableBlur2Blur(b2b.Blur2Blur):
    """The exported graph with ``forward`` = the translator's three outputs in training mode and
    the deployed deblurred image in eval mode (same weights and keys; DDP wraps ``forward``
    only, so the training outputs must come through it)."""

    def forward(self, image: torch.Tensor):
        if self.training:
            return self.translator.multi_scale(image)
        return super().forward(image)


def deblurrer_path(cfg: DeblurrerConfig, variant: str) -> Path | None:
    """The deblurrer checkpoint to load (None: random, tests only); one-line errors."""
    from toolkit.checkpoints import shipped_checkpoint

    if cfg.checkpoint is not None:
        if not cfg.checkpoint.is_file():
            raise CamkitError(f"deblurrer.checkpoint {cfg.checkpoint} does not exist; train "
                              f"deblur_nafnet first (recipes/deblur_nafnet) or fix the path")
        return cfg.checkpoint
    shipped = shipped_checkpoint("deblur_nafnet", variant)
    if shipped is None and not cfg.random_init_for_tests:
        raise CamkitError(f"no deblur_nafnet {variant} checkpoint ships; set deblurrer.checkpoint "
                          f"to one (camkit train / import-weights deblur_nafnet)")
    return shipped


def build_full(variant: str, deblurrer: Path | None) -> TrainableBlur2Blur:
    from toolkit.models.deblur_nafnet.model import build as build_deblurrer

    translator = b2b.build_translator(variant)
    b2b.init_normal(translator)  # the official init: G starts near the identity
    return TrainableBlur2Blur(translator, build_deblurrer(variant, deblurrer))


# -------------------------------------------------------------------------------------- losses


def pyramid(x: torch.Tensor) -> list[torch.Tensor]:
    """[1/4, 1/2, full] scales of ``x``, as the translator's outputs are ordered."""
    x2 = b2b.half(x)
    return [b2b.half(x2), x2, x]


def vgg_distance(vgg: nn.Module, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The official multi-layer VGG distance (VGG_LAYERS), target features without a graph."""
    with torch.no_grad():
        want = vgg(target, VGG_LAYERS)
    got = vgg(output, VGG_LAYERS)
    return sum(w * (got[k] - want[k]).abs().mean() for k, w in VGG_LAYERS.items())


class DiscriminatorLoss:
    """Phase ``d`` (module docstring)."""

    def __init__(self, loss: LossConfig) -> None:
        self.gp_weight = loss.gp_weight
        self.__name__ = f"0.5 x hinge_d (mean of 3 scales) + {loss.gp_weight:g} x WGAN-GP"

    def __call__(self, ctx: StepContext):
        x, y = ctx.batch
        fakes = ctx.nets[EXPORTED](x)  # frozen in this phase: no graph
        d = ctx.nets["discriminator"]
        reals = pyramid(y)
        terms = [hinge_d_loss(d(r), d(f)) for r, f in zip(reals, fakes)]
        adv = 0.5 * torch.stack(terms).mean()
        gp = gradient_penalty(d, reals[-1], fakes[-1]) if self.gp_weight > 0 else adv * 0
        return adv + self.gp_weight * gp, {"d_adv": adv, "d_gp": gp}


class GeneratorLoss:
    """Phase ``g`` (module docstring); the content term alone in warm-up."""

    def __init__(self, loss: LossConfig, vgg_weights: str) -> None:
        self.loss = loss
        content = ("pixel L1 (perceptual: none, instead of the official VGG distance)"
                   if loss.layer is None else f"VGG-19 multi-layer L1 (weights: {vgg_weights})")
        self.__name__ = f"hinge_g (mean of 3 scales) + {loss.perc_weight:g} x sum_s {content}"

    def __call__(self, ctx: StepContext):
        x, _ = ctx.batch
        outputs = ctx.nets[EXPORTED](x)
        inputs = pyramid(x)
        if self.loss.layer is None:
            content = sum(l1(o, i) for o, i in zip(outputs, inputs))
        else:
            content = sum(vgg_distance(ctx.fixed["vgg"], o, i) for o, i in zip(outputs, inputs))
        total, scalars = self.loss.perc_weight * content, {"g_content": content}
        if not ctx.warmup:
            d = ctx.nets["discriminator"]  # frozen: gradients flow through it to G only
            adv = torch.stack([hinge_g_loss(d(o)) for o in outputs]).mean()
            total, scalars["g_adv"] = total + adv, adv
        return total, scalars


def configure(cfg: trainer.RunConfig) -> trainer.Recipe:
    loss, deblurrer = cfg.sections["loss"], cfg.sections["deblurrer"]
    path = deblurrer_path(deblurrer, cfg.variant)
    fixed = {} if loss.layer is None else {"vgg": lambda: load_vgg(loss, cfg.train.seed)}
    return dataclasses.replace(
        RECIPE,
        build_model=lambda variant: build_full(variant, path),
        networks={"discriminator": lambda v: b2b.build_discriminator(v, loss.d_width)},
        groups={"d": ("discriminator",), "g": (EXPORTED,)},
        phases=(Phase("d", DiscriminatorLoss(loss), scalars=("d_adv", "d_gp"), in_warmup=False),
                Phase("g", GeneratorLoss(loss, vgg_source(loss)), scalars=("g_content", "g_adv"))),
        fixed=fixed,
    )


RECIPE = trainer.Recipe(
    model_id=b2b.SPEC.model_id,
    data_config=DataConfig,
    build_model=lambda variant: build_full(variant, None),
    build_datasets=build_datasets,
    describe_data=describe_data,
    exported=EXPORTED,
    sections={"loss": LossConfig, "deblurrer": DeblurrerConfig},
    configure=configure,
)


# ------------------------------------------------------------------ after training: both ids


def finish(checkpoint: Path, config_path: Path, root: Path) -> Path:
    """Measure the deblurrer alone on the validation set (recorded in the final checkpoint) and
    write the translator's own checkpoint; returns the translator checkpoint's path."""
    from recipes._common.validation import evaluate
    from toolkit.checkpoints import read_checkpoint, save_checkpoint

    cfg = trainer.load_config(RECIPE, config_path, root)
    state, meta = read_checkpoint(checkpoint)
    info = json.loads(meta["info"])
    net = build_full(cfg.variant, None)  # every weight comes from the checkpoint
    net.load_state_dict(state)
    _, val_set = build_datasets(cfg.data, cfg.train.seed)
    info["val_deblurrer_alone"] = evaluate(net.deblurrer, val_set, torch.device("cpu"))
    if "deblurrer_trained_against" not in info:
        path = deblurrer_path(cfg.sections["deblurrer"], cfg.variant)
        info["deblurrer_trained_against"] = None if path is None else relative(path, root)
    save_checkpoint(checkpoint, state, meta["model_id"], meta["variant"], info)
    prefix = "translator."
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    out = checkpoint.parent / "translator" / checkpoint.name
    save_checkpoint(out, weights, "deblur_blur2blur_translator", meta["variant"],
                    {**info, "network": "translator (of the deblur_blur2blur checkpoint "
                     f"{checkpoint.name})"})
    return out


def run(config_path: Path, *, root: Path, resume: bool, max_steps: int | None,
        run_dir: Path | None, resume_with_new_config: bool = False) -> Path:
    """The entry ``toolkit.training.run_recipe`` calls; returns the final (full-graph) checkpoint
    and writes the translator's beside it (``finish``)."""
    checkpoint = trainer.run(RECIPE, config_path, root=root, resume=resume, max_steps=max_steps,
                             run_dir=run_dir, resume_with_new_config=resume_with_new_config)
    finish(Path(checkpoint), Path(config_path), root)
    return checkpoint


def swap_deblurrer(checkpoint: Path, deblurrer: Path, config_path: Path, root: Path) -> Path:
    """Put another deblur_nafnet checkpoint (same variant) into a finished run's full-graph
    checkpoint, re-validate it (full graph and deblurrer alone) and rewrite both checkpoints.

    Exact, not an approximation: the deblurrer takes no part in any loss, and building it from
    one file or another draws the same random numbers, so the translator is bit for bit what a
    run against ``deblurrer`` would have trained. For runs that had to start before the
    deblurrer they are meant for had finished training. Returns the translator checkpoint."""
    from recipes._common.validation import evaluate
    from toolkit.artifacts import sha256_path
    from toolkit.checkpoints import read_checkpoint, save_checkpoint

    cfg = trainer.load_config(RECIPE, config_path, root)
    state, meta = read_checkpoint(checkpoint)
    net = build_full(meta["variant"], Path(deblurrer))
    translator = {k: v for k, v in state.items() if k.startswith("translator.")}
    net.load_state_dict({**net.state_dict(), **translator})
    info = json.loads(meta["info"])
    _, val_set = build_datasets(cfg.data, cfg.train.seed)
    info["val"] = {"step": info["step"], **evaluate(net.eval(), val_set, torch.device("cpu"))}
    if "deblurrer_trained_against" not in info:
        before = deblurrer_path(cfg.sections["deblurrer"], cfg.variant)
        info["deblurrer_trained_against"] = None if before is None else relative(before, root)
    info["deblurrer_swapped_in"] = {"path": relative(Path(deblurrer), root),
                                    "sha256": sha256_path(Path(deblurrer))}
    save_checkpoint(checkpoint, net.state_dict(), meta["model_id"], meta["variant"], info)
    return finish(checkpoint, config_path, root)
