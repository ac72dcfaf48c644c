"""The CLI as a user meets it: help, list, clean one-line errors, nothing overwritten."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from conftest import run_cli, shared_path
from toolkit import registry


def _assert_clean_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("camkit: error:"), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_help_lists_every_command():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("list", "export", "check", "train", "import-weights", "demo", "profile",
                    "report", "calib"):
        assert command in proc.stdout


def test_list_comes_from_the_registry():
    proc = run_cli("list")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", "list must print no library noise"
    for model_id in registry.model_ids():
        assert model_id in proc.stdout
        for variant in registry.model_spec(model_id).variants:
            assert variant in proc.stdout
    for fmt in registry.format_names():
        assert fmt in proc.stdout
    assert "36,489 params" in proc.stdout


def test_list_macs_counts_per_frame_at_the_size_asked():
    proc = run_cli("list", "--macs")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    # CSRNet paper at 1080x1920: the static report's and the hand count, 13,200,286,016
    assert "36,489 params     13.20 GMACs/frame" in proc.stdout
    assert "401,475 params    828.91 GMACs/frame" in proc.stdout  # DPED generator, by hand
    small = run_cli("list", "--macs", "--size", "540x960")
    assert "36,489 params      3.29 GMACs/frame" in small.stdout
    assert "(sides must be multiples of 8)" in small.stdout  # Dense U-Net: 540 = 8 x 67.5
    bad = run_cli("list", "--macs", "--size", "big")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args,needles",
    [
        (["export", "retouch_csrnt"], ["unknown model 'retouch_csrnt'", "did you mean 'retouch_csrnet'"]),
        (["export", "retouch_csrnet", "--format", "onxx"], ["unknown format 'onxx'", "did you mean 'onnx'"]),
        (["export", "retouch_csrnet", "--variant", "papr"], ["did you mean 'paper'"]),
        (["export", "retouch_csrnet", "--precision", "int8", "--format", "onnx", "--random-weights"],
         ["unknown precision 'int8'"]),
        (["export", "retouch_csrnet", "--size", "big"], ["HEIGHTxWIDTH"]),
        (["check", "/nonexistent/artifacts"], ["does not exist"]),
        (["import-weights", "retouch_csrnet", "/nonexistent.pth", "--out", "/tmp/x"], ["does not exist"]),
    ],
)
def test_bad_input_is_one_clean_line(args, needles):
    _assert_clean_error(run_cli(*args), *needles)


def test_variant_without_checkpoint_is_never_exported_silently(tmp_path):
    proc = run_cli("export", "retouch_csrnet", "--variant", "tiny", "--format", "onnx",
                   "--out", str(tmp_path), "--checkpoint", str(tmp_path / "none.safetensors"))
    _assert_clean_error(proc, "does not exist")
    assert not any(tmp_path.iterdir())


def test_truncated_checkpoint_is_an_error_and_overwrites_nothing(tmp_path, tiny_onnx):
    out = tmp_path / "out"
    target = out / "retouch_csrnet" / "tiny"
    target.mkdir(parents=True)
    existing = target / tiny_onnx.name.removesuffix(".manifest.json")
    shutil.copy(tiny_onnx.parent / existing.name, existing)
    before = hashlib.sha256(existing.read_bytes()).hexdigest()

    from toolkit.checkpoints import save_checkpoint
    from toolkit.models.retouch_csrnet.model import build

    good = tmp_path / "tiny.safetensors"
    save_checkpoint(good, build("tiny").state_dict(), "retouch_csrnet", "tiny", {})
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    proc = run_cli("export", "retouch_csrnet", "--variant", "tiny", "--format", "onnx",
                   "--checkpoint", str(truncated), "--out", str(out))
    _assert_clean_error(proc, "corrupt or truncated")
    assert hashlib.sha256(existing.read_bytes()).hexdigest() == before
    assert [p.name for p in target.iterdir()] == [existing.name]


def test_checkpoint_of_another_variant_is_refused(tmp_path):
    from toolkit.checkpoints import save_checkpoint
    from toolkit.models.retouch_csrnet.model import build

    ckpt = tmp_path / "tiny.safetensors"
    save_checkpoint(ckpt, build("tiny").state_dict(), "retouch_csrnet", "tiny", {})
    proc = run_cli("export", "retouch_csrnet", "--variant", "paper", "--format", "onnx",
                   "--checkpoint", str(ckpt), "--out", str(tmp_path / "o"))
    _assert_clean_error(proc, "--variant tiny")


def _paired(tmp_path, write_input):
    from PIL import Image
    import numpy as np

    for sub in ("input", "target"):
        (tmp_path / "pairs" / sub).mkdir(parents=True)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "pairs" / "target" / "a.png")
    write_input(tmp_path / "pairs" / "input" / "a.png")
    return tmp_path / "pairs"


def test_corrupt_image_is_a_clean_error(tmp_path, tiny_onnx):
    pairs = _paired(tmp_path, lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\nnot really"))
    proc = run_cli("check", str(tiny_onnx), "--data", str(pairs), "--max-images", "1",
                   "--out", str(tmp_path / "reports"))
    _assert_clean_error(proc, "cannot read", "a.png")


def test_wrong_channel_count_is_a_clean_error(tmp_path, tiny_onnx):
    from PIL import Image
    import numpy as np

    pairs = _paired(tmp_path, lambda p: Image.fromarray(np.zeros((32, 32), np.uint8)).save(p))
    proc = run_cli("check", str(tiny_onnx), "--data", str(pairs), "--max-images", "1",
                   "--out", str(tmp_path / "reports"))
    _assert_clean_error(proc, "1 channel", "RGB")


def test_export_then_check_end_to_end(tmp_path):
    proc = run_cli("export", "retouch_csrnet", "--variant", "tiny", "--random-weights",
                   "--format", "onnx", "--precision", "fp32,fp16", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "PASS" in proc.stdout
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    manifests = sorted(tmp_path.rglob("*.manifest.json"))
    assert len(manifests) == 2
    assert all(json.loads(m.read_text())["checkpoint"]["random_weights"] for m in manifests)
    proc = run_cli("check", str(tmp_path))
    assert proc.returncode == 0 and "2 of 2" in proc.stdout


def test_import_official_csrnet(tmp_path):
    src = shared_path("csrnet_official", "csrnet.pth")
    proc = run_cli("import-weights", "retouch_csrnet", str(src), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    from toolkit.models.retouch_csrnet.model import build
    import torch

    net = build("paper", tmp_path / "retouch_csrnet-paper.safetensors").eval()
    raw = torch.load(src, map_location="cpu", weights_only=True)
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, raw[key], rtol=0, atol=0)
    x = torch.rand(1, 3, 37, 61)
    with torch.no_grad():
        assert net(x).shape == x.shape


def test_import_into_wrong_variant_names_the_mismatch(tmp_path):
    src = shared_path("csrnet_official", "csrnet.pth")
    proc = run_cli("import-weights", "retouch_csrnet", str(src), "--variant", "tiny",
                   "--out", str(tmp_path))
    _assert_clean_error(proc, "shape mismatch")
