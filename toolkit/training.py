"""``camkit train CONFIG.yaml`` or ``camkit train MODEL/VARIANT``: run the training recipe a YAML
belongs to.

A recipe by name (``retouch_csrnet/paper``, or ``retouch_csrnet`` for the model's default
variant) is the YAML camkit ships (``recipes/`` in a clone, inside the package when installed:
toolkit/paths.py); its run goes under the working directory (the YAML's ``run_dir``, e.g.
``runs/retouch_csrnet/paper``), never into the package. A path to any YAML works as before.

A recipe is a folder ``<root>/recipes/<model_id>/`` holding ``train.py`` and one YAML per variant.
The toolkit never imports ``recipes`` statically: this module loads the ``train.py`` beside the
YAML by file path, with ``<root>`` on ``sys.path`` so the recipe can import the shared engine
(``recipes._common``). A ``train.py`` that is a symlink is followed, so a YAML can sit in any
folder beside a link to a recipe's ``train.py``. A ``train.py`` outside any ``recipes/`` folder
(a model folder of the user's own, as ``camkit new-model`` writes) runs on camkit's own engine
(the bundled ``recipes/_common``). ``train.py`` must define ``run(config_path, *, root, resume,
max_steps, run_dir) -> Path``; one that also takes ``resume_with_new_config`` (every recipe in
the repo, forwarding it to ``trainer.run``) supports ``--resume-with-new-config``.

Relative paths inside the YAML (data folders, run_dir) resolve against ``<root>`` (the working
directory for a recipe outside ``recipes/``); ``run_dir`` given here resolves against the
working directory, as any command-line path.

Under torchrun the same call trains on every process with DDP (see recipes/_common/distributed.py).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

from toolkit.errors import CamkitError, unknown

RECIPE_FILE = "train.py"


def recipe_names() -> list[str]:
    """``MODEL/VARIANT`` of every recipe camkit ships."""
    from toolkit.paths import recipes_root

    root = recipes_root()
    if not root.is_dir():
        return []
    return sorted(f"{y.parent.name}/{y.stem}" for y in root.glob("*/*.yaml")
                  if not y.parent.name.startswith("_") and (y.parent / RECIPE_FILE).is_file())


def resolve_config(config: str | Path) -> tuple[Path, Path | None]:
    """(the recipe YAML, the run dir a named recipe defaults to, else None) for ``config``: a
    path to a YAML, or a shipped recipe's name ``MODEL/VARIANT`` (``MODEL``: its default
    variant)."""
    from toolkit.paths import recipes_root

    text = str(config)
    path = Path(config)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise CamkitError(f"config {path} {what}; pass a recipe YAML or a recipe name such "
                              f"as retouch_csrnet/paper (camkit train --list)")
        return path, None
    parts = text.strip("/").split("/")
    if len(parts) == 1:
        from toolkit import registry

        if parts[0] not in registry.model_ids():
            raise unknown("recipe", text, recipe_names())
        parts.append(registry.model_spec(parts[0]).default_variant)
    if len(parts) != 2 or f"{parts[0]}/{parts[1]}" not in recipe_names():
        raise unknown("recipe", text, recipe_names())
    yaml_path = recipes_root() / parts[0] / f"{parts[1]}.yaml"
    return yaml_path, Path.cwd() / _yaml_run_dir(yaml_path)


def _yaml_run_dir(yaml_path: Path) -> Path:
    import yaml

    try:
        run_dir = yaml.safe_load(yaml_path.read_text())["run_dir"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        raise CamkitError(f"{yaml_path} is not a recipe YAML with a run_dir; reinstall camkit "
                          f"or pass a YAML of your own") from None
    return Path(str(run_dir))


def run_recipe(
    config_path: str | Path, *, resume: bool = False, max_steps: int | None = None,
    run_dir: Path | None = None, resume_with_new_config: bool = False,
) -> Path:
    """Train the run ``config_path`` (a YAML, or a shipped recipe's name) describes; returns the
    path of the final checkpoint.

    ``resume``: continue from the run dir's saved state (an error when there is none; without it,
    a run dir that already holds a run is an error). ``max_steps``: train to this step count
    instead of the YAML's ``train.steps``. ``run_dir``: write there instead of the YAML's run_dir.
    ``resume_with_new_config``: resume (it implies ``resume``) although the YAML changes keys of
    the config the run started with; without it such a resume is an error listing the changes.
    """
    config_path, named_run_dir = resolve_config(config_path)
    if run_dir is None:
        run_dir = named_run_dir
    if config_path.suffix not in (".yaml", ".yml"):
        raise CamkitError(f"{config_path} is not a YAML recipe (.yaml)")
    if max_steps is not None and max_steps < 1:
        raise CamkitError(f"--max-steps must be at least 1, got {max_steps}")
    module, root = load_recipe(config_path)
    extra = {}
    if resume_with_new_config:  # passed only when asked: a recipe's run() may predate it
        if "resume_with_new_config" not in inspect.signature(module.run).parameters:
            raise CamkitError(f"the recipe of {config_path} cannot resume with a new config: its "
                              f"run() takes no resume_with_new_config (forward it to trainer.run)")
        extra["resume_with_new_config"] = True
    return module.run(config_path, root=root, resume=resume or resume_with_new_config,
                      max_steps=max_steps, run_dir=None if run_dir is None else Path(run_dir),
                      **extra)


def load_recipe(config_path: Path) -> tuple[ModuleType, Path]:
    """(the ``train.py`` module beside ``config_path``, the root its YAML's relative paths
    resolve against: the folder that holds ``recipes/`` for a recipe inside one, else the
    working directory)."""
    beside = Path(config_path).parent / RECIPE_FILE
    if not beside.is_file():
        raise CamkitError(
            f"no {RECIPE_FILE} beside {config_path}; a recipe YAML lives in "
            f"recipes/<model_id>/ next to its {RECIPE_FILE}"
        )
    script = beside.resolve()
    recipes_dir = script.parent.parent
    if recipes_dir.name == "recipes" and (recipes_dir / "__init__.py").is_file():
        root = recipes_dir.parent  # a shipped recipe (or one in a checkout's recipes/)
        engine = root
    else:
        # a recipe of the user's own (e.g. a `camkit new-model` folder's train.py): the engine,
        # recipes._common, is camkit's; the YAML's relative paths are the working directory's
        from toolkit.paths import bundled_root

        root, engine = Path.cwd(), bundled_root()
        if not (engine / "recipes" / "_common" / "trainer.py").is_file():
            raise CamkitError(f"camkit's training engine is missing from {engine / 'recipes'}; "
                              f"reinstall camkit")
    if str(engine) not in sys.path:
        sys.path.insert(0, str(engine))
    name = f"_camkit_recipe_{script.parent.name}"
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(script):
        module = sys.modules[name]
    else:
        spec = importlib.util.spec_from_file_location(name, script)
        if spec is None or spec.loader is None:
            raise CamkitError(f"cannot load {script} as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    if not callable(getattr(module, "run", None)):
        raise CamkitError(f"{script} defines no run(config_path, *, root, resume, max_steps, run_dir)")
    return module, root
