"""Accuracy-aware quantization: keep the fewest, most sensitive layers in float until the task
drop is within budget (``camkit export ... --precision w8a8 --max-drop-db X --data DIR``).

NNCF's own accuracy control (``nncf.quantize_with_accuracy_control``) covers only the ONNX and
OpenVINO backends; this one works for every format module that takes ``float_layers``:

1. Export the artifact fully quantized and measure its task drop (float model minus artifact,
   mean PSNR against the targets of the paired ``--data`` folder) with the format's own runtime
   (Core ML off macOS: the quantized torch graph it was converted from, as ``camkit check``
   does). Within budget: done, nothing is kept float.
2. Otherwise rank the layers by sensitivity, once per export run: for each quantizable layer
   (conv, linear, and the binary ops between them), quantize *only that layer* and measure the
   output PSNR against the float model on the calibration inputs. The lowest PSNR is the most
   sensitive layer. "Only this layer" (rather than "all but this layer") is what finds a tensor
   with a huge range: whichever of its producer and consumer quantizes it, that one alone
   already loses the tensor, so both rank high.
   The ranking runs on camkit's reference w8a8 simulation (toolkit/quantization/coreml_ptq.py:
   torchao PT2E graph calibrated by NNCF with the same scheme: int8 per-channel symmetric
   weights, int8 per-tensor affine min/max activations), format-independent and fast; it is
   only an order, every decision below is measured on the real artifact.
   Layers the model keeps float by default (``layers.default_float_layers``, e.g. every
   instance norm) stay float in every measurement and trial and are not ranked.
3. Keep the top 1, 2, 3, ... layers in float, export again and measure, until the drop is within
   budget. The first k that passes is the fewest layers in that order; the manifest lists them
   (``precision_scheme.kept_float_layers``) with every trial (``accuracy_control``). When all
   layers in float still break the budget, the export fails and says by how much.

Each trial is a full export, so the search costs up to (layers + 1) exports; budgets that one or
two layers fix (the usual case: one outlier tensor) cost two or three.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from toolkit.errors import CamkitError
from toolkit.spec import ExportSpec

#: the ranking's method, written into the manifest
RANKING_METHOD = (
    "quantize only this layer (camkit's reference w8a8 PT2E simulation, NNCF min/max "
    "calibration), output PSNR vs float on the calibration inputs; lowest first"
)


@dataclass(frozen=True)
class Sensitivity:
    layer: str
    #: output PSNR vs the float model with only this layer quantized (lower = more sensitive)
    psnr_db: float


@dataclass(frozen=True)
class Trial:
    kept_float: tuple[str, ...]
    drop_db: float
    float_psnr_db: float
    artifact_psnr_db: float


@dataclass
class Outcome:
    """The artifact that met the budget, and how it was found."""

    path: Path
    max_drop_db: float
    trials: list[Trial] = field(default_factory=list)
    ranking: list[Sensitivity] | None = None

    @property
    def kept_float(self) -> list[str]:
        return list(self.trials[-1].kept_float)

    def describe(self, data: str, pairs: int) -> dict:
        """The manifest's ``precision_scheme.accuracy_control``."""
        return {
            "max_drop_db": self.max_drop_db,
            "data": data,
            "pairs": pairs,
            "drop_db": self.trials[-1].drop_db,
            "kept_float_layers": self.kept_float,
            "trials": [dict(asdict(t), kept_float=list(t.kept_float)) for t in self.trials],
            "ranking_method": RANKING_METHOD if self.ranking is not None else None,
            "ranking": [asdict(s) for s in self.ranking] if self.ranking is not None else None,
        }


def rank_layers(
    prepared: nn.Module, spec: ExportSpec, calib: Sequence[dict[str, np.ndarray]],
    progress: bool = True, always_float: Sequence[str] = (),
) -> list[Sensitivity]:
    """Every quantizable layer of ``prepared`` (``prepare_for_export``), most sensitive first;
    the layers ``always_float`` covers (the model's default float layers) stay float in every
    measurement and are not ranked."""
    import sys

    from tqdm import tqdm

    from toolkit.quantization import coreml_ptq

    feeds = list(calib)
    names = [t.name for t in spec.model.inputs]
    out_names = [t.name for t in spec.model.outputs]

    def float_outputs(feed: dict) -> list[np.ndarray]:
        with torch.inference_mode():
            out = prepared(*(torch.from_numpy(np.ascontiguousarray(feed[n])) for n in names))
        return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]

    reference = [float_outputs(f) for f in feeds]
    from toolkit.quantization.layers import selector

    always_float = list(always_float)
    covered = selector(always_float)
    layers = [lid for lid in coreml_ptq.quantize(prepared, spec, feeds, always_float).layers
              if covered(lid) is None]
    ranking = []
    bar = tqdm(layers, desc="layer sensitivity", unit="layer", file=sys.stderr,
               disable=None if progress else True)
    for layer in bar:
        only = coreml_ptq.quantize(prepared, spec, feeds,
                                   always_float + [x for x in layers if x != layer])
        run = coreml_ptq.graph_runner(only.graph, spec)
        errors = [
            np.mean((run(f)[name].astype(np.float64) - ref[i]) ** 2)
            for f, ref in zip(feeds, reference) for i, name in enumerate(out_names)
        ]
        mse = float(np.mean(errors))  # PSNR of the mean MSE over all inputs and outputs
        ranking.append(Sensitivity(layer, float("inf") if mse == 0 else -10 * np.log10(mse)))
    bar.close()
    return sorted(ranking, key=lambda s: (s.psnr_db, layers.index(s.layer)))


def quantize_within_budget(
    export_trial: Callable[[list[str]], Path],
    measure: Callable[[Path], dict],
    rank: Callable[[], list[Sensitivity]],
    max_drop_db: float,
    what: str,
) -> Outcome:
    """Steps 1-3 of the module docstring.

    ``export_trial(kept_float)`` writes one artifact and returns its path; ``measure(path)``
    returns ``toolkit.checks.task.task_quality`` of it; ``rank()`` the layers, most sensitive
    first. Raises CamkitError when even every layer in float breaks the budget."""
    if max_drop_db < 0:
        raise CamkitError(f"--max-drop-db must be >= 0 dB, got {max_drop_db:g}")
    outcome = Outcome(Path(), max_drop_db)

    def attempt(kept: list[str]) -> bool:
        path = export_trial(kept)
        quality = measure(path)
        outcome.path = path
        outcome.trials.append(Trial(tuple(kept), quality["drop_db"], quality["float_psnr_db"],
                                    quality["artifact_psnr_db"]))
        return quality["drop_db"] <= max_drop_db

    if attempt([]):
        return outcome
    outcome.ranking = rank()
    order = [s.layer for s in outcome.ranking]
    for k in range(1, len(order) + 1):
        if attempt(order[:k]):
            return outcome
    best = min(outcome.trials, key=lambda t: t.drop_db)
    raise CamkitError(
        f"{what} cannot meet --max-drop-db {max_drop_db:g}: the smallest task drop was "
        f"{best.drop_db:.3f} dB (over by {best.drop_db - max_drop_db:.3f} dB) with "
        f"{len(best.kept_float)} of {len(order)} layers in float; raise the budget, or export "
        f"w8a16 / fp16"
    )
