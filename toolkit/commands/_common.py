"""What several commands share: argument types and options, the checks' printout, the profile
printout, and the one-line text of an operating-system error. Light imports only (every command
imports this to build the parser)."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.errors import CamkitError


def csv_list(text: str) -> list[str]:
    """The items of a comma list such as ``--format onnx,litert``, blanks dropped."""
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


def models_option(p: argparse.ArgumentParser, extra: str = "") -> None:
    """--models DIR: folders of the user's own models, for every command that names a model
    (cli._resolve_models adds them to the registry before the command runs)."""
    p.add_argument("--models", action="append", type=Path, metavar="DIR", default=[],
                   help="a folder of your own models (a model folder, or a folder of them) to "
                   "know besides the built-in ones, CAMKIT_MODEL_PATH's and installed plugins'; "
                   "repeatable" + extra)


def run_checks(target, data, out, max_images, only=None, max_drop_db=None, baselines=True,
               psf=None, accept_stored_sample=False, quiet_paths=False) -> int:
    """``camkit check``'s work (also export's gate): the checks, their table on stdout, the
    report paths; exit status 1 when any budget is broken."""
    from toolkit.checks.gate import run_checks as gate_checks
    from toolkit.checks.report import markdown

    if max_drop_db is not None and data is None:
        raise CamkitError("--max-drop-db budgets the task drop, which needs --data PAIRED_DIR")
    results, paths = gate_checks(target, data, out, max_images, only=only,
                                 max_drop_db=max_drop_db, baselines=baselines, psf=psf,
                                 accept_stored_sample=accept_stored_sample)
    print(markdown(results), end="")
    if not quiet_paths:
        print(f"reports: {paths['json']}, {paths['junit']}, {paths['markdown']}")
    return 0 if all(r.passed for r in results) else 1


def print_kept_float(manifest_path: Path) -> None:
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


def emit_profile(result, json_path: Path | None, extra: str = "") -> None:
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
