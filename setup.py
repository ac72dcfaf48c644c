"""The wheel carries camkit's data: calibration/ and recipes/ are copied into toolkit/_bundled/
at build time, so an installed camkit is whole (toolkit/paths.py finds them there; in a clone
or an editable install they are read from the repository root). Everything else is in
pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = ("calibration", "recipes")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


class BuildPyWithData(build_py):
    """build_py, then calibration/ and recipes/ into <build>/toolkit/_bundled/ (not in
    editable mode: there the repository root is read directly)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "toolkit" / "_bundled"
        for name in BUNDLED:
            source = HERE / name
            if not source.is_dir():
                raise SystemExit(f"{source} is missing: build the wheel from a full checkout "
                                 f"or from the sdist")
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(source, target / name, ignore=SKIP)


setup(cmdclass={"build_py": BuildPyWithData})
