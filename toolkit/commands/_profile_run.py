"""``camkit profile run``: the old spelling of the profile targets, kept for one release.

``profile run MANIFEST --on host|android|macos``, ``--static`` and ``--estimate DEVICE`` map to
``camkit profile host|android|macos|static|estimate``: the same handler with the same values,
after one ``camkit: note:`` line on stderr. The old parser takes every target's options; an
option the chosen target does not take is refused here by comparing the two parsers (no
per-option checks). Delete this file and its two uses in profile.py in the next release.
"""

from __future__ import annotations

import argparse
import sys

from toolkit.errors import CamkitError

#: the selector each target had in the old spelling
OLD = {"host": "--on host", "android": "--on android", "android-app": "--on android-app",
       "ios-app": "--on ios-app", "macos": "--on macos",
       "static": "--static", "estimate": "--estimate DEVICE"}
#: options the old spelling accepted and ignored with these targets (the new ones refuse them)
IGNORED = {"static": ("runs", "warmup"), "estimate": ("runs", "warmup")}
#: the options that chose the target (not passed on)
SELECTORS = ("on", "static", "estimate")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The old parser: every target's options, the target chosen by --on, --static or
    --estimate."""
    from toolkit.commands import profile

    profile.add_manifest(p)
    p.add_argument("--on", choices=["host", "android", "android-app", "ios-app", "macos"],
                   help="where to run: host, android, android-app, ios-app or macos (now "
                   "'camkit profile host|android|android-app|ios-app|macos')")
    profile.add_threads(p)
    profile.add_runs(p)
    profile.add_kernels(p)
    profile.add_json(p)
    p.add_argument("--static", action="store_true",
                   help="instead of --on: the static op report (now 'camkit profile static')")
    p.add_argument("--estimate", metavar="DEVICE",
                   help="instead of --on: a roofline estimate for DEVICE (now 'camkit profile "
                   "estimate --device DEVICE')")
    profile.add_calibrate(p)
    profile.add_compute_units(p.add_argument_group("--on macos"))
    profile.add_android(p.add_argument_group("--on android"), required=False)
    profile.add_android_app(p.add_argument_group("--on android-app, --on ios-app"))
    p.add_argument_group("--on ios-app").add_argument(
        "--device", metavar="UDID", help="the iPhone (xcrun devicectl list devices)")


def add_parser(sub) -> None:
    """``profile run`` on the profile subparsers, without help= so --help does not list it."""
    p = sub.add_parser(
        "run", description="Deprecated: use 'camkit profile host', 'android', 'macos', "
        "'static' or 'estimate' (see 'camkit profile --help'); 'profile run' will be removed in "
        "the next release.")
    add_arguments(p)


def run(args: argparse.Namespace) -> int:
    from toolkit.commands import profile

    target = _target(args)
    values = _translate(args, target)
    new = f"camkit profile {target}" + (" --device DEVICE" if target == "estimate" else "")
    print(f"camkit: note: 'camkit profile run {OLD[target]}' is deprecated; use '{new}' (it "
          f"will be removed in the next release)", file=sys.stderr)
    return profile.ACTIONS[target].run(values)


def _target(args: argparse.Namespace) -> str:
    chosen = [name for name, given in (("static", args.static),
                                       ("estimate", args.estimate is not None)) if given]
    if args.on is not None:
        chosen.append(args.on)
    if len(chosen) != 1:
        raise CamkitError("profile run needs exactly one of --on host|android|android-app|"
                          "ios-app|macos, --static or --estimate DEVICE; better, use the new "
                          "spelling: camkit profile host|android|android-app|ios-app|macos|"
                          "static|estimate MANIFEST")
    return chosen[0]


def _parser(target: str | None) -> argparse.ArgumentParser:
    """A standalone parser of ``profile TARGET`` (of ``profile run`` when None)."""
    from toolkit.commands import profile

    p = argparse.ArgumentParser(prog=f"camkit profile {target or 'run'}")
    (profile.ACTIONS[target].add_arguments if target else add_arguments)(p)
    return p


def _translate(args: argparse.Namespace, target: str) -> argparse.Namespace:
    """The namespace ``camkit profile TARGET`` would have parsed from the same options;
    refuses an option TARGET does not take, and a missing option it requires."""
    new = {a.dest: a for a in _parser(target)._actions if a.dest != "help"}
    for action in _parser(None)._actions:
        if action.dest in ("help", *SELECTORS, *IGNORED.get(target, ())) or action.dest in new:
            continue
        if getattr(args, action.dest) != action.default:
            owners = [t for t in OLD if t != target and action.dest in
                      {a.dest for a in _parser(t)._actions}]
            raise CamkitError(f"{action.option_strings[0]} applies to "
                              f"{', '.join(OLD[t] for t in owners)} (camkit profile "
                              f"{'|'.join(owners)}), not to {OLD[target]}; drop it")
    values = {dest: getattr(args, dest) for dest in new}
    if target == "estimate":
        values["device"] = args.estimate
    missing = [a.option_strings[0] for dest, a in new.items() if a.required and
               values[dest] is None]
    if missing:
        raise CamkitError(f"{OLD[target]} needs {' and '.join(missing)}; see 'camkit profile "
                          f"{target} --help'")
    return argparse.Namespace(**values, command=args.command, profile_command=target,
                              argv=args.argv)
