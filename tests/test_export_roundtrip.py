"""Round trip for every model x format x precision at tiny size: export, run, compare with torch.

Budgets come from each model's card.yaml, so a format or model added to the registry is tested
here without touching this file.
"""

from __future__ import annotations

import json

import pytest

from toolkit import registry
from toolkit.checks.parity import check_artifact
from toolkit.export import export_artifacts, make_spec, resolve_weights

#: known failures, each with its measurement; strict: the test fails once the case passes, so the
#: entry must then be removed
KNOWN_FAILURES: dict[tuple[str, str, str], str] = {}

#: models whose round trips at some precisions run only in `make test-all` (CI time): the
#: translator is also exported inside deblur_blur2blur, and w8a16 is not a restorer target
SLOW_CASES = {("deblur_blur2blur_translator", p) for p in ("fp32", "fp16", "w8a8", "w8a16")} | {
    (m, "w8a16") for m in ("deblur_nafnet", "deblur_blur2blur", "inpaint_edgeconnect")}


def _marks(m: str, f: str, p: str) -> list:
    marks = [pytest.mark.slow] if (m, p) in SLOW_CASES else []
    if (m, f, p) in KNOWN_FAILURES:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[m, f, p]))
    return marks


CASES = [
    pytest.param(m, f, p, id=f"{m}-{f}-{p}", marks=_marks(m, f, p))
    for m in registry.model_ids()
    for f in registry.format_names()
    for p in registry.format_module(f).precisions
]


def _export(tmp_path, model_id, fmt, precision, layout="nchw", dynamic=False):
    if not registry.format_available(fmt):
        pytest.skip(f"{fmt} extra not installed (pip install 'camkit[{registry.format_module(fmt).extra}]')")
    spec = make_spec(model_id, "tiny", None, layout, dynamic)
    weights = resolve_weights(model_id, "tiny", None, True)
    [manifest] = export_artifacts(spec, weights, [fmt], [precision], tmp_path, progress=False)
    return manifest


@pytest.mark.parametrize("model_id,fmt,precision", CASES)
def test_roundtrip_within_budget(tmp_path, model_id, fmt, precision):
    why = registry.card(model_id).refusal(fmt, precision)
    if why:  # the card says why this pair is not exported: the export must refuse, in one line
        from toolkit.errors import CamkitError

        with pytest.raises(CamkitError, match="not_exported") as refused:
            _export(tmp_path, model_id, fmt, precision)
        assert "\n" not in str(refused.value) and why in str(refused.value)
        return
    manifest = _export(tmp_path, model_id, fmt, precision)
    result, _, _ = check_artifact(manifest, max_images=2)
    assert result.passed, result.problems
    data = json.loads(manifest.read_text())
    assert data["format"] == fmt and data["precision"] == precision
    assert [t["name"] for t in data["io"]["inputs"]] == [
        t.name for t in registry.model_spec(model_id).inputs
    ]
    if result.mode == "runtime":
        assert len(result.samples) == 2
        if precision == "fp16":
            # fp16 must really be fp16: bit-exact agreement would mean the cast never happened
            assert result.worst_max_abs > 0
    else:
        assert result.static["ops"], "static verification must at least read the op histogram"


@pytest.mark.parametrize("fmt", registry.format_names())
def test_nhwc_io(tmp_path, fmt):
    manifest = _export(tmp_path, "retouch_csrnet", fmt, "fp32", layout="nhwc")
    data = json.loads(manifest.read_text())
    assert data["io"]["inputs"][0]["shape"] == [1, 64, 64, 3]
    result, _, _ = check_artifact(manifest, max_images=1)
    assert result.passed, result.problems


# LiteRT refuses dynamic sizes for strided convs (tests/test_litert.py says why).
@pytest.mark.parametrize("fmt", ["onnx", "coreml"])
def test_dynamic_size(tmp_path, fmt):
    manifest = _export(tmp_path, "retouch_csrnet", fmt, "fp32", dynamic=True)
    data = json.loads(manifest.read_text())
    assert data["dynamic"] and data["io"]["inputs"][0]["shape"][2:] == [None, None]
    result, _, _ = check_artifact(manifest, max_images=1)
    assert result.passed, result.problems
    if result.mode == "runtime":
        assert len({(s.height, s.width) for s in result.samples}) == 2, "ran at two sizes"
