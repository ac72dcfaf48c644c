"""A run directory: checkpoints, the training state that resumes a run, and a JSON-lines log.

Layout::

    RUN_DIR/config.yaml                      copy of the recipe that started the run (or, after
                                             --resume-with-new-config, of the one it goes on with;
                                             log.jsonl's config_changed event holds old -> new)
    RUN_DIR/checkpoints/step-0000500.safetensors (+ .json)   camkit checkpoints (weights only)
    RUN_DIR/checkpoints/<net>/step-0000500.safetensors       training-only networks, when
                                             train.save_training_nets (not loadable by build)
    RUN_DIR/state.pt                         everything --resume reads (below)
    RUN_DIR/log.jsonl                        start, validation and checkpoint events
    RUN_DIR/metrics.csv, tensorboard/, grids/step-0000500.png   see logs.py and trainer.py

``state.pt`` (format 2) holds: ``step``; ``nets`` (every network's raw weights by name) and
``optimizers`` (every group's Adam state); ``model`` and ``optimizer``, the exported network's
weights and its group's optimizer (the same tensors, stored once); ``scaler`` (the AMP GradScaler,
empty when off); ``ema`` (the exported network's moving average, or None); ``rng`` (per process:
torch CPU and CUDA, numpy, python ``random``); ``train_seconds``, ``val``; ``means`` (the loss
sums of the logging windows in progress) and ``metrics_csv_bytes`` (where metrics.csv ends).
A format-1 state (one network, before GAN support) is read as format 2.

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
CONFIG_NAME = "config.yaml"
STATE_FORMAT = 2
_STATE_KEYS = ("format", "model_id", "variant", "step", "nets", "optimizers", "scaler", "ema",
               "rng", "train_seconds", "val", "means", "metrics_csv_bytes")
_STATE_KEYS_V1 = ("format", "model_id", "variant", "step", "model", "optimizer", "torch_rng",
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
        from toolkit.checkpoints import torch_load_reason

        raise CamkitError(
            f"training state {path} is corrupt or truncated ({torch_load_reason(e)}); restore it "
            f"from a backup, "
            f"or start over with --run-dir NEW_DIR"
        ) from None
    if isinstance(state, dict) and state.get("format") == 1:
        if all(k in state for k in _STATE_KEYS_V1):
            state = _upgrade_v1(state)
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


def _upgrade_v1(state: dict[str, Any]) -> dict[str, Any]:
    """A format-1 state (single network 'model', torch RNG only) in format 2."""
    return {
        "format": STATE_FORMAT, "model_id": state["model_id"], "variant": state["variant"],
        "step": state["step"], "nets": {"model": state["model"]},
        "optimizers": {"model": state["optimizer"]}, "scaler": {}, "ema": None,
        "rng": [{"torch": state["torch_rng"]}], "train_seconds": state["train_seconds"],
        "val": state["val"], "means": {}, "metrics_csv_bytes": None,
    }


def save_weights(
    run_dir: Path, step: int, weights: dict[str, torch.Tensor], model_id: str, variant: str,
    info: dict[str, Any], keep: int,
) -> Path:
    """A camkit checkpoint for ``step``; older ones beyond the newest ``keep`` are deleted."""
    path = checkpoint_path(run_dir, step)
    save_checkpoint(path, weights, model_id, variant, info)
    _prune(checkpoints(run_dir), keep)
    return path


def save_training_net(
    run_dir: Path, step: int, name: str, weights: dict[str, torch.Tensor], model_id: str,
    variant: str, info: dict[str, Any], keep: int,
) -> Path:
    """A training-only network's weights at ``step``: checkpoints/<name>/step-XXXXXXX.safetensors.

    Its model id is ``<model_id>.<name>`` so that ``build`` of the exported model refuses it.
    """
    folder = Path(run_dir) / "checkpoints" / name
    path = folder / f"step-{step:07d}.safetensors"
    save_checkpoint(path, weights, f"{model_id}.{name}", variant, {**info, "network": name})
    _prune(sorted(folder.glob("step-*.safetensors")), keep)
    return path


def _prune(paths: list[Path], keep: int) -> None:
    for old in paths[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)


def rng_state() -> dict[str, Any]:
    """This process's random states (torch CPU and CUDA, numpy's global, python's ``random``)."""
    import random

    import numpy as np

    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype("int64")), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore ``rng_state()``'s result (parts a format-1 state lacks stay as they are)."""
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state((n["kind"], n["keys"].numpy().astype("uint32"), n["pos"],
                             n["has_gauss"], n["gauss"]))
    if "python" in state:
        random.setstate(state["python"])


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
