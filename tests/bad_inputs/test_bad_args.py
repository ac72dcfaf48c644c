"""Bad command-line arguments (issue 13, item 15): counts below 1 and typo'd options are one-line
errors at argument parsing (exit 2, no usage block), and the library refuses such counts too."""

from __future__ import annotations

import pytest
from _harness import assert_one_line_error, cli, snapshot  # pytest prepends this folder

from toolkit.errors import CamkitError

MODEL = "retouch_csrnet"


# ------------------------------------------------------------------------------ --max-images


@pytest.mark.parametrize("value", ["-1", "0", "-5"])
@pytest.mark.parametrize("command", ["export", "check"])
def test_max_images_below_one_is_refused_before_anything_runs(tmp_path, command, value):
    (tmp_path / "keep.txt").write_text("untouched")
    before = snapshot(tmp_path)
    first = [MODEL, "--variant", "tiny", "--random-weights", "--format", "onnx", "--out",
             tmp_path / "out"] if command == "export" else [tmp_path]
    result = cli(command, *first, "--max-images", value)
    line = assert_one_line_error(result, "--max-images", "at least 1", value)
    assert "usage:" not in result.err
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()
    assert line.endswith(f"see 'camkit {command} --help'")


def test_max_images_must_be_a_whole_number():
    assert_one_line_error(cli("check", "x", "--max-images", "two"), "--max-images", "'two'")


def test_the_library_refuses_max_images_below_one(tmp_path):
    from toolkit.checks.gate import run_checks
    from toolkit.checks.parity import check_artifact
    from toolkit.checks.task import load_pairs

    for call in (lambda: run_checks(tmp_path, max_images=-1),
                 lambda: check_artifact(tmp_path / "m.manifest.json", max_images=0),
                 lambda: load_pairs(tmp_path, count=-1)):
        with pytest.raises(CamkitError, match="--max-images must be at least 1"):
            call()


# ------------------------------------------------------------------------------- typo'd flags


@pytest.mark.parametrize(("args", "wrong", "meant"), [
    (["export", MODEL, "--fromat", "onnx"], "--fromat", "--format"),
    (["export", MODEL, "--precison=fp16"], "--precison", "--precision"),
    (["check", "artifacts", "--max-imags", "2"], "--max-imags", "--max-images"),
    (["train", "x.yaml", "--reusme"], "--reusme", "--resume"),
    (["profile", "host", "m.json", "--thredas", "2"], "--thredas", "--threads"),
    (["profile", "android", "m.json", "--tool", "t", "--binary", "b", "--seral", "X"], "--seral",
     "--serial"),
    (["profile", "run", "m.json", "--thredas", "2"], "--thredas", "--threads"),  # old spelling
    (["calib", "build", "--from", "d", "--name", "n", "--per-foto", "2"], "--per-foto",
     "--per-photo"),
])
def test_an_unknown_option_names_the_nearest_option_of_its_command(args, wrong, meant):
    result = cli(*args)
    line = assert_one_line_error(result, f"unrecognized argument {wrong}",
                                 f"(did you mean '{meant}'?)")
    assert "usage:" not in result.err
    command = " ".join(args[:2]) if args[0] in ("profile", "calib") else args[0]
    assert line.endswith(f"see 'camkit {command} --help'")


def test_the_suggestion_comes_from_the_subcommand_given():
    """check has no --format: no suggestion of another command's option."""
    line = assert_one_line_error(cli("check", "artifacts", "--fromat", "onnx"),
                                 "unrecognized argument --fromat")
    assert "--format" not in line


def test_a_stray_positional_is_one_line():
    assert_one_line_error(cli("export", MODEL, "onnx"), "unrecognized argument onnx")


def test_other_argparse_errors_are_one_line_too():
    assert_one_line_error(cli("export"), "required", "model")
    assert_one_line_error(cli("profile", "moon", "m.json"), "invalid choice")
    assert_one_line_error(cli("profile", "run", "m.json", "--on", "moon"), "invalid choice")


# ------------------------------------------------------------- profile: one parser per target

#: an option of one profile target given to another, and the target it belongs to
FOREIGN = [
    (["host", "m.json", "--tool", "benchmark_model"], "--tool", "android"),
    (["host", "m.json", "--serial", "X"], "--serial", "android"),
    (["host", "m.json", "--dry-run"], "--dry-run", "android"),
    (["host", "m.json", "--compute-units", "all"], "--compute-units", "macos"),
    (["host", "m.json", "--calibrate", "r.json"], "--calibrate", "estimate"),
    (["android", "m.json", "--tool", "t", "--binary", "b", "--kernels", "reference"], "--kernels",
     "host"),
    (["android", "m.json", "--tool", "t", "--binary", "b", "--compute-units", "all"],
     "--compute-units", "macos"),
    (["macos", "m.json", "--threads", "2"], "--threads", "host"),
    (["macos", "m.json", "--kernels", "xnnpack"], "--kernels", "host"),
    (["macos", "m.json", "--delegate", "gpu"], "--delegate", "android"),
    (["static", "m.json", "--threads", "3"], "--threads", "host"),
    (["static", "m.json", "--device", "host_x86_avx2"], "--device", "estimate"),
    (["estimate", "m.json", "--device", "d", "--threads", "2"], "--threads", "host"),
    (["estimate", "m.json", "--device", "d", "--binary", "b"], "--binary", "android"),
]


@pytest.mark.parametrize(("args", "flag", "owner"), FOREIGN)
def test_a_profile_target_refuses_another_targets_option_at_parsing(args, flag, owner):
    """The parser rejects it (no hand check): one line naming the option and the target it
    belongs to, exit 2, no usage block, no traceback, nothing run."""
    line = assert_one_line_error(cli("profile", *args), f"unrecognized argument {flag}",
                                 f"'camkit profile {owner}'")
    assert line.endswith(f"see 'camkit profile {args[0]} --help'")


@pytest.mark.parametrize(("args", "needle"), [
    (["android", "m.json"], "--tool, --binary"),
    (["android", "m.json", "--tool", "benchmark_model"], "--binary"),
    (["estimate", "m.json"], "--device"),
    (["host"], "manifest"),
])
def test_a_profile_target_requires_its_own_options_at_parsing(args, needle):
    assert_one_line_error(cli("profile", *args), "required", needle)
