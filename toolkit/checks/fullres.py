"""``camkit check --full-res``: does an artifact's full-resolution plan give the model's result?

For each static artifact with a tile plan (``full_resolution`` strategy tiles or split) the
artifact runs by its plan (toolkit/fullres.py ``apply_plan``) on photos of at least 12 MP, and
the torch float model (the artifact's checkpoint) runs on each whole photo at once: the truth
the plan approximates. Reported per artifact and photo: PSNR and SSIM of the plan's result
against the truth, the seam PSNR (only the pixels in bands along the interior tile borders,
where a wrong margin or blend would show), the tiles per photo and the time. ``resize`` plans
are measured the same way (they are lossy; the numbers say by how much).

Photos: ``--data DIR`` (each at least 12 MP, else refused), or the shipped calibration photos
(public domain) scaled up to 4032x3024 with seeded sensor-like noise, said so in the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.errors import CamkitError

#: a phone's main camera: 12 MP, 4:3 (what the check and the benchmark use)
PHONE_PHOTO = (3024, 4032)
MIN_PIXELS = 12_000_000
#: half the width of a seam band, beyond the blend zone on each side (px)
SEAM_PAD = 4


@dataclass
class FullResRow:
    artifact: str
    photo: str
    strategy: str
    tiles: int
    psnr_db: float
    ssim: float
    seam_psnr_db: float | None
    plan_s: float
    truth_s: float
    min_psnr_db: float | None = None

    @property
    def passed(self) -> bool:
        return self.min_psnr_db is None or self.psnr_db >= self.min_psnr_db


def phone_photo(source: Path, seed: int, size: tuple[int, int] = PHONE_PHOTO) -> np.ndarray:
    """A 12 MP uint8 photo from a smaller one: cover-resized (bicubic) and given seeded noise
    (sigma 2/255), so flat upscaled areas still carry pixel-level detail."""
    from PIL import Image

    with Image.open(source) as im:
        im = im.convert("RGB")
        scale = max(size[0] / im.height, size[1] / im.width)
        big = im.resize((round(im.width * scale + 0.5), round(im.height * scale + 0.5)),
                        Image.Resampling.BICUBIC)
    top, left = (big.height - size[0]) // 2, (big.width - size[1]) // 2
    pixels = np.asarray(big, dtype=np.int16)[top:top + size[0], left:left + size[1]]
    noise = np.random.default_rng(seed).normal(0, 2.0, pixels.shape)
    return np.clip(pixels + noise, 0, 255).astype(np.uint8)


def seam_mask(height: int, width: int, plan: dict) -> np.ndarray:
    """True in bands along the interior tile borders: each blend zone (where two tiles'
    results are mixed) widened by ``SEAM_PAD`` px on both sides."""
    from toolkit.fullres import TilePlan, grid, padded_size

    tp = TilePlan.from_json(plan)
    tiles = grid(*padded_size(height, width, tp), tp)
    rows = np.zeros(height, bool)
    cols = np.zeros(width, bool)
    for starts, mask in (({t for t, _ in tiles}, rows), ({left for _, left in tiles}, cols)):
        for s in sorted(starts)[1:]:
            a = max(0, s + tp.margin - SEAM_PAD)
            mask[a:s + tp.margin + tp.blend + SEAM_PAD] = True
    return rows[:, None] | cols[None, :]


def compare(got: np.ndarray, truth: np.ndarray, plan: dict) -> tuple[float, float, float | None]:
    """(PSNR, SSIM, seam PSNR) of HWC float results; SSIM on a 1024 px centre crop (12 MP
    SSIM is slow and the crop holds tile borders at the default sizes)."""
    from toolkit.checks.metrics import psnr_db, ssim

    got = np.clip(got, 0, 1)
    truth = np.clip(truth, 0, 1)
    h, w = truth.shape[:2]
    ch, cw = min(h, 1024), min(w, 1024)
    top, left = (h - ch) // 2, (w - cw) // 2
    s = float(ssim(got[top:top + ch, left:left + cw].transpose(2, 0, 1)[None],
                   truth[top:top + ch, left:left + cw].transpose(2, 0, 1)[None]))
    seam = None
    if plan.get("strategy") in ("tiles", "split"):
        band = seam_mask(h, w, plan)
        if band.any():
            seam = psnr_db(got[band].T[None, :, :, None], truth[band].T[None, :, :, None])
    return psnr_db(got.transpose(2, 0, 1)[None], truth.transpose(2, 0, 1)[None]), s, seam


def photos_for_check(data: Path | None, count: int = 2) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 photo) of at least 12 MP: ``data``'s, or shipped photos scaled up."""
    from toolkit.apply import read_photo
    from toolkit.data.io import list_images

    if data is not None:
        photos = []
        for path in list_images(Path(data)):
            pixels = read_photo(path).pixels
            if pixels.shape[0] * pixels.shape[1] < MIN_PIXELS:
                raise CamkitError(f"{path} is {pixels.shape[1]}x{pixels.shape[0]}; --full-res "
                                  f"measures photos of at least 12 MP (4032x3024)")
            photos.append((path.name, pixels))
        return photos[:count]
    from toolkit.quantization.calibration import calibration_set

    sources = sorted(calibration_set("photos_pd"), key=lambda p: -p.stat().st_size)[:count]
    return [(f"{p.stem} (scaled up to 12 MP)", phone_photo(p, i)) for i, p in enumerate(sources)]


def inputs_for(spec_model, pixels: np.ndarray, name: str) -> list[np.ndarray]:
    """The photo's non-thumbnail inputs: the photo, and for inpainting its seeded hole."""
    from toolkit.data.masks import name_seed, sample_mask

    inputs = []
    for t in spec_model.inputs:
        if t.role == "image":
            inputs.append(pixels)
        elif t.role == "mask":
            inputs.append(sample_mask(*pixels.shape[:2], name_seed(name)))
    return inputs


def check_full_res(target: Path, data: Path | None = None, count: int = 2,
                   progress: bool = True) -> list[FullResRow]:
    """Every static artifact under ``target`` by its plan vs the torch model on whole photos
    (module docstring); a row per artifact and photo."""
    import sys

    from tqdm import tqdm

    from toolkit.apply import _ArtifactTarget, _TorchTarget
    from toolkit.checks.parity import weights_from_manifest
    from toolkit.publish import scan
    from toolkit.registry import card

    manifests = scan(Path(target)).manifests
    photos = photos_for_check(data, count)
    rows: list[FullResRow] = []
    truths: dict[tuple, tuple[np.ndarray, float]] = {}
    bar = tqdm([(m, p) for m in manifests for p in photos], desc="full-res", unit="run",
               disable=None if progress else True, file=sys.stderr)
    for manifest_path, (name, pixels) in bar:
        artifact = _ArtifactTarget(manifest_path)
        manifest = artifact.manifest
        plan = manifest.get("full_resolution") or {}
        if manifest["dynamic"] or plan.get("strategy") not in ("tiles", "split", "resize"):
            continue
        weights = weights_from_manifest(manifest)
        if weights is None or weights.checkpoint is None and weights.random_seed is None:
            raise CamkitError(f"{manifest_path.name}: its checkpoint is gone or changed; "
                              f"--full-res compares with the torch model of that checkpoint")
        model = artifact.spec.model
        inputs = inputs_for(model, pixels, name)
        key = (manifest["model_id"], manifest["variant"], str(weights.checkpoint),
               weights.random_seed, name)
        if key not in truths:
            from toolkit.building import build_model

            torch_model = _TorchTarget.of_net(
                manifest["model_id"], manifest["variant"],
                build_model(manifest["model_id"], manifest["variant"], weights))
            started = time.perf_counter()
            truths[key] = (torch_model(inputs), time.perf_counter() - started)
        truth, truth_s = truths[key]
        tiles = [0]
        started = time.perf_counter()
        got = artifact.plan_run(inputs, lambda done, total: tiles.__setitem__(0, total),
                                np.float32)
        plan_s = time.perf_counter() - started
        psnr, s, seam = compare(got, truth, plan)
        tol = card(manifest["model_id"]).tolerance(manifest["format"], manifest["precision"])
        rows.append(FullResRow(manifest_path.name.removesuffix(".manifest.json"), name,
                               plan["strategy"], tiles[0], psnr, s, seam, plan_s, truth_s,
                               tol.psnr_db_min if plan["strategy"] != "resize" else None))
    bar.close()
    if not rows:
        raise CamkitError(f"no static artifact with a full_resolution plan under {target}; "
                          f"export one (camkit export MODEL, --split for split models)")
    return rows


def report_markdown(rows: list[FullResRow]) -> str:
    lines = ["# camkit check --full-res", "",
             "Each artifact by its manifest's full_resolution plan vs the torch float model on "
             "the whole photo at once; seam PSNR: bands along interior tile borders; budget: "
             "the card's PSNR for the format and precision (resize plans are lossy and only "
             "reported).", "",
             "| artifact | photo | plan | tiles | PSNR (dB) | seam PSNR (dB) | SSIM | budget | "
             "plan s | whole-photo torch s | result |", "|---|" * 1 + "---|" * 10]
    for r in rows:
        seam = "—" if r.seam_psnr_db is None else f"{r.seam_psnr_db:.2f}"
        budget = "—" if r.min_psnr_db is None else f"≥ {r.min_psnr_db:g}"
        result = "pass" if r.passed else "FAIL"
        lines.append(f"| {r.artifact} | {r.photo} | {r.strategy} | {r.tiles} | {r.psnr_db:.2f} "
                     f"| {seam} | {r.ssim:.5f} | {budget} | {r.plan_s:.1f} | {r.truth_s:.1f} | "
                     f"{result} |")
    return "\n".join(lines) + "\n"
