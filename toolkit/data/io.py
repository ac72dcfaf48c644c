"""Reading and writing photos as float32 arrays in [0, 1], with one-line errors for bad files.

Arrays are HWC (height, width, channels) float32 here; models take NCHW tensors, converters may
take NHWC: ``to_layout`` does the batch/layout step in one place.
"""

from __future__ import annotations

import contextlib
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
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except PermissionError:
        raise CamkitError(f"cannot list {folder}: permission denied; make it readable "
                          f"(chmod a+rX) or copy the photos somewhere you can read") from None


#: camkit's own decompression-bomb guard, in pixels: PIL's default warns at 89 MP and fails at
#: 179 MP, below what phone cameras take (200 MP sensors), so read_image lifts it to this
MAX_IMAGE_PIXELS = 250_000_000
#: EXIF orientations (1..8) that swap width and height
_SWAPS_SIDES = (5, 6, 7, 8)


def read_image(
    path: Path,
    channels: int = 3,
    cover: tuple[int, int] | None = None,
    crop: tuple[int, int] | None = None,
) -> np.ndarray:
    """HWC float32 in [0, 1], upright (the EXIF orientation applied). ``channels`` 3 (RGB) or 1
    (grey: masks, edges).

    For callers that need less than the whole photo (give at most one of them):

    * ``cover=(height, width)`` scales the photo down on load, never up, to the smallest size
      that still covers height x width with its aspect kept (the size ``resize_cover`` scales
      to before its centre crop). A JPEG is decoded at 1/2, 1/4 or 1/8 scale by the decoder
      itself (``Image.draft``), other formats are reduced by an integer factor before the final
      bicubic step (``reducing_gap``), both keeping at least twice the final size, so a 200 MP
      photo never becomes a full-size float array.
    * ``crop=(height, width)`` centre-crops a photo at least that large at full resolution;
      the rest of the decoded pixels are dropped before the conversion to float. A smaller
      photo comes back whole.
    """
    from PIL import Image, ImageOps

    path = Path(path)
    with _open(path) as im:
        if channels != 1 and im.mode in _GREY_MODES:
            raise CamkitError(
                f"{path} has 1 channel (mode {im.mode}), the model wants {channels} (RGB); "
                f"convert it to RGB first"
            )
        scaled = None
        if cover is not None:
            scaled = _cover_size(upright_size(im), cover)
            if scaled is not None:
                wanted = scaled[::-1] if _orientation(im) in _SWAPS_SIDES else scaled
                im.draft(None, (2 * wanted[0], 2 * wanted[1]))  # JPEG only; a no-op elsewhere
        im.load()
        ImageOps.exif_transpose(im, in_place=True)
        if crop is not None and im.height >= crop[0] and im.width >= crop[1]:
            top, left = (im.height - crop[0]) // 2, (im.width - crop[1]) // 2
            im = im.crop((left, top, left + crop[1], top + crop[0]))
        mode = "L" if channels == 1 else "RGB"
        if im.mode != mode:
            im = im.convert(mode)
        if scaled is not None:
            im = im.resize(scaled, Image.BICUBIC, reducing_gap=2.0)
        arr = np.asarray(im, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    return arr / 255.0


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file as ``read_image`` returns it (EXIF orientation applied),
    from its header: nothing is decoded."""
    with _open(Path(path)) as im:
        width, height = upright_size(im)
    return height, width


def upright_size(im) -> tuple[int, int]:
    """(width, height) of an opened PIL image once its EXIF orientation is applied."""
    return im.size[::-1] if _orientation(im) in _SWAPS_SIDES else im.size


def _orientation(im) -> int:
    """The EXIF orientation (1 = upright) of an opened, not necessarily decoded, image."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1  # asking PIL would decode the whole PNG to look for an eXIf chunk after the pixels
    orientation = im.getexif().get(0x0112, 1)
    return orientation if orientation in range(1, 9) else 1


def _cover_size(size_wh: tuple[int, int], cover_hw: tuple[int, int]) -> tuple[int, int] | None:
    """(width, height) that covers ``cover_hw`` (as resize_cover scales), or None when the image
    is not larger than that (read_image never scales up)."""
    w, h = size_wh
    height, width = cover_hw
    scale = max(height / h, width / w)
    if scale >= 1:
        return None
    return max(width, round(w * scale)), max(height, round(h * scale))


@contextlib.contextmanager
def _open(path: Path):
    """The PIL image of ``path`` (header read, pixels not yet decoded) under camkit's pixel
    limit instead of PIL's; every failure to read it, now or while decoding, is a one-line
    CamkitError."""
    from PIL import Image, UnidentifiedImageError

    try:
        pil_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # checked just below
        try:
            opened = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = pil_limit
        with opened as im:
            width, height = im.size
            if width * height > MAX_IMAGE_PIXELS:
                raise _too_many_pixels(path, width, height)
            yield im
    except FileNotFoundError:
        raise CamkitError(f"image {path} does not exist") from None
    except PermissionError:
        raise CamkitError(f"cannot read {path}: permission denied; make it readable "
                          f"(chmod a+r) or copy it somewhere you can read") from None
    except Image.DecompressionBombError as e:  # PIL's guard, should another thread restore it
        raise CamkitError(f"{path} is too large to read ({e}); scale it down first (e.g. to "
                          f"8000 px on its long side)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CamkitError(f"cannot read {path} as an image ({e}); is it corrupt or truncated?") from None


def _too_many_pixels(path: Path, width: int, height: int) -> CamkitError:
    return CamkitError(
        f"{path} is {height}x{width} px (HxW), {width * height / 1e6:.1f} megapixels, over "
        f"camkit's limit of {MAX_IMAGE_PIXELS / 1e6:g} megapixels; scale it down first (e.g. "
        f"to 8000 px on its long side)"
    )


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
