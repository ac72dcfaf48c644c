"""What every bad-input and fault test asserts, in one place.

``cli(...)`` runs ``camkit`` in this process (a fresh interpreter per case would cost seconds of
imports each) and turns anything that escapes ``main`` into exit 1 with the traceback in stderr,
so ``assert_one_line_error`` catches it. ``snapshot`` hashes every file under some folders, so a
test proves byte-identical pre-existing files before and after the bad call.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import traceback
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    rc: int
    out: str
    err: str


def cli(*args: str | Path) -> Result:
    """``camkit ARGS`` in-process: exit code, stdout and stderr."""
    from toolkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in args])
        except SystemExit as e:  # argparse errors exit 2 with a usage line
            rc = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001 - a traceback is exactly what the tests look for
            traceback.print_exc()
            rc = 1
    return Result(rc, out.getvalue(), err.getvalue())


def assert_one_line_error(result: Result, *needles: str, rc: int = 2) -> str:
    """Exit ``rc``, no traceback, stderr is one ``camkit: error:`` line holding every needle
    (case-insensitive); returns that line."""
    assert "Traceback" not in result.err + result.out, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("camkit: error:")]
    assert result.rc == rc, (result.rc, result.err)
    assert len(errors) == 1, result.err
    for needle in needles:
        assert needle.lower() in errors[0].lower(), (needle, errors[0])
    return errors[0]


def snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots`` (files themselves allowed), by path."""
    found: dict[str, str] = {}
    for root in map(Path, roots):
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            found[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return found
