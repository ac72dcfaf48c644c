"""The CLI as a user meets it: help, list, clean one-line errors, nothing overwritten."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

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


# ---------------------------------------------------------------- commands: one module each


def test_every_command_module_has_the_same_names():
    """Like format modules: NAME, HELP, add_arguments(parser), run(args); NAME is the file's."""
    from toolkit import commands

    for name in commands.command_names():
        module = commands.command_module(name)
        assert module.NAME == name, module.__file__
        assert module.__file__.endswith(f"{name.replace('-', '_')}.py")
        assert isinstance(module.HELP, str) and module.HELP and "\n" not in module.HELP
        assert callable(module.add_arguments) and callable(module.run), module.__file__


def test_commands_are_the_files_on_disk_in_help_order():
    from toolkit import commands

    on_disk = {p.stem.replace("_", "-") for p in commands.COMMANDS_DIR.glob("*.py")
               if not p.stem.startswith("_")}
    names = commands.command_names()
    assert set(names) == on_disk and len(names) == len(on_disk)
    assert names == [n for n in commands.ORDER if n in on_disk]  # every shipped one is ordered
    assert {"list", "export", "check", "train", "import-weights", "demo", "calib", "profile",
            "report", "run", "new-model", "app"} == on_disk


def test_a_new_command_is_one_file(tmp_path, monkeypatch, capsys):
    """A file dropped beside the others is a command: listed (after the ordered ones), parsed
    with its own options, run by main -- no edit anywhere else."""
    from toolkit import cli, commands

    for path in commands.COMMANDS_DIR.glob("*.py"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "say_hello.py").write_text(
        'NAME = "say-hello"\nHELP = "greet"\n\n\n'
        'def add_arguments(parser):\n    parser.add_argument("--who", default="world")\n\n\n'
        'def run(args):\n    print(f"hello {args.who}")\n    return 0\n')
    monkeypatch.setattr(commands, "COMMANDS_DIR", tmp_path)
    monkeypatch.setattr(commands, "__path__", [str(tmp_path), *commands.__path__])
    monkeypatch.delitem(sys.modules, "toolkit.commands.say_hello", raising=False)
    try:
        assert commands.command_names()[-1] == "say-hello"
        assert "say-hello" in cli.build_parser().format_help()
        assert cli.main(["say-hello", "--who", "camkit"]) == 0
        assert capsys.readouterr().out == "hello camkit\n"
        with pytest.raises(SystemExit):
            cli.main(["say-hello", "--whom", "x"])
        assert "did you mean '--who'" in capsys.readouterr().err
    finally:
        sys.modules.pop("toolkit.commands.say_hello", None)


def test_every_help_page_builds_without_heavy_imports():
    """`camkit X --help` for every command and profile action, in one fresh process: each page
    renders, and building the parsers imports no torch, numpy or converter."""
    code = (
        "import sys\n"
        "from toolkit import cli\n"
        "parser = cli.build_parser()\n"
        "pages = [parser.format_help()]\n"
        "sub = next(a for a in parser._actions if a.dest == 'command')\n"
        "for name, p in sub.choices.items():\n"
        "    pages.append(p.format_help())\n"
        "    nested = [a for a in p._actions if a.dest.endswith('_command')]\n"
        "    for n in nested:\n"
        "        pages += [q.format_help() for q in n.choices.values()]\n"
        "assert all(p.startswith('usage: camkit') for p in pages), pages\n"
        "print(len(pages))\n"
        "print(sorted(m for m in ('torch', 'numpy', 'onnx', 'onnxruntime', 'nncf', 'PIL')"
        " if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parents[1], timeout=120)
    assert done.returncode == 0, done.stderr
    count, heavy = done.stdout.splitlines()
    # calib: 2 actions; profile: 9 + run; app: fixtures, push
    assert int(count) == 1 + 12 + 2 + 10 + 2 and heavy == "[]"


@pytest.mark.parametrize("argv", [["--help"], ["profile", "--help"]])
def test_help_lists_the_new_profile_actions_not_the_old_spelling(argv):
    proc = run_cli(*argv)
    assert proc.returncode == 0 and proc.stderr == ""
    assert "profile run" not in proc.stdout and "--on host" not in proc.stdout
    for action in ("host", "android", "macos", "static", "estimate", "parse", "compare"):
        assert f"profile {action}" in proc.stdout or f"    {action} " in proc.stdout
