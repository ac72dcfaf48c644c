"""``camkit check``: parity (+ task) for every manifest under a target, reports, a verdict."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from toolkit import artifacts, registry
from toolkit.checks.parity import ArtifactCheck, References, check_artifact, spec_from_manifest
from toolkit.checks.report import write_reports
from toolkit.export import FLOAT_PRECISIONS
from toolkit.checks.task import evaluate_task, is_masked, load_pairs
from toolkit.quantization.calibration import photo_channels


def run_checks(
    target: Path,
    data_dir: Path | None = None,
    out_dir: Path | None = None,
    max_images: int | None = None,
    progress: bool = True,
    only: list[Path] | None = None,
    max_drop_db: float | None = None,
    baselines: bool = True,
    psf: Path | None = None,
) -> tuple[list[ArtifactCheck], dict[str, Path]]:
    """Check every artifact named by ``target``; write check.json/.junit.xml/.md into out_dir.

    ``max_drop_db`` replaces the card's task-drop budget of quantized artifacts (w8*);
    ``baselines`` runs the models' classical baselines on ``data_dir`` (once per data set and
    size), deblurring ones with the PSF image ``psf`` or an estimate."""
    from tqdm import tqdm

    manifests = only if only is not None else artifacts.find_manifests(Path(target))
    references = References()
    data = {}  # (channels, masked) -> items: read once, the first time a model needs them

    def pairs_for(spec) -> list:
        key = (photo_channels(spec), is_masked(spec))
        if key not in data:
            data[key] = load_pairs(Path(data_dir), key[0], max_images, masked=key[1])
        return data[key]

    if psf is not None:
        from toolkit.checks.baselines import read_psf

        read_psf(psf)  # a bad PSF file stops the run before any slow work
    results = []
    bar = tqdm(manifests, desc="check", unit="artifact", disable=None if progress else True, file=sys.stderr)
    for path in bar:
        bar.set_postfix_str(path.name.removesuffix(".manifest.json"))
        result, runner, reference = check_artifact(path, max_images=max_images, references=references)
        if data_dir is not None and runner is not None and reference is not None:
            manifest = artifacts.read_manifest(path)
            spec = spec_from_manifest(manifest)
            tol = registry.card(spec.model.model_id).tolerance(result.format, result.precision)
            if max_drop_db is not None and result.precision not in FLOAT_PRECISIONS:
                tol = replace(tol, task_drop_db_max=max_drop_db)
                result.budget["task_drop_db_max"] = max_drop_db
            evaluate_task(result, runner, reference, spec, pairs_for(spec), Path(data_dir), tol,
                          baselines=baselines, psf_path=psf)
        results.append(result)
    bar.close()
    target = Path(target)
    default_out = target if target.is_dir() and not target.name.endswith(".mlpackage") else target.parent
    return results, write_reports(results, Path(out_dir) if out_dir else default_out)
