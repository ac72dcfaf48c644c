"""Rewrite calibration/photos_pd_blur bit for bit: the five photos_pd photos in the known blur.

INT8 calibration of a deblurrer must see what it will be fed: blurry photos. Each photo of
calibration/photos_pd is blurred at its own size by ``toolkit.data.blur.blur_photo`` with the
known domain (``KNOWN_BLUR``) and read noise ``DEFAULT_NOISE_SIGMA`` from
``numpy.random.default_rng(seed)`` (the kernel is ``kernel_for(seed)``; the noise follows on the
same generator), and saved as 8-bit PNG; manifest.json lists file, sha256, source and the
source photo's licence. tests/test_blur.py checks that this script reproduces the folder.

    OMP_NUM_THREADS=1 .venv/bin/python calibration/photos_pd_blur/regenerate.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "photos_pd"
#: source file -> kernel seed (fixed forever: changing one changes the calibration set)
SEEDS = {
    "astronaut.png": 7001,
    "chelsea.png": 7002,
    "coffee.png": 7003,
    "rocket.jpg": 7004,
    "hubble_deep_field.jpg": 7005,
}


def regenerate(out: Path) -> dict:
    """Write the PNGs and manifest.json into ``out``; returns the manifest."""
    import numpy as np

    sys.path.insert(0, str(HERE.parents[1]))
    from toolkit.data.blur import DEFAULT_NOISE_SIGMA, KNOWN_BLUR, blur_photo
    from toolkit.data.io import read_image, write_image

    source = json.loads((SOURCE / "manifest.json").read_text())
    licenses = {e["file"]: e["license"] for e in source["files"]}
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, seed in SEEDS.items():
        image = read_image(SOURCE / name)
        blurry, _ = blur_photo(image, np.random.default_rng(seed), KNOWN_BLUR, DEFAULT_NOISE_SIGMA)
        target = out / (Path(name).stem + ".png")
        write_image(target, blurry)
        files.append({
            "file": target.name,
            "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
            "source": f"photos_pd/{name} blurred with toolkit.data.blur kernel seed {seed} "
                      f"(blur_photo, KNOWN_BLUR, read noise sigma {DEFAULT_NOISE_SIGMA})",
            "license": licenses[name],
        })
    manifest = {
        "name": "photos_pd_blur",
        "description": "The five photos_pd photos, each blurred at its own size by one seeded "
        "camera-shake kernel of the known blur domain (toolkit.data.blur.KNOWN_BLUR) plus read "
        "noise: the INT8 calibration and sample inputs of deblur_nafnet. Rewritten bit for bit "
        "by regenerate.py.",
        "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write (default: here)")
    regenerate(parser.parse_args().out)


if __name__ == "__main__":
    main()
