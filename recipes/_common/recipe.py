"""What a model brings to the engine: networks, optimizer groups, the step, the data.

The simple case is one network trained on ``loss(net(batch[0]), batch[1])`` (CSRNet with L1): give
``build_model`` and ``loss`` and leave the rest at their defaults. A GAN adds training-only
networks, groups them under optimizers, and splits each training step into phases::

    RECIPE = Recipe(
        model_id="retouch_csrnet", data_config=DataConfig, build_model=csrnet.build,
        build_datasets=build_datasets, describe_data=describe_data,
        exported="generator",                                # saved as the camkit checkpoint
        networks={"critic": lambda variant: Critic()},       # training-only, kept in state.pt
        groups={"d": ("critic",), "g": ("generator",)},      # one Adam per group
        phases=(Phase("d", d_loss, scalars=("d_real", "d_fake"), in_warmup=False),
                Phase("g", g_loss, scalars=("l1", "adv"))),
    )

Each training step runs the phases in the order given, each a full update of its group: zero the
group's gradients, ``loss, scalars = phase.loss(ctx)`` (under autocast when ``train.amp``),
backward, optimizer step. So the order above is the usual alternation: the discriminator learns
on the generator's current output, then the generator learns against the updated discriminator.

Inside a phase, ``ctx.nets`` holds every network: those of the phase's group are trainable (and
DDP-wrapped under torchrun); all others are the plain modules with ``requires_grad`` off, so a
generator's loss flows *through* the discriminator into the generator but never into the
discriminator, and the discriminator phase computes ``G(x)`` without building G's graph (no
``detach`` needed). Every network of a group must take part in each loss of its phase (DDP
reduces each parameter's gradient once per backward; see trainer.py).

Before ``train.gan_start_step`` (warm-up) phases with ``in_warmup=False`` are skipped and
``ctx.warmup`` is True: the generator phase then returns its content loss only.

A recipe whose losses or networks depend on settings of its own declares extra top-level YAML
sections and a ``configure`` hook. The engine parses each section strictly (config.parse) into
``RunConfig.sections[name]`` and trains the Recipe ``configure`` returns for the parsed config::

    @dataclass(frozen=True)
    class LossConfig:                      # the ``loss:`` section
        gan: str = "standard"
        lambda_gan: float = 5e-3

    def configure(cfg: RunConfig) -> Recipe:
        loss = cfg.sections["loss"]
        return dataclasses.replace(RECIPE, networks=..., groups=..., phases=(
            Phase("d", DLoss(loss.gan), ...), Phase("g", GLoss(loss), ...)),
            fixed={"vgg": load_vgg})             # built by the engine, seeded

    RECIPE = Recipe(model_id=..., data_config=DataConfig, ..., exported="generator",
                    sections={"loss": LossConfig}, configure=configure)

A section whose dataclass gives every field a default may be left out of the YAML (or left empty:
``loss:`` with every key commented out); it then holds those defaults. A section with a required
field must be present. An unknown top-level key is an error that suggests the nearest of the
engine's keys and the recipe's sections.

With ``configure``, the Recipe passed to ``trainer.run`` is a template: the engine parses the YAML
with its ``data_config`` and ``sections``, calls ``configure`` once, right after parsing, and
trains the Recipe it returns, which must keep the template's ``model_id``, ``data_config`` and
``sections`` (build it with ``dataclasses.replace(template, ...)``); ``train.optimizers`` must
name groups of the returned Recipe. Keep ``configure`` cheap and pure: heavy or fallible loading
(a weights file) belongs in a ``fixed`` builder, which the engine calls after the config checks
and before it reads data or writes anything, so a missing file stops the run with nothing written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import Dataset

from recipes._common.losses import l1
from toolkit.errors import CamkitError

if TYPE_CHECKING:
    from recipes._common.trainer import RunConfig

#: the engine's top-level YAML keys (a recipe's ``sections`` come on top of these)
RUN_KEYS = ["model", "variant", "run_dir", "data", "train"]

#: (the total loss to minimise, named scalars to log: the names the Phase declares)
PhaseResult = tuple[torch.Tensor, Mapping[str, torch.Tensor | float]]


@dataclass(frozen=True)
class StepContext:
    """What a phase's loss function sees."""

    nets: Mapping[str, nn.Module]  # this phase's view of every network (see the module docstring)
    fixed: Mapping[str, nn.Module]  # Recipe.fixed modules, on the device, eval, frozen
    batch: tuple[torch.Tensor, ...]  # the step's batch on the device (the same for every phase)
    step: int  # updates done before this one (0 at the first step)
    warmup: bool  # step < train.gan_start_step: content loss only
    device: torch.device


@dataclass(frozen=True)
class Phase:
    """One update of one optimizer group within a training step."""

    group: str  # the optimizer group this phase steps
    loss: Callable[[StepContext], PhaseResult]
    scalars: tuple[str, ...] = ()  # names of the scalars ``loss`` returns (log and CSV columns)
    in_warmup: bool = True  # False: skipped while step < train.gan_start_step (discriminators)


@dataclass(frozen=True)
class Recipe:
    """A model's training recipe (see the module docstring)."""

    model_id: str
    data_config: type  # a dataclass for the ``data:`` section
    build_model: Callable[[str], nn.Module]  # variant -> the untrained exported network
    build_datasets: Callable[[Any, int], tuple[Dataset, Dataset]]  # (data, seed) -> (train, val)
    describe_data: Callable[[Any, Path], dict[str, Any]]  # (data, root) -> checkpoint record
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = l1  # the default phase's loss
    exported: str = "model"  # the exported network's name (nets, state.pt, logs)
    #: training-only networks: name -> (variant -> untrained module)
    networks: Mapping[str, Callable[[str], nn.Module]] = field(default_factory=dict)
    groups: Mapping[str, tuple[str, ...]] | None = None  # optimizer -> its networks; None: one
    phases: tuple[Phase, ...] = ()  # (): one phase minimising loss(exported(batch[0]), batch[1])
    #: frozen helper networks, e.g. VGG features: name -> builder. The engine builds them before
    #: it reads data (a missing weights file stops the run early), under a forked RNG seeded with
    #: train.seed, and hands them to the phases as ``ctx.fixed`` (on the device, eval, frozen)
    fixed: Mapping[str, Callable[[], nn.Module]] = field(default_factory=dict)
    #: extra top-level YAML sections: name -> dataclass (see the module docstring)
    sections: Mapping[str, type] = field(default_factory=dict)
    #: the parsed config -> the Recipe to train (None: this one); see the module docstring
    configure: Callable[[RunConfig], Recipe] | None = None

    def __post_init__(self) -> None:
        for name, cls in self.sections.items():
            if name in RUN_KEYS:
                raise CamkitError(f"recipe {self.model_id}: section '{name}' is one of the "
                                  f"engine's keys {RUN_KEYS}; rename it")
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                raise CamkitError(f"recipe {self.model_id}: section '{name}' needs a dataclass, "
                                  f"got {cls!r}")
        names = [self.exported, *self.networks]
        if self.exported in self.networks:
            raise CamkitError(f"recipe {self.model_id}: '{self.exported}' is both the exported "
                              f"network and a training-only one; rename one")
        if not self.phases and len(self.optimizer_groups()) != 1:
            raise CamkitError(f"recipe {self.model_id}: several optimizer groups need phases")
        grouped = [n for nets in self.optimizer_groups().values() for n in nets]
        if sorted(grouped) != sorted(names):
            raise CamkitError(
                f"recipe {self.model_id}: groups must hold each network exactly once; networks "
                f"{names}, grouped {grouped}"
            )
        phases = self.step_phases()
        for phase in phases:
            if phase.group not in self.optimizer_groups():
                raise CamkitError(f"recipe {self.model_id}: phase of unknown group '{phase.group}'")
        for group in self.optimizer_groups():
            if [p.group for p in phases].count(group) != 1:
                raise CamkitError(
                    f"recipe {self.model_id}: group '{group}' needs exactly one phase")
        columns = self.loss_names() + [s for p in phases for s in p.scalars]
        if len(set(columns)) != len(columns) or {"lr", "step"} & set(columns):
            raise CamkitError(f"recipe {self.model_id}: scalar names must be unique and differ "
                              f"from the loss names, got {columns}")

    def optional_sections(self) -> list[str]:
        """The sections the YAML may leave out: their dataclasses default every field."""
        return [name for name, cls in self.sections.items()
                if all(f.default is not dataclasses.MISSING
                       or f.default_factory is not dataclasses.MISSING
                       for f in dataclasses.fields(cls) if f.init)]

    def optimizer_groups(self) -> dict[str, tuple[str, ...]]:
        """Optimizer group -> its networks; the single-network default is {'model': (exported,)}."""
        return dict(self.groups) if self.groups is not None else {"model": (self.exported,)}

    def step_phases(self) -> tuple[Phase, ...]:
        if self.phases:
            return self.phases
        (group,) = self.optimizer_groups()
        loss, exported = self.loss, self.exported

        def supervised(ctx: StepContext) -> PhaseResult:
            return loss(ctx.nets[exported](ctx.batch[0]), ctx.batch[1]), {}

        return (Phase(group, supervised),)

    def loss_names(self) -> list[str]:
        """Log names of the group losses: 'loss' for one group, else 'loss_<group>'."""
        groups = list(self.optimizer_groups())
        return ["loss"] if len(groups) == 1 else [f"loss_{g}" for g in groups]

    def lr_names(self) -> list[str]:
        groups = list(self.optimizer_groups())
        return ["lr"] if len(groups) == 1 else [f"lr_{g}" for g in groups]

    def exported_group(self) -> str:
        return next(g for g, nets in self.optimizer_groups().items() if self.exported in nets)

    def describe_step(self) -> str:
        """The loss record of a checkpoint: the loss function, or the phases in order."""
        if not self.phases:
            return self.loss.__name__
        return ", ".join(f"{p.group}: {getattr(p.loss, '__name__', 'loss')}" for p in self.phases)
