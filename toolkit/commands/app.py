"""``camkit app``: what the Android and iOS apps' cores test against (golden fixtures)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "app"
HELP = "push artifacts into the Android or iOS app; golden fixtures for the apps' cores"
DESCRIPTION = (
    "Helpers for the apps in this repo (android_demo/, ios_demo/). 'push' copies artifacts "
    "with their manifests, samples and features artifacts into the camkit Android app's "
    "storage on a phone over adb (only what the phone lacks, by sha256), ready for the app's "
    "screens and for 'camkit profile android-app'; with --ios, Core ML packages into the iOS "
    "app with xcrun devicectl (a Mac). 'fixtures' writes small, deterministic golden cases "
    "(the same bytes every run) with which the Kotlin and Swift cores prove they tile, pack "
    "and blend exactly as camkit does: per full-resolution case the photo, the manifest's "
    "full_resolution "
    "plan, the tile grid, every tile's input tensors (NCHW and NHWC, float32 and uint8) and a "
    "toy model's output per tile (replayed, so no model is needed), and the blended result "
    "(float32 and the uint8 PNG camkit run writes); besides, a photo packed every way with "
    "quantization and back (packing/), a manifest set with broken variants and their "
    "expected refusals (manifests/), expected PSNR (metrics.json) and latency statistics as "
    "numpy computes them (latency.json). OUT/README.md explains the files and the rules; "
    "OUT/index.json holds every file's sha256."
)
EPILOG = """\
examples:
  camkit app push artifacts/retouch_csrnet/paper/    # every .tflite and .onnx under it
  camkit app push m-mobile-w8a8.tflite.manifest.json --serial R5CT12345 --dry-run
  camkit app fixtures app_fixtures/                # then copy it into the apps' test resources
  camkit app fixtures app_fixtures/ --overwrite    # refresh after a change to toolkit/fullres.py"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description, parser.epilog = DESCRIPTION, EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="app_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "fixtures", help="write the golden tiling/packing/blending cases to OUT",
        description="Writes OUT/<case>/ for each case, OUT/README.md and OUT/index.json, "
        "built beside OUT and published by one rename; an existing non-empty OUT is replaced "
        "only with --overwrite.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, metavar="OUT", help="folder to write (created)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p = sub.add_parser(
        "push", help="push artifacts into the camkit Android app on a phone (adb)",
        description="Copies each MANIFEST's artifact, the manifest, its .sample.npz and (a "
        "split by tiles) its features artifact to /sdcard/Android/data/dev.camkit.demo/files/"
        "camkit/artifacts/ on the phone, each only when sha256sum on the phone shows it missing "
        "or different. Every file is checked against its manifest's sha256 first. The app must "
        "be installed (android_demo/README.md). With --ios: Core ML packages, file by file, into "
        "the iOS app's Documents/camkit/artifacts/ with xcrun devicectl (a Mac; camkit keeps an "
        "index of pushed sha256s on the phone).", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifests", type=Path, nargs="+", metavar="MANIFEST",
                   help="a .manifest.json, or a folder: every LiteRT and ONNX manifest under it")
    p.add_argument("--serial", help="adb serial when several devices are attached")
    p.add_argument("--ios", action="store_true",
                   help="push Core ML packages into the camkit iOS app instead (a Mac with "
                   "Xcode 15+: xcrun devicectl; needs --device)")
    p.add_argument("--device", metavar="UDID",
                   help="--ios: the iPhone (xcrun devicectl list devices)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the adb (or devicectl) commands and push nothing")


def run(args: argparse.Namespace) -> int:
    if args.app_command == "push":
        return _push(args)
    from toolkit.app_fixtures import CASES, write_fixtures

    written = write_fixtures(args.out, overwrite=args.overwrite)
    print(f"wrote {len(written)} files in {args.out}: {len(CASES)} full-resolution cases "
          f"({', '.join(CASES)}), packing/, manifests/, metrics.json, latency.json")
    return 0


def _report(up, copied: bool) -> None:
    size_mb = up.local.stat().st_size / 2**20
    print(f"{'pushed' if copied else 'up to date':<11}{up.local.name} ({size_mb:.1f} MB)")


def _push_ios(args: argparse.Namespace) -> int:
    from toolkit.errors import CamkitError
    from toolkit.profilers.android_app import manifests_in, unique_uploads
    from toolkit.profilers.ios_app import (ARTIFACTS, Devicectl, bundle, dry_run_text, push,
                                           push_commands)

    if args.serial:
        raise CamkitError("--serial picks an Android phone; with --ios pass --device UDID")
    uploads = unique_uploads([bundle(m) for m in manifests_in(args.manifests, ("coreml",))])
    ctl = Devicectl(args.device)
    if args.dry_run:
        print(dry_run_text(push_commands(uploads, ctl), "'app push --ios' issues"), end="")
        return 0
    copied = push(uploads, ctl, _report)
    print(f"{copied} of {len(uploads)} files copied to {ARTIFACTS} in {args.device}")
    return 0


def _push(args: argparse.Namespace) -> int:
    if args.ios:
        return _push_ios(args)
    from toolkit.errors import CamkitError

    if args.device:
        raise CamkitError("--device names an iPhone (with --ios); an Android phone is picked "
                          "with --serial")
    from toolkit.profilers.android import Adb
    from toolkit.profilers.android_app import (ARTIFACTS, bundle, dry_run_text, manifests_in,
                                               push, push_commands, unique_uploads)

    uploads = unique_uploads([bundle(m) for m in manifests_in(args.manifests)])
    adb = Adb(args.serial)
    if args.dry_run:
        print(dry_run_text(push_commands(uploads, adb), "'app push' issues"), end="")
        return 0

    copied = push(uploads, adb, _report)
    print(f"{copied} of {len(uploads)} files copied to {ARTIFACTS}")
    return 0
