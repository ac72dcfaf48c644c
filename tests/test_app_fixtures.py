"""camkit app fixtures: the golden cases the Android and iOS cores test against (issues 16, 17)."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from toolkit import fullres
from toolkit.app_fixtures import CASES, tile_offset, toy_model, write_fixtures
from toolkit.errors import CamkitError


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    out = tmp_path_factory.mktemp("fx") / "fixtures"
    written = write_fixtures(out)
    return out, written


def _reblend(case, plan: fullres.TilePlan) -> np.ndarray:
    """The recorded per-tile outputs blended by hand (float64), independently of run_tiled."""
    grid = json.loads((case / "grid.json").read_text())
    (ph, pw), (h, w) = grid["padded"], grid["size"]
    acc, wsum = np.zeros((ph, pw, 3)), np.zeros((ph, pw, 1))
    with np.load(case / "tiles.npz") as z:
        for t in grid["tiles"]:
            out = z[f"out_nhwc_f32/{t['index']}"][0].astype(np.float64)
            wy = fullres.ramp(plan.tile_h, t["ramp_y"]["lead"], t["ramp_y"]["trail"],
                              plan.margin, plan.blend)
            wx = fullres.ramp(plan.tile_w, t["ramp_x"]["lead"], t["ramp_x"]["trail"],
                              plan.margin, plan.blend)
            wt = (wy[:, None] * wx[None, :])[..., None]
            acc[t["top"]:t["top"] + plan.tile_h, t["left"]:t["left"] + plan.tile_w] += out * wt
            wsum[t["top"]:t["top"] + plan.tile_h, t["left"]:t["left"] + plan.tile_w] += wt
    assert (wsum > 0).all()
    return (acc / wsum)[:h, :w]


@pytest.mark.parametrize("name", list(CASES))
def test_case_files_agree(fixtures, name):
    out, written = fixtures
    case = out / name
    assert {p.name for p in case.iterdir()} == {"photo.png", "plan.json", "grid.json",
                                                "tiles.npz", "blended_f32.npy", "blended.png",
                                                *(["stats.json"] if "statistics" in name
                                                  else [])}
    raw = json.loads((case / "plan.json").read_text())
    plan = fullres.TilePlan.from_json(raw)
    assert plan == fullres.TilePlan(64, 96, 6, 8, 4) and raw["version"] == fullres.PLAN_VERSION
    assert fullres.TilePlan(*raw["tile"], raw["margin"], raw["blend"], raw["align"]).to_json() \
        == {k: v for k, v in raw.items() if k not in ("thumbnails", "statistics")} \
        | {"strategy": "tiles"}
    photo = np.asarray(Image.open(case / "photo.png"))
    height, width, kind = CASES[name]
    assert photo.shape == (height, width, 3) and photo.dtype == np.uint8
    grid = json.loads((case / "grid.json").read_text())
    assert [(t["top"], t["left"]) for t in grid["tiles"]] == fullres.grid(*grid["padded"], plan)
    assert grid["padded"] == list(fullres.padded_size(height, width, plan))
    if name.startswith(("tiles", "statistics")):  # several tile rows and columns
        assert len({t["top"] for t in grid["tiles"]}) > 2 < len({t["left"] for t in grid["tiles"]})
    else:
        assert len(grid["tiles"]) == (12 if kind == "thumbnail" else 1)
    with np.load(case / "tiles.npz") as z:
        for t in grid["tiles"]:
            i = t["index"]
            f32, u8 = z[f"in_nhwc_f32/{i}"], z[f"in_nhwc_u8/{i}"]
            assert f32.shape == (1, 64, 96, 3) and f32.dtype == np.float32 and u8.dtype == np.uint8
            np.testing.assert_array_equal(z[f"in_nchw_f32/{i}"], f32.transpose(0, 3, 1, 2))
            np.testing.assert_array_equal(z[f"in_nchw_u8/{i}"], u8.transpose(0, 3, 1, 2))
            np.testing.assert_array_equal(u8.astype(np.float32) / np.float32(255.0), f32)
            np.testing.assert_array_equal(  # the photo reflected, as the rule in README.md
                f32[0], fullres.crop_reflected(photo, t["top"], t["left"], 64, 96))
            assert z[f"out_nhwc_f32/{i}"].shape == (1, 64, 96, 3)
            if kind == "tiles":  # the toy model, offset per tile so that the blend weights show
                np.testing.assert_array_equal(z[f"out_nhwc_f32/{i}"][0],
                                              toy_model(f32[0]) + tile_offset(i))
        if kind == "statistics":
            _check_statistics(case, raw, photo, z)
        if kind == "thumbnail":
            thumb = fullres.mosaic(photo, 12, 16, 4)
            np.testing.assert_array_equal(z["thumb_nhwc_f32"][0], thumb)
            np.testing.assert_array_equal(z["thumb_nchw_f32"], z["thumb_nhwc_f32"].transpose(
                0, 3, 1, 2))
            assert raw["strategy"] == "split" and raw["thumbnails"] == [
                {"input": "image_thumbnail", "of": "image", "size": [12, 16],
                 "resize": "mosaic", "cells": 4}]
        else:
            assert "thumb_nhwc_f32" not in z.files
            assert raw["strategy"] == ("split" if kind == "statistics" else "tiles")
    blended = np.load(case / "blended_f32.npy")
    assert blended.shape == (height, width, 3) and blended.dtype == np.float32
    assert np.abs(_reblend(case, plan) - blended).max() < 1e-6
    png = np.asarray(Image.open(case / "blended.png"))
    np.testing.assert_array_equal(
        png, (np.clip(blended, 0, 1) * np.float32(255) + np.float32(0.5)).astype(np.uint8))


def test_index_readme_and_determinism(fixtures, tmp_path):
    out, written = fixtures
    index = json.loads((out / "index.json").read_text())
    assert index["cases"] == list(CASES)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert sorted(index["files"]) == [f for f in files if f != "index.json"]
    assert sorted(p.relative_to(out).as_posix() for p in written) == files
    for rel, digest in index["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    readme = (out / "README.md").read_text()
    for word in ("reflect_index", "ramp", "sum over tiles", "adaptive_average", "in_nchw_u8",
                 "round_half_even", "broken-", "psnr_db", "ddof 0", "mod 4"):
        assert word in readme
    again = tmp_path / "again"
    write_fixtures(again)
    assert (again / "index.json").read_bytes() == (out / "index.json").read_bytes()


def test_refuses_to_replace_without_overwrite(tmp_path):
    out = tmp_path / "fx"
    write_fixtures(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(CamkitError, match="--overwrite") as err:
        write_fixtures(out)
    assert "\n" not in str(err.value)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    (out / "stale.txt").write_text("x")
    write_fixtures(out, overwrite=True)
    assert not (out / "stale.txt").exists() and (out / "index.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["fx"]  # no staging folder left behind
    empty = tmp_path / "empty"
    empty.mkdir()
    write_fixtures(empty)  # an empty folder is filled without --overwrite
    assert (empty / "index.json").exists()


def test_cli(tmp_path):
    out = tmp_path / "cli"
    result = run_cli("app", "fixtures", str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and (out / "index.json").exists()
    again = run_cli("app", "fixtures", str(out))
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "--overwrite" in again.stderr


def _check_statistics(case, raw, photo, z):
    """A statistics case: every photo feature taken once from a tile holding its receptive
    field, the tiles' inputs the photo zero-padded, the vector their features' mean."""
    from toolkit.app_fixtures import toy_features

    entry = raw["statistics"]
    s, before, after = entry["stride"], entry["before"], entry["after"]
    th, tw = entry["tile"]
    tiles = json.loads((case / "stats.json").read_text())["tiles"]
    h, w = photo.shape[:2]
    count = np.zeros((-(-h // s), -(-w // s)), int)
    total = np.zeros(3)
    for t in tiles:
        y0, x0, (r0, r1), (c0, c1) = t["top"], t["left"], t["rows"], t["cols"]
        count[y0 // s + r0:y0 // s + r1, x0 // s + c0:x0 // s + c1] += 1
        assert y0 % s == 0 == x0 % s
        for k, (o, length, size) in enumerate(((y0, h, th), (x0, w, tw))):
            first, end = (r0, r1) if k == 0 else (c0, c1)
            assert s * first - before >= 0 or o == 0
            assert s * (end - 1) + after <= size - 1 or o + size >= length
        tile = z[f"stats_in_nhwc_f32/{t['index']}"][0]
        want = np.zeros((th, tw, 3), np.float32)
        crop = photo[y0:y0 + th, x0:x0 + tw].astype(np.float32) / np.float32(255)
        want[:crop.shape[0], :crop.shape[1]] = crop
        np.testing.assert_array_equal(tile, want)
        feats = z[f"stats_features_nhwc_f32/{t['index']}"][0]
        np.testing.assert_array_equal(feats, toy_features(tile))
        total += feats[r0:r1, c0:c1].reshape(-1, 3).sum(0, dtype=np.float64)
    assert (count == 1).all()
    np.testing.assert_allclose(z["statistics_nhwc_f32"][0, 0, 0], total / count.size, rtol=1e-6)


# ------------------------------------------------- beyond tiling (issue 17: app_fixtures_core)


def test_packing_group(fixtures):
    """The non-square photo packed every way, by the host's own quantization (litert.py's
    feeds), and what each tensor unpacks to."""
    from toolkit.app_fixtures_core import PACK_SIZE, to_u8
    from toolkit.profilers.host_profile import _litert_feeds

    out, _ = fixtures
    index = json.loads((out / "index.json").read_text())
    assert index["packing"] == "packing" and index["version"] == 3
    photo = np.asarray(Image.open(out / "packing" / "photo.png"))
    assert photo.shape == (*PACK_SIZE, 3) and PACK_SIZE[0] != PACK_SIZE[1]
    assert photo.min() == 0 and photo.max() == 255
    cases = json.loads((out / "packing" / "cases.json").read_text())
    ways = {(c["io"]["layout"], c["io"]["dtype"], c["io"]["quantization"] is not None and
             c["io"]["quantization"]["zero_point"] != 0) for c in cases["cases"]}
    assert ways == {(lay, dt, odd) for lay in ("nchw", "nhwc")
                    for dt, odd in (("float32", False), ("uint8", False), ("uint8", True))}
    with np.load(out / "packing" / "tensors.npz") as z:
        for case in cases["cases"]:
            io = case["io"]
            packed = z[case["packed"]]
            assert list(packed.shape) == io["shape"] and packed.dtype == np.dtype(io["dtype"])
            nhwc = packed if io["layout"] == "nhwc" else packed.transpose(0, 2, 3, 1)
            f32 = photo[None].astype(np.float32) / np.float32(255)
            if io["quantization"] is None:
                np.testing.assert_array_equal(nhwc, f32)
                back = nhwc[0]
            else:
                q = io["quantization"]
                want = _litert_feeds({"x": f32}, {"x": (np.uint8, q["scale"], q["zero_point"])})
                np.testing.assert_array_equal(nhwc, want["x"])
                back = (nhwc[0].astype(np.float32) - np.float32(q["zero_point"])) * np.float32(
                    q["scale"])
                if q["zero_point"] == 0:
                    np.testing.assert_array_equal(nhwc[0], photo)  # 1/255: the bytes themselves
                else:
                    assert (nhwc == 255).any()  # the odd quantization clamps
            np.testing.assert_array_equal(z[case["unpacked"]], to_u8(back))
            if io["quantization"] is None or io["quantization"]["zero_point"] == 0:
                np.testing.assert_array_equal(z[case["unpacked"]], photo)  # lossless round trip
        for case in cases["unpack_only"]:
            raw = z[case["packed"]]
            nhwc = raw if case["io"]["layout"] == "nhwc" else raw.transpose(0, 2, 3, 1)
            assert nhwc.min() < 0 and nhwc.max() > 1
            np.testing.assert_array_equal(z[case["unpacked"]], to_u8(nhwc[0]))


def test_manifest_group(fixtures):
    """The valid manifests read back as camkit reads them, their samples are what
    sample_bytes writes (deflated), and each broken one breaks what expected.json says."""
    from toolkit.artifacts import read_manifest, read_sample, sha256_path

    out, _ = fixtures
    folder = out / "manifests"
    expected = json.loads((folder / "expected.json").read_text())["manifests"]
    problems = {w["problem"] for w in expected.values() if not w["ok"]}
    assert {"schema", "sha256", "layout", "dtype", "quantization", "missing"} <= problems
    for name, want in expected.items():
        raw = json.loads((folder / name).read_text())
        if want["ok"]:
            manifest = read_manifest(folder / name)
            assert sha256_path(folder / manifest["artifact"]["file"]) == manifest["artifact"][
                "sha256"]
            sample = folder / manifest["sample"]["file"]
            assert sha256_path(sample) == manifest["sample"]["sha256"]
            with zipfile.ZipFile(sample) as z:
                assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
            ins, outs = read_sample(sample)
            arrays = {f"in/{k}": v for k, v in ins.items()} | {f"out/{k}": v
                                                               for k, v in outs.items()}
            for key, digest in want["arrays"].items():
                assert list(arrays[key].shape) == digest["shape"]
                assert hashlib.sha256(arrays[key].astype("<f4").tobytes()).hexdigest() == \
                    digest["sha256"]
            for t in manifest["io"]["inputs"] + manifest["io"]["outputs"]:
                assert list(arrays[("in/" if t in manifest["io"]["inputs"] else "out/")
                                   + t["name"]].shape) == t["shape"]
        elif want["problem"] == "schema":
            with pytest.raises(CamkitError, match="schema"):
                read_manifest(folder / name)
        elif want["problem"] == "sha256":
            entry = raw["sample"] if "sample" in name else raw["artifact"]
            assert sha256_path(folder / entry["file"]) != entry["sha256"]
        elif want["problem"] == "missing":
            assert not (folder / raw["artifact"]["file"]).exists()
        else:
            tensor = raw["io"]["inputs"][0]
            assert (tensor["layout"] not in ("nchw", "nhwc") if want["problem"] == "layout" else
                    tensor["dtype"] not in ("float32", "uint8") if want["problem"] == "dtype" else
                    tensor["dtype"] == "uint8" and tensor["quantization"] is None)


def test_metrics_and_latency_groups(fixtures):
    """PSNR and max abs as toolkit/checks/metrics.py computes them; latency statistics as
    every host profiler computes them."""
    from toolkit.checks.metrics import max_abs, psnr_db
    from toolkit.profilers.host_profile import latency_from_times

    out, _ = fixtures
    pairs = json.loads((out / "metrics.json").read_text())["pairs"]
    assert {p["name"] for p in pairs} == {"noisy", "equal", "uint8_output"}
    for p in pairs:
        a = np.asarray(p["a"], np.float32)
        if "b" in p:
            b = np.asarray(p["b"], np.float32)
        else:
            q = p["quantization"]
            b = (np.asarray(p["b_uint8"], np.float32) - np.float32(q["zero_point"])) * np.float32(
                q["scale"])
        want = psnr_db(a[None, None, None], b[None, None, None])
        assert (p["psnr_db"] == "inf") if want == float("inf") else p["psnr_db"] == pytest.approx(
            want, rel=1e-12)
        assert p["max_abs"] == pytest.approx(max_abs(a[None, None, None], b[None, None, None]),
                                             abs=0)
    sets = json.loads((out / "latency.json").read_text())["sets"]
    assert {len(s["samples_ms"]) for s in sets} == {37, 1, 2, 20}
    for s in sets:
        lat = latency_from_times(None, None, [], s["samples_ms"])
        for key in ("mean_ms", "median_ms", "p5_ms", "p90_ms", "p95_ms", "p99_ms", "min_ms",
                    "max_ms", "std_ms", "n"):
            assert s[key] == getattr(lat, key), key
        for p, value in s["percentiles"].items():
            assert value == float(np.percentile(s["samples_ms"], float(p)))
    assert next(s for s in sets if s["n"] == 1)["std_ms"] is None
