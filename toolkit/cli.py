"""camkit: train a camera-pipeline model, export it to phone formats, prove the artifacts.

Every subcommand validates names against the registry (unknown -> nearest suggestion), prints
one-line errors without traceback (exit 2), and keeps converter noise out of the output.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path
from typing import NoReturn

from toolkit import __version__
from toolkit._quiet import quiet_environment
from toolkit.errors import CamkitError, suggest

EPILOG = """\
typical flow:
  camkit list                                   what models, variants, formats, precisions exist
  camkit train retouch_csrnet/tiny              train a shipped recipe (camkit train --list;
                                                torchrun --nproc-per-node N for DDP)
  camkit export retouch_csrnet --format onnx,litert --precision fp32,fp16
  camkit check artifacts/                       folder consistency, then parity vs torch;
                                                exit 1 on a gap or a broken budget
  camkit demo                                   all of the above on the shipped checkpoint
  camkit profile run artifacts/.../m.onnx.manifest.json --on host --json host.json
                                                host-CPU latency (a proxy) as a profile result
  camkit profile parse --tool benchmark_model run.txt --json run.json
                                                a phone's benchmark output as a profile result
  camkit profile run m.tflite.manifest.json --on android --tool benchmark_model --binary B
                                                your tool build B on a phone over adb, parsed
  camkit profile run artifacts/.../m.onnx.manifest.json --static
                                                per-op MACs, params, peak memory, CPU fallbacks
  camkit profile run m.onnx.manifest.json --estimate host_x86_avx2 [--calibrate r/*.json]
                                                roofline latency estimate with its uncertainty
  camkit profile compare a.json b.json          results side by side (one kind at a time)
  camkit report artifacts/                      accuracy + latency tables, PSNR-vs-latency plot
your own model:
  camkit new-model my_isp --task enhance        a model folder that exports, trains and checks
  camkit export ./my_isp --random-weights       any command takes a model folder's path;
  camkit list --models DIR                      CAMKIT_MODEL_PATH=DIR[:DIR] and installed
                                                plugins (entry points 'camkit.models') too

Set CAMKIT_VERBOSE=1 to see converter logs. Docs: README.md.
"""


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def positive_int(text: str) -> int:
    """argparse ``type=`` for counts such as --max-images N: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"want a whole number of at least 1, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse with camkit's errors: one ``camkit: error:`` line and exit 2; an unknown option
    names the nearest option of the (sub)command it was given to."""

    def error(self, message: str) -> NoReturn:
        import re

        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:  # an unknown command or choice: name the nearest one
            options = re.findall(r"'([^']*)'", choice[2]) or [c.strip() for c in choice[2].split(",")]
            message += suggest(choice[1], options)
        self.exit(2, f"camkit: error: {message}; see '{self.prog} --help'\n")

    def parse_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201 - argparse's API
        known, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = self._command_parser(known)
            word = next((a for a in extras if a.startswith("-")), extras[0])
            options = [o for a in parser._actions for o in a.option_strings]
            hint = suggest(word.split("=", 1)[0], options) if word.startswith("-") else ""
            parser.error(f"unrecognized argument {word}{hint}")
        return known

    def _command_parser(self, known: argparse.Namespace) -> argparse.ArgumentParser:
        """The (sub)command parser ``known`` was parsed by: the innermost one chosen."""
        parser = self
        while True:
            sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
                       None)
            chosen = None if sub is None else sub.choices.get(getattr(known, sub.dest, None))
            if chosen is None:
                return parser
            parser = chosen


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="camkit",
        description="Ship camera-pipeline neural networks to phones: train, export to ONNX, "
        "LiteRT and Core ML, and gate CI on PSNR/SSIM parity.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"camkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=Parser)

    p = sub.add_parser("list", help="models, variants, formats and precisions from the registry")
    p.add_argument("--macs", action="store_true",
                   help="also count each variant's multiply-accumulates (convs and linears, "
                   "from the modules on PyTorch's meta device) per frame at --size")
    p.add_argument("--size", default="1080x1920",
                   help="frame size HEIGHTxWIDTH for --macs (default 1080x1920)")
    _models_option(p)

    p = sub.add_parser(
        "export",
        help="export a model to ONNX / LiteRT / Core ML, then check parity",
        description="Export MODEL to each --format x --precision. Artifacts land in "
        "OUT/<model>/<variant>/<model>-<variant>-<precision>[-tags].<suffix> with a "
        "manifest.json and a sample beside each. The new set is built beside the folder, checked "
        "(parity, and task quality with --data) and published by one atomic rename only when the "
        "check passes; a failed, killed or concurrent export leaves the folder as it was "
        "(docs/reliability.md).",
    )
    p.add_argument("model", help="model id (see 'camkit list') or the path of a model folder "
                   "of your own (./my_models/my_isp: model.py and card.yaml)")
    _models_option(p)
    p.add_argument("--variant", help="variant (default: the model's default variant)")
    p.add_argument("--checkpoint", type=Path, help="camkit .safetensors checkpoint "
                   "(default: the checkpoint the repo ships for the variant)")
    p.add_argument("--random-weights", action="store_true",
                   help="export seeded random weights (tests only; recorded in the manifest)")
    p.add_argument("--size", help="static input size HEIGHTxWIDTH (default: the variant's)")
    p.add_argument("--dynamic", action="store_true",
                   help="dynamic height and width (ONNX, Core ML; LiteRT where supported)")
    p.add_argument("--format", default=None,
                   help="comma list of formats (default: every format whose extra is installed)")
    p.add_argument("--precision", default="fp32",
                   help="comma list of fp32, fp16, w8a8, w8a16 (default fp32; 'camkit list' "
                   "shows which format exports which)")
    p.add_argument("--nhwc", action="store_true",
                   help="channel-last I/O (what Android bitmaps and iOS pixel buffers give)")
    p.add_argument("--io", default="float32", metavar="{float32,uint8}",
                   help="dtype of the model's input and output tensors (default float32). "
                   "uint8: the model takes and returns pixel bytes 0..255 (scale 1/255, zero "
                   "point 0: value = byte / 255), so a camera app hands over RGB bytes and reads "
                   "bytes back with no float conversion; outputs above 1.0 clip to 255. Only for "
                   "fully integer exports: --format litert --precision w8a8. The manifest's io "
                   "section records each tensor's dtype, scale and zero point")
    p.add_argument("--calib", help="calibration set name (camkit calib list: the shipped sets "
                   "and the ones you built) or folder of photos for quantized precisions "
                   "(default: the model's set)")
    p.add_argument("--ptq", metavar="LIST",
                   help="post-training quantization steps, comma list (default: all on, "
                   "min/max ranges, no bias correction): no-float-defaults (quantize the layers "
                   "the model keeps float by default too), no-equalize (no cross-layer range "
                   "equalization of the model's declared conv pairs; w8a8), no-auto-float (no "
                   "card search: by default a w8a8 artifact that misses its card on the check's "
                   "photos keeps its most sensitive layers float until it passes), "
                   "max-float-macs=PERCENT (the float-MAC share searches stay under while they "
                   "can, default 5), range=minmax|mean_minmax|median_minmax|mean_no_outliers|"
                   "mean_quantile (activation range estimator), bias-correction (NNCF fast bias "
                   "correction, ONNX). Recorded in precision_scheme.ptq; docs/quantization.md "
                   "has what each one measured")
    p.add_argument("--max-drop-db", type=float, metavar="DB",
                   help="accuracy-aware quantization: when a quantized artifact's task PSNR "
                   "drop on --data exceeds DB, rank its layers by sensitivity and keep the "
                   "fewest most sensitive ones in float until it does not (the manifest lists "
                   "them); fails, saying by how much, when it cannot be reached")
    p.add_argument("--min-psnr-db", type=float, metavar="DB",
                   help="accuracy-aware quantization's parity budget: the artifact against the "
                   "float model on the worst --data photo (photos the calibration never saw) must "
                   "reach DB; layers are kept float as for --max-drop-db until it does. With "
                   "--max-drop-db alone it defaults to the card's PSNR budget, so a small task "
                   "drop cannot hide a changed picture")
    p.add_argument("--data", type=Path, metavar="DIR",
                   help="paired folder (input/ and target/ with matching names) that "
                   "--max-drop-db and --min-psnr-db measure on; the checks after export use it too")
    p.add_argument("--max-images", type=positive_int, metavar="N",
                   help="use only the first N pairs of --data (the search and the checks) and "
                   "the first N sample photos in the checks")
    p.add_argument("--out", type=Path, default=Path("artifacts"), help="artifact root")
    p.add_argument("--no-check", action="store_true",
                   help="publish without the checks (the folder is still published as one unit)")

    p = sub.add_parser(
        "check",
        help="parity (and task quality) of exported artifacts; non-zero exit on a broken budget",
        description=textwrap.fill("First verify the folder: every artifact has a manifest, and "
        "every artifact, sample and checkpoint matches its manifest's sha256 (docs/reliability.md); "
        "any gap fails the run. Then run each artifact against the torch float model on the "
        "calibration photos "
        "(PSNR, SSIM, max-abs error) and compare with the budgets in the model's card.yaml. "
        "With --data DIR also report task PSNR/SSIM vs ground truth and the drop against the "
        "float model. DIR layouts: input/ + target/ of matching names; GoPro-style "
        "NAME_blurK.png + NAME_sharpK.png side by side (deblurring: photos larger than the "
        "artifact are centre-cropped, never resized, so the blur keeps its size); images/ + "
        "masks/ (inpainting, white = hole: metrics inside the hole, the input row is the hole "
        "filled with mid-grey). The model's classical baselines (deblurring: Richardson-Lucy, "
        "Wiener; inpainting: OpenCV Telea and Navier-Stokes, biharmonic) run on the same data "
        "and are reported beside it; they never change the verdict. Writes check.json, "
        "check.junit.xml and check.md. Exit 1 when any budget is broken.", 88),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  camkit check artifacts/ --data ../shared/data/gopro_pairs\n"
        "  camkit check artifacts/ --data ../shared/data/gopro_pairs --psf my_kernel.png\n"
        "  camkit check artifacts/inpaint_edgeconnect --data ../shared/data/inpainting_examples",
    )
    p.add_argument("target", type=Path, help="a manifest.json, an artifact, or a folder of them")
    _models_option(p, "; a manifest of an external model records its folder, so this is needed "
                   "only when the folder moved")
    p.add_argument("--data", type=Path, metavar="DIR",
                   help="task data: paired, GoPro-style or inpainting folder (see above)")
    p.add_argument("--out", type=Path, help="where the reports go (default: beside the target)")
    p.add_argument("--max-images", type=positive_int, help="use only the first N sample photos, and the first N pairs of --data")
    p.add_argument("--max-drop-db", type=float,
                   help="task-PSNR drop budget for quantized (w8*) artifacts with --data "
                   "(default: the card's, 0.3 dB for w8a8 and 0.05 dB for w8a16)")
    p.add_argument("--psf", type=Path, metavar="IMAGE",
                   help="blur kernel for the deblurring baselines: a grey image of the PSF "
                   "(white = energy; normalised to sum 1). Default: a linear-motion PSF "
                   "estimated per photo from its cepstrum (recorded in check.json)")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the classical baselines (they are slow at 720p)")
    p.add_argument("--accept-stored-sample", action="store_true",
                   help="when an artifact's checkpoint is gone or changed, compare it with the "
                   "torch output stored in its sample at export time (one photo) instead of "
                   "failing; the report says so")

    p = sub.add_parser(
        "train",
        help="train from a recipe YAML (runs DDP under torchrun)",
        description="Train with a recipe camkit ships, by name (camkit train retouch_csrnet/paper; "
        "camkit train --list shows them; its run goes to runs/<model>/<variant> under the "
        "working directory), or with your own YAML (a copy of a shipped one, edited: camkit "
        "train my_csrnet.yaml). Under torchrun the same command trains data-parallel: "
        "torchrun --nproc-per-node 2 -m toolkit.cli train CONFIG.",
    )
    p.add_argument("config", nargs="?",
                   help="recipe name MODEL/VARIANT (retouch_csrnet/paper; MODEL alone: its "
                   "default variant) or a recipe YAML path; with --qat a model id "
                   "(retouch_csrnet)")
    p.add_argument("--list", action="store_true", help="list the recipes camkit ships and exit")
    p.add_argument("--resume", action="store_true", help="continue from the run dir's last state")
    p.add_argument("--resume-with-new-config", action="store_true",
                   help="resume although CONFIG changes values of the config the run started "
                   "with (refused otherwise): train on with the new values, record the change "
                   "in the run's log.jsonl and keep CONFIG as the run's config.yaml")
    p.add_argument("--max-steps", type=int, help="override the recipe's step count")
    p.add_argument("--run-dir", type=Path, help="override the recipe's run directory")
    p.add_argument(
        "--vgg-weights", type=Path, metavar="FILE",
        help="VGG-19 ImageNet weights for recipes with a perceptual loss (torchvision's "
        "vgg19-dcbb9e9d.pth, read weights-only; nothing is downloaded). Sets "
        "CAMKIT_VGG19_WEIGHTS for the run (also seen by torchrun's processes); default: that "
        "variable's value",
    )
    g = p.add_argument_group(
        "quantization-aware fine-tuning (--qat)",
        "camkit train MODEL --qat --checkpoint FLOAT.safetensors --photos DIR fine-tunes a float "
        "checkpoint with fake int8 where the w8a8 exporters quantize, distilling the checkpoint's "
        "own float output on your photos (no labels), and writes a new float checkpoint that "
        "every exporter consumes as usual: camkit export MODEL --checkpoint OUT --precision w8a8. "
        "The best validation step is kept (every 5th photo validates), so it never ends worse "
        "than plain PTQ on those photos. Use hundreds of photos like the ones the model will see; "
        "on the official CSRNet it bought little (docs/quantization.md).",
    )
    g.add_argument("--qat", action="store_true",
                   help="quantization-aware fine-tuning of --checkpoint instead of a recipe run")
    g.add_argument("--variant", help="model variant (default: the model's first)")
    g.add_argument("--checkpoint", type=Path,
                   help="float checkpoint to fine-tune (default: the shipped one)")
    g.add_argument("--photos", type=Path, metavar="DIR", help="your photos (inputs only)")
    g.add_argument("--out", type=Path,
                   help="checkpoint to write (default: CHECKPOINT-qat.safetensors beside it); "
                   "an existing file is never replaced")
    g.add_argument("--size", help="export size HEIGHTxWIDTH the ranges are calibrated at "
                   "(default: the variant's); export at the same size")
    g.add_argument("--calib", help="calibration set name or folder the export will use "
                   "(default: the model's)")
    g.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    g.add_argument("--lr", type=float, default=1e-5, help="Adam learning rate (default 1e-5)")
    g.add_argument("--batch", type=int, default=8, help="crops per step (default 8)")
    g.add_argument("--crop", default="128x128",
                   help="training crop HEIGHTxWIDTH (default 128x128)")

    p = sub.add_parser(
        "import-weights",
        help="convert an official checkpoint (.pth read weights-only, or a TensorFlow "
        "checkpoint read without TensorFlow) to camkit safetensors",
    )
    p.add_argument("model", help="model id, or the path of a model folder of your own")
    p.add_argument(
        "source", type=Path,
        help="official checkpoint: a .pth file, or with --from tensorflow the checkpoint prefix "
        "(PREFIX for PREFIX.index + PREFIX.data-00000-of-00001)",
    )
    p.add_argument(
        "--from", dest="source_format", default="pytorch", choices=["pytorch", "tensorflow"],
        help="format of the official checkpoint (default: pytorch)",
    )
    p.add_argument("--variant", help="variant the weights belong to (default: the model's "
                   "default; with --from tensorflow the variant official weights fit)")
    p.add_argument("--out", type=Path, required=True, help="output folder")

    p = sub.add_parser(
        "calib",
        help="calibration sets for INT8: build one from your own photos",
        description="A calibration set is a folder of images and a manifest.json (file, sha256, "
        "source, licence). camkit ships some (calibration/ in a clone, inside the package when "
        "installed); the ones you build go to your data folder ($CAMKIT_DATA_DIR, else "
        "~/.local/share/camkit; macOS ~/Library/Application Support/camkit). Quantized exports "
        "calibrate on the model's set unless --calib names another: a set name looks in the "
        "shipped sets, then in yours.",
    )
    calib_sub = p.add_subparsers(dest="calib_command", metavar="ACTION", required=True)
    calib_sub.add_parser("list", help="the shipped sets and yours: name, images, where",
                         description="Every calibration set --calib NAME can name.")
    q = calib_sub.add_parser(
        "build",
        help="make a set NAME from a folder of photos (seeded crops, deterministic)",
        description="--per-photo crops of --size per photo, at positions drawn from --seed, so "
        "the same photos always give the same set; photos larger than twice the crop are scaled "
        "down first. The set is written atomically and never replaces an existing one. How many? "
        "benchmarks/calibration_size.py measured CSRNet: parity on held-out photos keeps rising "
        "up to 32 images and more scenes beat more crops of the same scenes; use 32+ photos of "
        "your own camera. Crops of a camkit set inherit each photo's source and licence.",
    )
    q.add_argument("--from", dest="source", type=Path, required=True, help="folder of photos")
    q.add_argument("--name", required=True, help="set name (letters, digits, - and _)")
    q.add_argument("--count", type=int, help="use the first N photos (sorted by name)")
    q.add_argument("--size", default="512x512", help="crop HEIGHTxWIDTH (default 512x512; use "
                   "the model's input size for static exports)")
    q.add_argument("--per-photo", type=int, default=1,
                   help="crops per photo (default 1); more crops add positions and scales, not "
                   "scenes")
    q.add_argument("--seed", type=int, default=0, help="crop positions seed (default 0)")
    q.add_argument("--license", default=None,
                   help="licence recorded for every image (default: inherited from the source "
                   "set's manifest.json, else 'user-provided; licence not stated')")
    q.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="folder in which NAME/ is created (default: your data folder's "
                   "calibration/, where --calib NAME finds it); a set elsewhere is used with "
                   "--calib DIR/NAME")

    p = sub.add_parser(
        "profile",
        help="latency profiles in one JSON schema (run on the host, or parse a tool's output)",
        description="Every profile result follows toolkit/profilers/profile_result.schema.json: "
        "times in ms, memory in MB, unknown values null (never 0), the raw output's sha256. "
        "'run' times an artifact on this machine's CPU (a host proxy); 'parse' reads "
        "benchmark_model or onnxruntime_perf_test output captured elsewhere (a device lab, a "
        "phone over adb); 'run --on android' drives a phone over adb itself; 'run --static' "
        "counts MACs, parameters and CPU fallbacks without running; 'run --on macos' times a "
        "Core ML package per compute unit on a Mac; 'run --estimate DEVICE' predicts a "
        "phone's latency from the static report and a device profile (roofline); 'compare' "
        "prints results side by side.",
    )
    profile_sub = p.add_subparsers(dest="profile_command", metavar="ACTION", required=True)
    q = profile_sub.add_parser(
        "parse",
        help="turn a captured benchmark_model / onnxruntime_perf_test output into a profile JSON",
        description="Parse FILE (the tool's stdout and stderr) into a profile result: a "
        "readable table on stdout, the JSON with --json. benchmark_model covers TFLite's "
        "Interpreter tool (old and new output) and LiteRT's CompiledModel tool. A crashed or "
        "truncated run still writes the JSON, with an 'error' object, and exits 1.",
    )
    q.add_argument("file", type=Path, help="the tool's captured output (adb shell ... > FILE 2>&1)")
    q.add_argument("--tool", required=True,
                   help="benchmark_model or onnxruntime_perf_test")
    q.add_argument("--manifest", type=Path,
                   help="manifest.json of the artifact that ran: records its sha256, format "
                   "and precision (without it they are null)")
    q.add_argument("--ops-csv", type=Path, metavar="CSV",
                   help="benchmark_model's --profiling_output_csv_file, when op profiling went "
                   "to a file instead of the log")
    q.add_argument("--json", type=Path, metavar="OUT", help="write the result JSON to OUT")

    q = profile_sub.add_parser(
        "run",
        help="time an artifact on this machine's CPU (a host proxy) or a phone (adb) as a "
        "profile JSON",
        description="Run the artifact MANIFEST describes on its sample input: session init, "
        "first inference, --warmup calls, then --runs timed calls (median, p90, p95, min, max, "
        "std). ONNX runs on onnxruntime's CPU provider, with per-node times from a second, "
        "profiled session; LiteRT runs on the interpreter with XNNPACK or the reference "
        "kernels. The result is labelled a host proxy: it ranks artifacts, it does not predict "
        "phone milliseconds. --on android instead runs the user's benchmark_model or "
        "onnxruntime_perf_test on a phone over adb and parses its output; --static times "
        "nothing and reports per-op MACs, parameters, activation memory and which ops each "
        "target would run on the CPU; --on macos (macOS only) times a Core ML package per "
        "compute unit and lists Core ML's per-op device plan; --estimate DEVICE gives a roofline "
        "estimate (kind 'estimated', with its uncertainty band), --calibrate fits it to "
        "measured results of that device.",
    )
    q.add_argument("manifest", type=Path, help="the artifact's .manifest.json")
    q.add_argument("--on", choices=["host", "android", "macos"],
                   help="where to run: host (this CPU) or android (a phone over adb, with "
                   "--tool and --binary) or macos (Core ML on this Mac)")
    q.add_argument("--threads", type=int, default=None,
                   help="intra-op / interpreter threads (default: the runtime's default)")
    q.add_argument("--runs", type=int, default=10, help="timed runs (default 10)")
    q.add_argument("--warmup", type=int, default=2,
                   help="untimed runs after the first inference (default 2)")
    q.add_argument("--kernels", choices=["xnnpack", "reference"], default=None,
                   help="LiteRT kernels: xnnpack (default) or TFLite's reference kernels")
    q.add_argument("--json", type=Path, metavar="OUT", help="write the result JSON to OUT")
    q.add_argument("--static", action="store_true",
                   help="instead of --on: the static op report, no device (per op: output "
                   "shape, MACs, params, activation bytes, targets it falls back on; totals "
                   "and peak activation memory)")
    q.add_argument("--estimate", metavar="DEVICE",
                   help="instead of --on: a roofline estimate for DEVICE (an id from "
                   "toolkit/profilers/devices/*.toml) built on the static op report; labelled "
                   "with its uncertainty band")
    q.add_argument("--calibrate", nargs="+", type=Path, metavar="RESULT",
                   help="with --estimate: fit the efficiencies and per-op overhead to these "
                   "measured results of the same device (their manifests must exist)")
    macos = q.add_argument_group(
        "--on macos", "Core ML on this Mac (macOS only; 14.4+ adds the per-op device plan); "
        "one result per compute unit, --json OUT writes OUT.<unit>.json when there are several")
    macos.add_argument("--compute-units", metavar="LIST",
                       help="comma list of all, cpuOnly, cpuAndGPU, cpuAndNeuralEngine "
                       "(default: all four)")
    android = q.add_argument_group(
        "--on android", "run the user's own tool binary on a phone with USB debugging over adb "
        "(files are pushed to /data/local/tmp/camkit only when their sha256 differs)")
    android.add_argument("--tool", help="benchmark_model (.tflite) or onnxruntime_perf_test "
                         "(.onnx)")
    android.add_argument("--binary", type=Path, help="the tool built for the phone's ABI")
    android.add_argument("--generation", help="benchmark_model generation: interpreter "
                         "(TFLite, default) or compiled_model (LiteRT CompiledModel tool)")
    android.add_argument("--delegate", help="interpreter: xnnpack (default), cpu, gpu, nnapi, "
                         "qnn; compiled_model: cpu (default), gpu, npu; onnxruntime_perf_test: "
                         "cpu (default), xnnpack, nnapi, qnn")
    android.add_argument("--qnn-delegate-lib", type=Path, metavar="PATH",
                         help="--delegate qnn: libQnnTFLiteDelegate.so (benchmark_model) or the "
                         "QNN backend libQnnHtp.so (onnxruntime_perf_test)")
    android.add_argument("--dispatch-lib", type=Path, metavar="PATH",
                         help="--delegate npu: the vendor's libLiteRtDispatch_*.so")
    android.add_argument("--device-lib", type=Path, action="append", default=[], metavar="PATH",
                         help="another library the delegate loads (QNN skel/stub libraries); "
                         "repeatable")
    android.add_argument("--serial", help="adb serial when several devices are attached")
    android.add_argument("--op-profiling", action="store_true",
                         help="benchmark_model interpreter: per-op times (pulled CSV)")
    android.add_argument("--dry-run", action="store_true",
                         help="print the adb commands and run nothing")

    q = profile_sub.add_parser(
        "compare",
        help="several profile results side by side",
        description="Print FILE... (profile JSONs) side by side: model sha/format/precision, "
        "where it ran, runtime and delegate, median/p90/min, init, delegation, kind. Mixing "
        "measured, estimated and static results is refused unless --allow-mixed, which puts "
        "each result's kind in its column header.",
    )
    q.add_argument("files", nargs="+", type=Path, metavar="FILE", help="profile result JSONs")
    q.add_argument("--allow-mixed", action="store_true",
                   help="compare results of different kinds (each header names its kind)")

    p = sub.add_parser(
        "report",
        help="accuracy and latency of checked artifacts on one page, with a PSNR-vs-latency plot",
        description="Join DIR/check.json (from 'camkit check DIR') with profile results (from "
        "'camkit profile run ... --json FILE', any target: host, android, macos, --estimate) by "
        "the artifact's sha256. Writes report.md, report.html and psnr_vs_latency.png: one "
        "latency row per format x precision x target, and quality over median latency "
        "(measured points filled, estimates hollow with their uncertainty band). Needs "
        "matplotlib (pip install 'camkit[report]').",
        epilog="example:\n  camkit check out/ --data pairs/\n  camkit profile run "
        "out/.../m-fp32.onnx.manifest.json --on host --json out/profiles/fp32-host.json\n"
        "  camkit report out/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", type=Path, help="folder that holds check.json (and, by default, the "
                   "profile JSONs anywhere below it)")
    p.add_argument("--checks", type=Path, help="check.json to use (default: DIR/check.json)")
    p.add_argument("--profiles", type=Path, nargs="+", metavar="FILE",
                   help="profile result JSONs (default: every profile result under DIR)")
    p.add_argument("--quality", default="auto", choices=["auto", "task", "parity"],
                   help="plot's quality axis: task PSNR vs ground truth (needs camkit check "
                   "--data), PSNR vs the float model, or auto (task when every artifact has it)")
    p.add_argument("--out", type=Path, help="output folder (default: DIR)")

    p = sub.add_parser(
        "run",
        help="apply a model (torch) or an exported artifact to your photos",
        description="Runs TARGET on each photo and writes the result under --out with the "
        "photo's name (JPEG stays JPEG, anything else becomes PNG), upright (EXIF orientation "
        "applied) and with the photo's ICC colour profile. TARGET is a model (id or folder: "
        "its float torch network, at each photo's size) or an artifact (its file or "
        ".manifest.json: the exported model in its runtime, after its files are verified). A "
        "static artifact takes its own size only: for other sizes export with --size or "
        "--dynamic, or run the model. Existing results are kept unless --overwrite.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  camkit run retouch_csrnet my_photos/ --out retouched/\n"
        "  camkit run artifacts/retouch_csrnet/paper/retouch_csrnet-paper-w8a8.tflite "
        "photo.png --out out/\n"
        "  camkit run inpaint_edgeconnect photos/ --masks masks/ --out filled/",
    )
    p.add_argument("target", help="model id, model folder, or artifact (file or .manifest.json)")
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO_OR_DIR",
                   help="photos, or folders of them")
    p.add_argument("--out", type=Path, required=True, help="folder for the results")
    p.add_argument("--variant", help="a model's variant (default: its default variant)")
    p.add_argument("--checkpoint", type=Path,
                   help="a model's checkpoint (default: the one it ships)")
    p.add_argument("--masks", type=Path, metavar="DIR",
                   help="inpainting: a mask per photo, same name stem, white = hole")
    p.add_argument("--overwrite", action="store_true", help="replace existing results")
    _models_option(p)

    p = sub.add_parser(
        "new-model",
        help="write a model folder of your own (model.py, card.yaml, a training recipe)",
        description="Writes OUT/NAME/: model.py (a small working network, its ModelSpec with "
        "inputs and outputs, VARIANTS tiny and mobile, build()), card.yaml (the budgets its "
        "artifacts must meet, commented), train.py and recipe.yaml (training on camkit's engine "
        "with the task's synthetic data on the bundled photos). It exports, trains and passes "
        "camkit check as written; then make the network yours.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="then:\n"
        "  camkit export ./NAME --variant tiny --random-weights      # ONNX, LiteRT, Core ML\n"
        "  camkit train NAME/recipe.yaml --max-steps 50               # runs/NAME/tiny/\n"
        "  camkit export ./NAME --variant tiny --checkpoint runs/NAME/tiny/checkpoints/"
        "step-0000050.safetensors --precision fp32,w8a8\n"
        "  camkit check artifacts/",
    )
    p.add_argument("name", help="model id: lower-case letters, digits and _ (the folder's name)")
    p.add_argument("--task", required=True, choices=["retouch", "enhance", "deblur", "inpaint"],
                   help="what it learns: retouch (undo a global edit), enhance (undo a phone "
                   "camera's degradations), deblur (undo a known camera shake), inpaint (fill "
                   "a masked hole: image and mask inputs)")
    p.add_argument("--out", type=Path, help="folder that receives NAME/ (default: here)")

    p = sub.add_parser(
        "demo",
        help="shipped checkpoint -> every format and precision -> checks -> report.html",
    )
    p.add_argument("--model", default="retouch_csrnet",
                   help="model id or model folder path (default retouch_csrnet)")
    p.add_argument("--variant", help="variant (default: the model's default)")
    p.add_argument("--size", help="static export size HEIGHTxWIDTH (default: the variant's)")
    p.add_argument("--checkpoint", type=Path,
                   help="use this checkpoint instead of the one the repo ships")
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    return parser


def cmd_list(args) -> int:
    from toolkit import registry
    from toolkit.checkpoints import shipped_checkpoint
    from toolkit.export import parse_size
    from toolkit.models._cost import conv_linear_macs
    from toolkit.spec import PRECISIONS

    frame = parse_size(args.size) if args.macs else None
    print("models:" + (f" (GMACs per {frame[0]}x{frame[1]} frame: convs and linears)"
                       if args.macs else ""))
    for model_id in registry.model_ids():
        spec = registry.model_spec(model_id)
        mod = registry.model_module(model_id)
        print(f"  {model_id}  ({spec.task}; {spec.title})")
        source = registry.model_source(model_id)
        if source.kind != "builtin":
            print(f"    from {source.describe()}")
        for variant in spec.variants:
            params = sum(p.numel() for p in mod.build(variant).parameters())
            h, w = spec.default_size[variant]
            default = " [default]" if variant == spec.default_variant else ""
            ckpt = "checkpoint shipped" if shipped_checkpoint(model_id, variant) else "no checkpoint"
            cost = ""
            if args.macs and (frame[0] % spec.size_multiple or frame[1] % spec.size_multiple):
                cost = f"  (sides must be multiples of {spec.size_multiple})"
            elif args.macs:
                macs = conv_linear_macs(mod.build(variant), tuple(t.channels for t in spec.inputs), *frame)
                cost = f"  {macs / 1e9:>8.2f} GMACs/frame"
            print(f"    {variant:<8} {params:>12,} params{cost}  {h}x{w}  {ckpt}{default}")
    print("formats:")
    for name in registry.format_names():
        mod = registry.format_module(name)
        state = "installed" if registry.format_available(name) else f"pip install 'camkit[{mod.extra}]'"
        print(f"  {name:<8} .{mod.suffix:<10} {','.join(mod.precisions):<12} {state}")
    print("precisions:")
    for pid, text in PRECISIONS.items():
        print(f"  {pid:<6} {text}")
    return 0


def cmd_export(args) -> int:
    from toolkit import registry
    from toolkit.export import (GateFailed, export_artifacts, make_spec, parse_size,
                                resolve_weights)

    model_id = args.model
    registry.model_module(model_id)
    variant = registry.check_variant(model_id, args.variant)
    if args.format:
        formats = _csv(args.format)
        for f in formats:
            registry.format_module(f)
    else:
        formats = [f for f in registry.format_names() if registry.format_available(f)]
        if not formats:
            raise CamkitError("no export format is installed; pip install 'camkit[onnx]'")
    precisions = _csv(args.precision)
    size = parse_size(args.size) if args.size else None
    spec = make_spec(model_id, variant, size, "nhwc" if args.nhwc else "nchw", args.dynamic,
                     args.io)
    weights = resolve_weights(model_id, variant, args.checkpoint, args.random_weights)
    from toolkit.quantization import options

    ptq = options.parse(args.ptq)
    accuracy = None
    if args.max_drop_db is not None or args.min_psnr_db is not None:
        from toolkit.checks.task import is_masked, load_pairs
        from toolkit.export import AccuracyTarget
        from toolkit.quantization.calibration import photo_channels

        flag = "--max-drop-db" if args.max_drop_db is not None else "--min-psnr-db"
        if args.data is None:
            raise CamkitError(f"{flag} is measured on photos the calibration never saw, which "
                              f"needs --data PAIRED_DIR")
        accuracy = AccuracyTarget(args.max_drop_db, args.data,
                                  load_pairs(args.data, photo_channels(spec),
                                             args.max_images, masked=is_masked(spec)),
                                  args.min_psnr_db)
    gate = None
    if not args.no_check:
        def gate(staged: list[Path]) -> bool:
            """Check the staged set where it stands; only a passing set is published."""
            for m in staged:
                print(f"exported {m.name.removesuffix('.manifest.json')}")
                _print_kept_float(m)
            return _run_checks(staged[0].parent, args.data, None, args.max_images, only=staged,
                               max_drop_db=args.max_drop_db, quiet_paths=True) == 0
    try:
        manifests = export_artifacts(spec, weights, formats, precisions, args.out,
                                     calib_source=args.calib, accuracy=accuracy, gate=gate,
                                     ptq=ptq)
    except GateFailed as e:
        print(f"camkit: error: {e}", file=sys.stderr)
        return 1
    if args.no_check:
        for m in manifests:
            print(f"wrote {m.parent / m.name.removesuffix('.manifest.json')}")
            _print_kept_float(m)
        return 0
    folder = manifests[0].parent
    print(f"published {len(manifests)} artifact(s) in {folder}")
    print(f"reports: {folder / 'check.json'}, {folder / 'check.junit.xml'}, {folder / 'check.md'}")
    return 0


def _print_kept_float(manifest_path: Path) -> None:
    """One line per artifact that accuracy-aware quantization changed."""
    import json

    scheme = json.loads(manifest_path.read_text())["precision_scheme"]
    share = scheme.get("float_mac_share")
    if share and share["layers"]:
        print(f"  {100 * share['share']:.1f}% of MACs run in float ({share['layers']} layer "
              f"id(s) kept float; precision_scheme.float_mac_share)")
    if "accuracy_control" in scheme:
        control = scheme["accuracy_control"]
        kept = control["kept_float_layers"]
        budgets = []
        if control.get("max_drop_db") is not None:
            budgets.append(f"task drop {control['drop_db']:.3f} dB <= {control['max_drop_db']:g} dB")
        parity = control.get("worst_parity_psnr_db")
        if control.get("min_psnr_db") is not None and parity is not None:
            parity = float(parity)
            budgets.append(f"worst parity {parity:.2f} dB >= {control['min_psnr_db']:g} dB")
        if control.get("min_ssim") is not None and control.get("worst_parity_ssim") is not None:
            budgets.append(f"SSIM {control['worst_parity_ssim']:.4f} >= {control['min_ssim']:g}")
        where = (f"on {control['data']} (the card, the photos camkit check measures)"
                 if control.get("automatic") else f"on {control['data']}")
        print(f"  {', '.join(budgets) or 'within budget'} {where} with {len(kept)} searched "
              f"layer(s) in float{': ' + ', '.join(kept) if kept else ''}")
        if control.get("over_float_share"):
            print(f"  note: {100 * control['float_share']:.1f}% of MACs in float, over the "
                  f"{100 * control['max_float_share']:g}% aim: no set of layers under it met the "
                  f"budget (see precision_scheme.accuracy_control.trials)")


def _run_checks(target, data, out, max_images, only=None, max_drop_db=None, baselines=True,
                psf=None, accept_stored_sample=False, quiet_paths=False) -> int:
    from toolkit.checks.gate import run_checks
    from toolkit.checks.report import markdown

    if max_drop_db is not None and data is None:
        raise CamkitError("--max-drop-db budgets the task drop, which needs --data PAIRED_DIR")
    results, paths = run_checks(target, data, out, max_images, only=only, max_drop_db=max_drop_db,
                                baselines=baselines, psf=psf,
                                accept_stored_sample=accept_stored_sample)
    print(markdown(results), end="")
    if not quiet_paths:
        print(f"reports: {paths['json']}, {paths['junit']}, {paths['markdown']}")
    return 0 if all(r.passed for r in results) else 1


def cmd_check(args) -> int:
    from contextlib import ExitStack

    from toolkit.publish import FolderLock, scan

    target = Path(args.target)
    with ExitStack() as locks:  # no export may publish into a folder while it is checked
        if target.exists():
            for folder in sorted({m.parent for m in scan(target).manifests}):
                locks.enter_context(FolderLock(folder, "check", best_effort=True))
        return _run_checks(target, args.data, args.out, args.max_images,
                           max_drop_db=args.max_drop_db, baselines=not args.no_baselines,
                           psf=args.psf, accept_stored_sample=args.accept_stored_sample)


def cmd_train(args) -> int:
    from toolkit.training import recipe_names, run_recipe

    if args.list:
        from toolkit.paths import recipes_root

        print(f"recipes in {recipes_root()} (camkit train NAME):")
        for name in recipe_names():
            print(f"  {name}")
        return 0
    if args.config is None:
        raise CamkitError("camkit train needs a recipe: a name (camkit train --list) or a YAML")
    qat_only = [f"--{n}" for n in ("variant", "checkpoint", "photos", "out", "size", "calib")
                if getattr(args, n) is not None]
    if args.qat:
        return _train_qat(args)
    if qat_only:
        raise CamkitError(f"{', '.join(qat_only)} belong to --qat (camkit train MODEL --qat "
                          f"--checkpoint CKPT --photos DIR); a recipe run takes its settings "
                          f"from the YAML")
    if args.vgg_weights is not None:
        if not args.vgg_weights.is_file():
            raise CamkitError(f"--vgg-weights {args.vgg_weights} does not exist; pass "
                              f"torchvision's vgg19 ImageNet checkpoint vgg19-dcbb9e9d.pth")
        os.environ["CAMKIT_VGG19_WEIGHTS"] = str(args.vgg_weights.resolve())
    checkpoint = run_recipe(
        args.config, resume=args.resume, max_steps=args.max_steps, run_dir=args.run_dir,
        resume_with_new_config=args.resume_with_new_config,
    )
    if checkpoint is not None and os.environ.get("RANK", "0") == "0":  # once under torchrun
        print(f"checkpoint: {checkpoint}")
    return 0


def _train_qat(args) -> int:
    from toolkit import registry
    from toolkit.export import parse_size
    from toolkit.quantization.qat import QatOptions, run_qat

    model_id = registry.resolve_model(str(args.config))
    if model_id.endswith((".yaml", ".yml")):
        raise CamkitError(f"--qat fine-tunes a model's checkpoint, not a recipe: pass the model "
                          f"id (camkit train {registry.model_ids()[0]} --qat --checkpoint CKPT "
                          f"--photos DIR)")
    spec = registry.model_spec(model_id)
    if args.photos is None:
        raise CamkitError("--qat needs --photos DIR: your own photos (hundreds), inputs only")
    variant = args.variant or spec.variants[0]
    for name in ("steps", "batch"):
        if getattr(args, name) < 1:
            raise CamkitError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if not args.lr > 0:
        raise CamkitError(f"--lr must be positive, got {args.lr}")
    opts = QatOptions(steps=args.steps, batch=args.batch, lr=args.lr, crop=parse_size(args.crop))
    out, record = run_qat(model_id, variant, args.checkpoint, args.photos, args.out,
                          parse_size(args.size) if args.size else None, args.calib, opts)
    verdict = ("better than PTQ" if record["improved"] else
               "no step beat plain PTQ: the checkpoint holds the equalized input weights")
    print(f"validation ({record['val_photos']} photos), worst / mean parity of fake int8 vs "
          f"the input checkpoint's float: {record['val_worst_psnr_db_start']:.2f} / "
          f"{record['val_mean_psnr_db_start']:.2f} dB before, {record['val_worst_psnr_db']:.2f} / "
          f"{record['val_mean_psnr_db']:.2f} dB at step {record['best_step']} ({verdict}); "
          f"float drift {record['float_vs_input_worst_psnr_db']:.1f} dB")
    print(f"checkpoint: {out}")
    print(f"export it: camkit export {model_id} --variant {variant} --checkpoint {out} "
          f"--precision w8a8" + (f" --size {args.size}" if args.size else ""))
    return 0


def cmd_import_weights(args) -> int:
    from toolkit.checkpoints import import_weights

    existing = set(args.out.glob("*.safetensors")) if args.out.is_dir() else set()
    out = import_weights(args.model, args.source, args.out, args.variant, args.source_format)
    # atomic replace of a previous import (nothing is touched when an import fails); say so
    print(f"wrote {out}" + (" (replaced the previous file)" if out in existing else ""))
    return 0


def cmd_run(args) -> int:
    from toolkit.apply import run_photos

    written = run_photos(args.target, args.photos, args.out, variant=args.variant,
                         checkpoint=args.checkpoint, masks=args.masks, overwrite=args.overwrite)
    print(f"wrote {len(written)} result(s) in {args.out}")
    return 0


def cmd_new_model(args) -> int:
    from toolkit.scaffold import new_model

    folder = new_model(args.name, args.task, args.out)
    shown = folder if args.out is not None else Path(args.name)
    print(f"wrote {folder}: model.py, card.yaml, train.py, recipe.yaml")
    print(f"next: camkit export ./{shown} --variant tiny --random-weights; "
          f"camkit train {shown}/recipe.yaml --max-steps 50; camkit check artifacts/")
    return 0


def cmd_demo(args) -> int:
    from toolkit.demo import run_demo

    report = run_demo(args.model, args.variant, args.size, args.out, args.checkpoint)
    print(f"report: {report}")
    return 0


def cmd_calib(args) -> int:
    from toolkit.export import parse_size
    from toolkit.quantization.calibration import build_set

    if args.calib_command == "list":
        return _calib_list()
    if args.count is not None and args.count < 1:
        raise CamkitError(f"--count must be at least 1, got {args.count}")
    path = build_set(args.source, args.name, parse_size(args.size), args.count, args.seed,
                     args.license, root=args.out, per_photo=args.per_photo)
    use = args.name if args.out is None else path
    print(f"wrote {path} ({len(list(path.glob('*.png')))} images); use it with --calib {use}")
    return 0


def _calib_list() -> int:
    import json

    from toolkit.quantization.calibration import CALIBRATION_ROOT, set_folder, set_names

    rows = []
    for name in set_names():
        folder = set_folder(name)
        try:
            count = str(len(json.loads((folder / "manifest.json").read_text())["files"]))
        except (OSError, ValueError, KeyError, TypeError):
            count = "unreadable"
        where = "shipped" if folder.parent == CALIBRATION_ROOT else "yours"
        rows.append((name, count, where, str(folder)))
    if not rows:
        print("no calibration sets; build one with camkit calib build --from DIR --name NAME")
        return 0
    widths = [max(len(r[i]) for r in rows + [("set", "images", "where", "")]) for i in range(3)]
    print(f"{'set':<{widths[0]}}  {'images':>{widths[1]}}  {'where':<{widths[2]}}  folder")
    for name, count, where, folder in rows:
        print(f"{name:<{widths[0]}}  {count:>{widths[1]}}  {where:<{widths[2]}}  {folder}")
    return 0


def _emit_profile(result, json_path: Path | None, extra: str = "") -> None:
    """Every profile command's output: the result validated against the schema, a readable
    table (plus ``extra``) on stdout, and the JSON at ``json_path`` when given."""
    from toolkit.artifacts import atomic_write_json
    from toolkit.profilers.schema import validate
    from toolkit.profilers.table import format_table

    obj = result.to_json()
    validate(obj)
    print(format_table(result) + extra, end="")
    if json_path is not None:
        atomic_write_json(json_path, obj)
        print(f"wrote {json_path}")


def cmd_profile(args) -> int:
    json_path = getattr(args, "json", None)
    if json_path is not None and json_path.is_dir():  # before minutes of profiling, not after
        raise CamkitError(f"--json {json_path} is a folder; pass a file path such as "
                          f"{json_path / 'profile.json'}")
    if args.profile_command == "run":
        return _profile_run(args)
    if args.profile_command == "compare":
        return _profile_compare(args)
    from toolkit.profilers.parsers import parse_capture

    result = parse_capture(args.tool, args.file, args.manifest, args.ops_csv)
    _emit_profile(result, args.json)
    if result.error is not None:
        print(f"camkit: error: {args.file}: {result.error.kind}: {result.error.message}",
              file=sys.stderr)
        return 1
    return 0


def _profile_run(args) -> int:
    if args.estimate is not None or args.calibrate is not None:
        return _profile_estimate(args)
    if args.static == (args.on is not None):
        raise CamkitError("profile run needs exactly one of --on host|android|macos, --static "
                          "or --estimate DEVICE")
    if args.compute_units is not None and args.on != "macos":
        raise CamkitError("--compute-units applies to --on macos; drop it or run with --on macos")
    if args.on == "macos":
        return _profile_macos(args)
    if args.static:
        return _profile_static(args)
    if args.on == "android":
        return _profile_android(args)
    _no_android_options(args)
    from toolkit.profilers.host_profile import profile_host

    result = profile_host(args.manifest, threads=args.threads, runs=args.runs,
                          warmup=args.warmup, kernels=args.kernels, argv=args.argv)
    _emit_profile(result, args.json)
    return 0



def _profile_static(args) -> int:
    from toolkit.profilers.static import profile_static

    _no_android_options(args)
    if args.threads is not None or args.kernels is not None:
        raise CamkitError("--threads and --kernels apply to --on host; --static runs nothing, "
                          "drop them")
    result = profile_static(args.manifest, argv=args.argv)
    _emit_profile(result, args.json)
    return 0


def _profile_macos(args) -> int:
    from toolkit.profilers.macos import parse_compute_units, profile_macos

    _no_android_options(args)
    if args.threads is not None or args.kernels is not None:
        raise CamkitError("--threads and --kernels apply to --on host; Core ML picks its own, "
                          "choose devices with --compute-units")
    units = parse_compute_units(args.compute_units)
    results = profile_macos(args.manifest, units, runs=args.runs, warmup=args.warmup,
                            argv=args.argv)  # off macOS this raised before any heavy import
    from toolkit.profilers.macos import format_plan

    for unit, result in zip(units, results):
        print(f"== compute units: {unit}")
        out = args.json if args.json is None or len(units) == 1 \
            else args.json.with_suffix(f".{unit}.json")
        _emit_profile(result, out, format_plan(result))
    return 0


def _profile_compare(args) -> int:
    from toolkit.profilers.compare import format_compare, load_results

    print(format_compare(args.files, load_results(args.files), args.allow_mixed), end="")
    return 0


def _profile_estimate(args) -> int:
    from toolkit.profilers import roofline
    from toolkit.profilers.compare import load_results
    from toolkit.profilers.static import profile_static

    if args.estimate is None:
        raise CamkitError("--calibrate fits an estimate; add --estimate DEVICE")
    if args.static or args.on is not None:
        raise CamkitError("--estimate replaces --on and --static; pass only one of them")
    _no_android_options(args)
    if args.threads is not None or args.kernels is not None or args.compute_units is not None:
        raise CamkitError("--threads, --kernels and --compute-units apply to --on; --estimate "
                          "runs nothing, drop them")
    device = roofline.load_device(args.estimate)
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
    _emit_profile(result, args.json, f"{'label':<12}{result.runtime.options['label']}\n")
    return 0


#: run options that mean something on one target only
_ANDROID_ONLY = ("tool", "binary", "generation", "delegate", "qnn_delegate_lib", "dispatch_lib",
                 "serial", "op_profiling", "dry_run", "device_lib")


def _no_android_options(args) -> None:
    given = [name for name in _ANDROID_ONLY if getattr(args, name) not in (None, False, [])]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise CamkitError(f"{flag} applies to --on android; drop it or run with --on android")


def _profile_android(args) -> int:
    from toolkit.profilers.android import Adb, dry_run_text, plan_run, profile_android

    if args.kernels is not None:
        raise CamkitError("--kernels picks host LiteRT kernels; on android use --delegate")
    if args.tool is None or args.binary is None:
        raise CamkitError("--on android needs --tool (benchmark_model or onnxruntime_perf_test) "
                          "and --binary (the tool built for the phone)")
    plan = plan_run(args.manifest, args.tool, args.binary, args.delegate, args.generation,
                    args.qnn_delegate_lib, args.dispatch_lib, tuple(args.device_lib),
                    args.runs, args.warmup, args.threads, args.op_profiling)
    adb = Adb(args.serial)
    if args.dry_run:
        print(dry_run_text(plan, adb), end="")
        return 0
    result = profile_android(plan, adb)
    _emit_profile(result, args.json)
    if result.error is not None:
        print(f"camkit: error: {result.error.kind}: {result.error.message}", file=sys.stderr)
        return 1
    return 0

def cmd_report(args) -> int:
    from toolkit.report import find_profiles, write_report

    if not args.dir.is_dir():
        raise CamkitError(f"{args.dir} is not a folder; pass the folder camkit check wrote to")
    profiles = args.profiles if args.profiles is not None else find_profiles(args.dir)
    paths = write_report(args.checks or args.dir / "check.json", profiles, args.out or args.dir,
                         args.quality)
    print(f"{len(profiles)} profile result(s) joined; wrote " + ", ".join(
        str(p) for p in paths.values()))
    return 0


COMMANDS = {
    "list": cmd_list,
    "export": cmd_export,
    "check": cmd_check,
    "train": cmd_train,
    "import-weights": cmd_import_weights,
    "demo": cmd_demo,
    "new-model": cmd_new_model,
    "run": cmd_run,
    "calib": cmd_calib,
    "profile": cmd_profile,
    "report": cmd_report,
}


def _models_option(p, extra: str = "") -> None:
    p.add_argument("--models", action="append", type=Path, metavar="DIR", default=[],
                   help="a folder of your own models (a model folder, or a folder of them) to "
                   "know besides the built-in ones, CAMKIT_MODEL_PATH's and installed plugins'; "
                   "repeatable" + extra)


def _resolve_models(args) -> None:
    """--models folders added to the registry, and a MODEL argument that is a folder path
    resolved to its id (one place, so every command takes external models alike)."""
    if not getattr(args, "models", None) and not isinstance(getattr(args, "model", None), str):
        return
    from toolkit import registry

    for folder in getattr(args, "models", None) or []:
        registry.add_model_folder(folder)
    if isinstance(getattr(args, "model", None), str):
        args.model = registry.resolve_model(args.model)


def main(argv: list[str] | None = None) -> int:
    quiet_environment()
    args = build_parser().parse_args(argv)
    #: the exact command line, for results that record it (profile run)
    args.argv = ["camkit", *(sys.argv[1:] if argv is None else argv)]
    try:
        _resolve_models(args)
        return COMMANDS[args.command](args)
    except CamkitError as e:
        print(f"camkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("camkit: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # full disk, read-only folder, a file where a folder should be, ...
        print(f"camkit: error: {os_error_message(e)}", file=sys.stderr)
        return 2


def os_error_message(e: OSError) -> str:
    """One line for an operating-system error: what failed, on which path, and the fix. Writes
    are atomic (temp file + rename), so existing files were left as they were."""
    import errno

    path = e.filename2 or e.filename or ""  # a rename's destination is filename2
    name = Path(path).name
    if name.startswith(".") and (name.endswith(".tmp") or ".staging-" in name):
        path = str(Path(path).parent)  # a temp file of an atomic write: name the folder
    where = f" ({path})" if path else ""
    fixes = {
        errno.ENOSPC: "free disk space or write elsewhere (--out)",
        errno.EDQUOT: "free disk space or write elsewhere (--out)",
        errno.EFBIG: "the file system refused a file this large; write elsewhere (--out)",
        errno.EACCES: "the folder is not writable by you; pass a writable --out",
        errno.EPERM: "the folder is not writable by you; pass a writable --out",
        errno.EROFS: "the folder is on a read-only file system; pass a writable --out",
        errno.ENOTDIR: "a file stands where a folder is needed; pass a folder path or move the "
                       "file",
        errno.EEXIST: "a file stands where a folder is needed; pass a folder path or move the "
                      "file",
        errno.EISDIR: "that path is a folder; pass a file path",
        errno.ENAMETOOLONG: "use a shorter path",
    }
    fix = fixes.get(e.errno, "check the path and try again")
    return (f"{e.strerror or type(e).__name__}{where}; {fix} (existing files were left "
            f"unchanged)")


if __name__ == "__main__":
    sys.exit(main())
