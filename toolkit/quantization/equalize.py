"""Cross-layer range equalization: move range between a conv's output channels and its consumer.

Per-tensor int8 activations give every channel of a tensor the same step. A channel whose values
span a tenth of the tensor's range keeps three bits of it; when a later op multiplies it up (the
GFM scale of CSRNet reaches 8x on the official weights) that rounding is what the picture shows.

A model declares where the float function does not change when channel ``c`` of a producer's
output is multiplied by ``k_c > 0`` and the consumer's input channel ``c`` divided by it
(``W8A8_EQUALIZE`` on the model class, one entry per pair)::

    (producer, (co_scaled, ...), consumer)

- ``producer``: a conv / linear whose output rows (weight and bias) are multiplied by ``k``;
- ``co_scaled``: modules whose outputs add into the same channels before the next op and so
  scale with it (CSRNet: ``cond_shiftN``, the shift of the modulation ``x * (1 + s) + b``);
- ``consumer``: the conv reading the result after positively homogeneous ops only (ReLU,
  a multiply by a per-channel factor), whose input columns are divided by ``k``.

The factors come from the calibration set, like the activation ranges:
``k_c = (max_j r_j / r_c) ** alpha`` clamped to ``[1 / cap, cap]``, with ``r_c`` the largest
``|output|`` of producer channel ``c`` over the calibration inputs. ``alpha = 0.5`` is the
square-root balance of SmoothQuant / data-free equalization: the small channels gain range, the
consumer's weight columns give up the same factor (they are quantized per output channel, so a
column grown by ``k`` costs that row some precision); ``cap`` keeps a channel that was (nearly)
dead on the calibration photos from being blown up on a photo where it is not.

NNCF cannot do this here: its SmoothQuant folds scales only into a producer that directly
precedes the consumer (ONNX, torch.fx), and its ChannelAlignment is OpenVINO-only; CSRNet's
modulation sits between the two convs. So camkit applies it to the torch module, before any
format's exporter: the same equalized weights go to ONNX, LiteRT and Core ML, and the float
function is unchanged (``max_float_change`` records the check: the largest output difference
on a calibration input, relative to the output's magnitude when that exceeds 1).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from toolkit.errors import CamkitError
from toolkit.quantization.layers import strip_wrappers

#: class attribute of the model: the equalizable (producer, co-scaled, consumer) triples
EQUALIZE_ATTR = "W8A8_EQUALIZE"
#: attribute an equalized copy carries (its record)
MARK = "_camkit_equalization"
#: defaults: alpha 0.5 is the square-root balance; a float simulation on the official CSRNet
#: (docs/quantization.md) gave 35.3 dB worst held-apart at cap 4, 35.8 at cap 2; not swept by a
#: benchmark here
ALPHA, CAP = 0.5, 4.0


def pairs_of(module: nn.Module) -> list[tuple[str, tuple[str, ...], str]]:
    """The triples the model (or a wrapped model) declares, module paths as in ``module``."""
    found = []
    for path, sub in module.named_modules():
        for producer, co, consumer in getattr(type(sub), EQUALIZE_ATTR, ()):
            prefix = f"{path}." if path else ""
            found.append((prefix + producer, tuple(prefix + c for c in co), prefix + consumer))
    return found


def _channel_absmax(module: nn.Module, producers: Sequence[nn.Module], calib: Sequence[dict],
                    names: Sequence[str]) -> list[torch.Tensor]:
    """Per output channel, the largest ``|output|`` of each producer over ``calib``: one pass
    for all pairs (equalizing one pair leaves every other producer's output as it was: the
    consumer's output is unchanged, and a producer never sits inside another pair's span)."""
    seen: list[list[torch.Tensor]] = [[] for _ in producers]
    handles = []
    for i, producer in enumerate(producers):
        def hook(_m, _inp, out, i=i):
            dims = [d for d in range(out.dim()) if d != 1]
            seen[i].append(out.detach().abs().amax(dim=dims))
        handles.append(producer.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            for feeds in calib:
                module(*(torch.from_numpy(np.ascontiguousarray(feeds[n], np.float32))
                         for n in names))
    finally:
        for handle in handles:
            handle.remove()
    if any(not s for s in seen):
        raise CamkitError("equalization: a declared producer never ran on the calibration inputs")
    return [torch.stack(s).amax(dim=0) for s in seen]


def equalize(module: nn.Module, calib: Sequence[dict], input_names: Sequence[str],
             alpha: float = ALPHA, cap: float = CAP) -> tuple[nn.Module, dict | None]:
    """A copy of ``module`` (a prepared export module) with its declared pairs equalized on
    ``calib``, and the record for the manifest (None, and ``module`` itself, when the model
    declares no pair). Deterministic: same weights, same calibration feeds -> same factors."""
    triples = pairs_of(module)
    if not triples:
        return module, None
    out = copy.deepcopy(module)
    mods = dict(out.named_modules())
    record = []
    ranges = _channel_absmax(out, [mods[t[0]] for t in triples], calib, input_names)
    for (producer, co_scaled, consumer), r in zip(triples, ranges):
        cons = mods[consumer]
        r = r.clamp(min=1e-12)
        k = ((r.max() / r) ** alpha).clamp(1.0 / cap, cap)
        with torch.no_grad():
            for name in (producer, *co_scaled):
                m = mods[name]
                shape = (-1,) + (1,) * (m.weight.dim() - 1)
                m.weight.mul_(k.reshape(shape))
                if m.bias is not None:
                    m.bias.mul_(k)
            shape = (1, -1) + (1,) * (cons.weight.dim() - 2)
            cons.weight.div_(k.reshape(shape))
        record.append({
            "producer": strip_wrappers(producer), "consumer": strip_wrappers(consumer),
            "co_scaled": [strip_wrappers(c) for c in co_scaled],
            "range_spread_before": round(float(r.max() / r.min()), 3),
            "range_spread_after": round(float((r * k).max() / (r * k).min()), 3),
            "factor_min": round(float(k.min()), 4), "factor_max": round(float(k.max()), 4),
        })
    change = _max_float_change(module, out, calib[:1], input_names)
    if change > 1e-3:
        raise CamkitError(f"equalization changed the float model's output by {change:.2g} "
                          f"(relative); a "
                          f"declared W8A8_EQUALIZE pair is not scale-equivariant")
    done = {"method": "cross-layer range equalization (toolkit/quantization/equalize.py)",
            "alpha": alpha, "cap": cap, "pairs": record, "max_float_change": float(f"{change:.3g}")}
    setattr(out, MARK, done)  # what a format's scheme file records (was_equalized)
    return out, done


def was_equalized(module: nn.Module) -> bool:
    """Whether ``module`` is an :func:`equalize` result (its exporter records it, so a later
    ``camkit check`` re-derives the same graph)."""
    return getattr(module, MARK, None) is not None


def _max_float_change(a: nn.Module, b: nn.Module, calib: Sequence[dict],
                      names: Sequence[str]) -> float:
    worst = 0.0
    with torch.inference_mode():
        for feeds in calib:
            args = [torch.from_numpy(np.ascontiguousarray(feeds[n], np.float32)) for n in names]
            ya, yb = a(*args), b(*args)
            ya = ya if isinstance(ya, (tuple, list)) else (ya,)
            yb = yb if isinstance(yb, (tuple, list)) else (yb,)
            # relative to the output's magnitude: float rounding grows with it
            worst = max([worst] + [float((p - q).abs().max() / max(1.0, float(p.abs().max())))
                                   for p, q in zip(ya, yb)])
    return worst
