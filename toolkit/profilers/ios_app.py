"""Drive the camkit iOS app (ios_demo/) from a Mac with ``xcrun devicectl`` (Xcode 15+).

``camkit app push --ios --device UDID MANIFEST...`` copies each Core ML package (file by file:
a ``.mlpackage`` is a folder), its manifest and sample into the app's data container
(``Documents/camkit/artifacts/``). An iPhone offers no ``sha256sum``, so camkit keeps an index
of what it pushed (``Documents/camkit/artifacts/pushed.json``: remote path -> sha256), copies it
back first and pushes only what is missing or different, then the updated index.

``camkit profile ios-app MANIFEST --device UDID --backend coreml-ane`` pushes the same way,
launches the app with the headless launch arguments (``-camkitManifest ... -camkitOut ...``,
read through UserDefaults' argument domain), and copies ``Documents/camkit/results/<out>`` back
until the app has renamed it into place or the timeout passes.

Off macOS every command is a one-line error; ``--dry-run`` prints the commands on any OS.
Every exchange goes through ``Devicectl``'s executor, ``executor(argv, timeout_s) ->
(returncode, stdout, stderr)``, so the tests replay recorded exchanges without a phone or a Mac.
"""

from __future__ import annotations

import json
import platform
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import CamkitError
from toolkit.profilers.android import TIMED_OUT, Upload
from toolkit.profilers.schema import ProfileError, ProfileResult

Executor = Callable[[list[str], float], tuple[int, str, str]]

BUNDLE = "dev.camkit.demo"
ARTIFACTS = "Documents/camkit/artifacts"
RESULTS = "Documents/camkit/results"
INDEX = f"{ARTIFACTS}/pushed.json"
#: backend id -> MLComputeUnits (ios_demo CamkitCore Backend, the same ids)
BACKENDS = {"coreml-all": "all", "coreml-cpu": "cpuOnly", "coreml-gpu": "cpuAndGPU",
            "coreml-ane": "cpuAndNeuralEngine"}
INSTALL_HINT = "build and install it with Xcode first (ios_demo/README.md)"
COPY_TIMEOUT_S = 600.0
STATE_TIMEOUT_S = 60.0
POLL_S = 3.0
RESULT_TIMEOUT_S = 900.0


def default_executor(argv: list[str], timeout_s: float) -> tuple[int, str, str]:
    """Run ``argv`` (``xcrun devicectl ...``) on this Mac; a timeout returns 124."""
    if platform.system() != "Darwin" or shutil.which("xcrun") is None:
        raise CamkitError("driving the iOS app needs a Mac with Xcode 15+ (xcrun devicectl); "
                          "on this machine use --dry-run to print the commands")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return TIMED_OUT, "", f"timed out after {timeout_s:g} s"
    return done.returncode, done.stdout, done.stderr


class Devicectl:
    """The ``xcrun devicectl`` commands camkit uses, each an exact argv, for one device."""

    def __init__(self, device: str, executor: Executor | None = None):
        if not device:
            raise CamkitError("pass the iPhone with --device UDID (xcrun devicectl list devices "
                              "lists them)")
        self.device = device
        self.executor = executor or default_executor

    def _container(self) -> list[str]:
        return ["--device", self.device, "--domain-type", "appDataContainer",
                "--domain-identifier", BUNDLE]

    def copy_to(self, local: Path, remote: str) -> list[str]:
        return ["xcrun", "devicectl", "device", "copy", "to", *self._container(),
                "--source", str(local), "--destination", remote]

    def copy_from(self, remote: str, local: str) -> list[str]:
        return ["xcrun", "devicectl", "device", "copy", "from", *self._container(),
                "--source", remote, "--destination", local]

    def launch(self, arguments: list[str]) -> list[str]:
        # "--": the app's own dash-prefixed arguments go to the app, not to devicectl's parser
        return ["xcrun", "devicectl", "device", "process", "launch", "--device", self.device,
                "--terminate-existing", BUNDLE, "--", *arguments]

    def call(self, argv: list[str], timeout_s: float = STATE_TIMEOUT_S) -> tuple[int, str, str]:
        return self.executor(argv, timeout_s)

    def checked(self, argv: list[str], timeout_s: float = STATE_TIMEOUT_S) -> str:
        rc, out, err = self.call(argv, timeout_s)
        if rc != 0:
            lines = [x.strip() for x in (err or out).splitlines() if x.strip()]
            why = lines[-1] if lines else f"exit status {rc}"
            hint = (f"is the app installed? {INSTALL_HINT}" if "container" in why.lower() or
                    "not installed" in why.lower() else "is the iPhone unlocked and paired?")
            raise CamkitError(f"'{shlex.join(argv)}' failed: {why}; {hint}")
        return out


# ------------------------------------------------------------------------------------ push


@dataclass(frozen=True)
class IosBundle:
    manifest: Path
    artifact_sha256: str
    uploads: tuple[Upload, ...]


def bundle(manifest_path: Path) -> IosBundle:
    """A Core ML manifest's files (android_app.named_files; a package file by file)."""
    from toolkit.artifacts import read_manifest, sha256_path
    from toolkit.profilers.android_app import named_files

    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    if manifest["format"] != "coreml":
        raise CamkitError(f"{manifest_path} is a {manifest['format']} artifact; the iOS app runs "
                          "Core ML packages (LiteRT and ONNX run in android_demo/)")
    uploads = [Upload(manifest_path, f"{ARTIFACTS}/{manifest_path.name}",
                      sha256_path(manifest_path))]
    for path, _ in named_files(manifest_path, manifest):
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            rel = f.name if f == path else f"{path.name}/{f.relative_to(path).as_posix()}"
            uploads.append(Upload(f, f"{ARTIFACTS}/{rel}", sha256_path(f)))
    return IosBundle(manifest_path, manifest["artifact"]["sha256"], tuple(uploads))


def push_commands(uploads: list[Upload], ctl: Devicectl) -> list[list[str]]:
    """What a push to an iPhone holding none of the files issues, in order."""
    return [ctl.copy_from(INDEX, "INDEX_JSON"),
            *(ctl.copy_to(up.local, up.remote) for up in uploads),
            ctl.copy_to(Path("INDEX_JSON"), INDEX)]


def _remote_index(ctl: Devicectl, tmp: Path) -> dict[str, str]:
    """The index camkit left on the phone; empty when there is none (first push) or it is
    unreadable (then everything is pushed again, which is only slower)."""
    local = tmp / "pushed.json"
    rc, _, _ = ctl.call(ctl.copy_from(INDEX, str(local)), COPY_TIMEOUT_S)
    if rc != 0 or not local.is_file():
        return {}
    try:
        index = json.loads(local.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {k: v for k, v in index.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(index, dict) else {}


def push(uploads: list[Upload], ctl: Devicectl,
         on_file: Callable[[Upload, bool], None] | None = None) -> int:
    """Push what the index says the phone lacks; returns how many files were copied."""
    with tempfile.TemporaryDirectory(prefix="camkit-ios-") as tmp:
        index = _remote_index(ctl, Path(tmp))
        copied = 0
        for up in uploads:
            fresh = index.get(up.remote) != up.sha256
            if fresh:
                ctl.checked(ctl.copy_to(up.local, up.remote), COPY_TIMEOUT_S)
                index[up.remote] = up.sha256
                copied += 1
            if on_file is not None:
                on_file(up, fresh)
        if copied:
            local = Path(tmp) / "pushed.json"
            local.write_text(json.dumps(index, indent=1, sort_keys=True))
            ctl.checked(ctl.copy_to(local, INDEX), COPY_TIMEOUT_S)
    return copied


# -------------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class IosPlan:
    bundle: IosBundle
    backend: str
    runs: int
    warmup: int
    strict: bool
    out_name: str

    @property
    def result_remote(self) -> str:
        return f"{RESULTS}/{self.out_name}"

    def arguments(self) -> list[str]:
        """The launch arguments the app reads (UserDefaults' argument domain)."""
        return ["-camkitManifest", self.bundle.manifest.name, "-camkitBackend", self.backend,
                "-camkitRuns", str(self.runs), "-camkitWarmup", str(self.warmup),
                "-camkitStrict", "1" if self.strict else "0", "-camkitOut", self.out_name]


def plan_ios_run(manifest_path: Path, backend: str, runs: int = 10, warmup: int = 2,
                 strict: bool = True) -> IosPlan:
    from toolkit.profilers.android_app import check_run

    check_run(backend, tuple(BACKENDS), runs, warmup)
    b = bundle(manifest_path)
    return IosPlan(b, backend, runs, warmup, strict, f"{b.artifact_sha256[:12]}-{backend}.json")


def run_commands(plan: IosPlan, ctl: Devicectl) -> list[list[str]]:
    return [*push_commands(list(plan.bundle.uploads), ctl), ctl.launch(plan.arguments()),
            ctl.copy_from(plan.result_remote, "RESULT_JSON")]


def dry_run_text(commands: list[list[str]], what: str) -> str:
    from toolkit.profilers import android_app

    return android_app.dry_run_text(
        commands, what, "# xcrun devicectl commands {what} on an iPhone that holds none of the "
        "files yet; a file is skipped when camkit's index on the phone has its sha256")


def profile_ios_app(plan: IosPlan, ctl: Devicectl, timeout_s: float = RESULT_TIMEOUT_S,
                    sleep: Callable[[float], None] = time.sleep) -> ProfileResult:
    """Push, launch the headless benchmark, copy its result back and validate it."""
    from toolkit.profilers.android_app import check_result

    push(list(plan.bundle.uploads), ctl)
    argv = ctl.launch(plan.arguments())
    ctl.checked(argv)
    waited = 0.0
    with tempfile.TemporaryDirectory(prefix="camkit-ios-") as tmp:
        local = Path(tmp) / plan.out_name
        while True:
            rc, _, _ = ctl.call(ctl.copy_from(plan.result_remote, str(local)), COPY_TIMEOUT_S)
            if rc == 0 and local.is_file():
                text = local.read_text()
                break
            if waited >= timeout_s:
                return _timed_out(plan, argv, timeout_s)
            sleep(POLL_S)
            waited += POLL_S
    return check_result(text, plan.out_name, plan.bundle.manifest, plan.bundle.artifact_sha256,
                        argv)


def _timed_out(plan: IosPlan, argv: list[str], timeout_s: float) -> ProfileResult:
    from toolkit.profilers.android_app import error_result

    return error_result(plan.bundle.manifest, "coreml", "camkit-ios", plan.backend, argv,
                        ProfileError("truncated", f"no result after {timeout_s:g} s; the app may "
                                     "have crashed (Xcode's Devices window has its log) or still "
                                     "be running (lower --runs, or raise --timeout)"))
