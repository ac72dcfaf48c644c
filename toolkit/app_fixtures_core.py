"""Golden fixtures for the apps' cores beyond tiling (issue 17): packing every way and back,
a small camkit-style manifest set with its refusals, PSNR and max-abs, latency statistics.

Part of ``camkit app fixtures OUT`` (toolkit/app_fixtures.py writes them beside the tile
cases; ``README`` below is appended to its README). Every value is computed here with the
host's own definitions (packing: toolkit/conversion/litert.py's quantization, PSNR:
toolkit/checks/metrics.py, latency: toolkit/profilers/host_profile.py ``latency_from_times``),
and every byte is deterministic.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np

from toolkit import fullres
from toolkit.artifacts import MANIFEST_SCHEMA, sample_bytes

#: the packing photo (H x W: not square, so a swapped axis shows)
PACK_SIZE = (9, 14)
#: a quantization that is not the identity 1/255: values above (255 - 20) * 0.0035 clamp
ODD_QUANT = {"scale": 0.0035, "zero_point": 20}
U8_QUANT = {"scale": 1 / 255, "zero_point": 0}
#: the toy artifact of the manifest set: tile size and its plan
TOY_SIZE = (16, 24)
TOY_PLAN = fullres.TilePlan(TOY_SIZE[0], TOY_SIZE[1], margin=1, blend=2, align=1)
#: the latency percentiles every profiler reports
PERCENTILES = (5, 50, 90, 95, 99)

README = """\

## Packing (`packing/`)

- `photo.png`: a {ph} x {pw} uint8 RGB photo (pixel (0, 0) is 0, the last is 255).
- `cases.json`: `cases`, each an `io` (a manifest's tensor description: `shape`, `dtype`,
  `quantization`, `layout`, ...), the key of its `packed` tensor in `tensors.npz` and of the
  `unpacked` photo (H x W x 3 uint8) that tensor gives back; and `unpack_only`: float32 outputs
  (values past [0, 1] too) with the photo they give.
- The rules (toolkit/conversion/litert.py): float32 = x / 255 in float32; uint8 =
  clip(round_half_even(float32(x / 255) / float32(scale)) + zero_point, 0, 255) (with scale
  1/255 and zero point 0 that is x itself). Back: v = float32(q - zero_point) * float32(scale)
  (float32 tensors: v itself), then floor(clip(v, 0, 1) * 255 + 0.5) in float32. Never min-max.

## Manifests (`manifests/`)

A folder as `camkit app push` fills the app's storage: `toy-tiny-fp32.onnx` (NCHW float32) and
`toy-tiny-w8a8-nhwc-uint8.tflite` (NHWC, uint8 I/O with quantization 1/255), each with its
`.manifest.json` and its `.sample.npz` (`toolkit.artifacts.sample_bytes`: deflated, zip64
entries `in/<name>`, `out/<name>` in the artifact's layout, float32); the artifacts are
stand-in bytes, not models. `broken-*.manifest.json` each break one thing. `expected.json`
gives per manifest `ok` and, for a refusal, the `problem` and words its one-line message must
hold (`message_has`); for the valid ones the fields read back and, per sample array, its
`shape` and `sha256` of its little-endian float32 bytes.

## Metrics (`metrics.json`)

`pairs` of float32 arrays `a` and `b` (or `b_uint8` with its `quantization`: dequantize first,
in float32) with `psnr_db` = 10 log10(1 / mse), mse the float64 mean of (a - b)^2 ("inf" when
0), and `max_abs`.

## Latency (`latency.json`)

`sets` of `samples_ms` with the profile result's latency fields as the host computes them:
`mean_ms`, `median_ms` and `p5_ms` .. `p99_ms` (numpy's linear percentiles: sorted x, position
(n - 1) q, b - (b - a)(1 - t) when t >= 0.5 else a + (b - a) t), `min_ms`, `max_ms`, `std_ms`
(population, ddof 0; null for one run) and `n`.
"""


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def quantize(values: np.ndarray, quantization: dict) -> np.ndarray:
    """float32 values -> uint8 as the host feeds a quantized input (litert.py)."""
    stored = np.round(values.astype(np.float32) / np.float32(quantization["scale"]))
    return np.clip(stored + quantization["zero_point"], 0, 255).astype(np.uint8)


def dequantize(stored: np.ndarray, quantization: dict) -> np.ndarray:
    """uint8 -> float32 as the host reads a quantized output (litert.py)."""
    return ((stored.astype(np.float32) - np.float32(quantization["zero_point"]))
            * np.float32(quantization["scale"]))


def to_u8(values: np.ndarray) -> np.ndarray:
    """float32 [0, 1] -> uint8 pixels: floor(clip(v, 0, 1) * 255 + 0.5) in float32."""
    v = np.clip(values.astype(np.float32), np.float32(0), np.float32(1))
    return (v * np.float32(255) + np.float32(0.5)).astype(np.uint8)


def _io(name: str, shape: list, dtype: str, layout: str, quantization: dict | None,
        role: str = "image") -> dict:
    return {"name": name, "shape": shape, "dtype": dtype,
            "quantization": None if quantization is None else dict(quantization),
            "layout": layout, "value_range": [0.0, 1.0], "color_space": "srgb", "role": role}


def packing_photo() -> np.ndarray:
    from toolkit.app_fixtures import make_photo

    photo = make_photo(*PACK_SIZE, seed=17)
    photo[0, 0] = 0
    photo[-1, -1] = 255
    return photo


def packing_files(npz, png) -> dict[str, bytes]:
    """``packing/``: the photo packed every way and what each tensor unpacks to."""
    photo = packing_photo()
    h, w = PACK_SIZE
    f32 = photo.astype(np.float32) / np.float32(255.0)  # HWC
    arrays: dict[str, np.ndarray] = {}
    cases = []
    for layout in ("nchw", "nhwc"):
        shape = [1, 3, h, w] if layout == "nchw" else [1, h, w, 3]
        for dtype, quant, tag in (("float32", None, "f32"), ("uint8", U8_QUANT, "u8"),
                                  ("uint8", ODD_QUANT, "u8_odd")):
            values = f32 if quant is None else quantize(f32, quant)
            back = values if quant is None else dequantize(values, quant)
            if quant is U8_QUANT:  # the identity quantization gives the photo's bytes
                assert (values == photo).all()
            key = f"{layout}_{tag}"
            arrays[f"packed/{key}"] = _layout(values[None], layout)
            arrays[f"unpacked/{key}"] = to_u8(back)
            cases.append({"name": key, "io": _io("image", shape, dtype, layout, quant),
                          "packed": f"packed/{key}", "unpacked": f"unpacked/{key}"})
    rng = np.random.default_rng(171)
    unpack_only = []
    for layout in ("nchw", "nhwc"):
        raw = rng.uniform(-0.2, 1.2, (h, w, 3)).astype(np.float32)
        raw[0, :4, 0] = [0.5 / 255, 1.5 / 255, 254.5 / 255, 1.0]  # the rounding edges
        key = f"float_{layout}"
        arrays[f"packed/{key}"] = _layout(raw[None], layout)
        arrays[f"unpacked/{key}"] = to_u8(raw)
        shape = [1, 3, h, w] if layout == "nchw" else [1, h, w, 3]
        unpack_only.append({"name": key, "io": _io("output", shape, "float32", layout, None),
                            "packed": f"packed/{key}", "unpacked": f"unpacked/{key}"})
    return {"packing/photo.png": png(photo), "packing/tensors.npz": npz(arrays),
            "packing/cases.json": _json({"size": [h, w], "cases": cases,
                                         "unpack_only": unpack_only})}


def _layout(nhwc: np.ndarray, layout: str) -> np.ndarray:
    return np.ascontiguousarray(nhwc if layout == "nhwc" else nhwc.transpose(0, 3, 1, 2))


def _toy_manifest(name: str, fmt: str, precision: str, layout: str, io_dtype: str,
                  artifact: bytes, sample: bytes) -> dict:
    th, tw = TOY_SIZE
    shape = [1, 3, th, tw] if layout == "nchw" else [1, th, tw, 3]
    quant = U8_QUANT if io_dtype == "uint8" else None
    return {
        "schema": MANIFEST_SCHEMA, "model_id": "toy", "model_source": None, "variant": "tiny",
        "format": fmt, "precision": precision,
        "precision_scheme": {"id": precision, "description": "fixture", "calibration": None},
        "layout": layout, "dynamic": False,
        "io": {"inputs": [_io("image", shape, io_dtype, layout, quant)],
               "outputs": [_io("output", shape, io_dtype, layout, quant)]},
        "full_resolution": {**TOY_PLAN.to_json(), "exact": True, "why": "fixture"},
        "artifact": {"file": name, "sha256": hashlib.sha256(artifact).hexdigest(),
                     "size_bytes": len(artifact), "export_s": None},
        "checkpoint": None,
        "sample": {"file": f"{name}.sample.npz", "sha256": hashlib.sha256(sample).hexdigest(),
                   "source_image": "fixture"},
        "versions": {}, "created_utc": "2026-01-01T00:00:00+00:00", "command": [],
    }


def _array_digest(array: np.ndarray) -> dict:
    return {"shape": list(array.shape),
            "sha256": hashlib.sha256(np.ascontiguousarray(array, "<f4").tobytes()).hexdigest()}


def _broken(valid: dict) -> dict[str, tuple[dict, str, list[str]]]:
    """name -> (manifest, problem, words its refusal names)."""
    def io_with(**change):
        return {"inputs": [{**valid["io"]["inputs"][0], **change}],
                "outputs": valid["io"]["outputs"]}

    return {
        "broken-schema": ({**valid, "schema": 99}, "schema", ["schema", "99"]),
        "broken-sha256": ({**valid, "artifact": {**valid["artifact"], "sha256": "0" * 64}},
                          "sha256", ["sha256", valid["artifact"]["file"]]),
        "broken-missing": ({**valid, "artifact": {**valid["artifact"], "file": "absent.onnx"}},
                           "missing", ["absent.onnx"]),
        "broken-sample-sha256": ({**valid, "sample": {**valid["sample"], "sha256": "f" * 64}},
                                 "sha256", ["sha256", valid["sample"]["file"]]),
        "broken-layout": ({**valid, "layout": "chw", "io": io_with(layout="chw")}, "layout",
                          ["layout", "chw"]),
        "broken-dtype": ({**valid, "io": io_with(dtype="float16")}, "dtype",
                         ["dtype", "float16"]),
        "broken-quantization": ({**valid, "io": io_with(dtype="uint8", quantization=None)},
                                "quantization", ["quantization", "image"]),
    }


def manifest_files() -> dict[str, bytes]:
    """``manifests/``: two valid manifests with artifact and sample, and broken variants."""
    from toolkit.app_fixtures import make_photo, toy_model

    th, tw = TOY_SIZE
    photo = make_photo(th, tw, seed=23).astype(np.float32) / np.float32(255.0)
    out = toy_model(photo)
    files: dict[str, bytes] = {}
    expected: dict[str, dict] = {}
    valid_onnx = None
    for name, fmt, precision, layout, io_dtype in (
            ("toy-tiny-fp32.onnx", "onnx", "fp32", "nchw", "float32"),
            ("toy-tiny-w8a8-nhwc-uint8.tflite", "litert", "w8a8", "nhwc", "uint8")):
        artifact = (f"camkit fixture {name}: stand-in bytes, not a model\n".encode()
                    + np.random.default_rng(len(name)).integers(0, 256, 240, np.uint8).tobytes())
        ins = {"image": _layout(photo[None], layout)}
        outs = {"output": _layout(out[None], layout)}
        sample = sample_bytes(ins, outs)
        manifest = _toy_manifest(name, fmt, precision, layout, io_dtype, artifact, sample)
        # the card's budget (export writes it; a manifest of an older camkit has none)
        budget = {"psnr_db_min": 60.0, "ssim_min": 0.9999} if fmt == "onnx" else None
        manifest["budget"] = budget
        files |= {f"manifests/{name}": artifact, f"manifests/{name}.sample.npz": sample,
                  f"manifests/{name}.manifest.json": _json(manifest)}
        expected[f"{name}.manifest.json"] = {
            "ok": True, "model_id": "toy", "variant": "tiny", "format": fmt,
            "precision": precision, "artifact": name, "sample": f"{name}.sample.npz",
            "layout": layout, "dtype": io_dtype, "inputs": ["image"], "outputs": ["output"],
            "psnr_budget_db": None if budget is None else budget["psnr_db_min"],
            "arrays": {f"in/{k}": _array_digest(v) for k, v in ins.items()}
            | {f"out/{k}": _array_digest(v) for k, v in outs.items()}}
        valid_onnx = valid_onnx or manifest
    for name, (manifest, problem, words) in _broken(valid_onnx).items():
        files[f"manifests/{name}.manifest.json"] = _json(manifest)
        expected[f"{name}.manifest.json"] = {"ok": False, "problem": problem,
                                             "message_has": words}
    files["manifests/expected.json"] = _json({"manifests": expected})
    return files


def psnr_db(a: np.ndarray, b: np.ndarray) -> float | str:
    """PSNR over values in [0, 1] as toolkit/checks/metrics.py computes it ("inf": equal)."""
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return "inf" if mse == 0 else 10.0 * math.log10(1.0 / mse)


def metrics_files() -> dict[str, bytes]:
    rng = np.random.default_rng(29)
    a = rng.uniform(0, 1, 60).astype(np.float32)
    noisy = np.clip(a + rng.normal(0, 0.02, 60), 0, 1).astype(np.float32)
    stored = quantize(a + rng.normal(0, 0.01, 60).astype(np.float32), U8_QUANT)
    pairs = []
    for name, b in (("noisy", noisy), ("equal", a.copy())):
        pairs.append({"name": name, "a": a.tolist(), "b": b.tolist(), "psnr_db": psnr_db(a, b),
                      "max_abs": float(np.abs(a.astype(np.float64) - b).max())})
    deq = dequantize(stored, U8_QUANT)
    pairs.append({"name": "uint8_output", "a": a.tolist(), "b_uint8": stored.tolist(),
                  "quantization": U8_QUANT, "psnr_db": psnr_db(a, deq),
                  "max_abs": float(np.abs(a.astype(np.float64) - deq).max())})
    return {"metrics.json": _json({"pairs": pairs})}


def latency_files() -> dict[str, bytes]:
    from toolkit.profilers.host_profile import latency_from_times

    rng = np.random.default_rng(31)
    runs = np.round(rng.lognormal(np.log(12.0), 0.25, 37), 6).tolist()
    runs[5] = runs[9] = 11.5  # a tie
    sets = []
    for name, samples in (("37 runs", runs), ("one run", [8.25]), ("two runs", [3.0, 5.0]),
                          ("twenty runs", runs[:20])):
        lat = latency_from_times(None, None, [], samples)
        fields = ("mean_ms", "median_ms", "p5_ms", "p90_ms", "p95_ms", "p99_ms", "min_ms",
                  "max_ms", "std_ms", "n")
        sets.append({"name": name, "samples_ms": samples,
                     **{k: getattr(lat, k) for k in fields},
                     "percentiles": {str(p): float(np.percentile(samples, p))
                                     for p in PERCENTILES}})
    return {"latency.json": _json({"percentiles": list(PERCENTILES), "sets": sets})}


def core_files(npz, png) -> dict[str, bytes]:
    """Every file of the groups above, relative name -> bytes."""
    return (packing_files(npz, png) | manifest_files() | metrics_files() | latency_files())
