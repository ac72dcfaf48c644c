"""``camkit(...)`` for the benchmark scripts: run the CLI from the repo root, echo the command,
stop the script on an unexpected exit code, return the argv for the report's command list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def camkit(*args: str, ok=(0,), show_output: bool = False) -> list[str]:
    argv = ["camkit", *args]
    print("$", " ".join(argv), file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, "-m", "toolkit.cli", *args], cwd=REPO,
                          stdout=None if show_output else subprocess.DEVNULL)
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}")
    return argv
