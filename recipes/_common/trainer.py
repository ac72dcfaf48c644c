"""The generic training engine: a recipe brings networks, data and losses; this does the rest.

A recipe's ``train.py`` builds a ``Recipe`` (recipe.py) and calls ``run``. The YAML beside it has
five keys, plus the recipe's own ``Recipe.sections`` (e.g. a GAN's ``loss:``):

    model: retouch_csrnet         # must be the recipe's model id
    variant: paper                # a variant of that model
    run_dir: runs/retouch_csrnet/paper
    data: {...}                   # parsed strictly by the recipe's own dataclass
    train: {...}                  # TrainConfig below
    loss: {...}                   # a recipe section: parsed strictly into RunConfig.sections

``run`` parses the YAML (``load_config``), asks the recipe's ``configure`` hook, if any, for the
Recipe that config trains (``configured``), builds the ``fixed`` modules, reads the data and then
trains; nothing is written before the data is read.

The engine trains each optimizer group with Adam and a learning-rate schedule:
``lr_schedule: step`` (the default) multiplies ``lr`` by ``lr_gamma`` at each of
``lr_milestones``, like MultiStepLR; ``lr_schedule: cosine`` anneals ``lr`` to ``lr_min`` over
``steps`` along half a cosine, like CosineAnnealingLR with T_max = steps (NAFNet's schedule).
``lr``, ``betas``, ``weight_decay`` and the schedule keys apply to every group unless
``optimizers.<group>`` overrides them. It validates the exported network (PSNR/SSIM of the
clipped output, and of the input, against the target; plus an image grid) every
``val_every_steps``, logs (log.jsonl, metrics.csv, TensorBoard; see logs.py) and writes a camkit
checkpoint plus the training state every ``ckpt_every_steps`` and at the end (see runstate.py
for the run directory). A GAN recipe, e.g.:

    train:
      steps: 20000
      batch_size: 8
      lr: 1.0e-4                    # every group's unless overridden
      betas: [0.5, 0.999]
      optimizers:                   # per-group overrides; keys are the recipe's groups
        d: {lr: 4.0e-4}
      gan_start_step: 1000          # generator-only warm-up (phases with in_warmup=False wait)
      amp: true                     # CUDA: autocast to amp_dtype (bf16; fp16 adds a GradScaler)
      ema_decay: 0.999              # validate and export an EMA of the exported network
      val_every_steps: 500
      ckpt_every_steps: 500
      log_every_steps: 50           # a metrics.csv / TensorBoard row of mean training losses
      grid_rows: 4                  # validation samples in RUN_DIR/grids/step-XXXXXXX.png
      save_training_nets: true      # also checkpoints/<net>/step-XXXXXXX.safetensors

``amp: true`` on a CPU run is ignored with one notice (in log.jsonl and on stderr), so the same
YAML trains on a laptop and on a GPU. ``deterministic: true`` asks torch for deterministic
kernels (CUDA); CPU runs are bit-identical for a seed without it.

Resuming is explicit: ``resume=True`` (``camkit train --resume``) continues from ``state.pt`` and
refuses when there is none; without it a run dir that already holds a run is an error, so nothing
is overwritten by accident; a resume whose YAML changes values of the run's config.yaml is refused,
listing them, unless ``resume_with_new_config`` (``--resume-with-new-config``; see ``run``). Data
order and augmentation are functions of (seed, epoch, index), and
state.pt holds every network, optimizer, the scaler, the EMA and each process's RNG states, so a
resumed run continues bit for bit as the uninterrupted run would have.

Under torchrun every process runs this same code (see distributed.py): ``batch_size`` is per
process, the data is sharded by DistributedSampler, every trained network is wrapped in DDP, and
rank 0 alone validates and writes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recipes._common import distributed, logs, runstate
from recipes._common.config import as_plain, check_keys, coerce, load_yaml, parse
from recipes._common.loop import Loop, steps_per_epoch
from recipes._common.recipe import (  # noqa: F401  (the recipe API)
    RUN_KEYS, Phase, Recipe, StepContext,
)
from recipes._common.validation import PSNR_CAP_DB, evaluate  # noqa: F401
from toolkit.artifacts import atomic_write_bytes
from toolkit.errors import CamkitError, unknown

AMP_DTYPES = ["bf16", "fp16"]


@dataclass(frozen=True)
class OptimizerConfig:
    """``train.optimizers.<group>``: overrides of the top-level optimizer settings."""

    lr: float | None = None
    betas: tuple[float, float] | None = None
    weight_decay: float | None = None
    lr_milestones: tuple[int, ...] | None = None
    lr_gamma: float | None = None
    lr_schedule: str | None = None
    lr_min: float | None = None


#: learning-rate schedules (module docstring)
LR_SCHEDULES = ("step", "cosine")


@dataclass(frozen=True)
class OptimizerSettings:
    """One group's resolved Adam settings and learning-rate schedule over ``steps``."""

    lr: float
    betas: tuple[float, float]
    weight_decay: float
    lr_milestones: tuple[int, ...]
    lr_gamma: float
    lr_schedule: str
    lr_min: float
    steps: int

    def __post_init__(self) -> None:
        if self.lr <= 0 or not 0 < self.lr_gamma <= 1:
            raise CamkitError("train.lr must be > 0 and train.lr_gamma in (0, 1]")
        if list(self.lr_milestones) != sorted(set(self.lr_milestones)):
            raise CamkitError(f"train.lr_milestones must increase, got {list(self.lr_milestones)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise unknown("train.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.lr_schedule == "cosine" and self.lr_milestones:
            raise CamkitError("train.lr_milestones apply to lr_schedule: step; drop them for cosine")
        if not 0 <= self.lr_min <= self.lr:
            raise CamkitError(f"train.lr_min must be in [0, lr], got {self.lr_min}")

    def lr_at(self, step: int) -> float:
        """Learning rate of the update that takes the model from ``step`` to ``step + 1``."""
        if self.lr_schedule == "cosine":
            done = min(step, self.steps) / self.steps
            return self.lr_min + (self.lr - self.lr_min) * 0.5 * (1.0 + math.cos(math.pi * done))
        return self.lr * self.lr_gamma ** sum(m <= step for m in self.lr_milestones)


@dataclass(frozen=True)
class TrainConfig:
    """The ``train:`` section of a recipe."""

    steps: int
    batch_size: int  # per process
    lr: float
    val_every_steps: int
    ckpt_every_steps: int
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    lr_milestones: tuple[int, ...] = ()  # steps at which the learning rate is multiplied by lr_gamma
    lr_gamma: float = 0.5
    lr_schedule: str = "step"  # step (lr_milestones x lr_gamma) | cosine (lr -> lr_min over steps)
    lr_min: float = 0.0  # cosine: the learning rate at the last step
    keep_checkpoints: int = 3
    workers: int = 0  # DataLoader worker processes (0: load in the training process)
    seed: int = 0
    optimizers: dict[str, OptimizerConfig] = field(default_factory=dict)  # per-group overrides
    gan_start_step: int = 0  # phases with in_warmup=False start at this step
    amp: bool = False  # CUDA mixed precision (ignored with a notice on CPU)
    amp_dtype: str = "bf16"  # bf16 | fp16 (fp16 adds a GradScaler)
    ema_decay: float | None = None  # e.g. 0.999: validate and export an EMA of the exported net
    log_every_steps: int = 10  # metrics.csv / TensorBoard rows of mean training losses
    grid_rows: int = 4  # validation samples in each image grid (0: no grids)
    tensorboard: bool | None = None  # None: on when the tensorboard package is installed
    save_training_nets: bool = False  # also write the training-only networks' weights
    deterministic: bool = False  # torch.use_deterministic_algorithms for the run

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "val_every_steps", "ckpt_every_steps",
                     "keep_checkpoints", "log_every_steps"):
            if getattr(self, name) < 1:
                raise CamkitError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        self.optimizer(None)  # checks lr and the schedule
        for group in self.optimizers:
            self.optimizer(group)
        if self.workers < 0:
            raise CamkitError(f"train.workers must be 0 or more, got {self.workers}")
        if self.gan_start_step < 0 or self.grid_rows < 0:
            raise CamkitError("train.gan_start_step and train.grid_rows must be 0 or more")
        if self.amp_dtype not in AMP_DTYPES:
            raise unknown("train.amp_dtype", self.amp_dtype, AMP_DTYPES)
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise CamkitError(f"train.ema_decay must be in [0, 1) or null, got {self.ema_decay}")

    def optimizer(self, group: str | None) -> OptimizerSettings:
        """The settings of ``group``: its overrides on top of the top-level values."""
        over = self.optimizers[group] if group in self.optimizers else None
        names = ("lr", "betas", "weight_decay", "lr_milestones", "lr_gamma", "lr_schedule",
                 "lr_min")
        return OptimizerSettings(*(
            getattr(self, n) if over is None or getattr(over, n) is None else getattr(over, n)
            for n in names
        ), steps=self.steps)

    def lr_at(self, step: int) -> float:
        """The top-level learning rate of the update from ``step`` to ``step + 1``."""
        return self.optimizer(None).lr_at(step)


@dataclass(frozen=True)
class RunConfig:
    model: str
    variant: str
    run_dir: Path
    data: Any  # the recipe's data dataclass
    train: TrainConfig
    #: the recipe's sections (Recipe.sections): name -> its parsed dataclass, each one present
    sections: Mapping[str, Any] = field(default_factory=dict)


def load_config(recipe: Recipe, path: Path, root: Path) -> RunConfig:
    """The YAML at ``path``, strictly parsed; relative paths resolve against ``root``.

    ``train.optimizers`` is checked against the groups of the Recipe to train: ``configured``.
    """
    from toolkit import registry

    where = str(path)
    raw = load_yaml(path)
    optional = recipe.optional_sections()
    required = RUN_KEYS + [n for n in recipe.sections if n not in optional]
    check_keys(where, raw, RUN_KEYS + list(recipe.sections), required)
    model = coerce(raw["model"], str, f"{where} model", root)
    if model != recipe.model_id:
        raise CamkitError(
            f"{where} names model '{model}' but the train.py beside it trains "
            f"'{recipe.model_id}'; fix the model key or move the config"
        )
    variant = registry.check_variant(model, coerce(raw["variant"], str, f"{where} variant", root))
    train = parse(TrainConfig, raw["train"], f"{where} train", root)
    sections = {}
    for name, cls in recipe.sections.items():
        value = raw[name] if name in raw else None  # absent or empty: the defaults (optional)
        sections[name] = parse(cls, {} if value is None else value, f"{where} {name}", root)
    return RunConfig(
        model=model,
        variant=variant,
        run_dir=coerce(raw["run_dir"], Path, f"{where} run_dir", root),
        data=parse(recipe.data_config, raw["data"], f"{where} data", root),
        train=train,
        sections=sections,
    )


def configured(recipe: Recipe, cfg: RunConfig, where: str) -> Recipe:
    """The Recipe ``cfg`` trains: ``recipe.configure(cfg)``, or ``recipe`` without the hook.

    Checks that the hook kept the template's model, data and sections, and that
    ``train.optimizers`` names groups of the result (``where``: the config, for the message).
    """
    if recipe.configure is not None:
        template, recipe = recipe, recipe.configure(cfg)
        kept = ("model_id", "data_config", "sections")
        changed = ([k for k in kept if getattr(recipe, k) != getattr(template, k)]
                   if isinstance(recipe, Recipe) else [f"returned {type(recipe).__name__}"])
        if changed:
            raise CamkitError(f"recipe {template.model_id}: configure must return a Recipe that "
                              f"keeps {', '.join(kept)} (dataclasses.replace(template, ...)); "
                              f"changed: {', '.join(changed)}")
    groups = list(recipe.optimizer_groups())
    for group in cfg.train.optimizers:
        if group not in groups:
            raise unknown(f"optimizer group in {where} train.optimizers", group, groups)
    return recipe


def build_fixed(recipe: Recipe, seed: int) -> dict[str, nn.Module]:
    """The recipe's ``fixed`` modules (on the CPU), built under a forked RNG seeded with ``seed``:
    a random one is the same on every process and on --resume, and the networks' initialisation
    does not depend on them."""
    if not recipe.fixed:
        return {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return {name: build() for name, build in recipe.fixed.items()}


def run(
    recipe: Recipe, config_path: Path, *, root: Path, resume: bool, max_steps: int | None,
    run_dir: Path | None, resume_with_new_config: bool = False,
) -> Path:
    """Train (or resume) the run a recipe YAML describes; returns the final checkpoint.

    On ``resume`` a config that changes keys of the one the run started with (RUN_DIR/config.yaml)
    is refused unless ``resume_with_new_config``: then the run continues with the new values, the
    change is logged (a ``config_changed`` event) and RUN_DIR/config.yaml becomes the new config.
    """
    config_path = Path(config_path)
    template = recipe
    cfg = load_config(recipe, config_path, root)
    recipe = configured(recipe, cfg, str(config_path))
    run_dir = Path(run_dir).resolve() if run_dir is not None else cfg.run_dir
    total_steps = cfg.train.steps if max_steps is None else max_steps
    if total_steps < 1:
        raise CamkitError(f"--max-steps must be at least 1, got {total_steps}")
    runstate.check_start(run_dir, resume)
    changes = config_changes(template, config_path, cfg, run_dir, root) if resume else {}
    refused = {k: v for k, v in changes.items() if not _free_on_resume(k, cfg)}
    if refused and not resume_with_new_config:
        listed = ", ".join(f"{k} {_show(old)} -> {_show(new)}" for k, (old, new) in refused.items())
        raise CamkitError(
            f"{config_path} changes the config the run in {run_dir} started with ({listed}); "
            f"restore the old values, or pass --resume-with-new-config to continue with the new "
            f"ones (recorded in its log.jsonl)"
        )
    procs = distributed.from_env()
    tensorboard = logs.tensorboard_wanted(cfg.train.tensorboard)
    fixed = build_fixed(recipe, cfg.train.seed)  # e.g. weights files: fail before reading data
    train_set, val_set = recipe.build_datasets(cfg.data, cfg.train.seed)
    steps_per_epoch(len(train_set), cfg.train.batch_size, procs.world_size)  # fail early

    with _deterministic(cfg.train.deterministic):
        loop = Loop(recipe, cfg, config_path, root, run_dir, procs, train_set, val_set,
                    fixed=fixed, tensorboard=tensorboard)
        if resume:
            loop.restore(runstate.load_state(run_dir, cfg.model, cfg.variant), total_steps)
        if changes and procs.main:
            runstate.log_event(run_dir, "config_changed", step=loop.step, config=str(config_path),
                               forced=bool(refused),
                               changes={k: {"old": old, "new": new}
                                        for k, (old, new) in changes.items()})
            atomic_write_bytes(run_dir / runstate.CONFIG_NAME, config_path.read_bytes())
        created = distributed.start(procs)
        try:
            return loop.train(total_steps, resumed=resume)
        finally:
            distributed.stop(created)


#: config keys a resumed run may change without --resume-with-new-config: where the run lives and
#: bookkeeping that cannot change the weights (train.steps too, under step schedules: see
#: _free_on_resume; --max-steps, which leaves the YAML alone, never counts as a change)
FREE_ON_RESUME = ("run_dir", "train.workers", "train.keep_checkpoints", "train.tensorboard")
#: a key one of two configs lacks
ABSENT = "(absent)"


def config_changes(
    recipe: Recipe, config_path: Path, cfg: RunConfig, run_dir: Path, root: Path
) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (old, new) for every value the config at ``config_path`` (parsed: ``cfg``)
    changes of the one the run in ``run_dir`` started with (its config.yaml; none: no changes).
    Both are compared parsed, so a key added with its default value or ``2e-3`` written
    ``0.002`` is no change; an old config that no longer parses is compared as raw YAML."""
    saved = Path(run_dir) / runstate.CONFIG_NAME
    if not saved.is_file():
        return {}
    new = _flat(as_plain(cfg, root))
    try:
        old = _flat(as_plain(load_config(recipe, saved, root), root))
    except CamkitError:
        try:
            old, new = _flat(load_yaml(saved)), _flat(load_yaml(config_path))
        except CamkitError:
            return {runstate.CONFIG_NAME: ("(unreadable)", str(config_path))}
    keys = list(old) + [k for k in new if k not in old]
    return {k: (old.get(k, ABSENT), new.get(k, ABSENT))
            for k in keys if old.get(k, ABSENT) != new.get(k, ABSENT)}


def _free_on_resume(key: str, cfg: RunConfig) -> bool:
    if key in FREE_ON_RESUME:
        return True
    if key == "train.steps":  # like --max-steps, unless a cosine schedule stretches with it
        t = cfg.train
        return t.lr_schedule == "step" and all(
            o.lr_schedule in (None, "step") for o in t.optimizers.values())
    return False


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as {"a.b": value}; lists and scalars are values."""
    if not isinstance(tree, Mapping):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        out.update(_flat(value, name) if isinstance(value, Mapping) and value else {name: value})
    return out


def _show(value: Any) -> str:
    return value if value is ABSENT else json.dumps(value)


@contextlib.contextmanager
def _deterministic(on: bool) -> Iterator[None]:
    """Deterministic torch kernels for the run when asked (restored after: a process-wide flag)."""
    if not on:
        yield
        return
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS needs it
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark = before[1]
