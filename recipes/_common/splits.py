"""Train/validation splits of a recipe's file names, shared by the recipes whose ``data:`` has
``val_files`` (names to hold out), ``val_holdout`` (the last N names, when val_files is empty)
and ``val_max_samples`` (a cap on validation samples, None for all)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.errors import CamkitError, unknown


def split_names(data: Any, names: list[str], folder: Path) -> tuple[list[str], list[str]]:
    """(training names, held-out names); held-out is empty when neither key holds any out."""
    for name in data.val_files:
        if name not in names:
            raise unknown(f"file in data.val_files ({folder})", name, names)
    if data.val_holdout >= len(names):
        raise CamkitError(f"data.val_holdout {data.val_holdout} holds out all {len(names)} files "
                          f"of {folder}; leave at least one for training")
    held = list(data.val_files) or (names[-data.val_holdout:] if data.val_holdout else [])
    train = [n for n in names if n not in held]
    if not train:
        raise CamkitError("data.val_files holds out every file; leave at least one for training")
    return train, held


def val_length(data: Any, available: int) -> int:
    """Validation samples: all ``available``, or at most ``data.val_max_samples``."""
    return available if data.val_max_samples is None else min(available, data.val_max_samples)
