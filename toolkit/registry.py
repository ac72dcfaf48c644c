"""Discovers models (``toolkit/models/<id>/``) and formats (``toolkit/conversion/<fmt>.py``).

Discovery reads folder and file names only; a model or format module is imported when asked
for, and format modules import their heavy converters inside functions, so ``camkit list`` is
fast and works without any optional extra installed.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import yaml

from toolkit.errors import CamkitError, missing_extra, unknown
from toolkit.spec import PRECISIONS, ModelSpec, Tolerance

_ROOT = Path(__file__).resolve().parent
MODELS_DIR = _ROOT / "models"
FORMATS_DIR = _ROOT / "conversion"

FORMAT_NAMES = ("name", "suffix", "precisions", "extra", "requires", "export", "load")


def model_ids() -> list[str]:
    return sorted(
        p.name
        for p in MODELS_DIR.iterdir()
        if p.is_dir() and not p.name.startswith("_") and (p / "model.py").exists()
    )


def format_names() -> list[str]:
    return sorted(p.stem for p in FORMATS_DIR.glob("*.py") if not p.stem.startswith("_"))


@lru_cache(maxsize=None)
def model_module(model_id: str) -> ModuleType:
    """The model's ``model.py``: blocks, model, VARIANTS, SPEC, build()."""
    if model_id not in model_ids():
        raise unknown("model", model_id, model_ids())
    return importlib.import_module(f"toolkit.models.{model_id}.model")


def model_spec(model_id: str) -> ModelSpec:
    return model_module(model_id).SPEC


def check_variant(model_id: str, variant: str | None) -> str:
    """The variant name, validated; ``None`` means the spec's default variant."""
    spec = model_spec(model_id)
    if variant is None:
        return spec.default_variant
    if variant not in spec.variants:
        raise unknown(f"variant of {model_id}", variant, spec.variants)
    return variant


@lru_cache(maxsize=None)
def format_module(name: str) -> ModuleType:
    if name not in format_names():
        raise unknown("format", name, format_names())
    mod = importlib.import_module(f"toolkit.conversion.{name}")
    missing = [n for n in FORMAT_NAMES if not hasattr(mod, n)]
    if missing:
        raise CamkitError(f"format module {name} lacks {', '.join(missing)}; see DESIGN.md")
    return mod


def format_available(name: str) -> bool:
    """True when every package the format's converter needs is importable."""
    return all(importlib.util.find_spec(pkg) is not None for pkg in format_module(name).requires)


def require_format(name: str) -> ModuleType:
    """The format module, or a one-line error naming the extra to install."""
    mod = format_module(name)
    for pkg in mod.requires:
        if importlib.util.find_spec(pkg) is None:
            raise missing_extra(pkg, mod.extra)
    return mod


def load_runner(manifest_path: Path, manifest: dict):
    """The Runner of the artifact a manifest describes (its format module's ``load``, quietly)."""
    from toolkit._quiet import quiet

    with quiet():
        return format_module(manifest["format"]).load(
            Path(manifest_path).parent / manifest["artifact"]["file"]
        )


def check_precision(fmt: str, precision: str) -> str:
    if precision not in PRECISIONS:
        raise unknown("precision", precision, PRECISIONS)
    supported = format_module(fmt).precisions
    if precision not in supported:
        raise CamkitError(
            f"format {fmt} does not export precision {precision} yet; it exports: "
            f"{', '.join(supported)}"
        )
    return precision


# ---------------------------------------------------------------- model cards


@dataclass(frozen=True)
class Card:
    """A model's card.yaml: who made it, its licence, and the budgets its artifacts must meet."""

    model_id: str
    summary: str
    license: str
    tolerances: dict[str, dict[str, Tolerance]]
    #: format -> precision -> why this model does not export to it (card.yaml ``not_exported``)
    not_exported: dict[str, dict[str, str]] = field(default_factory=dict)

    def refusal(self, fmt: str, precision: str) -> str | None:
        """Why ``fmt`` x ``precision`` is not exported for this model, or None."""
        return self.not_exported.get(fmt, {}).get(precision)

    def tolerance(self, fmt: str, precision: str) -> Tolerance:
        try:
            return self.tolerances[fmt][precision]
        except KeyError:
            raise CamkitError(
                f"card.yaml of {self.model_id} has no budget for {fmt}/{precision}; add one under "
                f"tolerances.{fmt}.{precision}"
            ) from None


_CARD_KEYS = {"model_id", "summary", "license", "tolerances"}
_OPTIONAL_CARD_KEYS = {"not_exported"}
_TOL_KEYS = {"psnr_db_min", "ssim_min", "task_drop_db_max"}


def _strict_keys(where: str, got: dict, allowed: set[str], required: set[str]) -> None:
    for key in got:
        if key not in allowed:
            raise unknown(f"key in {where}", str(key), allowed)
    missing = required - set(got)
    if missing:
        raise CamkitError(f"{where} lacks {', '.join(sorted(missing))}")


@lru_cache(maxsize=None)
def card(model_id: str) -> Card:
    path = MODELS_DIR / model_id / "card.yaml"
    if model_id not in model_ids():
        raise unknown("model", model_id, model_ids())
    raw = yaml.safe_load(path.read_text())
    _strict_keys(str(path), raw, _CARD_KEYS | _OPTIONAL_CARD_KEYS, _CARD_KEYS)
    tolerances: dict[str, dict[str, Tolerance]] = {}
    for fmt, per_precision in raw["tolerances"].items():
        if fmt not in format_names():
            raise unknown(f"format in {path}", fmt, format_names())
        tolerances[fmt] = {}
        for precision, tol in per_precision.items():
            if precision not in PRECISIONS:
                raise unknown(f"precision in {path}", precision, PRECISIONS)
            _strict_keys(f"{path} tolerances.{fmt}.{precision}", tol, _TOL_KEYS, _TOL_KEYS)
            tolerances[fmt][precision] = Tolerance(**{k: float(v) for k, v in tol.items()})
    refused: dict[str, dict[str, str]] = {}
    for fmt, per_precision in (raw.get("not_exported") or {}).items():  # optional key
        if fmt not in format_names():
            raise unknown(f"format in {path} not_exported", fmt, format_names())
        for precision, why in per_precision.items():
            if precision not in PRECISIONS or not isinstance(why, str) or not why.strip():
                raise CamkitError(f"{path} not_exported.{fmt}.{precision} must be a precision id "
                                  f"with a one-line reason")
            refused.setdefault(fmt, {})[precision] = " ".join(why.split())
    return Card(raw["model_id"], raw["summary"], raw["license"], tolerances, refused)
