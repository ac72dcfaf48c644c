"""``camkit run``: apply a model (torch) or an exported artifact to the user's photos.

What runs:

* a **model** (id, model folder, plugin): its float torch network with the given or shipped
  checkpoint, at each photo's own size (padded by reflection to the model's size multiple and
  cropped back); a photo too large for this machine's memory is refused before it is loaded
  into the network (the estimate of ``camkit export``);
* an **artifact** (its file or ``.manifest.json``): the runtime its format names (ONNX Runtime,
  the LiteRT interpreter; Core ML needs macOS), after its files are verified against the
  manifest. A photo of the artifact's own size runs as it is; any other size follows the
  manifest's ``full_resolution`` plan (toolkit/fullres.py ``apply_plan``: tiles, a split's
  tiles with the photo's thumbnail, or the lossy resize), one tile at a time, so a 48 MP photo
  needs its own bytes, the result's, and one band of tiles;
* a model with ``tiles``: its torch network by the same plan at the variant's export size (what
  its artifacts will do, margin measured on the weights), instead of the whole photo at once.

Each photo is read upright (EXIF orientation applied) and its result is written under ``--out``
with the same name: JPEG stays JPEG (quality 95), anything else becomes PNG, and an embedded
ICC colour profile is written into the result (the pixels are not converted: the model worked on
them as stored). An existing result is never replaced unless ``overwrite``; nothing is written
for a photo that fails. Inpainting models take a mask per photo (``masks``: a folder with a
grey image of the same name stem, white = hole).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.errors import CamkitError


@dataclass(frozen=True)
class Photo:
    """An upright RGB photo (HWC uint8) and the ICC profile it carried."""

    path: Path
    #: HWC uint8 (a 48 MP photo is 144 MB so, 576 MB as float32)
    pixels: np.ndarray
    icc_profile: bytes | None


def read_photo(path: Path) -> Photo:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            icc = im.info.get("icc_profile")
            upright = ImageOps.exif_transpose(im)
            rgb = upright.convert("RGB")
    except FileNotFoundError:
        raise CamkitError(f"photo {path} does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CamkitError(f"cannot read {path} as an image ({e}); pass PNG or JPEG photos") from None
    return Photo(Path(path), np.asarray(rgb, dtype=np.uint8), icc)


def read_mask(path: Path, height: int, width: int) -> np.ndarray:
    """HW1 float32, 1 = hole (pixels above half grey)."""
    from toolkit.data.io import read_image

    mask = read_image(path, channels=1)
    if mask.shape[:2] != (height, width):
        raise CamkitError(f"mask {path} is {mask.shape[0]}x{mask.shape[1]}, its photo "
                          f"{height}x{width}; masks must match their photos")
    return (mask > 0.5).astype(np.float32)


def output_path(photo: Path, out: Path) -> Path:
    suffix = ".jpg" if photo.suffix.lower() in (".jpg", ".jpeg") else ".png"
    return out / f"{photo.stem}{suffix}"


def write_photo(path: Path, pixels: np.ndarray, icc_profile: bytes | None) -> None:
    """Atomically write HWC pixels (uint8, or float [0, 1]) as JPEG (quality 95) or PNG, with
    the ICC profile."""
    from PIL import Image

    from toolkit.artifacts import atomic_write_bytes
    from toolkit.data.io import to_uint8

    buf = io.BytesIO()
    extra = {"icc_profile": icc_profile} if icc_profile else {}
    image = Image.fromarray(pixels if pixels.dtype == np.uint8 else to_uint8(pixels))
    if path.suffix == ".jpg":
        image.save(buf, format="JPEG", quality=95, **extra)
    else:
        image.save(buf, format="PNG", **extra)
    atomic_write_bytes(path, buf.getvalue())


def collect_photos(sources: list[Path]) -> list[Path]:
    """The photos named: files as given, folders' images sorted; one-line errors."""
    from toolkit.data.io import list_images

    photos: list[Path] = []
    for source in sources:
        source = Path(source)
        if source.is_dir():
            found = list_images(source)
            if not found:
                raise CamkitError(f"{source} holds no images (.png, .jpg, ...)")
            photos += found
        elif source.is_file():
            photos.append(source)
        else:
            raise CamkitError(f"photo {source} does not exist")
    return photos


def _floats(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / np.float32(255.0) if x.dtype == np.uint8 else x


class _TorchTarget:
    """A model's float network, run at each photo's size (``tiles``: by its full-resolution
    plan at the variant's export size)."""

    @classmethod
    def of_net(cls, model_id: str, variant: str, net) -> _TorchTarget:
        """The whole-photo runner of a network already built (``camkit check --full-res``)."""
        import torch

        from toolkit import registry

        self = cls.__new__(cls)
        self.model_id, self.variant, self.net, self.torch = model_id, variant, net.eval(), torch
        self.spec = registry.model_spec(model_id)
        self.plan, self.describe = None, f"{model_id}/{variant} in torch"
        return self

    def __init__(self, model_id: str, variant: str | None, checkpoint: Path | None,
                 tiles: bool = False) -> None:
        import torch

        from toolkit import registry
        from toolkit.building import build_model, resolve_weights

        self.model_id = model_id
        self.variant = registry.check_variant(model_id, variant)
        self.spec = registry.model_spec(model_id)
        from toolkit.checkpoints import shipped_checkpoint

        if checkpoint is None and shipped_checkpoint(model_id, self.variant) is None and (
                registry.model_source(model_id).kind != "module"):
            raise CamkitError(f"no checkpoint ships for {model_id}/{self.variant}; pass "
                              f"--checkpoint CKPT.safetensors, or run one of its artifacts")
        weights = resolve_weights(model_id, self.variant, checkpoint, False)
        self.net = build_model(model_id, self.variant, weights).eval()
        self.torch = torch
        self.describe = (f"{model_id}/{self.variant} in torch (float32, "
                         f"{'checkpoint ' + Path(weights.checkpoint).name if weights.checkpoint else 'its own weights'})")
        self.plan = None
        if tiles:
            from toolkit.building import build_for_spec, make_spec
            from toolkit.fullres import export_plan

            split = self.spec.full_resolution.strategy == "split"
            self.plan_spec = make_spec(model_id, self.variant, None, "nchw", False, split=split)
            self.plan_net = build_for_spec(self.plan_spec, weights).eval() if split else self.net
            self.plan = export_plan(self.plan_spec, self.plan_net)
            self.describe += f", by its {self.plan['strategy']} plan"

    def _hwc(self, net, feeds) -> np.ndarray:
        """``net`` once on HWC float32 arrays; its first output as HWC."""
        torch = self.torch
        tensors = [torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
                   for x in feeds]
        with torch.no_grad():
            return net(*tensors)[0].numpy().transpose(1, 2, 0)

    def _plan_run(self, *feeds: np.ndarray) -> np.ndarray:
        return self._hwc(self.plan_net, feeds)

    def _plan_features(self, *feeds: np.ndarray) -> np.ndarray:
        from toolkit.fullres_split import features_module

        return self._hwc(features_module(self.plan_net), feeds)

    def __call__(self, inputs: list[np.ndarray], on_tile=None):
        from toolkit.building import make_spec
        from toolkit.export import check_memory

        if self.plan is not None:
            from toolkit.fullres import apply_plan

            return apply_plan(self.plan, self._plan_run, inputs, self.plan_spec.model.inputs,
                              on_tile, run_features=self._plan_features)
        inputs = [_floats(x) for x in inputs]
        torch = self.torch
        h, w = inputs[0].shape[:2]
        m = self.spec.size_multiple
        ph, pw = -h % m, -w % m
        try:
            check_memory(make_spec(self.model_id, self.variant, (h + ph, w + pw), "nchw", False),
                         self.net)
        except CamkitError as e:
            need = str(e).split(" needs ", 1)[-1].split("; ")[0]
            raise CamkitError(f"{self.model_id}/{self.variant} on the whole {h}x{w} photo at "
                              f"once needs {need}; run it by tiles: camkit run {self.model_id} "
                              f"--tiles (or an exported artifact)") from None
        tensors = []
        for x in inputs:
            t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
            if ph or pw:
                t = torch.nn.functional.pad(t, (0, pw, 0, ph), mode="reflect" if
                                            min(h, w) > max(ph, pw) else "replicate")
            tensors.append(t)
        with torch.no_grad():
            out = self.net(*tensors)
        return out[0, :, :h, :w].numpy().transpose(1, 2, 0)


class _ArtifactTarget:
    """An exported artifact, verified against its manifest, run by its format's runtime."""

    def __init__(self, manifest_path: Path) -> None:
        from toolkit import registry
        from toolkit.checks.parity import spec_from_manifest
        from toolkit.publish import open_published

        published = open_published(manifest_path)
        self.manifest = published.manifest
        self.spec = spec_from_manifest(self.manifest)
        registry.require_format(self.manifest["format"])
        fmt = registry.format_module(self.manifest["format"])
        if hasattr(fmt, "can_run") and not fmt.can_run():
            raise CamkitError(f"{published.artifact.name}: this runtime cannot run on this "
                              f"platform (Core ML prediction needs macOS); run the ONNX or LiteRT "
                              f"artifact, or the torch model (camkit run {self.spec.model.model_id})")
        self.runner = registry.load_runner(manifest_path, self.manifest)
        self.features = None
        entry = ((self.manifest.get("full_resolution") or {}).get("statistics") or {})
        if "artifact" in entry:  # a split by tiles: its features artifact (sha256 checked)
            from toolkit.fullres_split import features_artifact

            self.features = features_artifact(fmt, Path(manifest_path).parent, entry["artifact"])
        self.describe = f"{published.artifact.name} ({self.manifest['format']}, " \
                        f"{self.manifest['precision']})"

    def _run(self, *arrays: np.ndarray) -> np.ndarray:
        """The artifact once, on HWC float32 arrays for each of its inputs."""
        from toolkit.data.io import from_layout, to_layout

        spec = self.spec
        feeds = {t.name: to_layout(x, spec.layout) for t, x in zip(spec.model.inputs, arrays)}
        out = self.runner(feeds)[spec.model.outputs[0].name]
        return from_layout(np.asarray(out, dtype=np.float32), spec.layout)

    def plan_run(self, inputs: list[np.ndarray], on_tile=None, dtype=np.uint8) -> np.ndarray:
        """The photo's ``inputs`` (its image, its mask) by the manifest's full_resolution plan."""
        from toolkit.fullres import apply_plan

        return apply_plan(self.manifest["full_resolution"], self._run, inputs,
                          self.spec.model.inputs, on_tile, dtype,
                          run_features=self.features)

    def __call__(self, inputs: list[np.ndarray], on_tile=None) -> np.ndarray:
        h, w = inputs[0].shape[:2]
        spec = self.spec
        plan = self.manifest.get("full_resolution")
        if not spec.dynamic and (h, w) != (spec.height, spec.width) or spec.split:
            if plan is None:
                raise CamkitError(
                    f"the photo is {h}x{w}; this artifact takes {spec.height}x{spec.width} only "
                    f"and its manifest has no full_resolution plan (exported by an older "
                    f"camkit): export it again, or run the torch model (camkit run "
                    f"{spec.model.model_id})")
            if plan.get("strategy") == "resize":
                import sys

                print(f"note: the {h}x{w} photo is resized to the artifact's "
                      f"{spec.height}x{spec.width} and the result back (lossy: "
                      f"{plan.get('why', 'the model has no tile plan')})", file=sys.stderr)
            return self.plan_run(inputs, on_tile)
        m = spec.model.size_multiple
        if spec.dynamic and (h % m or w % m):
            raise CamkitError(f"the photo is {h}x{w}; {spec.model.model_id} needs sides that are "
                              f"multiples of {m}: crop it, or run the torch model (camkit run "
                              f"{spec.model.model_id}), which pads")
        return self._run(*[_floats(x) for x in inputs])


def is_artifact(target: str) -> bool:
    """True when ``target`` names an artifact (its manifest, or a file with one beside it)."""
    from toolkit.artifacts import manifest_path

    path = Path(target)
    return path.name.endswith(".manifest.json") or (path.exists()
                                                     and manifest_path(path).is_file())


def run_photos(target: str, sources: list[Path], out: Path, *, variant: str | None = None,
               checkpoint: Path | None = None, masks: Path | None = None,
               overwrite: bool = False, progress: bool = True, tiles: bool = False
               ) -> list[Path]:
    """Apply ``target`` (a model id or folder, or an artifact) to the photos of ``sources``;
    returns the results written under ``out`` (module docstring)."""
    import sys

    from tqdm import tqdm

    from toolkit import registry
    from toolkit.artifacts import manifest_path

    photos = collect_photos(sources)
    results = [output_path(p, Path(out)) for p in photos]
    seen: dict[Path, Path] = {}
    for photo, result in zip(photos, results):
        if result in seen:
            raise CamkitError(f"{photo} and {seen[result]} would both write {result}; run them "
                              f"into different --out folders")
        seen[result] = photo
        if result.resolve() == photo.resolve():
            raise CamkitError(f"{result} is the photo itself; pass another --out (camkit never "
                              f"writes over your photos)")
        if result.exists() and not overwrite:
            raise CamkitError(f"{result} exists; pass --overwrite to replace results, or another "
                              f"--out (nothing was written)")
    if is_artifact(target):
        if tiles:
            raise CamkitError("--tiles runs a model's torch network by its plan; an artifact "
                              "follows its manifest's plan already: drop --tiles")
        if variant is not None or checkpoint is not None:
            raise CamkitError("--variant and --checkpoint choose a model's torch weights; an "
                              "artifact is what it is: drop them")
        path = Path(target)
        runner = _ArtifactTarget(path if path.name.endswith(".manifest.json")
                                 else manifest_path(path))
    else:
        runner = _TorchTarget(registry.resolve_model(target), variant,
                              None if checkpoint is None else Path(checkpoint), tiles)
    spec = runner.spec if isinstance(runner, _TorchTarget) else runner.spec.model
    mask_input = [t for t in spec.inputs if t.role == "mask"]
    if mask_input and masks is None:
        raise CamkitError(f"{spec.model_id} fills holes: pass --masks DIR with a mask per photo "
                          f"(same name stem, white = hole)")
    if not mask_input and masks is not None:
        raise CamkitError(f"{spec.model_id} takes no mask; drop --masks")
    Path(out).mkdir(parents=True, exist_ok=True)
    written = []
    bar = tqdm(list(zip(photos, results)), desc=f"run {spec.model_id}", unit="photo",
               disable=None if progress else True, file=sys.stderr)
    for photo_path, result in bar:
        photo = read_photo(photo_path)
        inputs = []
        for tensor in spec.inputs:
            if tensor.role == "mask":
                inputs.append(read_mask(_mask_file(Path(masks), photo_path), *photo.pixels.shape[:2]))
            elif tensor.role == "image":
                inputs.append(photo.pixels)
        tile_bar = tqdm(desc=photo_path.name, unit="tile", leave=False, file=sys.stderr,
                        disable=None if progress else True)

        def on_tile(done: int, total: int, tile_bar=tile_bar) -> None:
            tile_bar.total = total
            tile_bar.update(done - tile_bar.n)

        output = runner(inputs, on_tile)
        tile_bar.close()
        if output.shape[:2] != photo.pixels.shape[:2] or output.shape[2] != 3:
            raise CamkitError(f"{spec.model_id} returned {output.shape} for the "
                              f"{photo.pixels.shape} photo {photo_path.name}; camkit run writes "
                              f"RGB results of the photo's size")
        write_photo(result, output if output.dtype == np.uint8 else np.clip(output, 0.0, 1.0),
                    photo.icc_profile)
        written.append(result)
    bar.close()
    return written


def _mask_file(folder: Path, photo: Path) -> Path:
    from toolkit.data.io import list_images

    found = [p for p in list_images(folder) if p.stem == photo.stem] if folder.is_dir() else []
    if not found:
        raise CamkitError(f"no mask for {photo.name} in {folder} (a grey image named "
                          f"{photo.stem}.png, white = hole)")
    return found[0]
