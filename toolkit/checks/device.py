"""``camkit check TARGET --device-results DIR``: the gate on what the phones measured.

The camkit apps run each artifact on its sample input on the phone's backend and compare the
output with the torch reference stored in the sample (``ProfileResult.app.parity``): a GPU
delegate's fp16 or an NPU's requantization shows there and nowhere else. This gate joins every
app result under DIR to an artifact under TARGET by the artifact's sha256 and fails the run when
the worst output's PSNR is below the card's ``psnr_db_min`` for that format and precision, when
the run failed on the phone, or when it measured no parity. Results of other tools (no ``app``
block) and results of artifacts not under TARGET are listed, never judged.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from toolkit.errors import CamkitError


@dataclass(frozen=True)
class DeviceRow:
    artifact: str
    device: str
    backend: str
    psnr_db: float | None      # worst output; inf when identical; None when not measured
    max_abs: float | None
    min_psnr_db: float
    problem: str | None        # why it failed without a PSNR verdict (run error, no parity)
    source: str

    @property
    def passed(self) -> bool:
        return self.problem is None and self.psnr_db is not None and \
            self.psnr_db >= self.min_psnr_db


def _budget(manifest: dict) -> float:
    """The card's PSNR budget of the manifest's format and precision (an external model's
    folder is found again from the path its manifest records)."""
    from toolkit import registry

    model_id = manifest["model_id"]
    if model_id not in registry.model_ids():
        try:
            registry.require_manifest_model(manifest)
        except CamkitError:
            pass  # the card lookup below names what is missing
    if model_id not in registry.model_ids():
        raise CamkitError(f"model {model_id} is not known, so its card's budgets are not; pass "
                          "its folder with --models DIR")
    return registry.card(model_id).tolerance(manifest["format"],
                                             manifest["precision"]).psnr_db_min


def check_device_results(target: Path, results_dir: Path) -> tuple[list[DeviceRow], list[str]]:
    """(a row per app result of an artifact under ``target``, notes on what was not judged)."""
    from toolkit.artifacts import read_manifest
    from toolkit.profilers.compare import load_results
    from toolkit.publish import scan
    from toolkit.report import find_profiles

    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise CamkitError(f"--device-results {results_dir} is not a folder; pass the folder "
                          "holding the app's result JSON ('camkit profile android-app --json')")
    by_sha = {}
    for path in scan(Path(target)).manifests:
        manifest = read_manifest(path)
        by_sha[manifest["artifact"]["sha256"]] = (path, manifest)
    paths = find_profiles(results_dir)
    if not paths:
        raise CamkitError(f"no profile result JSON under {results_dir}; write them with "
                          "'camkit profile android-app MANIFEST --backend B --json FILE'")
    rows, notes = [], []
    for path, result in zip(paths, load_results(paths), strict=True):
        if result.app is None:
            notes.append(f"{path.name}: not from a camkit app (no on-device parity), not judged")
            continue
        found = by_sha.get(result.model.sha256)
        if found is None:
            notes.append(f"{path.name}: its artifact (sha256 {str(result.model.sha256)[:12]}) "
                         f"is not under {target}, not judged")
            continue
        manifest_path, manifest = found
        problem = None
        if result.error is not None:
            problem = f"the run failed on the phone: {result.error.kind}: {result.error.message}"
        elif not result.app.parity:
            problem = "the app measured no on-device parity (the sample was missing?)"
        worst = result.app.worst_parity_db()
        max_abs = max((p.max_abs for p in result.app.parity or []), default=None)
        rows.append(DeviceRow(manifest_path.name.removesuffix(".manifest.json"),
                              _device(result), result.app.backend, worst,
                              max_abs, _budget(manifest), problem, str(path)))
    if not rows:
        raise CamkitError(f"no app result under {results_dir} names an artifact under {target}; "
                          "" + ("; ".join(notes) if notes else "run camkit profile android-app"))
    return sorted(rows, key=lambda r: (r.artifact, r.device, r.backend)), notes


def _device(result) -> str:
    d = result.device
    return (d.model or d.soc or "device") if d is not None else "device"


def _db(value: float | None) -> str:
    if value is None:
        return "-"
    return "identical" if math.isinf(value) else f"{value:.2f}"


def report_markdown(rows: list[DeviceRow], notes: list[str]) -> str:
    lines = ["# On-device parity", "",
             "The artifact on the phone, on its sample input, against the torch output stored "
             "in its sample (worst output); budget: the card's PSNR for the format and "
             "precision.", "",
             "| artifact | device | backend | PSNR (dB) | max abs | budget (dB) | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        verdict = "pass" if r.passed else f"FAIL{': ' + r.problem if r.problem else ''}"
        max_abs = "-" if r.max_abs is None else f"{r.max_abs:.3g}"
        lines.append(f"| {r.artifact} | {r.device} | {r.backend} | {_db(r.psnr_db)} | "
                     f"{max_abs} | ≥ {r.min_psnr_db:g} | {verdict} |")
    lines += ["", *[f"- {n}" for n in notes]]
    return "\n".join(lines).rstrip() + "\n"


def report_json(rows: list[DeviceRow], notes: list[str]) -> bytes:
    def row(r: DeviceRow) -> dict:
        d = asdict(r)
        d["psnr_db"] = "inf" if r.psnr_db is not None and math.isinf(r.psnr_db) else r.psnr_db
        return {**d, "passed": r.passed}

    obj = {"passed": all(r.passed for r in rows), "rows": [row(r) for r in rows],
           "notes": notes}
    return (json.dumps(obj, indent=2) + "\n").encode()
