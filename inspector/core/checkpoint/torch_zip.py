"""Read a ``torch.save`` zip (and a TorchScript archive's ``data.pkl``) with our own zip handling.

torch's reader takes the archive on trust: a deflated ``data.pkl`` or tensor record is expanded whole in
memory, and a TorchScript archive met on the way is handed to ``torch.jit.load``. Here each record is looked
up in the central directory and checked before it is read: stored records are cut from the memory-mapped file
as views (no copy, so listing a 5 GB file reads only its pickle), compressed ones are streamed against the
load's decompression budget, and every tensor's storage must be as long as its persistent id declares.
"""

from __future__ import annotations

import io
import lzma
import struct
import zipfile
import zlib
from typing import Any

from inspector.core.checkpoint.allowlist import Refused, TypeRef, integer
from inspector.core.checkpoint.byte_source import ByteSource, storage_from_bytes
from inspector.core.checkpoint.safe_unpickle import unpickle
from inspector.core.limits import MiB, setting

CHUNK = 1 << 20
# what reading a damaged record raises (zlib/lzma: a compressed stream that is corrupt)
READ_ERRORS = (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError, zlib.error,
               lzma.LZMAError)  # fmt: skip


class TorchZip:
    """The records of one archive folder (``archive/data.pkl``, ``archive/data/0``...), by name in it."""

    def __init__(self, source: ByteSource, ctx):
        self.source = source
        self.ctx = ctx
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(source.data) if source.path is None else source.path)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            ctx.corrupt(exc)  # (UnicodeDecodeError, a member name that is not UTF-8, is a ValueError)
        pickles = [i.filename for i in infos if i.filename == "data.pkl" or i.filename.endswith("/data.pkl")]
        if not pickles:
            ctx.corrupt("no data.pkl record")
        top = min(pickles, key=lambda n: (n.count("/"), n))
        self.prefix = top[: -len("data.pkl")]
        self.records = {
            i.filename[len(self.prefix) :]: i for i in infos if i.filename.startswith(self.prefix)
        }
        self.big_endian = False
        if "byteorder" in self.records:
            self.big_endian = self.read("byteorder", 16).strip() == b"big"

    def is_torchscript(self) -> bool:
        return "constants.pkl" in self.records or any(n.startswith("code/") for n in self.records)

    # -- records ------------------------------------------------------------------------------------------
    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        header = bytes(self.source.data[info.header_offset : info.header_offset + 30])
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise ValueError(f"record {info.filename!r} has no local header")
        mismatch = stored_sizes_mismatch(info)
        if mismatch:
            raise ValueError(f"record {info.filename!r}: {mismatch}")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        return info.header_offset + 30 + name_len + extra_len

    def read(self, name: str, cap: int) -> bytes:
        """A whole record, at most ``cap`` bytes (compressed ones also against the decompression budget)."""
        info = self.records.get(name)
        if info is None:
            self.ctx.corrupt(f"record {name!r} is missing")
        if info.file_size > cap:
            self.ctx.refuse(f"record {name!r} declares {info.file_size:,} bytes")
        try:
            if info.compress_type == zipfile.ZIP_STORED:
                start = self._data_offset(info)
                data = bytes(self.source.data[start : start + info.file_size])
                if len(data) != info.file_size:
                    raise ValueError(f"record {name!r} is truncated")
                return data
            return self._inflate(info, cap)
        except READ_ERRORS as exc:
            self.ctx.corrupt(exc)

    def _inflate(self, info: zipfile.ZipInfo, cap: int) -> bytes:
        budget = min(cap, self.ctx.decompressed_budget())
        parts, total = [], 0
        with self.zip.open(info) as stream:
            while chunk := stream.read(CHUNK):
                total += len(chunk)
                if total > budget:
                    self.ctx.too_big_decompressed()
                parts.append(chunk)
        self.ctx.count_decompressed(total)
        return b"".join(parts)

    def storage(self, key: str, nbytes: int):
        """The untyped storage of ``data/<key>``, exactly ``nbytes`` long."""
        name = f"data/{key}"
        info = self.records.get(name)
        if info is None:
            self.ctx.corrupt(f"tensor data record {name!r} is missing")
        if info.file_size != nbytes:  # torch refuses a record longer than its storage too
            self.ctx.corrupt(f"record {name!r} holds {info.file_size:,} bytes, its tensor needs {nbytes:,}")
        if info.compress_type == zipfile.ZIP_STORED:
            try:
                return self.source.storage(self._data_offset(info), nbytes)
            except ValueError as exc:
                self.ctx.corrupt(exc)
        return storage_from_bytes(self.read(name, max(nbytes, info.file_size))[:nbytes])

    # -- the pickle ---------------------------------------------------------------------------------------
    def load(self, pickle_name: str = "data.pkl") -> Any:
        import torch

        data = self.read(pickle_name, self.ctx.limits.max_pickle_mb * MiB)
        loaded: dict[str, Any] = {}

        def persistent_load(pid):
            if not isinstance(pid, tuple) or len(pid) != 5 or _text(pid[0]) != "storage":
                raise Refused("a persistent id that is not a storage")
            _, storage_type, key, location, count = pid
            if not isinstance(storage_type, TypeRef) or storage_type.dtype is None:
                raise Refused("a storage of an unknown type")
            key, location = _text(key), _text(location)
            dtype = storage_type.dtype
            nbytes = integer(count, "a storage's size") * torch._utils._element_size(dtype)
            if key not in loaded:
                untyped = self.storage(key, nbytes)
                if self.big_endian:
                    untyped.byteswap(dtype)
                if location and location != "cpu":
                    self.ctx.devices[untyped.data_ptr()] = location
                loaded[key] = untyped
            return torch.storage.TypedStorage(wrap_storage=loaded[key], dtype=dtype, _internal=True)

        obj, _ = unpickle(data, self.ctx, 0, persistent_load)
        return obj


def directory_mismatch(info: zipfile.ZipInfo, data) -> str:
    """What a record's central directory entry says differently from its local header (and data descriptor),
    or "" when they agree. ``inspector verify`` reports any of these as damage; the loader refuses only what
    torch's reader (miniz) refuses, :func:`stored_sizes_mismatch`."""
    header = bytes(data[info.header_offset : info.header_offset + 30])
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        return "it has no local header"
    if stored_sizes_mismatch(info):
        return stored_sizes_mismatch(info)
    flags, method = struct.unpack("<HH", header[6:10])
    crc, csize, usize, name_len, extra_len = struct.unpack("<IIIHH", header[14:30])
    if method != info.compress_type:
        return (
            f"the central directory says compression method {info.compress_type}, its local header {method}"
        )
    name = bytes(data[info.header_offset + 30 : info.header_offset + 30 + name_len])
    if name not in (
        info.orig_filename.encode("utf-8", "replace"),
        info.orig_filename.encode("cp437", "replace"),
    ):
        return "the central directory and its local header give it different names"
    if flags & 0x08:  # CRC and sizes follow the data, in a data descriptor (torch.save writes them so)
        end = info.header_offset + 30 + name_len + extra_len + info.compress_size
        tail = bytes(data[end : end + 16])
        if tail[:4] == b"PK\x07\x08":
            tail = tail[4:]
        crc, csize, usize = struct.unpack("<III", tail[:12]) if len(tail) >= 12 else (info.CRC, 0, 0)
        where = "the data descriptor after it"
    else:
        where = "its local header"
    for what, local, central in (("CRC-32", crc, info.CRC), ("compressed size", csize, info.compress_size),
                                 ("size", usize, info.file_size)):  # fmt: skip
        if local != 0xFFFFFFFF and local != central:
            shown = (f"{central:08x}", f"{local:08x}") if what == "CRC-32" else (f"{central:,}", f"{local:,}")
            return f"the central directory says {what} {shown[0]}, {where} {shown[1]}"
    return ""


def stored_sizes_mismatch(info: zipfile.ZipInfo) -> str:
    """A stored record's compressed and uncompressed sizes must agree (torch refuses it otherwise: "invalid
    header or archive is corrupted"; zipfile reads it on trust)."""
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        return (f"the central directory says {info.compress_size:,} stored bytes and {info.file_size:,} "
                "uncompressed: the directory is damaged")  # fmt: skip
    return ""


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    if isinstance(value, str | int):
        return str(value)
    raise Refused("a persistent id with a non-text field")


def read_torch_zip(source: ByteSource, ctx, allow_torchscript: bool = False) -> Any:
    """The object a ``torch.save`` zip holds (or a TorchScript archive's ``data.pkl`` tree of stubs)."""
    archive = TorchZip(source, ctx)
    if archive.is_torchscript() and not allow_torchscript:
        ctx.refuse("it carries a TorchScript archive inside, whose code only runs with trust")
    return archive.load()


__all__ = ["TorchZip", "read_torch_zip", "setting"]
