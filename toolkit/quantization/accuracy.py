"""Accuracy-aware quantization: keep the fewest, most sensitive layers in float until the
artifact is within budget (``camkit export ... --precision w8a8 --max-drop-db X --min-psnr-db Y
--data DIR``).

Two budgets, both measured on the ``--data`` photos (held apart from the calibration set):
the **task drop** (float model minus artifact, mean PSNR against the targets; ``--max-drop-db``)
and the **parity** (the artifact against the float model, worst photo; ``--min-psnr-db``, by
default the card's PSNR budget for the format and precision, and always the card's SSIM budget). A task drop can look fine while
the picture changed: a retoucher whose targets are far from both outputs barely sees a 29 dB
parity in its 0.1 dB drop. The search stops only where every given budget holds.

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
    #: the artifact against the float model on its worst --data photo (None: not measured)
    worst_parity_psnr_db: float | None = None
    worst_parity_ssim: float | None = None


@dataclass
class Outcome:
    """The artifact that met the budget, and how it was found."""

    path: Path
    max_drop_db: float | None
    trials: list[Trial] = field(default_factory=list)
    min_psnr_db: float | None = None
    min_ssim: float | None = None
    ranking: list[Sensitivity] | None = None
    #: the float-MAC share the search tried to stay under, and whether it had to go over it
    max_float_share: float | None = None
    over_float_share: bool = False
    float_share: float | None = None

    @property
    def kept_float(self) -> list[str]:
        return list(self.trials[-1].kept_float)

    def describe(self, data: str, pairs: int) -> dict:
        """The manifest's ``precision_scheme.accuracy_control``."""
        return {
            "max_drop_db": self.max_drop_db,
            "min_psnr_db": self.min_psnr_db,
            "min_ssim": self.min_ssim,
            "data": data,
            "pairs": pairs,
            "drop_db": self.trials[-1].drop_db,
            "worst_parity_psnr_db": _json_db(self.trials[-1].worst_parity_psnr_db),
            "worst_parity_ssim": self.trials[-1].worst_parity_ssim,
            "kept_float_layers": self.kept_float,
            "trials": [dict(asdict(t), kept_float=list(t.kept_float),
                            worst_parity_psnr_db=_json_db(t.worst_parity_psnr_db))
                       for t in self.trials],
            "max_float_share": self.max_float_share,
            "float_share": self.float_share,
            "over_float_share": self.over_float_share,
            "ranking_method": RANKING_METHOD if self.ranking is not None else None,
            "ranking": [asdict(s) for s in self.ranking] if self.ranking is not None else None,
        }


def _json_db(value: float | None) -> float | str | None:
    """JSON has no infinity: an artifact identical to the float model is written 'inf'."""
    return "inf" if value is not None and np.isinf(value) else value


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
    max_drop_db: float | None,
    what: str,
    min_psnr_db: float | None = None,
    min_ssim: float | None = None,
    float_share: Callable[[list[str]], float] | None = None,
    max_float_share: float | None = None,
) -> Outcome:
    """Steps 1-3 of the module docstring.

    With ``max_float_share`` (and ``float_share(kept) -> share of MACs in float``), step 3 first
    keeps only layers that fit under that share (a layer that would not fit is passed over for
    the next in the ranking); when no such set meets the budget, the passed-over layers are
    added in ranking order after all, and ``Outcome.over_float_share`` says so.

    ``export_trial(kept_float)`` writes one artifact and returns its path; ``measure(path)``
    returns ``toolkit.checks.task.task_quality`` of it; ``rank()`` the layers, most sensitive
    first. A trial passes when its task drop is at most ``max_drop_db`` and its worst parity
    at least ``min_psnr_db`` and ``min_ssim`` (each budget only when given; ``min_ssim`` comes
    with one of the others, never alone). Raises CamkitError when even every
    layer in float breaks a budget."""
    if max_drop_db is None and min_psnr_db is None:
        raise CamkitError("accuracy-aware quantization needs --max-drop-db or --min-psnr-db")
    if max_drop_db is not None and max_drop_db < 0:
        raise CamkitError(f"--max-drop-db must be >= 0 dB, got {max_drop_db:g}")
    outcome = Outcome(Path(), max_drop_db, min_psnr_db=min_psnr_db, min_ssim=min_ssim)

    def passes(t: Trial) -> bool:
        drop_ok = max_drop_db is None or t.drop_db <= max_drop_db
        psnr_ok = (min_psnr_db is None or t.worst_parity_psnr_db is None
                   or t.worst_parity_psnr_db >= min_psnr_db)
        ssim_ok = min_ssim is None or t.worst_parity_ssim is None or t.worst_parity_ssim >= min_ssim
        return drop_ok and psnr_ok and ssim_ok

    def attempt(kept: list[str]) -> bool:
        path = export_trial(kept)
        quality = measure(path)
        outcome.path = path
        outcome.trials.append(Trial(tuple(kept), quality["drop_db"], quality["float_psnr_db"],
                                    quality["artifact_psnr_db"],
                                    quality.get("worst_parity_psnr_db"),
                                    quality.get("worst_parity_ssim")))
        return passes(outcome.trials[-1])

    outcome.max_float_share = max_float_share if float_share is not None else None

    def done() -> Outcome:
        if float_share is not None:
            outcome.float_share = round(float_share(outcome.kept_float), 5)
            outcome.over_float_share = (max_float_share is not None
                                        and outcome.float_share > max_float_share)
        return outcome

    if attempt([]):
        return done()
    outcome.ranking = rank()
    order = [s.layer for s in outcome.ranking]
    kept, passed_over = [], []
    for layer in order:
        if (outcome.max_float_share is not None
                and float_share(kept + [layer]) > outcome.max_float_share):
            passed_over.append(layer)
            continue
        kept.append(layer)
        if attempt(list(kept)):
            return done()
    for layer in passed_over:  # the bound could not be kept: go over it, most sensitive first
        kept.append(layer)
        if attempt(list(kept)):
            return done()
    missed = _shortfall(outcome.trials, max_drop_db, min_psnr_db, min_ssim, len(order))
    raise CamkitError(f"{what} cannot meet {missed}; raise the budget, or export w8a16 / fp16")


def _shortfall(trials: list[Trial], max_drop_db: float | None, min_psnr_db: float | None,
               min_ssim: float | None, layers: int) -> str:
    """Which budget the closest trial missed and by how much, for the error."""
    parts = []
    if max_drop_db is not None:
        best = min(trials, key=lambda t: t.drop_db)
        if best.drop_db > max_drop_db:
            parts.append(f"--max-drop-db {max_drop_db:g}: the smallest task drop was "
                         f"{best.drop_db:.3f} dB (over by {best.drop_db - max_drop_db:.3f} dB) "
                         f"with {len(best.kept_float)} of {layers} layers in float")
    parity = (("worst_parity_psnr_db", min_psnr_db, "--min-psnr-db", ".2f", " dB"),
              ("worst_parity_ssim", min_ssim, "the card's SSIM budget", ".4f", ""))
    for attr, budget, name, digits, unit in parity:
        measured = [t for t in trials if getattr(t, attr) is not None]
        if budget is None or not measured:
            continue
        best = max(measured, key=lambda t: getattr(t, attr))
        value = getattr(best, attr)
        if value < budget:
            parts.append(f"{name} {budget:g}: the best worst-photo value was "
                         f"{value:{digits}}{unit} (under by {budget - value:{digits}}{unit}) with "
                         f"{len(best.kept_float)} of {layers} layers in float")
    return "; nor ".join(parts) or "its budget"
