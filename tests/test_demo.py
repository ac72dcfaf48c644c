"""The demo end to end on a tiny checkpoint: artifacts, checks, a self-contained report."""

from __future__ import annotations

import re

from toolkit import registry
from toolkit.checkpoints import save_checkpoint
from toolkit.demo import demo_precisions, run_demo
from toolkit.export import FLOAT_PRECISIONS
from toolkit.models.retouch_csrnet.model import build


def test_demo_writes_a_self_contained_report(tmp_path):
    ckpt = tmp_path / "tiny.safetensors"
    save_checkpoint(ckpt, build("tiny").state_dict(), "retouch_csrnet", "tiny", {"steps": 0})
    report = run_demo("retouch_csrnet", "tiny", None, tmp_path / "demo", ckpt)
    html = report.read_text()
    installed = [f for f in registry.format_names() if registry.format_available(f)]
    shown = {fmt: demo_precisions(fmt, "retouch_csrnet") for fmt in installed}
    for fmt, precisions in shown.items():
        assert set(FLOAT_PRECISIONS) <= set(precisions) and "w8a8" in precisions
        assert ("w8a16" in precisions) == (fmt == "onnx")  # LiteRT w8a16: too slow on a host
        for precision in precisions:
            assert re.search(rf"<td class=l>{fmt}</td><td class=l>{precision}</td>", html)
    assert html.count("data:image/jpeg;base64,") >= 3 * 2  # before and after per photo
    assert 'alt="PSNR vs latency" src="data:image/png;base64,' in html  # the report's plot
    assert "camkit export retouch_csrnet" in html  # commands to reproduce
    assert not re.search(r'src="(?!data:)', html), "report must not reference external files"
    assert (tmp_path / "demo" / "check.junit.xml").exists()
    # the host timings are profile results camkit report joined (every ONNX and LiteRT artifact)
    profiles = sorted((tmp_path / "demo" / "profiles").glob("*.host.json"))
    assert len(profiles) == sum(len(shown[f]) for f in ("onnx", "litert") if f in shown)
    assert (tmp_path / "demo" / "psnr_vs_latency.png").exists()
    assert "## Latency" in (tmp_path / "demo" / "report.md").read_text()
