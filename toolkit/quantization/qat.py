"""Quantization-aware fine-tuning (``camkit train MODEL --qat``): self-distillation with fake int8.

PTQ rounds a float model's weights and activations once; when that falls short, the weights can
be nudged so that the *quantized* model lands closer to the float one. This module fine-tunes a
float checkpoint with fake quantization where camkit's w8a8 exporters put real quantization, and
writes a float checkpoint that every exporter consumes as usual (ONNX, LiteRT, Core ML all run
their own PTQ on it):

- **Where**: every conv / transposed conv / linear the w8a8 export quantizes (all of them but the
  model's declared float layers, toolkit/quantization/layers.py) gets int8 weights (symmetric,
  per output channel, 127 steps a side), an int8 input and an int8 output (per tensor, asymmetric
  256 steps): the points NNCF quantizes in the three graphs (ONNX convs read by float ops get an
  output pair too, onnx_ptq.requantize_float_consumers). A conv whose output goes straight
  into an ``nn.ReLU`` module is quantized after the ReLU (the fused Conv+ReLU kernel of every
  format); a functional relu is not seen, and such a conv is quantized before it.
- **Ranges**: min/max over the calibration set the export will use, recomputed every
  ``range_every`` steps, so the fine-tuned weights meet the ranges PTQ will give them
  (activations) and their own per-channel maxima (weights). Gradients pass the rounding
  straight through (STE) and are zero outside the range.
- **Equalization first**: the student starts from the export's equalized weights
  (equalize.py); the checkpoint records it (``info.qat.equalization``) and the export then
  skips equalizing again (a second pass would move the ranges the fine-tuning saw).
- **Labels**: none. The teacher is the input checkpoint in float; the loss is
  ``MSE(fake-quant student, teacher) + float_weight * MSE(float student, teacher)`` (the second
  term keeps the float function of the new checkpoint close to the one it came from).
- **No regression**: photos are split into training and validation (every ``val_every``-th
  photo); the worst validation photo's parity (fake-quant student vs teacher, PSNR) is measured
  before the first step and every ``eval_every`` steps, and the best state is written. When no
  step beats the start, the checkpoint holds the equalized input weights and says so
  (``info.qat.improved = false``).

What it bought on the official CSRNet: docs/quantization.md.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from toolkit.errors import CamkitError
from toolkit.quantization.layers import default_float_reasons, selector, strip_wrappers

#: modules whose weights the w8a8 exporters quantize (conv, transposed conv, linear)
QUANTIZED_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                   nn.Linear)


@dataclass(frozen=True)
class QatOptions:
    steps: int = 300
    batch: int = 8
    crop: tuple[int, int] = (128, 128)      # training crop (height, width)
    lr: float = 1e-5                        # Adam; 1e-4 drifted (docs/quantization.md)
    float_weight: float = 1.0               # weight of MSE(float student, teacher)
    range_every: int = 20                   # steps between range re-calibrations
    eval_every: int = 25                    # steps between validations
    val_every: int = 5                      # every n-th photo is a validation photo
    max_val: int = 16                       # validation photos at most
    seed: int = 0


def fake_quant_act(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Per-tensor asymmetric int8 of ``x`` in ``[lo, hi]`` (widened to hold 0), STE gradient."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-8) / 255.0
    zero = round(-128 - lo / scale)
    q = (torch.clamp(torch.round(x / scale) + zero, -128, 127) - zero) * scale
    inside = (x >= lo - scale / 2) & (x <= hi + scale / 2)
    # straight-through inside the range, no gradient where the int8 value is clipped
    return torch.where(inside, x + (q - x).detach(), q.detach())


class _WeightInt8(nn.Module):
    """Parametrization: symmetric per-output-channel int8 weights (127 steps a side), STE."""

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis
        self.enabled = True

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return w
        dims = [d for d in range(w.dim()) if d != self.axis]
        amax = w.detach().abs().amax(dim=dims, keepdim=True).clamp(min=1e-12)
        step = amax / 127.0
        return w + (torch.clamp(torch.round(w / step), -127, 127) * step - w).detach()


class FakeQuant:
    """Fake int8 on ``module``'s quantized layers (hooks + weight parametrizations).

    ``mode``: ``"calibrate"`` records activation min/max, ``"quant"`` fakes int8, ``"float"``
    passes everything through (weights included)."""

    def __init__(self, module: nn.Module, float_layers: Sequence[str]) -> None:
        self.module = module
        self.mode = "quant"
        self.ranges: dict[str, tuple[float, float]] = {}
        keep = selector(float_layers)
        self.layers = [(strip_wrappers(path), m) for path, m in module.named_modules()
                       if isinstance(m, QUANTIZED_TYPES) and keep(strip_wrappers(path)) is None]
        if not self.layers:
            raise CamkitError("quantization-aware fine-tuning: the model has no conv or linear "
                              "layer that w8a8 quantizes (all are declared float)")
        self._weights: list[_WeightInt8] = []
        self._handles = []
        #: conv outputs waiting for the ReLU that may read them: id -> (tensor, layer id)
        self._pending: dict[int, tuple[torch.Tensor, str]] = {}
        #: layers whose output an nn.ReLU reads: quantized after it (found while calibrating)
        self.fused: set[str] = set()
        for sub in module.modules():
            if isinstance(sub, nn.ReLU):
                self._handles.append(sub.register_forward_hook(self._after_relu))
        self._handles.append(module.register_forward_hook(
            lambda *_: self._pending.clear()))  # nothing carries over between forwards
        for lid, m in self.layers:
            axis = 1 if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d)) else 0
            wq = _WeightInt8(axis)
            parametrize.register_parametrization(m, "weight", wq)
            self._weights.append(wq)
            self._handles.append(m.register_forward_pre_hook(
                lambda _m, args, lid=lid: (self._act(lid + "<in", args[0]), *args[1:])))
            self._handles.append(m.register_forward_hook(
                lambda _m, _args, out, lid=lid: self._output(lid, out)))

    def _output(self, lid: str, out: torch.Tensor) -> torch.Tensor:
        if self.mode == "calibrate":
            self._pending[id(out)] = (out, lid)
            return self._act(lid + ">raw", out)
        if lid in self.fused:
            self._pending[id(out)] = (out, lid)
            return out
        return self._act(lid + ">out", out)

    def _after_relu(self, _m, args, out: torch.Tensor) -> torch.Tensor:
        entry = self._pending.pop(id(args[0]), None)
        if entry is None or entry[0] is not args[0]:
            return out
        lid = entry[1]
        if self.mode == "calibrate":
            self.fused.add(lid)
        return self._act(lid + ">out", out)

    def _act(self, key: str, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "calibrate":
            lo, hi = self.ranges.get(key, (0.0, 0.0))
            self.ranges[key] = (min(lo, float(x.min())), max(hi, float(x.max())))
            return x
        if self.mode == "float":
            return x
        if key not in self.ranges:
            raise CamkitError(f"quantization-aware fine-tuning: no calibrated range for {key}")
        return fake_quant_act(x, *self.ranges[key])

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        for wq in self._weights:
            wq.enabled = mode == "quant"

    def calibrate(self, batches: Sequence[tuple[torch.Tensor, ...]]) -> None:
        """Min/max of every quantized input and output over ``batches`` (the calibration set)."""
        previous = self.mode
        self.ranges, self.fused = {}, set()
        self.set_mode("calibrate")
        try:
            with torch.no_grad():
                for args in batches:
                    self.module(*args)
        finally:
            self.set_mode(previous)
        for lid, _ in self.layers:  # unfused outputs: the conv's own range
            raw = self.ranges.pop(lid + ">raw", None)
            if lid not in self.fused and raw is not None:
                self.ranges[lid + ">out"] = raw

    def remove(self) -> nn.Module:
        """Drop the hooks and parametrizations; the module keeps its float (trained) weights."""
        for handle in self._handles:
            handle.remove()
        for _, m in self.layers:
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
        return self.module


def _psnr(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """PSNR (dB) of two [0, 1] image batches, one per item, clipped as the parity check clips."""
    err = (a.clamp(0, 1) - b.clamp(0, 1)).pow(2).flatten(1).mean(1)
    return [10 * math.log10(1.0 / max(float(e), 1e-14)) for e in err]


def _outputs(out) -> tuple[torch.Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _distill_loss(student_out, teacher_out) -> torch.Tensor:
    return sum(nn.functional.mse_loss(s, t) for s, t in
               zip(_outputs(student_out), _outputs(teacher_out)))


class _Photos:
    """Random crops of the user's photos as model inputs (the spec's feeds at the crop size)."""

    def __init__(self, paths: Sequence[Path], spec, crop: tuple[int, int], seed: int) -> None:
        from toolkit.data.io import read_image

        self.spec, self.crop = spec, crop
        self.rng = np.random.default_rng(seed)
        cover = (2 * crop[0], 2 * crop[1])  # decode at most ~2x the crop: crops of 1/2..1 scale
        self.images = [(p.name, read_image(p, 3, cover=cover)) for p in paths]

    def batch(self, size: int) -> tuple[torch.Tensor, ...]:
        from toolkit.quantization.calibration import feeds_for

        feeds = []
        for _ in range(size):
            name, img = self.images[self.rng.integers(len(self.images))]
            h, w = img.shape[:2]
            ch, cw = self.crop
            scale = self.rng.uniform(0.5, 1.0) * min(h / ch, w / cw)
            sh, sw = max(1, min(h, round(ch * scale))), max(1, min(w, round(cw * scale)))
            top, left = self.rng.integers(h - sh + 1), self.rng.integers(w - sw + 1)
            part = img[top:top + sh, left:left + sw]
            if self.rng.random() < 0.5:
                part = part[:, ::-1]
            # a fresh name per crop: inpainting models get a different seeded hole each time
            feeds.append(feeds_for(np.ascontiguousarray(part), self.spec, size=self.crop,
                                   name=f"{name}#{self.rng.integers(1 << 30)}"))
        return tuple(torch.from_numpy(np.stack([f[t.name][0] for f in feeds]))
                     for t in self.spec.model.inputs)


def _as_args(feeds: dict, spec) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(feeds[t.name], np.float32))
                 for t in spec.model.inputs)


def finetune(model: nn.Module, spec, photos: Sequence[Path], calib: Sequence[dict],
             opts: QatOptions = QatOptions(), progress: bool = True) -> tuple[nn.Module, dict]:
    """Fine-tune ``model`` (float, the teacher stays untouched) with fake int8 on ``photos``,
    ranges from ``calib`` (feeds, as calibration_feeds gives them). Returns the student (plain
    float module, equalized weights) and the record for the checkpoint's ``info.qat``."""
    from tqdm import tqdm

    from toolkit.quantization.calibration import feeds_for
    from toolkit.quantization.equalize import equalize

    if spec.layout != "nchw":
        raise CamkitError("quantization-aware fine-tuning runs on the NCHW model")
    if len(photos) < 2:
        raise CamkitError(f"quantization-aware fine-tuning needs at least 2 photos (one to "
                          f"validate on), got {len(photos)}; pass --photos DIR with many of "
                          f"your own photos (hundreds: with five, the weights fit them)")
    if opts.steps < 1:
        raise CamkitError(f"--steps must be at least 1, got {opts.steps}")
    torch.manual_seed(opts.seed)
    teacher = model.eval().float()
    for p in teacher.parameters():
        p.requires_grad_(False)
    names = [t.name for t in spec.model.inputs]
    student, equalization = equalize(teacher, calib, names)
    student = copy.deepcopy(student) if student is teacher else student
    for p in student.parameters():
        p.requires_grad_(True)
    float_layers = list(default_float_reasons(student))
    fq = FakeQuant(student, float_layers)
    calib_args = [_as_args(f, spec) for f in calib]

    val_paths = list(photos[::opts.val_every])[:opts.max_val]
    train_paths = [p for p in photos if p not in val_paths]
    from toolkit.data.io import read_image

    val_args = [_as_args(feeds_for(read_image(p, 3, cover=spec.sample_size), spec, name=p.name),
                         spec) for p in val_paths]
    with torch.no_grad():
        val_ref = [teacher(*a) for a in val_args]
    data = _Photos(train_paths, spec, opts.crop, opts.seed)

    def validate() -> tuple[float, float]:
        fq.set_mode("quant")
        with torch.no_grad():
            ps = [min(_psnr(_outputs(student(*a))[0], _outputs(r)[0]))
                  for a, r in zip(val_args, val_ref)]
        return min(ps), float(np.mean(ps))

    fq.calibrate(calib_args)
    start_worst, start_mean = validate()
    best = (start_worst, start_mean, 0, copy.deepcopy(student.state_dict()))
    history = [{"step": 0, "val_worst_psnr_db": round(start_worst, 3),
                "val_mean_psnr_db": round(start_mean, 3)}]
    opt = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=opts.lr)
    bar = tqdm(range(1, opts.steps + 1), desc="qat", unit="step", file=sys.stderr,
               disable=None if progress else True)
    for step in bar:
        args = data.batch(opts.batch)
        with torch.no_grad():
            target = teacher(*args)
        fq.set_mode("quant")
        loss = _distill_loss(student(*args), target)
        if opts.float_weight:
            fq.set_mode("float")
            loss = loss + opts.float_weight * _distill_loss(student(*args), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not torch.isfinite(loss):
            raise CamkitError(f"quantization-aware fine-tuning diverged at step {step} (loss "
                              f"{float(loss)}); lower --lr")
        if step % opts.range_every == 0 or step == opts.steps:
            fq.calibrate(calib_args)
        if step % opts.eval_every == 0 or step == opts.steps:
            worst, mean = validate()
            history.append({"step": step, "val_worst_psnr_db": round(worst, 3),
                            "val_mean_psnr_db": round(mean, 3)})
            if (worst, mean) > best[:2]:
                best = (worst, mean, step, copy.deepcopy(student.state_dict()))
            bar.set_postfix_str(f"val worst {worst:.2f} dB (start {start_worst:.2f}, "
                                f"best {best[0]:.2f})")
    bar.close()
    student.load_state_dict(best[3])
    fq.remove()
    student.eval()
    for p in student.parameters():
        p.requires_grad_(False)
    # how far the new float function moved from the input checkpoint's (the card compares the
    # quantized artifact with the new checkpoint's float model)
    with torch.no_grad():
        drift = min(min(_psnr(_outputs(student(*a))[0], _outputs(r)[0]))
                    for a, r in zip(val_args, val_ref))
    record = {
        "method": "quantization-aware fine-tuning, self-distillation "
                  "(toolkit/quantization/qat.py)",
        "options": {**asdict(opts), "crop": list(opts.crop)},
        "float_layers": float_layers,
        "fake_quant_layers": [lid for lid, _ in fq.layers],
        "equalization": equalization,
        "train_photos": len(train_paths), "val_photos": len(val_paths),
        "calibration_inputs": len(calib),
        "val_worst_psnr_db_start": round(start_worst, 3),
        "val_mean_psnr_db_start": round(start_mean, 3),
        "val_worst_psnr_db": round(best[0], 3), "val_mean_psnr_db": round(best[1], 3),
        "best_step": best[2], "improved": best[2] > 0,
        "float_vs_input_worst_psnr_db": round(drift, 3),
        "history": history,
    }
    return student, record


def _shown(path) -> str:
    """A path as a checkpoint records it: relative to the folder that holds the ``toolkit``
    package when it is inside it (a shipped checkpoint, the bundled photos), else absolute."""
    import toolkit

    path = Path(path).resolve()
    root = Path(toolkit.__file__).resolve().parent.parent
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def default_out(model_id: str, variant: str, checkpoint: Path | None) -> Path:
    """Beside the input checkpoint (``<stem>-qat.safetensors``); for the shipped checkpoint, in
    the working directory (the package folder is not the user's)."""
    if checkpoint is not None:
        return Path(checkpoint).with_name(f"{Path(checkpoint).stem}-qat.safetensors")
    return Path(f"{model_id}-{variant}-qat.safetensors")


def run_qat(model_id: str, variant: str, checkpoint: Path | None, photos_dir: Path,
            out: Path | None = None, size: tuple[int, int] | None = None,
            calib_source: str | Path | None = None, opts: QatOptions = QatOptions(),
            progress: bool = True) -> tuple[Path, dict]:
    """``camkit train MODEL --qat``: fine-tune ``checkpoint`` (default: the shipped one) on the
    photos in ``photos_dir`` and write a new checkpoint (never over an existing file). Ranges
    come from the calibration set the export will use (``calib_source``, default the model's)
    at ``size`` (default the variant's export size). Returns (path, the ``info.qat`` record)."""
    from toolkit import registry
    from toolkit.artifacts import sha256_path
    from toolkit.checkpoints import check_finite, save_checkpoint
    from toolkit.data.io import list_images
    from toolkit.building import build_model, make_spec, resolve_weights
    from toolkit.quantization.calibration import calibration_feeds

    registry.model_spec(model_id)  # unknown model: its one-line error first
    spec = make_spec(model_id, variant, size, "nchw", False)
    weights = resolve_weights(model_id, variant, checkpoint, False)
    out = Path(out) if out is not None else default_out(model_id, variant, checkpoint)
    if out.suffix != ".safetensors":
        raise CamkitError(f"--out {out} must name a .safetensors file")
    if out.exists():
        raise CamkitError(f"{out} exists; pass another --out (camkit never replaces a checkpoint)")
    if weights.checkpoint is not None and out.resolve() == weights.checkpoint.resolve():
        raise CamkitError("--out names the input checkpoint; pass another --out")
    photos = list_images(Path(photos_dir))
    if not photos:
        raise CamkitError(f"no photos in {photos_dir} (.png, .jpg, ...); pass --photos DIR with "
                          f"your own photos")
    # a --qat checkpoint may be fine-tuned again (the shipped WESPE mobile is one): its record
    # nests under source_checkpoint.info, and equalizing again keeps the float function
    source_info = weights.describe()
    model = build_model(model_id, variant, weights)
    calib = calibration_feeds(spec, calib_source)
    student, record = finetune(model, spec, photos, calib, opts, progress)
    state = student.state_dict()
    check_finite(state, "the fine-tuned weights", "lower --lr")
    source = calib_source or spec.model.calibration_set
    record = {**record, "size": [spec.height, spec.width],
              "calibration": _shown(source) if Path(source).is_dir() else source,
              "photos": _shown(photos_dir)}
    # the lineage: the input checkpoint and how it was made (its recipe, data and validation)
    info = {"qat": record,
            "source_checkpoint": None if weights.checkpoint is None else {
                "path": _shown(weights.checkpoint),
                "sha256": sha256_path(weights.checkpoint),
                "info": source_info.get("info") or {}}}
    save_checkpoint(out, state, model_id, variant, info)
    return out, record
