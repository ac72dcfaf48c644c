"""SIGKILL an export at every stage: the folder is consistent afterwards, by the invariant and
by ``camkit check``, and holds either the old set byte for byte or the complete new one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _harness import cli, snapshot

pytest.importorskip("onnxruntime")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXPORT = ("export", "retouch_csrnet", "--variant", "tiny", "--format", "onnx",
          "--precision", "fp32,fp16", "--max-images", "1")


def export_killed_at(point: str, root: Path, seed_args=("--random-weights",)) -> int:
    proc = subprocess.run(
        [sys.executable, str(HERE / "_kill_at.py"), point, *EXPORT, *seed_args, "--out", str(root)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    return proc.returncode


def published_files(root: Path) -> dict[str, str]:
    """The visible files of the published folder (reports aside) and their sha256."""
    folder = root / "retouch_csrnet" / "tiny"
    return {k: v for k, v in snapshot(folder).items()
            if "/." not in k[len(str(folder)):] and not Path(k).name.startswith("check.")}


@pytest.fixture(scope="module")
def old_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("old") / "art"
    assert cli(*EXPORT, "--random-weights", "--out", root).rc == 0
    return root


@pytest.mark.parametrize("point", ["early", "mid-conversion", "checking", "before-swap",
                                   "after-swap"])
def test_kill_at_each_stage_leaves_a_consistent_folder(old_set, tmp_path, point):
    from toolkit.publish import scan

    root = tmp_path / "art"
    shutil.copytree(old_set, root)
    before = published_files(root)
    # other weights than the old set's, so "old" and "new" differ byte for byte
    ckpt = tmp_path / "other.safetensors"
    _other_checkpoint(ckpt)
    assert export_killed_at(point, root, ("--checkpoint", str(ckpt))) == -signal.SIGKILL
    state = scan(root)
    assert state.consistent, state.lines()
    after = published_files(root)
    if point == "after-swap":  # the swap is the commit point: the new set is whole
        assert after.keys() == before.keys() and after != before
    else:
        assert after == before
    result = cli("check", root, "--max-images", "1")
    assert result.rc == 0, result.out + result.err
    if point.endswith("swap"):  # a staging folder was left: the next export removes it
        assert [p for p in (root / "retouch_csrnet").iterdir() if ".staging-" in p.name]
        assert cli(*EXPORT, "--checkpoint", ckpt, "--out", root, "--no-check").rc == 0
        leftovers = [p.name for p in (root / "retouch_csrnet").iterdir()
                     if ".staging-" in p.name or ".old-" in p.name]
        assert leftovers == []


@pytest.mark.slow
def test_kill_at_a_random_moment(old_set, tmp_path):
    """A timed SIGKILL from outside, as a CI timeout sends it, wherever the export is."""
    from toolkit.publish import scan

    root = tmp_path / "art"
    shutil.copytree(old_set, root)
    before = published_files(root)
    for delay_s in (3.0, 6.0):
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "_kill_at.py"), "none", *EXPORT, "--random-weights",
             "--out", str(root)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay_s)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        state = scan(root)
        assert state.consistent, (delay_s, state.lines())
        assert published_files(root).keys() == before.keys()


def _other_checkpoint(path: Path) -> None:
    import torch

    from toolkit import registry
    from toolkit.checkpoints import save_checkpoint

    torch.manual_seed(11)
    net = registry.model_module("retouch_csrnet").build("tiny")
    save_checkpoint(path, net.state_dict(), "retouch_csrnet", "tiny", {"step": 0})
