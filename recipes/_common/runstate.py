"""A run directory: checkpoints, the training state that resumes a run, and a JSON-lines log.

Layout::

    RUN_DIR/config.yaml                      copy of the recipe that started the run
    RUN_DIR/checkpoints/step-0000500.safetensors (+ .json)   camkit checkpoints (weights only)
    RUN_DIR/state.pt                         step, weights, optimizer, RNG: what --resume reads
    RUN_DIR/log.jsonl                        start, validation and checkpoint events

Every file is written to a temp file and renamed into place, the checkpoint before the state, so
a kill at any moment leaves the previous state and its checkpoint intact. ``state.pt`` holds only
tensors and plain values and is read with ``torch.load(weights_only=True)``: nothing is unpickled.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import torch

from toolkit.artifacts import atomic_write_bytes
from toolkit.checkpoints import save_checkpoint
from toolkit.errors import CamkitError

STATE_NAME = "state.pt"
STATE_FORMAT = 1
_STATE_KEYS = ("format", "model_id", "variant", "step", "model", "optimizer", "torch_rng",
               "train_seconds", "val")


def state_path(run_dir: Path) -> Path:
    return Path(run_dir) / STATE_NAME


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step-{step:07d}.safetensors"


def checkpoints(run_dir: Path) -> list[Path]:
    """The run's checkpoints, oldest first."""
    return sorted((Path(run_dir) / "checkpoints").glob("step-*.safetensors"))


def check_start(run_dir: Path, resume: bool) -> None:
    """A new run needs a run dir without training outputs; --resume needs a state to resume."""
    has_state = state_path(run_dir).exists()
    if resume and not has_state:
        raise CamkitError(
            f"nothing to resume: {state_path(run_dir)} does not exist; drop --resume to start a "
            f"new run"
        )
    if not resume and (has_state or checkpoints(run_dir)):
        raise CamkitError(
            f"run dir {run_dir} already holds a training run; pass --resume to continue it, or "
            f"--run-dir NEW_DIR to start another"
        )


def save_state(run_dir: Path, state: dict[str, Any]) -> None:
    """Atomically write ``state.pt`` (the keys of _STATE_KEYS)."""
    buf = io.BytesIO()
    torch.save({"format": STATE_FORMAT, **state}, buf)
    atomic_write_bytes(state_path(run_dir), buf.getvalue())


def load_state(run_dir: Path, model_id: str, variant: str) -> dict[str, Any]:
    """The training state of a run, checked; a damaged file is an error and is left untouched."""
    path = state_path(run_dir)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated zips and bad pickles
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CamkitError(
            f"training state {path} is corrupt or truncated ({first}); restore it from a backup, "
            f"or start over with --run-dir NEW_DIR"
        ) from None
    if not isinstance(state, dict) or any(k not in state for k in _STATE_KEYS):
        raise CamkitError(f"{path} is not a camkit training state; start over with --run-dir NEW_DIR")
    if state["format"] != STATE_FORMAT:
        raise CamkitError(f"{path} has state format {state['format']}, this camkit reads {STATE_FORMAT}")
    if (state["model_id"], state["variant"]) != (model_id, variant):
        raise CamkitError(
            f"{path} trains {state['model_id']}/{state['variant']}, the config asks for "
            f"{model_id}/{variant}; use the config that started the run"
        )
    return state


def save_weights(
    run_dir: Path, step: int, weights: dict[str, torch.Tensor], model_id: str, variant: str,
    info: dict[str, Any], keep: int,
) -> Path:
    """A camkit checkpoint for ``step``; older ones beyond the newest ``keep`` are deleted."""
    path = checkpoint_path(run_dir, step)
    save_checkpoint(path, weights, model_id, variant, info)
    for old in checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    return path


def log_event(run_dir: Path, event: str, **fields: Any) -> None:
    """Append one JSON line to ``log.jsonl`` (rank 0 only; a torn last line is harmless)."""
    record = {"event": event, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **fields}
    path = Path(run_dir) / "log.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "log.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line torn by a kill
            continue
    return records
