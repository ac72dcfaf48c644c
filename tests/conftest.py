"""Shared fixtures. Tests run on data the repo ships or generates; ../shared/data is optional."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# camkit writes what it makes for a user (camkit calib build sets) to a per-user folder
# (toolkit/paths.py); the tests get their own, so they never touch the developer's
# (subprocesses inherit it)
os.environ["CAMKIT_DATA_DIR"] = tempfile.mkdtemp(prefix="camkit-test-data-")


def shared_path(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/data sits beside the repo on dev machines and CI)")
    return path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the camkit CLI in a fresh process, as a user would."""
    env = dict(os.environ, PYTHONWARNINGS="default")
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *args],
        capture_output=True, text=True, cwd=cwd or REPO, env=env, timeout=600,
    )


def _tiny_fp32(tmp_path_factory, fmt: str, runtime: str) -> Path:
    """One exported tiny CSRNet fp32 artifact of ``fmt`` (random weights); its manifest."""
    pytest.importorskip(runtime)
    from toolkit.export import export_artifacts, make_spec, resolve_weights

    out = tmp_path_factory.mktemp(f"tiny_{fmt}")
    spec = make_spec("retouch_csrnet", "tiny", None, "nchw", False)
    weights = resolve_weights("retouch_csrnet", "tiny", None, True)
    [manifest] = export_artifacts(spec, weights, [fmt], ["fp32"], out, progress=False)
    return manifest


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> Path:
    """Tiny CSRNet ONNX fp32 (random weights), shared by CLI, check and profiler tests."""
    return _tiny_fp32(tmp_path_factory, "onnx", "onnxruntime")


@pytest.fixture(scope="session")
def tiny_litert(tmp_path_factory) -> Path:
    """Tiny CSRNet LiteRT fp32 (random weights), shared by the profiler tests."""
    return _tiny_fp32(tmp_path_factory, "litert", "ai_edge_litert")


@pytest.fixture
def one_thread():
    """Small models train fastest on one thread (and a busy CI box does not thrash); a test module
    opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
