"""Calibration sets: ``calibration/<set>/manifest.json`` (file, sha256, source, licence) + images.

The same images feed INT8 calibration, the sample I/O stored with each artifact, the parity
checks and the demo. Every file is checked against its sha256 so a swapped or damaged image is
caught before it silently changes a calibration or a budget.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from toolkit import paths as camkit_paths
from toolkit.data.io import read_image, resize_cover, to_layout
from toolkit.errors import CamkitError, unknown
from toolkit.spec import ExportSpec

#: the calibration sets camkit ships: calibration/ at the repository root in a clone, inside the
#: package in a wheel (toolkit/paths.py); never written to
CALIBRATION_ROOT = camkit_paths.shipped_calibration_root()


def _roots() -> list[Path]:
    """Where a set name is looked up: the shipped sets, then the user's (``camkit calib build``)."""
    return [CALIBRATION_ROOT, camkit_paths.user_calibration_root()]


def _sets_in(root: Path) -> list[str]:
    try:
        return sorted(p.name for p in root.iterdir() if _is_set(p))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def set_names() -> list[str]:
    """Names of the shipped sets and the user's, shipped first (a user set never shadows one)."""
    names = _sets_in(CALIBRATION_ROOT)
    return names + [n for n in _sets_in(camkit_paths.user_calibration_root()) if n not in names]


def set_folder(name: str) -> Path:
    """The folder of calibration set ``name``: a shipped set, else one of the user's."""
    for root in _roots():
        if name in _sets_in(root):
            return root / name
    if not CALIBRATION_ROOT.is_dir():
        raise CamkitError(
            f"no calibration sets at {CALIBRATION_ROOT}: this camkit install is incomplete; "
            f"reinstall it (pip install --force-reinstall camkit) or run from a clone"
        )
    raise unknown("calibration set", name, set_names())


def is_set_name(source: str | Path | None) -> bool:
    """True when ``source`` (a ``--calib`` value) names a calibration set rather than a folder:
    a plain string without a path separator that is a set's name. A set name wins over a folder
    of the same name in the working directory; ``./NAME`` means the folder."""
    return (isinstance(source, str) and "/" not in source and os.sep not in source
            and source in set_names())


def _is_set(folder: Path) -> bool:
    try:
        return (folder / "manifest.json").exists()
    except PermissionError:  # a set another user keeps private: calibration_set says so
        return True


def calibration_set(name: str) -> list[Path]:
    """The image paths of a calibration set, each verified against its manifest sha256."""
    return verified_set(set_folder(name))


def verified_set(folder: Path) -> list[Path]:
    """The image paths of the calibration set in ``folder`` (its manifest.json lists file and
    sha256), each verified against its sha256; one-line errors for a set that is damaged or
    that this user cannot read."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        entries = [(folder / e["file"], e["sha256"]) for e in manifest["files"]]
    except PermissionError:
        raise _unreadable(folder) from None
    except (OSError, ValueError, KeyError, TypeError):
        raise CamkitError(f"{folder / 'manifest.json'} is not a calibration manifest (files: "
                          f"file, sha256); rebuild the set with camkit calib build") from None
    paths = []
    for path, sha256 in entries:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CamkitError(f"calibration image {path} is missing; restore it (git checkout "
                              f"for a shipped set) or rebuild the set") from None
        except PermissionError:
            raise _unreadable(folder) from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CamkitError(f"calibration image {path} does not match its sha256 in manifest.json")
        paths.append(path)
    return paths


def _unreadable(folder: Path) -> CamkitError:
    return CamkitError(
        f"cannot read calibration set {folder}: permission denied; ask its owner to run "
        f"chmod -R a+rX {folder}, or build your own with camkit calib build --out DIR"
    )


def feeds_for(
    image_hwc: np.ndarray, spec: ExportSpec, size: tuple[int, int] | None = None,
    name: str = "", mask_hw1: np.ndarray | None = None,
) -> dict:
    """Model inputs for one photo: resized (cover + centre crop) to ``size`` or the sample size.

    An input with ``role="mask"`` (inpainting: 1 = hole) gets ``mask_hw1`` when given (resized
    nearest, so it stays 0/1), else the seeded ``toolkit.data.masks.sample_mask`` of the photo's
    ``name``: the same photo always gets the same hole, in the sample I/O, the calibration set
    and the parity checks.
    """
    height, width = size or spec.sample_size
    feeds, hwc = {}, {}
    for tensor in spec.model.inputs:
        if tensor.role == "mask":
            hwc[tensor.name] = _mask_for(name, height, width, mask_hw1)
            feeds[tensor.name] = to_layout(hwc[tensor.name], spec.layout)
        elif tensor.role == "image":
            hwc[tensor.name] = resize_cover(image_hwc, height, width)
            feeds[tensor.name] = to_layout(hwc[tensor.name], spec.layout)
        elif tensor.role == "statistics":  # computed by the float module: ``complete``
            continue
        elif tensor.role == "thumbnail":  # of the fitted input: the whole photo the model sees
            from toolkit.fullres import make_thumbnail, thumbnail_entry

            source = next(t for t in spec.model.inputs if t.name == tensor.of)
            entry = thumbnail_entry(tensor, source.role, spec.model)
            feeds[tensor.name] = to_layout(make_thumbnail(hwc[tensor.of], entry,
                                                          mask=source.role == "mask"),
                                           spec.layout)
        else:
            raise CamkitError(f"{spec.model.model_id}: input {tensor.name} has unknown role "
                              f"{tensor.role!r} (image, mask, thumbnail or statistics)")
    return feeds


def _mask_for(name: str, height: int, width: int, mask_hw1: np.ndarray | None) -> np.ndarray:
    from toolkit.data.masks import name_seed, sample_mask

    if mask_hw1 is None:
        return sample_mask(height, width, name_seed(name))
    if mask_hw1.shape[:2] == (height, width):
        return (mask_hw1 > 0.5).astype(np.float32)
    return (resize_cover(mask_hw1, height, width) > 0.5).astype(np.float32)


def photo_channels(spec: ExportSpec) -> int:
    """Channels of the model's photo input (the one with ``role="image"``)."""
    return next(t.channels for t in spec.model.inputs if t.role == "image")


def complete(feeds: list[dict], spec: ExportSpec, module) -> list[dict]:
    """``feeds`` with the statistics inputs of a full-resolution split by tiles, computed by
    ``module`` (the float split module; toolkit.fullres_split.complete_feeds)."""
    if not spec.statistics:
        return feeds
    if module is None:
        raise CamkitError(f"{spec.model.model_id}'s split takes the photo's statistics: its "
                          f"feeds need the float module (a camkit bug: pass module=)")
    from toolkit.fullres_split import complete_feeds

    return [complete_feeds(f, spec, module) for f in feeds]


def sample_feeds(spec: ExportSpec, count: int | None = None,
                 module=None) -> list[tuple[str, dict]]:
    """(image name, feeds) for the spec's calibration set, at the spec's sample size.
    ``module``: the float module of a split by tiles (its statistics inputs, ``complete``)."""
    paths = calibration_set(spec.model.calibration_set)[:count]
    channels = photo_channels(spec)
    feeds = complete([feeds_for(read_image(p, channels), spec, name=p.name) for p in paths],
                     spec, module)
    return [(p.name, f) for p, f in zip(paths, feeds)]


def calibration_feeds(spec: ExportSpec, source: str | Path | None = None,
                      module=None) -> list[dict]:
    """Calibration inputs for quantized exports: every image of a set (name), of a set folder
    (a path holding manifest.json, e.g. from ``camkit calib build --out``; verified like a
    named set) or of a folder of photos, in the spec's layout at its sample size.
    Deterministic: sorted files, fixed resize/crop. Each photo is scaled down as it is decoded
    (``read_image(cover=...)``), so only the small feeds are kept."""
    from toolkit.data.io import list_images

    if source is None:
        paths = calibration_set(spec.model.calibration_set)
    elif is_set_name(source):
        paths = calibration_set(source)
    elif Path(source).is_dir():
        folder = Path(source)
        try:
            is_set = (folder / "manifest.json").is_file()
            paths = verified_set(folder) if is_set else list_images(folder)
        except PermissionError:
            raise _unreadable(folder) from None
        if not paths:
            raise CamkitError(f"calibration folder {source} holds no images (.png, .jpg, ...)")
    else:
        paths = calibration_set(str(source))
    channels = photo_channels(spec)
    size = spec.sample_size
    return complete([feeds_for(read_image(p, channels, cover=size), spec, name=p.name)
                     for p in paths], spec, module)


def _source_entries(folder: Path) -> dict[str, dict]:
    """file name -> manifest entry, when ``folder`` is a camkit calibration set (else {})."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return {}
    try:
        files = json.loads(manifest.read_text())["files"]
        return {e["file"]: {"source": e["source"], "license": e["license"]} for e in files}
    except (ValueError, KeyError, TypeError):
        raise CamkitError(f"{manifest} is not a calibration manifest (files: file, source, "
                          f"license); remove it or fix it") from None


def build_set(
    source: Path,
    name: str,
    size: tuple[int, int],
    count: int | None = None,
    seed: int = 0,
    license_text: str | None = None,
    root: Path | None = None,
    per_photo: int = 1,
) -> Path:
    """Make ``calibration/<name>/`` from a folder of photos: ``per_photo`` seeded crops of
    ``size`` per photo.

    Photos are taken in sorted order (the first ``count``), each scaled down only when its short
    side exceeds 2x the crop (so crops keep photo-like detail; the scaling happens as it is
    decoded, one photo at a time), then cropped at positions drawn from ``seed``: the same
    inputs always give the same set. Written to a temp folder and renamed into place with the
    usual modes (folder 0o777, files 0o666, less the umask), so other users can calibrate on
    it; an existing set is never replaced, and a shipped set's name is refused (``--calib
    NAME`` must mean one set). ``root`` is the folder that receives ``name/`` (default: the
    user's data folder, ``toolkit.paths.user_calibration_root()``: the package's own
    calibration/ is not the user's to write).

    Licences: ``license_text`` when given; else, when ``source`` is itself a camkit set (its
    manifest.json lists the photo), each crop inherits that photo's source and licence; else
    "user-provided; licence not stated". benchmarks/calibration_size.py measured why more than
    one crop per photo helps: CSRNet's condition vector (one sample per image) needs many images
    for its activation ranges, and more crops of few scenes help less than more scenes.
    """
    import shutil
    import tempfile

    from toolkit.artifacts import publish_new_folder
    from toolkit.data.io import image_size, list_images, write_image

    root = Path(root) if root is not None else camkit_paths.user_calibration_root()
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise CamkitError(f"set name '{name}' must be letters, digits, '-' or '_'")
    if name in _sets_in(CALIBRATION_ROOT):
        raise CamkitError(f"'{name}' is a calibration set camkit ships; choose another --name")
    final = root / name
    if final.exists():
        raise CamkitError(f"calibration set {final} exists; choose another --name (sets are never replaced)")
    height, width = size
    if per_photo < 1:
        raise CamkitError(f"--per-photo must be at least 1, got {per_photo}")
    paths = list_images(Path(source))[:count]
    if not paths:
        raise CamkitError(f"{source} holds no images (.png, .jpg, ...)")
    inherited = _source_entries(Path(source))
    rng = np.random.default_rng(seed)
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    except OSError as e:
        raise CamkitError(f"cannot create the set in {root} ({e.strerror}); pass --out a folder "
                          f"you can write") from None
    try:
        entries = []
        for i, path in enumerate(paths):
            h, w = image_size(path)
            if h < height or w < width:
                raise CamkitError(
                    f"{path} is {h}x{w}, smaller than the calibration size {height}x{width}; "
                    f"pass a smaller --size or remove it"
                )
            scale = min(h, w) / (2 * min(height, width))
            if scale > 1:
                h, w = round(h / scale), round(w / scale)
                image = resize_cover(read_image(path, cover=(h, w)), h, w)  # crop the rounding
            else:
                image = read_image(path)
            origin = inherited.get(path.name)
            for k in range(per_photo):
                top = int(rng.integers(0, h - height + 1))
                left = int(rng.integers(0, w - width + 1))
                index = i * per_photo + k
                out = staging / f"{index:04d}_{path.stem}.png"
                write_image(out, image[top : top + height, left : left + width])
                crop = f"{path.name}, crop {height}x{width} at ({top}, {left})"
                entries.append(
                    {
                        "file": out.name,
                        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
                        "source": f"{crop} of: {origin['source']}" if origin else crop,
                        "license": license_text or (origin["license"] if origin else
                                                    "user-provided; licence not stated"),
                    }
                )
        manifest = {
            "name": name,
            "description": f"{len(entries)} seeded {height}x{width} crops (seed {seed}, "
            f"{per_photo} per photo) of the photos in {Path(source).name}/",
            "files": entries,
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        publish_new_folder(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
