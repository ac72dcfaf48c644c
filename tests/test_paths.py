"""Where camkit finds its bundled data and puts the user's (toolkit/paths.py), calibration sets by
name (shipped, then the user's), and shipped recipes by name (toolkit/training.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from toolkit import paths
from toolkit.errors import CamkitError


def test_a_clone_reads_its_data_from_the_repository_root():
    assert not paths.BUNDLED_DIR.is_dir()  # tests run from the checkout (editable install)
    assert paths.bundled_root() == REPO
    assert paths.shipped_calibration_root() == REPO / "calibration"
    assert paths.recipes_root() == REPO / "recipes"


def test_user_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CAMKIT_DATA_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.user_data_dir() == tmp_path / "mine"
    assert paths.user_calibration_root() == tmp_path / "mine" / "calibration"
    monkeypatch.delenv("CAMKIT_DATA_DIR")
    assert paths.user_data_dir() == tmp_path / "xdg" / "camkit"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.user_data_dir() == tmp_path / "home" / ".local" / "share" / "camkit"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert paths.user_data_dir() == (tmp_path / "home" / "Library" / "Application Support"
                                     / "camkit")


def _photos(folder: Path, count: int = 2) -> Path:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (80, 100, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_calib_build_writes_to_the_user_folder_and_a_name_finds_it(monkeypatch, tmp_path):
    from toolkit.quantization import calibration as cal

    monkeypatch.setenv("CAMKIT_DATA_DIR", str(tmp_path / "data"))
    shipped = sorted(p.name for p in cal.CALIBRATION_ROOT.iterdir())
    folder = cal.build_set(_photos(tmp_path / "photos"), "mine", (32, 32))
    assert folder == tmp_path / "data" / "calibration" / "mine"
    assert sorted(p.name for p in cal.CALIBRATION_ROOT.iterdir()) == shipped  # untouched
    assert cal.set_names()[:len(cal._sets_in(cal.CALIBRATION_ROOT))] == cal._sets_in(
        cal.CALIBRATION_ROOT)  # shipped first
    assert "mine" in cal.set_names() and cal.set_folder("mine") == folder
    assert len(cal.calibration_set("mine")) == 2
    with pytest.raises(CamkitError, match="ships; choose another --name"):
        cal.build_set(tmp_path / "photos", "photos_pd", (32, 32))
    with pytest.raises(CamkitError, match="unknown calibration set 'mien'.*did you mean 'mine'"):
        cal.set_folder("mien")


def test_a_set_name_wins_over_a_folder_of_that_name(monkeypatch, tmp_path):
    from toolkit.quantization.calibration import build_set, is_set_name

    monkeypatch.setenv("CAMKIT_DATA_DIR", str(tmp_path / "data"))
    build_set(_photos(tmp_path / "photos"), "mine", (32, 32))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    assert is_set_name("mine") and is_set_name("photos_pd")
    assert not is_set_name("./mine") and not is_set_name(Path("mine"))
    assert not is_set_name("photos")  # a folder, not a set


def test_calib_list_shows_shipped_and_user_sets(tmp_path):
    import os

    built = run_cli("calib", "build", "--from", str(_photos(tmp_path / "photos")), "--name",
                    "listed", "--size", "32x32")
    assert built.returncode == 0, built.stderr
    assert "--calib listed" in built.stdout
    listed = run_cli("calib", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert rows["photos_pd"][1:3] == ["5", "shipped"]
    assert rows["listed"][1:3] == ["2", "yours"]
    assert rows["listed"][3] == str(Path(os.environ["CAMKIT_DATA_DIR"]) / "calibration" / "listed")


def test_recipes_by_name(monkeypatch, tmp_path):
    from toolkit.training import recipe_names, resolve_config

    names = recipe_names()
    assert "retouch_csrnet/paper" in names and not any(n.startswith("_") for n in names)
    monkeypatch.chdir(tmp_path)
    path, run_dir = resolve_config("retouch_csrnet/tiny")
    assert path == REPO / "recipes" / "retouch_csrnet" / "tiny.yaml"
    assert run_dir == tmp_path / "runs" / "retouch_csrnet" / "tiny"  # the working directory
    path, _ = resolve_config("retouch_csrnet")  # the model's default variant
    assert path.stem == "paper"
    own = tmp_path / "own.yaml"
    own.write_text("model: retouch_csrnet\n")
    assert resolve_config(str(own)) == (own, None)  # a YAML is read as given
    with pytest.raises(CamkitError, match="did you mean 'retouch_csrnet/paper'"):
        resolve_config("retouch_csrnet/papr")
    with pytest.raises(CamkitError, match="does not exist"):
        resolve_config("missing.yaml")


def test_train_list_and_a_missing_recipe_are_one_line():
    listed = run_cli("train", "--list")
    assert listed.returncode == 0 and "  retouch_csrnet/paper" in listed.stdout
    missing = run_cli("train")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "camkit train --list" in missing.stderr
