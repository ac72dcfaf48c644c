"""Checkpoints: safetensors weights with a small JSON header, and importers for foreign files.

A camkit checkpoint is one ``.safetensors`` file whose metadata holds ``model_id``, ``variant``
and a JSON ``info`` blob (training step, data, metrics); a readable ``<stem>.json`` copy of that
metadata sits beside it. Foreign ``.pth`` files are read with ``torch.load(weights_only=True)``:
nothing is ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from toolkit.artifacts import atomic_write_bytes, atomic_write_json, sha256_path
from toolkit.errors import CamkitError

SHIPPED_DIRNAME = "checkpoints"


def shipped_checkpoint(model_id: str, variant: str) -> Path | None:
    """The checkpoint the repo ships for a variant, or None."""
    from toolkit.registry import MODELS_DIR

    path = MODELS_DIR / model_id / SHIPPED_DIRNAME / f"{variant}.safetensors"
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


def load_weights(net: nn.Module, path: Path, model_id: str, variant: str) -> nn.Module:
    """Load a camkit checkpoint into ``net``, checking model id, variant and every key."""
    state, meta = read_checkpoint(path)
    got_model, got_variant = meta.get("model_id"), meta.get("variant")
    if got_model != model_id or got_variant != variant:
        raise CamkitError(
            f"checkpoint {path} holds {got_model}/{got_variant}, not {model_id}/{variant}; "
            f"pass --variant {got_variant} or the right checkpoint"
        )
    _strict_load(net, state, str(path))
    return net


def checkpoint_info(path: Path) -> dict[str, Any]:
    """The training info stored in a checkpoint (step, data, metrics), plus its sha256."""
    _, meta = read_checkpoint(path)
    return {"sha256": sha256_path(path), **json.loads(meta.get("info", "{}"))}


def _strict_load(net: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
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
    net.load_state_dict(state, strict=True)


def _few(keys: list[str]) -> str:
    head = ", ".join(keys[:3])
    return head + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")


# ----------------------------------------------------------------------------------- importers


def _read_foreign_pth(src: Path) -> dict[str, torch.Tensor]:
    if not src.is_file():
        raise CamkitError(f"{src} does not exist; pass the path of the official checkpoint")
    try:
        raw = torch.load(str(src), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad pickles and zips
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CamkitError(
            f"cannot read {src} as a weights-only PyTorch checkpoint ({first}); it may be truncated, "
            f"or hold pickled code, which camkit never loads"
        ) from None
    for key in ("params_ema", "params", "state_dict", "model", "net_g"):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
            break
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CamkitError(f"{src} holds no state_dict of tensors; is it a model checkpoint?")
    return raw


#: what ``camkit import-weights --from`` reads
SOURCE_FORMATS = ("pytorch", "tensorflow")


def import_weights(
    model_id: str, src: Path, out_dir: Path, variant: str | None, source_format: str = "pytorch"
) -> Path:
    """Convert an official checkpoint into a camkit safetensors checkpoint; returns its path.

    ``source_format`` "pytorch": a .pth file, read weights-only, mapped by the model's
    ``import_state_dict``; "tensorflow": a TF checkpoint prefix (PREFIX.index + .data shards),
    read without TensorFlow (toolkit/tf_checkpoint.py), mapped by ``import_tf_variables``.
    The output is written only after the weights loaded strictly into the model.
    """
    from toolkit import registry
    from toolkit.errors import unknown

    mod = registry.model_module(model_id)
    if source_format not in SOURCE_FORMATS:
        raise unknown("source format", source_format, SOURCE_FORMATS)
    src = Path(src)
    if source_format == "tensorflow":
        return _import_tensorflow(mod, model_id, src, out_dir, variant)
    variant = registry.check_variant(model_id, variant)
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
    state = mod.import_state_dict(_read_foreign_pth(src))
    net = mod.build(variant)
    _strict_load(net, state, str(src))
    out = Path(out_dir) / f"{model_id}-{variant}.safetensors"
    info = {"source": str(src), "source_sha256": sha256_path(src), "imported": True}
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
