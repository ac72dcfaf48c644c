"""``python _kill_at.py POINT camkit-args...``: run camkit and SIGKILL this process at POINT.

POINT is where an export is killed: ``early`` (the model built, nothing staged yet),
``mid-conversion`` (the second artifact's converter has written half a file), ``checking`` (the
staged set is being checked), ``before-swap`` and ``after-swap`` (the publishing rename), or
``none``. A SIGKILL runs no cleanup, exactly like the kernel's OOM killer or a CI timeout.
"""

from __future__ import annotations

import os
import signal
import sys


def die(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    from toolkit import export, publish, registry
    from toolkit.checks import gate

    if point == "early":
        export.prepare_for_export = die
    elif point == "mid-conversion":
        module = registry.format_module("onnx")
        real, calls = module.export, []

        def export_then_die(model, spec, precision, out_dir, *args, **kwargs):
            calls.append(precision)
            if len(calls) == 2:
                with open(os.path.join(out_dir, "half.onnx"), "wb") as f:
                    f.write(b"\x08\x07" * 1000)
                die()
            return real(model, spec, precision, out_dir, *args, **kwargs)

        module.export = export_then_die
    elif point == "checking":
        gate.check_artifact = die
    elif point == "before-swap":
        publish._exchange = die
    elif point == "after-swap":
        real_exchange = publish._exchange

        def swap_then_die(a, b):
            real_exchange(a, b)
            die()

        publish._exchange = swap_then_die
    elif point != "none":
        raise SystemExit(f"unknown kill point {point}")


if __name__ == "__main__":
    arm(sys.argv[1])
    from toolkit.cli import main

    sys.exit(main(sys.argv[2:]))
