"""The training engine with several networks: a toy GAN (tests/_toy_gan_recipe) on one CPU thread.

Phases and warm-up, per-group optimizers, EMA, logs (metrics.csv, TensorBoard, image grids),
exact resume (in process and after SIGKILL), seeded determinism, strict configs, recipe sections
with a configure hook, and DDP (gloo).
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from recipes._common import logs, trainer
from recipes._common.trainer import Phase, Recipe
from toolkit.checkpoints import read_checkpoint
from toolkit.errors import CamkitError
from toolkit.models.retouch_csrnet.model import build

REPO = Path(__file__).resolve().parents[1]
TOY_DIR = Path(__file__).resolve().parent / "_toy_gan_recipe"


def _load_toy():
    name = "_camkit_toy_gan_recipe"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TOY_DIR / "train.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
        spec.loader.exec_module(module)
    return sys.modules[name]


toy = _load_toy()


pytestmark = pytest.mark.usefixtures("one_thread")


def write_config(folder: Path, *, data: dict | None = None, **train) -> Path:
    """The toy YAML with ``train`` keys replaced (None deletes one); run_dir = folder/run."""
    cfg = yaml.safe_load((TOY_DIR / "toy.yaml").read_text())
    cfg["run_dir"] = str(folder / "run")
    cfg["data"].update(data or {})
    for key, value in train.items():
        if value is None:
            cfg["train"].pop(key, None)
        else:
            cfg["train"][key] = value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "toy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def state(run_dir: Path) -> dict:
    return torch.load(run_dir / "state.pt", weights_only=True)


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def events(run_dir: Path, kind: str) -> list[dict]:
    out = []
    for line in (run_dir / "log.jsonl").read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record["event"] == kind:
            out.append(record)
    return out


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def assert_same_training(a: dict, b: dict) -> None:
    """Every network, the EMA and both optimizers' states are bit-identical."""
    assert a["nets"].keys() == b["nets"].keys() == {"generator", "critic"}
    for name in a["nets"]:
        assert_same_tensors(a["nets"][name], b["nets"][name])
    assert_same_tensors(a["ema"], b["ema"])
    for group in ("d", "g"):
        for index, moments in a["optimizers"][group]["state"].items():
            assert_same_tensors(moments, b["optimizers"][group]["state"][index])


# ------------------------------------------------------------------------------ training


def test_gan_trains_exports_and_logs(tmp_path):
    cfg = write_config(tmp_path / "r", save_training_nets=True)
    ckpt = toy.run(cfg)
    run_dir = tmp_path / "r" / "run"
    assert ckpt == run_dir / "checkpoints" / "step-0000006.safetensors"
    build("tiny", ckpt)  # the exported network is a camkit retouch_csrnet checkpoint

    saved = state(run_dir)
    assert saved["step"] == 6 and set(saved["optimizers"]) == {"d", "g"}
    # the checkpoint holds the EMA weights, and says so; state.pt keeps the raw ones too
    weights, meta = read_checkpoint(ckpt)
    assert_same_tensors(weights, saved["ema"])
    assert any(not torch.equal(weights[k], saved["nets"]["generator"][k]) for k in weights)
    info = json.loads(ckpt.with_suffix(".json").read_text())
    assert info["weights"] == "ema (decay 0.9)"
    assert info["train"]["loss"] == "d: critic_loss, g: generator_loss"
    assert info["train"]["optimizers"] == {"d": {"lr": 1e-3, "betas": None, "weight_decay": None,
                                                 "lr_milestones": None, "lr_gamma": None,
                                                 "lr_schedule": None, "lr_min": None}}
    assert set(info["networks"]) == {"generator", "critic"}

    # the critic's own weights, not loadable as the exported model
    critic = run_dir / "checkpoints" / "critic" / "step-0000006.safetensors"
    assert_same_tensors(read_checkpoint(critic)[0], saved["nets"]["critic"])
    with pytest.raises(CamkitError, match="retouch_csrnet.critic"):
        build("tiny", critic)

    # metrics.csv: fixed columns, a train row per step (log_every_steps 1), a val row per validation
    table = rows(run_dir)
    assert list(table[0]) == ["step", "split", "train_seconds", "lr_d", "lr_g", "loss_d",
                              "loss_g", "d_real", "d_fake", "l1", "adv", "psnr_db", "ssim",
                              "input_psnr_db", "input_ssim"]
    train = [r for r in table if r["split"] == "train"]
    assert [int(r["step"]) for r in train] == [1, 2, 3, 4, 5, 6]
    # warm-up (gan_start_step 2): the critic phase is skipped and the generator has no adv term
    assert [bool(r["loss_d"]) for r in train] == [False, False, True, True, True, True]
    assert [bool(r["adv"]) for r in train] == [False, False, True, True, True, True]
    assert float(train[0]["lr_d"]) == 1e-3 and float(train[0]["lr_g"]) == 2e-3
    assert [int(r["step"]) for r in table if r["split"] == "val"] == [3, 6]

    # grids (2 rows of 48 px crops: input | output | target) and TensorBoard events
    from PIL import Image

    grid = Image.open(run_dir / "grids" / "step-0000006.png")
    assert grid.size == (3 * 48 + 2 * 2, 2 * 48 + 2)
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    [val] = [e for e in events(run_dir, "val") if e["step"] == 6]
    assert {"loss_d", "loss_g", "l1", "adv", "lr_d", "lr_g", "psnr_db", "ssim"} <= set(val)


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    cfg = write_config(tmp_path / "r")
    straight = toy.run(cfg, run_dir=tmp_path / "straight")
    run_dir = tmp_path / "r" / "run"
    toy.run(cfg, max_steps=3)
    assert state(run_dir)["step"] == 3
    resumed = toy.run(cfg, resume=True)
    assert_same_training(state(run_dir), state(tmp_path / "straight"))
    assert_same_tensors(read_checkpoint(resumed)[0], read_checkpoint(straight)[0])
    # the same metrics rows, each step once (train_seconds aside)
    def strip(table):
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in table]

    assert strip(rows(run_dir)) == strip(rows(tmp_path / "straight"))


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    a = state_after(tmp_path / "a", seed=3)
    b = state_after(tmp_path / "b", seed=3)
    assert_same_training(a, b)
    c = state_after(tmp_path / "c", seed=4)
    key = "body.0.weight"
    assert not torch.equal(a["nets"]["critic"][key], c["nets"]["critic"][key])


def state_after(folder: Path, **train) -> dict:
    toy.run(write_config(folder, **train), max_steps=4)
    return state(folder / "run")


def test_without_ema_the_checkpoint_holds_the_raw_weights(tmp_path):
    cfg = write_config(tmp_path / "r", ema_decay=None, gan_start_step=0, grid_rows=0,
                       deterministic=True)
    ckpt = toy.run(cfg, max_steps=2)
    saved = state(tmp_path / "r" / "run")
    assert saved["ema"] is None
    assert_same_tensors(read_checkpoint(ckpt)[0], saved["nets"]["generator"])
    assert json.loads(ckpt.with_suffix(".json").read_text())["weights"] == "raw"
    assert not (tmp_path / "r" / "run" / "grids").exists()


def test_amp_on_cpu_is_ignored_with_one_notice(tmp_path, capfd):
    cfg = write_config(tmp_path / "r", amp=True, amp_dtype="fp16", tensorboard=False)
    ckpt = toy.run(cfg, max_steps=1)
    run_dir = tmp_path / "r" / "run"
    [notice] = events(run_dir, "notice")
    assert "train.amp is ignored on CPU" in notice["message"]
    assert "train.amp is ignored on CPU" in capfd.readouterr().err
    assert json.loads(ckpt.with_suffix(".json").read_text())["train"]["amp"] is None
    assert state(run_dir)["scaler"] == {}
    assert not (run_dir / "tensorboard").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_amp_on_cuda_trains_and_resumes(tmp_path, dtype):
    cfg = write_config(tmp_path / "r", amp=True, amp_dtype=dtype)
    toy.run(cfg, max_steps=3)
    saved = state(tmp_path / "r" / "run")
    assert bool(saved["scaler"]) == (dtype == "fp16")
    ckpt = toy.run(cfg, resume=True)
    assert json.loads(ckpt.with_suffix(".json").read_text())["train"]["amp"] == dtype


# ------------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    "train, message",
    [
        ({"optimizers": {"gen": {"lr": 1e-3}}},
         r"unknown optimizer group .* 'gen' \(did you mean 'g'\?\)"),
        ({"optimizers": {"d": {"lrr": 1e-3}}}, "did you mean 'lr'"),
        ({"ema_decy": 0.9}, "did you mean 'ema_decay'"),
        ({"amp_dtype": "fp8"}, "unknown train.amp_dtype 'fp8'"),
        ({"ema_decay": 1.5}, "train.ema_decay must be in"),
        ({"gan_start_step": -1}, "gan_start_step"),
        ({"optimizers": {"d": {"lr_gamma": 2.0}}}, "lr_gamma in"),
    ],
)
def test_config_errors_are_one_line(tmp_path, train, message):
    with pytest.raises(CamkitError, match=message) as err:
        toy.run(write_config(tmp_path / "r", **train))
    assert "\n" not in str(err.value)


def test_tensorboard_true_without_the_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "tensorboard_available", lambda: False)
    with pytest.raises(CamkitError, match=r"pip install 'camkit\[train\]'"):
        toy.run(write_config(tmp_path / "r", tensorboard=True))
    toy.run(write_config(tmp_path / "q"), max_steps=1)  # the default follows the package: off
    assert not (tmp_path / "q" / "run" / "tensorboard").exists()


def test_recipe_mistakes_are_caught_when_it_is_defined():
    base = dict(model_id="retouch_csrnet", data_config=toy.DataConfig, build_model=build,
                build_datasets=toy.build_datasets, describe_data=toy.describe_data,
                exported="generator", networks={"critic": lambda v: toy.Critic()})
    g = Phase("g", toy.generator_loss, scalars=("l1", "adv"))
    with pytest.raises(CamkitError, match="each network exactly once"):
        Recipe(**base, groups={"g": ("generator",)}, phases=(g,))
    with pytest.raises(CamkitError, match="group 'd' needs exactly one phase"):
        Recipe(**base, groups={"d": ("critic",), "g": ("generator",)}, phases=(g,))
    with pytest.raises(CamkitError, match="unique"):
        Recipe(**base, groups={"d": ("critic",), "g": ("generator",)},
               phases=(Phase("d", toy.critic_loss, scalars=("l1",)), g))


# ---------------------------------------------------------- recipe sections and configure


@dataclass(frozen=True)
class AdvConfig:
    """An optional toy section ``adv:`` (every field has a default)."""

    weight: float = toy.ADV_WEIGHT
    fail_fixed: bool = False  # the fixed module's builder raises (a missing weights file)


@dataclass(frozen=True)
class TagConfig:
    """A required toy section ``tag:``."""

    name: str


#: what the sectioned toy recipe did, in order: ("configure", cfg), ("fixed",), ("data",)
CALLS: list[tuple] = []


def _weighted_generator_loss(weight: float):
    def loss(ctx):
        assert isinstance(ctx.fixed["probe"], torch.nn.Identity)  # the fixed module is there
        total, scalars = toy.generator_loss(ctx)
        if "adv" in scalars:
            total = scalars["l1"] + weight * scalars["adv"]
        return total, scalars

    loss.__name__ = f"generator_loss(adv x {weight:g})"
    return loss


def _probe(fail: bool) -> torch.nn.Module:
    CALLS.append(("fixed",))
    if fail:
        raise CamkitError("probe weights missing")
    return torch.nn.Identity()


def _configure(cfg: trainer.RunConfig) -> Recipe:
    CALLS.append(("configure", cfg))
    adv = cfg.sections["adv"]
    return dataclasses.replace(
        SECTIONED,
        phases=(toy.RECIPE.phases[0],
                Phase("g", _weighted_generator_loss(adv.weight), scalars=("l1", "adv"))),
        fixed={"probe": lambda: _probe(adv.fail_fixed)},
    )


def _datasets(data, seed):
    CALLS.append(("data",))
    return toy.build_datasets(data, seed)


SECTIONED = dataclasses.replace(toy.RECIPE, build_datasets=_datasets,
                                sections={"adv": AdvConfig, "tag": TagConfig},
                                configure=_configure)


def write_sectioned(folder: Path, **sections) -> Path:
    """The toy YAML plus ``tag: {name: toy}`` and ``sections`` (None deletes a key)."""
    path = write_config(folder)
    cfg = yaml.safe_load(path.read_text())
    cfg["tag"] = {"name": "toy"}
    for key, value in sections.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_sectioned(config: Path, recipe: Recipe = SECTIONED, **kwargs) -> Path:
    CALLS.clear()
    return trainer.run(recipe, config, root=REPO, resume=False, run_dir=None,
                       max_steps=kwargs.pop("max_steps", None), **kwargs)


def test_sections_are_parsed_and_configure_builds_the_recipe_trained(tmp_path):
    ckpt = run_sectioned(write_sectioned(tmp_path / "r", adv={"weight": 0.5}), max_steps=3)
    (_, cfg), *rest = CALLS
    assert cfg.sections == {"adv": AdvConfig(weight=0.5), "tag": TagConfig(name="toy")}
    assert rest == [("fixed",), ("data",)]  # fixed modules are built before the data is read
    info = json.loads(ckpt.with_suffix(".json").read_text())
    assert info["train"]["loss"] == "d: critic_loss, g: generator_loss(adv x 0.5)"
    assert [bool(r["adv"]) for r in rows(tmp_path / "r" / "run") if r["split"] == "train"] == [
        False, False, True]


@pytest.mark.parametrize("adv", [None, {}, "empty"])
def test_an_optional_section_may_be_left_out_or_empty(tmp_path, adv):
    config = write_sectioned(tmp_path, adv=adv)
    if adv == "empty":  # `adv:` with every key commented out
        config.write_text(config.read_text().replace("adv: empty", "adv:"))
    cfg = trainer.load_config(SECTIONED, config, REPO)
    assert cfg.sections["adv"] == AdvConfig()
    assert trainer.load_config(toy.RECIPE, write_config(tmp_path / "plain"), REPO).sections == {}


@pytest.mark.parametrize("sections, message", [
    ({"advv": {"weight": 0.5}}, r"unknown key in .* 'advv' \(did you mean 'adv'\?\)"),
    ({"adv": {"wieght": 0.5}}, r"unknown key in .* adv 'wieght' \(did you mean 'weight'\?\)"),
    ({"adv": {"weight": "heavy"}}, r"adv\.weight must be a number"),
    ({"adv": [0.5]}, r"adv must be a mapping"),
    ({"tag": None}, r"lacks tag"),
    ({"tag": {}}, r"tag lacks name"),
    ({"train": None}, r"lacks train"),
])
def test_section_errors_are_one_line_and_write_nothing(tmp_path, sections, message):
    config = write_sectioned(tmp_path, **sections)
    with pytest.raises(CamkitError, match=message) as err:
        run_sectioned(config)
    assert "\n" not in str(err.value)
    assert CALLS == [] and not (tmp_path / "run").exists()  # before configure, fixed and data


def test_a_failing_fixed_module_stops_the_run_before_data_and_writes_nothing(tmp_path):
    with pytest.raises(CamkitError, match="probe weights missing"):
        run_sectioned(write_sectioned(tmp_path, adv={"fail_fixed": True}))
    assert [c[0] for c in CALLS] == ["configure", "fixed"]
    assert not (tmp_path / "run").exists()


def test_optimizer_groups_are_those_of_the_configured_recipe(tmp_path):
    config = write_sectioned(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["train"]["optimizers"] = {"critic": {"lr": 1e-3}}
    config.write_text(yaml.safe_dump(raw))
    one_critic = dataclasses.replace(SECTIONED, configure=lambda cfg: dataclasses.replace(
        _configure(cfg), groups={"critic": ("critic",), "g": ("generator",)},
        phases=(Phase("critic", toy.critic_loss, scalars=("d_real", "d_fake"),
                      in_warmup=False),
                Phase("g", toy.generator_loss, scalars=("l1", "adv")))))
    cfg = trainer.load_config(one_critic, config, REPO)
    assert set(trainer.configured(one_critic, cfg, "x").optimizer_groups()) == {"critic", "g"}
    with pytest.raises(CamkitError, match=r"optimizer group .* 'critic'; choose from: d, g"):
        trainer.configured(SECTIONED, cfg, "x")


def test_section_and_configure_mistakes_are_caught():
    with pytest.raises(CamkitError, match="section 'train' is one of the engine's keys"):
        dataclasses.replace(toy.RECIPE, sections={"train": AdvConfig})
    with pytest.raises(CamkitError, match="section 'adv' needs a dataclass"):
        dataclasses.replace(toy.RECIPE, sections={"adv": dict})
    cfg = trainer.RunConfig(model="retouch_csrnet", variant="tiny", run_dir=Path("x"), data=None,
                            train=None, sections={"adv": AdvConfig(), "tag": TagConfig("t")})
    other_data = dataclasses.replace(SECTIONED, configure=lambda c: dataclasses.replace(
        _configure(c), data_config=AdvConfig))
    with pytest.raises(CamkitError, match="configure must return a Recipe that keeps .* "
                                          "changed: data_config"):
        trainer.configured(other_data, cfg, "x")


# ------------------------------------------------------------------ processes: kill and DDP


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")


def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path):
    """SIGKILL a training process mid-run; --resume continues bit for bit from its last save."""
    cfg = write_config(tmp_path / "r", steps=100_000, ckpt_every_steps=2, val_every_steps=1000,
                       log_every_steps=1, tensorboard=False)
    run_dir = tmp_path / "r" / "run"
    proc = subprocess.Popen([sys.executable, str(TOY_DIR / "train.py"), str(cfg)], env=_env(),
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list(run_dir.glob("checkpoints/*.safetensors"))) < 3:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = state(run_dir)["step"]
    assert saved >= 4 and saved % 2 == 0
    toy.run(cfg, resume=True, max_steps=saved + 3)
    assert events(run_dir, "start")[-1]["step"] == saved
    toy.run(cfg, max_steps=saved + 3, run_dir=tmp_path / "straight")
    assert_same_training(state(run_dir), state(tmp_path / "straight"))
    steps = [int(r["step"]) for r in rows(run_dir) if r["split"] == "train"]
    assert steps == list(range(1, saved + 4))  # rows after the kill's last save were cut


def test_ddp_two_processes_with_gloo(tmp_path):
    cfg = write_config(tmp_path / "r", steps=4, tensorboard=False)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(TOY_DIR / "train.py"), str(cfg)],
        capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("CKPT") == 2
    run_dir = tmp_path / "r" / "run"
    [start] = events(run_dir, "start")
    assert start["processes"] == 2
    saved = state(run_dir)
    assert len(saved["rng"]) == 2  # each process's random streams, for an exact resume
    ckpt = run_dir / "checkpoints" / "step-0000004.safetensors"
    build("tiny", ckpt)
    assert json.loads(ckpt.with_suffix(".json").read_text())["train"]["processes"] == 2
    # DDP averaged the critic's and the generator's gradients: a one-process run differs
    single = state_after(tmp_path / "single", steps=4, tensorboard=False)
    assert not torch.equal(single["nets"]["critic"]["body.0.weight"],
                           saved["nets"]["critic"]["body.0.weight"])
