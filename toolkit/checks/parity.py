"""Parity: does an artifact still compute what the torch float model computes?

For each artifact (found through its manifest) the torch model is rebuilt from the checkpoint the
manifest names (sha256-checked) and both run on the calibration set's sample photos; PSNR, SSIM
and max-abs error of the raw outputs are compared with the card.yaml budget for that format x
precision. Where the runtime cannot run on this platform (Core ML off macOS) the artifact is
verified statically instead (I/O names, shapes, precision, op histogram) and labelled so; a
quantized artifact whose format module has ``simulated_runner`` is then also compared through
the quantized torch graph it was converted from, labelled "simulated".
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toolkit import artifacts, registry
from toolkit._quiet import quiet
from toolkit.checks.metrics import max_abs, psnr_db, ssim
from toolkit.conversion._common import torch_runner
from toolkit.errors import CamkitError, check_count
from toolkit.building import Weights, build_for_spec
from toolkit.spec import FLOAT_PRECISIONS
from toolkit.quantization.calibration import (calibration_feeds, calibration_set, feeds_for,
                                               photo_channels)
from toolkit.data.io import read_image
from toolkit.spec import ExportSpec, Tolerance


@dataclass
class SampleResult:
    image: str
    height: int
    width: int
    psnr_db: float
    ssim: float
    max_abs: float


@dataclass
class ArtifactCheck:
    """Everything ``camkit check`` found out about one artifact."""

    manifest: str
    model_id: str
    variant: str
    format: str
    precision: str
    layout: str
    #: "runtime" (ran and compared), "static" (spec, I/O and ops verified; could not run here)
    #: or "simulated" (static, plus the artifact's quantized torch graph ran in its place)
    mode: str
    reference: str
    budget: dict[str, float]
    #: the manifest's artifact sha256: what `camkit report` joins profile results on
    artifact_sha256: str | None = None
    samples: list[SampleResult] = field(default_factory=list)
    task: dict[str, Any] | None = None
    static: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def worst_psnr_db(self) -> float | None:
        return min((s.psnr_db for s in self.samples), default=None)

    @property
    def worst_ssim(self) -> float | None:
        return min((s.ssim for s in self.samples), default=None)

    @property
    def worst_max_abs(self) -> float | None:
        return max((s.max_abs for s in self.samples), default=None)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            passed=self.passed,
            worst_psnr_db=_finite(self.worst_psnr_db),
            worst_ssim=self.worst_ssim,
            worst_max_abs=self.worst_max_abs,
        )
        out["samples"] = [dict(asdict(s), psnr_db=_finite(s.psnr_db)) for s in self.samples]
        return out


def _finite(value: float | None) -> float | str | None:
    """JSON has no infinity: identical outputs are written as the string 'inf'."""
    return "inf" if value is not None and np.isinf(value) else value


def not_run(manifest_file: Path, problems: list[str]) -> ArtifactCheck:
    """A failing row for an artifact the folder invariant stopped before any comparison."""
    try:
        manifest = artifacts.read_manifest(manifest_file)
    except CamkitError:
        manifest = {}
    name = Path(manifest_file).name.removesuffix(".manifest.json")
    return ArtifactCheck(
        manifest=str(manifest_file),
        model_id=manifest.get("model_id", Path(manifest_file).parent.parent.name),
        variant=manifest.get("variant", Path(manifest_file).parent.name),
        format=manifest.get("format", Path(name).suffix.lstrip(".")),
        precision=manifest.get("precision", "?"),
        layout=manifest.get("layout", "?"),
        mode="not run",
        reference="none: the folder is not consistent",
        budget={},
        artifact_sha256=(manifest.get("artifact") or {}).get("sha256"),
        problems=list(problems),
    )


def orphan(path: Path, why: str) -> ArtifactCheck:
    """A failing row for a file in the folder that no manifest accounts for."""
    path = Path(path)
    return ArtifactCheck(
        manifest=str(path), model_id=path.parent.parent.name, variant=path.parent.name,
        format=path.suffix.lstrip(".") or "?", precision="?", layout="?", mode="not run",
        reference="none: no manifest", budget={}, problems=[f"{path.name}: {why}"],
    )


def spec_from_manifest(manifest: dict[str, Any]) -> ExportSpec:
    registry.require_manifest_model(manifest)  # an external model found again, its code unchanged
    model = registry.model_spec(manifest["model_id"])
    variant = registry.check_variant(manifest["model_id"], manifest["variant"])
    shape = manifest["io"]["inputs"][0]["shape"]
    h, w = (shape[1], shape[2]) if manifest["layout"] == "nhwc" else (shape[2], shape[3])
    first = manifest["io"]["inputs"][0]
    io_dtype = first["dtype"] if first.get("quantization") else "float32"  # older: no quantization
    thumbs = [t for t in manifest["io"]["inputs"] if t.get("role") == "thumbnail"]
    stats = [t for t in manifest["io"]["inputs"] if t.get("role") == "statistics"]
    if stats:  # a full-resolution split by tiles: the model with its statistics input
        from toolkit.fullres_split import split_model_spec

        shape = stats[0]["shape"]
        model = split_model_spec(model, None, shape[3] if manifest["layout"] == "nhwc"
                                 else shape[1])
    elif thumbs:  # a full-resolution split: the model with its thumbnail inputs
        from toolkit.fullres_split import split_model_spec

        shape = thumbs[0]["shape"]
        size = (shape[1], shape[2]) if manifest["layout"] == "nhwc" else (shape[2], shape[3])
        model = split_model_spec(model, size)
    return ExportSpec(model, variant, h, w, manifest["layout"], io_dtype)


def weights_from_manifest(manifest: dict[str, Any]) -> Weights | None:
    """The weights the artifact was exported from, or None when the checkpoint is gone/changed."""
    ckpt = manifest["checkpoint"]
    if ckpt.get("in_memory"):  # the Python API's module: given again, or the stored sample
        module = registry.model_module(manifest["model_id"])
        return None if module.MODULE_STORED else Weights(None, None, ckpt["sha256"])
    if ckpt["random_weights"]:
        return Weights(None, ckpt["seed"])
    path = Path(ckpt["path"])
    if not path.is_file() or artifacts.sha256_path(path) != ckpt["sha256"]:
        return None
    return Weights(path)


def check_sizes(spec: ExportSpec) -> list[tuple[int, int]]:
    """Static artifacts run at their size; dynamic ones at the default and an off-default size."""
    if not spec.dynamic:
        return [(spec.height, spec.width)]
    h, w = spec.sample_size
    m = spec.model.size_multiple
    other = (max(m, (h * 2 // 3) // m * m), max(m, (w * 3 // 5) // m * m))
    return [(h, w), other]


class References:
    """Torch float outputs, computed once per (weights, variant, layout, input bytes).

    Checking six artifacts of one model at 1080p would otherwise rerun the same torch forward
    six times per photo.
    """

    def __init__(self) -> None:
        self._models: dict[tuple, Any] = {}
        self._outputs: dict[tuple, dict[str, np.ndarray]] = {}

    def _key(self, spec: ExportSpec, weights: Weights) -> tuple:
        return (spec.model.model_id, spec.variant, spec.layout, weights.checkpoint,
                weights.random_seed, tuple((t.role, t.size) for t in spec.model.inputs))

    def module(self, spec: ExportSpec, weights: Weights):
        """The float module the artifact was exported from (built once)."""
        key = ("module", *self._key(spec, weights))
        if key not in self._models:
            self._models[key] = build_for_spec(spec, weights)
        return self._models[key]

    def get(self, spec: ExportSpec, weights: Weights):
        key = self._key(spec, weights)
        if key not in self._models:
            self._models[key] = torch_runner(self.module(spec, weights), spec)
        run = self._models[key]

        def cached(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            digest = hashlib.sha1()
            for name in sorted(feeds):
                digest.update(name.encode())
                digest.update(np.ascontiguousarray(feeds[name]).tobytes())
                digest.update(str(feeds[name].shape).encode())
            out_key = (*key, digest.hexdigest())
            if out_key not in self._outputs:
                self._outputs[out_key] = run(feeds)
            return self._outputs[out_key]

        return cached


def _calibration_source(manifest: dict[str, Any]) -> str | None:
    """The calibration set or folder the artifact was exported with (None: the model's default;
    manifests before the source was recorded)."""
    calibration = manifest["precision_scheme"]["calibration"]
    return calibration["source"] if calibration and "source" in calibration else None


def check_artifact(
    manifest_file: Path,
    tolerance: Tolerance | None = None,
    max_images: int | None = None,
    references: References | None = None,
) -> tuple[ArtifactCheck, Any, Any]:
    """Parity of one artifact. Returns (result, runner or None, torch reference callable or None)."""
    check_count("--max-images", max_images)
    manifest = artifacts.read_manifest(manifest_file)
    fmt = registry.format_module(manifest["format"])
    spec = spec_from_manifest(manifest)
    tolerance = tolerance or registry.card(spec.model.model_id).tolerance(
        manifest["format"], manifest["precision"]
    )
    path = Path(manifest_file).parent / manifest["artifact"]["file"]
    result = ArtifactCheck(
        manifest=str(manifest_file),
        model_id=spec.model.model_id,
        variant=spec.variant,
        format=manifest["format"],
        precision=manifest["precision"],
        layout=spec.layout,
        mode="runtime",
        reference="torch float model rebuilt from the checkpoint",
        budget=asdict(tolerance),
        artifact_sha256=manifest["artifact"]["sha256"],
    )
    if not path.exists():
        result.problems.append(f"artifact {path.name} is missing")
        return result, None, None
    if artifacts.sha256_path(path) != manifest["artifact"]["sha256"]:
        result.problems.append(f"{path.name} changed since export (sha256 differs from manifest)")

    registry.require_format(manifest["format"])
    if hasattr(fmt, "can_run") and not fmt.can_run():
        result.mode = "static"
        result.reference = "none: this runtime cannot run on this platform"
        with quiet():
            result.static = fmt.inspect(path)
            scheme = manifest["precision_scheme"]
            kept = scheme["kept_float_layers"] if "kept_float_layers" in scheme else ()
            extra = ({"kept_weighted_ops": scheme["kept_float_weighted_ops"]}
                     if "kept_float_weighted_ops" in scheme else {})
            result.problems += fmt.verify(path, spec, manifest["precision"], kept, **extra)
        weights = weights_from_manifest(manifest)
        if (not hasattr(fmt, "simulated_runner") or weights is None
                or manifest["precision"] in FLOAT_PRECISIONS):
            return result, None, None
        return _check_simulated(result, fmt, manifest, spec, weights, tolerance, max_images,
                                references)

    weights = weights_from_manifest(manifest)
    try:
        with quiet():
            runner = fmt.load(path)
    except CamkitError as e:  # a corrupt artifact fails its own check, not the whole run
        result.problems.append(str(e))
        return result, None, None
    if weights is None:
        # The checkpoint moved or changed and the user accepted the stored sample
        # (--accept-stored-sample): compare with the torch output stored at export time.
        result.reference = (
            "torch output stored in the artifact's sample at export time, one photo ("
            + ("the in-memory module it was exported from was not given"
               if manifest["checkpoint"].get("in_memory") else
               "--accept-stored-sample: the checkpoint is gone or changed") + ")")
        inputs, outputs = artifacts.read_sample(path.parent / manifest["sample"]["file"])
        _compare(result, runner, lambda feeds: outputs, [(manifest["sample"]["source_image"], inputs)], spec)
        _apply_budget(result, tolerance)
        return result, runner, None

    if weights.in_memory is not None:
        result.reference = "the in-memory torch module given to the check (Python API)"
    references = references or References()
    reference = references.get(spec, weights)
    samples = _samples(spec, max_images, references.module(spec, weights))
    _compare(result, runner, reference, samples, spec)
    if spec.statistics:
        _check_features(result, fmt, manifest, Path(manifest_file).parent, spec, samples)
    _apply_budget(result, tolerance)
    return result, runner, reference


def _samples(spec: ExportSpec, max_images: int | None, module=None) -> list[tuple[str, dict]]:
    """(name, feeds) of the check's photos; ``module``: the float module (a split by tiles'
    statistics inputs are its features' mean over each photo)."""
    from toolkit.quantization.calibration import complete

    images = calibration_set(spec.model.calibration_set)[:max_images]
    channels = photo_channels(spec)
    pairs = [(p.name, feeds_for(read_image(p, channels), spec, size, name=p.name))
             for size in check_sizes(spec) for p in images]
    feeds = complete([f for _, f in pairs], spec, module)
    return [(name, f) for (name, _), f in zip(pairs, feeds)]


#: the features artifact of a split by tiles is fp32: its mean over a photo may differ from
#: torch's by this much (relative to the largest statistic) before the check fails
FEATURES_RTOL = 1e-4


def _check_features(result: ArtifactCheck, fmt, manifest, folder: Path, spec: ExportSpec,
                    samples) -> None:
    """A split by tiles: its features artifact on each sample photo, the mean of its features
    against the statistics the float module gives (what the per-tile artifact was fed)."""
    from toolkit.data.io import from_layout
    from toolkit.fullres_split import features_artifact

    entry = manifest["full_resolution"]["statistics"]["artifact"]
    try:
        with quiet():
            run = features_artifact(fmt, folder, entry)
    except CamkitError as e:
        result.problems.append(f"features artifact: {e}")
        return
    stat = spec.statistics[0]
    worst = 0.0
    for _, feeds in samples:
        mean = run(from_layout(feeds[stat.of], spec.layout)).mean((0, 1))
        want = from_layout(feeds[stat.name], spec.layout).reshape(-1)
        scale = max(1e-6, float(np.abs(want).max()))
        worst = max(worst, float(np.abs(mean - want).max()) / scale)
    if worst > FEATURES_RTOL:
        result.problems.append(f"features artifact {entry['file']}: its mean differs from the "
                               f"float model's statistics by {worst:.2e} (relative; budget "
                               f"{FEATURES_RTOL:g}); re-export it")


def _check_simulated(result, fmt, manifest, spec, weights, tolerance, max_images, references):
    """A quantized artifact whose runtime cannot run here (Core ML off macOS): the quantized
    torch graph it was converted from -- rebuilt from the checkpoint and the calibration set,
    checked against the scales the export recorded -- runs in its place. Labelled "simulated":
    it proves the quantization, not the runtime."""
    result.mode = "simulated"
    result.reference = (
        "torch float model rebuilt from the checkpoint, against the artifact's quantized torch "
        "graph (quantize/dequantize simulated in float32; the runtime itself did not run)"
    )
    model = build_for_spec(spec, weights)
    try:
        with quiet():
            runner = fmt.simulated_runner(
                model, spec, calibration_feeds(spec, _calibration_source(manifest), module=model),
                manifest["precision_scheme"],
            )
    except CamkitError as e:
        result.problems.append(str(e))
        return result, None, None
    if weights.in_memory is not None:
        result.reference = "the in-memory torch module given to the check (Python API)"
    reference = (references or References()).get(spec, weights)
    _compare(result, runner, reference, _samples(spec, max_images, model), spec)
    _apply_budget(result, tolerance)
    return result, runner, reference


def _compare(result: ArtifactCheck, runner, reference, samples, spec: ExportSpec) -> None:
    out_name = spec.model.outputs[0].name
    for image_name, feeds in samples:
        try:
            got = runner(feeds)[out_name]
        except CamkitError:
            raise
        except Exception as e:
            result.problems.append(f"{image_name}: runtime failed: {str(e).splitlines()[0]}")
            continue
        want = reference(feeds)[out_name]
        if got.shape != want.shape:
            result.problems.append(f"{image_name}: output shape {got.shape}, expected {want.shape}")
            continue
        if not np.isfinite(got).all():
            result.problems.append(f"{image_name}: output has NaN or Inf")
            continue
        h, w = (got.shape[1], got.shape[2]) if spec.layout == "nhwc" else got.shape[2:]
        a = got if spec.layout == "nchw" else got.transpose(0, 3, 1, 2)
        b = want if spec.layout == "nchw" else want.transpose(0, 3, 1, 2)
        result.samples.append(
            SampleResult(image_name, int(h), int(w), psnr_db(a, b), ssim(a, b), max_abs(a, b))
        )


def _apply_budget(result: ArtifactCheck, tol: Tolerance) -> None:
    if result.samples and result.worst_psnr_db < tol.psnr_db_min:
        result.problems.append(
            f"PSNR vs torch {result.worst_psnr_db:.2f} dB < budget {tol.psnr_db_min:g} dB"
        )
    if result.samples and result.worst_ssim < tol.ssim_min:
        result.problems.append(f"SSIM vs torch {result.worst_ssim:.5f} < budget {tol.ssim_min:g}")
    if not result.samples and not result.problems:
        result.problems.append("no sample could be compared")
