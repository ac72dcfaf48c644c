"""`camkit profile android` against a fake adb: exact argv, push caching, errors.

There is no phone here. Every exchange with the device is replayed by ``FakeAdb``, which holds
the exact argv camkit must send, in order, and the reply a real adb gives (the replies are our
own recordings of adb's and the tools' formats; tool outputs come from
tests/fixtures/profilers/). A command that differs from the golden argv fails the test, so
these goldens are the contract with the device.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import pytest

from toolkit import cli
from toolkit.errors import CamkitError
from toolkit.profilers import android
from toolkit.profilers.android import ROOT, Adb, commands, plan_run, profile_android
from toolkit.profilers.schema import ProfileResult, validate

FIXTURES = Path(__file__).parent / "fixtures" / "profilers"
MODEL_BYTES = {"litert": b"fake tflite flatbuffer", "onnx": b"fake onnx protobuf"}
SUFFIX = {"litert": "tflite", "onnx": "onnx"}
HOST_TEMP = "<host temp file>"
PROPS = {"ro.product.model": "Pixel 8", "ro.soc.model": "Tensor G3",
         "ro.build.version.release": "14", "ro.product.cpu.abi": "arm64-v8a"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_manifest(folder: Path, fmt: str) -> Path:
    """A minimal manifest (the fields the runner reads) beside a fake artifact."""
    name = f"m-tiny-fp32.{SUFFIX[fmt]}"
    (folder / name).write_bytes(MODEL_BYTES[fmt])
    manifest = folder / f"m-tiny-fp32.{SUFFIX[fmt]}.manifest.json"
    manifest.write_text(json.dumps({
        "schema": 1, "model_id": "m", "variant": "tiny", "format": fmt, "precision": "fp32",
        "artifact": {"file": name, "sha256": sha(MODEL_BYTES[fmt])}, "io": {},
    }))
    return manifest


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    out = {"litert": write_manifest(tmp_path, "litert"), "onnx": write_manifest(tmp_path, "onnx")}
    for name in ("benchmark_model", "onnxruntime_perf_test", "libQnnTFLiteDelegate.so",
                 "libQnnHtp.so", "libQnnHtpV75Skel.so", "libLiteRtDispatch_Qualcomm.so"):
        (tmp_path / name).write_bytes(f"elf {name}".encode())
        out[name] = tmp_path / name
    return out


def model_remote(fmt: str) -> str:
    return f"{ROOT}/{sha(MODEL_BYTES[fmt])[:12]}-m-tiny-fp32.{SUFFIX[fmt]}"


class FakeAdb:
    """Replays (argv, returncode, stdout, stderr) exchanges in order; ``pulls`` maps a device
    path to the bytes ``adb pull`` writes on the host."""

    def __init__(self, exchanges, pulls=None):
        self.exchanges = list(exchanges)
        self.pulls = pulls or {}

    def __call__(self, argv, timeout_s):
        assert self.exchanges, f"unexpected adb call: {shlex.join(argv)}"
        expected, rc, out, err = self.exchanges.pop(0)
        if expected[-1] == HOST_TEMP:  # camkit picks the host path of a pull itself
            assert argv[:-1] == expected[:-1] and Path(argv[-1]).parent.is_dir()
        else:
            assert argv == expected
        assert timeout_s > 0
        if argv[1] == "pull" and argv[2] in self.pulls:
            Path(argv[3]).write_bytes(self.pulls[argv[2]])
        return rc, out, err

    def done(self) -> bool:
        return not self.exchanges


def setup_exchanges(uploads, device_shas=None, soc=True):
    """get-state, getprop, mkdir, sha256sum (+ push when the device sha differs), chmod."""
    device_shas = device_shas or {}
    ex = [(["adb", "get-state"], 0, "device\n", "")]
    for prop, value in PROPS.items():
        ex.append((["adb", "shell", f"getprop {prop}"], 0, f"{value}\n" if soc or
                   prop != "ro.soc.model" else "\n", ""))
        if prop == "ro.soc.model" and not soc:
            ex.append((["adb", "shell", "getprop ro.board.platform"], 0, "gs301\n", ""))
    ex.append((["adb", "shell", f"mkdir -p {ROOT}/bin {ROOT}/lib"], 0, "", ""))
    for local, remote in uploads:
        have = device_shas.get(remote)
        if have:
            ex.append((["adb", "shell", f"sha256sum {remote}"], 0, f"{have}  {remote}\n", ""))
        else:
            ex.append((["adb", "shell", f"sha256sum {remote}"], 1, "",
                       f"sha256sum: {remote}: No such file or directory\n"))
            ex.append((["adb", "push", str(local), remote], 0,
                       f"{local}: 1 file pushed, 0 skipped.\n", ""))
    ex.append((["adb", "shell", f"chmod 755 {uploads[1][1]}"], 0, "", ""))
    return ex


# ------------------------------------------------------------------ golden device commands

GOLDEN_RUNS = {
    "interpreter-xnnpack": (
        dict(tool="benchmark_model", delegate="xnnpack"),
        f"{ROOT}/bin/benchmark_model --graph={model_remote('litert')} --num_threads=4 "
        "--num_runs=10 --warmup_runs=2 --use_xnnpack=true 2>&1"),
    "interpreter-cpu": (
        dict(tool="benchmark_model", delegate="cpu"),
        f"{ROOT}/bin/benchmark_model --graph={model_remote('litert')} --num_threads=4 "
        "--num_runs=10 --warmup_runs=2 --use_xnnpack=false 2>&1"),
    "interpreter-gpu": (
        dict(tool="benchmark_model", delegate="gpu"),
        f"{ROOT}/bin/benchmark_model --graph={model_remote('litert')} --num_threads=4 "
        "--num_runs=10 --warmup_runs=2 --use_gpu=true 2>&1"),
    "interpreter-nnapi": (
        dict(tool="benchmark_model", delegate="nnapi"),
        f"{ROOT}/bin/benchmark_model --graph={model_remote('litert')} --num_threads=4 "
        "--num_runs=10 --warmup_runs=2 --use_nnapi=true 2>&1"),
    "interpreter-qnn": (
        dict(tool="benchmark_model", delegate="qnn", qnn_lib="libQnnTFLiteDelegate.so",
             device_libs=("libQnnHtp.so", "libQnnHtpV75Skel.so")),
        f"LD_LIBRARY_PATH={ROOT}/lib ADSP_LIBRARY_PATH={ROOT}/lib {ROOT}/bin/benchmark_model "
        f"--graph={model_remote('litert')} --num_threads=4 --num_runs=10 --warmup_runs=2 "
        f"--external_delegate_path={ROOT}/lib/libQnnTFLiteDelegate.so "
        "--external_delegate_options=backend_type:htp 2>&1"),
    "compiled-gpu": (
        dict(tool="benchmark_model", generation="compiled_model", delegate="gpu"),
        f"{ROOT}/bin/benchmark_model --graph={model_remote('litert')} --num_threads=4 "
        "--num_runs=10 --warmup_runs=2 --use_gpu=true 2>&1"),
    "compiled-npu": (
        dict(tool="benchmark_model", generation="compiled_model", delegate="npu",
             dispatch_lib="libLiteRtDispatch_Qualcomm.so"),
        f"LD_LIBRARY_PATH={ROOT}/lib ADSP_LIBRARY_PATH={ROOT}/lib {ROOT}/bin/benchmark_model "
        f"--graph={model_remote('litert')} --num_threads=4 --num_runs=10 --warmup_runs=2 "
        f"--use_npu=true --dispatch_library_path={ROOT}/lib 2>&1"),
    "ort-nnapi": (
        dict(tool="onnxruntime_perf_test", delegate="nnapi"),
        f"{ROOT}/bin/onnxruntime_perf_test -e nnapi -I -m times -r 10 -x 4 "
        f"{model_remote('onnx')} 2>&1"),
    "ort-qnn": (
        dict(tool="onnxruntime_perf_test", delegate="qnn", qnn_lib="libQnnHtp.so"),
        f"LD_LIBRARY_PATH={ROOT}/lib ADSP_LIBRARY_PATH={ROOT}/lib "
        f"{ROOT}/bin/onnxruntime_perf_test -e qnn -I -m times -r 10 -x 4 "
        f"-i 'backend_path|{ROOT}/lib/libQnnHtp.so' {model_remote('onnx')} 2>&1"),
}


def make_plan(files, tool, delegate=None, generation=None, qnn_lib=None, dispatch_lib=None,
              device_libs=(), op_profiling=False, runs=10, warmup=2, threads=4):
    fmt = "litert" if tool == "benchmark_model" else "onnx"
    lib = (lambda name: None if name is None else files[name])
    return plan_run(files[fmt], tool, files[tool], delegate, generation, lib(qnn_lib),
                    lib(dispatch_lib), tuple(files[n] for n in device_libs), runs, warmup,
                    threads, op_profiling)


@pytest.mark.parametrize("case", sorted(GOLDEN_RUNS))
def test_every_tool_and_delegate_runs_the_golden_device_command(files, case):
    options, golden = GOLDEN_RUNS[case]
    plan = make_plan(files, **options)
    assert plan.command == golden
    argv = commands(plan, Adb())
    assert argv[-1] == ["adb", "shell", golden]
    libs = [n for n in (options.get("qnn_lib"), options.get("dispatch_lib"),
                        *options.get("device_libs", ())) if n]
    pushed = [a[2:] for a in argv if a[1] == "push"]
    tool = options["tool"]
    fmt = "litert" if tool == "benchmark_model" else "onnx"
    assert pushed == [[str(files[fmt].parent / f"m-tiny-fp32.{SUFFIX[fmt]}"), model_remote(fmt)],
                      [str(files[tool]), f"{ROOT}/bin/{tool}"],
                      *[[str(files[n]), f"{ROOT}/lib/{n}"] for n in libs]]


def test_full_command_sequence_with_serial_and_op_profiling_is_golden(files):
    plan = make_plan(files, "benchmark_model", op_profiling=True, runs=50, warmup=None,
                     threads=None)
    model, csv = model_remote("litert"), f"{ROOT}/ops-{sha(MODEL_BYTES['litert'])[:12]}.csv"
    s = ["adb", "-s", "R5CT1234"]
    assert commands(plan, Adb("R5CT1234")) == [
        [*s, "get-state"],
        [*s, "shell", "getprop ro.product.model"],
        [*s, "shell", "getprop ro.soc.model"],
        [*s, "shell", "getprop ro.build.version.release"],
        [*s, "shell", "getprop ro.product.cpu.abi"],
        [*s, "shell", f"mkdir -p {ROOT}/bin {ROOT}/lib"],
        [*s, "shell", f"sha256sum {model}"],
        [*s, "push", str(files["litert"].parent / "m-tiny-fp32.tflite"), model],
        [*s, "shell", f"sha256sum {ROOT}/bin/benchmark_model"],
        [*s, "push", str(files["benchmark_model"]), f"{ROOT}/bin/benchmark_model"],
        [*s, "shell", f"chmod 755 {ROOT}/bin/benchmark_model"],
        [*s, "shell", f"rm -f {csv}"],
        [*s, "shell", f"{ROOT}/bin/benchmark_model --graph={model} --num_runs=50 "
         f"--use_xnnpack=true --enable_op_profiling=true --profiling_output_csv_file={csv} 2>&1"],
        [*s, "pull", csv, "OPS_CSV"],
    ]


# ---------------------------------------------------------------------- fake-adb end to end


def test_fake_adb_end_to_end_push_run_pull_gives_a_valid_result(files, tmp_path, monkeypatch,
                                                                 capsys):
    csv = f"{ROOT}/ops-{sha(MODEL_BYTES['litert'])[:12]}.csv"
    plan = make_plan(files, "benchmark_model", op_profiling=True)
    uploads = [(u.local, u.remote) for u in plan.uploads]
    fake = FakeAdb([
        *setup_exchanges(uploads, soc=False),
        (["adb", "shell", f"rm -f {csv}"], 0, "", ""),
        (["adb", "shell", plan.command], 0,
         (FIXTURES / "tflite_interpreter_new.txt").read_text(), ""),
        (["adb", "pull", csv, HOST_TEMP], 0, f"{csv}: 1 file pulled\n", ""),
    ], pulls={csv: (FIXTURES / "tflite_op_profiling.csv").read_bytes()})

    monkeypatch.setattr(android, "default_executor", fake)
    out = tmp_path / "android.json"
    code = cli.main(["profile", "android", str(files["litert"]), "--tool",
                     "benchmark_model", "--binary", str(files["benchmark_model"]),
                     "--threads", "4", "--op-profiling", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    assert fake.done()
    obj = json.loads(out.read_text())
    validate(obj)
    result = ProfileResult.from_json(obj)
    assert result.device.model == "Pixel 8" and result.device.soc == "gs301"  # board fallback
    assert result.device.os == "Android 14" and result.device.abi == "arm64-v8a"
    assert result.argv == ["adb", "shell", plan.command]
    assert result.runtime.tool == "benchmark_model"
    assert result.runtime.tool_generation == "interpreter"
    assert result.runtime.delegate == "XNNPACK"
    assert result.runtime.options["requested_delegate"] == "xnnpack"
    assert result.model.sha256 == sha(MODEL_BYTES["litert"]) and result.model.format == "litert"
    assert result.latency.n == 50 and result.latency.median_ms == pytest.approx(1033.207)
    assert result.error is None
    assert any(op.table == "run_order" for op in result.ops)  # from the pulled CSV


def test_push_is_skipped_when_the_device_already_holds_the_same_files(files):
    plan = make_plan(files, "onnxruntime_perf_test", delegate="nnapi")
    shas = {u.remote: u.sha256 for u in plan.uploads}
    fake = FakeAdb([
        *setup_exchanges([(u.local, u.remote) for u in plan.uploads], device_shas=shas),
        (["adb", "shell", plan.command], 0, (FIXTURES / "ort_perf_test.txt").read_text(), ""),
    ])
    result = profile_android(plan, Adb(executor=fake))
    assert fake.done()  # no push was asked for: the replay would have failed on it
    validate(result.to_json())
    assert result.runtime.tool == "onnxruntime_perf_test" and result.runtime.delegate == "NNAPI"
    assert result.latency.n == 100 and result.error is None


def test_a_stale_file_on_the_device_is_pushed_again(files):
    plan = make_plan(files, "benchmark_model", generation="compiled_model", delegate="gpu")
    stale = {plan.uploads[0].remote: "0" * 64, plan.uploads[1].remote: plan.uploads[1].sha256}
    exchanges = setup_exchanges([(u.local, u.remote) for u in plan.uploads], device_shas=stale)
    exchanges.insert(7, (["adb", "push", str(plan.uploads[0].local), plan.uploads[0].remote],
                         0, "1 file pushed\n", ""))
    fake = FakeAdb([*exchanges, (["adb", "shell", plan.command], 0,
                                 (FIXTURES / "litert_compiled_model.txt").read_text(), "")])
    result = profile_android(plan, Adb(executor=fake))
    assert fake.done()  # the stale model was pushed, the matching binary was not
    validate(result.to_json())
    assert result.runtime.tool_generation == "compiled_model" and result.runtime.delegate == "GPU"
    assert result.latency.mean_ms == pytest.approx(11.2834) and result.latency.n == 89


# ------------------------------------------------------------------------------ failures


def run_with(files, monkeypatch, capsys, exchanges, *extra):
    fake = FakeAdb(exchanges)
    monkeypatch.setattr(android, "default_executor", fake)
    code = cli.main(["profile", "android", str(files["litert"]), "--tool",
                     "benchmark_model", "--binary", str(files["benchmark_model"]), *extra])
    return code, capsys.readouterr()


@pytest.mark.parametrize("reply, words", [
    ((1, "", "error: no devices/emulators found\n"), "no Android device attached"),
    ((1, "", "error: device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\n"),
     "unauthorized; unlock it"),
    ((1, "", "error: more than one device/emulator\n"), "--serial"),
    ((0, "offline\n", ""), "says 'offline'"),
])
def test_a_missing_or_unready_device_is_a_one_line_error(files, monkeypatch, capsys, reply,
                                                         words):
    code, io = run_with(files, monkeypatch, capsys, [(["adb", "get-state"], *reply)])
    assert code == 2 and words in io.err
    assert io.err.count("\n") == 1 and "Traceback" not in io.err


def test_adb_missing_from_path_names_platform_tools(monkeypatch):
    monkeypatch.setattr(android.shutil, "which", lambda name: None)
    with pytest.raises(CamkitError, match="install Android platform-tools"):
        android.default_executor(["adb", "get-state"], 5)


def test_a_failed_push_is_a_one_line_error(files, monkeypatch, capsys):
    plan = make_plan(files, "benchmark_model")
    exchanges = setup_exchanges([(u.local, u.remote) for u in plan.uploads])[:8]
    exchanges[-1] = (exchanges[-1][0], 1, "", "adb: error: failed to copy: No space left\n")
    code, io = run_with(files, monkeypatch, capsys, exchanges, "--threads", "4")
    assert code == 2 and "No space left" in io.err and io.err.count("\n") == 1


@pytest.mark.parametrize("rc, fixture, kind", [
    (139, "tflite_crashed.txt", "crashed"),      # the shell's "Segmentation fault" line
    (139, "tflite_truncated.txt", "crashed"),    # no message, only the signal in the status
    (124, "tflite_truncated.txt", "truncated"),  # our timeout stopped it
    (1, "tflite_truncated.txt", "tool_error"),   # a plain failure status
])
def test_a_crashed_or_cut_run_is_a_structured_error(files, tmp_path, monkeypatch, capsys, rc,
                                                    fixture, kind):
    plan = make_plan(files, "benchmark_model")
    exchanges = [*setup_exchanges([(u.local, u.remote) for u in plan.uploads]),
                 (["adb", "shell", plan.command], rc, (FIXTURES / fixture).read_text(), "")]
    out = tmp_path / "crash.json"
    code, io = run_with(files, monkeypatch, capsys, exchanges, "--threads", "4", "--json",
                        str(out))
    assert code == 1 and "Traceback" not in io.err and f"error: {kind}:" in io.err
    obj = json.loads(out.read_text())
    validate(obj)
    assert obj["error"]["kind"] == kind and obj["device"]["model"] == "Pixel 8"
    assert obj["argv"] == ["adb", "shell", plan.command]


def test_nonzero_exit_after_unfinished_output_is_reported_with_its_status(files):
    plan = make_plan(files, "benchmark_model")
    fake = FakeAdb([*setup_exchanges([(u.local, u.remote) for u in plan.uploads]),
                    (["adb", "shell", plan.command], 1,
                     (FIXTURES / "tflite_interpreter_new.txt").read_text(), "")])
    result = profile_android(plan, Adb(executor=fake))
    assert result.error.kind == "tool_error" and "exited with status 1" in result.error.message


def test_dry_run_prints_the_commands_and_calls_no_adb(files, monkeypatch, capsys):
    def refuse(argv, timeout_s):
        raise AssertionError(f"--dry-run called adb: {argv}")

    monkeypatch.setattr(android, "default_executor", refuse)
    code = cli.main(["profile", "android", str(files["onnx"]), "--tool",
                     "onnxruntime_perf_test", "--binary", str(files["onnxruntime_perf_test"]),
                     "--delegate", "qnn", "--qnn-delegate-lib", str(files["libQnnHtp.so"]),
                     "--serial", "R5CT1234", "--dry-run"])
    io = capsys.readouterr()
    out = io.out.splitlines()
    assert code == 0 and io.err == ""
    plan = make_plan(files, "onnxruntime_perf_test", delegate="qnn", qnn_lib="libQnnHtp.so",
                     threads=None, warmup=2)
    assert out[0].startswith("# ")
    assert out[1:] == [shlex.join(a) for a in commands(plan, Adb("R5CT1234"))]
    assert shlex.split(out[-1])[-1] == plan.command  # pasteable: the quoting round-trips


def test_old_spelling_dry_run_prints_the_same_commands_after_one_note(files, monkeypatch,
                                                                      capsys):
    """`profile run --on android` (deprecated for one release) maps to `profile android`."""
    def refuse(argv, timeout_s):
        raise AssertionError(f"--dry-run called adb: {argv}")

    monkeypatch.setattr(android, "default_executor", refuse)
    options = [str(files["onnx"]), "--tool", "onnxruntime_perf_test", "--binary",
               str(files["onnxruntime_perf_test"]), "--threads", "2", "--serial", "R5", "--dry-run"]
    assert cli.main(["profile", "android", *options]) == 0
    new = capsys.readouterr()
    assert cli.main(["profile", "run", "--on", "android", *options]) == 0
    old = capsys.readouterr()
    assert old.out == new.out and "-x 2" in old.out
    assert old.err == ("camkit: note: 'camkit profile run --on android' is deprecated; use "
                       "'camkit profile android' (it will be removed in the next release)\n")


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize("options, words", [
    (dict(tool="benchmark_model", delegate="xnnpak"), "did you mean 'xnnpack'"),
    (dict(tool="benchmark_model", generation="compiled_model", delegate="nnapi"),
     "choose from: cpu, gpu, npu"),
    (dict(tool="benchmark_model", delegate="qnn"), "--qnn-delegate-lib"),
    (dict(tool="benchmark_model", generation="compiled_model", delegate="npu"), "--dispatch-lib"),
    (dict(tool="benchmark_model", generation="compiled_model", op_profiling=True),
     "drop --op-profiling"),
    (dict(tool="onnxruntime_perf_test", op_profiling=True), "drop --op-profiling"),
    (dict(tool="benchmark_model", generation="compiled"), "did you mean 'compiled_model'"),
    (dict(tool="onnxruntime_perf_test", qnn_lib="libQnnHtp.so"), "is for --delegate qnn"),
])
def test_bad_options_are_one_line_errors_with_the_fix(files, options, words):
    with pytest.raises(CamkitError) as e:
        make_plan(files, **options)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_manifest_format_must_match_the_tool(files):
    with pytest.raises(CamkitError, match="is a onnx artifact but benchmark_model runs litert"):
        plan_run(files["onnx"], "benchmark_model", files["benchmark_model"])
    with pytest.raises(CamkitError, match="did you mean 'benchmark_model'"):
        plan_run(files["litert"], "benchmark_modle", files["benchmark_model"])


def test_a_changed_artifact_is_refused(files):
    (files["litert"].parent / "m-tiny-fp32.tflite").write_bytes(b"edited after export")
    with pytest.raises(CamkitError, match="re-export it"):
        make_plan(files, "benchmark_model")


def _exit_code(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:  # argparse refused the command line
        return e.code


def test_android_options_on_host_and_host_options_on_android_are_refused(files, capsys):
    """The parser of each target knows only its own options: one line, exit 2."""
    assert _exit_code(["profile", "host", str(files["litert"]), "--serial", "X"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized argument --serial" in err
    assert "(an option of 'camkit profile android', 'camkit profile android-app')" in err
    assert _exit_code(["profile", "android", str(files["litert"]), "--tool", "benchmark_model",
                       "--binary", str(files["benchmark_model"]), "--kernels", "reference"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized argument --kernels" in err
    assert "see 'camkit profile android --help'" in err


def test_old_spelling_refuses_another_targets_options_too(files, capsys):
    assert cli.main(["profile", "run", str(files["litert"]), "--on", "host", "--serial",
                     "X"]) == 2
    assert "--serial applies to --on android" in capsys.readouterr().err
    assert cli.main(["profile", "run", str(files["litert"]), "--on", "android", "--tool",
                     "benchmark_model", "--binary", str(files["benchmark_model"]), "--kernels",
                     "reference"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--kernels applies to --on host" in err
