"""Where w8a8 loses the picture: an error budget per quantization point, on real weights.

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/int8_error_budget.py
    # writes benchmarks/int8_error_budget.md (a few minutes: torch only, no exporter)

A float simulation of camkit's default w8a8, built from the same pieces the export and
``camkit train --qat`` use: the model's declared float layers stay float, the declared pairs are
equalized on the calibration set (toolkit/quantization/equalize.py), and every other conv /
linear gets int8 weights (symmetric, per output channel) and int8 input and output (per tensor,
min/max over the calibration set): toolkit/quantization/qat.py ``FakeQuant``. It is the model
the exporters approximate, not an exporter's artifact: benchmarks/int8_real_weights.md has
those. Parity (PSNR against the torch float model) on the held-apart photos of that benchmark
(GoPro frames, Places2 inpainting photos, the first 16 DPED iPhone patches; ../shared/data).

Sections, per model (official CSRNet FiveK; official DPED iPhone generator):

1. **One point at a time**: only that activation (a layer's input or output) or only that
   layer's weights in int8, everything else float: which points cost the most.
2. **Weights vs activations**: all of it; activations only (the weights exact: the most any
   weight-rounding optimisation such as AdaRound could buy); weights only.
3. **Calibration coverage**: the ranges from the model's calibration set, from that set plus N
   more DPED iPhone patches (after the held-apart and search ones), and with range headroom
   (every range widened by a share of itself): does the worst held-apart photo move?
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from toolkit.checkpoints import import_weights  # noqa: E402
from toolkit.data.io import read_image  # noqa: E402
from toolkit.export import Weights, build_model, make_spec  # noqa: E402
from toolkit.quantization.calibration import calibration_feeds, feeds_for  # noqa: E402
from toolkit.quantization.equalize import equalize  # noqa: E402
from toolkit.quantization.layers import default_float_layers  # noqa: E402
from toolkit.quantization.qat import FakeQuant, fake_quant_act  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "int8_error_budget.md"
#: name -> (model id, variant, official weights, import-weights arguments)
MODELS = {
    "csrnet_official": ("retouch_csrnet", "paper", SHARED / "csrnet_official" / "csrnet.pth",
                        "pytorch"),
    "dped_official": ("enhance_wespe", "paper", SHARED / "dped_official" / "iphone_orig",
                      "tensorflow"),
}


class Selective(FakeQuant):
    """FakeQuant where only the chosen activation keys and weight layers are int8."""

    def __init__(self, module, float_layers):
        super().__init__(module, float_layers)
        self.acts: set[str] | None = None  # None: every activation
        self.widen = 0.0

    def choose(self, acts, weights) -> None:
        self.acts = acts
        for (lid, _), wq in zip(self.layers, self._weights):
            wq.enabled = weights is None or lid in weights

    def _act(self, key, x):
        if self.mode != "quant" or (self.acts is not None and key not in self.acts):
            return super()._act(key, x) if self.mode == "calibrate" else x
        lo, hi = self.ranges[key]
        pad = (hi - lo) * self.widen / 2
        return fake_quant_act(x, lo - pad if lo < 0 else lo, hi + pad)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    err = float((a.clamp(0, 1) - b.clamp(0, 1)).pow(2).mean())
    return 10 * np.log10(1.0 / max(err, 1e-14))


def held_paths(dped: int) -> list[Path]:
    photos = sorted((SHARED / "gopro_pairs").glob("*.png"))
    photos += sorted((SHARED / "inpainting_examples" / "images").glob("*"))
    return photos + dped_patches(0, dped)


def dped_patches(skip: int, count: int) -> list[Path]:
    return sorted((SHARED / "dped_patches" / "iphone").glob("*.jpg"),
                  key=lambda p: int(p.stem))[skip:skip + count]


def study(name: str, size: tuple[int, int], dped: int, extra_counts: list[int],
          headrooms: list[float], work: Path) -> list[str]:
    model_id, variant, source, fmt = MODELS[name]
    ckpt = import_weights(model_id, source, work / name, variant, fmt)
    model = build_model(model_id, variant, Weights(ckpt)).eval()
    spec = make_spec(model_id, variant, size, "nchw", False)
    names = [t.name for t in spec.model.inputs]

    def feeds(paths):
        return [tuple(torch.from_numpy(f[n]) for n in names) for f in
                (feeds_for(read_image(p, 3, cover=spec.sample_size), spec, name=p.name)
                 for p in paths)]

    calib_feeds = calibration_feeds(spec)
    calib = [tuple(torch.from_numpy(f[n]) for n in names) for f in calib_feeds]
    held = feeds(held_paths(dped))
    with torch.no_grad():
        ref = [model(*a) for a in held]
    student, _ = equalize(copy.deepcopy(model), calib_feeds, names)
    fq = Selective(student, default_float_layers(student))
    fq.calibrate(calib)
    base_ranges = dict(fq.ranges)

    def score(acts=None, weights=None) -> tuple[float, float]:
        fq.set_mode("quant")  # (re-enables every weight quantizer: choose after it)
        fq.choose(acts, weights)
        with torch.no_grad():
            ps = [psnr(student(*a), r) for a, r in zip(held, ref)]
        return float(np.mean(ps)), min(ps)

    lines = [f"## {name} ({model_id} {variant}, {size[0]}x{size[1]})", "",
             f"{len(held)} held-apart photos; {len(calib)} calibration inputs "
             f"({spec.model.calibration_set}); {len(fq.layers)} int8 layers, "
             f"{len(default_float_layers(student))} declared float.", "",
             "### One point at a time (everything else float)", "",
             "| int8 point | held mean (dB) | held worst (dB) |", "|---|---|---|"]
    points = []
    for lid, _ in fq.layers:
        for key in (lid + "<in", lid + ">out"):
            points.append((key, score({key}, set())))
        points.append((lid + " weights", score(set(), {lid})))
    for label, (m, w) in sorted(points, key=lambda p: p[1][1]):
        lines.append(f"| `{label}` | {m:.2f} | {w:.2f} |")
    every = {lid for lid, _ in fq.layers}
    lines += ["", "### Weights vs activations", "",
              "| int8 | held mean (dB) | held worst (dB) |", "|---|---|---|"]
    for label, acts, weights in (("weights and activations (the default w8a8)", None, None),
                                 ("activations only (exact weights: AdaRound's ceiling)", None,
                                  set()),
                                 ("weights only", set(), every)):
        m, w = score(acts, weights)
        lines.append(f"| {label} | {m:.2f} | {w:.2f} |")
    lines += ["", "### Calibration coverage (weights and activations int8)", "",
              "| ranges from | held mean (dB) | held worst (dB) |", "|---|---|---|"]
    lines.append(f"| {spec.model.calibration_set} ({len(calib)}) | "
                 + " | ".join(f"{v:.2f}" for v in score()) + " |")
    pool = feeds(dped_patches(dped + 24, max(extra_counts, default=0)))
    for n in extra_counts:
        fq.calibrate(calib + pool[:n])
        lines.append(f"| {spec.model.calibration_set} + {n} DPED patches | "
                     + " | ".join(f"{v:.2f}" for v in score()) + " |")
    fq.ranges = base_ranges
    for h in headrooms:
        fq.widen = h
        lines.append(f"| {spec.model.calibration_set}, ranges widened {100 * h:.0f}% | "
                     + " | ".join(f"{v:.2f}" for v in score()) + " |")
    fq.widen = 0.0
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--dped-patches", type=int, default=16,
                        help="DPED patches among the held-apart photos (default 16)")
    parser.add_argument("--extra", default="16,64,128",
                        help="extra DPED calibration patches to try (comma list)")
    parser.add_argument("--headroom", default="0.1,0.25", help="range widenings to try")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if not (SHARED / "dped_patches").is_dir():
        raise SystemExit(f"{SHARED} is absent: this benchmark needs ../shared/data")
    h, w = (int(v) for v in args.size.split("x"))
    started = time.perf_counter()
    lines = []
    with tempfile.TemporaryDirectory(prefix="camkit-budget-") as work:
        for name in [n for n in args.models.split(",") if n]:
            print(f"{name} ...", file=sys.stderr, flush=True)
            lines += study(name, (h, w), args.dped_patches,
                           [int(x) for x in args.extra.split(",") if x],
                           [float(x) for x in args.headroom.split(",") if x], Path(work))
    head = ["# Where w8a8 loses the picture: error budget on real weights", "",
            f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on "
            f"{platform.machine()} ({(time.perf_counter() - started) / 60:.1f} min) by "
            f"`OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/int8_error_budget.py"
            f"{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}`.", "",
            "A float simulation of the default w8a8 (declared float layers, equalization, "
            "int8 weights per output channel, int8 inputs and outputs of every other conv / "
            "linear with min/max ranges from the calibration set: "
            "toolkit/quantization/qat.py `FakeQuant`, what `camkit train --qat` trains "
            "against), not an exporter's artifact (benchmarks/int8_real_weights.md has "
            "those). Parity against the torch float model on the held-apart photos.", ""]
    args.out.write_text("\n".join(head + lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
