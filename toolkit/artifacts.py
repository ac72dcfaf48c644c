"""Artifact naming, atomic writes and manifest.json: the contract with checks, profilers, demos.

An artifact is ``artifacts/<model_id>/<variant>/<model_id>-<variant>-<precision>[-tags].<suffix>``
with ``<artifact>.manifest.json`` and its own ``<artifact>.sample.npz`` (sample input and torch
reference output; the manifest names it and its sha256) beside it. A folder of them is published
as one unit and checked against one invariant: toolkit/publish.py. Tags appear only for non-default exports: ``nhwc``, ``uint8`` (uint8 input and output
tensors), ``dyn`` (dynamic height and width) or ``HxW`` (a static size other than the variant
default).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from toolkit.errors import CamkitError
from toolkit.spec import IO_DTYPES, ExportSpec

MANIFEST_SCHEMA = 1
#: packages whose versions every manifest records (None when not installed)
VERSIONED_PACKAGES = (
    "camkit", "torch", "numpy", "onnx", "onnxruntime", "onnxscript", "litert-torch",
    "ai-edge-litert", "coremltools", "nncf",
)


# ------------------------------------------------------------------------------ atomic files


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_replace(src: Path, dst: Path) -> None:
    """Move a finished file or folder (an .mlpackage is a folder) onto ``dst``.

    A file is renamed over the old one. A folder cannot be renamed over a non-empty folder, so the
    old one is renamed aside first and deleted only after the new one is in place.
    """
    src, dst = Path(src), Path(dst)
    if src.is_dir() and dst.exists():
        aside = dst.with_name(f".{dst.name}.old")
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(dst, aside)
        os.replace(src, dst)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(src, dst)


@contextmanager
def staging_dir(parent: Path) -> Iterator[Path]:
    """A temp folder beside the final artifacts; removed afterwards whatever happens."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish_new_folder(staging: Path, final: Path) -> None:
    """Rename a finished staging folder to ``final`` (which must not exist: nothing is
    replaced), with the usual folder mode (mkdtemp makes 0o700: others could not read it)."""
    os.chmod(staging, 0o777 & ~_umask())
    if Path(final).exists():
        raise FileExistsError(17, "exists; nothing was replaced", str(final))
    os.rename(staging, final)


def sha256_path(path: Path) -> str:
    """sha256 of a file, or of a folder's files (sorted relative paths and contents)."""
    path = Path(path)
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if f != path:
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def size_bytes(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------- naming


def artifact_stem(spec: ExportSpec, precision: str) -> str:
    return "-".join([spec.model.model_id, spec.variant, precision, *spec.tags()])


def artifact_dir(root: Path, spec: ExportSpec) -> Path:
    return Path(root) / spec.model.model_id / spec.variant


def manifest_path(artifact: Path) -> Path:
    """``<stem>.<suffix>.manifest.json``: the suffix stays in, because the ONNX, LiteRT and Core
    ML artifacts of one precision share a stem and each needs its own manifest."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".manifest.json")


# ----------------------------------------------------------------------------------- manifest


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def io_description(spec: ExportSpec) -> dict[str, list[dict[str, Any]]]:
    """The artifact's tensors as an app feeds and reads them. ``quantization`` ({scale,
    zero_point}, or None for float tensors) maps a stored value to the spec's value range:
    ``value = (stored - zero_point) * scale``; apps read it here instead of hard-coding 1/255."""
    quantization = IO_DTYPES[spec.io_dtype]

    def one(t, shape):
        return {
            "name": t.name,
            "shape": list(shape),
            "dtype": t.dtype if quantization is None else spec.io_dtype,
            "quantization": None if quantization is None else dict(quantization),
            "layout": spec.layout,
            # null: unbounded (a statistics input's features)
            "value_range": (list(t.value_range) if all(map(math.isfinite, t.value_range))
                            else None),
            "color_space": t.color_space,
            # what the app feeds: "image" (the photo or its tile), "mask", "thumbnail" or
            # "statistics" of the input ``of`` (manifest ``full_resolution`` says how it is made)
            "role": t.role,
            **({"of": t.of} if t.of else {}),
        }

    ins, outs = spec.input_shapes(), spec.output_shapes()
    return {
        "inputs": [one(t, ins[t.name]) for t in spec.model.inputs],
        "outputs": [one(t, outs[t.name]) for t in spec.model.outputs],
    }


def sample_bytes(inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> bytes:
    """Sample I/O in the artifact's layout as .npz bytes: ``in/<name>`` and ``out/<name>``
    float32 arrays (deterministic: the same arrays give the same bytes)."""
    buf = io.BytesIO()
    arrays = {f"in/{k}": v for k, v in inputs.items()} | {f"out/{k}": v for k, v in outputs.items()}
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def write_sample(path: Path, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
    atomic_write_bytes(path, sample_bytes(inputs, outputs))


def read_sample(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    with np.load(path) as z:
        ins = {k[3:]: z[k] for k in z.files if k.startswith("in/")}
        outs = {k[4:]: z[k] for k in z.files if k.startswith("out/")}
    return ins, outs


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest.json, checked for the fields every consumer relies on."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise CamkitError(f"no manifest at {path}; export one with 'camkit export'") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CamkitError(f"{path} is not valid JSON ({e}); re-export the artifact") from None
    required = {"schema", "model_id", "variant", "format", "precision", "artifact", "io"}
    if not isinstance(manifest, dict) or not required <= set(manifest):
        raise CamkitError(f"{path} is not a camkit manifest; re-export the artifact")
    if manifest["schema"] != MANIFEST_SCHEMA:
        raise CamkitError(
            f"{path} has manifest schema {manifest['schema']}, this camkit reads "
            f"{MANIFEST_SCHEMA}; re-export with this version"
        )
    return manifest
