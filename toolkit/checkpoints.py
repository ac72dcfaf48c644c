"""Checkpoints: safetensors weights with a small JSON header, and importers for foreign files.

A camkit checkpoint is one ``.safetensors`` file whose metadata holds ``model_id``, ``variant``
and a JSON ``info`` blob (training step, data, metrics); a readable ``<stem>.json`` copy of that
metadata sits beside it. Foreign ``.pth`` files are read with ``torch.load(weights_only=True)``:
nothing is ever unpickled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from toolkit.artifacts import atomic_write_bytes, atomic_write_json, sha256_path
from toolkit.errors import CamkitError

SHIPPED_DIRNAME = "checkpoints"


def shipped_checkpoint(model_id: str, variant: str) -> Path | None:
    """The checkpoint the model's folder ships for a variant (``checkpoints/<variant>``), or
    None."""
    from toolkit.registry import model_source

    folder = model_source(model_id).folder
    if folder is None:  # an in-memory module (the Python API) ships nothing
        return None
    path = folder / SHIPPED_DIRNAME / f"{variant}.safetensors"
    return path if path.exists() else None


def save_checkpoint(
    path: Path, state: dict[str, torch.Tensor], model_id: str, variant: str, info: dict[str, Any]
) -> None:
    """Atomically write weights (+ a JSON sidecar); an existing file is replaced only when done."""
    from safetensors.torch import save

    path = Path(path)
    meta = {"model_id": model_id, "variant": variant, "info": json.dumps(info, sort_keys=True)}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    atomic_write_bytes(path, save(tensors, metadata=meta))
    atomic_write_json(path.with_suffix(".json"), {"model_id": model_id, "variant": variant, **info})


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state_dict, metadata) of a camkit checkpoint, with one-line errors for bad files."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if path.is_dir():
        raise folder_given(path)
    if not path.is_file():
        raise CamkitError(f"checkpoint {path} does not exist; pass --checkpoint PATH.safetensors")
    if path.suffix != ".safetensors":
        raise CamkitError(
            f"{path} is not a .safetensors checkpoint; convert foreign weights first with "
            f"'camkit import-weights MODEL {path} --out DIR'"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CamkitError(
            f"checkpoint {path} is corrupt or truncated ({e}); re-download or re-train it"
        ) from None
    return state, meta


def folder_given(path: Path) -> CamkitError:
    """Error for a folder passed where a checkpoint file belongs, naming the newest one in it."""
    folder = Path(path)  # a run dir keeps them in checkpoints/
    found = sorted([*folder.glob("*.safetensors"), *folder.glob("checkpoints/*.safetensors")],
                   key=lambda p: (p.stat().st_mtime, p.name))
    hint = (f"; pass a .safetensors file in it, e.g. --checkpoint {found[-1]}" if found else
            "; it holds no .safetensors checkpoint, pass --checkpoint PATH.safetensors")
    return CamkitError(f"checkpoint {path} is a folder, not a checkpoint file{hint}")


def load_weights(net: nn.Module, path: Path, model_id: str, variant: str) -> nn.Module:
    """Load a camkit checkpoint into ``net``, checking model id, variant, every key and that
    every value is finite."""
    state, meta = read_checkpoint(path)
    got_model, got_variant = meta.get("model_id"), meta.get("variant")
    if got_model is None or got_variant is None:
        raise CamkitError(
            f"checkpoint {path} has no camkit metadata (model_id, variant); convert foreign "
            f"weights with 'camkit import-weights {model_id} SOURCE.pth --out DIR', or pass a "
            f"checkpoint that 'camkit train' wrote"
        )
    if got_model != model_id:
        from toolkit import registry

        other = (f", or use it with model {got_model}" if got_model in registry.model_ids()
                 else "")
        raise CamkitError(
            f"checkpoint {path} holds {got_model}/{got_variant} weights, not {model_id}; pass a "
            f"{model_id} checkpoint{other}"
        )
    if got_variant != variant:
        from toolkit import registry

        variants = (registry.model_spec(model_id).variants
                    if model_id in registry.model_ids() else ())
        fix = (f"pass --variant {got_variant} or a {model_id}/{variant} checkpoint"
               if got_variant in variants else f"pass a {model_id}/{variant} checkpoint")
        raise CamkitError(
            f"checkpoint {path} holds {model_id}/{got_variant} weights, not {model_id}/{variant}; "
            f"{fix}"
        )
    _strict_load(net, state, f"checkpoint {path}")
    return net


def checkpoint_info(path: Path) -> dict[str, Any]:
    """The training info stored in a checkpoint (step, data, metrics), plus its sha256."""
    _, meta = read_checkpoint(path)
    return {"sha256": sha256_path(path), **json.loads(meta.get("info", "{}"))}


def check_finite(state: Mapping[str, torch.Tensor], source: str,
                 fix: str = "re-train or re-export it") -> None:
    """Refuse weights with NaN or Inf values, naming the first such tensor and how many values.

    ``state``: name -> tensor (a state_dict; non-float tensors are skipped). ``source`` starts the
    message ("checkpoint X", "module M"); ``fix`` says what to do about it."""
    bad = []
    for name, value in state.items():
        if not isinstance(value, torch.Tensor) or not (value.is_floating_point()
                                                       or value.is_complex()):
            continue
        nan = int(torch.isnan(value).sum())
        inf = int(torch.isinf(value).sum())
        if nan or inf:
            bad.append((name, nan, inf))
    if bad:
        name, nan, inf = bad[0]
        counts = " and ".join(f"{n} {kind}" for n, kind in ((nan, "NaN"), (inf, "Inf")) if n)
        more = f" ({len(bad)} tensors in all)" if len(bad) > 1 else ""
        raise CamkitError(f"{source}: tensor {name} has {counts} value(s){more}; {fix} "
                          f"(camkit refuses non-finite weights)")


def _strict_load(net: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``net``: every key, every shape and only finite values."""
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected {_few(unexpected)}")
        if wrong:
            k = wrong[0]
            parts.append(
                f"shape mismatch at {k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)} "
                f"({len(wrong)} in all; is it another variant?)"
            )
        raise CamkitError(f"{source} does not fit this model: {'; '.join(parts)}")
    check_finite(state, source)
    net.load_state_dict(state, strict=True)


def _few(keys: list[str]) -> str:
    head = ", ".join(keys[:3])
    return head + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")


# ----------------------------------------------------------------------------------- importers


def torch_load_reason(error: BaseException) -> str:
    """The cause in an error of ``torch.load(weights_only=True)``, in one line, without torch's
    advice to retry with ``weights_only=False`` (that unpickles code; camkit never does)."""
    text = str(error)
    if "WeightsUnpickler error:" in text:  # "Weights only load failed. ... error: CAUSE\n\nCheck"
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else type(error).__name__
    sentences = [s for s in re.split(r"(?<=\.)\s+", line)
                 if "weights_only" not in s and "trusted source" not in s]
    return " ".join(sentences).strip() or type(error).__name__


def _read_foreign_pth(src: Path) -> dict[str, torch.Tensor]:
    if src.is_dir():
        raise CamkitError(f"{src} is a folder; pass the official checkpoint file (.pth) in it")
    if not src.is_file():
        raise CamkitError(f"{src} does not exist; pass the path of the official checkpoint")
    try:
        raw = torch.load(str(src), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad pickles and zips
        raise CamkitError(
            f"{src} is not a readable weights-only PyTorch checkpoint ({torch_load_reason(e)}); "
            f"it may be truncated or another kind of file, or hold pickled code, which camkit "
            f"never loads; pass the official .pth file"
        ) from None
    for key in ("params_ema", "params", "state_dict", "model", "net_g", "generator"):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
            break
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CamkitError(f"{src} holds no state_dict of tensors; is it a model checkpoint?")
    return raw


#: what ``camkit import-weights --from`` reads
SOURCE_FORMATS = ("pytorch", "tensorflow")


def _official_files(model_id: str, files: dict[str, str], sources: list[Path]) -> dict[str, Path]:
    """prefix -> path of each file of a release made of several (``IMPORT_FILES``): from one
    folder holding them all, or from the files themselves, matched by name."""
    names = " and ".join(files.values())
    if len(sources) == 1 and sources[0].is_dir():
        found = {prefix: sources[0] / name for prefix, name in files.items()}
        absent = [p.name for p in found.values() if not p.is_file()]
        if absent:
            raise CamkitError(f"{sources[0]} holds no {' or '.join(absent)}; pass the folder of "
                              f"the official {model_id} release ({names})")
        return found
    by_name = {name: prefix for prefix, name in files.items()}
    found = {}
    for src in sources:
        if src.name not in by_name:
            raise CamkitError(f"{src} is not one of the official {model_id} files; pass {names}, "
                              f"or the folder holding them")
        found[by_name[src.name]] = src
    absent = [name for prefix, name in files.items() if prefix not in found]
    if absent:
        raise CamkitError(f"{model_id} imports {names} together; add {' and '.join(absent)}, or "
                          f"pass the folder holding them")
    return found


def import_weights(
    model_id: str, src: Path | list[Path], out_dir: Path, variant: str | None,
    source_format: str = "pytorch",
) -> Path:
    """Convert an official checkpoint into a camkit safetensors checkpoint; returns its path.

    ``source_format`` "pytorch": a .pth file, read weights-only, mapped by the model's
    ``import_state_dict``; "tensorflow": a TF checkpoint prefix (PREFIX.index + .data shards),
    read without TensorFlow (toolkit/tf_checkpoint.py), mapped by ``import_tf_variables``.
    A model whose release is several .pth files names them in ``IMPORT_FILES`` (key prefix ->
    file name); ``src`` is then those files or the folder holding them, and each file's keys
    reach ``import_state_dict`` prefixed ``<prefix>.``. ``IMPORT_VARIANT`` is the default
    variant. The output is written only after the weights loaded strictly into the model.
    """
    from toolkit import registry
    from toolkit.errors import unknown

    mod = registry.model_module(model_id)
    if source_format not in SOURCE_FORMATS:
        raise unknown("source format", source_format, SOURCE_FORMATS)
    sources = [Path(p) for p in src] if isinstance(src, (list, tuple)) else [Path(src)]
    multi = getattr(mod, "IMPORT_FILES", None)
    if len(sources) > 1 and multi is None:
        raise CamkitError(f"{model_id} imports one checkpoint; pass a single source")
    if source_format == "tensorflow":
        return _import_tensorflow(mod, model_id, sources[0], out_dir, variant)
    if variant is None and hasattr(mod, "IMPORT_VARIANT"):
        variant = mod.IMPORT_VARIANT  # the architecture the official weights have
    variant = registry.check_variant(model_id, variant)
    if multi is not None:
        return _import_files(mod, model_id, _official_files(model_id, multi, sources), out_dir,
                             variant)
    src = sources[0]
    takes_tf = hasattr(mod, "import_tf_variables")
    if not hasattr(mod, "import_state_dict"):
        if takes_tf:
            raise CamkitError(
                f"{model_id} imports TensorFlow checkpoints, not .pth files; pass --from "
                f"tensorflow and the checkpoint prefix"
            )
        raise CamkitError(f"{model_id} has no importer for foreign weights yet")
    is_tf = src.suffix in (".index", ".meta") or src.name.endswith(".data-00000-of-00001")
    if is_tf or (not src.exists() and src.with_name(src.name + ".index").is_file()):
        raise CamkitError(f"{src} is a TensorFlow checkpoint; {model_id} imports .pth files")
    raw = _read_foreign_pth(src)
    check_finite(raw, str(src), "get a clean copy of the official weights")  # before any mapping
    state = mod.import_state_dict(raw)
    net = mod.build(variant)
    _strict_load(net, state, str(src))
    out = Path(out_dir) / f"{model_id}-{variant}.safetensors"
    info = {"source": str(src), "source_sha256": sha256_path(src), "imported": True}
    save_checkpoint(out, net.state_dict(), model_id, variant, info)
    return out


def _import_files(mod: ModuleType, model_id: str, files: dict[str, Path], out_dir: Path,
                  variant: str) -> Path:
    raw = {}
    for prefix, path in files.items():
        part = _read_foreign_pth(path)
        check_finite(part, str(path), "get a clean copy of the official weights")
        raw.update({f"{prefix}.{key}": value for key, value in part.items()})
    state = mod.import_state_dict(raw)
    net = mod.build(variant)
    _strict_load(net, state, " + ".join(str(p) for p in files.values()))
    out = Path(out_dir) / f"{model_id}-{variant}.safetensors"
    info = {"source": {p.name: str(p) for p in files.values()},
            "source_sha256": {p.name: sha256_path(p) for p in files.values()}, "imported": True}
    save_checkpoint(out, net.state_dict(), model_id, variant, info)
    return out


def _import_tensorflow(
    mod: ModuleType, model_id: str, src: Path, out_dir: Path, variant: str | None
) -> Path:
    from toolkit import registry
    from toolkit.tf_checkpoint import checkpoint_prefix, read_tf_checkpoint

    if not hasattr(mod, "import_tf_variables"):
        raise CamkitError(
            f"{model_id} has no importer for TensorFlow checkpoints; pass --from pytorch"
        )
    if variant is None and hasattr(mod, "IMPORT_VARIANT"):
        variant = mod.IMPORT_VARIANT  # the architecture the official weights have
    variant = registry.check_variant(model_id, variant)
    prefix = checkpoint_prefix(src)
    state = mod.import_tf_variables(read_tf_checkpoint(prefix))
    check_finite(state, str(prefix), "get a clean copy of the official weights")
    net = mod.build(variant)
    _strict_load(net, state, str(prefix))
    out = Path(out_dir) / f"{model_id}-{variant}.safetensors"
    files = sorted(
        p for p in prefix.parent.iterdir()
        if p.name == f"{prefix.name}.index" or p.name.startswith(f"{prefix.name}.data-")
    )
    info = {
        "source": str(prefix),
        "source_format": "tensorflow",
        "source_sha256": {p.name: sha256_path(p) for p in files},
        "imported": True,
    }
    save_checkpoint(out, net.state_dict(), model_id, variant, info)
    return out
