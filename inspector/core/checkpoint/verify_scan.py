"""A torch zip whose central directory is gone (a truncated download): find its whole records from the start.

:mod:`zipfile` reads a zip from its end, so a file cut short anywhere, even by 10 bytes, is only "a zip archive
that is truncated or corrupt". The records themselves are still there in order, each behind a 30-byte local
header: :func:`scan_local_records` walks those headers from offset 0 (torch writes each record's CRC-32 and
sizes in a data descriptor after its data, flag bit 3, found by its signature and a size that matches the
distance), stops at the first record that is not whole, and gives :class:`zipfile.ZipInfo` records the
loader's reader can use. If ``data.pkl`` is whole, verify can still say which tensors' records are missing or
cut short. The work is one pass over the file and at most ``max_records`` records.
"""

from __future__ import annotations

import struct
import zipfile
import zlib

LOCAL = b"PK\x03\x04"
DESCRIPTOR = b"PK\x07\x08"
CRC_CHUNK = 4 << 20


def scan_local_records(data, max_records: int) -> tuple[list[zipfile.ZipInfo], str]:
    """(the whole records from the start of ``data``, the name of the first record cut short or "")."""
    infos: list[zipfile.ZipInfo] = []
    pos = 0
    while len(infos) < max_records:
        head = bytes(data[pos : pos + 30])
        if len(head) < 30 or head[:4] != LOCAL:
            return infos, ""
        flags, method = struct.unpack("<HH", head[6:10])
        crc, csize, usize, name_len, extra_len = struct.unpack("<IIIHH", head[14:30])
        raw_name = bytes(data[pos + 30 : pos + 30 + name_len])
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        start = pos + 30 + name_len + extra_len
        if flags & 0x08:
            found = _find_descriptor(data, start)
            if found is None:
                return infos, name
            crc, csize, usize, end = found
        else:
            if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:
                return infos, name  # zip64 sizes in the extra field: not needed for what torch writes
            end = start + csize
            if end > len(data):
                return infos, name
        info = zipfile.ZipInfo(name)
        info.orig_filename = name
        info.header_offset, info.compress_type, info.flag_bits = pos, method, flags
        info.CRC, info.compress_size, info.file_size = crc, csize, usize
        infos.append(info)
        pos = end
    return infos, ""


def _find_descriptor(data, start: int) -> tuple[int, int, int, int] | None:
    """(crc, compressed size, size, end) of the data descriptor that closes the record whose data begins at
    ``start``: the first ``PK\\x07\\x08`` whose compressed size is its distance from ``start`` (4- or 8-byte
    sizes, zip64). Each candidate costs O(1), so the search is one pass."""
    at = start
    while (at := data.find(DESCRIPTOR, at)) >= 0:
        size = at - start
        tail = bytes(data[at + 4 : at + 24])
        if len(tail) >= 12 and struct.unpack("<I", tail[4:8])[0] == size:
            crc, csize, usize = struct.unpack("<III", tail[:12])
            return crc, csize, usize, at + 16
        if len(tail) >= 20 and struct.unpack("<Q", tail[4:12])[0] == size:
            crc, csize, usize = struct.unpack("<IQQ", tail[:20])
            return crc, csize, usize, at + 24
        at += 1
    return None


def crc_of(data, info: zipfile.ZipInfo, start: int) -> int:
    """The CRC-32 of a stored record's bytes, in chunks."""
    crc = 0
    for at in range(start, start + info.compress_size, CRC_CHUNK):
        crc = zlib.crc32(data[at : min(at + CRC_CHUNK, start + info.compress_size)], crc)
    return crc
