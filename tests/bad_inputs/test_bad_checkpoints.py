"""Bad checkpoints (issue 13, items 8 and 14): non-finite weights are refused wherever weights
enter, and every message about a wrong, foreign or unreadable checkpoint names the real fix.

Everything runs on the tiny CSRNet with seeded random weights in tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from _harness import assert_one_line_error, cli, snapshot  # pytest prepends this folder
from toolkit.checkpoints import save_checkpoint
from toolkit.errors import CamkitError
from toolkit.models.retouch_csrnet.model import build

MODEL = "retouch_csrnet"


def _state(seed: int = 0, variant: str = "tiny") -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return {k: v.clone() for k, v in build(variant).state_dict().items()}


def _poisoned(nan: int = 0, inf: int = 0) -> tuple[dict[str, torch.Tensor], str]:
    """A tiny CSRNet state with ``nan`` NaN and ``inf`` Inf values in its first float tensor."""
    state = _state()
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > nan + inf)
    flat = state[name].view(-1)
    flat[:nan] = float("nan")
    flat[nan:nan + inf] = float("inf")
    return state, name


@pytest.fixture(scope="module")
def good_export(tmp_path_factory) -> Path:
    """An out folder that already holds a good tiny ONNX export."""
    pytest.importorskip("onnx")
    out = tmp_path_factory.mktemp("good")
    result = cli("export", MODEL, "--variant", "tiny", "--random-weights", "--format", "onnx",
                 "--out", out, "--no-check")
    assert result.rc == 0, result.err
    return out


def _export(out: Path, checkpoint: Path):
    return cli("export", MODEL, "--variant", "tiny", "--checkpoint", checkpoint, "--format",
               "onnx", "--out", out, "--no-check")


# ------------------------------------------------------------------------ non-finite weights


def test_import_weights_refuses_a_nan_pth_and_writes_nothing(tmp_path):
    state, name = _poisoned(nan=12)
    src = tmp_path / "official.pth"
    torch.save({"params": state}, src)
    out = tmp_path / "out"
    line = assert_one_line_error(
        cli("import-weights", MODEL, src, "--variant", "tiny", "--out", out),
        str(src), f"tensor {name}", "12 NaN value(s)", "non-finite", "clean copy")
    assert "Inf" not in line
    assert not out.exists()


def test_import_weights_counts_nan_and_inf(tmp_path):
    state, name = _poisoned(nan=2, inf=3)
    src = tmp_path / "official.pth"
    torch.save(state, src)
    assert_one_line_error(
        cli("import-weights", MODEL, src, "--variant", "tiny", "--out", tmp_path / "out"),
        f"tensor {name}", "2 NaN and 3 Inf value(s)")
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_nan_checkpoint_and_leaves_the_folder_as_it_was(tmp_path, good_export):
    state, name = _poisoned(nan=5)
    ckpt = tmp_path / "nan.safetensors"
    save_checkpoint(ckpt, state, MODEL, "tiny", {"step": 1})
    before = snapshot(good_export)
    assert before
    assert_one_line_error(_export(good_export, ckpt), f"checkpoint {ckpt}", f"tensor {name}",
                          "5 NaN value(s)", "re-train or re-export")
    assert snapshot(good_export) == before


def test_build_refuses_an_inf_checkpoint(tmp_path):
    state, name = _poisoned(inf=1)
    ckpt = tmp_path / "inf.safetensors"
    save_checkpoint(ckpt, state, MODEL, "tiny", {})
    with pytest.raises(CamkitError, match=f"tensor {name} has 1 Inf value"):
        build("tiny", ckpt)


def test_check_finite_names_the_first_bad_tensor_and_skips_integers():
    from toolkit.checkpoints import check_finite  # the helper the Python API reuses

    check_finite({"steps": torch.tensor([3]), "w": torch.zeros(2)}, "module m")
    bad = {"a": torch.ones(2), "b": torch.tensor([float("nan"), 1.0]),
           "c": torch.tensor([float("-inf")])}
    with pytest.raises(CamkitError) as err:
        check_finite(bad, "module m", "fix it")
    assert str(err.value) == ("module m: tensor b has 1 NaN value(s) (2 tensors in all); fix it "
                              "(camkit refuses non-finite weights)")


# ------------------------------------------------------------------------- misleading messages


def test_a_checkpoint_without_camkit_metadata_says_how_to_make_one(tmp_path, good_export):
    from safetensors.torch import save_file

    ckpt = tmp_path / "bare.safetensors"
    save_file(_state(), str(ckpt))
    line = assert_one_line_error(_export(tmp_path / "out", ckpt), "no camkit metadata",
                                 "camkit import-weights")
    assert "None" not in line and "--variant" not in line


def test_a_wrong_model_checkpoint_suggests_no_variant_the_model_lacks(tmp_path, good_export):
    ckpt = tmp_path / "nafnet.safetensors"
    save_checkpoint(ckpt, _state(), "deblur_nafnet", "mobile", {})
    line = assert_one_line_error(_export(tmp_path / "out", ckpt), "deblur_nafnet/mobile",
                                 f"pass a {MODEL} checkpoint")
    assert "--variant" not in line


def test_a_checkpoint_of_another_variant_suggests_that_variant(tmp_path, good_export):
    ckpt = tmp_path / "paper.safetensors"
    save_checkpoint(ckpt, _state(variant="paper"), MODEL, "paper", {})
    assert_one_line_error(_export(tmp_path / "out", ckpt), f"holds {MODEL}/paper",
                          "--variant paper")
    ckpt = tmp_path / "huge.safetensors"  # a variant the model does not have: no suggestion
    save_checkpoint(ckpt, _state(), MODEL, "huge", {})
    line = assert_one_line_error(_export(tmp_path / "out", ckpt), f"holds {MODEL}/huge")
    assert "--variant" not in line


def test_a_folder_given_as_checkpoint_is_called_a_folder(tmp_path, good_export):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    line = assert_one_line_error(_export(tmp_path / "out", run), "is a folder",
                                 "no .safetensors")
    assert "does not exist" not in line
    save_checkpoint(run / "checkpoints" / "step-0000004.safetensors", _state(), MODEL, "tiny", {})
    assert_one_line_error(_export(tmp_path / "out", run), "is a folder",
                          "step-0000004.safetensors")


def test_import_of_a_folder_is_called_a_folder(tmp_path):
    line = assert_one_line_error(
        cli("import-weights", MODEL, tmp_path, "--variant", "tiny", "--out", tmp_path / "out"),
        "is a folder")
    assert "does not exist" not in line


def test_random_bytes_pth_is_not_a_readable_checkpoint_without_unsafe_advice(tmp_path):
    src = tmp_path / "random.pth"
    src.write_bytes(bytes(torch.randint(0, 256, (512,), generator=torch.Generator().manual_seed(0),
                                        dtype=torch.uint8).tolist()))
    line = assert_one_line_error(
        cli("import-weights", MODEL, src, "--variant", "tiny", "--out", tmp_path / "out"),
        "not a readable weights-only PyTorch checkpoint", str(src))
    assert "weights_only" not in line and "trusted source" not in line.lower()
    assert "Re-running" not in line
    assert not (tmp_path / "out").exists()
