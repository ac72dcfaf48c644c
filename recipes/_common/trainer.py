"""The generic training engine: a recipe brings the model, the data and the loss; this does the rest.

A recipe's ``train.py`` builds a ``Recipe`` and calls ``run``. The YAML beside it has five keys:

    model: retouch_csrnet         # must be the recipe's model id
    variant: paper                # a variant of that model
    run_dir: runs/retouch_csrnet/paper
    data: {...}                   # parsed strictly by the recipe's own dataclass
    train: {...}                  # TrainConfig below

The engine trains with Adam and a step-wise learning rate (multiplied by ``lr_gamma`` at each of
``lr_milestones``, like MultiStepLR), validates (PSNR/SSIM of the clipped output, and of the input,
against the target) every ``val_every_steps``, and writes a camkit checkpoint plus the training
state every ``ckpt_every_steps`` and at the end (see runstate.py for the run directory).

Resuming is explicit: ``resume=True`` (``camkit train --resume``) continues from ``state.pt`` and
refuses when there is none; without it a run dir that already holds a run is an error, so nothing
is overwritten by accident. Data order and augmentation are functions of (seed, epoch, index), so
a resumed run continues with exactly the batches the uninterrupted run would have seen.

Under torchrun every process runs this same code (see distributed.py): ``batch_size`` is per
process, the data is sharded by DistributedSampler, and rank 0 alone validates and writes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from recipes._common import distributed, runstate
from recipes._common.config import as_plain, check_keys, coerce, load_yaml, parse, relative
from recipes._common.losses import l1
from toolkit.artifacts import atomic_write_bytes
from toolkit.checks.metrics import psnr_db, ssim
from toolkit.errors import CamkitError

#: PSNR of identical images is infinite; validation means cap each sample here
PSNR_CAP_DB = 100.0


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
    keep_checkpoints: int = 3
    workers: int = 0  # DataLoader worker processes (0: load in the training process)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "val_every_steps", "ckpt_every_steps", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise CamkitError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0 or not 0 < self.lr_gamma <= 1:
            raise CamkitError("train.lr must be > 0 and train.lr_gamma in (0, 1]")
        if list(self.lr_milestones) != sorted(set(self.lr_milestones)):
            raise CamkitError(f"train.lr_milestones must increase, got {list(self.lr_milestones)}")
        if self.workers < 0:
            raise CamkitError(f"train.workers must be 0 or more, got {self.workers}")

    def lr_at(self, step: int) -> float:
        """Learning rate of the update that takes the model from ``step`` to ``step + 1``."""
        return self.lr * self.lr_gamma ** sum(m <= step for m in self.lr_milestones)


@dataclass(frozen=True)
class RunConfig:
    model: str
    variant: str
    run_dir: Path
    data: Any  # the recipe's data dataclass
    train: TrainConfig


@dataclass(frozen=True)
class Recipe:
    """What a model brings to the engine."""

    model_id: str
    data_config: type  # a dataclass for the ``data:`` section
    build_model: Callable[[str], nn.Module]  # variant -> untrained module
    build_datasets: Callable[[Any, int], tuple[Dataset, Dataset]]  # (data, seed) -> (train, val)
    describe_data: Callable[[Any, Path], dict[str, Any]]  # (data, root) -> checkpoint record
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = l1


RUN_KEYS = ["model", "variant", "run_dir", "data", "train"]


def load_config(recipe: Recipe, path: Path, root: Path) -> RunConfig:
    """The YAML at ``path``, strictly parsed; relative paths resolve against ``root``."""
    from toolkit import registry

    where = str(path)
    raw = load_yaml(path)
    check_keys(where, raw, RUN_KEYS, RUN_KEYS)
    model = coerce(raw["model"], str, f"{where} model", root)
    if model != recipe.model_id:
        raise CamkitError(
            f"{where} names model '{model}' but the train.py beside it trains "
            f"'{recipe.model_id}'; fix the model key or move the config"
        )
    variant = registry.check_variant(model, coerce(raw["variant"], str, f"{where} variant", root))
    return RunConfig(
        model=model,
        variant=variant,
        run_dir=coerce(raw["run_dir"], Path, f"{where} run_dir", root),
        data=parse(recipe.data_config, raw["data"], f"{where} data", root),
        train=parse(TrainConfig, raw["train"], f"{where} train", root),
    )


def run(
    recipe: Recipe, config_path: Path, *, root: Path, resume: bool, max_steps: int | None,
    run_dir: Path | None,
) -> Path:
    """Train (or resume) the run a recipe YAML describes; returns the final checkpoint."""
    config_path = Path(config_path)
    cfg = load_config(recipe, config_path, root)
    run_dir = Path(run_dir).resolve() if run_dir is not None else cfg.run_dir
    total_steps = cfg.train.steps if max_steps is None else max_steps
    if total_steps < 1:
        raise CamkitError(f"--max-steps must be at least 1, got {total_steps}")
    runstate.check_start(run_dir, resume)
    procs = distributed.from_env()
    train_set, val_set = recipe.build_datasets(cfg.data, cfg.train.seed)
    _steps_per_epoch(len(train_set), cfg.train.batch_size, procs.world_size)  # fail early

    torch.manual_seed(cfg.train.seed)
    net = recipe.build_model(cfg.variant).to(procs.device)
    t = cfg.train
    opt = torch.optim.Adam(net.parameters(), lr=t.lr, betas=t.betas, weight_decay=t.weight_decay)
    loop = _Loop(recipe, cfg, config_path, root, run_dir, procs, net, opt, train_set, val_set)
    if resume:
        loop.restore(runstate.load_state(run_dir, cfg.model, cfg.variant), total_steps)
    created = distributed.start(procs)
    try:
        return loop.train(total_steps, resumed=resume)
    finally:
        distributed.stop(created)


def _steps_per_epoch(samples: int, batch_size: int, processes: int) -> int:
    steps = (samples // processes) // batch_size
    if steps < 1:
        raise CamkitError(
            f"the training set has {samples} samples, fewer than batch_size {batch_size} x "
            f"{processes} process(es); lower train.batch_size or raise data.samples_per_epoch"
        )
    return steps


class _Loop:
    """One run's training loop: the model, optimizer, data and bookkeeping of one process."""

    def __init__(self, recipe, cfg, config_path, root, run_dir, procs, net, opt, train_set, val_set):
        self.recipe, self.cfg, self.root, self.run_dir = recipe, cfg, root, run_dir
        self.config_path, self.procs = config_path, procs
        self.net, self.opt = net, opt
        self.train_set, self.val_set = train_set, val_set
        self.step = 0
        self.total_steps = cfg.train.steps
        self.train_seconds = 0.0
        self.val: dict[str, float] = {}

    def restore(self, state: dict[str, Any], total_steps: int) -> None:
        if state["step"] > total_steps:
            raise CamkitError(
                f"{self.run_dir} is already at step {state['step']}, past the {total_steps} steps "
                f"asked for; pass a larger --max-steps"
            )
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.train_seconds, self.val = state["step"], state["train_seconds"], state["val"]

    # ------------------------------------------------------------------------------- the loop

    def train(self, total_steps: int, resumed: bool) -> Path:
        from tqdm import tqdm

        main, t = self.procs.main, self.cfg.train
        self.total_steps = total_steps
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not resumed:
                atomic_write_bytes(self.run_dir / "config.yaml", self.config_path.read_bytes())
            runstate.log_event(self.run_dir, "start", step=self.step, resumed=resumed,
                               total_steps=total_steps, processes=self.procs.world_size)
        model = distributed.wrap(self.net, self.procs)
        bar = tqdm(total=total_steps, initial=self.step, disable=not main, unit="step",
                   desc=f"{self.cfg.model}-{self.cfg.variant}", dynamic_ncols=True)
        losses: list[float] = []
        batches = self._batches()
        tick = time.perf_counter()
        while self.step < total_steps:
            inputs, targets = next(batches)
            loss = self._update(model, inputs, targets)
            self.step += 1
            now = time.perf_counter()
            self.train_seconds += now - tick
            losses.append(loss)
            bar.update(1)
            bar.set_postfix_str(self._postfix(losses), refresh=False)
            final = self.step == total_steps
            if self.step % t.val_every_steps == 0 or final:
                self._validate(losses)
                losses = []
            if self.step % t.ckpt_every_steps == 0 or final:
                self._save(keep=t.keep_checkpoints)
            tick = time.perf_counter()
        bar.close()
        final_path = runstate.checkpoint_path(self.run_dir, self.step)
        if not final_path.exists():  # resumed at the last step, its checkpoint deleted since
            self._save(keep=t.keep_checkpoints)
        if main:
            runstate.log_event(self.run_dir, "end", step=self.step, train_seconds=self.train_seconds)
        distributed.barrier(self.procs)
        return final_path

    def _batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches from the current step on, forever; epoch e is a seeded permutation."""
        t, procs = self.cfg.train, self.procs
        per_epoch = _steps_per_epoch(len(self.train_set), t.batch_size, procs.world_size)
        epoch, done = divmod(self.step, per_epoch)
        while True:
            sampler = DistributedSampler(self.train_set, num_replicas=procs.world_size,
                                         rank=procs.rank, shuffle=True, seed=t.seed, drop_last=True)
            sampler.set_epoch(epoch)
            if hasattr(self.train_set, "set_epoch"):
                self.train_set.set_epoch(epoch)
            indices = list(sampler)[done * t.batch_size :]
            loader = DataLoader(self.train_set, batch_size=t.batch_size, sampler=indices,
                                drop_last=True, num_workers=t.workers,
                                pin_memory=procs.device.type == "cuda")
            for inputs, targets in loader:
                yield inputs.to(procs.device, non_blocking=True), targets.to(procs.device, non_blocking=True)
            epoch, done = epoch + 1, 0

    def _update(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        model.train()
        for group in self.opt.param_groups:
            group["lr"] = self.cfg.train.lr_at(self.step)
        loss = self.recipe.loss(model(inputs), targets)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        value = distributed.mean_across(loss, self.procs)
        if not math.isfinite(value):
            raise CamkitError(
                f"training loss is {value} at step {self.step + 1}; lower train.lr (the last "
                f"good state stays in {self.run_dir})"
            )
        return value

    def _postfix(self, losses: list[float]) -> str:
        recent = losses[-50:]
        text = f"loss={sum(recent) / len(recent):.4f}"
        if self.val:
            text += f" val_psnr={self.val['psnr_db']:.2f}dB"
        return text

    # ------------------------------------------------------------------ validation and saving

    def _validate(self, losses: list[float]) -> None:
        if self.procs.main:
            self.val = {"step": self.step, **evaluate(distributed.unwrap(self.net), self.val_set,
                                                      self.procs.device)}
            runstate.log_event(self.run_dir, "val", loss=sum(losses) / max(len(losses), 1),
                               lr=self.cfg.train.lr_at(self.step - 1), **self.val)
        distributed.barrier(self.procs)

    def _save(self, keep: int) -> None:
        if self.procs.main:
            weights = distributed.unwrap(self.net).state_dict()
            path = runstate.save_weights(self.run_dir, self.step, weights, self.cfg.model,
                                         self.cfg.variant, self._info(), keep)
            runstate.save_state(self.run_dir, {
                "model_id": self.cfg.model, "variant": self.cfg.variant, "step": self.step,
                "model": weights, "optimizer": self.opt.state_dict(),
                "torch_rng": torch.get_rng_state(), "train_seconds": self.train_seconds,
                "val": self.val,
            })
            runstate.log_event(self.run_dir, "checkpoint", step=self.step,
                               path=relative(path, self.root))
        distributed.barrier(self.procs)

    def _info(self) -> dict[str, Any]:
        """What the checkpoint's metadata and JSON sidecar record about its training."""
        t = self.cfg.train
        return {
            "step": self.step,
            "recipe": relative(self.config_path, self.root),
            "data": self.recipe.describe_data(self.cfg.data, self.root),
            "train": {**as_plain(t, self.root), "steps": self.total_steps,
                      "processes": self.procs.world_size,
                      "optimizer": "adam", "loss": self.recipe.loss.__name__},
            "val": self.val,
            "train_seconds": round(self.train_seconds, 1),
            "seconds_per_step": round(self.train_seconds / max(self.step, 1), 4),
            "torch": torch.__version__,
        }


@torch.no_grad()
def evaluate(net: nn.Module, dataset: Dataset, device: torch.device) -> dict[str, float]:
    """Mean PSNR/SSIM of the clipped output vs target and, when shapes match, of input vs target.

    The input scores are the do-nothing baseline of a restoration task: the model should beat them.
    """
    was_training = net.training
    net.eval()
    sums = {"psnr_db": 0.0, "ssim": 0.0, "input_psnr_db": 0.0, "input_ssim": 0.0}
    count, same_shape = len(dataset), True
    for i in range(count):
        inputs, target = dataset[i]
        output = net(inputs[None].to(device)).clamp(0.0, 1.0).cpu()
        sums["psnr_db"] += min(psnr_db(output, target[None]), PSNR_CAP_DB)
        sums["ssim"] += ssim(output, target[None])
        same_shape = same_shape and inputs.shape == target.shape
        if same_shape:
            sums["input_psnr_db"] += min(psnr_db(inputs[None], target[None]), PSNR_CAP_DB)
            sums["input_ssim"] += ssim(inputs[None], target[None])
    net.train(was_training)
    if not same_shape:
        del sums["input_psnr_db"], sums["input_ssim"]
    out: dict[str, float] = {k: round(v / count, 4) for k, v in sums.items()}
    out["samples"] = count
    return out
