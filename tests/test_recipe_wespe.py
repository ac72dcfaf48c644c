"""The WESPE training recipe (recipes/enhance_wespe) on one CPU thread.

tiny.yaml trains a few steps weakly supervised (unpaired folders; the good photos alone) and
supervised (aligned DPED-style pairs, no inverse generator), writing checkpoints ``build`` loads;
the generator's loss is L_content + w_c L_color + w_t L_texture + w_tv L_tv; D_c sees blurred RGB
and D_t grayscale; a VGG recipe without weights stops with the one-line error before writing
anything; the config sections are strict.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torch import nn

from recipes._common import trainer
from recipes._common.losses import perceptual, total_variation
from recipes._common.trainer import StepContext
from recipes._common.vgg import ENV_VAR, VGGFeatures
from toolkit.errors import CamkitError
from toolkit.models.enhance_wespe.model import build, build_inverse
from toolkit.training import load_recipe

REPO = Path(__file__).resolve().parents[1]
RECIPE_DIR = REPO / "recipes" / "enhance_wespe"
recipe, _ = load_recipe(RECIPE_DIR / "tiny.yaml")
#: data keys of tiny.yaml that belong to its 'photos' source
PHOTOS_KEYS = ("photos", "unpaired", "val_files", "strength", "val_per_photo")


@pytest.fixture(autouse=True)
def one_thread_no_vgg(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _smooth(rng: np.random.Generator, size_px: int) -> np.ndarray:
    base = rng.random((6, 6, 3))
    return np.kron(base, np.ones((size_px // 6 + 1, size_px // 6 + 1, 1)))[:size_px, :size_px]


def _save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).save(path)


def unpaired_folders(folder: Path) -> tuple[Path, Path]:
    """folder/phone (3 dull, noisy images) and folder/good (4 unrelated ones)."""
    rng = np.random.default_rng(0)
    for i in range(3):
        image = 0.6 * _smooth(rng, 48) + 0.1 + 0.03 * rng.standard_normal((48, 48, 3))
        _save(image, folder / "phone" / f"p{i}.png")
    for i in range(4):
        _save(_smooth(rng, 56), folder / "good" / f"g{i}.png")
    return folder / "phone", folder / "good"


def dped_flat(folder: Path, count: int = 8, size_px: int = 40) -> Path:
    """A flat DPED copy: folder/iphone/N.jpg beside folder/canon/N.jpg."""
    rng = np.random.default_rng(1)
    for i in range(count):
        canon = _smooth(rng, size_px)
        phone = 0.8 * canon + 0.05 + 0.03 * rng.standard_normal(canon.shape)
        _save(canon, folder / "canon" / f"{i}.jpg")
        _save(phone, folder / "iphone" / f"{i}.jpg")
    return folder


def write_config(tmp: Path, *, data: dict | None = None, loss: dict | None = None,
                 drop_data: tuple[str, ...] = ()) -> Path:
    """tiny.yaml with sections updated; run_dir = tmp/run."""
    cfg = yaml.safe_load((RECIPE_DIR / "tiny.yaml").read_text())
    cfg["run_dir"] = str(tmp / "run")
    for key in drop_data:
        cfg["data"].pop(key)
    cfg["data"].update(data or {})
    cfg["loss"].update(loss or {})
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run(config: Path, max_steps: int | None = None) -> Path:
    return recipe.run(config, root=REPO, resume=False, max_steps=max_steps, run_dir=None)


def _info(checkpoint: Path) -> dict:
    return json.loads(checkpoint.with_suffix(".json").read_text())


# ------------------------------------------------------------------------------- training runs


def test_tiny_trains_weakly_on_unpaired_folders_and_build_loads_it(tmp_path):
    phone, good = unpaired_folders(tmp_path / "data")
    config = write_config(tmp_path, data={"phone_photos": str(phone), "good_photos": str(good)},
                          drop_data=("photos", "unpaired", "val_files"))
    checkpoint = run(config)
    assert checkpoint.name == "step-0000004.safetensors"
    out = build("tiny", checkpoint)(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
    info = _info(checkpoint)
    assert info["data"]["mode"] == "weakly supervised (WESPE)"
    assert "synthetic phone degradation" in info["data"]["validation"]
    assert set(info["networks"]) == {"generator", "inverse", "d_color", "d_texture"}
    assert "F(G(x)) vs x" in info["train"]["loss"] and "RANDOM INIT" in info["train"]["loss"]
    assert info["val"]["samples"] == 4  # 4 good photos x val_per_photo 1
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    for column in ("loss_d_color", "loss_d_texture", "loss_g", "d_color_real", "d_texture_fake",
                   "l_content", "l_color", "l_texture", "l_tv", "psnr_db", "input_psnr_db"):
        assert column in header
    assert list((tmp_path / "run" / "grids").glob("step-*.png"))


def test_tiny_yaml_trains_weakly_on_the_good_photos_alone(tmp_path):
    checkpoint = run(write_config(tmp_path), max_steps=3)  # tiny.yaml's own data: photos_pd
    info = _info(checkpoint)
    assert info["data"]["mode"] == "weakly supervised (WESPE)" and "inverse" in info["networks"]
    build("tiny", checkpoint)


def test_tiny_trains_supervised_on_dped_pairs_without_inverse(tmp_path):
    data = {"dped": str(dped_flat(tmp_path / "dped")), "phone": "iphone", "unpaired": False,
            "val_holdout": 2, "val_crop_px": 32}
    config = write_config(tmp_path, data=data, loss={"perceptual": "none",
                                                     "vgg_random_init_for_tests": False},
                          drop_data=("photos", "short_side_px", "strength", "val_per_photo",
                                     "samples_per_epoch", "val_files"))
    checkpoint = run(config)
    info = _info(checkpoint)
    assert info["data"]["mode"] == "supervised (DPED)"
    assert info["data"]["validation"] == "held-out files" and info["val"]["samples"] == 2
    assert set(info["networks"]) == {"generator", "d_color", "d_texture"}  # F is not built
    assert "g: L1 of G(x) vs y (perceptual: none" in info["train"]["loss"]
    build("tiny", checkpoint)


def test_vgg_weights_from_the_environment(tmp_path, monkeypatch):
    weights = tmp_path / "vgg19-random.pth"
    torch.manual_seed(1)
    torch.save(VGGFeatures().state_dict(), weights)  # torchvision's key format: features.N.*
    monkeypatch.setenv(ENV_VAR, str(weights))  # what `camkit train --vgg-weights FILE` sets
    checkpoint = run(write_config(tmp_path, loss={"vgg_random_init_for_tests": False}),
                     max_steps=1)
    loss = _info(checkpoint)["train"]["loss"]
    assert "weights: vgg19-random.pth" in loss and "RANDOM INIT" not in loss


# ------------------------------------------------------------------------------------ errors


def test_vgg_recipe_without_weights_fails_early_in_one_line(tmp_path):
    config = write_config(tmp_path, loss={"vgg_random_init_for_tests": False})
    with pytest.raises(CamkitError) as err:
        run(config)
    message = str(err.value)
    assert "--vgg-weights" in message and ENV_VAR in message and "\n" not in message
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("section,key,suggestion", [
    ("loss", "tv_wieght", "tv_weight"),
    ("loss", "perceptul", "perceptual"),
    ("data", "patch_pix", "patch_px"),
    ("data", "good_photo", "good_photos"),
])
def test_unknown_keys_suggest(tmp_path, section, key, suggestion):
    config = write_config(tmp_path, **{section: {key: 1}})
    with pytest.raises(CamkitError, match=f"'{key}'.*{suggestion}"):
        run(config)
    assert not (tmp_path / "run").exists()


def test_unknown_optimizer_group_suggests(tmp_path):
    config = write_config(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["train"]["optimizers"] = {"d_colour": {"lr": 1e-4}}
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(CamkitError, match="'d_colour'.*d_color"):
        run(config)


@pytest.mark.parametrize("loss,match", [
    ({"perceptual": "vgg19_conv5_4"}, "vgg19_relu5_4"),
    ({"gan": "wgan"}, "ragan"),
    ({"tv_weight": -1}, "0 or more"),
    ({"perceptual": "none", "vgg_random_init_for_tests": True}, "perceptual: none"),
])
def test_bad_loss_values(tmp_path, loss, match):
    with pytest.raises(CamkitError, match=match):
        run(write_config(tmp_path, loss=loss))


@pytest.mark.parametrize("data,match", [
    ({"paired": "x"}, "exactly one of"),
    ({"phone_photos": "x", "good_photos": "y"}, "exactly one of"),
    ({"photos": None, "phone_photos": "x"}, "go together"),
    ({"photos": None, "paired": "x"}, "data.unpaired applies"),
    ({"val_paired": "x"}, "val_paired applies to 'phone_photos' only"),
    ({"patch_px": 33}, "multiple of 2"),
])
def test_data_section_is_checked(tmp_path, data, match):
    with pytest.raises(CamkitError, match=match):
        run(write_config(tmp_path, data=data))


def test_flat_dped_needs_a_holdout(tmp_path):
    data = {"dped": str(dped_flat(tmp_path / "dped")), "val_crop_px": 32}
    config = write_config(tmp_path, data=data, drop_data=(
        "photos", "short_side_px", "strength", "val_per_photo", "samples_per_epoch"))
    with pytest.raises(CamkitError, match="val_holdout"):
        run(config)


# ------------------------------------------------------------------------------------ losses


class Recorder(nn.Module):
    """A discriminator that remembers what it was shown."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.inner(x)


def _context(mode: str, loss, *, warmup: bool = False, batch=None):
    vgg = recipe.load_vgg(loss, seed=0)
    rec = recipe.make_recipe(loss, mode, 32, vgg)
    torch.manual_seed(0)
    nets = {"generator": build("tiny"),
            "d_color": Recorder(recipe.build_discriminator("d_color", "tiny", 32)),
            "d_texture": Recorder(recipe.build_discriminator("d_texture", "tiny", 32))}
    if mode == recipe.WEAK:
        nets["inverse"] = build_inverse("tiny")
    if batch is None:
        batch = (torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    ctx = StepContext(nets=nets, fixed={} if vgg is None else {"vgg": vgg}, batch=batch, step=0,
                      warmup=warmup, device=torch.device("cpu"))
    return rec, ctx


def _phase(rec, group: str):
    return next(p for p in rec.phases if p.group == group)


@pytest.mark.parametrize("mode", ["weak", "supervised"])
def test_generator_loss_composition(mode):
    weights = {"color_weight": 0.0, "texture_weight": 0.0, "tv_weight": 0.0,
               "vgg_random_init_for_tests": True}
    rec, ctx = _context(mode, recipe.LossConfig(**weights))
    x, y = ctx.batch
    with torch.no_grad():
        total, scalars = _phase(rec, "g").loss(ctx)
        enhanced = ctx.nets["generator"](x)
        prediction, reference = ((ctx.nets["inverse"](enhanced), x) if mode == "weak"
                                 else (enhanced, y))
        content = perceptual(ctx.fixed["vgg"], prediction, reference, "relu5_4", criterion="mse")
    assert torch.allclose(total, content) and torch.allclose(scalars["l_content"], content)
    assert torch.allclose(scalars["l_tv"], total_variation(enhanced))

    rec, ctx = _context(mode, recipe.LossConfig(**{**weights, "tv_weight": 7.0}))
    with torch.no_grad():
        total, scalars = _phase(rec, "g").loss(ctx)
    assert torch.allclose(total, scalars["l_content"] + 7.0 * scalars["l_tv"])

    rec, ctx = _context(mode, recipe.LossConfig(color_weight=0.3, texture_weight=0.2,
                                                tv_weight=7.0, vgg_random_init_for_tests=True))
    with torch.no_grad():
        total, s = _phase(rec, "g").loss(ctx)
    assert torch.allclose(total, s["l_content"] + 0.3 * s["l_color"] + 0.2 * s["l_texture"]
                          + 7.0 * s["l_tv"])
    rec, ctx = _context(mode, recipe.LossConfig(vgg_random_init_for_tests=True), warmup=True)
    with torch.no_grad():
        total, s = _phase(rec, "g").loss(ctx)
    assert "l_color" not in s and torch.allclose(total, s["l_content"] + 10.0 * s["l_tv"])
    assert not ctx.nets["d_color"].seen and not ctx.nets["d_texture"].seen  # no GAN in warm-up


def test_weak_groups_train_generator_and_inverse_jointly():
    loss = recipe.LossConfig(perceptual="none")
    weak = recipe.make_recipe(loss, "weak", 32, None)
    supervised = recipe.make_recipe(loss, "supervised", 32, None)
    assert weak.optimizer_groups()["g"] == ("generator", "inverse")
    assert supervised.optimizer_groups()["g"] == ("generator",)
    assert "inverse" not in supervised.networks
    # the inverse generator takes part in the g phase's loss (the engine's rule)
    rec, ctx = _context("weak", loss)
    total, _ = _phase(rec, "g").loss(ctx)
    total.backward()
    assert all(p.grad is not None for p in ctx.nets["inverse"].parameters())


def test_discriminators_see_blurred_colour_and_grayscale_texture():
    loss = recipe.LossConfig(perceptual="none")
    rng = np.random.default_rng(0)
    x = torch.rand(2, 3, 32, 32)
    y = torch.from_numpy(np.stack([_smooth(rng, 32) for _ in range(2)])).permute(0, 3, 1, 2)
    y = y.float() * 0.8 + 0.1
    checker = ((torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2).float()
    y_hf = y + 0.1 * (checker - 0.5)  # a high-frequency-only change of the target
    seen = {}
    for name, target in (("plain", y), ("checker", y_hf)):
        rec, ctx = _context("supervised", loss, batch=(x, target))
        for group in ("d_color", "d_texture"):
            with torch.no_grad():
                _phase(rec, group).loss(ctx)
            (inputs,) = ctx.nets[group].seen
            seen[name, group] = inputs
    assert seen["plain", "d_color"].shape == (4, 3, 32, 32)  # real and fake, RGB
    assert seen["plain", "d_texture"].shape == (4, 1, 32, 32)  # grayscale
    real_color = seen["plain", "d_color"][:2]
    assert torch.allclose(real_color, recipe.color_view(y), atol=1e-6)
    assert torch.allclose(seen["plain", "d_texture"][:2], recipe.texture_view(y), atol=1e-6)
    inner = slice(recipe.BLUR_TAPS // 2, -(recipe.BLUR_TAPS // 2))  # away from the padding
    color_change = (seen["checker", "d_color"][:2] - real_color)[..., inner, inner].abs().max()
    texture_change = (seen["checker", "d_texture"][:2] - seen["plain", "d_texture"][:2]).abs().max()
    assert texture_change > 0.04  # grayscale keeps the checkerboard (0.1 peak to peak)
    assert color_change < 0.01 * texture_change  # the blur removes it


# --------------------------------------------------------------------------------- the YAMLs


@pytest.mark.parametrize("name", ["paper", "mobile", "mobile_photos", "tiny"])
def test_shipped_yamls_parse(name):
    path = RECIPE_DIR / f"{name}.yaml"
    config = trainer.load_config(recipe.RECIPE, path, REPO)
    trainer.configured(recipe.RECIPE, config, str(path))  # needs no VGG weights
    assert config.variant == name.split("_")[0]
    loss = config.sections["loss"]
    assert loss.vgg_random_init_for_tests == (name == "tiny")
    assert loss.perceptual == ("none" if name == "mobile_photos" else "vgg19_relu5_4")


def test_defaults_are_the_papers():
    loss = recipe.LossConfig()
    assert (loss.perceptual, loss.gan) == ("vgg19_relu5_4", "standard")
    assert (loss.color_weight, loss.texture_weight, loss.tv_weight) == (5e-3, 5e-3, 10.0)
    assert not loss.vgg_random_init_for_tests
