"""The CLI's commands: one module per command, its parser and its handler (as formats are).

A command is a file ``toolkit/commands/<command>.py`` (``-`` in the command is ``_`` in the
file name; files starting with ``_`` are helpers, not commands), found by file name the way
``registry.format_names`` finds formats. Every command module has the same names:

    NAME = "import-weights"             the word after ``camkit``
    HELP = "..."                        its one line in ``camkit --help``
    def add_arguments(parser): ...      its arguments (and description and epilog)
    def run(args) -> int: ...           the handler: does the work, returns the exit status

Command modules import only argparse, pathlib and toolkit's light modules at the top; heavy
libraries are imported inside ``run`` (and the helpers it calls), so ``camkit --help``, which
imports every command to build the parser, stays as fast as it was.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

COMMANDS_DIR = Path(__file__).parent

#: the order of ``camkit --help``: the typical flow first; a command not named here follows
#: these, by name, so a new file shows up without an edit here
ORDER = ("list", "export", "check", "train", "import-weights", "calib", "profile", "report",
         "run", "new-model", "demo", "app")


def command_names() -> list[str]:
    """Every command on disk (one per ``toolkit/commands/*.py`` not starting with ``_``), in
    ``camkit --help`` order."""
    found = [p.stem.replace("_", "-") for p in COMMANDS_DIR.glob("*.py")
             if not p.stem.startswith("_")]
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(found, key=lambda name: (rank.get(name, len(ORDER)), name))


def command_module(name: str) -> ModuleType:
    """The module of command ``name`` (``import-weights`` -> ``import_weights.py``)."""
    return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
