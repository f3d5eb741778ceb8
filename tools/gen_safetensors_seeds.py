#!/usr/bin/env python3
"""Writes the seed corpus for tests/fuzz/fuzz_safetensors.c: a few tiny valid files and
a few malformed ones, each under 1 KiB. Deterministic, standard library only.

usage: tools/gen_safetensors_seeds.py [out_dir]   (default tests/fuzz/corpus/safetensors)
"""
import json
import os
import struct
import sys


def raw(header_text, data=b""):
    """A file image with the header exactly as given (no padding)."""
    h = header_text.encode()
    return struct.pack("<Q", len(h)) + h + data


def standard(tensors, metadata=None):
    """The standard layout: tensors = [(name, dtype, shape, bytes)], header padded to 8."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def tensor_json(dtype, shape, begin, end):
    return json.dumps({"dtype": dtype, "shape": shape, "data_offsets": [begin, end]})


SEEDS = {
    # valid
    "valid_f32.safetensors": standard([("w", "F32", [2, 2], struct.pack("<4f", 1, -2, 0.5, 3))]),
    "valid_mixed.safetensors": standard(
        [
            ("f64", "F64", [2], struct.pack("<2d", 0.1, -1e300)),
            ("t", "I64", [2], struct.pack("<2q", 999, 17)),
            ("scalar", "F32", [], struct.pack("<f", 42)),
            ("i32", "I32", [1], struct.pack("<i", -7)),
            ("h", "F16", [3], struct.pack("<3H", 0x3C00, 0x7C00, 0x7E00)),
            ("bf", "BF16", [1, 1], struct.pack("<H", 0x3F80)),
            ("i16", "I16", [1], struct.pack("<h", -300)),
            ("u8", "U8", [3], bytes([0, 1, 255])),
            ("mask", "BOOL", [2], bytes([0, 1])),
            ("e4", "F8_E4M3", [2], bytes([0x38, 0x7F])),
            ("e5", "F8_E5M2", [2], bytes([0x3C, 0x7C])),
            ("empty", "F32", [4, 0], b""),
        ],
        metadata={"format": "pt", "note": "seed"},
    ),
    "valid_unaligned.safetensors": raw(
        '{"a":' + tensor_json("U8", [3], 0, 3) + ',"b":' + tensor_json("F32", [2], 3, 11)
        + ',"c":' + tensor_json("U16", [1], 13, 15) + "}",
        bytes(3) + struct.pack("<2f", 1.0, -0.5) + bytes(6),
    ),
    "valid_metadata_only.safetensors": standard([], metadata={"k": "v", "e": ""}),
    # malformed
    "bad_short.safetensors": b"\x08\x00\x00\x00\x00",
    "bad_header_past_end.safetensors": struct.pack("<Q", 64) + b"{}",
    "bad_json.safetensors": raw('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]', bytes(4)),
    "bad_dtype.safetensors": raw('{"a":' + tensor_json("F4", [2], 0, 1) + "}", bytes(1)),
    "bad_overlap.safetensors": raw(
        '{"a":' + tensor_json("F32", [2], 0, 8) + ',"b":' + tensor_json("F32", [1], 4, 8) + "}", bytes(8)
    ),
    "bad_duplicate.safetensors": raw(
        '{"a":' + tensor_json("U8", [1], 0, 1) + ',"a":' + tensor_json("U8", [1], 1, 2) + "}", bytes(2)
    ),
    "bad_offsets_past_end.safetensors": raw('{"a":' + tensor_json("F32", [4], 0, 16) + "}", bytes(8)),
    "bad_numel_overflow.safetensors": raw(
        '{"a":' + tensor_json("U8", [4294967296, 4294967296, 4294967296], 0, 0) + "}"
    ),
    "bad_shape_negative.safetensors": raw('{"a":' + tensor_json("F32", [-1], 0, 4) + "}", bytes(4)),
    "bad_metadata.safetensors": raw('{"__metadata__": {"k": 1}}'),
    "bad_zip.safetensors": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(22),
    "bad_lfs_pointer.safetensors": b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n",
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus", "safetensors")
    os.makedirs(out, exist_ok=True)
    for name, blob in SEEDS.items():
        assert len(blob) < 1024, name
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)
    print(f"wrote {len(SEEDS)} seeds to {out}")


if __name__ == "__main__":
    main()
