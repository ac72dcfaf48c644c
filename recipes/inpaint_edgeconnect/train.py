"""Training recipe for EdgeConnect (Nazeri et al., ICCV Workshops 2019): G1 (edges) and G2
(colours), each against its own 70x70 PatchGAN (D1, D2), on the engine in recipes/_common.

Networks: ``inpainter`` (the exported graph of toolkit/models/inpaint_edgeconnect: in-graph Canny,
G1 with spectral norm, G2), ``d1`` (judges (gray, edges)), ``d2`` (judges RGB); training only:
d1, d2. Optimizer groups ``g`` (the inpainter: G1 and G2) and ``d`` (D1 and D2). G1 and G2 share
one Adam and D1 and D2 another: Adam is per parameter and each loss below reaches only its own
generator's (or discriminator's) parameters until the joint stage, so the sum of the two losses
under one Adam is the same update as EdgeConnect's two optimizers. Settings (official
config.yml.example): Adam lr 1e-4, betas (0, 0.9); discriminators lr x0.1 (D2G_LR) via
``train.optimizers.d``; nsgan (standard) GAN loss.

Each step: phase ``d`` (skipped before ``train.gan_start_step``)::

    L_D = nsgan_D(D1(gray, canny), D1(gray, G1)) + nsgan_D(D2(image), D2(G2 colours))

phase ``g``::

    L_G1 = g1_adv_weight * nsgan_G(D1(gray, G1)) + fm_weight * FM(D1)      (official: 1, 10)
    L_G2 = l1_weight * |G2 - image|_1 / mean(mask) + adv_weight * nsgan_G(D2(G2))
           + perceptual_weight * L_perc(G2, image)                         (official: 1, 0.1, 0.1)
           + style_weight * L_style(G2 * mask, image * mask)              (official: 250)

(official src/models.py: the L1 term is divided by the hole fraction; D and losses see G2's raw
output, not the composite). ``canny`` is skimage's Canny (sigma 2) of the full crop, computed by
the dataset (toolkit/data/inpainting.py).

Stages. EdgeConnect trains G1 alone (MODEL 1), G2 alone on Canny edges (MODEL 2), then both
together (MODEL 4). G1 and G2 do not interact in the first two, so this recipe runs them
concurrently from step 0: before ``loss.joint_start_step`` G2 is guided by the edges it would
get from a perfect G1 (the in-graph known-region edges outside the hole, Canny inside); from
that step on, by G1's own composite (the exported graph's path), and G2's loss also flows into G1,
as in the official joint model. ``joint_start_step: null`` never joins.

``loss.perceptual``: ``vgg19`` (EdgeConnect) or ``none`` (drops L_perc and L_style, leaving L1 +
adversarial; for machines without VGG-19 ImageNet weights -- a documented deviation).
``vgg_random_init_for_tests``: a random VGG-19, tests only; the checkpoint's train.loss says so.

Validation. The engine validates ``net(input)`` against ``target``; this recipe's validation
samples pack (image, mask) into one 3-channel tensor of twice the height (the image above the
mask repeated over three channels), which ``TrainingEdgeConnect`` unpacks, so the engine's grids
show input | output | target. Its PSNR/SSIM are over the whole crop (known pixels are exact);
at the end ``run`` writes PSNR/SSIM inside the hole, of the output and of the masked input (hole
= 0, what the graph sees), to ``hole_metrics.json`` and to the final checkpoint's info.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from recipes._common import trainer
from recipes._common.config import as_plain, relative
from recipes._common.losses import (
    feature_matching, multi_layer_perceptual, standard_d_loss, standard_g_loss, style_loss,
)
from recipes._common.splits import split_names
from recipes._common.trainer import Phase, StepContext
from recipes._common.vgg import load_vgg, vgg_source
from toolkit.data.inpainting import InpaintingPhotos
from toolkit.errors import CamkitError, unknown
from toolkit.models.inpaint_edgeconnect import model as ec

LOSS_KEY = "loss"
PERCEPTUAL = ("vgg19", "none")


@dataclass(frozen=True)
class LossConfig:
    """The ``loss:`` section; defaults are the official config.yml.example's."""

    perceptual: str = "vgg19"  # vgg19 | none (no L_perc / L_style)
    l1_weight: float = 1.0
    adv_weight: float = 0.1  # G2's adversarial weight (INPAINT_ADV_LOSS_WEIGHT)
    perceptual_weight: float = 0.1  # CONTENT_LOSS_WEIGHT
    style_weight: float = 250.0
    g1_adv_weight: float = 1.0
    fm_weight: float = 10.0
    joint_start_step: int | None = None  # None: G2 always on the ideal edges
    vgg_random_init_for_tests: bool = False

    def __post_init__(self) -> None:
        if self.perceptual not in PERCEPTUAL:
            raise unknown("loss.perceptual", self.perceptual, PERCEPTUAL)
        weights = (self.l1_weight, self.adv_weight, self.perceptual_weight, self.style_weight,
                   self.g1_adv_weight, self.fm_weight)
        if min(weights) < 0 or (self.joint_start_step is not None and self.joint_start_step < 0):
            raise CamkitError("loss weights and loss.joint_start_step must be 0 or more")
        if self.vgg_random_init_for_tests and self.layer is None:
            raise CamkitError("loss.vgg_random_init_for_tests applies to perceptual: vgg19")

    @property
    def layer(self) -> str | None:
        """For recipes._common.vgg: None without a VGG loss."""
        return None if self.perceptual == "none" else "relu1_1..relu5_1"


@dataclass(frozen=True)
class DataConfig:
    """The ``data:`` section."""

    photos: Path  # folder of photos (e.g. calibration/photos_pd)
    patch_px: int = 256  # training crops (official INPUT_SIZE 256)
    val_crop_px: int | None = None  # validation centre crops (None: patch_px)
    short_side_px: int | None = None  # scale each photo to this short side first
    samples_per_epoch: int | None = None  # None: one per training photo
    masks: Path | None = None  # folder of mask images (white = hole); None: generated holes
    strokes: float = 0.5  # generated holes: share of free-form stroke masks (else boxes)
    val_files: tuple[str, ...] = ()  # photos held out for validation
    val_holdout: int = 0  # or the last N photos
    val_per_photo: int = 4  # validation holes per photo (fixed seeds)

    def __post_init__(self) -> None:
        for key in ("patch_px", "val_crop_px"):
            value = getattr(self, key)
            if value is not None and (value < 16 or value % 4):
                raise CamkitError(f"data.{key} must be a multiple of 4 and at least 16, "
                                  f"got {value}")

    @property
    def val_px(self) -> int:
        return self.patch_px if self.val_crop_px is None else self.val_crop_px


class PackedValidation(torch.utils.data.Dataset):
    """Validation samples as (packed input, image, mask): see the module docstring."""

    def __init__(self, photos: InpaintingPhotos) -> None:
        self.photos = photos

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int):
        image, mask, _ = self.photos[index]
        return torch.cat([image, mask.expand(3, -1, -1)], dim=1), image, mask


def build_datasets(data: DataConfig, seed: int):
    names = [p.name for p in InpaintingPhotos(data.photos, data.patch_px, train=False).paths]
    train_names, held = split_names(data, names, data.photos)
    val_names = held or train_names
    common = {"short_side_px": data.short_side_px, "seed": seed}
    train = InpaintingPhotos(data.photos, data.patch_px, train=True, names=train_names,
                             length=data.samples_per_epoch, mask_folder=data.masks,
                             strokes=data.strokes, **common)
    val = InpaintingPhotos(data.photos, data.val_px, train=False, names=val_names,
                           per_photo=data.val_per_photo, **common)
    return train, PackedValidation(val)


def describe_data(data: DataConfig, root: Path) -> dict[str, Any]:
    manifest = data.photos / "manifest.json"
    return {
        "kind": "photos with random holes (" + ("mask folder" if data.masks else
                                                f"generated: {data.strokes:g} strokes, rest boxes")
                + "), Canny sigma 2 edge targets",
        **{k: v for k, v in as_plain(data, root).items() if v not in (None, [], 0)},
        "licenses": relative(manifest, root) if manifest.is_file() else None,
        "validation": ("held-out photos" if data.val_files or data.val_holdout else
                       "training photos") + ", centre crops, fixed held-out holes",
    }


class TrainingEdgeConnect(ec.EdgeConnect):
    """The exported graph (same weights and keys) that also takes validation's packed input."""

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            h = image.shape[2] // 2
            image, mask = image[:, :, :h], image[:, :1, h:]
        return super().forward(image, mask)


def build_model(variant: str) -> TrainingEdgeConnect:
    return TrainingEdgeConnect(**ec.VARIANTS[variant], spectral_norm_g1=True)


def _gray(images: torch.Tensor, net: ec.EdgeConnect) -> torch.Tensor:
    return net.gray(images)


def _forward(ctx: StepContext, joint: bool):
    image, mask, canny = ctx.batch[:3]
    net = ctx.nets["inpainter"]
    base = net.module if hasattr(net, "module") else net
    guide = None
    if not joint:
        with torch.no_grad():
            known_edges = base.edges(image, 1.0 - mask) * (1.0 - mask)
        guide = known_edges + canny * mask
    _, predicted, colour, _ = base.forward_train(image, mask, guide)
    return base, image, mask, canny, predicted, colour


class DLoss:
    """Phase ``d``: D1 and D2, nsgan, real vs G's raw outputs."""

    __name__ = "nsgan D1(gray, edges) + nsgan D2(rgb)"

    def __init__(self, loss: LossConfig) -> None:
        self.loss = loss

    def __call__(self, ctx: StepContext):
        joint = self.loss.joint_start_step is not None and ctx.step >= self.loss.joint_start_step
        base, image, mask, canny, predicted, colour = _forward(ctx, joint)
        gray = _gray(image, base)
        d1, d2 = ctx.nets["d1"], ctx.nets["d2"]
        n = len(image)
        logits1, _ = d1(torch.cat([torch.cat([gray, canny], 1), torch.cat([gray, predicted], 1)]))
        logits2, _ = d2(torch.cat([image, colour]))
        l1 = standard_d_loss(logits1[:n], logits1[n:])
        l2 = standard_d_loss(logits2[:n], logits2[n:])
        return l1 + l2, {"d1": l1, "d2": l2}


class GLoss:
    """Phase ``g``: L_G1 + L_G2 (module docstring)."""

    def __init__(self, loss: LossConfig, vgg_weights: str) -> None:
        self.loss = loss
        vgg = ("" if loss.layer is None else
               f" + {loss.perceptual_weight:g} x L_perc + {loss.style_weight:g} x L_style "
               f"(VGG-19 weights: {vgg_weights})")
        self.__name__ = (f"G1: {loss.g1_adv_weight:g} x nsgan + {loss.fm_weight:g} x FM; G2: "
                         f"{loss.l1_weight:g} x L1/hole + {loss.adv_weight:g} x nsgan" + vgg
                         + ("" if loss.layer is not None else " (perceptual: none, no VGG "
                            "perceptual/style terms)")
                         + f"; joint from step {loss.joint_start_step}")

    def __call__(self, ctx: StepContext):
        cfg = self.loss
        joint = cfg.joint_start_step is not None and ctx.step >= cfg.joint_start_step
        base, image, mask, canny, predicted, colour = _forward(ctx, joint)
        l1 = (colour - image).abs().mean() / mask.mean().clamp_min(1e-3)
        total = cfg.l1_weight * l1
        scalars: dict[str, Any] = {"l1": l1, "joint": float(joint)}
        if not ctx.warmup:
            gray = _gray(image, base)
            d1, d2 = ctx.nets["d1"], ctx.nets["d2"]
            fake1, fake_feat = d1(torch.cat([gray, predicted], 1))
            with torch.no_grad():
                _, real_feat = d1(torch.cat([gray, canny], 1))
            adv1, fm = standard_g_loss(fake1), feature_matching(fake_feat, real_feat)
            adv2 = standard_g_loss(d2(colour)[0])
            total = (total + cfg.g1_adv_weight * adv1 + cfg.fm_weight * fm
                     + cfg.adv_weight * adv2)
            scalars.update(g1_adv=adv1, fm=fm, g2_adv=adv2)
        if cfg.layer is not None:
            vgg = ctx.fixed["vgg"]
            perc = multi_layer_perceptual(vgg, colour, image)
            style = style_loss(vgg, colour * mask, image * mask)
            total = total + cfg.perceptual_weight * perc + cfg.style_weight * style
            scalars.update(perc=perc, style=style)
        return total, scalars


def configure(cfg: trainer.RunConfig) -> trainer.Recipe:
    loss = cfg.sections[LOSS_KEY]
    fixed = {} if loss.layer is None else {"vgg": lambda: load_vgg(loss, cfg.train.seed)}
    return dataclasses.replace(
        RECIPE,
        phases=(Phase("d", DLoss(loss), scalars=("d1", "d2"), in_warmup=False),
                Phase("g", GLoss(loss, vgg_source(loss)),
                      scalars=("l1", "joint", "g1_adv", "fm", "g2_adv", "perc", "style"))),
        fixed=fixed,
    )


RECIPE = trainer.Recipe(
    model_id=ec.SPEC.model_id,
    data_config=DataConfig,
    build_model=build_model,
    build_datasets=build_datasets,
    describe_data=describe_data,
    exported="inpainter",
    networks={"d1": lambda v: ec.build_discriminator(v, 2),
              "d2": lambda v: ec.build_discriminator(v, 3)},
    groups={"g": ("inpainter",), "d": ("d1", "d2")},
    phases=(Phase("d", DLoss(LossConfig(perceptual="none")), scalars=("d1", "d2"),
                  in_warmup=False),
            Phase("g", GLoss(LossConfig(perceptual="none"), "none"),
                  scalars=("l1", "joint", "g1_adv", "fm", "g2_adv", "perc", "style"))),
    sections={LOSS_KEY: LossConfig},
    configure=configure,
)


@torch.no_grad()
def hole_metrics(net: ec.EdgeConnect, val: PackedValidation) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM inside the hole: output vs image, and masked input vs image."""
    import numpy as np
    from skimage.metrics import structural_similarity

    net.eval()
    sums = {"psnr_db": 0.0, "ssim": 0.0, "input_psnr_db": 0.0, "input_ssim": 0.0}
    for i in range(len(val)):
        _, image, mask = val[i]
        out = net(image[None], mask[None]).clamp(0, 1)[0]
        hole = mask[0].numpy() > 0.5
        for key, pred in (("", out), ("input_", image * (1 - mask))):
            a, b = pred.permute(1, 2, 0).numpy(), image.permute(1, 2, 0).numpy()
            mse = float(((a - b) ** 2)[hole].mean())
            sums[key + "psnr_db"] += min(100.0, 10 * np.log10(1.0 / max(mse, 1e-10)))
            _, full = structural_similarity(a, b, channel_axis=2, data_range=1.0, full=True)
            sums[key + "ssim"] += float(full.mean(axis=2)[hole].mean())
    return {**{k: round(v / len(val), 4) for k, v in sums.items()}, "samples": len(val)}


def run(config_path: Path, *, root: Path, resume: bool, max_steps: int | None,
        run_dir: Path | None, resume_with_new_config: bool = False) -> Path:
    """Train, then record PSNR/SSIM inside the hole next to the final checkpoint."""
    path = trainer.run(RECIPE, config_path, root=root, resume=resume, max_steps=max_steps,
                       run_dir=run_dir, resume_with_new_config=resume_with_new_config)
    cfg = trainer.load_config(RECIPE, Path(config_path), root)
    _, val = build_datasets(cfg.data, cfg.train.seed)
    metrics = hole_metrics(ec.build(cfg.variant, path), val)
    (Path(path).parent.parent / "hole_metrics.json").write_text(
        json.dumps({"checkpoint": Path(path).name, **metrics}, indent=2) + "\n")
    return path
