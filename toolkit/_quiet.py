"""Keep converter noise out of the CLI's output.

coremltools, litert-torch, torchao, absl and onnxruntime print warnings and progress to Python
warnings, logging, and straight to file descriptors 1 and 2 from C++. ``quiet()`` silences all
three for the duration of a block; if the block fails, what was printed is kept in
``QuietLog.text`` so the error can say where to look instead of losing it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

#: environment settings that stop C++ logging in TF/absl-based runtimes before they load
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "GLOG_minloglevel": "3",
    "ABSL_MIN_LOG_LEVEL": "3",
    "TORCH_CPP_LOG_LEVEL": "ERROR",
}


def quiet_environment() -> None:
    """Set the logging variables (without overriding a user's own choice)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


@dataclass
class QuietLog:
    text: str = ""


@contextmanager
def quiet(enabled: bool = True) -> Iterator[QuietLog]:
    """Silence warnings, logging and fd 1/2 output inside the block (no-op if not enabled)."""
    log = QuietLog()
    if not enabled or os.environ.get("CAMKIT_VERBOSE"):
        yield log
        return
    quiet_environment()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    previous_disable = logging.root.manager.disable
    with tempfile.TemporaryFile(mode="w+b") as sink, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        # Python-level writers (tqdm, print) whose sys.stdout/stderr is not fd 1/2 (pytest's
        # capture, Jupyter) go to the same sink.
        py_sink = open(os.dup(sink.fileno()), "w", buffering=1, errors="replace")
        streams = contextlib.ExitStack()
        streams.enter_context(py_sink)
        streams.enter_context(contextlib.redirect_stdout(py_sink))
        streams.enter_context(contextlib.redirect_stderr(py_sink))
        try:
            yield log
        finally:
            streams.close()
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            logging.disable(previous_disable)
            sink.seek(0)
            log.text = sink.read().decode(errors="replace")
