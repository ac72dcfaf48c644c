"""The official DPED iPhone generator on DPED patch pairs: PSNR/SSIM of G(x) and of x vs Canon.

    .venv/bin/camkit import-weights enhance_wespe ../shared/data/dped_official/iphone_orig \\
        --from tensorflow --out /tmp/dped_off
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/dped_official.py \\
        --checkpoint /tmp/dped_off/enhance_wespe-paper.safetensors
    # writes benchmarks/dped_official.md

Every aligned pair ``DATA/iphone/N.jpg`` -> ``DATA/canon/N.jpg`` (default DATA:
../shared/data/dped_patches, the 300 100x100 iPhone test patches DPED publishes) is scored whole:
the generator's output clipped to [0, 1] against the Canon patch, and the unenhanced iPhone patch
against it (the do-nothing baseline), with ``toolkit.checks.metrics`` (PSNR; SSIM of Wang et al.
2004, 11x11 Gaussian window, single scale). Means over all pairs, plus how many pairs the
generator improves. ``--also VARIANT=CHECKPOINT`` adds rows for other enhance_wespe checkpoints
(e.g. the shipped mobile one). The weights are read where the user keeps them, never bundled.
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from toolkit.checks.metrics import psnr_db, ssim  # noqa: E402
from toolkit.data.dped import DPEDPatches  # noqa: E402
from toolkit.errors import CamkitError  # noqa: E402
from toolkit.models.enhance_wespe import model as wespe  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "dped_patches"
DEFAULT_OUT = REPO / "benchmarks" / "dped_official.md"


def identical_pairs(pairs: DPEDPatches) -> list[int]:
    """Pairs whose phone patch equals its Canon patch (PSNR infinite): left out of every mean."""
    return [i for i in range(len(pairs)) if torch.equal(pairs[i][0], pairs[i][1])]


def score(net: torch.nn.Module | None, pairs: DPEDPatches, indices: list[int]) -> dict[str, float]:
    """Mean PSNR/SSIM over the pairs ``indices``; ``net`` None scores the input itself."""
    psnrs, ssims = [], []
    with torch.no_grad():
        for i in indices:
            phone, canon = pairs[i]
            image = phone[None]
            if net is not None:
                image = net(image).clamp(0.0, 1.0)
            psnrs.append(psnr_db(image, canon[None]))
            ssims.append(ssim(image, canon[None]))
    return {"psnr_db": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)),
            "psnr_each": psnrs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="the imported official DPED generator (paper variant .safetensors)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="DPED folder with iphone/ and canon/ (flat) or the official archive")
    parser.add_argument("--split", default="test", help="DPED split for the official archive")
    parser.add_argument("--also", action="append", default=[], metavar="VARIANT=CHECKPOINT",
                        help="another enhance_wespe checkpoint to score (repeatable)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)

    pairs = DPEDPatches(args.data, "iphone", args.split, train=False)  # whole patches, in order
    rows = [("iPhone input (no enhancement)", "-", None)]
    rows.append(("official DPED iPhone generator", "paper",
                 wespe.build("paper", args.checkpoint).eval()))
    for item in args.also:
        if "=" not in item:
            raise CamkitError(f"--also {item}: give VARIANT=CHECKPOINT, e.g. mobile=path.safetensors")
        variant, path = item.split("=", 1)
        rows.append((f"enhance_wespe {variant} {Path(path).name}", variant,
                     wespe.build(variant, path).eval()))

    skipped = identical_pairs(pairs)
    indices = [i for i in range(len(pairs)) if i not in skipped]
    skipped_names = ", ".join(pairs.pairs[i][0].name for i in skipped) or "none"
    baseline = None
    lines = [
        "# Official DPED iPhone generator on DPED patch pairs",
        "",
        f"{len(pairs)} aligned iPhone -> Canon pairs of `{_show(args.data)}` ({pairs.layout} layout,"
        f" {pairs.crop_px}x{pairs.crop_px} px, scored whole). PSNR and SSIM (Wang et al. 2004, "
        "single scale, `toolkit.checks.metrics`) of the output clipped to [0, 1] against the Canon "
        "patch, mean over the pairs; 'pairs improved': PSNR above the input's. Left out of "
        f"every row: {len(skipped)} pairs whose iPhone patch equals the Canon patch "
        f"({skipped_names}; infinite input PSNR), so {len(indices)} pairs are scored.",
        "",
        "| model | variant | PSNR (dB) | SSIM | pairs improved |",
        "|---|---|---|---|---|",
    ]
    for name, variant, net in rows:
        result = score(net, pairs, indices)
        if baseline is None:
            baseline, improved = result["psnr_each"], "-"
        else:
            better = sum(a > b for a, b in zip(result["psnr_each"], baseline))
            improved = f"{better} / {len(baseline)}"
        lines.append(f"| {name} | {variant} | {result['psnr_db']:.2f} | {result['ssim']:.4f} | "
                     f"{improved} |")
        print(lines[-1], flush=True)
    command = ("OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/dped_official.py "
               f"--checkpoint {_show(args.checkpoint)}"
               + "".join(f" --also {a}" for a in args.also))
    lines += [
        "",
        "Made by (after `camkit import-weights enhance_wespe "
        "../shared/data/dped_official/iphone_orig --from tensorflow --out /tmp/dped_off`):",
        "",
        "```",
        command,
        "```",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d}, torch {torch.__version__}, "
        f"{platform.machine()}, one CPU thread.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


def _show(path: Path) -> str:
    """A path as the command line would give it: relative to the repo when possible."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        try:
            return "../" + str(path.relative_to(REPO.parent))
        except ValueError:
            return str(path)


if __name__ == "__main__":
    main()
