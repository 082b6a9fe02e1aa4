"""Unwrap a checkpoint that was compressed (gzip, bz2, xz) or put alone in a zip or tar, within a budget.

A few kilobytes of gzip can expand to gigabytes, a zip member can declare any size and a tar member can be a
link to ``/etc/passwd``, a FIFO or a sparse file of a terabyte. So decompression is streamed and stops past the
load's budget (:meth:`ReadContext.decompressed_budget`), and only regular members with plain relative names
are read, from memory: nothing is ever extracted to disk.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import stat
import tarfile
import zipfile
import zlib

from inspector.core.errors import InspectorError

CHUNK = 1 << 20
CORRUPT_STREAM = (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError)  # zlib: a damaged deflate stream
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl", ".pickle", ".tar", ".safetensors", ".model")


def _file(source: str | bytes):
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115


def _read_capped(stream, ctx) -> bytes:
    budget = ctx.decompressed_budget()
    parts, total = [], 0
    while chunk := stream.read(CHUNK):
        total += len(chunk)
        if total > budget:
            ctx.too_big_decompressed()
        parts.append(chunk)
    ctx.count_decompressed(total)
    return b"".join(parts)


def decompress(source: str | bytes, codec: str, ctx) -> bytes:
    openers = {"gzip": gzip.GzipFile, "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}
    path = ctx.path
    if codec not in openers:
        raise InspectorError(f"{path}: {codec}-compressed; decompress it first (e.g. 'unzstd {path}')")
    try:
        with (
            _file(source) as raw,
            openers[codec](fileobj=raw) if codec == "gzip" else openers[codec](raw) as f,
        ):
            return _read_capped(f, ctx)
    except CORRUPT_STREAM as exc:
        raise InspectorError(
            f"{path}: the {codec} data is truncated or corrupt ({str(exc)[:120]}); re-download it"
        ) from None


def _plain_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return bool(name) and not name.startswith(("/", "\\")) and ".." not in parts and ":" not in parts[0]


def unwrap_archive(source: str | bytes, detail: str, ctx) -> bytes:
    """The one checkpoint inside a zip/tar that is only a wrapper (e.g. a release asset)."""
    try:
        with _file(source) as raw:
            if "zip" in detail:
                return _unwrap_zip(raw, ctx)
            return _unwrap_tar(raw, ctx)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError, NotImplementedError,
            zlib.error, lzma.LZMAError) as exc:  # fmt: skip
        raise InspectorError(
            f"{ctx.path}: the archive is truncated or corrupt ({str(exc)[:120]}); re-download it"
        ) from None


def _unwrap_zip(raw, ctx) -> bytes:
    with zipfile.ZipFile(raw) as z:
        infos = [i for i in z.infolist() if not i.filename.endswith("/")]  # is_dir() fails on an empty name
        chosen = _choose_member(ctx.path, infos, lambda i: i.filename)
        mode = chosen.external_attr >> 16
        # no file-type bits (Python's ZipFile.writestr writes 0o600): a plain file; a type other than regular: not
        if (stat.S_IFMT(mode) and not stat.S_ISREG(mode)) or not _plain_name(chosen.filename):
            ctx.refuse(f"zip member {chosen.filename!r} is a link or has an unsafe name")
        if chosen.file_size > ctx.decompressed_budget():
            ctx.too_big_decompressed()
        with z.open(chosen) as f:
            return _read_capped(f, ctx)


def _unwrap_tar(raw, ctx) -> bytes:
    with tarfile.open(fileobj=raw, mode="r:*") as t:
        members = [m for m in t.getmembers() if not m.isdir()]
        chosen = _choose_member(ctx.path, members, lambda m: m.name)
        if not chosen.isfile() or chosen.issparse() or not _plain_name(chosen.name):
            ctx.refuse(f"tar member {chosen.name!r} is a link, a device or a sparse file, not plain data")
        if chosen.size > ctx.decompressed_budget():
            ctx.too_big_decompressed()
        return _read_capped(t.extractfile(chosen), ctx)


def _choose_member(path: str, members: list, name_of):
    if len(members) == 1:
        return members[0]
    likely = [m for m in members if name_of(m).lower().endswith(CHECKPOINT_SUFFIXES)]
    if len(likely) == 1:
        return likely[0]
    names = [name_of(m) for m in members]
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    raise InspectorError(
        f"{path}: an archive of {len(members)} files ({shown}); extract the checkpoint and open that file"
    )
