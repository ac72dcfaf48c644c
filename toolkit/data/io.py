"""Reading and writing photos as float32 arrays in [0, 1], with one-line errors for bad files.

Arrays are HWC (height, width, channels) float32 here; models take NCHW tensors, converters may
take NHWC: ``to_layout`` does the batch/layout step in one place.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from toolkit.errors import CamkitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_GREY_MODES = ("L", "1", "LA", "I", "I;16", "F")


def list_images(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise CamkitError(f"{folder} is not a folder of images")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path, channels: int = 3) -> np.ndarray:
    """HWC float32 in [0, 1]. ``channels`` 3 (RGB) or 1 (grey: masks, edges)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if channels == 1:
                arr = np.asarray(im.convert("L"), dtype=np.float32)[..., None]
            elif im.mode in _GREY_MODES:
                raise CamkitError(
                    f"{path} has 1 channel (mode {im.mode}), the model wants {channels} (RGB); "
                    f"convert it to RGB first"
                )
            else:
                arr = np.asarray(im.convert("RGB"), dtype=np.float32)
    except FileNotFoundError:
        raise CamkitError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CamkitError(f"cannot read {path} as an image ({e}); is it corrupt or truncated?") from None
    return arr / 255.0


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_image(path: Path, image: np.ndarray) -> None:
    """Write an HWC [0, 1] array as PNG/JPEG (by suffix), atomically."""
    from PIL import Image

    from toolkit.artifacts import atomic_write_bytes

    path = Path(path)
    arr = to_uint8(image)
    if arr.shape[-1] == 1:
        arr = arr[..., 0]
    buf = io.BytesIO()
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    Image.fromarray(arr).save(buf, format=fmt, quality=92)
    atomic_write_bytes(path, buf.getvalue())


def resize_cover(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale so the image covers height x width, then centre-crop: no distortion, no padding."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = max(height / h, width / w)
    nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
    pil = Image.fromarray(to_uint8(image) if image.shape[-1] == 3 else to_uint8(image)[..., 0])
    arr = np.asarray(pil.resize((nw, nh), Image.BICUBIC), dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[..., None]
    top, left = (nh - height) // 2, (nw - width) // 2
    return arr[top : top + height, left : left + width]


def to_layout(image_hwc: np.ndarray, layout: str) -> np.ndarray:
    """HWC image -> batch-1 array in ``layout`` (nchw or nhwc), float32, contiguous."""
    batched = image_hwc[None] if layout == "nhwc" else image_hwc.transpose(2, 0, 1)[None]
    return np.ascontiguousarray(batched, dtype=np.float32)


def from_layout(batch: np.ndarray, layout: str) -> np.ndarray:
    """Batch-1 array in ``layout`` -> HWC image."""
    return batch[0] if layout == "nhwc" else batch[0].transpose(1, 2, 0)


def paired_files(root: Path) -> list[tuple[Path, Path]]:
    """(input, target) pairs of a paired folder, in one of two layouts:

    * ``root/input/NAME`` and ``root/target/NAME``; names match by stem, so ``input/a.png``
      pairs with ``target/a.jpg`` (FiveK-style exports often change the suffix);
    * flat, GoPro/DeepDeblur naming: ``root/NAME_blurK.png`` with ``root/NAME_sharpK.png``
      (the input is the blurry one).

    Every file must have its partner.
    """
    root = Path(root)
    inputs, targets = root / "input", root / "target"
    if not inputs.is_dir() or not targets.is_dir():
        if root.is_dir() and any(_BLUR_NAME.match(p.stem) for p in list_images(root)):
            return _blur_sharp_files(root)
        raise CamkitError(
            f"{root} is not a paired folder: it needs input/ and target/ subfolders, or "
            f"NAME_blurK / NAME_sharpK images side by side (GoPro naming)"
        )
    by_stem_in, by_stem_out = _by_stem(list_images(inputs)), _by_stem(list_images(targets))
    only_in = sorted(set(by_stem_in) - set(by_stem_out))
    only_out = sorted(set(by_stem_out) - set(by_stem_in))
    if only_in or only_out:
        raise CamkitError(
            f"{root}: input/ and target/ must hold the same names; only in input/: "
            f"{_few(only_in)}; only in target/: {_few(only_out)}"
        )
    if not by_stem_in:
        raise CamkitError(f"{inputs} holds no images (.png, .jpg, ...)")
    return [(by_stem_in[stem], by_stem_out[stem]) for stem in sorted(by_stem_in)]


_BLUR_NAME = re.compile(r"^(?P<name>.+)_blur(?P<k>\d*)$")
_SHARP_NAME = re.compile(r"^(?P<name>.+)_sharp(?P<k>\d*)$")


def _blur_sharp_files(root: Path) -> list[tuple[Path, Path]]:
    blurry, sharp = {}, {}
    for path in list_images(root):
        for pattern, found in ((_BLUR_NAME, blurry), (_SHARP_NAME, sharp)):
            match = pattern.match(path.stem)
            if match:
                key = (match["name"], match["k"])
                if key in found:
                    raise CamkitError(f"{root} holds two images for {path.stem}; keep one")
                found[key] = path
    missing = sorted(set(blurry) ^ set(sharp))
    if missing:
        name, k = missing[0]
        raise CamkitError(
            f"{root}: {name}_blur{k} and {name}_sharp{k} must both exist "
            f"({len(missing)} image(s) without a partner)"
        )
    return [(blurry[key], sharp[key]) for key in sorted(blurry)]


def masked_files(root: Path) -> list[tuple[Path, Path]]:
    """(image, mask) pairs of an inpainting folder: ``root/images/NAME`` and
    ``root/masks/NAME`` (same stems; in a mask, white = hole)."""
    root = Path(root)
    images, masks = root / "images", root / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise CamkitError(
            f"{root} is not an inpainting folder: it needs images/ and masks/ subfolders "
            f"(same names; white = hole)"
        )
    by_image, by_mask = _by_stem(list_images(images)), _by_stem(list_images(masks))
    missing = sorted(set(by_image) ^ set(by_mask))
    if missing:
        raise CamkitError(f"{root}: images/ and masks/ must hold the same names; unmatched: "
                          f"{_few(missing)}")
    if not by_image:
        raise CamkitError(f"{images} holds no images (.png, .jpg, ...)")
    return [(by_image[stem], by_mask[stem]) for stem in sorted(by_image)]


def _by_stem(files: list[Path]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in files:
        if path.stem in out:
            raise CamkitError(f"{path.parent} holds both {out[path.stem].name} and {path.name}")
        out[path.stem] = path
    return out


def _few(names: list[str]) -> str:
    if not names:
        return "none"
    return ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
