"""WESPE/DPED enhancer: architecture facts, export-friendliness, and the TensorFlow import.

The import is checked three ways: the pure-Python bundle reader on a bundle written here (always),
on the official DPED files (when ../shared/data is present), and the imported generator against
an independent NumPy implementation of DPED's TensorFlow graph (and real TF ops when installed).
"""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest
import torch

from conftest import run_cli, shared_path
from toolkit.errors import CamkitError
from toolkit.models._blocks import InstanceNorm
from toolkit.models.enhance_wespe import model as wespe
from toolkit.tf_checkpoint import crc32c, masked_crc32c, read_tf_checkpoint

DPED_PARAMS = 401_475


def _params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# ------------------------------------------------------------------------------ architecture


def test_paper_has_dpeds_parameter_count():
    assert _params(wespe.build("paper")) == DPED_PARAMS
    assert _params(wespe.build_inverse("paper")) == DPED_PARAMS


def test_mobile_fits_ten_gmacs_per_1080p_frame():
    from toolkit.models._cost import conv_linear_macs

    assert conv_linear_macs(wespe.build("mobile"), 3, 1080, 1920) <= 10e9
    # paper, by hand: 1080*1920 pixels x (2 * 9*9*3*64 + 10 * 3*3*64*64) MACs
    assert conv_linear_macs(wespe.build("paper"), 3, 1080, 1920) == 1080 * 1920 * 399_744


@pytest.mark.parametrize("variant", wespe.VARIANTS)
def test_generators_keep_shape_and_head_range(variant):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 40, 56)
    for net in (wespe.build(variant).eval(), wespe.build_inverse(variant).eval()):
        with torch.no_grad():
            y = net(x * 50 - 25)  # drive the head into saturation
        assert y.shape == x.shape
        assert y.min() >= 0.5 - 0.58 and y.max() <= 0.5 + 0.58


@pytest.mark.parametrize("variant", wespe.VARIANTS)
def test_discriminators_give_one_logit_per_patch(variant):
    colour, texture = wespe.build_discriminators(variant, patch_px=100)
    assert colour(torch.rand(2, 3, 100, 100)).shape == (2, 1)
    assert texture(torch.rand(2, 1, 100, 100)).shape == (2, 1)
    with pytest.raises(CamkitError, match="patch_px"):
        colour(torch.rand(1, 3, 64, 64))


def test_paper_discriminator_flattens_like_dped():
    colour, _ = wespe.build_discriminators("paper", patch_px=100)
    assert colour.fc.in_features == 128 * 7 * 7  # DPED models.py: flat_size


def test_instance_norm_equals_dpeds_formula():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 7, 9)).astype(np.float32) * 3 + 1
    scale = rng.standard_normal(5).astype(np.float32)
    shift = rng.standard_normal(5).astype(np.float32)
    norm = InstanceNorm(5)
    norm.load_state_dict({"scale": torch.from_numpy(scale), "shift": torch.from_numpy(shift)})
    with torch.no_grad():
        got = norm(torch.from_numpy(x)).numpy()
    # DPED _instance_norm, NHWC: moments over (1, 2), (x - mu) / (var + 1e-3) ** 0.5
    nhwc = x.transpose(0, 2, 3, 1).astype(np.float64)
    mu, var = nhwc.mean(axis=(1, 2), keepdims=True), nhwc.var(axis=(1, 2), keepdims=True)
    want = scale * (nhwc - mu) / (var + 1e-3) ** 0.5 + shift
    np.testing.assert_allclose(got, want.transpose(0, 3, 1, 2), rtol=0, atol=1e-5)


def test_tiny_generator_exports_with_dynamic_size_and_no_inplace_ops():
    from torch.export import Dim

    net = wespe.build("tiny").eval()
    h, w = Dim("h_blocks", min=1, max=2048) * 2, Dim("w_blocks", min=1, max=2048) * 2
    program = torch.export.export(net, (torch.rand(1, 3, 64, 64),),
                                  dynamic_shapes=({2: h, 3: w},))
    targets = [str(n.target) for n in program.graph.nodes if n.op == "call_function"]
    assert not [t for t in targets if t.split(".")[1].endswith("_")], targets  # aten.relu_ etc.
    assert not [t for t in targets if "instance_norm" in t or "batch_norm" in t], targets
    x = torch.rand(1, 3, 38, 90)
    torch.testing.assert_close(program.module()(x), net(x))


# ------------------------------------------------------------------- a tensor bundle, in-test


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, value: int | bytes, fixed32: bool = False) -> bytes:
    if isinstance(value, bytes):
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    if fixed32:
        return _varint(number << 3 | 5) + struct.pack("<I", value)
    return _varint(number << 3) + _varint(value)


def _block(entries: list[tuple[bytes, bytes]], restart_every: int = 2) -> bytes:
    body, restarts, prev = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_every:
            while shared < min(len(key), len(prev)) and key[shared] == prev[shared]:
                shared += 1
        else:
            restarts.append(len(body))
        body += _varint(shared) + _varint(len(key) - shared) + _varint(len(value))
        body += key[shared:] + value
        prev = key
    body += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(body)


def write_bundle(prefix, tensors: dict[str, np.ndarray]) -> None:
    """A minimal TF tensor bundle (one shard, float32 little-endian), LevelDB table index."""
    data, entries = bytearray(), [(b"", _field(1, 1) + _field(3, _field(1, 1)))]  # header
    for name in sorted(tensors):
        raw = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        shape = b"".join(_field(2, _field(1, d)) for d in tensors[name].shape)
        entry = _field(1, 1) + _field(2, shape) + _field(4, len(data)) + _field(5, len(raw))
        entries.append((name.encode(), entry + _field(6, masked_crc32c(raw), fixed32=True)))
        data += raw
    table, index_entries = bytearray(), []
    for chunk in (entries[: len(entries) // 2], entries[len(entries) // 2 :]):  # two data blocks
        block = _block(chunk)
        index_entries.append((chunk[-1][0], _varint(len(table)) + _varint(len(block))))
        table += block + b"\0" + struct.pack("<I", masked_crc32c(block + b"\0"))
    handles = b""
    for block in (_block([]), _block(index_entries)):  # metaindex, index
        handles += _varint(len(table)) + _varint(len(block))
        table += block + b"\0" + struct.pack("<I", masked_crc32c(block + b"\0"))
    table += handles.ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57)
    prefix.with_name(prefix.name + ".index").write_bytes(bytes(table))
    prefix.with_name(prefix.name + ".data-00000-of-00001").write_bytes(bytes(data))


def test_crc32c_known_answer():
    assert crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value


def _sample_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        "generator/W1": rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
        "generator/b1": rng.standard_normal(4).astype(np.float32),
        "generator/Variable": rng.standard_normal(4).astype(np.float32),
        "generator/Variable_1": rng.standard_normal(4).astype(np.float32),
        "generator/Variable_10": np.zeros((2, 0), np.float32),
    }


def test_reader_round_trips_a_bundle_written_here(tmp_path):
    tensors = _sample_tensors()
    write_bundle(tmp_path / "ck", tensors)
    for given in ("ck", "ck.index", "ck.data-00000-of-00001"):  # prefix, or a file of it
        got = read_tf_checkpoint(tmp_path / given)
        assert set(got) == set(tensors)
        for name, value in tensors.items():
            np.testing.assert_array_equal(got[name], value)


@pytest.mark.parametrize(
    "damage,needle",
    [
        ("truncate_data", "is truncated"),
        ("flip_data", "is corrupt (crc32c"),
        ("drop_data", "is missing"),
        ("truncate_index", "truncated or corrupt"),
        ("flip_index", "truncated or corrupt"),
        ("wrong_prefix", "pass the prefix"),
    ],
)
def test_reader_names_the_fix_for_a_broken_bundle(tmp_path, damage, needle):
    write_bundle(tmp_path / "ck", _sample_tensors())
    index, data = tmp_path / "ck.index", tmp_path / "ck.data-00000-of-00001"
    raw_index, raw_data = index.read_bytes(), bytearray(data.read_bytes())
    if damage == "truncate_data":
        data.write_bytes(raw_data[:-9])
    elif damage == "flip_data":
        raw_data[5] ^= 0x40
        data.write_bytes(bytes(raw_data))
    elif damage == "drop_data":
        data.unlink()
    elif damage == "truncate_index":
        index.write_bytes(raw_index[:-30])
    elif damage == "flip_index":
        index.write_bytes(raw_index[:12] + bytes([raw_index[12] ^ 1]) + raw_index[13:])
    with pytest.raises(CamkitError) as err:
        read_tf_checkpoint(tmp_path / ("model" if damage == "wrong_prefix" else "ck"))
    message = str(err.value)
    assert needle in message and "\n" not in message, message


# ------------------------------------------------------------------------ the official DPED


@pytest.fixture(scope="module")
def dped_prefix():
    return shared_path("dped_official", "iphone_orig.index").with_suffix("")


def test_reader_on_the_official_dped_checkpoint(dped_prefix):
    variables = read_tf_checkpoint(dped_prefix)
    assert sum(v.size for v in variables.values()) == DPED_PARAMS
    assert variables["generator/W1"].shape == (9, 9, 3, 64)
    assert variables["generator/W12"].shape == (9, 9, 64, 3)
    assert {f"generator/Variable_{i}" for i in range(1, 16)} < set(variables)
    # shift is created before scale (models.py: _instance_norm), so even = shift (init 0),
    # odd = scale (init 1); training moved them, but not that far
    shifts = [variables["generator/Variable" + (f"_{2 * k}" if k else "")] for k in range(8)]
    scales = [variables[f"generator/Variable_{2 * k + 1}"] for k in range(8)]
    assert all(abs(s.mean()) < 0.3 for s in shifts) and all(abs(s.mean() - 1) < 0.2 for s in scales)


def _dped_numpy(variables: dict[str, np.ndarray], image_hwc: np.ndarray) -> np.ndarray:
    """DPED's ``resnet`` in NumPy float64 with TF semantics (NHWC, HWIO, SAME, stride 1)."""
    from numpy.lib.stride_tricks import sliding_window_view

    def conv(x, i):
        kernel, bias = variables[f"generator/W{i}"].astype(np.float64), variables[f"generator/b{i}"]
        p = kernel.shape[0] // 2  # SAME for an odd kernel at stride 1: the same pad each side
        windows = sliding_window_view(np.pad(x, ((p, p), (p, p), (0, 0))), kernel.shape[:2], (0, 1))
        return np.einsum("hwcyx,yxco->hwo", windows, kernel, optimize=True) + bias

    def norm(x, k):
        shift = variables["generator/Variable" + (f"_{2 * k}" if k else "")]
        scale = variables[f"generator/Variable_{2 * k + 1}"]
        mu, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))
        return scale * (x - mu) / (var + 1e-3) ** 0.5 + shift

    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    x = relu(conv(image_hwc.astype(np.float64), 1))
    for b in range(4):
        y = relu(norm(conv(x, 2 + 2 * b), 2 * b))
        x = relu(norm(conv(y, 3 + 2 * b), 2 * b + 1)) + x
    x = relu(conv(relu(conv(x, 10)), 11))
    return np.tanh(conv(x, 12)) * 0.58 + 0.5


def _dped_patch() -> np.ndarray:
    from PIL import Image

    path = shared_path("dped_patches", "iphone", "0.jpg")
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


@pytest.fixture(scope="module")
def imported_paper(dped_prefix, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("dped_import")
    proc = run_cli("import-weights", "enhance_wespe", str(dped_prefix), "--from", "tensorflow",
                   "--out", str(out_dir))
    assert proc.returncode == 0, proc.stderr
    path = out_dir / "enhance_wespe-paper.safetensors"
    assert proc.stdout.strip() == f"wrote {path}"
    return path


def _torch_output(checkpoint, image_hwc: np.ndarray) -> np.ndarray:
    net = wespe.build("paper", checkpoint).eval()
    with torch.no_grad():
        y = net(torch.from_numpy(image_hwc).permute(2, 0, 1)[None])
    return y[0].permute(1, 2, 0).numpy()


def test_imported_generator_matches_numpy_dped(dped_prefix, imported_paper):
    image = _dped_patch()
    assert image.shape == (100, 100, 3)
    want = _dped_numpy(read_tf_checkpoint(dped_prefix), image)
    got = _torch_output(imported_paper, image)
    assert np.abs(got - want).max() < 1e-4
    assert want.std() > 0.05  # a real picture, not a flat output


def test_imported_generator_matches_tensorflow_ops(dped_prefix, imported_paper):
    tf = pytest.importorskip(
        "tensorflow", reason="tensorflow is not installed (optional: pip install tensorflow-cpu)"
    )
    reader = tf.train.load_checkpoint(str(dped_prefix))  # TF's own reader, not ours
    var = lambda name: tf.constant(reader.get_tensor(f"generator/{name}"))  # noqa: E731

    def conv(x, i):
        return tf.nn.conv2d(x, var(f"W{i}"), strides=[1, 1, 1, 1], padding="SAME") + var(f"b{i}")

    def norm(x, k):
        mu, sigma_sq = tf.nn.moments(x, [1, 2], keepdims=True)
        shift, scale = var("Variable" + (f"_{2 * k}" if k else "")), var(f"Variable_{2 * k + 1}")
        return scale * (x - mu) / (sigma_sq + 1e-3) ** 0.5 + shift

    image = _dped_patch()
    x = tf.nn.relu(conv(tf.constant(image[None]), 1))
    for b in range(4):
        y = tf.nn.relu(norm(conv(x, 2 + 2 * b), 2 * b))
        x = tf.nn.relu(norm(conv(y, 3 + 2 * b), 2 * b + 1)) + x
    x = tf.nn.relu(conv(tf.nn.relu(conv(x, 10)), 11))
    want = (tf.nn.tanh(conv(x, 12)) * 0.58 + 0.5).numpy()[0]
    assert np.abs(_torch_output(imported_paper, image) - want).max() < 1e-4


def test_reimport_says_it_replaced_and_a_failed_import_keeps_the_old_file(
    dped_prefix, imported_paper, tmp_path
):
    out_dir = imported_paper.parent
    proc = run_cli("import-weights", "enhance_wespe", str(dped_prefix), "--from", "tensorflow",
                   "--out", str(out_dir))
    assert proc.returncode == 0 and "replaced the previous file" in proc.stdout, proc.stderr
    before = imported_paper.read_bytes()
    broken = tmp_path / "iphone_orig"
    shutil.copy(dped_prefix.with_suffix(".index"), broken.with_suffix(".index"))
    data = dped_prefix.with_name(dped_prefix.name + ".data-00000-of-00001").read_bytes()
    broken.with_name(broken.name + ".data-00000-of-00001").write_bytes(data[: len(data) // 2])
    proc = run_cli("import-weights", "enhance_wespe", str(broken), "--from", "tensorflow",
                   "--out", str(out_dir))
    assert proc.returncode == 2 and "is truncated" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert imported_paper.read_bytes() == before


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--from", "tensorflow", "--variant", "mobile"], "shape mismatch"),
        ([], "pass --from tensorflow"),  # the default, pytorch, on a TF prefix
    ],
)
def test_import_mistakes_are_one_line(dped_prefix, tmp_path, args, needle):
    proc = run_cli("import-weights", "enhance_wespe", str(dped_prefix), *args,
                   "--out", str(tmp_path))
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())
