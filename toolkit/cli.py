"""camkit: train a camera-pipeline model, export it to phone formats, prove the artifacts.

The CLI is a thin shell: each command is one module under toolkit/commands/ (its parser and its
handler, found by file name as formats are). Here: camkit's argparse ``Parser`` (one-line errors,
the nearest option suggested), the top-level help, ``build_parser`` assembling the commands and
``main`` (external models resolved, errors turned into one ``camkit: error:`` line).

Every subcommand validates names against the registry (unknown -> nearest suggestion), prints
one-line errors without traceback (exit 2), and keeps converter noise out of the output.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from toolkit import __version__
from toolkit._quiet import quiet_environment
from toolkit.commands._common import os_error_message  # noqa: F401 - tests import it here
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
  camkit profile host artifacts/.../m.onnx.manifest.json --json host.json
                                                host-CPU latency (a proxy) as a profile result
  camkit profile parse --tool benchmark_model run.txt --json run.json
                                                a phone's benchmark output as a profile result
  camkit profile android m.tflite.manifest.json --tool benchmark_model --binary B
                                                your tool build B on a phone over adb, parsed
  camkit profile macos m.mlpackage.manifest.json
                                                Core ML per compute unit on this Mac
  camkit profile static artifacts/.../m.onnx.manifest.json
                                                per-op MACs, params, peak memory, CPU fallbacks
  camkit profile estimate m.onnx.manifest.json --device host_x86_avx2 [--calibrate r/*.json]
                                                roofline latency estimate with its uncertainty
  camkit profile compare a.json b.json          results side by side (one kind at a time)
  camkit report artifacts/                      accuracy + latency tables, PSNR-vs-latency plot
your own model:
  camkit new-model my_isp --task enhance        a model folder that exports, trains and checks
  camkit export ./my_isp --random-weights       any command takes a model folder's path;
  camkit list --models DIR                      CAMKIT_MODEL_PATH=DIR[:DIR] and installed
                                                plugins (entry points 'camkit.models') too

Set CAMKIT_VERBOSE=1 to see converter logs. Docs: README.md and docs/ in the source tree
(commands.md: every command; formats, int8, checks, profiling, training, python_api).
"""


class Parser(argparse.ArgumentParser):
    """argparse with camkit's errors: one ``camkit: error:`` line and exit 2; an unknown option
    names the nearest option of the (sub)command it was given to.

    ``add_arguments`` (a command module's) is deferred until this parser parses or formats its
    help, so ``camkit list`` builds one command's arguments, not every command's."""

    def __init__(self, *args, add_arguments=None, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._add_arguments = add_arguments

    def with_arguments(self) -> Parser:
        """This parser with its deferred arguments added (once)."""
        if self._add_arguments is not None:
            add, self._add_arguments = self._add_arguments, None
            add(self)
        return self

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201
        return super(Parser, self.with_arguments()).parse_known_args(args, namespace)

    def format_usage(self) -> str:
        return super(Parser, self.with_arguments()).format_usage()

    def format_help(self) -> str:
        return super(Parser, self.with_arguments()).format_help()

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
            parser, siblings = self._command_parser(known)
            word = next((a for a in extras if a.startswith("-")), extras[0])
            hint = ""
            if word.startswith("-"):
                flag = word.split("=", 1)[0]
                # another command's option: say whose (when few have it); else a typo's fix
                owners = [f"'{p.prog}'" for p in siblings
                          if p is not parser and flag in _options(p)]
                if not owners:
                    hint = suggest(flag, _options(parser))
                elif len(owners) <= 3:
                    hint = f" (an option of {', '.join(owners)})"
            parser.error(f"unrecognized argument {word}{hint}")
        return known

    def _command_parser(self, known: argparse.Namespace) -> tuple[Parser, list[Parser]]:
        """The (sub)command parser ``known`` was parsed by (the innermost one chosen), and the
        commands listed beside it (its siblings and itself; none at the top)."""
        parser, siblings = self, []
        while True:
            sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
                       None)
            chosen = None if sub is None else sub.choices.get(getattr(known, sub.dest, None))
            if chosen is None:
                return parser, siblings
            parser, siblings = chosen, [sub.choices[a.dest] for a in sub._choices_actions]


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string of ``parser`` (its deferred arguments added)."""
    if isinstance(parser, Parser):
        parser.with_arguments()
    return [o for a in parser._actions for o in a.option_strings]


def build_parser() -> argparse.ArgumentParser:
    """camkit's parser: one subparser per command module (toolkit/commands/*.py), named by its
    NAME, listed with its HELP, its arguments added by its add_arguments when it is used."""
    from toolkit import commands

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
    for name in commands.command_names():
        module = commands.command_module(name)
        sub.add_parser(module.NAME, help=module.HELP, add_arguments=module.add_arguments)
    return parser


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
    from toolkit.commands import command_module

    quiet_environment()
    args = build_parser().parse_args(argv)
    #: the exact command line, for results that record it (camkit profile)
    args.argv = ["camkit", *(sys.argv[1:] if argv is None else argv)]
    try:
        _resolve_models(args)
        return command_module(args.command).run(args)
    except CamkitError as e:
        print(f"camkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("camkit: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # full disk, read-only folder, a file where a folder should be, ...
        print(f"camkit: error: {os_error_message(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
