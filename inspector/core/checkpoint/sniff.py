"""Decide what a file is from its bytes, never its name.

Checkpoints in the wild are called ``.pth``, ``.pt``, ``.ckpt``, ``.pkl``, ``.tar``, ``.bin``; some are
compressed or wrapped in an archive; some are not checkpoints at all (an image renamed ``.pth``). The first
bytes say which, so the loader can pick a reader and give a precise message when there is none.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zipfile
from dataclasses import dataclass

COMPRESSIONS = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}
NOT_CHECKPOINTS = {
    b"\x89PNG\r\n\x1a\n": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"\x89HDF\r\n\x1a\n": "an HDF5 file (Keras/TensorFlow weights; open it with h5py)",
    b"\x93NUMPY": "a NumPy .npy array (open it with numpy.load)",
    b"\x7fELF": "an executable",
    b"ONNX": "an ONNX model",
}


@dataclass(frozen=True)
class Sniffed:
    """What the bytes say: ``kind`` is one of zip, torchscript, safetensors, pickle, tar, compressed,
    archive (a zip or tar wrapping another file), empty, or unknown; ``detail`` says more for messages."""

    kind: str
    detail: str = ""


def sniff_bytes(head: bytes) -> Sniffed:
    """Classify by the leading bytes only (used for streams and for the first look at a file)."""
    if not head:
        return Sniffed("empty", "the file is empty")
    for magic, name in COMPRESSIONS.items():
        if head.startswith(magic):
            return Sniffed("compressed", name)
    for magic, name in NOT_CHECKPOINTS.items():
        if head.startswith(magic):
            return Sniffed("unknown", name)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return Sniffed("zip")
    if _looks_like_safetensors(head):
        return Sniffed("safetensors")
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return Sniffed("pickle", f"protocol {head[1]}")
    if len(head) >= 262 and head[257:262] == b"ustar":
        return Sniffed("tar")
    if head[:1] in (b"L", b"I") and head[1:2].isdigit() and b"\n" in head[:64]:  # protocol 0: LONG/INT first
        return Sniffed("pickle", "protocol 0")
    if head[:1] in (b"(", b"}", b"]", b"c", b"K") and b"\x00" not in head[:2]:
        return Sniffed("pickle", "protocol 0/1")
    if head.lstrip()[:1] in (b"{", b"["):
        return Sniffed("unknown", "a text (JSON) file")
    if _is_text(head):
        return Sniffed("unknown", "a text file")
    return Sniffed("unknown", "not a format PyTorch writes")


def sniff_source(source: str | bytes) -> Sniffed:
    """Classify a file on disk (a path) or its decompressed bytes; looks inside zips and tars to tell torch
    archives, TorchScript and wrappers apart."""
    if isinstance(source, bytes):
        head = source[:4096]
    else:
        with open(source, "rb") as f:
            head = f.read(4096)
    found = sniff_bytes(head)
    if found.kind == "zip":
        return _sniff_zip(source)
    if found.kind == "tar":
        return _sniff_tar(source)
    return found


def _as_file(source: str | bytes):
    return io.BytesIO(source) if isinstance(source, bytes) else source


def _sniff_tar(source: str | bytes) -> Sniffed:
    try:
        with (
            tarfile.open(fileobj=_as_file(source)) if isinstance(source, bytes) else tarfile.open(source) as t
        ):
            names = t.getnames()
    except (tarfile.TarError, OSError, ValueError, EOFError):
        return Sniffed("corrupt", "a tar archive that is truncated or corrupt")
    if {"pickle", "storages", "tensors"} <= set(names):
        return Sniffed("tar", "torch < 0.4 tar checkpoint")
    return Sniffed("archive", "a tar archive")


def _sniff_zip(source: str | bytes) -> Sniffed:
    try:
        with zipfile.ZipFile(_as_file(source)) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError, NotImplementedError, EOFError, OSError):
        return Sniffed("corrupt", "a zip archive that is truncated or corrupt")
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names) and any(
        n.endswith("data.pkl") for n in names
    ):
        return Sniffed("torchscript")
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return Sniffed("zip")
    if any(n.endswith(".npy") for n in names):
        return Sniffed("unknown", "a NumPy .npz archive (open it with numpy.load)")
    return Sniffed("archive", "a zip archive")


def _looks_like_safetensors(head: bytes) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    if not (2 <= n <= 100_000_000) or head[8:9] != b"{":
        return False
    try:
        json.loads(head[8 : 8 + n].decode("utf-8")) if n <= len(head) - 8 else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    except RecursionError:  # absurdly nested: still a safetensors header, which its reader then refuses
        return True
    return True


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
