"""`camkit new-model NAME --task TASK`: the folder it writes works out of the box, for every task:
it exports to ONNX, LiteRT and Core ML with --random-weights and passes the export's check,
trains a few steps on the bundled photos (camkit's engine, run from outside the repo), and its
trained checkpoint exports at w8a8 and passes `camkit check`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


def _cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "toolkit.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


@pytest.mark.parametrize("task", ["retouch", "enhance", "deblur", "inpaint"])
def test_new_model_exports_trains_and_checks(task, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("coremltools")
    name = f"my_{task}"
    made = _cli("new-model", name, "--task", task, "--out", "models", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "models" / name
    assert sorted(p.name for p in folder.iterdir()) == ["card.yaml", "model.py", "recipe.yaml",
                                                         "train.py"]

    exported = _cli("export", folder, "--variant", "tiny", "--random-weights", "--format",
                    "onnx,litert,coreml", "--precision", "fp32,w8a8", "--out", "art", cwd=tmp_path)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert len(list((tmp_path / "art" / name / "tiny").glob("*.manifest.json"))) == 6

    trained = _cli("train", folder / "recipe.yaml", "--max-steps", "2", cwd=tmp_path)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    [checkpoint] = (tmp_path / "runs" / name / "tiny" / "checkpoints").glob("*.safetensors")
    meta = json.loads(checkpoint.with_suffix(".json").read_text())
    assert meta["model_id"] == name and meta["variant"] == "tiny"

    again = _cli("export", folder, "--variant", "tiny", "--checkpoint", checkpoint, "--format",
                 "onnx", "--precision", "w8a8", "--out", "trained", "--no-check", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    checked = _cli("check", "trained", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_new_model_refuses_what_it_cannot_write(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    for args, message in [
        (["taken", "--task", "retouch"], "exists; choose another name"),
        (["retouch_csrnet", "--task", "retouch"], "is already a model (built-in)"),
        (["My-Model", "--task", "retouch"], "must be lower-case letters"),
    ]:
        result = _cli("new-model", *args, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    bad_task = _cli("new-model", "x", "--task", "denoise", cwd=tmp_path)
    assert bad_task.returncode == 2 and "invalid choice: 'denoise'" in bad_task.stderr
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no leftovers
