"""Drive the camkit Android app (android_demo/) over adb: push artifacts, run its headless
benchmark, pull the result.

``camkit app push MANIFEST...`` copies each artifact with its manifest, its sample and, for a
split by tiles, its features artifact into the app's storage
(``/sdcard/Android/data/dev.camkit.demo/files/camkit/artifacts``, flat, under their own names,
so a manifest still names its files relative to its own folder). A file is pushed only when
``sha256sum`` on the phone shows it missing or different, as ``camkit profile android`` does.

``camkit profile android-app MANIFEST --backend litert-gpu`` pushes the same way, starts the
app's ``HeadlessActivity`` with ``am start`` (the intent extras name the manifest, backend,
runs, warm-up, strict mode and the result file), polls until the app has renamed its result
into place (or its process is gone, or the timeout passes), pulls the JSON, validates it against
the profile schema and checks that it names the artifact that was pushed.

Every exchange goes through ``Adb``'s executor (toolkit/profilers/android.py), so the tests
replay recorded exchanges without a phone; ``sleep`` is injectable for the same reason.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import CamkitError, unknown
from toolkit.profilers.android import PUSH_TIMEOUT_S, Adb, Upload
from toolkit.profilers.schema import ProfileError, ProfileResult, validate

PACKAGE = "dev.camkit.demo"
ACTIVITY = f"{PACKAGE}/.HeadlessActivity"
ACTION = f"{PACKAGE}.action.BENCHMARK"
#: the app's external files dir (Context.getExternalFilesDir(null)) + camkit/
APP_ROOT = f"/sdcard/Android/data/{PACKAGE}/files/camkit"
ARTIFACTS = f"{APP_ROOT}/artifacts"
RESULTS = f"{APP_ROOT}/results"
#: backend id -> the artifact format it runs (android_demo/core Backend, the same ids)
BACKENDS = {"litert-cpu": "litert", "litert-gpu": "litert", "litert-npu": "litert",
            "ort-cpu": "onnx", "ort-xnnpack": "onnx", "ort-nnapi": "onnx", "ort-qnn": "onnx"}
FORMATS = ("litert", "onnx")
INSTALL_HINT = ("install it first: cd android_demo && ./gradlew :app:installStandardDebug "
                "(android_demo/README.md)")
POLL_S = 2.0
RESULT_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Bundle:
    """One artifact's files for the phone: manifest, artifact, sample, features artifact."""

    manifest: Path
    format: str
    artifact_sha256: str
    uploads: tuple[Upload, ...]


def named_files(manifest_path: Path, manifest: dict) -> list[tuple[Path, str]]:
    """(file, sha256) of everything a manifest names beside it: the artifact (a folder for a
    Core ML package), its sample and a split by tiles' features artifact, each checked against
    the sha256 the manifest records (the apps check them again on the phone)."""
    from toolkit.artifacts import sha256_path
    from toolkit.publish import companions

    folder = manifest_path.parent
    named = [(folder / manifest["artifact"]["file"], manifest["artifact"]["sha256"])]
    sample = manifest.get("sample") or {}
    if "file" in sample:
        named.append((folder / sample["file"], sample.get("sha256")))
    entry = ((manifest.get("full_resolution") or {}).get("statistics") or {}).get("artifact")
    named += [(path, entry.get("sha256")) for path in companions(manifest, folder)]
    checked = []
    for path, expected in named:
        if not path.exists():
            raise CamkitError(f"{path} is missing (named by {manifest_path.name}); re-export "
                              "the artifact")
        actual = sha256_path(path)
        if expected is not None and actual != expected:
            raise CamkitError(f"{path.name} no longer matches the sha256 in "
                              f"{manifest_path.name}; re-export it before pushing")
        checked.append((path, actual))
    return checked


def bundle(manifest_path: Path) -> Bundle:
    """The files one manifest brings (``named_files``) and where each goes on the phone."""
    from toolkit.artifacts import read_manifest, sha256_path

    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    fmt = manifest["format"]
    if fmt not in FORMATS:
        raise CamkitError(f"{manifest_path} is a {fmt} artifact; the Android app runs "
                          f"{' and '.join(FORMATS)} artifacts (Core ML runs in ios_demo/)")
    uploads = [Upload(manifest_path, f"{ARTIFACTS}/{manifest_path.name}",
                      sha256_path(manifest_path))]
    uploads += [Upload(path, f"{ARTIFACTS}/{path.name}", sha)
                for path, sha in named_files(manifest_path, manifest)]
    return Bundle(manifest_path, fmt, manifest["artifact"]["sha256"], tuple(uploads))


def manifests_in(paths: list[Path], formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Manifest files from manifests and folders (a folder: every manifest of ``formats``
    under it)."""
    from toolkit.artifacts import read_manifest

    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = [m for m in sorted(path.rglob("*.manifest.json"))
                      if read_manifest(m)["format"] in formats]
            if not inside:
                raise CamkitError(f"{path} holds no {' or '.join(formats)} manifest; export "
                                  f"one with 'camkit export MODEL --format {','.join(formats)}'")
            found += inside
        elif path.name.endswith(".manifest.json"):
            found.append(path)
        else:
            raise CamkitError(f"{path} is not a .manifest.json or a folder of them; pass the "
                              "artifact's manifest")
    return found


# ------------------------------------------------------------------------------------ push


def push_commands(uploads: list[Upload], adb: Adb) -> list[list[str]]:
    """The adb commands a push to a phone holding none of the files issues, in order."""
    out = [adb.argv("get-state"), adb.shell_argv("pm", "path", PACKAGE),
           adb.shell_argv("mkdir", "-p", ARTIFACTS, RESULTS)]
    for up in uploads:
        out += [adb.shell_argv("sha256sum", up.remote), adb.argv("push", str(up.local), up.remote)]
    return out


def require_app(adb: Adb) -> None:
    """``pm path`` prints ``package:/data/app/...`` for an installed package, nothing else."""
    rc, out, _ = adb.call(adb.shell_argv("pm", "path", PACKAGE))
    if rc != 0 or "package:" not in out:
        raise CamkitError(f"the camkit app ({PACKAGE}) is not installed on the phone; "
                          + INSTALL_HINT)


def push(uploads: list[Upload], adb: Adb,
         on_file: Callable[[Upload, bool], None] | None = None) -> int:
    """Push what the phone lacks; returns how many files were copied."""
    adb.require_device()
    require_app(adb)
    adb.checked(adb.shell_argv("mkdir", "-p", ARTIFACTS, RESULTS))
    copied = 0
    for up in uploads:
        fresh = adb.remote_sha256(up.remote) != up.sha256
        if fresh:
            adb.checked(adb.argv("push", str(up.local), up.remote), PUSH_TIMEOUT_S)
            copied += 1
        if on_file is not None:
            on_file(up, fresh)
    return copied


def unique_uploads(bundles: list[Bundle]) -> list[Upload]:
    """Every upload once (two manifests may share nothing but a name clash is an error)."""
    seen: dict[str, Upload] = {}
    for b in bundles:
        for up in b.uploads:
            other = seen.get(up.remote)
            if other is not None and other.sha256 != up.sha256:
                raise CamkitError(f"two different files are both named {Path(up.remote).name} "
                                  f"({other.local} and {up.local}); the app keeps one folder, "
                                  "push them one at a time")
            seen[up.remote] = up
    return list(seen.values())


# -------------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class AppPlan:
    bundle: Bundle
    backend: str
    runs: int
    warmup: int
    strict: bool
    out_name: str

    @property
    def result_remote(self) -> str:
        return f"{RESULTS}/{self.out_name}"


def plan_app_run(manifest_path: Path, backend: str, runs: int = 10, warmup: int = 2,
                 strict: bool = True) -> AppPlan:
    check_run(backend, tuple(BACKENDS), runs, warmup)
    b = bundle(manifest_path)
    if BACKENDS[backend] != b.format:
        fits = [k for k, v in BACKENDS.items() if v == b.format]
        raise CamkitError(f"--backend {backend} runs {BACKENDS[backend]} artifacts but "
                          f"{Path(manifest_path).name} is {b.format}; use one of "
                          f"{', '.join(fits)}")
    return AppPlan(b, backend, runs, warmup, strict,
                   f"{b.artifact_sha256[:12]}-{backend}.json")


def check_run(backend: str, backends: tuple[str, ...], runs: int, warmup: int) -> None:
    if backend not in backends:
        raise unknown("backend", backend, backends)
    if runs < 1:
        raise CamkitError(f"--runs must be at least 1, got {runs}")
    if warmup < 0:
        raise CamkitError(f"--warmup must be 0 or more, got {warmup}")


def start_argv(plan: AppPlan, adb: Adb) -> list[str]:
    """``am start`` of the headless benchmark; -W waits until the activity is up."""
    return adb.shell_argv(
        "am", "start", "-W", "-n", ACTIVITY, "-a", ACTION,
        "--es", "manifest", plan.bundle.manifest.name, "--es", "backend", plan.backend,
        "--ei", "runs", str(plan.runs), "--ei", "warmup", str(plan.warmup),
        "--ez", "strict", "true" if plan.strict else "false", "--es", "out", plan.out_name)


def poll_argv(plan: AppPlan, adb: Adb) -> list[str]:
    """One poll: 'done' once the result is in place, 'running' while the app's process lives,
    'gone' when it ended without one."""
    remote = shlex.quote(plan.result_remote)
    return adb.argv("shell", f"if test -f {remote}; then echo done; elif pidof {PACKAGE} "
                    ">/dev/null; then echo running; else echo gone; fi")


def run_commands(plan: AppPlan, adb: Adb) -> list[list[str]]:
    """Every adb command a run on a phone holding none of the files issues (``--dry-run``)."""
    remote = plan.result_remote
    return [*push_commands(list(plan.bundle.uploads), adb),
            adb.shell_argv("rm", "-f", remote, f"{remote}.partial"),
            start_argv(plan, adb), poll_argv(plan, adb),
            adb.argv("pull", remote, "RESULT_JSON")]


def dry_run_text(commands: list[list[str]], what: str,
                 header: str = "# adb commands {what} on a phone that holds none of the files "
                 "yet; a push is skipped when sha256sum on the phone matches") -> str:
    """``--dry-run``'s listing: a comment line, then one shell-quoted command per line."""
    return "\n".join([header.format(what=what), *map(shlex.join, commands)]) + "\n"


def profile_android_app(plan: AppPlan, adb: Adb, timeout_s: float = RESULT_TIMEOUT_S,
                        sleep: Callable[[float], None] = time.sleep) -> ProfileResult:
    """Push, start the headless benchmark, wait for its result and return it validated."""
    push(list(plan.bundle.uploads), adb)
    remote = plan.result_remote
    adb.checked(adb.shell_argv("rm", "-f", remote, f"{remote}.partial"))
    argv = start_argv(plan, adb)
    out = adb.checked(argv)
    if "Error" in out:  # am prints "Error: Activity class ... does not exist" with status 0
        raise CamkitError(f"am start failed: {out.strip().splitlines()[-1]}; reinstall the app "
                          f"({INSTALL_HINT})")
    state = _wait(plan, adb, timeout_s, sleep)
    if state != "done":
        return _no_result(plan, argv, state, timeout_s)
    return _pulled(plan, adb, argv)


def _wait(plan: AppPlan, adb: Adb, timeout_s: float, sleep: Callable[[float], None]) -> str:
    waited, gone = 0.0, 0
    while True:
        state = adb.checked(poll_argv(plan, adb)).strip()
        if state == "done":
            return state
        gone = gone + 1 if state == "gone" else 0
        if gone >= 2 or waited >= timeout_s:  # 'gone' twice: not a race with the rename
            return "gone" if gone >= 2 else "timeout"
        sleep(POLL_S)
        waited += POLL_S


def _no_result(plan: AppPlan, argv: list[str], state: str, timeout_s: float) -> ProfileResult:
    """A result with ``error`` set when the app wrote none (crash or timeout)."""
    if state == "gone":
        error = ProfileError("crashed", f"the app's process ended without writing "
                             f"{plan.out_name}; read 'adb logcat -s camkit' for why")
    else:
        error = ProfileError("truncated", f"no result after {timeout_s:g} s; the run may still "
                             "be going (lower --runs, or raise --timeout)")
    return error_result(plan.bundle.manifest, _runtime(plan.backend), "camkit-android",
                        plan.backend, argv, error)


def error_result(manifest_path: Path, runtime: str, tool: str, backend: str, argv: list[str],
                 error: ProfileError) -> ProfileResult:
    """What a run that brought back no result records: the artifact, where and how, why."""
    from toolkit.artifacts import read_manifest
    from toolkit.profilers.schema import Latency, ModelRef, Runtime

    manifest = read_manifest(manifest_path)
    return ProfileResult(
        kind="measured", runtime=Runtime(name=runtime, tool=tool, options={"backend": backend}),
        latency=Latency(), argv=argv, error=error,
        model=ModelRef(sha256=manifest["artifact"]["sha256"], format=manifest["format"],
                       precision=manifest["precision"], manifest=str(manifest_path)))


def _runtime(backend: str) -> str:
    return "litert" if BACKENDS[backend] == "litert" else "onnxruntime"


def _pulled(plan: AppPlan, adb: Adb, argv: list[str]) -> ProfileResult:
    with tempfile.TemporaryDirectory(prefix="camkit-app-") as tmp:
        local = Path(tmp) / plan.out_name
        adb.checked(adb.argv("pull", plan.result_remote, str(local)), PUSH_TIMEOUT_S)
        try:
            text = local.read_text()
        except OSError as e:
            raise CamkitError(f"adb pull gave no {plan.out_name} ({e}); run again") from None
    return check_result(text, plan.out_name, plan.bundle.manifest, plan.bundle.artifact_sha256,
                        argv)


def check_result(text: str, name: str, manifest: Path, artifact_sha256: str,
                 argv: list[str]) -> ProfileResult:
    """An app's result JSON, validated, naming the artifact that was pushed; the host's
    manifest path and the command that started the run recorded in it."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise CamkitError(f"the app's result {name} is not JSON ({e}); update the app to this "
                          "camkit version") from None
    try:
        validate(obj)
        result = ProfileResult.from_json(obj)
    except CamkitError as e:
        raise CamkitError(f"the app's result does not match the profile schema ({e}); update "
                          "the app to this camkit version") from None
    if result.model.sha256 not in (None, artifact_sha256):
        raise CamkitError(f"the app ran an artifact with sha256 {result.model.sha256[:12]}, not "
                          f"{artifact_sha256[:12]}; push again and rerun")
    model = dataclasses.replace(result.model, sha256=artifact_sha256, manifest=str(manifest))
    return dataclasses.replace(result, model=model, argv=argv)
