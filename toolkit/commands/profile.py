"""``camkit profile``: latency profiles in one JSON schema, one action per target.

``host``, ``android``, ``macos``, ``static`` and ``estimate`` each take a manifest and only their
own options, so argparse itself refuses another target's flag (with camkit's one-line error and
the nearest option); ``parse`` reads a tool's captured output, ``compare`` prints results side
by side. ``profile run`` is the old spelling of the five targets (_profile_run.py), kept for one
release.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, NamedTuple

from toolkit.commands._common import emit_profile
from toolkit.errors import CamkitError

NAME = "profile"
HELP = "latency profiles in one JSON schema: host, android, macos, static, estimate, parse, compare"
DESCRIPTION = (
    "Every profile result follows toolkit/profilers/profile_result.schema.json: "
    "times in ms, memory in MB, unknown values null (never 0), the raw output's sha256. "
    "'host' times an artifact on this machine's CPU (a host proxy); 'android' drives a phone "
    "over adb itself; 'macos' times a Core ML package per compute unit on a Mac; 'static' "
    "counts MACs, parameters and CPU fallbacks without running; 'estimate' predicts a phone's "
    "latency from the static report and a device profile (roofline); 'parse' reads "
    "benchmark_model or onnxruntime_perf_test output captured elsewhere (a device lab, a "
    "phone over adb); 'compare' prints results side by side. Each action takes only its own "
    "options: 'camkit profile ACTION --help'."
)


# ------------------------------------------------------------------------------ the options


def add_manifest(p) -> None:
    p.add_argument("manifest", type=Path, help="the artifact's .manifest.json")


def add_json(p) -> None:
    p.add_argument("--json", type=Path, metavar="OUT", help="write the result JSON to OUT")


def add_threads(p, text: str = "intra-op / interpreter threads (default: the runtime's "
                "default)") -> None:
    p.add_argument("--threads", type=int, default=None, help=text)


def add_runs(p) -> None:
    p.add_argument("--runs", type=int, default=10, help="timed runs (default 10)")
    p.add_argument("--warmup", type=int, default=2,
                   help="untimed runs after the first inference (default 2)")


def add_kernels(p) -> None:
    p.add_argument("--kernels", choices=["xnnpack", "reference"], default=None,
                   help="LiteRT kernels: xnnpack (default) or TFLite's reference kernels")


def add_compute_units(p) -> None:
    p.add_argument("--compute-units", metavar="LIST",
                   help="comma list of all, cpuOnly, cpuAndGPU, cpuAndNeuralEngine "
                   "(default: all four)")


def add_android(p, required: bool = True) -> None:
    """The options of the user's tool on a phone; --tool and --binary are required on
    ``profile android`` (not on the old spelling's parser, where --on picks the target)."""
    p.add_argument("--tool", required=required,
                   help="benchmark_model (.tflite) or onnxruntime_perf_test (.onnx)")
    p.add_argument("--binary", type=Path, required=required,
                   help="the tool built for the phone's ABI")
    p.add_argument("--generation", help="benchmark_model generation: interpreter "
                   "(TFLite, default) or compiled_model (LiteRT CompiledModel tool)")
    p.add_argument("--delegate", help="interpreter: xnnpack (default), cpu, gpu, nnapi, "
                   "qnn; compiled_model: cpu (default), gpu, npu; onnxruntime_perf_test: "
                   "cpu (default), xnnpack, nnapi, qnn")
    p.add_argument("--qnn-delegate-lib", type=Path, metavar="PATH",
                   help="--delegate qnn: libQnnTFLiteDelegate.so (benchmark_model) or the "
                   "QNN backend libQnnHtp.so (onnxruntime_perf_test)")
    p.add_argument("--dispatch-lib", type=Path, metavar="PATH",
                   help="--delegate npu: the vendor's libLiteRtDispatch_*.so")
    p.add_argument("--device-lib", type=Path, action="append", default=[], metavar="PATH",
                   help="another library the delegate loads (QNN skel/stub libraries); "
                   "repeatable")
    p.add_argument("--serial", help="adb serial when several devices are attached")
    p.add_argument("--op-profiling", action="store_true",
                   help="benchmark_model interpreter: per-op times (pulled CSV)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the adb commands and run nothing")


def add_calibrate(p) -> None:
    p.add_argument("--calibrate", nargs="+", type=Path, metavar="RESULT",
                   help="fit the efficiencies and per-op overhead to these measured results "
                   "of the same device (their manifests must exist)")


# ------------------------------------------------------------------------------ the targets


def _host_arguments(p) -> None:
    add_manifest(p)
    add_threads(p)
    add_runs(p)
    add_kernels(p)
    add_json(p)


def _host(args: argparse.Namespace) -> int:
    from toolkit.profilers.host_profile import profile_host

    result = profile_host(args.manifest, threads=args.threads, runs=args.runs,
                          warmup=args.warmup, kernels=args.kernels, argv=args.argv)
    emit_profile(result, args.json)
    return 0


def _emit_run(result, json_path: Path | None) -> int:
    """A device run's result: printed and written; exit 1 (and the error on stderr) when the
    run crashed, failed or was cut short."""
    emit_profile(result, json_path)
    if result.error is not None:
        print(f"camkit: error: {result.error.kind}: {result.error.message}", file=sys.stderr)
        return 1
    return 0


def _android_arguments(p) -> None:
    add_manifest(p)
    add_android(p)
    add_threads(p, "the tool's threads (default: the tool's default)")
    add_runs(p)
    add_json(p)


def _android(args: argparse.Namespace) -> int:
    from toolkit.profilers.android import Adb, dry_run_text, plan_run, profile_android

    plan = plan_run(args.manifest, args.tool, args.binary, args.delegate, args.generation,
                    args.qnn_delegate_lib, args.dispatch_lib, tuple(args.device_lib),
                    args.runs, args.warmup, args.threads, args.op_profiling)
    adb = Adb(args.serial)
    if args.dry_run:
        print(dry_run_text(plan, adb), end="")
        return 0
    return _emit_run(profile_android(plan, adb), args.json)


def add_android_app(p) -> None:
    """The options of ``profile android-app`` that no other target has."""
    from toolkit.profilers.android_app import BACKENDS

    p.add_argument("--backend", help="where the app runs the artifact: "
                   f"{', '.join(BACKENDS)} (litert-* for .tflite, ort-* for .onnx)")
    p.add_argument("--no-strict", action="store_true",
                   help="let the runtime fall back to the CPU for ops the accelerator lacks "
                   "(default: strict, such a run fails and names the ops)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="seconds to wait for the app's result (default 900)")


def _android_app_arguments(p) -> None:
    add_manifest(p)
    add_android_app(p)
    add_runs(p)
    p.add_argument("--serial", help="adb serial when several devices are attached")
    p.add_argument("--dry-run", action="store_true",
                   help="print the adb commands and run nothing")
    add_json(p)


def _android_app(args: argparse.Namespace) -> int:
    from toolkit.profilers.android import Adb
    from toolkit.profilers.android_app import (RESULT_TIMEOUT_S, dry_run_text, plan_app_run,
                                               profile_android_app, run_commands)
    if args.backend is None:
        raise CamkitError("profile android-app needs --backend (litert-cpu, litert-gpu, "
                          "litert-npu, ort-cpu, ort-xnnpack, ort-nnapi or ort-qnn)")
    plan = plan_app_run(args.manifest, args.backend, args.runs, args.warmup,
                        not args.no_strict)
    adb = Adb(args.serial)
    if args.dry_run:
        print(dry_run_text(run_commands(plan, adb), "'profile android-app' issues"), end="")
        return 0
    return _emit_run(profile_android_app(plan, adb, args.timeout or RESULT_TIMEOUT_S), args.json)


def _ios_app_arguments(p) -> None:
    from toolkit.profilers.ios_app import BACKENDS

    add_manifest(p)
    p.add_argument("--device", metavar="UDID", required=True,
                   help="the iPhone (xcrun devicectl list devices)")
    p.add_argument("--backend", help="the Core ML compute units: "
                   f"{', '.join(f'{k} ({v})' for k, v in BACKENDS.items())}")
    p.add_argument("--no-strict", action="store_true",
                   help="allow ops Core ML plans off the requested device (default: strict, "
                   "such a run fails and names the ops)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="seconds to wait for the app's result (default 900)")
    add_runs(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print the xcrun devicectl commands and run nothing (any OS)")
    add_json(p)


def _ios_app(args: argparse.Namespace) -> int:
    from toolkit.profilers.ios_app import (RESULT_TIMEOUT_S, Devicectl, dry_run_text,
                                           plan_ios_run, profile_ios_app, run_commands)

    if args.backend is None:
        raise CamkitError("profile ios-app needs --backend (coreml-all, coreml-cpu, coreml-gpu "
                          "or coreml-ane)")
    plan = plan_ios_run(args.manifest, args.backend, args.runs, args.warmup, not args.no_strict)
    ctl = Devicectl(args.device)
    if args.dry_run:
        print(dry_run_text(run_commands(plan, ctl), "'profile ios-app' issues"), end="")
        return 0
    return _emit_run(profile_ios_app(plan, ctl, args.timeout or RESULT_TIMEOUT_S), args.json)


def _macos_arguments(p) -> None:
    add_manifest(p)
    add_compute_units(p)
    add_runs(p)
    add_json(p)


def _macos(args: argparse.Namespace) -> int:
    from toolkit.profilers.macos import parse_compute_units, profile_macos

    units = parse_compute_units(args.compute_units)
    results = profile_macos(args.manifest, units, runs=args.runs, warmup=args.warmup,
                            argv=args.argv)  # off macOS this raised before any heavy import
    from toolkit.profilers.macos import format_plan

    for unit, result in zip(units, results):
        print(f"== compute units: {unit}")
        out = args.json if args.json is None or len(units) == 1 \
            else args.json.with_suffix(f".{unit}.json")
        emit_profile(result, out, format_plan(result))
    return 0


def _static_arguments(p) -> None:
    add_manifest(p)
    add_json(p)


def _static(args: argparse.Namespace) -> int:
    from toolkit.profilers.static import profile_static

    emit_profile(profile_static(args.manifest, argv=args.argv), args.json)
    return 0


def _estimate_arguments(p) -> None:
    add_manifest(p)
    p.add_argument("--device", required=True, metavar="DEVICE",
                   help="the device to estimate for: an id from "
                   "toolkit/profilers/devices/*.toml (host_x86_avx2, ...)")
    add_calibrate(p)
    add_json(p)


def _estimate(args: argparse.Namespace) -> int:
    from toolkit.profilers import roofline
    from toolkit.profilers.compare import load_results
    from toolkit.profilers.static import profile_static

    device = roofline.load_device(args.device)
    factors, band, n = roofline.Factors(), roofline.UNCALIBRATED_BAND, 0
    if args.calibrate:
        measured = list(zip(map(str, args.calibrate), load_results(args.calibrate),
                            strict=True))
        runs = roofline.calibration_runs(device, measured)
        pairs = [(costs, ms) for _, costs, ms in runs]
        factors = roofline.fit(pairs, factors)
        before = roofline.relative_errors(pairs, roofline.Factors())
        after = roofline.relative_errors(pairs, factors)
        band, n = roofline.band_after(pairs, factors), len(runs)
        print(f"calibrated on {n} measured runs: efficiency_compute "
              f"{factors.efficiency_compute:.4g}, efficiency_memory "
              f"{factors.efficiency_memory:.4g}, per_op_overhead_ms "
              f"{factors.per_op_overhead_ms:.4g}")
        for name in roofline.at_bounds(factors):
            print(f"  {name} is at its bound: that term does not decide these runs' times")
        for (path, _, ms), b, a in zip(runs, before, after, strict=True):
            print(f"  {path}: measured {ms:.3f} ms, error before {100 * b:+.1f}%, "
                  f"after {100 * a:+.1f}%")
    result = roofline.estimate(profile_static(args.manifest), device, factors, band, n,
                               argv=args.argv)
    emit_profile(result, args.json, f"{'label':<12}{result.runtime.options['label']}\n")
    return 0


# ------------------------------------------------------------------ captured output, results


def _parse_arguments(p) -> None:
    p.add_argument("file", type=Path,
                   help="the tool's captured output (adb shell ... > FILE 2>&1)")
    p.add_argument("--tool", required=True, help="benchmark_model or onnxruntime_perf_test")
    p.add_argument("--manifest", type=Path,
                   help="manifest.json of the artifact that ran: records its sha256, format "
                   "and precision (without it they are null)")
    p.add_argument("--ops-csv", type=Path, metavar="CSV",
                   help="benchmark_model's --profiling_output_csv_file, when op profiling went "
                   "to a file instead of the log")
    add_json(p)


def _parse(args: argparse.Namespace) -> int:
    from toolkit.profilers.parsers import parse_capture

    result = parse_capture(args.tool, args.file, args.manifest, args.ops_csv)
    emit_profile(result, args.json)
    if result.error is not None:
        print(f"camkit: error: {args.file}: {result.error.kind}: {result.error.message}",
              file=sys.stderr)
        return 1
    return 0


def _compare_arguments(p) -> None:
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="profile result JSONs")
    p.add_argument("--allow-mixed", action="store_true",
                   help="compare results of different kinds (each header names its kind)")


def _compare(args: argparse.Namespace) -> int:
    from toolkit.profilers.compare import format_compare, load_results

    print(format_compare(args.files, load_results(args.files), args.allow_mixed), end="")
    return 0


class Action(NamedTuple):
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: the actions of ``camkit profile``, in ``camkit profile --help`` order
ACTIONS = {
    "host": Action(
        "time an artifact on this machine's CPU (a host proxy) as a profile JSON",
        "Run the artifact MANIFEST describes on its sample input: session init, first "
        "inference, --warmup calls, then --runs timed calls (median, p90, p95, min, max, std). "
        "ONNX runs on onnxruntime's CPU provider, with per-node times from a second, profiled "
        "session; LiteRT runs on the interpreter with XNNPACK or the reference kernels. The "
        "result is labelled a host proxy: it ranks artifacts, it does not predict phone "
        "milliseconds. Core ML is profiled with 'camkit profile macos' (on a Mac).",
        _host_arguments, _host),
    "android": Action(
        "run your benchmark_model / onnxruntime_perf_test build on a phone over adb",
        "Run the user's own tool binary (benchmark_model for .tflite, onnxruntime_perf_test "
        "for .onnx) on a phone with USB debugging over adb and parse its output into a profile "
        "result (files are pushed to /data/local/tmp/camkit only when their sha256 differs). "
        "--runs and --threads are passed to the tool, --warmup to benchmark_model "
        "(onnxruntime_perf_test has none). A crashed or cut run still writes the JSON, with an "
        "'error' object, and exits 1.",
        _android_arguments, _android),
    "android-app": Action(
        "run an artifact in the camkit Android app on a phone: latency and on-device parity",
        "Push the artifact (with its manifest, sample and any features artifact; only what the "
        "phone lacks, by sha256) into the camkit app (android_demo/, installed on the phone), "
        "start its headless benchmark with 'am start', wait for its result and pull it: cold "
        "and warm load, first inference, warm-up, --runs timed runs with percentiles, pre- and "
        "post-processing timed apart, the delegation the run got, thermal state before and "
        "after, and on-device parity (the artifact on its sample input on this backend vs the "
        "torch reference in the sample). 'camkit check --device-results DIR' gates on that "
        "parity; 'camkit report' shows the rows. A crashed or cut run still writes the JSON, "
        "with an 'error' object, and exits 1.",
        _android_app_arguments, _android_app),
    "ios-app": Action(
        "run a Core ML package in the camkit iOS app on an iPhone (from a Mac)",
        "The iOS twin of android-app, driven from a Mac with xcrun devicectl (Xcode 15+): push "
        "the Core ML package with its manifest and sample into the camkit app (ios_demo/, "
        "installed on the iPhone; only what camkit's index on the phone lacks), launch its "
        "headless benchmark with --backend's compute units, copy its result back: cold and warm "
        "load (compile included), first prediction, warm-up, --runs timed runs, pre/post apart, "
        "thermal state, Core ML's planned op placement and on-device parity vs the torch "
        "output in the sample. Off macOS a one-line error; --dry-run prints the commands on "
        "any OS.",
        _ios_app_arguments, _ios_app),
    "macos": Action(
        "time a Core ML package per compute unit on this Mac (macOS only)",
        "Core ML on this Mac (macOS only; 14.4+ adds the per-op device plan): times the "
        "artifact per compute unit and lists Core ML's per-op device plan; one result per "
        "compute unit, --json OUT writes OUT.<unit>.json when there are several. Off macOS it "
        "is a one-line error ('camkit profile static' gives op counts and CPU fallbacks).",
        _macos_arguments, _macos),
    "static": Action(
        "per-op MACs, parameters, activation memory and CPU fallbacks, without running",
        "Time nothing: read the ONNX or LiteRT graph the manifest names and report per op its "
        "output shape, MACs, params, activation bytes and the targets that would run it on the "
        "CPU (fallbacks); totals and peak activation memory.",
        _static_arguments, _static),
    "estimate": Action(
        "roofline latency estimate for a device, with its uncertainty band",
        "A roofline estimate for --device DEVICE (an id from toolkit/profilers/devices/*.toml) "
        "built on the static op report: kind 'estimated', labelled with its uncertainty band. "
        "--calibrate fits the efficiencies and the per-op overhead to measured results of that "
        "device (their manifests must exist) and narrows the band.",
        _estimate_arguments, _estimate),
    "parse": Action(
        "turn a captured benchmark_model / onnxruntime_perf_test output into a profile JSON",
        "Parse FILE (the tool's stdout and stderr) into a profile result: a "
        "readable table on stdout, the JSON with --json. benchmark_model covers TFLite's "
        "Interpreter tool (old and new output) and LiteRT's CompiledModel tool. A crashed or "
        "truncated run still writes the JSON, with an 'error' object, and exits 1.",
        _parse_arguments, _parse),
    "compare": Action(
        "several profile results side by side",
        "Print FILE... (profile JSONs) side by side: model sha/format/precision, "
        "where it ran, runtime and delegate, median/p90/min, init, delegation, kind. Mixing "
        "measured, estimated and static results is refused unless --allow-mixed, which puts "
        "each result's kind in its column header.",
        _compare_arguments, _compare),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from toolkit.commands import _profile_run

    parser.description = DESCRIPTION
    sub = parser.add_subparsers(dest="profile_command", metavar="ACTION", required=True)
    for name, action in ACTIONS.items():
        action.add_arguments(sub.add_parser(name, help=action.help,
                                            description=action.description))
    _profile_run.add_parser(sub)  # the old spelling: accepted, not listed


def run(args: argparse.Namespace) -> int:
    json_path = getattr(args, "json", None)
    if json_path is not None and json_path.is_dir():  # before minutes of profiling, not after
        raise CamkitError(f"--json {json_path} is a folder; pass a file path such as "
                          f"{json_path / 'profile.json'}")
    if args.profile_command == "run":
        from toolkit.commands import _profile_run

        return _profile_run.run(args)
    return ACTIONS[args.profile_command].run(args)
