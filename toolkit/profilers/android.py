"""Profile an artifact on an Android phone over adb with the user's own benchmark binaries.

``camkit profile android MANIFEST --tool benchmark_model --binary PATH`` checks that
one device is attached and authorised (``adb get-state``), reads what it is (``getprop``),
pushes the model, the binary and any delegate libraries (each only when ``sha256sum`` on the
device shows it is missing or different, so a re-run of a 50 MB model costs no push), runs the
tool with the exact argv a reader can paste into ``adb shell``, pulls the op-profiling CSV and
parses the output with the same parsers as ``camkit profile parse``. Nothing is downloaded:
TFLite's ``benchmark_model`` (the Interpreter tool), LiteRT's CompiledModel ``benchmark_model``
and ``onnxruntime_perf_test`` are built or fetched by the user for the phone's ABI.

Every device exchange goes through ``Adb``'s executor, ``executor(argv, timeout_s) ->
(returncode, stdout, stderr)``, so tests replay recorded exchanges without a phone. A run that
crashed, failed or was cut short is a result with ``error`` set, not a traceback; adb itself
failing (no device, unauthorised, push refused) is a one-line ``CamkitError``.
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import CamkitError, unknown
from toolkit.profilers.schema import Device, ModelRef, ProfileError, ProfileResult

Executor = Callable[[list[str], float], tuple[int, str, str]]

#: the world-writable, executable scratch folder every Android build offers to adb shell
ROOT = "/data/local/tmp/camkit"
TOOLS = ("benchmark_model", "onnxruntime_perf_test")
#: benchmark_model's two generations: TFLite's Interpreter tool, LiteRT's CompiledModel tool
GENERATIONS = ("interpreter", "compiled_model")
TOOL_FORMATS = {"benchmark_model": "litert", "onnxruntime_perf_test": "onnx"}
#: delegates (execution providers for onnxruntime) per tool generation; the first is the default
DELEGATES = {
    "interpreter": ("xnnpack", "cpu", "gpu", "nnapi", "qnn"),
    "compiled_model": ("cpu", "gpu", "npu"),
    "onnxruntime_perf_test": ("cpu", "xnnpack", "nnapi", "qnn"),
}
#: the name a result records when the tool's log names no delegate itself
DELEGATE_LABELS = {"xnnpack": "XNNPACK", "gpu": "GPU", "nnapi": "NNAPI", "qnn": "QNN",
                   "npu": "NPU", "cpu": None}
STATE_TIMEOUT_S = 30.0
PUSH_TIMEOUT_S = 600.0
#: a run longer than this is killed and reported as truncated; benchmark_model's own cap is 150 s
RUN_TIMEOUT_S = 1800.0
TIMED_OUT = 124


@dataclass(frozen=True)
class Upload:
    """A host file and where it lives on the device; pushed only when the device sha differs."""

    local: Path
    remote: str
    sha256: str
    executable: bool = False


@dataclass(frozen=True)
class Plan:
    """Everything decided before touching the device: files to push and the command to run."""

    tool: str
    generation: str | None
    delegate: str
    uploads: tuple[Upload, ...]
    command: str          # the device shell command, stderr folded into stdout
    csv_remote: str | None
    model: ModelRef
    binary_sha256: str


def default_executor(argv: list[str], timeout_s: float) -> tuple[int, str, str]:
    """Run ``argv`` with the ``adb`` on PATH; a timeout returns 124 and what came before it."""
    adb = shutil.which("adb")
    if adb is None:
        raise CamkitError("adb is not on PATH; install Android platform-tools (developer."
                          "android.com/tools/releases/platform-tools) and add it to PATH")
    try:
        done = subprocess.run([adb, *argv[1:]], capture_output=True, text=True,
                              errors="replace", timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        return TIMED_OUT, out or "", f"timed out after {timeout_s:g} s"
    return done.returncode, done.stdout, done.stderr


class Adb:
    """The adb commands camkit uses, each as an exact argv; ``serial`` adds ``-s SERIAL``."""

    def __init__(self, serial: str | None = None, executor: Executor | None = None):
        self.serial = serial
        self.executor = executor or default_executor

    def argv(self, *args: str) -> list[str]:
        return ["adb", *(["-s", self.serial] if self.serial else []), *args]

    def shell_argv(self, *words: str) -> list[str]:
        """adb joins its shell words with spaces for the device's sh: pass one quoted string."""
        return self.argv("shell", shlex.join(words))

    def call(self, argv: list[str], timeout_s: float = STATE_TIMEOUT_S) -> tuple[int, str, str]:
        return self.executor(argv, timeout_s)

    def checked(self, argv: list[str], timeout_s: float = STATE_TIMEOUT_S) -> str:
        """stdout of ``argv``, or a one-line error naming the command and adb's first line."""
        rc, out, err = self.call(argv, timeout_s)
        if rc != 0:
            why = _first_line(err) or _first_line(out) or f"exit status {rc}"
            raise CamkitError(f"'{shlex.join(argv)}' failed: {why}; check the cable and "
                              "'adb devices'")
        return out

    def require_device(self) -> None:
        rc, out, err = self.call(self.argv("get-state"))
        state = out.strip()
        if rc == 0 and state == "device":
            return
        text = f"{out}\n{err}".lower()
        if "unauthorized" in text or state == "unauthorized":
            raise CamkitError("the phone is attached but unauthorized; unlock it and accept the "
                              "'Allow USB debugging' prompt, then run again")
        if "more than one" in text:
            raise CamkitError("more than one device is attached; pick one with --serial "
                              "(adb devices lists the serials)")
        if "no devices" in text or "not found" in text:
            raise CamkitError("no Android device attached; connect a phone with USB debugging "
                              "on ('adb devices' must list it)")
        seen = state or _first_line(err) or f"exit status {rc}"
        raise CamkitError(f"adb get-state says '{seen}', not 'device'; reconnect the phone or "
                          "run 'adb kill-server' and try again")

    def getprop(self, name: str) -> str | None:
        value = self.checked(self.shell_argv("getprop", name)).strip()
        return value or None

    def device(self) -> Device:
        """Model, SoC (``ro.soc.model`` from Android 12, else ``ro.board.platform``), OS, ABI."""
        model = self.getprop("ro.product.model")
        soc = self.getprop("ro.soc.model") or self.getprop("ro.board.platform")
        return Device(model=model, soc=soc,
                      os=_android(self.getprop("ro.build.version.release")),
                      abi=self.getprop("ro.product.cpu.abi"))

    def remote_sha256(self, remote: str) -> str | None:
        """The device file's sha256, or None when it is absent (sha256sum exits non-zero)."""
        rc, out, _ = self.call(self.shell_argv("sha256sum", remote))
        words = out.split()
        return words[0].lower() if rc == 0 and words else None


def _first_line(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else None


def _android(release: str | None) -> str | None:
    return None if release is None else f"Android {release}"


# ------------------------------------------------------------------------------------ plan


def plan_run(manifest_path: Path, tool: str, binary: Path, delegate: str | None = None,
             generation: str | None = None, qnn_lib: Path | None = None,
             dispatch_lib: Path | None = None, device_libs: tuple[Path, ...] = (),
             runs: int | None = None, warmup: int | None = None, threads: int | None = None,
             op_profiling: bool = False) -> Plan:
    """Validate the options against the manifest and decide the uploads and the device command."""
    from toolkit.artifacts import read_manifest, sha256_path

    if tool not in TOOLS:
        raise unknown("tool", tool, TOOLS)
    if tool == "benchmark_model":
        generation = generation or "interpreter"
        if generation not in GENERATIONS:
            raise unknown("benchmark_model generation", generation, GENERATIONS)
    elif generation is not None:
        raise CamkitError("--generation picks a benchmark_model generation; "
                          "onnxruntime_perf_test has one, drop it")
    key = generation or tool
    delegate = delegate or DELEGATES[key][0]
    if delegate not in DELEGATES[key]:
        raise unknown(f"delegate for {tool} ({key})", delegate, DELEGATES[key])
    for flag, value in (("--runs", runs), ("--threads", threads)):
        if value is not None and value < 1:
            raise CamkitError(f"{flag} must be at least 1, got {value}")
    if warmup is not None and warmup < 0:
        raise CamkitError(f"--warmup must be 0 or more, got {warmup}")
    _check_libs(tool, key, delegate, qnn_lib, dispatch_lib)
    if op_profiling and key != "interpreter":
        raise CamkitError(f"--op-profiling reads the Interpreter tool's CSV; {key} op profiles "
                          "are not parsed yet, drop --op-profiling")

    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    if manifest["format"] != TOOL_FORMATS[tool]:
        raise CamkitError(f"{manifest_path} is a {manifest['format']} artifact but {tool} runs "
                          f"{TOOL_FORMATS[tool]} artifacts; pass such a manifest or the other "
                          "--tool")
    artifact = manifest_path.parent / manifest["artifact"]["file"]
    model_sha = manifest["artifact"]["sha256"]
    if sha256_path(_local(artifact, "the artifact")) != model_sha:
        raise CamkitError(f"{artifact} no longer matches the sha256 in {manifest_path}; "
                          "re-export it so the result names the model that ran")
    uploads = [Upload(_local(artifact, "the artifact"), f"{ROOT}/{model_sha[:12]}-{artifact.name}",
                      model_sha)]
    binary = _local(binary, "--binary")
    uploads.append(Upload(binary, f"{ROOT}/bin/{binary.name}", sha256_path(binary), True))
    libs = [p for p in (qnn_lib, dispatch_lib, *device_libs) if p is not None]
    for lib in libs:  # kept under their own names: delegates dlopen their siblings by name
        lib = _local(lib, "the library")
        uploads.append(Upload(lib, f"{ROOT}/lib/{lib.name}", sha256_path(lib)))
    lib_remote = {p: f"{ROOT}/lib/{Path(p).name}" for p in libs}

    csv_remote = f"{ROOT}/ops-{model_sha[:12]}.csv" if op_profiling else None
    model_remote = uploads[0].remote
    if tool == "onnxruntime_perf_test":
        args = _ort_args(delegate, runs, threads,
                         lib_remote[qnn_lib] if qnn_lib else None, model_remote)
    else:
        args = _benchmark_args(generation, delegate, runs, warmup, threads,
                               lib_remote[qnn_lib] if qnn_lib else None,
                               dispatch_lib is not None, model_remote, csv_remote)
    env = [f"LD_LIBRARY_PATH={ROOT}/lib", f"ADSP_LIBRARY_PATH={ROOT}/lib"] if libs else []
    command = " ".join([*env, shlex.join([uploads[1].remote, *args]), "2>&1"])
    model_ref = ModelRef(sha256=model_sha, format=manifest["format"],
                         precision=manifest["precision"], manifest=str(manifest_path))
    return Plan(tool, generation, delegate, tuple(uploads), command, csv_remote, model_ref,
                uploads[1].sha256)


def _check_libs(tool: str, key: str, delegate: str, qnn_lib: Path | None,
                dispatch_lib: Path | None) -> None:
    if key == "interpreter" and delegate == "qnn" and qnn_lib is None:
        raise CamkitError("--delegate qnn runs Qualcomm's QNN TFLite delegate as an external "
                          "delegate; pass --qnn-delegate-lib PATH/libQnnTFLiteDelegate.so")
    if qnn_lib is not None and delegate != "qnn":
        raise CamkitError(f"--qnn-delegate-lib is for --delegate qnn, not '{delegate}'; drop it")
    if key == "compiled_model" and delegate == "npu" and dispatch_lib is None:
        raise CamkitError("--delegate npu on the CompiledModel tool needs the vendor's LiteRT "
                          "dispatch library; pass it with --dispatch-lib libLiteRtDispatch_*.so")
    if dispatch_lib is not None and not (key == "compiled_model" and delegate == "npu"):
        raise CamkitError("--dispatch-lib is for --generation compiled_model --delegate npu; "
                          "drop it")


def _local(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CamkitError(f"{what} {path} is not a file; pass the host path of the file to push")
    return path


def _benchmark_args(generation: str, delegate: str, runs: int | None, warmup: int | None,
                    threads: int | None, qnn_remote: str | None, dispatch: bool,
                    model_remote: str, csv_remote: str | None) -> list[str]:
    """benchmark_model flags (tflite/tools/benchmark: benchmark_model.cc, benchmark_tflite_model.cc;
    litert/tools/benchmark_litert_model.h for the CompiledModel tool)."""
    args = [f"--graph={model_remote}"]
    if threads is not None:
        args.append(f"--num_threads={threads}")
    if runs is not None:
        args.append(f"--num_runs={runs}")
    if warmup is not None:
        args.append(f"--warmup_runs={warmup}")
    if generation == "compiled_model":
        args += {"cpu": ["--use_cpu=true"], "gpu": ["--use_gpu=true"],
                 "npu": ["--use_npu=true"]}[delegate]
        if dispatch:
            args.append(f"--dispatch_library_path={ROOT}/lib")
        return args
    args += {"xnnpack": ["--use_xnnpack=true"], "cpu": ["--use_xnnpack=false"],
             "gpu": ["--use_gpu=true"], "nnapi": ["--use_nnapi=true"],
             "qnn": [f"--external_delegate_path={qnn_remote}",
                     "--external_delegate_options=backend_type:htp"]}[delegate]
    if csv_remote is not None:
        args += ["--enable_op_profiling=true", f"--profiling_output_csv_file={csv_remote}"]
    return args


def _ort_args(delegate: str, runs: int | None, threads: int | None, qnn_remote: str | None,
              model_remote: str) -> list[str]:
    """onnxruntime_perf_test flags (onnxruntime/test/perftest/command_args_parser.cc): ``-I``
    generates the inputs, ``-m times -r N`` fixes the run count, ``-e`` picks the provider."""
    args = ["-e", delegate, "-I", "-m", "times"]
    if runs is not None:
        args += ["-r", str(runs)]
    if threads is not None:
        args += ["-x", str(threads)]
    if delegate == "qnn":
        args += ["-i", f"backend_path|{qnn_remote or 'libQnnHtp.so'}"]
    return [*args, model_remote]


# ------------------------------------------------------------------------------------- run


def commands(plan: Plan, adb: Adb) -> list[list[str]]:
    """Every adb command a run on a fresh device issues, in order (the ``--dry-run`` listing)."""
    out = [adb.argv("get-state")]
    out += [adb.shell_argv("getprop", p) for p in
            ("ro.product.model", "ro.soc.model", "ro.build.version.release",
             "ro.product.cpu.abi")]
    out.append(adb.shell_argv("mkdir", "-p", f"{ROOT}/bin", f"{ROOT}/lib"))
    for up in plan.uploads:
        out += [adb.shell_argv("sha256sum", up.remote), adb.argv("push", str(up.local), up.remote)]
    out.append(adb.shell_argv("chmod", "755", plan.uploads[1].remote))
    if plan.csv_remote:
        out.append(adb.shell_argv("rm", "-f", plan.csv_remote))
    out.append(adb.argv("shell", plan.command))
    if plan.csv_remote:
        out.append(adb.argv("pull", plan.csv_remote, "OPS_CSV"))
    return out


def dry_run_text(plan: Plan, adb: Adb) -> str:
    lines = ["# adb commands for a device that holds none of the files yet; a push is skipped "
             "when sha256sum on the device matches, and OPS_CSV is a host temp file"]
    return "\n".join([*lines, *(shlex.join(argv) for argv in commands(plan, adb))]) + "\n"


def profile_android(plan: Plan, adb: Adb) -> ProfileResult:
    """Run ``plan`` on the device behind ``adb`` and return the parsed, filled-in result."""
    from toolkit.profilers.parsers import parse_benchmark_model, parse_onnxruntime_perf_test

    adb.require_device()
    device = adb.device()
    adb.checked(adb.shell_argv("mkdir", "-p", f"{ROOT}/bin", f"{ROOT}/lib"))
    for up in plan.uploads:
        if adb.remote_sha256(up.remote) != up.sha256:
            adb.checked(adb.argv("push", str(up.local), up.remote), PUSH_TIMEOUT_S)
    adb.checked(adb.shell_argv("chmod", "755", plan.uploads[1].remote))
    if plan.csv_remote:
        adb.checked(adb.shell_argv("rm", "-f", plan.csv_remote))
    run_argv = adb.argv("shell", plan.command)
    rc, out, err = adb.call(run_argv, RUN_TIMEOUT_S)
    raw = out + err
    if plan.tool == "onnxruntime_perf_test":
        result = parse_onnxruntime_perf_test(raw)
    else:
        csv = _pull_csv(adb, plan.csv_remote) if plan.csv_remote and rc == 0 else None
        result = parse_benchmark_model(raw, csv)
    return _fill(result, plan, device, run_argv, rc, raw)


def _pull_csv(adb: Adb, remote: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="camkit-adb-") as tmp:
        local = Path(tmp) / Path(remote).name
        adb.checked(adb.argv("pull", remote, str(local)), PUSH_TIMEOUT_S)
        if not local.is_file():
            raise CamkitError(f"adb pull gave no {remote}; the tool wrote no op-profiling CSV "
                              "(is --profiling_output_csv_file supported by this build?)")
        return local.read_bytes()


def _fill(result: ProfileResult, plan: Plan, device: Device, run_argv: list[str],
          rc: int, raw: str) -> ProfileResult:
    """Add what only the runner knows: device, exact argv, model, requested delegate, exit."""
    runtime = dataclasses.replace(
        result.runtime,
        tool=plan.tool,
        tool_generation=plan.generation,
        delegate=result.runtime.delegate or DELEGATE_LABELS[plan.delegate],
        options={**result.runtime.options, "requested_delegate": plan.delegate,
                 "binary_sha256": plan.binary_sha256},
    )
    return dataclasses.replace(result, runtime=runtime, device=device, argv=run_argv,
                               model=plan.model, error=_exit_error(result.error, plan, rc, raw))


def _exit_error(error: ProfileError | None, plan: Plan, rc: int,
                raw: str) -> ProfileError | None:
    """The parser's error, sharpened by the exit status it cannot see: a timeout, a signal
    (status 128 + N from the device shell) or a plain failure status."""
    if rc == 0 or (error is not None and error.kind not in ("truncated", "empty")):
        return error
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    last = lines[-1] if lines else None
    if rc == TIMED_OUT:
        return ProfileError("truncated", f"{plan.tool} ran past {RUN_TIMEOUT_S:g} s and was "
                            "stopped; lower --runs or check the device is not throttling", last)
    if rc > 128:
        return ProfileError("crashed", f"{plan.tool} was killed by signal {rc - 128} on the "
                            "device; run its argv with 'adb shell' and read 'adb logcat'", last)
    return ProfileError("tool_error", f"{plan.tool} exited with status {rc} on the device; run "
                        "its argv with 'adb shell' to see why", last)
