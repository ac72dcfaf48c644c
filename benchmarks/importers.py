"""Importer parity without the authors' weights: the official network, built from the authors' own
code, random-init, saved in the official file layout, imported with ``camkit import-weights`` and
compared output for output with camkit's graph (issue 19).

``--official-code MODEL=DIR`` (repeatable, one per model): a checkout of the authors' repository
that you fetched (imported by path at run time, never copied into camkit). Per model (``PARITY``,
model id -> function):

* ``inpaint_edgeconnect`` (DIR = a checkout of github.com/knazeri/edge-connect): EdgeGenerator
  (spectral norm, one power iteration in train mode so u and v are not their init) and
  InpaintGenerator, seed 0, eval; saved as ``EdgeModel_gen.pth`` / ``InpaintingModel_gen.pth``
  (``{'iteration', 'generator'}``); imported from their folder into ``paper``; G1 and G2 compared
  on the same random inputs at 256x256 (max abs, budget 1e-5), then the whole pipeline: the
  official wiring (``EdgeModel.forward``, ``InpaintingModel.forward``, ``EdgeConnect.test``) fed
  camkit's in-graph edges vs ``camkit``'s graph (wiring parity), and fed the official Canny
  (skimage, sigma 2, masked) vs camkit's graph on a photo with a hole (edge F1 and output
  agreement in the hole; random weights, so this measures the edges' effect, not quality).
* ``deblur_nafnet`` (DIR = a checkout of github.com/megvii-research/NAFNet): their ``NAFNet``
  (``basicsr/models/archs/NAFNet_arch.py``) built with the configuration camkit's ``paper``
  claims (GoPro width 32: enc 1/1/1/28, middle 1, dec 1/1/1/1), seed 0, with beta / gamma
  (zero at init: every block would be the identity) and the LayerNorm2d weights and biases
  perturbed; saved as ``{'params': state_dict}`` (the layout of ``NAFNet-GoPro-width32.pth``);
  imported with ``camkit import-weights`` (default variant: paper); compared at 256x256 (their
  pad to a multiple of 16 is a no-op) and at 250x250 (their pad + crop vs camkit's graph on the
  input zero-padded by the caller, as camkit's graph has no in-graph pad).

    .venv/bin/python benchmarks/importers.py
        --official-code inpaint_edgeconnect=~/src/edge-connect
        --official-code deblur_nafnet=~/src/NAFNet              (one command line)
    ... --official-code deblur_nafnet=~/src/NAFNet --out /tmp/nafnet.md   # one model's section

Writes benchmarks/importers.md.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _camkit import REPO, camkit  # noqa: E402

sys.path.insert(0, str(REPO))
BUDGET_MAX_ABS = 1e-5
SIZE_PX = 256


def _load_official(path: Path, name: str):
    """Import the authors' module at ``path`` by path (run time only)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or not path.is_file():
        raise SystemExit(f"{path} not found; pass --official-code the authors' checkout")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _git_commit(code: Path) -> str | None:
    """HEAD of the checkout at ``code``, or None where it is not a git checkout."""
    import subprocess

    done = subprocess.run(["git", "-C", str(code), "rev-parse", "HEAD"], capture_output=True,
                          text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def edgeconnect(code: Path) -> tuple[list[dict], list[str]]:
    from toolkit.models.inpaint_edgeconnect import model as ec
    from toolkit.models.inpaint_edgeconnect.edges import LUMA, canny_agreement, canny_reference

    networks_py = code / "src" / "networks.py"
    official = _load_official(networks_py, "edgeconnect_official_networks")
    torch.manual_seed(0)
    g1 = official.EdgeGenerator(use_spectral_norm=True)
    g2 = official.InpaintGenerator()
    with torch.no_grad():  # one spectral-norm power iteration: u, v leave their random init
        g1.train()(torch.rand(1, 3, 64, 64))
    g1.eval(), g2.eval()
    commands = []
    with tempfile.TemporaryDirectory() as tmp:
        release, out = Path(tmp) / "release", Path(tmp) / "ckpt"
        release.mkdir()
        torch.save({"iteration": 0, "generator": g1.state_dict()}, release / "EdgeModel_gen.pth")
        torch.save({"iteration": 0, "generator": g2.state_dict()},
                   release / "InpaintingModel_gen.pth")
        argv = camkit("import-weights", "inpaint_edgeconnect", str(release), "--out", str(out))
        commands.append(" ".join(argv).replace(tmp, "TMP"))
        net = ec.build("paper", out / "inpaint_edgeconnect-paper.safetensors")
    rows = []
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        x1 = torch.rand(1, 3, SIZE_PX, SIZE_PX, generator=gen)
        x2 = torch.rand(1, 4, SIZE_PX, SIZE_PX, generator=gen)
        rows.append(("G1 (EdgeGenerator, spectral norm folded)", "3x256x256 uniform",
                     _max_abs(g1(x1), torch.sigmoid(net.g1(x1)))))
        rows.append(("G2 (InpaintGenerator)", "4x256x256 uniform",
                     _max_abs(g2(x2), (torch.tanh(net.g2(x2)) + 1) / 2)))

        from toolkit.data.datasets import _fit
        from toolkit.data.io import list_images, read_image

        photo = _fit(read_image(list_images(REPO / "calibration" / "photos_pd")[0]), SIZE_PX,
                     SIZE_PX)
        image = torch.from_numpy(np.ascontiguousarray(photo.transpose(2, 0, 1)))[None].float()
        mask = torch.zeros(1, 1, SIZE_PX, SIZE_PX)
        mask[..., 80:176, 64:160] = 1
        known = 1 - mask
        luma = torch.tensor(LUMA).reshape(1, 3, 1, 1)
        gray = (image * luma).sum(1, keepdim=True)

        def official_pipeline(edges):  # EdgeConnect.test, model 3
            e = g1(torch.cat([gray * known + mask, edges * known, mask], 1))
            colour = g2(torch.cat([image * known + mask, e], 1))
            return colour * mask + image * known

        ours = net(image, mask)
        camkit_edges = net.edges(image, known) * known
        rows.append(("pipeline, official wiring on camkit's edges vs camkit graph",
                     "photo 256x256, 96x96 hole", _max_abs(official_pipeline(camkit_edges), ours)))
        known_np = known[0, 0].numpy() > 0.5
        reference = canny_reference(photo, known_hw=known_np)
        f1 = canny_agreement(camkit_edges[0, 0].numpy() > 0.5, reference > 0.5)
        f1_1px = canny_agreement(camkit_edges[0, 0].numpy() > 0.5, reference > 0.5, 1)
        with_canny = official_pipeline(torch.from_numpy(reference)[None, None].float())
        hole = mask.expand_as(image) > 0.5
        diff = (with_canny - ours)[hole]
        psnr_db = float(10 * torch.log10(1 / diff.pow(2).mean()))
    results = [{"part": p, "input": i, "max_abs": v, "ok": v <= BUDGET_MAX_ABS}
               for p, i, v in rows]
    results.append({"part": "pipeline, official Canny (skimage sigma 2) vs camkit's in-graph "
                    "edges", "input": "same photo and hole",
                    "note": f"edge F1 {f1:.3f} exact / {f1_1px:.3f} within 1 px (known region); "
                    f"outputs in the hole: max abs {float(diff.abs().max()):.3f}, "
                    f"{psnr_db:.1f} dB (random-init weights)"})
    sha = hashlib.sha256(networks_py.read_bytes()).hexdigest()
    commit = _git_commit(code)
    results.append({"part": "official code", "input": "src/networks.py",
                    "note": f"sha256 {sha}" + (f", commit {commit}" if commit else "")})
    return results, commands


def _nafnet_arch(code: Path):
    """The authors' ``basicsr/models/archs/NAFNet_arch.py`` (and the ``arch_util`` /
    ``local_arch`` it imports) from the checkout at ``code``, without running basicsr's package
    ``__init__`` files (they import every arch, model, dataset, cv2, torchvision, lmdb...): the
    three packages are bare module objects pointing at the checkout's folders, and
    ``basicsr.utils`` is a stand-in with the one name ``arch_util`` imports (``get_root_logger``,
    used there only in commented-out code). sys.modules is restored afterwards."""
    import logging
    import types

    arch = code / "basicsr" / "models" / "archs" / "NAFNet_arch.py"
    if not arch.is_file():
        raise SystemExit(f"{arch} not found; pass deblur_nafnet=DIR, DIR a checkout of "
                         "github.com/megvii-research/NAFNet")
    packages = ("basicsr", "basicsr.models", "basicsr.models.archs")
    names = (*packages, "basicsr.utils",
             *(f"basicsr.models.archs.{m}" for m in ("arch_util", "local_arch", "NAFNet_arch")))
    saved = {n: sys.modules.pop(n, None) for n in names}
    try:
        for name in packages:
            package = types.ModuleType(name)
            package.__path__ = [str(code.joinpath(*name.split(".")))]
            sys.modules[name] = package
        utils = types.ModuleType("basicsr.utils")
        utils.get_root_logger = lambda *a, **k: logging.getLogger("basicsr")
        sys.modules["basicsr.utils"] = utils
        return importlib.import_module("basicsr.models.archs.NAFNet_arch")
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def nafnet(code: Path) -> tuple[list[dict], list[str]]:
    from toolkit.models.deblur_nafnet import model as nf

    official = _nafnet_arch(code)
    config = nf.VARIANTS["paper"]  # the official GoPro width-32 network, as camkit claims
    torch.manual_seed(0)
    theirs = official.NAFNet(img_channel=3, width=config["width"],
                             middle_blk_num=config["middle_blocks"],
                             enc_blk_nums=list(config["enc_blocks"]),
                             dec_blk_nums=list(config["dec_blocks"])).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # beta = gamma = 0 and norms at 1 / 0 would hide whole blocks
        for name, p in theirs.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.copy_(torch.empty(p.shape).uniform_(-0.5, 0.5, generator=gen))
            elif ".norm" in name:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + torch.empty(p.shape).uniform_(-0.3, 0.3, generator=gen))
    commands = []
    with tempfile.TemporaryDirectory() as tmp:
        release, out = Path(tmp) / "NAFNet-GoPro-width32.pth", Path(tmp) / "ckpt"
        torch.save({"params": theirs.state_dict()}, release)  # the release's layout
        argv = camkit("import-weights", "deblur_nafnet", str(release), "--out", str(out))
        commands.append(" ".join(argv).replace(tmp, "TMP"))
        net = nf.build("paper", out / "deblur_nafnet-paper.safetensors").eval()
    rows = []
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        x0 = torch.rand(1, 3, SIZE_PX, SIZE_PX, generator=gen)
        ref = theirs(x0)
        rows.append(("NAFNet (paper, GoPro width 32)", f"3x{SIZE_PX}x{SIZE_PX} uniform "
                     "(their pad to 16: a no-op)", _max_abs(ref, net(x0))))
        size = SIZE_PX - 6  # their forward pads to a multiple of 16 and crops
        x = torch.rand(1, 3, size, size, generator=gen)
        pad = -size % net.size_multiple
        ours = net(torch.nn.functional.pad(x, (0, pad, 0, pad)))[..., :size, :size]
        rows.append(("NAFNet, their pad + crop vs the caller padding camkit's graph",
                     f"3x{size}x{size} uniform, zero pad to {size + pad}",
                     _max_abs(theirs(x), ours)))
        scale = float((ref - x0).abs().max())  # the net's correction (output minus input)
    results = [{"part": p, "input": i, "max_abs": v, "ok": v <= BUDGET_MAX_ABS}
               for p, i, v in rows]
    results.append({"part": "what is compared", "input": f"3x{SIZE_PX}x{SIZE_PX}",
                    "note": f"the official net's correction (output - input) reaches max abs "
                    f"{scale:.2f} (beta, gamma ~ U(-0.5, 0.5), LayerNorm2d weights 1 +- 0.3, "
                    "biases +- 0.3: no block is the identity)"})
    arch = code / "basicsr" / "models" / "archs" / "NAFNet_arch.py"
    sha = hashlib.sha256(arch.read_bytes()).hexdigest()
    commit = _git_commit(code)
    results.append({"part": "official code", "input": "basicsr/models/archs/NAFNet_arch.py",
                    "note": f"sha256 {sha}" + (f", commit {commit}" if commit else "")})
    return results, commands


#: model id -> function(official code dir) -> (rows, camkit commands); Blur2Blur to come
PARITY = {"inpaint_edgeconnect": edgeconnect, "deblur_nafnet": nafnet}
#: the authors' repository each model's DIR is a checkout of
OFFICIAL_REPO = {"inpaint_edgeconnect": "github.com/knazeri/edge-connect",
                 "deblur_nafnet": "github.com/megvii-research/NAFNet"}


def _report(sections: dict[str, tuple[list[dict], list[str]]], argv: list[str]) -> str:
    lines = ["# Importer parity: the authors' code vs camkit's import", "",
             "Written by `" + " ".join(argv) + "` (benchmarks/importers.py; the official code is "
             "the user's checkout, imported by path, never copied into camkit). Random-init "
             "official networks saved in the official file layout, imported with "
             f"`camkit import-weights`, compared on the same inputs; budget max abs "
             f"<= {BUDGET_MAX_ABS:g}. torch {torch.__version__}, CPU float32.", ""]
    for model_id, (rows, commands) in sections.items():
        lines += [f"## {model_id}", "", "| part | input | max abs | within budget |",
                  "|---|---|---|---|"]
        for r in rows:
            if "max_abs" in r:
                lines.append(f"| {r['part']} | {r['input']} | {r['max_abs']:.2e} | "
                             f"{'yes' if r['ok'] else 'NO'} |")
            else:
                lines.append(f"| {r['part']} | {r['input']} | {r['note']} | |")
        lines += ["", "Import command (TMP = a temporary folder):", "", "```",
                  *commands, "```", ""]
    return "\n".join(lines)


def _official_code(value: str) -> tuple[str, Path]:
    """``MODEL=DIR`` -> (model id, DIR)."""
    model_id, sep, folder = value.partition("=")
    if not sep or model_id not in PARITY or not folder:
        raise argparse.ArgumentTypeError(
            f"{value!r}: pass MODEL=DIR, MODEL one of {', '.join(PARITY)} "
            f"({'; '.join(f'{m}: {r}' for m, r in OFFICIAL_REPO.items())})")
    return model_id, Path(folder).expanduser()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--official-code", type=_official_code, action="append", required=True,
                        metavar="MODEL=DIR",
                        help="DIR: a checkout of the authors' code for MODEL ("
                        + "; ".join(f"{m}: {r}" for m, r in OFFICIAL_REPO.items())
                        + "); repeatable, one section of the report per model given")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "importers.md")
    args = parser.parse_args(argv)
    code = dict(args.official_code)
    torch.set_num_threads(2)
    sections = {m: PARITY[m](code[m]) for m in PARITY if m in code}
    shown = ["benchmarks/importers.py", *(sys.argv[1:] if argv is None else argv)]
    text = _report(sections, shown)
    args.out.write_text(text)
    print(text)
    failed = [r for rows, _ in sections.values() for r in rows if r.get("ok") is False]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
