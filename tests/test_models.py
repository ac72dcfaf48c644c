"""Every registered model x variant: builds, runs at odd sizes, exports with torch.export."""

from __future__ import annotations

import pytest
import torch

from toolkit import registry

def model_inputs(spec, height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """One NCHW tensor per input of ``spec``: random photos, and real {0, 1} holes for masks."""
    from toolkit.data.masks import sample_mask

    g = torch.Generator().manual_seed(seed)
    out = []
    for t in spec.inputs:
        if t.role == "mask":
            mask = sample_mask(height, width, seed)
            out.append(torch.from_numpy(mask).permute(2, 0, 1)[None].contiguous())
        else:
            out.append(torch.rand(1, t.channels, height, width, generator=g))
    return tuple(out)


MODEL_VARIANTS = [
    (m, v) for m in registry.model_ids() for v in registry.model_spec(m).variants
]


@pytest.mark.parametrize("model_id", registry.model_ids())
def test_spec_is_consistent(model_id):
    spec = registry.model_spec(model_id)
    mod = registry.model_module(model_id)
    assert spec.model_id == model_id
    assert "tiny" in spec.variants and spec.default_variant in spec.variants
    assert set(spec.variants) == set(mod.VARIANTS) == set(spec.default_size)
    card = registry.card(model_id)
    assert card.model_id == model_id
    for fmt in registry.format_names():
        for precision in registry.format_module(fmt).precisions:
            if not card.refusal(fmt, precision):
                card.tolerance(fmt, precision)  # every exportable pair has a budget


@pytest.mark.parametrize("model_id", registry.model_ids())
@pytest.mark.parametrize("size", [(64, 64), (37, 53)])
def test_tiny_forward_any_size(model_id, size):
    spec = registry.model_spec(model_id)
    torch.manual_seed(0)
    net = registry.model_module(model_id).build("tiny").eval()
    m = spec.size_multiple
    h, w = (size[0] // m * m or m, size[1] // m * m or m)
    with torch.no_grad():
        y = net(*model_inputs(spec, h, w))
    assert y.shape == (1, spec.outputs[0].channels, h, w)
    assert torch.isfinite(y).all()
    assert y.std() > 0, "a constant output would make every parity check pass trivially"


@pytest.mark.parametrize("model_id", registry.model_ids())
def test_tiny_torch_export_dynamic(model_id):
    from toolkit.conversion._common import dynamic_hw, prepare_for_export
    from toolkit.spec import ExportSpec

    spec = ExportSpec(registry.model_spec(model_id), "tiny", None, None)
    net = prepare_for_export(registry.model_module(model_id).build("tiny"), spec)
    x = model_inputs(spec.model, 64, 64)
    program = torch.export.export(net, x, dynamic_shapes=dynamic_hw(net, spec))
    x2 = model_inputs(spec.model, 48, 80, seed=1)
    torch.testing.assert_close(program.module()(*x2), net(*x2))


def test_csrnet_paper_has_the_papers_parameter_count():
    net = registry.model_module("retouch_csrnet").build("paper")
    assert sum(p.numel() for p in net.parameters()) == 36_489


@pytest.mark.parametrize("model_id", registry.model_ids())
def test_module_mac_count_matches_the_static_report_of_the_exported_graph(model_id, tmp_path):
    """`camkit list --macs` (modules on meta) and `profile static` (ONNX graph) agree."""
    pytest.importorskip("onnxruntime")
    from toolkit.export import export_artifacts, make_spec, resolve_weights
    from toolkit.models._cost import conv_linear_macs
    from toolkit.profilers.static import profile_static

    spec = make_spec(model_id, "tiny", (64, 64), "nchw", False)
    weights = resolve_weights(model_id, "tiny", None, True)
    [manifest] = export_artifacts(spec, weights, ["onnx"], ["fp32"], tmp_path, progress=False)
    static = profile_static(manifest).static.macs
    net = registry.model_module(model_id).build("tiny")
    channels = tuple(t.channels for t in spec.model.inputs)
    assert conv_linear_macs(net, channels, 64, 64) == static
