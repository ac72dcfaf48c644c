"""``camkit check``: the folder invariant, then parity (+ task) for every manifest under a
target, reports, a verdict.

The invariant (toolkit/publish.py) is verified first: an artifact without a manifest, a stray
sample, or a manifest whose artifact, sample or checkpoint sha256 does not match its file fails
the run whatever the parity. A changed or missing checkpoint fails too, unless
``accept_stored_sample``: then the artifact is compared with the torch output stored at export
time (one photo), and the report says so.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from toolkit import artifacts, publish, registry
from toolkit.checks.parity import (ArtifactCheck, References, check_artifact, not_run, orphan,
                                   spec_from_manifest)
from toolkit.errors import check_count
from toolkit.checks.report import write_reports
from toolkit.spec import FLOAT_PRECISIONS
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
    accept_stored_sample: bool = False,
) -> tuple[list[ArtifactCheck], dict[str, Path]]:
    """Check every artifact named by ``target``; write check.json/.junit.xml/.md into out_dir.

    ``max_drop_db`` replaces the card's task-drop budget of quantized artifacts (w8*);
    ``baselines`` runs the models' classical baselines on ``data_dir`` (once per data set and
    size), deblurring ones with the PSF image ``psf`` or an estimate."""
    from tqdm import tqdm

    check_count("--max-images", max_images)
    if only is not None:
        state = publish.FolderState()
        for manifest in only:
            part = publish.scan(manifest)
            state.manifests += part.manifests
            state.problems.update(part.problems)
            state.checkpoint_gone.update(part.checkpoint_gone)
    else:
        state = publish.scan(Path(target))
    manifests = state.manifests
    references = References()
    # (channels, masked) -> load_pairs' lazy Pairs: headers checked the first time a model
    # needs them; pixels decoded one pair at a time, downscaled on load to each artifact's size
    data = {}

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
        problems = state.problems.get(path, [])
        if problems:  # the files are not what the manifest says: nothing to compare
            results.append(not_run(path, problems))
            continue
        gone = state.checkpoint_gone.get(path)
        if gone and not accept_stored_sample:
            results.append(not_run(path, [gone]))
            continue
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
    results += [orphan(path, why) for path, why in state.orphans]
    target = Path(target)
    default_out = target if target.is_dir() and not target.name.endswith(".mlpackage") else target.parent
    return results, write_reports(results, Path(out_dir) if out_dir else default_out)
