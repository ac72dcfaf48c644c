"""Training: degradations, datasets, the recipe engine (configs, resume, DDP) and shipped weights.

Runs train the tiny CSRNet on images generated here, a few steps each, on one CPU thread.
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

from toolkit.data import degradations
from toolkit.data.datasets import PairedFolder, SyntheticRetouch
from toolkit.errors import CamkitError
from toolkit.models.retouch_csrnet.model import build
from toolkit.training import run_recipe

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "retouch_csrnet"
SHIPPED = REPO / "toolkit" / "models" / "retouch_csrnet" / "checkpoints"

#: a fixed edit for paired folders: darker, warmer, flatter
FIXED_EDIT = degradations.RetouchParams(
    exposure_stops=-0.6, wb_gains=(1.1, 1.0, 0.85), gamma=1.2, contrast=0.85, saturation=0.8
)


pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------------- helpers


def _photo(rng: np.random.Generator, height: int = 72, width: int = 88) -> np.ndarray:
    """A smooth, colourful synthetic photo: gradients, a disc and some texture."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0.2, 0.8, size=3).astype(np.float32)
    slope = rng.uniform(-0.4, 0.4, size=(2, 3)).astype(np.float32)
    img = base + (y[..., None] / height - 0.5) * slope[0] + (x[..., None] / width - 0.5) * slope[1]
    cy, cx, r = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width, height / 4
    disc = ((y - cy) ** 2 + (x - cx) ** 2 < r**2)[..., None]
    img = np.where(disc, rng.uniform(0, 1, size=3).astype(np.float32), img)
    img = img + rng.normal(0, 0.02, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def _save(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((image * 255 + 0.5).astype(np.uint8)).save(path)


@pytest.fixture
def photos(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    for i in range(4):
        _save(tmp_path / "photos" / f"p{i}.png", _photo(rng))
    return tmp_path / "photos"


@pytest.fixture
def paired(tmp_path) -> Path:
    rng = np.random.default_rng(2)
    for i in range(4):
        target = _photo(rng)
        _save(tmp_path / "paired" / "target" / f"im{i}.png", target)
        _save(tmp_path / "paired" / "input" / f"im{i}.png", degradations.apply(target, FIXED_EDIT))
    return tmp_path / "paired"


def write_recipe(
    folder: Path, data: dict, *, run_dir: Path | None = None, variant: str = "tiny", **train
) -> Path:
    """A YAML beside a link to the real train.py (how a user keeps their own configs)."""
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "train.py"
    if not link.exists():
        link.symlink_to(RECIPE / "train.py")
    cfg = {
        "model": "retouch_csrnet",
        "variant": variant,
        "run_dir": str(run_dir or folder / "run"),
        "data": {"crop_px": 32, "val_crop_px": 48, **data},
        "train": {"steps": 4, "batch_size": 2, "lr": 2e-3, "betas": [0.9, 0.99],
                  "val_every_steps": 2, "ckpt_every_steps": 2, **train},
    }
    path = folder / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def events(run_dir: Path, kind: str) -> list[dict]:
    """Events of one kind from the run's log.jsonl (a line torn by a kill is skipped)."""
    out = []
    for line in (run_dir / "log.jsonl").read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record["event"] == kind:
            out.append(record)
    return out


# ----------------------------------------------------------------------------- degradations


def test_degradations_are_deterministic_per_seed():
    image = _photo(np.random.default_rng(0))
    a = degradations.sample_params(np.random.default_rng(7))
    b = degradations.sample_params(np.random.default_rng(7))
    c = degradations.sample_params(np.random.default_rng(8))
    assert a == b and a != c
    out = degradations.apply(image, a)
    np.testing.assert_array_equal(out, degradations.apply(image, b))
    assert out.dtype == np.float32 and out.shape == image.shape
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert np.abs(out - image).mean() > 1e-3


def test_identity_params_give_the_identity():
    image = _photo(np.random.default_rng(0))
    np.testing.assert_array_equal(degradations.apply(image, degradations.RetouchParams()), image)
    zero = degradations.sample_params(np.random.default_rng(3), strength=0.0)
    np.testing.assert_array_equal(degradations.apply(image, zero), image)


def test_each_edit_is_global():
    """The same input colour maps to the same output colour wherever it is in the image."""
    rng = np.random.default_rng(4)
    colours = rng.uniform(0, 1, size=(1, 16, 3)).astype(np.float32)
    image = np.concatenate([colours, colours[:, ::-1]], axis=0)
    out = degradations.apply(image, degradations.sample_params(rng))
    np.testing.assert_allclose(out[0], out[1, ::-1], atol=1e-6)


# ---------------------------------------------------------------------------------- datasets


def test_paired_folder_pairs_by_name(paired):
    ds = PairedFolder(paired, 32, train=True, seed=0)
    x, y = ds[0]
    assert x.shape == y.shape == (3, 32, 32) and x.dtype == torch.float32
    assert len(ds) == 4


def test_paired_folder_errors(tmp_path, paired):
    (paired / "target" / "im3.png").rename(paired / "target" / "other.png")
    with pytest.raises(CamkitError, match="only in input/: im3; only in target/: other"):
        PairedFolder(paired, 32, train=True)
    with pytest.raises(CamkitError, match="does not exist"):
        PairedFolder(tmp_path / "nowhere", 32, train=True)
    (tmp_path / "empty" / "input").mkdir(parents=True)
    (tmp_path / "empty" / "target").mkdir()
    with pytest.raises(CamkitError, match="holds no images") as err:
        PairedFolder(tmp_path / "empty", 32, train=True)
    assert "\n" not in str(err.value)


def test_validation_samples_are_deterministic_training_samples_vary(photos):
    val = [SyntheticRetouch(photos, 48, train=False, seed=5, length=8) for _ in range(2)]
    for i in range(8):
        for a, b in zip(val[0][i], val[1][i]):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    train = SyntheticRetouch(photos, 32, train=True, seed=5, length=8)
    first = train[3][0]
    torch.testing.assert_close(train[3][0], first, rtol=0, atol=0)  # same (epoch, index)
    train.set_epoch(1)
    assert not torch.equal(train[3][0], first)


# ------------------------------------------------------------------------------- training


def test_train_on_paired_folder_loads_into_build(tmp_path, paired):
    cfg = write_recipe(tmp_path / "r", {"paired": str(paired), "val_files": ["im3.png"]})
    ckpt = run_recipe(cfg)
    assert ckpt == tmp_path / "r" / "run" / "checkpoints" / "step-0000004.safetensors"
    net = build("tiny", ckpt)
    assert net(torch.rand(1, 3, 40, 40)).shape == (1, 3, 40, 40)
    info = json.loads(ckpt.with_suffix(".json").read_text())
    assert info["step"] == 4 and info["data"]["kind"] == "paired"
    assert info["data"]["validation"] == "held-out files"
    assert set(info["val"]) >= {"psnr_db", "ssim", "input_psnr_db", "input_ssim"}


def test_train_on_photos_with_synthetic_retouching(tmp_path, photos):
    cfg = write_recipe(tmp_path / "r", {"photos": str(photos), "samples_per_epoch": 6,
                                         "val_edits_per_photo": 2})
    ckpt = run_recipe(cfg, max_steps=3, run_dir=tmp_path / "elsewhere")
    assert ckpt == tmp_path / "elsewhere" / "checkpoints" / "step-0000003.safetensors"
    build("tiny", ckpt)
    info = json.loads(ckpt.with_suffix(".json").read_text())
    assert info["data"]["kind"] == "photos with synthetic global retouching"
    assert info["val"]["samples"] == 8  # 4 photos x 2 edits


def test_loss_decreases_on_a_fixed_problem(tmp_path, paired):
    """100 steps on one fixed global edit: the loss must fall far below where it started.

    The paper variant, because tiny (8 channels) learns too slowly for a test this short.
    """
    cfg = write_recipe(tmp_path / "r", {"paired": str(paired), "samples_per_epoch": 64},
                       variant="paper", steps=100, batch_size=4, val_every_steps=25,
                       ckpt_every_steps=100)
    run_recipe(cfg)
    vals = events(tmp_path / "r" / "run", "val")
    assert [v["step"] for v in vals] == [25, 50, 75, 100]
    losses, psnrs = [v["loss"] for v in vals], [v["psnr_db"] for v in vals]
    assert losses[-1] < 0.5 * losses[0], losses
    assert psnrs[-1] > psnrs[0] + 3.0, psnrs


def test_resume_continues_from_the_saved_step(tmp_path, paired):
    data = {"paired": str(paired), "samples_per_epoch": 8}
    cfg = write_recipe(tmp_path / "r", data, steps=12, ckpt_every_steps=3, val_every_steps=6)
    run_dir = tmp_path / "r" / "run"
    run_recipe(cfg, max_steps=6)
    state = torch.load(run_dir / "state.pt", weights_only=True)
    assert state["step"] == 6 and int(state["optimizer"]["state"][0]["step"]) == 6

    with pytest.raises(CamkitError, match="--resume"):
        run_recipe(cfg)  # a second fresh run would overwrite the first
    final = run_recipe(cfg, resume=True)
    starts = events(run_dir, "start")
    assert [(s["step"], s["resumed"]) for s in starts] == [(0, False), (6, True)]
    state = torch.load(run_dir / "state.pt", weights_only=True)
    # Adam's per-parameter step count continued from 6: the optimizer state was restored
    assert state["step"] == 12 and int(state["optimizer"]["state"][0]["step"]) == 12

    # and the result is the one an uninterrupted run reaches, bit for bit
    straight = run_recipe(cfg, run_dir=tmp_path / "straight")
    a, b = build("tiny", final).state_dict(), build("tiny", straight).state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)

    with pytest.raises(CamkitError, match="nothing to resume"):
        run_recipe(cfg, resume=True, run_dir=tmp_path / "fresh")


def test_damaged_state_or_checkpoint_is_an_error_and_kept(tmp_path, paired):
    cfg = write_recipe(tmp_path / "r", {"paired": str(paired)})
    ckpt = run_recipe(cfg, max_steps=2)
    state = tmp_path / "r" / "run" / "state.pt"
    damaged = state.read_bytes()[: state.stat().st_size // 2]
    state.write_bytes(damaged)
    with pytest.raises(CamkitError, match="corrupt or truncated") as err:
        run_recipe(cfg, resume=True)
    assert "\n" not in str(err.value)
    assert state.read_bytes() == damaged  # not overwritten by a fresh start
    with pytest.raises(CamkitError, match="already holds a training run"):
        run_recipe(cfg)

    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(CamkitError, match="corrupt or truncated"):
        build("tiny", ckpt)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["train"].update(lr_milestone=[2]), "did you mean 'lr_milestones'"),
        (lambda c: c["train"].update(lr_schedule="cosin"), "did you mean 'cosine'"),
        (lambda c: c["train"].update(lr_schedule="cosine", lr_milestones=[2]), "drop them"),
        (lambda c: c["train"].update(lr_min=1.0), "lr_min must be in"),
        (lambda c: c.update(varient="tiny"), "did you mean 'variant'"),
        (lambda c: c["data"].update(crop=32), "did you mean 'crop_px'"),
        (lambda c: c["train"].update(batch_size="four"), "train.batch_size must be a whole number"),
        (lambda c: c.update(variant="huge"), "unknown variant of retouch_csrnet 'huge'"),
        (lambda c: c.update(model="dped"), "train.py beside it trains 'retouch_csrnet'"),
        (lambda c: c["data"].update(photos="/no/such/folder"), "exactly one of"),
        (lambda c: c["data"].update(paired="/no/such/folder"), "does not exist"),
        (lambda c: c["data"].update(val_files=["im9.png"]), "did you mean 'im"),
    ],
)
def test_config_errors_are_one_line_with_a_suggestion(tmp_path, paired, edit, message):
    cfg_path = write_recipe(tmp_path / "r", {"paired": str(paired)})
    cfg = yaml.safe_load(cfg_path.read_text())
    edit(cfg)
    cfg_path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(CamkitError, match=message) as err:
        run_recipe(cfg_path)
    assert "\n" not in str(err.value)


def test_bad_yaml_and_misplaced_config(tmp_path, paired):
    cfg = write_recipe(tmp_path / "r", {"paired": str(paired)})
    cfg.write_text("model: [unclosed\n")
    with pytest.raises(CamkitError, match="not valid YAML at line"):
        run_recipe(cfg)
    lonely = tmp_path / "lonely.yaml"
    lonely.write_text("model: retouch_csrnet\n")
    with pytest.raises(CamkitError, match="no train.py beside"):
        run_recipe(lonely)


def test_ddp_two_processes_with_gloo(tmp_path, paired):
    cfg = write_recipe(tmp_path / "r", {"paired": str(paired), "samples_per_epoch": 8},
                       steps=4, batch_size=2)
    script = tmp_path / "launch.py"
    script.write_text(
        "import sys\nfrom toolkit.training import run_recipe\n"
        "print('CKPT', run_recipe(sys.argv[1]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(script), str(cfg)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "r" / "run"
    assert proc.stdout.count("CKPT") == 2
    [start] = events(run_dir, "start")
    assert start["processes"] == 2
    ckpt = run_dir / "checkpoints" / "step-0000004.safetensors"
    build("tiny", ckpt)
    assert json.loads(ckpt.with_suffix(".json").read_text())["train"]["processes"] == 2


@pytest.mark.slow
def test_resume_after_a_kill(tmp_path, paired):
    """SIGKILL a real training process mid-run; --resume continues from its last saved step."""
    import signal
    import time

    cfg = write_recipe(tmp_path / "r", {"paired": str(paired), "samples_per_epoch": 8},
                       steps=100_000, ckpt_every_steps=5, val_every_steps=1000)
    run_dir = tmp_path / "r" / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    code = f"from toolkit.training import run_recipe; run_recipe({str(cfg)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list(run_dir.glob("checkpoints/*.safetensors"))) < 3:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = torch.load(run_dir / "state.pt", weights_only=True)["step"]
    assert saved >= 10 and saved % 5 == 0
    final = run_recipe(cfg, resume=True, max_steps=saved + 5)
    assert events(run_dir, "start")[-1]["step"] == saved
    assert json.loads(final.with_suffix(".json").read_text())["step"] == saved + 5


# ------------------------------------------------------------------------- shipped weights


@pytest.mark.parametrize("variant", ["paper", "tiny"])
def test_shipped_checkpoints_load_and_say_how_they_were_made(variant):
    ckpt = SHIPPED / f"{variant}.safetensors"
    if not ckpt.exists():
        pytest.skip(f"{ckpt} not trained yet")
    build(variant, ckpt)
    info = json.loads(ckpt.with_suffix(".json").read_text())
    assert info["data"]["licenses"] == "calibration/photos_pd/manifest.json"
    assert info["val"]["psnr_db"] > info["val"]["input_psnr_db"]
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) < 1_000_000


def test_learning_rate_schedules():
    from recipes._common.trainer import OptimizerConfig, TrainConfig

    common = {"steps": 100, "batch_size": 1, "lr": 1e-3, "val_every_steps": 10,
              "ckpt_every_steps": 10}
    step = TrainConfig(**common, lr_milestones=(50, 75))
    assert [step.lr_at(s) for s in (0, 49, 50, 74, 75, 99)] == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4,
                                                                2.5e-4]
    cosine = TrainConfig(**common, lr_schedule="cosine", lr_min=1e-7)
    lrs = [cosine.lr_at(s) for s in range(101)]
    assert lrs[0] == 1e-3 and abs(lrs[50] - (1e-3 + 1e-7) / 2) < 1e-12 and lrs[100] == 1e-7
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert cosine.lr_at(150) == 1e-7  # past the end (a resumed run with more steps) stays at min
    # a group can anneal while another steps
    mixed = TrainConfig(**common, optimizers={"d": OptimizerConfig(lr_schedule="cosine")})
    assert mixed.optimizer("d").lr_at(100) == 0.0 and mixed.optimizer(None).lr_at(100) == 1e-3
