"""Finds models and formats by name: one registry for built-in and external models.

Models come from four places, all with the same contract (a folder holding ``model.py`` with
SPEC, VARIANTS and build(), ``card.yaml``, and optionally ``checkpoints/<variant>.safetensors``):

* **built-in**: ``toolkit/models/<id>/``;
* **a folder** given on the command line (``camkit export ./my_models/my_isp``,
  ``camkit list --models ./my_models``) or through the Python API (``add_model_folder``);
* **``CAMKIT_MODEL_PATH``**: a list of folders (``os.pathsep``-separated), each a model folder
  or a folder of model folders;
* **plugins**: installed packages that declare an entry point in the ``camkit.models`` group,
  ``my_isp = "my_team_models.my_isp"``, naming the package (folder) that holds the model, so
  ``pip install my-team-models`` adds models.

A model's id is its folder's name (an entry point's name for a plugin) and must equal
``SPEC.model_id``; an id found in two places is an error naming both (one id, one model).
Discovery reads folder names and entry-point metadata only: a model module is imported when
asked for, and format modules import their heavy converters inside functions, so ``camkit
list`` is fast and works without any optional extra installed.

Each model's *source* (where it came from and the sha256 of its code) is recorded in every
manifest, so ``camkit check`` finds an external model again and refuses to rebuild a float
reference from code that changed since the export (``require_manifest_model``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import yaml

from toolkit.errors import CamkitError, missing_extra, unknown
from toolkit.spec import PRECISIONS, ModelSpec, Tolerance

_ROOT = Path(__file__).resolve().parent
MODELS_DIR = _ROOT / "models"
FORMATS_DIR = _ROOT / "conversion"

FORMAT_NAMES = ("name", "suffix", "precisions", "extra", "requires", "export", "load")
#: the entry-point group installed packages add models through
ENTRY_POINT_GROUP = "camkit.models"
#: the environment variable listing folders of external models
MODEL_PATH_ENV = "CAMKIT_MODEL_PATH"
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from. ``kind``: builtin, folder or plugin; ``folder``: the folder
    holding model.py and card.yaml (None for a plugin until its package is located);
    ``module``: the import name of its model.py; ``plugin``: "distribution version:
    entry-point value" for a plugin."""

    model_id: str
    #: builtin, folder, plugin, or module (an in-memory torch module given to the Python API)
    kind: str
    folder: Path | None
    module: str
    plugin: str | None = None

    def describe(self) -> str:
        if self.kind == "builtin":
            return "built-in"
        if self.kind == "module":
            return self.plugin or "an in-memory module"
        if self.kind == "plugin":
            return f"plugin {self.plugin}"
        return f"folder {self.folder}"


#: folders added in this process (command-line paths, --models, the Python API)
_added: list[Path] = []
#: in-memory modules given to the Python API in this process: id -> (model module, its card)
_in_memory: dict[str, tuple[ModuleType, "Card"]] = {}


def _is_model_folder(folder: Path) -> bool:
    return (folder / "model.py").is_file()


def _folder_module_name(folder: Path) -> str:
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:10]
    return f"_camkit_model_{folder.name}_{digest}.model"


def _models_in(folder: Path) -> list[Path]:
    """Model folders a search folder means: itself, or its children that are model folders."""
    if _is_model_folder(folder):
        return [folder]
    try:
        return sorted(p for p in folder.iterdir()
                      if p.is_dir() and not p.name.startswith(("_", ".")) and _is_model_folder(p))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def _search_folders(model_path: str, added: tuple[Path, ...]) -> list[Path]:
    env = [Path(p).expanduser() for p in model_path.split(os.pathsep) if p]
    return [p.resolve() for p in [*env, *added]]


@lru_cache(maxsize=1)
def _plugin_sources() -> tuple[ModelSource, ...]:
    """The installed plugins' models (read once per process: entry points are metadata)."""
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        who = f"{dist.name} {dist.version}" if dist is not None else "?"
        found.append(ModelSource(ep.name, "plugin", None, f"{ep.value}.model",
                                 f"{who}: {ep.value}"))
    return tuple(found)


def _all_sources() -> dict[str, ModelSource]:
    sources = dict(_sources_for(os.environ.get(MODEL_PATH_ENV, ""), tuple(_added)))
    for model_id, (mod, _) in _in_memory.items():
        if model_id in sources:  # add_module refuses this; a folder added later may not
            raise CamkitError(f"model id '{model_id}' is both an in-memory module and "
                              f"{sources[model_id].describe()}; give the module another id")
        sources[model_id] = ModelSource(model_id, "module", None, mod.__name__,
                                        f"in-memory {mod.MODULE_CLASS}")
    return sources


@lru_cache(maxsize=8)
def _sources_for(model_path: str, added: tuple[Path, ...]) -> tuple[tuple[str, ModelSource], ...]:
    """Every model source for this CAMKIT_MODEL_PATH and these added folders (cached: commands
    look models up often; a folder's contents are read once per process)."""
    sources: dict[str, ModelSource] = {}

    def add(src: ModelSource) -> None:
        old = sources.get(src.model_id)
        if old is not None and old != src:
            raise CamkitError(f"model id '{src.model_id}' is both {old.describe()} and "
                              f"{src.describe()}; rename one (a model id names one model)")
        sources[src.model_id] = src

    for p in MODELS_DIR.iterdir():
        if p.is_dir() and not p.name.startswith("_") and _is_model_folder(p):
            add(ModelSource(p.name, "builtin", p, f"toolkit.models.{p.name}.model"))
    for search in _search_folders(model_path, added):
        for folder in _models_in(search):
            if not _ID.match(folder.name):
                raise CamkitError(f"model folder {folder}: its name is the model id and must be "
                                  f"letters, digits and '_' (not starting with a digit)")
            add(ModelSource(folder.name, "folder", folder, _folder_module_name(folder)))
    for src in _plugin_sources():
        add(src)
    return tuple(sources.items())


def model_ids() -> list[str]:
    return sorted(_all_sources())


def model_source(model_id: str) -> ModelSource:
    """Where ``model_id`` comes from (a plugin's folder located: its package is imported)."""
    sources = _all_sources()
    if model_id not in sources:
        raise unknown("model", model_id, sorted(sources))
    src = sources[model_id]
    if src.folder is None and src.kind == "plugin":  # locate its package
        package = src.module.removesuffix(".model")
        try:
            spec = importlib.util.find_spec(package)
        except ImportError as e:
            raise CamkitError(f"plugin model {model_id} ({src.plugin}) cannot be imported: {e}; "
                              f"reinstall the package that provides it") from None
        if spec is None or not spec.submodule_search_locations:
            raise CamkitError(f"plugin model {model_id}: entry point {src.plugin} must name a "
                              f"package (a folder with model.py and card.yaml)")
        src = ModelSource(model_id, "plugin", Path(list(spec.submodule_search_locations)[0]),
                          src.module, src.plugin)
    return src


def add_model_folder(path: str | Path) -> list[str]:
    """Make the models of ``path`` (a model folder, or a folder of them) known to this process;
    returns their ids. Errors: no such folder, no model in it, an id that collides."""
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise CamkitError(f"model folder {path} does not exist; pass a folder holding model.py "
                          f"and card.yaml (camkit new-model writes one)")
    found = _models_in(folder)
    if not found:
        raise CamkitError(f"{path} holds no model: a model folder has a model.py (with SPEC, "
                          f"VARIANTS and build) and a card.yaml")
    if folder not in _added:
        _added.append(folder)
        try:
            _all_sources()  # collisions are reported now, by the command that added it
        except CamkitError:
            _added.remove(folder)
            raise
    return [f.name for f in found]


def resolve_model(text: str | Path) -> str:
    """The model id ``text`` means: an id, or a path to a model folder (added on the way)."""
    text = str(text)
    if os.sep in text or "/" in text or text.startswith(".") or Path(text).is_dir():
        path = Path(text)
        if path.is_dir() and _is_model_folder(path):
            return add_model_folder(path)[0]
        if path.is_dir() or os.sep in text or "/" in text:
            raise CamkitError(f"{text} is not a model folder: it needs a model.py (with SPEC, "
                              f"VARIANTS and build) and a card.yaml")
    if text not in model_ids():
        raise unknown("model", text, model_ids())
    return text


def format_names() -> list[str]:
    return sorted(p.stem for p in FORMATS_DIR.glob("*.py") if not p.stem.startswith("_"))


@lru_cache(maxsize=None)
def _import_source(src: ModelSource) -> ModuleType:
    if src.kind != "folder":
        return importlib.import_module(src.module)
    package = src.module.removesuffix(".model")
    if package not in sys.modules:
        init = src.folder / "__init__.py"
        if init.is_file():
            spec = importlib.util.spec_from_file_location(
                package, init, submodule_search_locations=[str(src.folder)])
            module = importlib.util.module_from_spec(spec)
            sys.modules[package] = module
            spec.loader.exec_module(module)
        else:  # a plain folder: a package made on the fly, so model.py may import its siblings
            module = ModuleType(package)
            module.__path__ = [str(src.folder)]
            sys.modules[package] = module
    return importlib.import_module(src.module)


def model_module(model_id: str) -> ModuleType:
    """The model's ``model.py``: blocks, model, VARIANTS, SPEC, build()."""
    src = model_source(model_id)
    if src.kind == "module":
        return _in_memory[model_id][0]
    try:
        mod = _import_source(src)
    except CamkitError:
        raise
    except Exception as e:
        if src.kind == "builtin":
            raise
        raise CamkitError(f"model {model_id} ({src.describe()}): model.py failed to import: "
                          f"{type(e).__name__}: {e}") from e
    for name in ("SPEC", "VARIANTS", "build"):
        if not hasattr(mod, name):
            raise CamkitError(f"model {model_id} ({src.describe()}): model.py lacks {name}; "
                              f"see docs/your_own_model.md")
    if mod.SPEC.model_id != model_id:
        raise CamkitError(f"model {model_id} ({src.describe()}): SPEC.model_id is "
                          f"'{mod.SPEC.model_id}'; make it the folder's name, '{model_id}'")
    return mod


def model_spec(model_id: str) -> ModelSpec:
    return model_module(model_id).SPEC


def code_sha256(model_id: str) -> str:
    """sha256 over the model's code: every .py file of its folder but its training recipe
    (``train.py``), relative path and bytes, sorted (checkpoints/ and caches left out): what
    builds the float model a check compares with. Budgets (card.yaml) and recipes may change
    without invalidating an export. An in-memory module: its class, structure and weights."""
    src = model_source(model_id)
    digest = hashlib.sha256()
    if src.kind == "module":
        net = _in_memory[model_id][0].MODULE
        digest.update(f"{type(net).__module__}.{type(net).__qualname__}\n{net!r}".encode())
        for key, value in net.state_dict().items():
            digest.update(key.encode() + b"\0")
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()
    folder = src.folder
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.suffix == ".py" and p.name != "train.py"
                   and not {"__pycache__", "checkpoints", "runs"} & set(p.parts))
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def source_record(model_id: str) -> dict:
    """The manifest's ``model_source``: kind, folder, plugin and the sha256 of the code."""
    src = model_source(model_id)
    record = {"kind": src.kind, "folder": None if src.folder is None else str(src.folder),
              "plugin": src.plugin, "code_sha256": code_sha256(model_id)}
    if src.kind == "module":  # what a later check needs without the module (its stored sample)
        from dataclasses import asdict

        record["module_class"] = src.plugin.removeprefix("in-memory ")
        record["spec"] = asdict(model_spec(model_id))
    return record


def require_manifest_model(manifest: dict) -> str:
    """The model of an artifact's manifest, found again (an external folder is added from the
    path it records) with the same code; a one-line error when it is gone or changed."""
    model_id = manifest["model_id"]
    record = manifest.get("model_source")
    if record is None or record.get("kind") == "builtin":  # older manifests record none
        return model_id
    if record.get("kind") == "module":
        return _require_module(manifest, record)
    if model_id not in model_ids() and record.get("kind") == "folder":
        folder = Path(record["folder"])
        if not _is_model_folder(folder):
            return _gone(model_id, record)
        add_model_folder(folder)
    if model_id not in model_ids():
        return _gone(model_id, record)
    now = code_sha256(model_id)
    if now != record.get("code_sha256"):
        src = model_source(model_id)
        raise CamkitError(
            f"the code of model {model_id} ({src.describe()}) changed since this artifact was "
            f"exported (sha256 {str(record.get('code_sha256'))[:12]}... then, {now[:12]}... "
            f"now): its float reference would not be the exported model's; restore the code "
            f"or export again")
    return model_id


def _require_module(manifest: dict, record: dict) -> str:
    """An in-memory module's artifact: the module given again (camkit.check(..., model=)) with
    the same code and weights, or, without it, its spec from the manifest so the check can
    compare with the output stored at export (the report says so)."""
    model_id = manifest["model_id"]
    if model_id in _in_memory:
        if _in_memory[model_id][0].MODULE_STORED:
            return model_id
        now = code_sha256(model_id)
        if now != record.get("code_sha256"):
            raise CamkitError(
                f"the module given for {model_id} is not the one exported (its class, structure "
                f"or weights differ: sha256 {str(record.get('code_sha256'))[:12]}... then, "
                f"{now[:12]}... now); pass the exported module, or export again")
        return model_id
    spec = spec_from_dict(record["spec"])
    _in_memory[model_id] = (_stored_module(spec, record), _default_card(model_id))
    return model_id


def spec_from_dict(raw: dict) -> ModelSpec:
    """A ModelSpec from its ``dataclasses.asdict`` form (JSON lists back to tuples)."""
    from toolkit.spec import TensorSpec

    def tensor(t: dict) -> TensorSpec:
        return TensorSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in t.items()})

    fields = dict(raw)
    fields["inputs"] = tuple(tensor(t) for t in raw["inputs"])
    fields["outputs"] = tuple(tensor(t) for t in raw["outputs"])
    fields["variants"] = tuple(raw["variants"])
    fields["baselines"] = tuple(raw.get("baselines", ()))
    fields["default_size"] = {k: tuple(v) for k, v in raw.get("default_size", {}).items()}
    return ModelSpec(**fields)


def add_module(net, spec: ModelSpec, tolerances: dict | None = None) -> str:
    """Make an in-memory ``torch.nn.Module`` a model of this process (the Python API's
    ``camkit.export(module, spec=...)``): ``build(variant)`` gives a copy of it with its own
    weights (or a checkpoint's). ``tolerances``: format -> precision -> {psnr_db_min, ssim_min,
    task_drop_db_max}, default the generic budgets of ``DEFAULT_TOLERANCES``."""
    import copy

    model_id = spec.model_id
    if not _ID.match(model_id):
        raise CamkitError(f"ModelSpec.model_id '{model_id}' must be letters, digits and '_'")
    known = dict(_sources_for(os.environ.get(MODEL_PATH_ENV, ""), tuple(_added)))
    if model_id in known:
        raise CamkitError(f"model id '{model_id}' is already {known[model_id].describe()}; give "
                          f"the module's ModelSpec another model_id")
    mod = ModuleType(f"_camkit_in_memory_{model_id}")
    mod.SPEC, mod.VARIANTS = spec, {v: {} for v in spec.variants}
    mod.MODULE, mod.MODULE_STORED = net, False
    mod.MODULE_CLASS = f"{type(net).__module__}.{type(net).__qualname__}"

    def build(variant: str, checkpoint=None):
        from toolkit.checkpoints import load_weights

        copied = copy.deepcopy(net)
        if checkpoint is not None:
            load_weights(copied, checkpoint, model_id, variant)
        return copied.eval()

    mod.build = build
    card = _default_card(model_id) if tolerances is None else _card_from(
        model_id, {"model_id": model_id, "summary": spec.title, "license": "not stated",
                   "tolerances": tolerances}, "tolerances")
    _in_memory[model_id] = (mod, card)
    return model_id


def _stored_module(spec: ModelSpec, record: dict) -> ModuleType:
    mod = ModuleType(f"_camkit_stored_{spec.model_id}")
    mod.SPEC, mod.VARIANTS = spec, {v: {} for v in spec.variants}
    mod.MODULE, mod.MODULE_STORED = None, True
    mod.MODULE_CLASS = record.get("module_class", "?")

    def build(variant: str, checkpoint=None):
        raise CamkitError(f"{spec.model_id} was an in-memory module ({mod.MODULE_CLASS}): pass "
                          f"it to camkit.check(..., model=MODULE), or accept the output stored "
                          f"at export (accept_stored_sample=True, --accept-stored-sample)")

    mod.build = build
    return mod


def _gone(model_id: str, record: dict | None) -> str:
    where = ""
    if record:
        where = f" (exported from {record.get('plugin') or record.get('folder')})"
    raise CamkitError(f"model {model_id}{where} is not known here; pass its folder with "
                      f"--models DIR, set {MODEL_PATH_ENV}, or install its plugin")


def check_variant(model_id: str, variant: str | None) -> str:
    """The variant name, validated; ``None`` means the spec's default variant."""
    spec = model_spec(model_id)
    if variant is None:
        return spec.default_variant
    if variant not in spec.variants:
        raise unknown(f"variant of {model_id}", variant, spec.variants)
    return variant


@lru_cache(maxsize=None)
def format_module(name: str) -> ModuleType:
    if name not in format_names():
        raise unknown("format", name, format_names())
    mod = importlib.import_module(f"toolkit.conversion.{name}")
    missing = [n for n in FORMAT_NAMES if not hasattr(mod, n)]
    if missing:
        raise CamkitError(f"format module {name} lacks {', '.join(missing)}; see DESIGN.md")
    return mod


def format_available(name: str) -> bool:
    """True when every package the format's converter needs is importable."""
    return all(importlib.util.find_spec(pkg) is not None for pkg in format_module(name).requires)


def require_format(name: str) -> ModuleType:
    """The format module, or a one-line error naming the extra to install."""
    mod = format_module(name)
    for pkg in mod.requires:
        if importlib.util.find_spec(pkg) is None:
            raise missing_extra(pkg, mod.extra)
    return mod


def load_runner(manifest_path: Path, manifest: dict):
    """The Runner of the artifact a manifest describes (its format module's ``load``, quietly)."""
    from toolkit._quiet import quiet

    with quiet():
        return format_module(manifest["format"]).load(
            Path(manifest_path).parent / manifest["artifact"]["file"]
        )


def check_precision(fmt: str, precision: str) -> str:
    if precision not in PRECISIONS:
        raise unknown("precision", precision, PRECISIONS)
    supported = format_module(fmt).precisions
    if precision not in supported:
        raise CamkitError(
            f"format {fmt} does not export precision {precision} yet; it exports: "
            f"{', '.join(supported)}"
        )
    return precision


# ---------------------------------------------------------------- model cards


@dataclass(frozen=True)
class Card:
    """A model's card.yaml: who made it, its licence, and the budgets its artifacts must meet."""

    model_id: str
    summary: str
    license: str
    tolerances: dict[str, dict[str, Tolerance]]
    #: format -> precision -> why this model does not export to it (card.yaml ``not_exported``)
    not_exported: dict[str, dict[str, str]] = field(default_factory=dict)

    def refusal(self, fmt: str, precision: str) -> str | None:
        """Why ``fmt`` x ``precision`` is not exported for this model, or None."""
        return self.not_exported.get(fmt, {}).get(precision)

    def tolerance(self, fmt: str, precision: str) -> Tolerance:
        try:
            return self.tolerances[fmt][precision]
        except KeyError:
            raise CamkitError(
                f"card.yaml of {self.model_id} has no budget for {fmt}/{precision}; add one under "
                f"tolerances.{fmt}.{precision}"
            ) from None


_CARD_KEYS = {"model_id", "summary", "license", "tolerances"}
_OPTIONAL_CARD_KEYS = {"not_exported"}
_TOL_KEYS = {"psnr_db_min", "ssim_min", "task_drop_db_max"}


def _strict_keys(where: str, got: dict, allowed: set[str], required: set[str]) -> None:
    for key in got:
        if key not in allowed:
            raise unknown(f"key in {where}", str(key), allowed)
    missing = required - set(got)
    if missing:
        raise CamkitError(f"{where} lacks {', '.join(sorted(missing))}")


def card(model_id: str) -> Card:
    src = model_source(model_id)
    if src.kind == "module":
        return _in_memory[model_id][1]
    return _card(src)


#: the budgets of a model that brings none (an in-memory module given without tolerances; the
#: card `camkit new-model` writes): fp32 must match (60 dB), fp16 keeps 40 dB, int8 30-40 dB
DEFAULT_TOLERANCES = {
    fmt: {"fp32": {"psnr_db_min": 60, "ssim_min": 0.9999, "task_drop_db_max": 0.05},
          "fp16": {"psnr_db_min": 40, "ssim_min": 0.995, "task_drop_db_max": 0.5},
          "w8a8": {"psnr_db_min": 30, "ssim_min": 0.95, "task_drop_db_max": 0.3},
          **({"w8a16": {"psnr_db_min": 35 if fmt == "onnx" else 40,
                        "ssim_min": 0.985 if fmt == "onnx" else 0.99,
                        "task_drop_db_max": 0.05}} if fmt != "coreml" else {})}
    for fmt in ("onnx", "litert", "coreml")
}


def _default_card(model_id: str) -> Card:
    return _card_from(model_id, {
        "model_id": model_id, "summary": "", "license": "not stated",
        "tolerances": DEFAULT_TOLERANCES}, "DEFAULT_TOLERANCES")


@lru_cache(maxsize=None)
def _card(src: ModelSource) -> Card:
    path = src.folder / "card.yaml"
    if not path.is_file():
        raise CamkitError(f"model {src.model_id} ({src.describe()}) has no card.yaml; add one "
                          f"with its budgets (camkit new-model writes one)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise CamkitError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise CamkitError(f"{path} must be a mapping (model_id, summary, license, tolerances)")
    return _card_from(src.model_id, raw, str(path))


def _card_from(model_id: str, raw: dict, path: str) -> Card:
    """A Card from a card.yaml's mapping, every key checked (``path`` names it in errors)."""
    _strict_keys(str(path), raw, _CARD_KEYS | _OPTIONAL_CARD_KEYS, _CARD_KEYS)
    if raw["model_id"] != model_id:
        raise CamkitError(f"{path}: model_id is '{raw['model_id']}'; make it '{model_id}', "
                          f"the model's id")
    tolerances: dict[str, dict[str, Tolerance]] = {}
    for fmt, per_precision in raw["tolerances"].items():
        if fmt not in format_names():
            raise unknown(f"format in {path}", fmt, format_names())
        tolerances[fmt] = {}
        for precision, tol in per_precision.items():
            if precision not in PRECISIONS:
                raise unknown(f"precision in {path}", precision, PRECISIONS)
            _strict_keys(f"{path} tolerances.{fmt}.{precision}", tol, _TOL_KEYS, _TOL_KEYS)
            tolerances[fmt][precision] = Tolerance(**{k: float(v) for k, v in tol.items()})
    refused: dict[str, dict[str, str]] = {}
    for fmt, per_precision in (raw.get("not_exported") or {}).items():  # optional key
        if fmt not in format_names():
            raise unknown(f"format in {path} not_exported", fmt, format_names())
        for precision, why in per_precision.items():
            if precision not in PRECISIONS or not isinstance(why, str) or not why.strip():
                raise CamkitError(f"{path} not_exported.{fmt}.{precision} must be a precision id "
                                  f"with a one-line reason")
            refused.setdefault(fmt, {})[precision] = " ".join(why.split())
    return Card(raw["model_id"], raw["summary"], raw["license"], tolerances, refused)
