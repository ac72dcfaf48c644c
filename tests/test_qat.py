"""Quantization-aware fine-tuning (``camkit train MODEL --qat``, toolkit/quantization/qat.py):
fake int8 where the exporters quantize, self-distillation, the no-regression rule, the checkpoint
the exporters consume. Numbers on the official CSRNet: benchmarks/int8_real_weights.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, run_cli
from test_ptq_techniques import _tiny_csrnet  # random weights with spread channel ranges
from toolkit.errors import CamkitError
from toolkit.quantization.qat import FakeQuant, QatOptions, fake_quant_act, finetune

PHOTOS = REPO / "calibration" / "photos_pd"


def _trained_tiny():
    """The shipped tiny CSRNet: outputs in [0, 1], so parity PSNR means something."""
    from toolkit.checkpoints import shipped_checkpoint
    from toolkit.models.retouch_csrnet.model import build

    return build("tiny", shipped_checkpoint("retouch_csrnet", "tiny")).eval()


def _spec(size=(32, 32)):
    from toolkit.export import make_spec

    return make_spec("retouch_csrnet", "tiny", size, "nchw", False)


def _calib(spec, count=3):
    rng = np.random.default_rng(1)
    h, w = spec.sample_size
    return [{"image": rng.random((1, 3, h, w), dtype=np.float32)} for _ in range(count)]


def _photos(tmp_path: Path, count: int = 6) -> list[Path]:
    from toolkit.data.io import write_image

    rng = np.random.default_rng(2)
    out = []
    for i in range(count):  # smooth random photos: a colour ramp plus noise
        yy, xx = np.mgrid[0:48, 0:64] / 64.0
        img = np.stack([yy * rng.random(), xx * rng.random(), (yy + xx) / 2], -1)
        img = np.clip(img + 0.05 * rng.standard_normal(img.shape), 0, 1)
        write_image(tmp_path / f"p{i}.png", img)
        out.append(tmp_path / f"p{i}.png")
    return out


def test_fake_quant_rounds_to_256_steps_and_passes_gradients_inside_the_range_only():
    x = torch.linspace(-1.5, 2.5, 401, requires_grad=True)
    y = fake_quant_act(x, -1.0, 2.0)
    step = 3.0 / 255
    inside = (x > -1.0 + step) & (x < 2.0 - step)
    levels = torch.unique(torch.round(y[inside] / step * 1e3) / 1e3)
    assert len(torch.unique(y.detach())) <= 256
    assert torch.allclose(levels, torch.round(levels))  # every value on the int8 grid
    assert float((y - x).detach().abs()[inside].max()) <= step / 2 + 1e-6
    y.sum().backward()
    assert torch.all(x.grad[inside] == 1) and torch.all(x.grad[x < -1.1] == 0)
    assert torch.all(x.grad[x > 2.1] == 0)


def test_fake_quant_skips_declared_float_layers_and_leaves_the_float_weights():
    from toolkit.quantization.layers import default_float_layers

    net = _tiny_csrnet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fq = FakeQuant(net, default_float_layers(net))
    ids = [lid for lid, _ in fq.layers]
    assert ids == ["cond_net.conv1", "cond_net.conv2", "cond_net.conv3", "conv1", "conv2",
                   "conv3"]  # the six Linear layers of the condition head stay float
    spec = _spec()
    x = torch.from_numpy(_calib(spec, 1)[0]["image"])
    fq.calibrate([(x,)])
    # the condition convs feed nn.ReLU: quantized after it, as the formats' fused kernels do
    assert fq.fused == {"cond_net.conv1", "cond_net.conv2", "cond_net.conv3"}
    assert all(fq.ranges[f"{lid}>out"][0] == 0 for lid in fq.fused)
    assert fq.ranges["conv1>out"][0] < 0  # read by the float modulation: its own range
    with torch.no_grad():
        quant = net(x)
        fq.set_mode("float")
        flt = net(x)
    assert 0 < float((quant - flt).abs().max()) < 0.2 * float(flt.abs().max())
    fq.remove()
    assert set(net.state_dict()) == set(before)  # no parametrization keys left behind
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())
    with torch.no_grad():
        assert torch.equal(net(x), flt)


def test_finetuning_brings_the_fake_int8_model_closer_to_the_float_one(tmp_path):
    spec = _spec()
    teacher = _trained_tiny()
    opts = QatOptions(steps=24, batch=4, crop=(32, 32), lr=1e-4, eval_every=4, val_every=3)
    student, record = finetune(teacher, spec, _photos(tmp_path), _calib(spec), opts,
                               progress=False)
    assert record["improved"] and record["best_step"] > 0
    assert record["val_worst_psnr_db"] > record["val_worst_psnr_db_start"] + 3
    assert [h["step"] for h in record["history"]] == [0, 4, 8, 12, 16, 20, 24]
    assert record["equalization"]["pairs"]  # CSRNet's declared pairs were equalized first
    assert "cond_scale1" in record["float_layers"] and "conv2" in record["fake_quant_layers"]
    assert record["train_photos"] == 4 and record["val_photos"] == 2
    # the teacher is untouched; the student is a plain float module with the same keys
    assert torch.equal(teacher.state_dict()["conv2.weight"], _trained_tiny().state_dict()[
        "conv2.weight"])
    assert set(student.state_dict()) == set(teacher.state_dict())


def test_a_run_that_only_gets_worse_keeps_the_equalized_input(tmp_path):
    from toolkit.quantization.equalize import equalize

    spec = _spec()
    teacher, calib = _trained_tiny(), _calib(spec)
    opts = QatOptions(steps=6, batch=2, crop=(32, 32), lr=5.0, eval_every=3, float_weight=0)
    student, record = finetune(teacher, spec, _photos(tmp_path), calib, opts, progress=False)
    assert not record["improved"] and record["best_step"] == 0
    assert record["val_worst_psnr_db"] == record["val_worst_psnr_db_start"]
    want, _ = equalize(_trained_tiny(), calib, ["image"])
    for key, value in want.state_dict().items():
        assert torch.allclose(student.state_dict()[key], value), key


def test_finetuning_needs_a_validation_photo(tmp_path):
    spec = _spec()
    with pytest.raises(CamkitError, match="at least 2 photos"):
        finetune(_tiny_csrnet(), spec, _photos(tmp_path, 1), _calib(spec), progress=False)


def test_cli_qat_writes_a_checkpoint_the_exporters_consume_without_re_equalizing(tmp_path):
    out = tmp_path / "ck" / "tiny-qat.safetensors"
    got = run_cli("train", "retouch_csrnet", "--qat", "--variant", "tiny", "--photos",
                  str(PHOTOS), "--size", "32x48", "--crop", "32x32", "--steps", "4", "--batch",
                  "2", "--out", str(out))
    assert got.returncode == 0, got.stderr
    assert f"checkpoint: {out}" in got.stdout and "validation (1 photos)" in got.stdout
    record = json.loads(out.with_suffix(".json").read_text())["qat"]
    assert record["size"] == [32, 48] and record["calibration"] == "photos_pd"
    assert record["options"]["steps"] == 4 and record["equalization"]["pairs"]
    # the lineage: the shipped input, recorded relative to the package root, and how it was made
    source = json.loads(out.with_suffix(".json").read_text())["source_checkpoint"]
    assert source["path"] == "toolkit/models/retouch_csrnet/checkpoints/tiny.safetensors"
    assert source["info"]["recipe"] == "recipes/retouch_csrnet/tiny.yaml"

    # an existing checkpoint is never replaced
    before = out.read_bytes()
    again = run_cli("train", "retouch_csrnet", "--qat", "--variant", "tiny", "--photos",
                    str(PHOTOS), "--size", "32x48", "--steps", "1", "--out", str(out))
    assert again.returncode != 0 and "exists; pass another --out" in again.stderr
    assert out.read_bytes() == before

    art = tmp_path / "art"
    exp = run_cli("export", "retouch_csrnet", "--variant", "tiny", "--checkpoint", str(out),
                  "--size", "32x48", "--format", "onnx", "--precision", "w8a8", "--out",
                  str(art), "--no-check")
    assert exp.returncode == 0, exp.stderr
    manifest = json.loads(next(art.glob("*/*/*w8a8*.manifest.json")).read_text())
    ptq = manifest["precision_scheme"]["ptq"]
    assert ptq["equalize"] is False  # the checkpoint is equalized already
    assert ptq["equalization"]["applied_by"].startswith("camkit train --qat")
    assert ptq["equalization"]["pairs"] == record["equalization"]["pairs"]


@pytest.mark.parametrize("args,message", [
    (["retouch_csrnet", "--qat"], "--qat needs --photos DIR"),
    (["recipes/retouch_csrnet/tiny.yaml", "--qat", "--photos", "x"], "pass the model id"),
    (["no_such_model", "--qat", "--photos", str(PHOTOS)], "no_such_model"),
    (["recipes/retouch_csrnet/tiny.yaml", "--photos", str(PHOTOS)], "belong to --qat"),
    (["retouch_csrnet", "--qat", "--variant", "tiny", "--photos", str(PHOTOS), "--steps", "0"],
     "--steps must be at least 1"),
])
def test_cli_qat_bad_arguments_say_what_to_do(args, message):
    got = run_cli("train", *args)
    assert got.returncode != 0
    assert message in got.stderr and "Traceback" not in got.stderr
