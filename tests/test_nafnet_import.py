"""deblur_nafnet's importer of the authors' release (``NAFNet-GoPro-width32.pth``, ``{'params':
state_dict}``): key mapping and shapes on synthetic state dicts in the official layout, the real
``camkit import-weights`` path into ``paper``, refusals; parity with the authors' code when a
checkout of it is given (CAMKIT_NAFNET_CODE=DIR, as benchmarks/importers.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from toolkit.checkpoints import import_weights
from toolkit.errors import CamkitError
from toolkit.models.deblur_nafnet import model as nf

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[1]


def official_layout(width=32, enc=(1, 1, 1, 28), middle=1, dec=(1, 1, 1, 1)) -> dict:
    """Key -> shape of the official ``NAFNet`` (basicsr/models/archs/NAFNet_arch.py), written
    from that file: channel attention is ``sca = Sequential(AdaptiveAvgPool2d, Conv2d)`` (slot
    1), an up step is ``Sequential(Conv2d(c, 2c, 1, bias=False), PixelShuffle(2))`` (slot 0),
    DW_Expand = FFN_Expand = 2, beta / gamma are (1, c, 1, 1)."""
    shapes = {"intro.weight": (width, 3, 3, 3), "intro.bias": (width,),
              "ending.weight": (3, width, 3, 3), "ending.bias": (3,)}

    def block(prefix, c):
        for name, shape in (("conv1", (2 * c, c, 1, 1)), ("conv2", (2 * c, 1, 3, 3)),
                            ("conv3", (c, c, 1, 1)), ("sca.1", (c, c, 1, 1)),
                            ("conv4", (2 * c, c, 1, 1)), ("conv5", (c, c, 1, 1))):
            shapes[f"{prefix}.{name}.weight"] = shape
            shapes[f"{prefix}.{name}.bias"] = (shape[0],)
        for norm in ("norm1", "norm2"):
            shapes[f"{prefix}.{norm}.weight"] = shapes[f"{prefix}.{norm}.bias"] = (c,)
        shapes[f"{prefix}.beta"] = shapes[f"{prefix}.gamma"] = (1, c, 1, 1)

    c = width
    for i, n in enumerate(enc):
        for j in range(n):
            block(f"encoders.{i}.{j}", c)
        shapes[f"downs.{i}.weight"], shapes[f"downs.{i}.bias"] = (2 * c, c, 2, 2), (2 * c,)
        c *= 2
    for j in range(middle):
        block(f"middle_blks.{j}", c)
    for i, n in enumerate(dec):
        shapes[f"ups.{i}.0.weight"] = (2 * c, c, 1, 1)
        c //= 2
        for j in range(n):
            block(f"decoders.{i}.{j}", c)
    return shapes


def official_release(device=None, **config) -> dict:
    return {k: torch.empty(s, device="meta") if device == "meta" else torch.randn(s) * 0.05
            for k, s in official_layout(**config).items()}


def test_the_official_layout_is_the_papers_network():
    assert sum(torch.Size(s).numel() for s in official_layout().values()) == 17_111_907


def test_paper_key_mapping_covers_the_graph_with_the_right_shapes():
    with torch.device("meta"):
        net = nf.NAFNet(**nf.VARIANTS["paper"])
    for prefix in ("", "module."):  # a DataParallel save
        raw = {prefix + k: v for k, v in official_release("meta").items()}
        mapped = nf.import_state_dict(raw)
        own = net.state_dict()
        assert set(mapped) == set(own)
        assert {k: tuple(v.shape) for k, v in mapped.items()} == {
            k: tuple(v.shape) for k, v in own.items()}


def test_import_weights_reads_the_release_file_into_paper(tmp_path):
    """The real import path at the official size: {'params': ...} .pth -> paper (the default
    variant of the import) -> build; every tensor lands where the official graph uses it."""
    raw = official_release()
    torch.save({"params": raw}, tmp_path / "NAFNet-GoPro-width32.pth")
    out = import_weights("deblur_nafnet", tmp_path / "NAFNet-GoPro-width32.pth",
                         tmp_path / "ckpt", None)
    assert out.name == "deblur_nafnet-paper.safetensors"
    net = nf.build("paper", out)
    own = net.state_dict()
    assert torch.equal(own["encoders.3.27.sca.conv.weight"], raw["encoders.3.27.sca.1.weight"])
    assert torch.equal(own["ups.0.conv.weight"], raw["ups.0.0.weight"])
    assert torch.equal(own["decoders.3.0.beta"], raw["decoders.3.0.beta"])
    assert len(own) == len(raw)  # strict load: every official tensor used, none missing
    with torch.no_grad():
        x = torch.rand(1, 3, 32, 32)
        assert net(x).shape == x.shape


def test_the_width64_release_is_refused_in_one_line(tmp_path):
    """NAFNet-GoPro-width64.pth (width 64, same block counts) is not the paper variant."""
    torch.save({"params": official_release(width=64)}, tmp_path / "NAFNet-GoPro-width64.pth")
    with pytest.raises(CamkitError, match="shape mismatch.*another variant") as refused:
        import_weights("deblur_nafnet", tmp_path / "NAFNet-GoPro-width64.pth", tmp_path / "o",
                       None)
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "o" / "deblur_nafnet-paper.safetensors").exists()


@pytest.mark.slow
def test_parity_with_the_official_code():
    code = os.environ.get("CAMKIT_NAFNET_CODE")
    arch = Path(code or ".") / "basicsr" / "models" / "archs" / "NAFNet_arch.py"
    if not code or not arch.is_file():
        pytest.skip("set CAMKIT_NAFNET_CODE to a checkout of github.com/megvii-research/NAFNet")
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from importers import BUDGET_MAX_ABS, nafnet

    rows, _ = nafnet(Path(code))
    assert sum("max_abs" in row for row in rows) == 2
    for row in rows:
        if "max_abs" in row:
            assert row["max_abs"] <= BUDGET_MAX_ABS, row
