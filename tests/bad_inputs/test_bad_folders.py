"""The artifact-folder invariant (toolkit/publish.py) and the gate that cannot be fooled.

Each broken folder of issue 13 items 1-7 makes ``camkit check`` fail; each bad export leaves the
published set byte-identical; each bad argument or OS error is one line, exit 2. Everything runs
on the tiny CSRNet in ONNX (seconds per export).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _harness import assert_one_line_error, cli, snapshot

pytest.importorskip("onnxruntime")

MODEL = ("retouch_csrnet", "--variant", "tiny")
ONNX = ("--format", "onnx")


def folder_of(root: Path) -> Path:
    return root / "retouch_csrnet" / "tiny"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A camkit checkpoint of the tiny CSRNet (seeded random weights)."""
    import torch

    from toolkit import registry
    from toolkit.checkpoints import save_checkpoint

    torch.manual_seed(3)
    net = registry.model_module("retouch_csrnet").build("tiny")
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, net.state_dict(), "retouch_csrnet", "tiny", {"step": 0})
    return path


@pytest.fixture(scope="module")
def published(tmp_path_factory, checkpoint) -> Path:
    """An artifacts root with tiny CSRNet ONNX fp32 + fp16 published by ``camkit export``."""
    root = tmp_path_factory.mktemp("published") / "art"
    result = cli("export", *MODEL, "--checkpoint", checkpoint, *ONNX, "--precision", "fp32,fp16",
                 "--out", root, "--max-images", "1")
    assert result.rc == 0, result.err
    return root


@pytest.fixture
def art(published, tmp_path) -> Path:
    """A private copy of the published root."""
    copy = tmp_path / "art"
    shutil.copytree(published, copy)
    return copy


def stem(precision: str = "fp16") -> str:
    return f"retouch_csrnet-tiny-{precision}.onnx"


def check(*args) -> tuple[int, str]:
    result = cli("check", *args, "--max-images", "1")
    assert "Traceback" not in result.err, result.err
    return result.rc, result.out + result.err


# ----------------------------------------------------------------- the invariant, published


def test_published_folder_is_consistent_and_per_artifact_samples(published):
    from toolkit.publish import scan

    state = scan(published)
    assert state.consistent, state.lines()
    assert len(state.manifests) == 2
    for m in state.manifests:
        manifest = json.loads(m.read_text())
        assert manifest["sample"]["file"] == manifest["artifact"]["file"] + ".sample.npz"
    samples = {(folder_of(published) / f"{stem(p)}.sample.npz").stat().st_ino
               for p in ("fp32", "fp16")}
    assert len(samples) == 1, "identical samples are one file under two names"
    hidden = [p.name for p in folder_of(published).parent.iterdir() if p.name.startswith(".")]
    assert not [h for h in hidden if "staging" in h or "failed" in h], hidden


# ------------------------------------------------------------- items 1-3: broken folders fail


def test_check_fails_on_artifact_without_manifest(art):
    (folder_of(art) / f"{stem()}.manifest.json").unlink()
    rc, out = check(art)
    assert rc == 1 and "artifact without a manifest" in out


def test_check_fails_on_stray_sample(art):
    shutil.copy(folder_of(art) / f"{stem()}.sample.npz", folder_of(art) / "extra.sample.npz")
    rc, out = check(art)
    assert rc == 1 and "sample that no manifest names" in out


def test_check_fails_on_changed_artifact(art):
    with open(folder_of(art) / stem("fp32"), "ab") as f:
        f.write(b"\0")
    rc, out = check(art)
    assert rc == 1 and "changed since export" in out


@pytest.mark.parametrize("damage", ["delete", "replace"])
def test_check_fails_on_missing_or_replaced_sample(art, damage):
    sample = folder_of(art) / f"{stem()}.sample.npz"
    if damage == "delete":
        sample.unlink()
    else:
        shutil.copy(folder_of(art) / f"{stem('fp32')}.sample.npz", sample)  # valid npz, wrong
        np_bytes = sample.read_bytes()
        sample.write_bytes(np_bytes + b"\0")
    rc, out = check(art)
    assert rc == 1 and f"sample {stem()}.sample.npz" in out


def test_check_fails_on_unreadable_manifest(art):
    (folder_of(art) / f"{stem()}.manifest.json").write_text("{ not json")
    rc, out = check(art)
    assert rc == 1 and "not valid JSON" in out


@pytest.mark.parametrize("damage", ["delete", "change"])
def test_check_fails_when_checkpoint_is_gone_unless_stored_sample_accepted(tmp_path, checkpoint,
                                                                           damage):
    ckpt = tmp_path / "own.safetensors"
    shutil.copy(checkpoint, ckpt)
    art = tmp_path / "art"
    assert cli("export", *MODEL, "--checkpoint", ckpt, *ONNX, "--out", art, "--no-check").rc == 0
    if damage == "delete":
        ckpt.unlink()
    else:
        from toolkit.checkpoints import read_checkpoint, save_checkpoint

        state, _ = read_checkpoint(ckpt)
        first = next(iter(state))
        state[first] = state[first] + 0.5
        save_checkpoint(ckpt, state, "retouch_csrnet", "tiny", {"step": 1})
    rc, out = check(art)
    assert rc == 1 and "--accept-stored-sample" in out and "cannot be rebuilt" in out
    rc, out = check(art, "--accept-stored-sample")
    assert rc == 0, out
    assert "checked against the stored sample only" in (art / "check.md").read_text()
    report = json.loads((art / "check.json").read_text())["artifacts"][0]
    assert report["reference"].startswith("torch output stored") and len(report["samples"]) == 1


def test_check_skips_dot_folders(art):
    """A failed export kept for inspection is never taken for a published set."""
    failed = folder_of(art).with_name(".tiny.failed")
    shutil.copytree(folder_of(art), failed)
    (failed / stem()).write_bytes(b"broken")
    rc, out = check(art)
    assert rc == 0, out
    assert ".failed" not in out


# --------------------------------------------- items 4-6: a bad export changes nothing published


def _fail_onnx_export(monkeypatch, message="converter exploded"):
    from toolkit import registry

    module = registry.format_module("onnx")

    def boom(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(module, "export", boom)


def test_failed_export_leaves_published_set_and_sample(art, monkeypatch, checkpoint):
    before = snapshot(art)
    _fail_onnx_export(monkeypatch)
    result = cli("export", *MODEL, "--checkpoint", checkpoint, *ONNX, "--precision", "fp32",
                 "--out", art)
    assert_one_line_error(result, "export failed", "converter exploded")
    assert snapshot(art) == before
    assert not [p for p in folder_of(art).parent.iterdir() if "staging" in p.name]


def test_failed_export_into_new_folder_leaves_nothing(tmp_path, monkeypatch):
    _fail_onnx_export(monkeypatch)
    result = cli("export", *MODEL, "--random-weights", *ONNX, "--out", tmp_path / "new")
    assert_one_line_error(result, "export failed")
    visible = [p for p in (tmp_path / "new").rglob("*") if not p.name.startswith(".")]
    assert visible == [folder_of(tmp_path / "new").parent], visible  # no stray sample


def test_next_export_removes_what_a_killed_one_left(art):
    parent = folder_of(art).parent
    (parent / ".tiny.staging-dead").mkdir()
    (parent / ".tiny.staging-dead" / stem()).write_bytes(b"half")
    assert cli("export", *MODEL, "--random-weights", *ONNX, "--out", art, "--no-check").rc == 0
    assert not (parent / ".tiny.staging-dead").exists()


def test_export_whose_check_fails_publishes_nothing(art, monkeypatch, checkpoint):
    from toolkit.registry import Card
    from toolkit.spec import Tolerance

    before = snapshot(art)
    monkeypatch.setattr(Card, "tolerance", lambda self, fmt, p: Tolerance(1000.0, 1.0, 0.0))
    result = cli("export", *MODEL, "--checkpoint", checkpoint, *ONNX, "--precision", "fp32",
                 "--out", art, "--max-images", "1")
    assert result.rc == 1 and "Traceback" not in result.err
    assert "were not published" in result.err and ".tiny.failed" in result.err
    assert snapshot(art / "retouch_csrnet" / "tiny") == {
        k: v for k, v in before.items() if k.startswith(str(folder_of(art)))}
    failed = folder_of(art).with_name(".tiny.failed")
    assert (failed / stem("fp32")).exists() and (failed / "check.md").exists()
    monkeypatch.undo()
    rc, out = check(art)
    assert rc == 0, out


def test_second_export_into_a_locked_folder_stops(art):
    """A real second process holds the folder's lock (flock), as a running export does."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from toolkit.publish import FolderLock\n"
         f"with FolderLock(__import__('pathlib').Path({str(folder_of(art))!r}), 'export'):\n"
         "    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(art)
        result = cli("export", *MODEL, "--random-weights", *ONNX, "--out", art, "--no-check")
        assert_one_line_error(result, "being written by another camkit process",
                              f"pid {holder.pid}", "export")
        assert snapshot(art) == before
        result = cli("check", art)
        assert_one_line_error(result, "being written by another camkit process")
    finally:
        holder.kill()
        holder.wait()
    assert cli("export", *MODEL, "--random-weights", *ONNX, "--out", art, "--no-check").rc == 0


# ----------------------------------------------------------- item 7: profile what really ran


def test_profile_records_the_sha_of_the_file_it_ran(art):
    from toolkit.artifacts import sha256_path

    manifest = folder_of(art) / f"{stem('fp32')}.manifest.json"
    out = art / "p.json"
    assert cli("profile", "host", manifest, "--runs", "1", "--warmup", "0",
               "--json", out).rc == 0
    assert json.loads(out.read_text())["model"]["sha256"] == sha256_path(
        folder_of(art) / stem("fp32"))


@pytest.mark.parametrize("damage", ["artifact", "sample-gone"])
def test_profile_refuses_a_file_that_is_not_the_manifests(art, damage):
    manifest = folder_of(art) / f"{stem('fp32')}.manifest.json"
    if damage == "artifact":
        shutil.copy(folder_of(art) / stem("fp16"), folder_of(art) / stem("fp32"))
    else:
        (folder_of(art) / f"{stem('fp32')}.sample.npz").unlink()
    for target in ("host", "static"):
        result = cli("profile", target, manifest, "--json", art / "p.json")
        assert_one_line_error(result, "re-export")
        assert not (art / "p.json").exists()


# -------------------------------------------------- items 9, 10: arguments refused up front


@pytest.mark.parametrize("flags", [("--precision", ","), ("--format", ","), ("--format", " , ")])
def test_empty_lists_are_refused(tmp_path, flags):
    args = ("--format", "onnx", *flags) if flags[0] == "--precision" else flags
    result = cli("export", *MODEL, "--random-weights", *args, "--out", tmp_path / "o")
    assert_one_line_error(result, flags[0])
    assert not (tmp_path / "o").exists()


def test_huge_size_is_refused_with_the_memory_estimate(tmp_path):
    result = cli("export", *MODEL, "--random-weights", *ONNX, "--size", "100000x100000",
                 "--out", tmp_path / "o")
    line = assert_one_line_error(result, "100000x100000", "GiB", "--size")
    assert "available" in line
    assert not (tmp_path / "o").exists()


def test_memory_estimate_scales_with_pixels():
    from toolkit import registry
    from toolkit.export import check_memory, make_spec

    model = registry.model_module("retouch_csrnet").build("tiny")
    small = check_memory(make_spec("retouch_csrnet", "tiny", (64, 64), "nchw", False), model)
    big = check_memory(make_spec("retouch_csrnet", "tiny", (128, 128), "nchw", False), model)
    weights = sum(p.numel() * 4 for p in model.parameters())
    assert 3.9 < (big - weights) / (small - weights) < 4.1  # activations grow with the pixels
    with pytest.raises(Exception, match="needs about"):
        check_memory(make_spec("retouch_csrnet", "tiny", (64, 64), "nchw", False), model,
                     available=1000)


# --------------------------------------------------------------- item 13: OS errors, one line


def test_out_that_is_a_file(tmp_path, checkpoint):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    before = snapshot(blocker)
    for args in (("export", *MODEL, "--random-weights", *ONNX, "--out", blocker),
                 ("import-weights", "retouch_csrnet", checkpoint, "--out", blocker)):
        result = cli(*args)
        assert result.rc == 2 and "Traceback" not in result.err, result.err
        assert_one_line_error(result)
    assert snapshot(blocker) == before


def test_check_out_that_is_a_file(art, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    result = cli("check", art, "--out", blocker, "--max-images", "1")
    assert_one_line_error(result, "folder")
    assert blocker.read_text() == "keep me"


def test_profile_json_that_is_a_folder(art):
    manifest = folder_of(art) / f"{stem('fp32')}.manifest.json"
    for target in ("host", "static", "estimate"):
        device = ["--device", "host_x86_avx2"] if target == "estimate" else []
        result = cli("profile", target, manifest, *device, "--json", art)
        assert_one_line_error(result, "is a folder")


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs at tmp_path/disk (root only: CI and the dev machines run as root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("this sandbox does not allow mounting a tmpfs")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path, leave_bytes: int) -> None:
    free = shutil.disk_usage(disk).free
    with open(disk / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))


def test_disk_full_during_export_and_check(small_disk, art):
    root = small_disk / "art"
    shutil.copytree(art, root)
    before = snapshot(root)
    _fill(small_disk, 20_000)
    result = cli("export", *MODEL, "--random-weights", *ONNX, "--precision", "fp32,fp16",
                 "--out", root, "--no-check")
    assert_one_line_error(result, "No space left on device", "free disk space")
    assert snapshot(root) == before
    (small_disk / "filler").unlink()
    _fill(small_disk, 0)
    result = cli("check", root, "--max-images", "1", "--out", small_disk / "reports")
    assert_one_line_error(result, "No space left on device")
    assert snapshot(root) == before


def test_disk_full_during_training(small_disk):
    _fill(small_disk, 4096)
    repo = Path(__file__).resolve().parents[2]
    result = cli("train", repo / "recipes" / "retouch_csrnet" / "tiny.yaml", "--max-steps", "1",
                 "--run-dir", small_disk / "run")
    assert_one_line_error(result, "No space left on device")


def test_read_only_out(tmp_path, art):
    """A read-only --out: a read-only mount as root (permission bits do not stop root), the
    permission bits otherwise."""
    ro = tmp_path / "ro"
    shutil.copytree(art, ro)
    before = snapshot(ro)
    mounted = False
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(ro), str(ro)],
                                 capture_output=True).returncode == 0
        if mounted:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], capture_output=True)
    if not mounted:
        if os.geteuid() == 0:
            pytest.skip("cannot make a read-only mount here, and root ignores permission bits")
        for p in [ro, *ro.rglob("*")]:
            if p.is_dir():
                p.chmod(0o555)
    try:
        probe = ro / "probe"
        try:
            probe.write_text("x")
            pytest.skip("the folder stayed writable")
        except OSError:
            pass
        result = cli("export", *MODEL, "--random-weights", *ONNX, "--out", ro, "--no-check")
        assert_one_line_error(result, "writable --out")
        result = cli("check", ro, "--max-images", "1")  # reports cannot go beside it
        assert_one_line_error(result, "writable --out")
        result = cli("check", ro, "--max-images", "1", "--out", tmp_path / "reports")
        assert result.rc == 0, result.err  # reading a read-only folder is fine
    finally:
        if mounted:
            subprocess.run(["umount", str(ro)], check=False)
        else:
            for p in [ro, *ro.rglob("*")]:
                if p.is_dir():
                    p.chmod(0o755)
    assert snapshot(ro) == before


def test_os_error_message_names_path_and_fix():
    from toolkit.cli import os_error_message

    e = OSError(errno.ENOSPC, "No space left on device", "/x/.a.onnx.abc.tmp")
    assert os_error_message(e) == ("No space left on device (/x); free disk space or write "
                                   "elsewhere (--out) (existing files were left unchanged)")
    e = OSError(errno.EISDIR, "Is a directory", "/x/.t.tmp", None, "/x/out")
    assert "(/x/out)" in os_error_message(e)


def test_a_new_version_drops_the_old_sets_reports(art):
    """Reports of the old set would tell CI about artifacts that are no longer there."""
    assert (folder_of(art) / "check.json").exists()
    assert cli("export", *MODEL, "--random-weights", *ONNX, "--out", art, "--no-check").rc == 0
    assert not [p for p in folder_of(art).iterdir() if p.name.startswith("check.")]
