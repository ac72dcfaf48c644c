"""``camkit export``: checkpoint -> prepared module -> one artifact per format x precision.

The whole artifact folder is published as one unit (toolkit/publish.py): under a lock, its next
version is built beside it -- every artifact with its manifest and its own sample -- optionally
checked by ``gate``, and swapped in by one atomic rename. A failed, killed or concurrent export,
or one whose check fails, leaves the previous consistent folder as it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from torch import nn

from toolkit import artifacts, publish, registry
from toolkit._quiet import quiet
# models from checkpoints sit below export and the checks (both build the float model); these
# names stay importable from here
from toolkit.building import (RANDOM_WEIGHTS_SEED, Weights, build_for_spec,  # noqa: F401
                              build_model, make_spec, parse_size, resolve_weights)
from toolkit.conversion._common import SCHEME_FILE, prepare_for_export, torch_runner
from toolkit.errors import CamkitError
from toolkit.quantization.calibration import calibration_feeds, is_set_name, sample_feeds
from toolkit.quantization import options
from toolkit.quantization.equalize import equalize
from toolkit.quantization.layers import default_float_reasons
from toolkit.spec import FLOAT_PRECISIONS, IO_DTYPES, PRECISIONS, ExportSpec

#: precisions in which a model's declared float blocks stay float by default
#: (toolkit/quantization/layers.py ``default_float_reasons``: ``W8A8_KEEP_FLOAT`` and
#: ``W8A8_FLOAT_LAYERS`` in w8a8, ``W8A16_KEEP_FLOAT`` in w8a16; InstanceNorm says why)
DEFAULT_FLOAT_PRECISIONS = ("w8a8", "w8a16")
#: precisions whose default export keeps sensitive layers float until the card passes
#: (toolkit/quantization/options.py ``auto_float``): w8a8, where every format can keep layers
#: float (LiteRT's w8a16 path, the ai-edge-quantizer, keeps whole modules only)
AUTO_FLOAT_PRECISIONS = ("w8a8",)
#: precisions exported from the equalized module (toolkit/quantization/options.py says why)
EQUALIZED_PRECISIONS = ("w8a8",)
#: an export holds about this many forward passes' live tensors at once (the torch reference
#: beside a runtime's), on top of the weights: what ``check_memory`` budgets
FORWARDS_AT_ONCE = 2


class GateFailed(CamkitError):
    """The export's own check failed: nothing was published, the new set sits in ``kept``."""

    def __init__(self, folder: Path, kept: Path) -> None:
        self.folder, self.kept = folder, kept
        super().__init__(f"the new artifacts failed their check and were not published; "
                         f"{folder} is unchanged, the failed set is kept for inspection in "
                         f"{kept}")


@dataclass(frozen=True)
class AccuracyTarget:
    """``--max-drop-db`` / ``--min-psnr-db`` on ``--data``: the task drop a quantized artifact
    may have, and the parity against the float model it must keep on its worst photo (see
    toolkit/quantization/accuracy.py); ``pairs`` from ``toolkit.checks.task.load_pairs``.
    ``min_psnr_db`` None: the card's PSNR budget for the format and precision."""

    max_drop_db: float | None
    data_dir: Path
    pairs: list
    min_psnr_db: float | None = None
    #: the export's own card search (no --max-drop-db / --min-psnr-db given): on the photos
    #: `camkit check` budgets
    automatic: bool = False

    def parity_budget(self, model_id: str, fmt: str, precision: str
                      ) -> tuple[float | None, float | None]:
        """(PSNR, SSIM) the worst photo's parity must keep: the PSNR given, else the card's;
        the card's SSIM (unregistered models, as in tests, have no card)."""
        if model_id not in registry.model_ids():
            return self.min_psnr_db, None
        card = registry.card(model_id).tolerance(fmt, precision)
        return (card.psnr_db_min if self.min_psnr_db is None else self.min_psnr_db,
                card.ssim_min)


def _budget(model_id: str, fmt: str, precision: str) -> dict[str, float] | None:
    if model_id not in registry.model_ids():
        return None
    try:
        tol = registry.card(model_id).tolerance(fmt, precision)
    except CamkitError:  # a card without a budget for this format and precision
        return None
    return {"psnr_db_min": tol.psnr_db_min, "ssim_min": tol.ssim_min}


def available_memory_bytes() -> int | None:
    """Memory this machine can give a new allocation now (Linux MemAvailable; elsewhere the
    physical memory), or None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(spec: ExportSpec, model: nn.Module, available: int | None = None) -> int:
    """Refuse, before anything big is allocated, an export whose forward passes at the export
    size cannot fit in memory; returns the estimate in bytes (``forward_peak_bytes`` counted on
    the meta device, times ``FORWARDS_AT_ONCE``, plus the weights)."""
    from toolkit.models._cost import forward_peak_bytes

    height, width = spec.sample_size
    channels = tuple(t.channels if t.size is None else (t.channels, *t.size)
                     for t in spec.model.inputs)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    need = FORWARDS_AT_ONCE * forward_peak_bytes(model, channels, height, width) + weights
    available = available_memory_bytes() if available is None else available
    if available is not None and need > available:
        raise CamkitError(
            f"exporting {spec.model.model_id}/{spec.variant} at {height}x{width} needs about "
            f"{need / 2**30:.1f} GiB of memory, this machine has {available / 2**30:.1f} GiB "
            f"available; export a smaller --size"
        )
    return need


def check_io_dtype(fmt: str, precision: str, io_dtype: str) -> None:
    """One-line error unless format ``fmt`` exports ``precision`` with ``io_dtype`` tensors.

    A format module lists the precisions that can have non-float I/O in ``io_dtypes`` (optional;
    without it, float32 only): uint8 I/O needs an integer model whose first op can take bytes."""
    if IO_DTYPES[io_dtype] is None:
        return
    module = registry.format_module(fmt)
    if precision in getattr(module, "io_dtypes", {}).get(io_dtype, ()):
        return
    able = [
        f"--format {name} --precision {p}"
        for name in registry.format_names()
        for p in getattr(registry.format_module(name), "io_dtypes", {}).get(io_dtype, ())
    ]
    where = " or ".join(able) or "no format"
    raise CamkitError(
        f"{fmt} {precision} has no {io_dtype} I/O (camkit exports it as {where} only); export "
        f"that, or drop --io {io_dtype}"
    )


def export_artifacts(
    spec: ExportSpec,
    weights: Weights,
    formats: list[str],
    precisions: list[str],
    out_root: Path,
    progress: bool = True,
    calib_source: str | Path | None = None,
    accuracy: AccuracyTarget | None = None,
    gate: Callable[[list[Path]], bool] | None = None,
    ptq: options.PtqOptions | None = None,
) -> list[Path]:
    """Export every format x precision; returns the published manifest paths, in order.

    The folder ``out_root/<model>/<variant>`` is published as one unit (see the module doc).
    ``gate``, given the staged manifests, decides whether they are published (``camkit export``
    runs its checks there): False keeps them in ``.<variant>.failed`` and raises GateFailed.

    Quantized precisions calibrate on ``calib_source`` (a calibration set name or a folder of
    photos; default: the model's calibration set). With ``accuracy``, each quantized artifact
    keeps the fewest most sensitive layers in float that bring its task drop within budget.
    ``ptq`` switches the post-training techniques (toolkit/quantization/options.py; default:
    all on)."""
    from tqdm import tqdm

    if not formats:
        raise CamkitError("no format to export; pass --format onnx,litert,coreml (or some)")
    if not precisions:
        raise CamkitError("no precision to export; pass --precision fp32,fp16,w8a8,w8a16 (or some)")
    jobs = [(f, p) for f in formats for p in precisions]
    for fmt, precision in jobs:  # validate everything before any slow work starts
        registry.require_format(fmt)
        registry.check_precision(fmt, precision)
        check_io_dtype(fmt, precision, spec.io_dtype)
        registered = spec.model.model_id in registry.model_ids()  # tests export unregistered ones
        why = registered and registry.card(spec.model.model_id).refusal(fmt, precision)
        if why:
            raise CamkitError(f"{spec.model.model_id} does not export to {fmt} {precision}: {why} "
                              f"(card.yaml not_exported); drop {precision} for {fmt}")

    model = build_for_spec(spec, weights)
    check_memory(spec, model)
    plan = full_resolution_plan(spec, model)
    weights_desc = weights.describe()
    prepared = prepare_for_export(model, spec)
    name, feeds = sample_feeds(spec, count=1, module=model)[0]
    reference = torch_runner(model, spec)(feeds)

    calib = calib_desc = None
    if any(p not in FLOAT_PRECISIONS for p in precisions):
        calib = calibration_feeds(spec, calib_source, module=model)
        source = calib_source or spec.model.calibration_set
        if not is_set_name(source) and Path(source).is_dir():
            # a folder: absolute, so `camkit check` finds it from anywhere
            source = Path(source).resolve()
        calib_desc = {"source": str(source), "count": len(calib)}
    search = None
    if accuracy is not None:
        if all(p in FLOAT_PRECISIONS for p in precisions):
            raise CamkitError("--max-drop-db and --min-psnr-db apply to quantized precisions "
                              "(w8a8, w8a16); add --precision w8a8")
    ptq = ptq or options.DEFAULT
    # a `camkit train --qat` checkpoint holds weights already equalized on the calibration set
    # and fine-tuned on those ranges: equalizing again would move them (toolkit/quantization/
    # qat.py); the manifest records the checkpoint's equalization instead
    qat = ((weights_desc.get("info") or {}).get("qat") or {})
    qat_equalized = qat.get("equalization")
    if qat_equalized and ptq.equalize:
        ptq = replace(ptq, equalize=False)
    # the quantized precisions export the equalized module (same float function, ranges spread
    # less over channels); fp32 and fp16 export the checkpoint's weights as they are
    quant_module, equalization = prepared, None
    if calib is not None and ptq.equalize:
        quant_module, equalization = equalize(prepared, calib,
                                              [t.name for t in spec.model.inputs])
    elif qat_equalized:
        equalization = {**qat_equalized, "applied_by": "camkit train --qat (in the checkpoint)"}
    registered = spec.model.model_id in registry.model_ids()
    if (accuracy is None and calib is not None and ptq.auto_float and registered
            and weights.checkpoint is not None):
        accuracy = card_target(spec, model)
    if accuracy is not None:
        search = _AccuracySearch(accuracy, model, quant_module, spec, calib, progress, ptq)
    defaults = {p: default_float_reasons(prepared, p) if ptq.float_defaults else {}
                for p in DEFAULT_FLOAT_PRECISIONS}
    ptq_record = {**ptq.describe(), "equalization": equalization}

    features = None
    if spec.statistics:
        from toolkit.fullres_split import features_module

        features = features_module(model)
    out_dir = artifacts.artifact_dir(out_root, spec)
    with publish.FolderLock(out_dir, "export"), publish.Publication(out_dir) as pub, \
            options.using(ptq):
        for report in publish.CHECK_REPORTS:  # they describe the old set; the gate writes anew
            (pub.staging / report).unlink(missing_ok=True)
        sample = _Sample(feeds, reference, name)
        manifests = []
        bar = tqdm(jobs, desc="export", unit="artifact", disable=None if progress else True,
                   file=sys.stderr)
        for fmt, precision in bar:
            bar.set_postfix_str(f"{fmt} {precision}")
            quantized = precision not in FLOAT_PRECISIONS
            searched = quantized and search is not None and (
                not search.target.automatic or precision in AUTO_FLOAT_PRECISIONS)
            manifests.append(
                _export_one(quant_module if precision in EQUALIZED_PRECISIONS else prepared,
                            spec, fmt, precision,
                            pub.staging, weights_desc, sample,
                            calib if quantized else None, calib_desc if quantized else None,
                            search if searched else None,
                            defaults.get(precision, {}),
                            None if not quantized else ptq_record
                            if precision in EQUALIZED_PRECISIONS
                            else {**ptq_record, "equalize": False, "equalization": None},
                            plan, features)
            )
        bar.close()
        _verify_staged(pub.staging, manifests)
        if gate is not None and not gate(manifests):
            raise GateFailed(out_dir, pub.keep_failed())
        pub.commit()
    return [out_dir / m.name for m in manifests]


class _Sample:
    """The sample I/O every artifact of one export carries, as ``<artifact>.sample.npz`` beside
    each (one file per artifact, so replacing one artifact never changes another's sample).
    Identical samples are one file hard-linked under each name: the other formats of an earlier
    export of the same weights and size share it too."""

    def __init__(self, feeds: dict, reference: dict, source_image: str) -> None:
        self.data = artifacts.sample_bytes(feeds, reference)
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.source_image = source_image

    def write_beside(self, artifact: Path) -> dict:
        path = artifact.with_name(artifact.name + publish.SAMPLE_SUFFIX)
        twin = next((p for p in sorted(path.parent.glob("*" + publish.SAMPLE_SUFFIX))
                     if p.stat().st_size == len(self.data)
                     and artifacts.sha256_path(p) == self.sha256), None)
        if twin is None:
            artifacts.atomic_write_bytes(path, self.data)
        elif twin != path:
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.unlink(missing_ok=True)
            try:
                os.link(twin, tmp)
            except OSError:
                shutil.copy2(twin, tmp)
            os.replace(tmp, path)
        return {"file": path.name, "sha256": self.sha256, "source_image": self.source_image}


def _float_mac_share(prepared: nn.Module, spec: ExportSpec, kept: list[str]) -> dict:
    """The share of the model's MACs in the layers kept float (toolkit/models/_cost.py), at the
    sample size; "layers" counts the ids kept float."""
    from toolkit.models._cost import float_mac_share

    height, width = spec.sample_size
    shapes = [t.shape(height, width, spec.layout) for t in spec.model.inputs]
    return {**float_mac_share(prepared, shapes, list(kept)), "layers": len(kept)}


def _verify_staged(staging: Path, manifests: list[Path]) -> None:
    """The new set obeys the invariant before it is published; samples that no manifest names
    any more (an older export's, now replaced) are dropped from the new version."""
    state = publish.scan(staging)
    for path, why in state.orphans:
        if path.name.endswith(publish.SAMPLE_SUFFIX):
            path.unlink()
    broken = [f"{m.name}: {p}" for m in manifests for p in state.problems.get(m, [])]
    if broken:  # a camkit bug, never the user's input: refuse to publish it
        raise CamkitError(f"the new set is not consistent ({broken[0]}); nothing was published, "
                          f"please report this")


def card_target(spec: ExportSpec, module: nn.Module | None = None) -> AccuracyTarget:
    """The card's budgets on the photos `camkit check` measures (the model's calibration set at
    the artifact's size, as ``sample_feeds`` gives them): what the default export keeps layers
    float for. ``module``: the float module (a split by tiles computes its statistics feeds)."""
    return AccuracyTarget(None, Path(f"calibration/{spec.model.calibration_set}"),
                          sample_feeds(spec, module=module), automatic=True)


def full_resolution_plan(spec: ExportSpec, model: nn.Module) -> dict:
    """The manifest's ``full_resolution`` block for artifacts of ``spec`` exported from
    ``model`` (toolkit/fullres.py ``export_plan``; measures the tile margin on the model)."""
    from toolkit.fullres import export_plan

    with quiet():
        return export_plan(spec, model)


def _sample_parity(runner, reference, spec: ExportSpec, samples: list) -> dict:
    """Worst parity of ``runner`` against ``reference`` on ``samples`` ((name, feeds) pairs),
    measured as `camkit check` measures it (raw outputs, toolkit/checks/parity.py), in the
    shape ``quantize_within_budget`` reads (no targets: no task drop)."""
    from toolkit.checks.metrics import psnr_db, ssim

    out_name = spec.model.outputs[0].name
    psnrs, ssims = [], []
    for _name, feeds in samples:
        got, want = runner(feeds)[out_name], reference(feeds)[out_name]
        if spec.layout == "nhwc":
            got, want = got.transpose(0, 3, 1, 2), want.transpose(0, 3, 1, 2)
        psnrs.append(psnr_db(got, want))
        ssims.append(ssim(got, want))
    return {"drop_db": 0.0, "float_psnr_db": None, "artifact_psnr_db": None,
            "worst_parity_psnr_db": min(psnrs), "worst_parity_ssim": min(ssims)}


class _AccuracySearch:
    """Accuracy-aware quantization for one export run: the layer ranking is computed at most
    once and shared by every format (it depends on the model and calibration set only)."""

    def __init__(self, target: AccuracyTarget, model, prepared, spec, calib, progress,
                 ptq: options.PtqOptions = options.DEFAULT) -> None:
        self.target, self.model, self.prepared, self.ptq = target, model, prepared, ptq
        self.spec, self.calib, self.progress = spec, calib, progress
        self.reference = torch_runner(model, spec)
        self._ranking: dict[tuple[str, ...], list] = {}

    def ranking(self, always_float: list[str]):
        from toolkit.quantization.accuracy import rank_layers

        key = tuple(always_float)
        if key not in self._ranking:
            self._ranking[key] = rank_layers(self.prepared, self.spec, self.calib, self.progress,
                                             always_float)
        return self._ranking[key]

    def run(self, fmt: str, precision: str, staging: Path,
            defaults: list[str] = ()) -> tuple[Path, dict]:
        """The artifact within budget (in ``staging``) and the manifest's accuracy_control;
        ``defaults`` (the model's default float layers) stay float in every trial."""
        from toolkit.checks.task import task_quality
        from toolkit.quantization.accuracy import quantize_within_budget

        module = registry.format_module(fmt)
        defaults = list(defaults)

        def export_trial(kept: list[str]) -> Path:
            trial = staging / f"trial-{len(kept)}"
            trial.mkdir()
            return _run_export(module, fmt, self.prepared, self.spec, precision, trial,
                               self.calib, defaults + kept)

        def measure(path: Path) -> dict:
            with quiet():
                runner = _trial_runner(module, path, self.model, self.spec, self.calib)
                if self.target.automatic:
                    return _sample_parity(runner, self.reference, self.spec, self.target.pairs)
                return task_quality(runner, self.reference, self.spec, self.target.pairs)

        min_psnr, min_ssim = self.target.parity_budget(self.spec.model.model_id, fmt, precision)
        def share(kept: list[str]) -> float:
            return _float_mac_share(self.prepared, self.spec, defaults + kept)["share"]

        outcome = quantize_within_budget(export_trial, measure, lambda: self.ranking(defaults),
                                         self.target.max_drop_db, f"{fmt} {precision}", min_psnr,
                                         min_ssim, share, self.ptq.max_float_share)
        control = outcome.describe(str(self.target.data_dir), len(self.target.pairs))
        control["automatic"] = self.target.automatic
        return outcome.path, control


def _trial_runner(module, path: Path, model, spec: ExportSpec, calib):
    """What measures a trial artifact: its runtime, or where that cannot run here (Core ML off
    macOS) the quantized torch graph it was converted from, as ``camkit check`` does."""
    if hasattr(module, "can_run") and not module.can_run() and hasattr(module, "simulated_runner"):
        kept = getattr(module, "just_quantized_runner", None)
        runner = kept(path, spec) if kept is not None else None
        if runner is not None:
            return runner
        scheme = json.loads((path.parent / SCHEME_FILE).read_text())
        return module.simulated_runner(model, spec, calib, scheme)
    return module.load(path)


def _run_export(module, fmt, prepared, spec, precision, out_dir, calib, float_layers=()) -> Path:
    """One format module export into ``out_dir``, converter noise hidden, errors in one line."""
    try:
        with quiet() as log:
            if float_layers:
                return module.export(prepared, spec, precision, out_dir, calib, float_layers)
            return module.export(prepared, spec, precision, out_dir, calib)
    except CamkitError:
        raise
    except OSError as e:
        if e.errno is not None:  # full disk, read-only folder: the CLI names the path and fix
            raise
        raise CamkitError(f"{fmt} {precision} export failed: {e}") from None
    except Exception as e:  # a converter crash: one line, and where to see the full log
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CamkitError(
            f"{fmt} {precision} export failed: {detail} (rerun with CAMKIT_VERBOSE=1 for the "
            f"converter log; {len(log.text.splitlines())} lines were hidden)"
        ) from None


def features_spec(spec: ExportSpec, channels: int, stride: int) -> ExportSpec:
    """The ExportSpec of a split by tiles' features artifact: the photo inputs of ``spec`` at
    its size, one ``features`` output (``channels`` at 1/``stride`` of the size), float I/O."""
    from dataclasses import replace as _replace

    from toolkit.spec import TensorSpec

    h, w = spec.height // stride, spec.width // stride
    out = TensorSpec("features", channels, (-math.inf, math.inf), "features",
                     description=f"local features (stride {stride}); their mean over the whole "
                     f"photo is the per-tile artifact's statistics input", role="features",
                     size=(h, w))
    model = _replace(spec.model, inputs=tuple(t for t in spec.model.inputs if t.role == "image"),
                     outputs=(out,))
    return _replace(spec, model=model, io_dtype="float32")


def _export_features(features: nn.Module, spec: ExportSpec, fmt: str, final: Path,
                     stride: int) -> dict:
    """Export ``features`` (a split by tiles' features module, float, of the plan's measured
    ``stride``) as the fp32 ``fmt`` artifact ``<artifact>.statistics.<suffix>`` beside
    ``final``; its manifest entry."""
    module = registry.format_module(fmt)
    fspec = features_spec(spec, spec.statistics[0].channels, stride)
    target = final.with_name(f"{final.name[:-len(module.suffix) - 1]}.statistics.{module.suffix}")
    with artifacts.staging_dir(final.parent) as staging:
        produced = _run_export(module, fmt, prepare_for_export(features, fspec), fspec, "fp32",
                               staging, None)
        artifacts.atomic_replace(produced, target)
    return {"file": target.name, "sha256": artifacts.sha256_path(target),
            "size_bytes": artifacts.size_bytes(target), "format": fmt, "precision": "fp32",
            "io": artifacts.io_description(fspec)}


def _export_one(prepared, spec, fmt, precision, out_dir, weights_desc, sample: _Sample, calib,
                calib_desc=None, search: _AccuracySearch | None = None,
                defaults: dict[str, str] | None = None, ptq_record: dict | None = None,
                plan: dict | None = None, features: nn.Module | None = None) -> Path:
    """One artifact; ``defaults``: the model's default float layers for this precision, each with
    why it stays float; ``plan``: its ``full_resolution`` block; ``features``: a split by
    tiles' features module (exported beside the artifact, ``_export_features``)."""
    defaults = defaults or {}
    module = registry.format_module(fmt)
    stem = artifacts.artifact_stem(spec, precision)
    final = out_dir / f"{stem}.{module.suffix}"
    started = time.perf_counter()
    control = None
    with artifacts.staging_dir(out_dir) as staging:
        if search is None:
            produced = _run_export(module, fmt, prepared, spec, precision, staging, calib,
                                   list(defaults))
        else:
            produced, control = search.run(fmt, precision, staging, list(defaults))
        export_s = time.perf_counter() - started
        scheme_file = produced.parent / SCHEME_FILE
        scheme = json.loads(scheme_file.read_text()) if scheme_file.exists() else {}
        if defaults:  # which of kept_float_layers the model asks for (not the accuracy search)
            scheme["default_float_layers"] = list(defaults)
            scheme["default_float_reasons"] = dict(defaults)
        if ptq_record is not None:
            scheme["ptq"] = ptq_record
        if calib_desc is not None:
            scheme["calibration"] = {**calib_desc, **scheme.get("calibration", {})}
        if control is not None:
            scheme["accuracy_control"] = control
        if calib is not None:  # quantized: how much arithmetic the float layers still carry
            scheme["float_mac_share"] = _float_mac_share(prepared, spec,
                                                         scheme.get("kept_float_layers", []))
        artifacts.atomic_replace(produced, final)
    if spec.statistics:  # a split by tiles: its features artifact beside the per-tile one
        plan = {**plan, "statistics": {**plan["statistics"],
                                       "artifact": _export_features(
                                           features, spec, fmt, final,
                                           plan["statistics"]["stride"])}}
    sample_desc = sample.write_beside(final)
    manifest = {
        "schema": artifacts.MANIFEST_SCHEMA,
        "model_id": spec.model.model_id,
        # where the model came from and the sha256 of its code: `camkit check` finds an external
        # model again and refuses code that changed (None: a model outside the registry)
        "model_source": (registry.source_record(spec.model.model_id)
                         if spec.model.model_id in registry.model_ids() else None),
        "variant": spec.variant,
        "format": fmt,
        "precision": precision,
        "precision_scheme": {
            "id": precision,
            "description": PRECISIONS[precision],
            "calibration": None,
            "float_layers": "all" if precision in ("fp32", "fp16") else None,
            **scheme,
        },
        "layout": spec.layout,
        "dynamic": spec.dynamic,
        "io": artifacts.io_description(spec),
        # the card's parity budget, so an app colours its on-device parity without a registry
        # (null: a model with no card); `camkit check` reads the card itself
        "budget": _budget(spec.model.model_id, fmt, precision),
        # how an app processes a photo of any size with this artifact (toolkit/fullres.py)
        "full_resolution": plan,
        "artifact": {
            "file": final.name,
            "sha256": artifacts.sha256_path(final),
            "size_bytes": artifacts.size_bytes(final),
            "export_s": round(export_s, 2),
        },
        "checkpoint": weights_desc,
        "sample": sample_desc,
        "versions": artifacts.package_versions(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
    }
    path = artifacts.manifest_path(final)
    artifacts.atomic_write_json(path, manifest)
    return path
