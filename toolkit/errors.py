"""One exception type for every user-facing failure.

The CLI prints ``CamkitError`` as a single line (``error: ...``) and exits non-zero, so every
message here must name the problem *and* the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CamkitError(Exception):
    """A user-facing error: bad input, missing extra, broken budget. Printed without traceback."""


def suggest(word: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' for the nearest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown(kind: str, word: str, choices: Iterable[str]) -> CamkitError:
    """Error for an unknown name, with the nearest suggestion and the full list."""
    choices = sorted(choices)
    return CamkitError(
        f"unknown {kind} '{word}'{suggest(word, choices)}; choose from: {', '.join(choices)}"
    )


def check_count(name: str, value: int | None) -> None:
    """Refuse a count below 1 (``None`` means all): a slice ``[:-1]`` would silently drop items."""
    if value is not None and value < 1:
        raise CamkitError(f"{name} must be at least 1 (or left out for all), got {value}")


def missing_extra(package: str, extra: str) -> CamkitError:
    """Error for an optional dependency that is not installed."""
    return CamkitError(
        f"{package} is not installed; install it with: pip install 'camkit[{extra}]'"
    )
