"""Why the official DPED generator's worst held-apart photo stays low in w8a8: int8 steps before
an instance norm, on a flat photo.

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/int8_norm_inputs.py
    # writes benchmarks/int8_norm_inputs.md (about 2 minutes)

The w8a8 exports keep the instance norms (and, since NormResidual, the residual sums) float, but
each residual-block conv still writes an int8 output that the norm then reads. A norm divides
every channel by that photo's own spread, so on a nearly uniform photo it magnifies the int8
steps of its input, whose range the calibration photos set. This measures it in float, on the
held-apart photos of benchmarks/int8_real_weights.py (photos no calibration set holds): int8
(per tensor, min/max of the bundled calibration photos, 256 steps) applied *only* to the outputs
of the convs that feed a norm, everything else exact. Per photo: parity against the float model
and the photo's pixel standard deviation.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from int8_real_weights import held_apart, weights_for  # noqa: E402

from toolkit.data.io import read_image  # noqa: E402
from toolkit.export import Weights, build_model, make_spec  # noqa: E402
from toolkit.models._blocks import InstanceNorm  # noqa: E402
from toolkit.quantization.calibration import calibration_feeds, feeds_for  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "int8_norm_inputs.md"


def norm_fed_convs(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The convs whose output an instance norm reads (``convN`` -> ``normN`` in one block)."""
    found = {}
    for name, block in model.named_modules():
        for i in (1, 2):
            conv, norm = getattr(block, f"conv{i}", None), getattr(block, f"norm{i}", None)
            if isinstance(conv, torch.nn.Conv2d) and isinstance(norm, InstanceNorm):
                found[f"{name}.conv{i}"] = conv
    return found


def fake_int8(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    step = (hi - lo) / 255
    zero = round(-lo / step)
    return ((x / step).round() + zero).clamp(0, 255).sub(zero) * step


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    mse = ((x.clamp(0, 1) - y.clamp(0, 1)) ** 2).mean().clamp_min(1e-14)
    return float(10 * torch.log10(1 / mse))


def main() -> None:
    import time

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--dped-patches", type=int, default=16)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="camkit-norm-inputs-"))
    try:
        held = held_apart(work / "held", args.dped_patches)
        ckpt = Path(weights_for("dped_official", work)[1])
        model = build_model("enhance_wespe", "paper", Weights(ckpt)).eval()
        spec = make_spec("enhance_wespe", "paper", (h, w), "nchw", False)
        names = [t.name for t in spec.model.inputs]
        paths = sorted((held / "input").glob("*.png"))
        images = [read_image(p, 3, cover=spec.sample_size) for p in paths]
        photos = [tuple(torch.from_numpy(f[n]) for n in names)
                  for f in (feeds_for(im, spec, name=p.name) for im, p in zip(images, paths))]
        calib = [tuple(torch.from_numpy(f[n]) for n in names) for f in calibration_feeds(spec)]
        convs = norm_fed_convs(model)
        with torch.no_grad():
            reference = [model(*a) for a in photos]
        ranges: dict[str, tuple[float, float]] = {}

        def record(name):
            def hook(_module, _inputs, out):
                lo, hi = ranges.get(name, (0.0, 0.0))
                ranges[name] = (min(lo, float(out.min())), max(hi, float(out.max())))
            return hook

        hooks = [c.register_forward_hook(record(n)) for n, c in convs.items()]
        with torch.no_grad():
            for a in calib:
                model(*a)
        for hook in hooks:
            hook.remove()
        hooks = [c.register_forward_hook(lambda _m, _i, out, n=n: fake_int8(out, *ranges[n]))
                 for n, c in convs.items()]
        with torch.no_grad():
            parity = [psnr(model(*a), r) for a, r in zip(photos, reference)]
        for hook in hooks:
            hook.remove()
        spread = [float(np.asarray(im, dtype=np.float32).std()) for im in images]
        order = np.argsort(parity)
        lines = [
            "# INT8 steps before the instance norms (official DPED generator)", "",
            f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC "
            f"({(time.perf_counter() - started) / 60:.1f} min) by "
            "`OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/int8_norm_inputs.py`.",
            "", __doc__.split("\n\n", 2)[2].strip(), "",
            f"Size {args.size}; {len(convs)} convs feed a norm "
            f"({', '.join(convs)}); {len(paths)} held-apart photos: mean "
            f"{np.mean(parity):.2f} dB, worst {min(parity):.2f} dB.", "",
            "| photo | parity vs float (dB) | pixel std |", "|---|---|---|",
        ]
        lines += [f"| {paths[i].name} | {parity[i]:.2f} | {spread[i]:.3f} |" for i in order]
        args.out.write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
