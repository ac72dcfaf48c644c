"""Read TensorFlow tensor-bundle checkpoints (``PREFIX.index`` + ``PREFIX.data-*``) without TF.

A TF checkpoint is a *prefix*: ``PREFIX.index`` is a LevelDB-format table (SSTable) mapping each
tensor name to a ``BundleEntryProto`` (dtype, shape, shard, byte offset and size, masked
crc32c), and ``PREFIX.data-SSSSS-of-NNNNN`` hold the raw little-endian tensor bytes. The empty
key holds a ``BundleHeaderProto`` (number of shards, endianness). Formats, for reference:
tensorflow/core/util/tensor_bundle/tensor_bundle.{h,cc,proto} and leveldb's doc/table_format.md.

Nothing here imports TensorFlow or protobuf: the few proto fields are decoded from the wire
format by hand, and every tensor's crc32c is checked, so a truncated or corrupt file is a
one-line ``CamkitError`` rather than silently wrong weights.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from toolkit.errors import CamkitError

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_BYTES = 48  # two block handles padded to 40 bytes, then the 8-byte magic
_BLOCK_TRAILER_BYTES = 5  # compression type (1 byte) + masked crc32c (4 bytes)

#: TF DataType enum (tensorflow/core/framework/types.proto) -> numpy little-endian dtype
_DTYPES = {
    1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?",
    17: "<u2", 19: "<f2", 22: "<u4", 23: "<u8",
}
_DT_STRING = 7  # variable-length bytes (object-graph metadata in TF2 checkpoints): skipped


# ----------------------------------------------------------------------------------- crc32c


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)  # Castagnoli, reflected
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TF's ``crc32c::Value``."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The masked form TF and LevelDB store (``crc32c::Mask``): rotate right 15, add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --------------------------------------------------------------------------- protobuf wire


class _Corrupt(Exception):
    """Internal: the index bytes do not parse; turned into a CamkitError naming the file."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Corrupt("varint runs past the end")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of one protobuf message; ints for varint/fixed, bytes for LEN."""
    out, pos = [], 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        else:
            raise _Corrupt(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise _Corrupt("field runs past the end")
        out.append((number, value))
    return out


def _shape(buf: bytes) -> tuple[int, ...]:
    """TensorShapeProto: repeated Dim dim = 2 (int64 size = 1)."""
    dims = []
    for number, value in _fields(buf):
        if number == 2:
            size = dict(_fields(value)).get(1, 0)  # proto3: an absent field is 0
            dims.append(size - (1 << 64) if size >= 1 << 63 else size)
        elif number == 3 and value:
            raise _Corrupt("unknown rank")
    return tuple(dims)


# ---------------------------------------------------------------------------- LevelDB table


def _block(data: bytes, offset: int, size: int) -> bytes:
    """Contents of one table block, trailer checked."""
    end = offset + size
    if end + _BLOCK_TRAILER_BYTES > len(data):
        raise _Corrupt("a block runs past the end of the file")
    kind, stored_crc = data[end], struct.unpack_from("<I", data, end + 1)[0]
    if masked_crc32c(data[offset : end + 1]) != stored_crc:
        raise _Corrupt("block checksum mismatch")
    if kind != 0:
        raise _Corrupt(f"compressed block (type {kind}); TF bundles write uncompressed tables")
    return data[offset:end]


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of a block: prefix-compressed keys, restart array at the end."""
    if len(block) < 4:
        raise _Corrupt("block too short")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 * (restarts + 1)
    if limit < 0:
        raise _Corrupt("bad restart count")
    entries, pos, key = [], 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise _Corrupt("entry runs past its block")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def _table_entries(data: bytes) -> list[tuple[bytes, bytes]]:
    if len(data) < _FOOTER_BYTES:
        raise _Corrupt("shorter than a table footer")
    footer = data[-_FOOTER_BYTES:]
    if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
        raise _Corrupt("no table magic at the end")
    _, pos = _varint(footer, 0)  # metaindex handle: offset, size (unused: no filters)
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    entries = []
    for _, handle in _block_entries(_block(data, index_offset, index_size)):
        offset, pos = _varint(handle, 0)
        size, _ = _varint(handle, pos)
        entries.extend(_block_entries(_block(data, offset, size)))
    return entries


# ---------------------------------------------------------------------------------- bundle


def checkpoint_prefix(path: str | Path) -> Path:
    """The prefix of a TF checkpoint, also when given ``PREFIX.index`` or a ``.data-*`` shard."""
    path = Path(path)
    if path.suffix == ".index":
        return path.with_suffix("")
    if ".data-" in path.name:
        return path.with_name(path.name.split(".data-")[0])
    return path


def _index_path(prefix: Path) -> Path:
    index = prefix.with_name(prefix.name + ".index")
    if not index.is_file():
        found = sorted(p.name.removesuffix(".index") for p in prefix.parent.glob("*.index"))
        hint = f"; prefixes there: {', '.join(found)}" if found else ""
        raise CamkitError(
            f"no TensorFlow checkpoint at prefix {prefix} ({index.name} not found); pass the "
            f"prefix, e.g. DIR/model for DIR/model.index + DIR/model.data-00000-of-00001{hint}"
        )
    return index


def read_tf_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every numeric tensor of a TF checkpoint, by variable name (string tensors skipped)."""
    prefix = checkpoint_prefix(prefix)
    index = _index_path(prefix)
    try:
        entries = dict(_table_entries(index.read_bytes()))
        header = dict(_fields(entries.pop(b"", b"")))
    except _Corrupt as e:
        raise CamkitError(
            f"{index} is not a readable TensorFlow checkpoint index ({e}); it is truncated or "
            f"corrupt: copy it again from the original checkpoint"
        ) from None
    num_shards = header.get(1, 1)  # proto3 defaults: one shard,
    if header.get(2, 0) != 0:  # little-endian
        raise CamkitError(f"{index} is a big-endian checkpoint; re-save it on a little-endian host")
    shards: dict[int, bytes] = {}
    tensors = {}
    for key, value in entries.items():
        name = key.decode("utf-8", "replace")
        try:
            tensor = _read_entry(prefix, name, dict(_fields(value)), num_shards, shards)
        except _Corrupt as e:
            raise CamkitError(
                f"{index} entry {name} does not parse ({e}); the index is corrupt: copy it again"
            ) from None
        if tensor is not None:
            tensors[name] = tensor
    return tensors


def _read_entry(
    prefix: Path, name: str, entry: dict, num_shards: int, shards: dict[int, bytes]
) -> np.ndarray | None:
    """One BundleEntryProto: dtype=1, shape=2, shard_id=3, offset=4, size=5, crc32c=6, slices=7."""
    dtype, shard = entry.get(1, 0), entry.get(3, 0)
    if 7 in entry:
        raise CamkitError(
            f"{prefix}: {name} is a partitioned variable, which camkit cannot import; "
            f"re-save the checkpoint with unpartitioned variables"
        )
    if dtype == _DT_STRING:
        return None
    if dtype not in _DTYPES:
        raise CamkitError(
            f"{prefix}: {name} has TF dtype {dtype}, which camkit cannot read; cast it to "
            f"float32 in TF and re-save"
        )
    shape = _shape(entry.get(2, b""))
    offset, size = entry.get(4, 0), entry.get(5, 0)
    if shard not in shards:
        shards[shard] = _read_shard(prefix, shard, num_shards)
    data = shards[shard]
    shard_name = _shard_path(prefix, shard, num_shards).name
    if offset + size > len(data):
        raise CamkitError(
            f"{shard_name} is truncated ({len(data)} bytes, {name} ends at byte "
            f"{offset + size}); copy it again from the original checkpoint"
        )
    raw = data[offset : offset + size]
    if masked_crc32c(raw) != entry.get(6, 0):
        raise CamkitError(
            f"{shard_name} is corrupt (crc32c of {name} does not match the index); copy it "
            f"again from the original checkpoint"
        )
    array = np.frombuffer(raw, dtype=np.dtype(_DTYPES[dtype]))
    if array.size != int(np.prod(shape, dtype=np.int64)):
        raise CamkitError(
            f"{prefix}: {name} holds {array.size} values for shape {shape}; the checkpoint is "
            f"corrupt: copy it again"
        )
    return array.reshape(shape).copy()


def _shard_path(prefix: Path, shard: int, num_shards: int) -> Path:
    return prefix.with_name(f"{prefix.name}.data-{shard:05d}-of-{num_shards:05d}")


def _read_shard(prefix: Path, shard: int, num_shards: int) -> bytes:
    path = _shard_path(prefix, shard, num_shards)
    if not path.is_file():
        raise CamkitError(
            f"{path.name} is missing next to {prefix.name}.index; a TF checkpoint is the .index "
            f"plus all its .data shards: copy them into {path.parent}"
        )
    return path.read_bytes()
