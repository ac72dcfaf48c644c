"""The functions behind ``import camkit`` (the package docstring shows them together).

Each is a thin layer over toolkit/: it resolves what the caller named (a model id, a model
folder, an in-memory module; an artifact, a manifest or a folder of them), calls the library,
and returns typed results instead of printing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.errors import CamkitError
from toolkit.spec import ModelSpec

__all__ = ["Artifact", "CheckResult", "add_model_folder", "check", "export", "list_models",
           "profile", "run"]


@dataclass(frozen=True)
class Artifact:
    """One exported file and its manifest (what ``camkit export`` publishes)."""

    path: Path
    manifest_path: Path
    model_id: str
    variant: str
    format: str
    precision: str
    sha256: str
    size_bytes: int
    manifest: dict[str, Any] = field(repr=False, compare=False, hash=False)

    @classmethod
    def from_manifest(cls, manifest_path: str | Path) -> Artifact:
        from toolkit.artifacts import read_manifest

        manifest_path = Path(manifest_path)
        manifest = read_manifest(manifest_path)
        art = manifest["artifact"]
        return cls(manifest_path.parent / art["file"], manifest_path, manifest["model_id"],
                   manifest["variant"], manifest["format"], manifest["precision"],
                   art["sha256"], art["size_bytes"], manifest)


@dataclass(frozen=True)
class CheckResult:
    """Every artifact's check (``toolkit.checks.parity.ArtifactCheck``: PSNR, SSIM, budget,
    problems) and the reports written (json, junit, markdown)."""

    artifacts: list[Any]
    reports: dict[str, Path]

    @property
    def passed(self) -> bool:
        return bool(self.artifacts) and all(r.passed for r in self.artifacts)

    def failures(self) -> list[str]:
        """One line per artifact that broke its budget or could not be checked."""
        lines = []
        for r in self.artifacts:
            if not r.passed:
                lines.append(f"{Path(r.manifest).name}: {'; '.join(r.problems)}")
        return lines


def list_models() -> list[str]:
    """Every model id camkit knows here: built-in, CAMKIT_MODEL_PATH folders, folders added in
    this process, installed plugins and in-memory modules given to ``export``."""
    from toolkit import registry

    return registry.model_ids()


def add_model_folder(path: str | Path) -> list[str]:
    """Make the models of ``path`` (a model folder, or a folder of them) known to this process;
    returns their ids."""
    from toolkit import registry

    return registry.add_model_folder(path)


def _model_id(model: Any, spec: ModelSpec | None, tolerances: dict | None) -> str:
    from toolkit import registry

    if isinstance(model, (str, Path)):
        if spec is not None:
            raise CamkitError("spec= describes an in-memory module; a model id or folder brings "
                              "its own (model.py SPEC)")
        return registry.resolve_model(str(model))
    import torch

    if not isinstance(model, torch.nn.Module):
        raise CamkitError(f"model must be a model id, a model folder or a torch.nn.Module, got "
                          f"{type(model).__name__}")
    if not isinstance(spec, ModelSpec):
        raise CamkitError("an in-memory module needs spec=camkit.ModelSpec(...) describing its "
                          "inputs, outputs, variants and default size")
    return registry.add_module(model, spec, tolerances)


def _sequence(value: str | Iterable[str] | None, what: str) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(v, str) for v in items):
        raise CamkitError(f"{what} must be a name or a list of names, got {value!r}")
    return items


def export(
    model: Any,
    *,
    spec: ModelSpec | None = None,
    variant: str | None = None,
    checkpoint: str | Path | None = None,
    random_weights: bool = False,
    formats: str | Sequence[str] | None = None,
    precisions: str | Sequence[str] = ("fp32",),
    size: tuple[int, int] | None = None,
    nhwc: bool = False,
    dynamic: bool = False,
    io: str = "float32",
    split: bool = False,
    thumbnail: tuple[int, int] | None = None,
    calib: str | Path | None = None,
    ptq: str | None = None,
    out: str | Path = "artifacts",
    check: bool = True,
    tolerances: dict | None = None,
    progress: bool = False,
) -> list[Artifact]:
    """Export ``model`` to each format x precision under ``out`` (as ``camkit export``); with
    ``check`` (default) the new set is checked before it is published and a failing set raises
    ``CamkitError`` leaving ``out`` as it was.

    ``model``: a model id, a model folder path, or a ``torch.nn.Module`` with ``spec`` (its
    weights are exported as they are; ``tolerances`` gives its budgets, format -> precision ->
    {psnr_db_min, ssim_min, task_drop_db_max}, default camkit's generic ones). ``formats``:
    default every installed one. ``size``: (height, width), default the variant's. ``calib``: a
    calibration set name or a folder of photos for the quantized precisions. ``ptq``: the
    ``--ptq`` switches as one comma list (docs/quantization.md). ``split`` / ``thumbnail``: the
    full-resolution split (``--split``, docs/full_resolution.md)."""
    from toolkit import registry
    from toolkit.building import make_spec, resolve_weights
    from toolkit.export import export_artifacts
    from toolkit.quantization import options

    model_id = _model_id(model, spec, tolerances)
    variant = registry.check_variant(model_id, variant)
    fmts = _sequence(formats, "formats")
    if fmts is None:
        fmts = [f for f in registry.format_names() if registry.format_available(f)]
        if not fmts:
            raise CamkitError("no export format is installed; pip install 'camkit[onnx]'")
    for name in fmts:
        registry.format_module(name)
    if size is not None:
        size = (int(size[0]), int(size[1]))
    export_spec = make_spec(model_id, variant, size, "nhwc" if nhwc else "nchw", dynamic, io,
                            split, None if thumbnail is None else
                            (int(thumbnail[0]), int(thumbnail[1])))
    weights = resolve_weights(model_id, variant, None if checkpoint is None else Path(checkpoint),
                              random_weights)
    gate = None
    if check:
        from toolkit.checks.gate import run_checks

        def gate(staged: list[Path]) -> bool:
            results, _ = run_checks(staged[0].parent, only=staged, progress=progress)
            return all(r.passed for r in results)

    manifests = export_artifacts(export_spec, weights, fmts, _sequence(precisions, "precisions"),
                                 Path(out), progress=progress,
                                 calib_source=None if calib is None else str(calib), gate=gate,
                                 ptq=options.parse(ptq))
    return [Artifact.from_manifest(m) for m in manifests]


def _manifest_of(target: Artifact | str | Path) -> Path:
    if isinstance(target, Artifact):
        return target.manifest_path
    path = Path(target)
    if path.name.endswith(".manifest.json"):
        return path
    from toolkit.artifacts import manifest_path

    return manifest_path(path)


def check(
    target: Artifact | Sequence[Artifact] | str | Path,
    *,
    data: str | Path | None = None,
    model: Any = None,
    spec: ModelSpec | None = None,
    out: str | Path | None = None,
    max_images: int | None = None,
    max_drop_db: float | None = None,
    baselines: bool = False,
    accept_stored_sample: bool = False,
    progress: bool = False,
) -> CheckResult:
    """Check artifacts against the torch float model (as ``camkit check``): ``target`` is an
    Artifact, a list of them, a manifest, an artifact file or a folder. ``data``: a paired,
    GoPro-style or inpainting folder for the task check. ``model`` (+ ``spec``): the in-memory
    module the artifacts were exported from; without it their check compares with the output
    stored at export, and the report says so."""
    from toolkit.checks.gate import run_checks

    if model is not None and not isinstance(model, (str, Path)):
        _model_id(model, spec, None)
    elif model is not None:
        _model_id(model, None, None)
    if max_drop_db is not None and data is None:
        raise CamkitError("max_drop_db budgets the task drop, which needs data=PAIRED_DIR")
    only = None
    if isinstance(target, Artifact) or (isinstance(target, (list, tuple)) and target):
        arts = [target] if isinstance(target, Artifact) else list(target)
        only = [_manifest_of(a) for a in arts]
        target = only[0].parent
    results, reports = run_checks(Path(target), None if data is None else Path(data),
                                  None if out is None else Path(out), max_images,
                                  progress=progress, only=only, max_drop_db=max_drop_db,
                                  baselines=baselines, accept_stored_sample=accept_stored_sample)
    return CheckResult(results, {k: Path(v) for k, v in reports.items()})


def profile(
    target: Artifact | str | Path,
    *,
    runs: int = 10,
    warmup: int = 2,
    threads: int | None = None,
    json_path: str | Path | None = None,
):
    """Time an artifact on this machine's CPU (a host proxy that ranks artifacts, as ``camkit
    profile host``); returns the ``ProfileResult`` (latency median, percentiles, init
    and first-inference times), also written to ``json_path`` when given."""
    from toolkit.profilers.host_profile import profile_host

    result = profile_host(_manifest_of(target), threads=threads, runs=runs, warmup=warmup,
                          argv=["camkit.profile", str(_manifest_of(target))])
    if json_path is not None:
        from toolkit.artifacts import atomic_write_json
        from toolkit.profilers.schema import validate

        obj = result.to_json()
        validate(obj)
        atomic_write_json(Path(json_path), obj)
    return result


def run(
    target: Any,
    photos: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    spec: ModelSpec | None = None,
    variant: str | None = None,
    checkpoint: str | Path | None = None,
    masks: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> list[Path]:
    """Apply a model (id, folder, or in-memory module with ``spec``: its float torch network)
    or an artifact (an Artifact, its file or manifest) to photos (files or folders), as
    ``camkit run``; returns the result files written under ``out`` (upright, the photos' colour
    profiles kept; existing results kept unless ``overwrite``)."""
    from toolkit.apply import run_photos

    if isinstance(target, Artifact):
        target = target.manifest_path
    elif not isinstance(target, (str, Path)):
        target = _model_id(target, spec, None)
    sources = [photos] if isinstance(photos, (str, Path)) else list(photos)
    return run_photos(str(target), [Path(p) for p in sources], Path(out), variant=variant,
                      checkpoint=None if checkpoint is None else Path(checkpoint),
                      masks=None if masks is None else Path(masks), overwrite=overwrite,
                      progress=progress)
