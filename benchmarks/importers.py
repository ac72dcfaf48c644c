"""Importer parity without the authors' weights: the official network, built from the authors' own
code, random-init, saved in the official file layout, imported with ``camkit import-weights`` and
compared output for output with camkit's graph (issue 19).

``--official-code DIR``: a checkout of the authors' repository that you fetched (it is imported by
path at run time, never copied into camkit). Per model (``PARITY``, model id -> function):

* ``inpaint_edgeconnect`` (DIR = a checkout of github.com/knazeri/edge-connect): EdgeGenerator
  (spectral norm, one power iteration in train mode so u and v are not their init) and
  InpaintGenerator, seed 0, eval; saved as ``EdgeModel_gen.pth`` / ``InpaintingModel_gen.pth``
  (``{'iteration', 'generator'}``); imported from their folder into ``paper``; G1 and G2 compared
  on the same random inputs at 256x256 (max abs, budget 1e-5), then the whole pipeline: the
  official wiring (``EdgeModel.forward``, ``InpaintingModel.forward``, ``EdgeConnect.test``) fed
  camkit's in-graph edges vs ``camkit``'s graph (wiring parity), and fed the official Canny
  (skimage, sigma 2, masked) vs camkit's graph on a photo with a hole (edge F1 and output
  agreement in the hole; random weights, so this measures the edges' effect, not quality).

    .venv/bin/python benchmarks/importers.py --official-code ~/src/edge-connect
    ... --models inpaint_edgeconnect      # one model's section (the only one so far)

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


#: model id -> function(official code dir) -> (rows, camkit commands); NAFNet, Blur2Blur to come
PARITY = {"inpaint_edgeconnect": edgeconnect}


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official-code", type=Path, required=True,
                        help="the authors' checkout (edge-connect for inpaint_edgeconnect)")
    parser.add_argument("--models", nargs="+", choices=list(PARITY), default=list(PARITY))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "importers.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    sections = {m: PARITY[m](args.official_code.expanduser()) for m in args.models}
    shown = ["benchmarks/importers.py", *(sys.argv[1:] if argv is None else argv)]
    text = _report(sections, shown)
    args.out.write_text(text)
    print(text)
    failed = [r for rows, _ in sections.values() for r in rows if r.get("ok") is False]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
