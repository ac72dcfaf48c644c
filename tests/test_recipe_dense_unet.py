"""The Dense U-Net training recipe (recipes/enhance_dense_unet) on one CPU thread.

tiny.yaml trains a few steps on generated DPED-style data with an explicitly random VGG-19 and
writes a checkpoint ``build`` loads; a VGG recipe without weights stops with the one-line error
before writing anything; ``camkit train --vgg-weights FILE`` feeds a torchvision-format VGG-19;
the loss and data sections are strict; the generator's loss is L_p + lambda L_GAN +
eta (1 - MS-SSIM).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from recipes._common import trainer
from recipes._common.losses import ms_ssim_loss, perceptual
from recipes._common.trainer import StepContext
from recipes._common.vgg import ENV_VAR, VGGFeatures, load_vgg19
from toolkit.errors import CamkitError
from toolkit.models.enhance_dense_unet.model import build
from toolkit.training import load_recipe

REPO = Path(__file__).resolve().parents[1]
RECIPE_DIR = REPO / "recipes" / "enhance_dense_unet"
recipe, _ = load_recipe(RECIPE_DIR / "tiny.yaml")


@pytest.fixture(autouse=True)
def one_thread_no_vgg(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def dped_flat(folder: Path, count: int = 8, size_px: int = 40) -> Path:
    """A flat DPED copy: folder/iphone/N.jpg beside folder/canon/N.jpg (smooth random images)."""
    rng = np.random.default_rng(0)
    for side in ("iphone", "canon"):
        (folder / side).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        base = rng.random((5, 5, 3))
        canon = np.kron(base, np.ones((8, 8, 1)))[:size_px, :size_px]
        phone = np.clip(0.8 * canon + 0.05 + 0.03 * rng.standard_normal(canon.shape), 0, 1)
        for side, image in (("canon", canon), ("iphone", phone)):
            Image.fromarray((image * 255).astype(np.uint8)).save(folder / side / f"{i}.jpg")
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


def run(config: Path, **kwargs) -> Path:
    return recipe.run(config, root=REPO, resume=False, max_steps=kwargs.pop("max_steps", None),
                      run_dir=None, **kwargs)


def dped_config(tmp: Path, **loss) -> Path:
    data = {"dped": str(dped_flat(tmp / "dped")), "phone": "iphone", "val_holdout": 2,
            "val_crop_px": 32}
    return write_config(tmp, data=data, loss=loss,
                        drop_data=("photos", "short_side_px", "strength", "val_per_photo",
                                   "samples_per_epoch"))


def test_tiny_trains_on_dped_with_random_vgg_and_build_loads_it(tmp_path):
    checkpoint = run(dped_config(tmp_path))
    assert checkpoint.name == "step-0000004.safetensors"
    net = build("tiny", checkpoint)
    out = net(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
    info = json.loads(checkpoint.with_suffix(".json").read_text())
    assert "RANDOM INIT" in info["train"]["loss"]  # the random VGG is on record
    assert info["data"]["validation"] == "held-out files"
    assert info["val"]["samples"] == 2
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    for column in ("loss_d", "loss_g", "l_content", "l_gan", "l_ms_ssim", "psnr_db"):
        assert column in header
    assert list((tmp_path / "run" / "grids").glob("step-*.png"))


def test_vgg_recipe_without_weights_fails_early_in_one_line(tmp_path):
    config = write_config(tmp_path, loss={"vgg_random_init_for_tests": False})
    with pytest.raises(CamkitError) as err:
        run(config)
    message = str(err.value)
    assert "--vgg-weights" in message and ENV_VAR in message and "\n" not in message
    assert not (tmp_path / "run").exists()


def test_cli_vgg_weights_flag(tmp_path):
    weights = tmp_path / "vgg19-random.pth"
    torch.manual_seed(1)
    torch.save(VGGFeatures().state_dict(), weights)  # torchvision's key format: features.N.*
    config = write_config(tmp_path, loss={"vgg_random_init_for_tests": False})
    (tmp_path / "train.py").symlink_to(RECIPE_DIR / "train.py")  # camkit train finds the recipe
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "train", str(config), "--max-steps", "2",
         "--vgg-weights", str(weights)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    checkpoint = tmp_path / "run" / "checkpoints" / "step-0000002.safetensors"
    info = json.loads(checkpoint.with_suffix(".json").read_text())
    assert "weights: vgg19-random.pth" in info["train"]["loss"]
    assert "RANDOM INIT" not in info["train"]["loss"]


def test_cli_missing_vgg_weights_file_is_one_line(tmp_path, capsys):
    from toolkit.cli import main

    config = write_config(tmp_path, loss={"vgg_random_init_for_tests": False})
    assert main(["train", str(config), "--vgg-weights", str(tmp_path / "nope.pth")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--vgg-weights" in err and "nope.pth" in err and "\n" not in err
    assert ENV_VAR not in os.environ and not (tmp_path / "run").exists()


@pytest.mark.parametrize("section,key,suggestion", [
    ("loss", "perceptul", "perceptual"),
    ("loss", "lambda_gn", "lambda_gan"),
    ("data", "patch_pix", "patch_px"),
])
def test_unknown_keys_suggest(tmp_path, section, key, suggestion):
    config = write_config(tmp_path, **{section: {key: 1}})
    with pytest.raises(CamkitError, match=f"'{key}'.*{suggestion}"):
        run(config)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("loss,match", [
    ({"perceptual": "vgg16"}, "vgg19_conv5_4"),
    ({"gan": "wgan"}, "ragan"),
    ({"perceptual": "none", "vgg_random_init_for_tests": True}, "perceptual: none"),
])
def test_bad_loss_values(tmp_path, loss, match):
    with pytest.raises(CamkitError, match=match):
        run(write_config(tmp_path, loss=loss))


def test_data_needs_exactly_one_source_and_flat_dped_needs_holdout(tmp_path):
    with pytest.raises(CamkitError, match="exactly one of"):
        run(write_config(tmp_path, data={"paired": str(tmp_path)}))
    config = dped_config(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["data"].pop("val_holdout")
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(CamkitError, match="val_holdout"):
        run(config)


def _generator_step(lambda_gan: float, eta: float, warmup: bool = False):
    loss = recipe.LossConfig(lambda_gan=lambda_gan, eta_ms_ssim=eta,
                             vgg_random_init_for_tests=True)
    vgg = recipe.load_vgg(loss, seed=0)
    rec = recipe.make_recipe(loss, 32, vgg)
    torch.manual_seed(0)
    nets = {"generator": build("tiny"), "discriminator": recipe.build_discriminator("tiny", 32)}
    batch = (torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    ctx = StepContext(nets=nets, fixed={"vgg": vgg}, batch=batch, step=0, warmup=warmup,
                      device=torch.device("cpu"))
    g_phase = next(p for p in rec.phases if p.group == "g")
    with torch.no_grad():
        total, scalars = g_phase.loss(ctx)
        output = nets["generator"](batch[0])
        expected_lp = perceptual(vgg, output, batch[1], "conv5_4", criterion="l1")
        expected_ms = ms_ssim_loss(output, batch[1])
    return total, scalars, expected_lp, expected_ms


def test_generator_loss_composition():
    total, scalars, lp, ms = _generator_step(0.0, 0.0)
    assert torch.allclose(total, lp) and torch.allclose(scalars["l_content"], lp)
    total, scalars, lp, ms = _generator_step(0.5, 2.0)
    assert torch.allclose(scalars["l_ms_ssim"], ms)
    assert torch.allclose(total, lp + 0.5 * scalars["l_gan"] + 2.0 * ms)
    total, scalars, lp, ms = _generator_step(0.5, 2.0, warmup=True)
    assert "l_gan" not in scalars and torch.allclose(total, lp + 2.0 * ms)


def test_defaults_are_the_models_constants():
    from toolkit.models.enhance_dense_unet import model

    loss = recipe.LossConfig()
    assert (loss.lambda_gan, loss.eta_ms_ssim) == (model.DEFAULT_LAMBDA_GAN,
                                                   model.DEFAULT_ETA_MS_SSIM)
    assert loss.perceptual == "vgg19_conv5_4" and loss.gan == "standard"
    assert not loss.vgg_random_init_for_tests
    with pytest.raises(CamkitError, match="--vgg-weights"):
        load_vgg19(None)


@pytest.mark.parametrize("name", ["paper", "mobile", "mobile_photos", "tiny"])
def test_shipped_yamls_parse(name):
    path = RECIPE_DIR / f"{name}.yaml"
    config = trainer.load_config(recipe.RECIPE, path, REPO)
    trainer.configured(recipe.RECIPE, config, str(path))  # needs no VGG weights
    assert config.variant == name.split("_")[0]
    loss = config.sections["loss"]
    assert loss.vgg_random_init_for_tests == (name == "tiny")


def test_shipped_mobile_checkpoint_loads_and_says_how_it_was_made():
    ckpt = REPO / "toolkit" / "models" / "enhance_dense_unet" / "checkpoints" / "mobile.safetensors"
    if not ckpt.exists():
        pytest.skip(f"{ckpt} not trained yet")
    build("mobile", ckpt)
    info = json.loads(ckpt.with_suffix(".json").read_text())
    assert info["recipe"] == "recipes/enhance_dense_unet/mobile_photos.yaml"
    assert info["data"]["licenses"] == "calibration/photos_pd/manifest.json"
    assert info["train"]["loss"].startswith("d: discriminator_loss(standard), g: L1 (perceptual: none")
    assert info["val"]["psnr_db"] > info["val"]["input_psnr_db"]
    assert sum(p.stat().st_size for p in ckpt.parent.iterdir()) < 1_000_000
