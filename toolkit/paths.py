"""Where camkit's bundled data and the user's own data live.

camkit ships two folders of data beside its code: ``calibration/`` (the calibration sets every
quantized export and the demo read) and ``recipes/`` (the training recipes). In a clone, or an
editable install, they sit at the repository root. A wheel carries them inside the package, in
``toolkit/_bundled/`` (setup.py copies them there at build time), so an installed camkit is
whole: ``pip install camkit`` and every command works from any folder.

What the user makes (``camkit calib build`` sets) goes to a per-user folder, never into the
package (which may be read-only, and is replaced by every upgrade):

* ``$CAMKIT_DATA_DIR`` when set;
* else ``$XDG_DATA_HOME/camkit`` when that is set (Linux and friends);
* else ``~/Library/Application Support/camkit`` on macOS, ``%LOCALAPPDATA%\\camkit`` on Windows,
  ``~/.local/share/camkit`` elsewhere.

Everything here is cheap (no imports beyond the standard library) and read at call time, so an
environment variable set after import still counts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
#: the folder a wheel's build copies calibration/ and recipes/ into
BUNDLED_DIR = _PACKAGE / "_bundled"


def bundled_root() -> Path:
    """The folder holding the shipped ``calibration/`` and ``recipes/``: ``toolkit/_bundled``
    in an installed wheel, the repository root in a clone or an editable install."""
    return BUNDLED_DIR if BUNDLED_DIR.is_dir() else _PACKAGE.parent


def shipped_calibration_root() -> Path:
    """The calibration sets camkit ships (read-only for camkit: never written to)."""
    return bundled_root() / "calibration"


def recipes_root() -> Path:
    """The shipped training recipes: ``<root>/recipes/<model_id>/<variant>.yaml``."""
    return bundled_root() / "recipes"


def user_data_dir() -> Path:
    """The per-user folder for what camkit makes on the user's behalf (module docstring)."""
    explicit = os.environ.get("CAMKIT_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg).expanduser() / "camkit"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "camkit"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "camkit"
    return Path.home() / ".local" / "share" / "camkit"


def user_calibration_root() -> Path:
    """Where ``camkit calib build`` writes a set by default, and ``--calib NAME`` looks second."""
    return user_data_dir() / "calibration"
