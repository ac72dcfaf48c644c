"""Training logs beside log.jsonl: RUN_DIR/metrics.csv and RUN_DIR/tensorboard/ (rank 0 only).

``metrics.csv`` has one row every ``train.log_every_steps`` (``split`` = train: learning rates and
the mean of each loss and scalar over the steps since the previous row) and one per validation
(``split`` = val: PSNR/SSIM). Its columns are fixed by the recipe (step, split, train_seconds, the
learning rates, the losses, the phases' declared scalars, the validation metrics), so they never
move; a cell that does not apply is empty. The file's byte size is part of every saved training
state, and a resumed run cuts the file back to it: rows written after the last checkpoint (by a
run that was then killed) are dropped, so every step appears once.

TensorBoard gets the same scalars (``train/<name>``, ``val/<name>``) and each validation's image
grid; a resumed writer purges events past the resumed step.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import CamkitError

CSV_NAME = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def tensorboard_wanted(setting: bool | None) -> bool:
    """``train.tensorboard``: None follows whether the package is installed; True requires it."""
    if setting is None:
        return tensorboard_available()
    if setting and not tensorboard_available():
        raise CamkitError(
            "train.tensorboard is true but the tensorboard package is not installed; "
            "pip install 'camkit[train]', or set train.tensorboard: false"
        )
    return setting


class Means:
    """Running sums of named scalars since the last reset (restorable from state.pt)."""

    def __init__(self, state: dict[str, list[float]] | None = None) -> None:
        self.sums: dict[str, list[float]] = {k: list(v) for k, v in (state or {}).items()}

    def add(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            total = self.sums.setdefault(name, [0.0, 0.0])
            total[0] += value
            total[1] += 1

    def means(self) -> dict[str, float]:
        return {k: s / n for k, (s, n) in self.sums.items() if n}

    def reset(self) -> None:
        self.sums = {}

    def state(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in self.sums.items()}


class MetricsCSV:
    """Append-only metrics.csv with a fixed header."""

    def __init__(self, run_dir: Path, columns: list[str]) -> None:
        self.path = Path(run_dir) / CSV_NAME
        self.columns = ["step", "split", "train_seconds", *columns]

    def open(self, resume_at_bytes: int | None) -> None:
        """Start the file, or on resume cut it back to its size when the state was saved."""
        header = ",".join(self.columns) + "\n"
        if resume_at_bytes is None or not self.path.exists():
            self.path.write_text(header)
            return
        with open(self.path, "r+b") as f:
            f.truncate(resume_at_bytes)
        with open(self.path) as f:
            found = f.readline()
        if found != header:
            raise CamkitError(
                f"{self.path} has columns {found.strip()!r}, this recipe writes "
                f"{header.strip()!r}; move the file away to resume"
            )

    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def write(self, step: int, split: str, train_seconds: float, values: dict[str, float]) -> None:
        unknown = set(values) - set(self.columns)
        if unknown:
            raise CamkitError(f"metrics {sorted(unknown)} have no column in {self.path}")
        row = {"step": step, "split": split, "train_seconds": round(train_seconds, 3),
               **{k: _short(v) for k, v in values.items()}}
        buf = io.StringIO()
        csv.DictWriter(buf, self.columns, lineterminator="\n").writerow(row)
        with open(self.path, "a") as f:  # one write per row: a kill tears at most the last line
            f.write(buf.getvalue())


class TensorBoard:
    """A SummaryWriter under RUN_DIR/tensorboard (purging events past a resumed step)."""

    def __init__(self, run_dir: Path, resumed_step: int | None) -> None:
        _tensorboard_without_tensorflow()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(run_dir) / TENSORBOARD_DIR), purge_step=resumed_step)

    def scalars(self, prefix: str, values: dict[str, float], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"{prefix}/{name}", value, step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        self.writer.add_image(tag, image, step, dataformats="HWC")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _tensorboard_without_tensorflow() -> None:
    """Make tensorboard write events with its own TF stub even where TensorFlow is installed.

    tensorboard's ``compat.tf`` imports TensorFlow when it can (20 s and a screen of TF logs on
    this machine) unless a module ``tensorboard.compat.notf`` exists: its build's
    ``//tensorboard/compat:no_tensorflow`` target ships that module for exactly this
    (tensorboard/compat/__init__.py, ``tf()``). Event files are the same either way.
    """
    import sys
    import types

    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


def _short(value: Any) -> Any:
    return float(f"{value:.6g}") if isinstance(value, float) else value
