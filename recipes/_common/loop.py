"""One run's training loop in one process: networks, optimizers, data, logs, saving and resuming.

trainer.run builds a ``Loop`` (after parsing the YAML), restores it on --resume, joins the process
group and calls ``train``. Every step runs the recipe's phases in order (recipe.py); see
trainer.py for the YAML keys and runstate.py for what a saved state holds.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from recipes._common import distributed, logs, runstate
from recipes._common.config import as_plain, relative
from recipes._common.ema import EMA
from recipes._common.recipe import StepContext
from recipes._common.validation import VAL_METRICS, evaluate, image_grid, write_png
from toolkit.artifacts import atomic_write_bytes
from toolkit.errors import CamkitError

#: steps the progress bar averages its losses over
BAR_WINDOW = 50


def steps_per_epoch(samples: int, batch_size: int, processes: int) -> int:
    steps = (samples // processes) // batch_size
    if steps < 1:
        raise CamkitError(
            f"the training set has {samples} samples, fewer than batch_size {batch_size} x "
            f"{processes} process(es); lower train.batch_size or raise data.samples_per_epoch"
        )
    return steps


def _step_seed(seed: int, rank: int) -> int:
    """The seed of the step-time random streams (noise in a loss), distinct per process."""
    return (seed * 1_000_003 + 7_919 * (rank + 1)) % 2**32


class Loop:
    def __init__(self, recipe, cfg, config_path, root, run_dir, procs, train_set, val_set, *,
                 fixed: dict[str, nn.Module], tensorboard: bool) -> None:
        self.recipe, self.cfg, self.root, self.run_dir = recipe, cfg, root, run_dir
        self.config_path, self.procs, self.use_tensorboard = config_path, procs, tensorboard
        self.train_set, self.val_set = train_set, val_set
        t, device = cfg.train, procs.device
        # the same seed on every process builds the same networks (DDP also broadcasts rank 0's)
        torch.manual_seed(t.seed)
        exported = recipe.build_model(cfg.variant).to(device)
        self.nets: dict[str, nn.Module] = {recipe.exported: exported}
        for name, build in recipe.networks.items():
            self.nets[name] = build(cfg.variant).to(device)
        # recipe.fixed, built by trainer.build_fixed
        self.fixed = {n: net.to(device).eval().requires_grad_(False) for n, net in fixed.items()}
        self.groups = recipe.optimizer_groups()
        self.phases = recipe.step_phases()
        self.settings = {g: t.optimizer(g) for g in self.groups}
        self.opts = {}
        for group, names in self.groups.items():
            s = self.settings[group]
            params = [p for n in names for p in self.nets[n].parameters()]
            self.opts[group] = torch.optim.Adam(params, lr=s.lr, betas=s.betas,
                                                weight_decay=s.weight_decay)
        self.loss_names = dict(zip(self.groups, recipe.loss_names()))
        self.lr_names = dict(zip(self.groups, recipe.lr_names()))
        self.ema = EMA(self.nets[recipe.exported], t.ema_decay) if t.ema_decay is not None else None
        self.amp_dtype = None
        if t.amp and device.type == "cuda":
            if t.amp_dtype == "bf16" and not torch.cuda.is_bf16_supported():
                raise CamkitError(f"{torch.cuda.get_device_name(device)} has no bf16; set "
                                  f"train.amp_dtype: fp16")
            self.amp_dtype = torch.bfloat16 if t.amp_dtype == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        seed = _step_seed(t.seed, procs.rank)
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        self.step, self.total_steps, self.train_seconds = 0, t.steps, 0.0
        self.val: dict[str, float] = {}
        self.log_means, self.val_means = logs.Means(), logs.Means()
        self.recent: deque[dict[str, float]] = deque(maxlen=BAR_WINDOW)
        self.csv_bytes: int | None = None
        self.notices: list[str] = []

    def restore(self, state: dict[str, Any], total_steps: int) -> None:
        if state["step"] > total_steps:
            raise CamkitError(
                f"{self.run_dir} is already at step {state['step']}, past the {total_steps} steps "
                f"asked for; pass a larger --max-steps"
            )
        for name, net in self.nets.items():
            net.load_state_dict(state["nets"][name])
        for group, opt in self.opts.items():
            opt.load_state_dict(state["optimizers"][group])
        if state["scaler"] and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if state["ema"] is None:  # the run started without EMA: average from here on
                self.ema.load_state_dict(state["nets"][self.recipe.exported])
            else:
                self.ema.load_state_dict(state["ema"])
        rngs = state["rng"]
        if len(rngs) == self.procs.world_size:
            runstate.set_rng_state(rngs[self.procs.rank])
        else:
            self.notices.append(f"the run saved {len(rngs)} process(es)' random states and now "
                                f"runs {self.procs.world_size}: step-time randomness is reseeded")
        self.step, self.train_seconds, self.val = state["step"], state["train_seconds"], state["val"]
        self.log_means = logs.Means(state["means"].get("log"))
        self.val_means = logs.Means(state["means"].get("val"))
        self.csv_bytes = state["metrics_csv_bytes"]

    # ------------------------------------------------------------------------------- the loop

    def train(self, total_steps: int, resumed: bool) -> Path:
        from tqdm import tqdm

        main, t = self.procs.main, self.cfg.train
        self.total_steps = total_steps
        if t.amp and self.procs.device.type != "cuda":
            self.notices.append("train.amp is ignored on CPU: training in float32")
        self.csv = logs.MetricsCSV(self.run_dir, self._csv_columns())
        self.board = None
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not resumed:
                atomic_write_bytes(self.run_dir / "config.yaml", self.config_path.read_bytes())
            runstate.log_event(self.run_dir, "start", step=self.step, resumed=resumed,
                               total_steps=total_steps, processes=self.procs.world_size)
            for notice in self.notices:
                runstate.log_event(self.run_dir, "notice", step=self.step, message=notice)
                print(f"camkit train: {notice}", file=sys.stderr)
            self.csv.open(self.csv_bytes if resumed else None)
            if self.use_tensorboard:
                self.board = logs.TensorBoard(self.run_dir, self.step + 1 if resumed else None)
        views = self._views()
        bar = tqdm(total=total_steps, initial=self.step, disable=not main, unit="step",
                   desc=f"{self.cfg.model}-{self.cfg.variant}", dynamic_ncols=True)
        batches = self._batches()
        tick = time.perf_counter()
        while self.step < total_steps:
            values = self._update(views, next(batches))
            self.step += 1
            now = time.perf_counter()
            self.train_seconds += now - tick
            for window in (self.log_means, self.val_means):
                window.add(values)
            self.recent.append(values)
            bar.update(1)
            bar.set_postfix_str(self._postfix(), refresh=False)
            final = self.step == total_steps
            if self.step % t.log_every_steps == 0:
                self._log_train()
            if self.step % t.val_every_steps == 0 or final:
                self._validate()
            if self.step % t.ckpt_every_steps == 0 or final:
                self._save(keep=t.keep_checkpoints)
            tick = time.perf_counter()
        bar.close()
        final_path = runstate.checkpoint_path(self.run_dir, self.step)
        if not final_path.exists():  # resumed at the last step, its checkpoint deleted since
            self._save(keep=t.keep_checkpoints)
        if main:
            runstate.log_event(self.run_dir, "end", step=self.step, train_seconds=self.train_seconds)
            if self.board is not None:
                self.board.close()
        distributed.barrier(self.procs)
        return final_path

    def _views(self) -> dict[str, dict[str, nn.Module]]:
        """Per group, the networks its phase sees: its own DDP-wrapped, the others plain.

        Why plain and frozen (``_update`` turns requires_grad off): DDP reduces gradients from
        autograd hooks on each parameter and expects every wrapped parameter to get exactly one
        gradient per backward after a forward of its wrapper. A generator's loss that ran through
        a DDP-wrapped discriminator would fire the discriminator's hooks in the generator's
        backward; a frozen plain discriminator passes the gradient through to the generator and
        leaves DDP out of it. The discriminator phase, in turn, sees a frozen generator, so
        ``G(x)`` there builds no graph and D's backward never reaches G. Each network is thus
        forwarded through its wrapper only in its own phase, with one backward after.
        """
        wrapped = {name: distributed.wrap(net, self.procs) for name, net in self.nets.items()}
        return {group: {name: wrapped[name] if name in names else net
                        for name, net in self.nets.items()}
                for group, names in self.groups.items()}

    def _batches(self) -> Iterator[tuple[torch.Tensor, ...]]:
        """Batches from the current step on, forever; epoch e is a seeded permutation."""
        t, procs = self.cfg.train, self.procs
        per_epoch = steps_per_epoch(len(self.train_set), t.batch_size, procs.world_size)
        epoch, done = divmod(self.step, per_epoch)
        while True:
            sampler = DistributedSampler(self.train_set, num_replicas=procs.world_size,
                                         rank=procs.rank, shuffle=True, seed=t.seed, drop_last=True)
            sampler.set_epoch(epoch)
            if hasattr(self.train_set, "set_epoch"):
                self.train_set.set_epoch(epoch)
            indices = list(sampler)[done * t.batch_size :]
            # its own generator: starting an iterator draws a seed, which must not come from the
            # global RNG that a resumed run restores mid-epoch
            generator = torch.Generator().manual_seed(_step_seed(t.seed + epoch, procs.rank))
            loader = DataLoader(self.train_set, batch_size=t.batch_size, sampler=indices,
                                drop_last=True, num_workers=t.workers, generator=generator,
                                pin_memory=procs.device.type == "cuda")
            for batch in loader:
                yield tuple(x.to(procs.device, non_blocking=True) for x in batch)
            epoch, done = epoch + 1, 0

    def _update(self, views: dict[str, dict[str, nn.Module]], batch: tuple[torch.Tensor, ...]
                ) -> dict[str, float]:
        """One training step: each phase in order updates its group; returns the logged means."""
        device, warmup = self.procs.device, self.step < self.cfg.train.gan_start_step
        logged: dict[str, torch.Tensor] = {}
        for phase in self.phases:
            if warmup and not phase.in_warmup:
                continue
            group, opt = phase.group, self.opts[phase.group]
            for name, net in self.nets.items():
                net.train()
                net.requires_grad_(name in self.groups[group])
            for param_group in opt.param_groups:
                param_group["lr"] = self.settings[group].lr_at(self.step)
            opt.zero_grad(set_to_none=True)
            ctx = StepContext(nets=views[group], fixed=self.fixed, batch=batch, step=self.step,
                              warmup=warmup, device=device)
            autocast = (torch.autocast(device.type, dtype=self.amp_dtype)
                        if self.amp_dtype is not None else contextlib.nullcontext())
            with autocast:
                loss, scalars = phase.loss(ctx)
            extra = set(scalars) - set(phase.scalars)
            if extra:
                raise CamkitError(f"phase '{group}' returned scalars {sorted(extra)} it does not "
                                  f"declare; add them to Phase.scalars")
            self.scaler.scale(loss).backward()
            self.scaler.step(opt)
            logged[self.loss_names[group]] = loss.detach().float()
            for name in phase.scalars:
                if name in scalars:
                    logged[name] = torch.as_tensor(scalars[name], device=device).detach().float()
        self.scaler.update()
        for net in self.nets.values():
            net.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.nets[self.recipe.exported])
        values = dict(zip(logged, distributed.means_across(list(logged.values()), self.procs)))
        for name in self.loss_names.values():
            if name in values and not math.isfinite(values[name]):
                raise CamkitError(
                    f"training {name} is {values[name]} at step {self.step + 1}; lower train.lr "
                    f"(the last good state stays in {self.run_dir})"
                )
        return values

    def _postfix(self) -> str:
        sums: dict[str, list[float]] = {}
        for values in self.recent:
            for name, value in values.items():
                sums.setdefault(name, []).append(value)
        order = [k for k in self._csv_columns() if k in sums]
        text = " ".join(f"{k}={sum(sums[k]) / len(sums[k]):.4f}" for k in order)
        if self.val:
            text += f" val_psnr={self.val['psnr_db']:.2f}dB"
        return text

    def _lrs(self) -> dict[str, float]:
        return {self.lr_names[g]: self.settings[g].lr_at(self.step - 1) for g in self.groups}

    def _csv_columns(self) -> list[str]:
        scalars = [s for phase in self.phases for s in phase.scalars]
        return [*self.lr_names.values(), *self.loss_names.values(), *scalars, *VAL_METRICS]

    # ---------------------------------------------------------- logging, validation and saving

    def _log_train(self) -> None:
        if self.procs.main:
            values = {**self._lrs(), **self.log_means.means()}
            self.csv.write(self.step, "train", self.train_seconds, values)
            if self.board is not None:
                self.board.scalars("train", values, self.step)
        self.log_means.reset()

    def exported_for_eval(self) -> nn.Module:
        """The exported network as validated and saved: its EMA when on, else the raw weights."""
        return self.ema.module if self.ema is not None else self.nets[self.recipe.exported]

    def _validate(self) -> None:
        if self.procs.main:
            net, device = self.exported_for_eval(), self.procs.device
            self.val = {"step": self.step, **evaluate(net, self.val_set, device)}
            runstate.log_event(self.run_dir, "val", **self.val_means.means(), **self._lrs(),
                               **self.val)
            metrics = {k: v for k, v in self.val.items() if k in VAL_METRICS}
            self.csv.write(self.step, "val", self.train_seconds, metrics)
            grid = image_grid(net, self.val_set, self.cfg.train.grid_rows, device) \
                if self.cfg.train.grid_rows else None
            if grid is not None:
                write_png(self.run_dir / "grids" / f"step-{self.step:07d}.png", grid)
            if self.board is not None:
                self.board.scalars("val", metrics, self.step)
                if grid is not None:
                    self.board.image("val/grid", grid, self.step)
        self.val_means.reset()
        distributed.barrier(self.procs)

    def _save(self, keep: int) -> None:
        rngs = distributed.gather(runstate.rng_state(), self.procs)  # every process's streams
        if self.procs.main:
            model, variant, info = self.cfg.model, self.cfg.variant, self._info()
            path = runstate.save_weights(self.run_dir, self.step,
                                         self.exported_for_eval().state_dict(), model, variant,
                                         info, keep)
            if self.cfg.train.save_training_nets:
                for name in self.recipe.networks:
                    runstate.save_training_net(self.run_dir, self.step, name,
                                               self.nets[name].state_dict(), model, variant,
                                               info, keep)
            nets = {name: net.state_dict() for name, net in self.nets.items()}
            optimizers = {group: opt.state_dict() for group, opt in self.opts.items()}
            runstate.save_state(self.run_dir, {
                "model_id": model, "variant": variant, "step": self.step,
                "nets": nets, "optimizers": optimizers,
                "model": nets[self.recipe.exported],
                "optimizer": optimizers[self.recipe.exported_group()],
                "scaler": self.scaler.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "rng": rngs, "train_seconds": self.train_seconds, "val": self.val,
                "means": {"log": self.log_means.state(), "val": self.val_means.state()},
                "metrics_csv_bytes": self.csv.size(),
            })
            if self.board is not None:
                self.board.flush()
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
                      "optimizer": "adam", "loss": self.recipe.describe_step(),
                      "amp": None if self.amp_dtype is None else t.amp_dtype},
            "weights": f"ema (decay {t.ema_decay})" if self.ema is not None else "raw",
            "networks": {name: sum(p.numel() for p in net.parameters())
                         for name, net in self.nets.items()},
            "val": self.val,
            "train_seconds": round(self.train_seconds, 1),
            "seconds_per_step": round(self.train_seconds / max(self.step, 1), 4),
            "torch": torch.__version__,
        }
