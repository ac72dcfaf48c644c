"""`camkit check --full-res`: a tiled artifact by its plan at 12 MP equals the whole-photo
model (exact margin), seam bands are where the tiles meet, and small photos are refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from toolkit.checks.fullres import seam_mask


def test_seam_bands_follow_the_blend_zones():
    """Tile rows start at 0, 44, 88 and columns at 0, 76, 104 (150x200 padded to 152x200, step
    44 and 76 on the align-4 grid): the bands are each blend zone (origin + margin, blend px
    wide) widened by 4 px on both sides."""
    plan = {"version": 1, "strategy": "tiles", "tile": [64, 96], "margin": 6, "blend": 8,
            "align": 4}
    band = seam_mask(150, 200, plan)
    rows = np.zeros(150, bool)
    rows[46:62] = rows[90:106] = True
    cols = np.zeros(200, bool)
    cols[78:94] = cols[106:122] = True
    assert np.array_equal(band, rows[:, None] | cols[None, :])


def test_a_tiled_artifact_at_12_mp_matches_the_whole_photo(tmp_path):
    pytest.importorskip("onnxruntime")
    exported = run_cli("export", "enhance_dense_unet", "--variant", "tiny", "--format", "onnx",
                       "--precision", "fp32", "--size", "256x384", "--random-weights",
                       "--out", str(tmp_path / "art"), "--no-check")
    assert exported.returncode == 0, exported.stderr
    folder = tmp_path / "art" / "enhance_dense_unet" / "tiny"
    checked = run_cli("check", "--full-res", str(folder), "--max-images", "1")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    row = next(line for line in (folder / "full_res.md").read_text().splitlines()
               if line.startswith("| enhance_dense_unet-tiny"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "tiles" and int(cells[3]) > 100  # many tiles over 4032x3024
    assert float(cells[4]) > 60 and float(cells[5]) > 60 and cells[-1] == "pass"

    small = tmp_path / "small"
    small.mkdir()
    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(small / "s.png")
    refused = run_cli("check", "--full-res", str(folder), "--data", str(small))
    assert refused.returncode == 2 and "at least 12 MP" in refused.stderr
    assert refused.stderr.count("\n") == 1
