"""docs/python_api.md stays true: its example runs as written, from an unrelated folder."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import REPO


def test_the_documented_example_runs(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("ai_edge_litert")
    text = (REPO / "docs" / "python_api.md").read_text()
    [example] = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    script = tmp_path / "example.py"
    script.write_text(example)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
           "CAMKIT_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "onnx w8a8" in result.stdout and "worst parity" in result.stdout
    assert "error: unknown model 'retouch_csrnt'" in result.stdout
