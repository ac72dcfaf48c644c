"""Strict recipe configs: YAML sections parsed into frozen dataclasses.

Every key must be a field of the dataclass (an unknown key is an error with the nearest
suggestion), every field without a default must be present, and values are type-checked against
the annotations: ``int``, ``float``, ``bool``, ``str``, ``Path``, ``tuple[X, ...]``,
``tuple[X, Y]``, ``dict[str, X]`` (a mapping with string keys), ``X | None`` and nested
dataclasses. Relative paths resolve against the project
root (the folder that holds ``recipes/``), so a recipe works from any working directory.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from toolkit.errors import CamkitError, unknown

T = TypeVar("T")


def load_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file, with one-line errors."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CamkitError(f"config {path} does not exist") from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise CamkitError(f"{path} is not valid YAML{line}: {problem}") from None
    if not isinstance(raw, dict):
        raise CamkitError(f"{path} must hold a mapping of keys (model, variant, data, train, ...)")
    return raw


def check_keys(where: str, raw: dict[str, Any], allowed: list[str], required: list[str]) -> None:
    for key in raw:
        if key not in allowed:
            raise unknown(f"key in {where}", str(key), allowed)
    missing = [k for k in required if k not in raw]
    if missing:
        raise CamkitError(f"{where} lacks {', '.join(missing)}; add it to the config")


def parse(cls: type[T], raw: Any, where: str, root: Path) -> T:
    """An instance of dataclass ``cls`` from a YAML mapping, strictly checked."""
    if not isinstance(raw, dict):
        raise CamkitError(f"{where} must be a mapping, got {_kind(raw)}")
    fields = [f for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    required = [
        f.name for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    check_keys(where, raw, [f.name for f in fields], required)
    hints = typing.get_type_hints(cls)
    values = {k: coerce(v, hints[k], f"{where}.{k}", root) for k, v in raw.items()}
    return cls(**values)


def as_plain(obj: Any, root: Path) -> Any:
    """A dataclass as JSON-ready data; paths under ``root`` become relative (portable records)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: as_plain(getattr(obj, f.name), root) for f in dataclasses.fields(obj)}
    if isinstance(obj, Path):
        return relative(obj, root)
    if isinstance(obj, (tuple, list)):
        return [as_plain(v, root) for v in obj]
    if isinstance(obj, dict):
        return {str(k): as_plain(v, root) for k, v in obj.items()}
    return obj


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else absolute; always with '/'."""
    path = Path(path).resolve()
    try:
        return path.relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def coerce(value: Any, tp: Any, where: str, root: Path) -> Any:
    """``value`` checked against the annotation ``tp`` (see the module docstring)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return coerce(value, inner, where, root)
    if dataclasses.is_dataclass(tp):
        return parse(tp, value, where, root)
    if origin is dict:
        if not isinstance(value, dict):
            raise CamkitError(f"{where} must be a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                raise CamkitError(f"{where} keys must be names, got {_kind(key)}")
        return {k: coerce(v, args[1], f"{where}.{k}", root) for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list):
            raise CamkitError(f"{where} must be a list, got {_kind(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{where}[{i}]", root) for i, v in enumerate(value))
        if len(value) != len(args):
            raise CamkitError(f"{where} must be a list of {len(args)} values, got {len(value)}")
        return tuple(coerce(v, a, f"{where}[{i}]", root) for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if not isinstance(value, bool):
            raise CamkitError(f"{where} must be true or false, got {_kind(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CamkitError(f"{where} must be a whole number, got {_kind(value)}")
        return value
    if tp is float:
        return _float(value, where)
    if tp is str:
        if not isinstance(value, str):
            raise CamkitError(f"{where} must be a string, got {_kind(value)}")
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise CamkitError(f"{where} must be a path, got {_kind(value)}")
        path = Path(value).expanduser()
        return path if path.is_absolute() else Path(root) / path
    raise TypeError(f"{where}: config fields of type {tp!r} are not supported")


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise CamkitError(f"{where} must be a number, got {_kind(value)}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    raise CamkitError(f"{where} must be a number, got {_kind(value)}")


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) < 40 else text[:37] + '...'}"
