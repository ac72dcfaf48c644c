"""Artifact folders that cannot be half-written: the lock, the publication, the invariant.

**The invariant** (docs/reliability.md). An artifact folder is *consistent* when

1. every artifact in it (a visible name ending in a format suffix: ``.onnx``, ``.tflite``,
   ``.mlpackage``) has its ``<artifact>.manifest.json`` beside it, or is named by one (a split
   by tiles' features artifact, ``companions``);
2. every manifest's artifact, sample and checkpoint sha256 match the files (a checkpoint only
   when the manifest names one: seeded random weights are rebuilt from their seed);
3. every ``*.sample.npz`` is named by a manifest.

Names that start with a dot are camkit's work in progress (staging folders, a failed export kept
for inspection, locks) and are never part of a published set: ``camkit check`` skips them.

**How an export keeps it.** ``FolderLock`` gives one writer at a time per folder (a real OS lock
from the ``filelock`` package: a killed process releases it). ``Publication`` builds the new
version of the whole folder beside it -- the untouched files hard-linked, the new ones written
in -- and swaps it in with one atomic rename (Linux ``renameat2(RENAME_EXCHANGE)``, macOS
``renamex_np(RENAME_SWAP)``). Before the swap the readers see the old set, after it the new one;
a process killed at any point leaves one of the two, and its leftovers only under dot-names that
the next writer removes. Files inside a publication are only ever replaced by rename (hard links
share their bytes with the published files: an in-place write would change both).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import CamkitError

SAMPLE_SUFFIX = ".sample.npz"
MANIFEST_SUFFIX = ".manifest.json"
STAGING_TAG = ".staging-"
OLD_TAG = ".old-"
FAILED_TAG = ".failed"
#: what ``camkit check`` writes beside a folder's artifacts; a new version drops the old ones
CHECK_REPORTS = ("check.json", "check.junit.xml", "check.md")


def _hidden(name: str) -> bool:
    return name.startswith(".")


# ------------------------------------------------------------------------------------- lock


class FolderLock:
    """One camkit writer per artifact folder: ``<parent>/.<folder>.lock``, held with the OS
    (flock) so a killed holder releases it. A second writer stops at once with a message naming
    the first (pid, command, since when); ``best_effort`` (readers such as ``camkit check``)
    goes on without the lock where the folder is read-only."""

    def __init__(self, folder: Path, action: str, best_effort: bool = False) -> None:
        self.folder = Path(folder)
        self.action = action
        self.best_effort = best_effort
        self.path = self.folder.parent / f".{self.folder.name}.lock"
        self.info = self.folder.parent / f".{self.folder.name}.lock.json"
        self._lock = None

    def __enter__(self) -> FolderLock:
        from filelock import FileLock, Timeout

        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.path), timeout=0)
            lock.acquire()
        except Timeout:
            raise CamkitError(
                f"{self.folder} is being written by another camkit process ({self._holder()}); "
                f"wait for it to finish, or use another --out"
            ) from None
        except OSError as e:
            if self.best_effort and e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
                return self  # a read-only folder: nobody can be publishing into it with us
            raise
        self._lock = lock
        try:
            from toolkit.artifacts import atomic_write_json

            atomic_write_json(self.info, {"pid": os.getpid(), "action": self.action,
                                          "command": sys.argv, "since_utc": _utc()})
        except OSError:
            pass  # the lock holds without its description
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            Path(self.info).unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def _holder(self) -> str:
        try:
            info = json.loads(self.info.read_text())
            return f"pid {info['pid']}, {info['action']}, since {info['since_utc']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "details unknown"


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ------------------------------------------------------------------------------ publication


class Publication:
    """The next version of ``folder``, built in ``staging`` and published by one swap.

    Use under a ``FolderLock``::

        with FolderLock(folder, "export"), Publication(folder) as pub:
            ...write new files into pub.staging (by rename only)...
            pub.commit()            # or pub.keep_failed() to keep it for inspection

    Leaving the block without either removes the staging folder: the published set is as it was.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.staging: Path | None = None
        self.done = False

    def __enter__(self) -> Publication:
        parent = self.folder.parent
        parent.mkdir(parents=True, exist_ok=True)
        recover(self.folder)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}{STAGING_TAG}",
                                             dir=parent))
        os.chmod(self.staging, 0o777 & ~_umask())  # mkdtemp makes 0700; publish the usual mode
        if self.folder.is_dir():
            _link_tree(self.folder, self.staging)
        return self

    def commit(self) -> Path:
        """Swap the staged folder in; the old one is removed afterwards."""
        assert self.staging is not None and not self.done
        if not self.folder.exists():
            os.rename(self.staging, self.folder)
        elif _exchange(self.staging, self.folder):
            shutil.rmtree(self.staging, ignore_errors=True)  # now the old version
        else:  # no atomic swap on this filesystem: a short window without the folder
            aside = self.folder.with_name(f".{self.folder.name}{OLD_TAG}{os.getpid()}")
            os.rename(self.folder, aside)
            os.rename(self.staging, self.folder)
            shutil.rmtree(aside, ignore_errors=True)
        self.done = True
        return self.folder

    def keep_failed(self) -> Path:
        """Move the staged folder to ``.<folder>.failed`` (replacing an older one): a name
        ``camkit check`` never takes for a published set. Returns it."""
        assert self.staging is not None and not self.done
        failed = self.failed_path(self.folder)
        shutil.rmtree(failed, ignore_errors=True)
        os.rename(self.staging, failed)
        self.done = True
        return failed

    @staticmethod
    def failed_path(folder: Path) -> Path:
        return Path(folder).with_name(f".{Path(folder).name}{FAILED_TAG}")

    def __exit__(self, *exc) -> None:
        if not self.done and self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)


def recover(folder: Path) -> list[Path]:
    """Remove what killed writers left beside ``folder`` (call with its lock held): staging
    folders, and an old version set aside by the non-atomic swap -- put back first when the
    kill came between its two renames. Returns what was removed."""
    folder = Path(folder)
    parent = folder.parent
    if not parent.is_dir():
        return []
    removed = []
    for path in sorted(parent.iterdir()):
        if path.name.startswith(f".{folder.name}{OLD_TAG}"):
            if not folder.exists():
                os.rename(path, folder)
                continue
        elif not path.name.startswith(f".{folder.name}{STAGING_TAG}"):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link every file of ``src`` into ``dst`` (a copy where links are not possible),
    skipping temp files that a killed atomic write left."""

    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    def ignore(_folder: str, names: list[str]) -> list[str]:
        return [n for n in names if _hidden(n) and (n.endswith(".tmp") or OLD_TAG in n)]

    shutil.copytree(src, dst, symlinks=True, ignore=ignore, copy_function=link,
                    dirs_exist_ok=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False where the platform or filesystem cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_fdcwd, rename_exchange = -100, 2
        rc = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        rename_swap = 2
        rc = libc.renamex_np(os.fsencode(a), os.fsencode(b), rename_swap)
    else:
        return False
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------- invariant


@dataclass
class FolderState:
    """What the invariant found under a target: problems per manifest, and the files that no
    manifest accounts for (orphan artifacts, stray samples)."""

    manifests: list[Path] = field(default_factory=list)
    problems: dict[Path, list[str]] = field(default_factory=dict)
    #: manifests whose checkpoint is missing or changed (the float reference cannot be rebuilt)
    checkpoint_gone: dict[Path, str] = field(default_factory=dict)
    orphans: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.orphans and not any(self.problems.values()) and not self.checkpoint_gone

    def lines(self) -> list[str]:
        out = [f"{m}: {p}" for m, ps in self.problems.items() for p in ps]
        out += [f"{m}: {why}" for m, why in self.checkpoint_gone.items()]
        out += [f"{path}: {why}" for path, why in self.orphans]
        return out


def artifact_suffixes() -> tuple[str, ...]:
    from toolkit import registry

    return tuple("." + registry.format_module(name).suffix for name in registry.format_names())


def scan(target: Path) -> FolderState:
    """Check the invariant for ``target``: a folder (searched deep, dot-names skipped), an
    artifact, or a manifest. Raises only when ``target`` names nothing camkit published."""
    target = Path(target)
    if not target.exists():
        raise CamkitError(f"{target} does not exist; pass a manifest.json, an artifact or an "
                          f"artifacts folder")
    suffixes = artifact_suffixes()
    state = FolderState()
    if target.is_dir() and not target.name.endswith(tuple(suffixes)):
        artifacts_found, samples = [], []
        for path in _visible(target, suffixes):
            if path.name.endswith(MANIFEST_SUFFIX):
                state.manifests.append(path)
            elif path.name.endswith(SAMPLE_SUFFIX):
                samples.append(path)
            elif path.name.endswith(suffixes):
                artifacts_found.append(path)
        if not state.manifests and not artifacts_found:
            raise CamkitError(f"no *.manifest.json under {target}; run 'camkit export' first")
    else:
        manifest = target if target.name.endswith(MANIFEST_SUFFIX) else \
            target.with_name(target.name + MANIFEST_SUFFIX)
        if not manifest.exists():
            if target.name.endswith(suffixes):
                state.orphans.append((target, "artifact without a manifest (not published by "
                                      "a complete export); re-export it"))
                return state
            raise CamkitError(f"{target} is neither a manifest, an artifact with one, nor a "
                              f"folder")
        state.manifests.append(manifest)
        artifacts_found, samples = [], []
    named_artifacts, named_samples = set(), set()
    for manifest in state.manifests:
        problems, artifact, sample, ckpt_problem, extra = _check_manifest(manifest)
        state.problems[manifest] = problems
        if ckpt_problem:
            state.checkpoint_gone[manifest] = ckpt_problem
        named_artifacts.add(artifact)
        named_artifacts.update(extra)
        named_samples.add(sample)
    for path in artifacts_found:
        if path not in named_artifacts:
            state.orphans.append((path, "artifact without a manifest (not published by a "
                                  "complete export); re-export it or delete it"))
    for path in samples:
        if path not in named_samples:
            state.orphans.append((path, "sample that no manifest names; delete it"))
    return state


def _visible(root: Path, suffixes: tuple[str, ...]):
    """Files and artifact folders under ``root``; dot-names and artifact insides skipped."""
    for entry in sorted(root.iterdir()):
        if _hidden(entry.name):
            continue
        if entry.is_dir() and not entry.name.endswith(suffixes):
            yield from _visible(entry, suffixes)
        else:
            yield entry


def companions(manifest: dict, folder: Path) -> list[Path]:
    """The artifacts a manifest names beside its own: a split by tiles' features artifact
    (``full_resolution.statistics.artifact``)."""
    entry = ((manifest.get("full_resolution") or {}).get("statistics") or {}).get("artifact")
    return [folder / entry["file"]] if entry and "file" in entry else []


def _check_manifest(manifest_path: Path) -> tuple[list[str], Path | None, Path | None, str,
                                                  list[Path]]:
    """(problems, artifact path, sample path, checkpoint problem, companion artifacts) of one
    manifest."""
    from toolkit.artifacts import read_manifest, sha256_path

    try:
        manifest = read_manifest(manifest_path)
    except CamkitError as e:
        return [str(e)], None, None, "", []
    folder = manifest_path.parent
    problems = []
    artifact = folder / manifest["artifact"]["file"]
    if artifact.name != manifest_path.name.removesuffix(MANIFEST_SUFFIX):
        problems.append(f"manifest names {artifact.name}, not the artifact beside it")
    if not artifact.exists():
        problems.append(f"artifact {artifact.name} is missing; re-export it")
    elif sha256_path(artifact) != manifest["artifact"]["sha256"]:
        problems.append(f"{artifact.name} changed since export (sha256 differs from its "
                        f"manifest); re-export it")
    sample = None
    sample_desc = manifest.get("sample") or {}
    if "file" not in sample_desc or "sha256" not in sample_desc:
        problems.append("manifest names no sample; re-export it")
    else:
        sample = folder / sample_desc["file"]
        if not sample.is_file():
            problems.append(f"sample {sample.name} is missing; re-export the artifact")
        elif sha256_path(sample) != sample_desc["sha256"]:
            problems.append(f"sample {sample.name} changed since export (sha256 differs from "
                            f"the manifest); re-export the artifact")
    extra = companions(manifest, folder)
    for path in extra:  # one at most: the features artifact
        sha = manifest["full_resolution"]["statistics"]["artifact"].get("sha256")
        if not path.exists():
            problems.append(f"features artifact {path.name} is missing; re-export the artifact")
        elif sha256_path(path) != sha:
            problems.append(f"{path.name} changed since export (sha256 differs from the "
                            f"manifest); re-export the artifact")
    return problems, artifact, sample, checkpoint_problem(manifest), extra


def checkpoint_problem(manifest: dict) -> str:
    """'' when the checkpoint a manifest names is there unchanged (or none is named)."""
    from toolkit.artifacts import sha256_path

    ckpt = manifest.get("checkpoint") or {}
    if ckpt.get("random_weights") or not ckpt.get("path"):
        return ""
    path = Path(ckpt["path"])
    if not path.is_file():
        return (f"checkpoint {path} is gone, so the float reference cannot be rebuilt; restore "
                f"it, re-export, or pass --accept-stored-sample to compare with the output "
                f"stored at export time")
    if sha256_path(path) != ckpt.get("sha256"):
        return (f"checkpoint {path} changed since export (sha256 differs), so the float "
                f"reference cannot be rebuilt; restore it, re-export, or pass "
                f"--accept-stored-sample to compare with the output stored at export time")
    return ""


# --------------------------------------------------------------------------------- readers


@dataclass(frozen=True)
class Published:
    """One artifact as a profiler runs it: verified against its manifest just before."""

    manifest: dict
    artifact: Path
    #: sha256 of the file on disk, computed now (it equals the manifest's, or we refused)
    sha256: str
    inputs: dict


def open_published(manifest_path: Path) -> Published:
    """Read a manifest, hash its artifact and sample as they are on disk now, and refuse (one
    line) when either is missing or differs from the manifest: a profile result must describe
    the file that ran."""
    from toolkit.artifacts import read_manifest, read_sample, sha256_path

    manifest_path = Path(manifest_path)
    if manifest_path.is_dir():
        raise CamkitError(f"{manifest_path} is a folder; pass an artifact's .manifest.json")
    manifest = read_manifest(manifest_path)
    problems, artifact, sample, _, _ = _check_manifest(manifest_path)
    if problems:
        raise CamkitError(f"{manifest_path.name}: {problems[0]} (camkit check names every "
                          f"problem of the folder)")
    digest = sha256_path(artifact)
    if digest != manifest["artifact"]["sha256"]:  # changed between the two reads
        raise CamkitError(f"{artifact} changed while it was read; try again")
    inputs, _ = read_sample(sample)
    return Published(manifest, artifact, digest, inputs)
