"""Bad training resumes (issue 13, item 16): ``camkit train CONFIG --resume`` with a YAML that
changes the run's config is refused (listing old -> new) unless --resume-with-new-config, which
trains on with the new values, logs the change and stores the new config in the run folder.

The tiny CSRNet recipe trains a couple of steps on generated photos, on one CPU thread.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from _harness import assert_one_line_error, cli, snapshot  # pytest prepends this folder

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "retouch_csrnet"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def config(tmp_path) -> Path:
    """A tiny CSRNet YAML (beside a link to the recipe's train.py) trained for 2 steps."""
    from PIL import Image

    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        pixels = rng.uniform(0, 255, size=(40, 40, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(photos / f"p{i}.png")
    folder = tmp_path / "recipe"
    folder.mkdir()
    (folder / "train.py").symlink_to(RECIPE / "train.py")
    path = folder / "cfg.yaml"
    _write(path, {
        "model": "retouch_csrnet", "variant": "tiny", "run_dir": str(tmp_path / "run"),
        "data": {"photos": str(photos), "crop_px": 16, "val_crop_px": 32, "samples_per_epoch": 8,
                 "val_edits_per_photo": 1},
        "train": {"steps": 2, "batch_size": 2, "lr": 2.0e-3, "val_every_steps": 2,
                  "ckpt_every_steps": 2, "tensorboard": False, "grid_rows": 0},
    })
    assert cli("train", path).rc == 0
    return path


def _write(path: Path, cfg: dict) -> None:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _edit(path: Path, **train) -> bytes:
    cfg = yaml.safe_load(path.read_text())
    cfg["train"].update(train)
    _write(path, cfg)
    return path.read_bytes()


def _events(run: Path, kind: str) -> list[dict]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == kind]


def test_resume_with_a_changed_config_is_refused_and_changes_nothing(config, tmp_path):
    run = tmp_path / "run"
    before = snapshot(run)
    _edit(config, batch_size=4, lr=5.0e-3)
    result = cli("train", config, "--resume", "--max-steps", "4")
    assert_one_line_error(result, "train.batch_size 2 -> 4", "train.lr 0.002 -> 0.005",
                          str(run), "--resume-with-new-config")
    assert snapshot(run) == before


def test_resume_with_new_config_trains_on_logs_and_stores_it(config, tmp_path):
    run = tmp_path / "run"
    new = _edit(config, batch_size=4, lr=5.0e-3)
    result = cli("train", config, "--resume-with-new-config", "--max-steps", "4")
    assert result.rc == 0, result.err
    assert (run / "config.yaml").read_bytes() == new
    [changed] = _events(run, "config_changed")
    assert changed["step"] == 2 and changed["forced"] is True
    assert changed["changes"] == {"train.batch_size": {"old": 2, "new": 4},
                                  "train.lr": {"old": 0.002, "new": 0.005}}
    assert [s["resumed"] for s in _events(run, "start")] == [False, True]
    assert torch.load(run / "state.pt", weights_only=True)["step"] == 4
    # the stored config is now the new one: resuming with it again is no change
    assert cli("train", config, "--resume", "--max-steps", "5").rc == 0
    assert len(_events(run, "config_changed")) == 1


def test_max_steps_and_bookkeeping_keys_do_not_count_as_changes(config, tmp_path):
    run = tmp_path / "run"
    _edit(config, steps=3, keep_checkpoints=2, lr=0.002)  # lr written again, same value
    result = cli("train", config, "--resume", "--max-steps", "4")
    assert result.rc == 0, result.err
    [changed] = _events(run, "config_changed")
    assert changed["forced"] is False
    assert set(changed["changes"]) == {"train.steps", "train.keep_checkpoints"}


def test_train_steps_counts_under_a_cosine_schedule(config, tmp_path):
    _edit(config, lr_schedule="cosine")
    cli("train", config, "--resume-with-new-config", "--max-steps", "3")
    _edit(config, steps=9)  # stretches the cosine: the learning rate of every later step moves
    assert_one_line_error(cli("train", config, "--resume", "--max-steps", "4"),
                          "train.steps 2 -> 9")
