"""inpaint_edgeconnect's official graph (``paper``) and the importer of the authors' release
(``EdgeModel_gen.pth`` + ``InpaintingModel_gen.pth``): key mapping and shapes on synthetic
state dicts in the official layout, spectral-norm folding against torch, refusals, the
``mobile`` / ``tiny`` graphs unchanged, the paper graph's export; parity with the authors' code
when a checkout of it is given (CAMKIT_EDGECONNECT_CODE=DIR, as benchmarks/importers.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from toolkit.checkpoints import import_weights
from toolkit.errors import CamkitError
from toolkit.models.inpaint_edgeconnect import model as ec

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[1]


def official_layout(widths, blocks: int, sn: bool, in_ch: int, out_ch: int) -> dict:
    """Key -> shape of the official EdgeGenerator (``sn``) / InpaintGenerator, written from
    src/networks.py: ReflectionPad2d modules take Sequential slots (encoder 0, decoder 6, block
    0 and 4); spectral-normed convs store weight_orig, weight_u (rows of W with the output dim
    first: dim 1 for ConvTranspose2d), weight_v; block convs have no bias under spectral norm."""
    w0, w1, w2 = widths
    shapes = {}

    def conv(name, weight, bias=True, normed=sn, transposed=False):
        if normed:
            rows = weight[1] if transposed else weight[0]
            cols = (weight[0] if transposed else weight[1]) * weight[2] * weight[3]
            shapes.update({f"{name}.weight_orig": weight, f"{name}.weight_u": (rows,),
                           f"{name}.weight_v": (cols,)})
        else:
            shapes[f"{name}.weight"] = weight
        if bias:
            shapes[f"{name}.bias"] = (weight[1] if transposed else weight[0],)

    conv("encoder.1", (w0, in_ch, 7, 7))
    conv("encoder.4", (w1, w0, 4, 4))
    conv("encoder.7", (w2, w1, 4, 4))
    for i in range(blocks):
        conv(f"middle.{i}.conv_block.1", (w2, w2, 3, 3), bias=not sn)
        conv(f"middle.{i}.conv_block.5", (w2, w2, 3, 3), bias=not sn)
    conv("decoder.0", (w2, w1, 4, 4), transposed=True)
    conv("decoder.3", (w1, w0, 4, 4), transposed=True)
    conv("decoder.7", (out_ch, w0, 7, 7), normed=False)
    return shapes


def official_release(widths=(64, 128, 256), blocks=8, device=None) -> dict:
    """Both generators' keys, prefixed g1. / g2. as import-weights passes them, random values."""
    raw = {}
    for g, sn, in_ch, out_ch in (("g1", True, 3, 1), ("g2", False, 4, 3)):
        for key, shape in official_layout(widths, blocks, sn, in_ch, out_ch).items():
            raw[f"{g}.{key}"] = (torch.empty(shape, device="meta") if device == "meta"
                                 else torch.randn(shape) * 0.05)
    return raw


def test_paper_key_mapping_covers_the_graph_with_the_right_shapes():
    with torch.device("meta"):
        net = ec.EdgeConnect(**ec.VARIANTS["paper"])
        mapped = ec.import_state_dict(official_release(device="meta"))
    own = net.state_dict()
    assert set(mapped) == set(own)
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {
        k: tuple(v.shape) for k, v in own.items()}


def test_import_loads_key_for_key_and_computes_the_official_generators():
    widths, blocks = (4, 8, 16), 2
    raw = official_release(widths, blocks)
    net = ec.EdgeConnect(widths, (blocks, blocks), official=True).eval()
    net.load_state_dict(ec.import_state_dict(raw), strict=True)
    assert all(float(v.abs().sum()) > 0 for k, v in net.state_dict().items() if "conv" in k)
    # the official G2 reads 4 channels and ends in (tanh + 1) / 2: head weights as stored
    assert torch.equal(net.g2.head.weight, raw["g2.decoder.7.weight"])
    assert torch.equal(net.g2.middle[1].conv2.bias, raw["g2.middle.1.conv_block.5.bias"])
    assert torch.equal(net.g1.encoder[4].scale, torch.ones(8))  # official norms: not affine


@pytest.mark.parametrize("transposed", [False, True])
def test_spectral_norm_folds_to_what_torch_computes(transposed):
    torch.manual_seed(0)
    conv = (nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1) if transposed else
            nn.Conv2d(4, 6, 3, padding=1))
    conv = nn.utils.spectral_norm(conv)
    x = torch.rand(2, 4, 9, 9)
    with torch.no_grad():
        for _ in range(3):  # power iterations: u, v move away from their init
            conv.train()(x)
        expected = conv.eval()(x)
        state = conv.state_dict()
        weight = ec.fold_spectral_norm(state["weight_orig"], state["weight_u"],
                                       state["weight_v"], dim=1 if transposed else 0)
        op = F.conv_transpose2d if transposed else F.conv2d
        got = op(x, weight, state["bias"], stride=2 if transposed else 1, padding=1)
    assert (got - expected).abs().max() <= 1e-6


@pytest.mark.parametrize("edit,match", [
    (lambda r: r.update({"g1.conv1.0.weight_orig": torch.zeros(1)}), "unexpected key.*_dis"),
    (lambda r: [r.pop(k) for k in list(r) if k.startswith("g2.")], "no InpaintingModel_gen"),
    (lambda r: r.pop("g1.encoder.4.weight_u"), "spectral norm of g1.encoder.3 is incomplete"),
])
def test_wrong_or_missing_keys_are_refused_in_one_line(edit, match):
    raw = official_release((4, 8, 16), 1)
    edit(raw)
    with pytest.raises(CamkitError, match=match) as refused:
        ec.import_state_dict(raw)
    assert "\n" not in str(refused.value)


def _save_release(folder: Path, widths=(4, 8, 16), blocks=1) -> None:
    raw = official_release(widths, blocks)
    folder.mkdir(parents=True, exist_ok=True)
    for g, name in ec.IMPORT_FILES.items():
        part = {k.removeprefix(f"{g}."): v for k, v in raw.items() if k.startswith(f"{g}.")}
        torch.save({"iteration": 7, "generator": part}, folder / name)


def test_import_weights_refuses_an_incomplete_release(tmp_path):
    _save_release(tmp_path / "rel")
    (tmp_path / "rel" / "InpaintingModel_gen.pth").unlink()
    with pytest.raises(CamkitError, match="holds no InpaintingModel_gen.pth"):
        import_weights("inpaint_edgeconnect", tmp_path / "rel", tmp_path / "out", None)
    with pytest.raises(CamkitError, match="add InpaintingModel_gen.pth"):
        import_weights("inpaint_edgeconnect", [tmp_path / "rel" / "EdgeModel_gen.pth"],
                       tmp_path / "out", None)
    other = tmp_path / "g.pth"
    other.write_bytes(b"")
    with pytest.raises(CamkitError, match="not one of the official"):
        import_weights("inpaint_edgeconnect", [other], tmp_path / "out", None)
    with pytest.raises(CamkitError, match="imports one checkpoint"):
        import_weights("retouch_csrnet", [other, other], tmp_path / "out", None)


def test_import_weights_cli_reads_the_release_folder_into_paper(tmp_path):
    """The real import path at the official size: folder -> paper checkpoint -> build."""
    _save_release(tmp_path / "places2", (64, 128, 256), 8)
    from toolkit.cli import main

    assert main(["import-weights", "inpaint_edgeconnect", str(tmp_path / "places2"),
                 "--out", str(tmp_path / "ckpt")]) == 0
    ckpt = tmp_path / "ckpt" / "inpaint_edgeconnect-paper.safetensors"
    net = ec.build("paper", ckpt)
    assert net.official and net.g2.in_ch == 4
    image, mask = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    mask[..., 8:20, 8:20] = 1
    with torch.no_grad():
        out = net(image, mask)
    assert torch.equal(out * (1 - mask), image * (1 - mask))


def test_mobile_and_tiny_keep_their_graph_and_paper_is_the_official_one():
    for variant in ("mobile", "tiny"):
        net = ec.build(variant)
        assert not net.official and net.g2.in_ch == 5
        assert all(m.padding_mode == "zeros" for m in net.modules() if isinstance(m, nn.Conv2d))
    with torch.device("meta"):
        paper = ec.EdgeConnect(**ec.VARIANTS["paper"])
    reflect = [n for n, m in paper.named_modules()
               if isinstance(m, nn.Conv2d) and m.padding_mode == "reflect"]
    # per generator: the 7x7 stem, 2 convs in each of 8 blocks, the 7x7 head
    assert len(reflect) == 2 * (1 + 16 + 1)
    assert paper.g2.in_ch == 4
    assert not any(m.bias is not None for n, m in paper.g1.middle.named_modules()
                   if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("fmt", [
    "onnx",  # ~9 s here
    pytest.param("litert", marks=pytest.mark.slow),  # ~25 s on 2 shared cores
    pytest.param("coreml", marks=pytest.mark.slow),
])
def test_paper_exports_within_its_card_budget(tmp_path, fmt):
    """The official graph (reflection padding, 4-channel G2) exports at a small size, fp32."""
    from toolkit import registry
    from toolkit.checks.parity import check_artifact
    from toolkit.export import export_artifacts, make_spec, resolve_weights

    if not registry.format_available(fmt):
        extra = registry.format_module(fmt).extra
        pytest.skip(f"{fmt} extra not installed (pip install 'camkit[{extra}]')")
    spec = make_spec("inpaint_edgeconnect", "paper", (64, 64), "nchw", False)
    weights = resolve_weights("inpaint_edgeconnect", "paper", None, True)
    [manifest] = export_artifacts(spec, weights, [fmt], ["fp32"], tmp_path, progress=False)
    result, _, _ = check_artifact(manifest, max_images=1)
    assert result.passed, result.problems


@pytest.mark.slow
def test_parity_with_the_official_code():
    code = os.environ.get("CAMKIT_EDGECONNECT_CODE")
    if not code or not (Path(code) / "src" / "networks.py").is_file():
        pytest.skip("set CAMKIT_EDGECONNECT_CODE to a checkout of github.com/knazeri/edge-connect")
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from importers import BUDGET_MAX_ABS, edgeconnect

    rows, _ = edgeconnect(Path(code))
    for row in rows:
        if "max_abs" in row:
            assert row["max_abs"] <= BUDGET_MAX_ABS, row
