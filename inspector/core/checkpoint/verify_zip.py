"""Verify a torch zip (``torch.save`` since 1.6, and TorchScript archives): every record's CRC-32, then every
tensor's storage against the bytes its ``data/<key>`` record holds.

The CRC pass streams each record through ``zipfile`` in chunks (it checks the stored CRC-32 at the end of a
record), within the load's decompression budget for deflated ones. The structure pass is the loader's own
:class:`TorchZip` reading ``data.pkl`` through the safe unpickler, storages memory-mapped where the record is
whole and on the meta device where it is not: it learns which tensors use which storage and how far each
reads, without reading tensor bytes or refusing a short record.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from typing import Any

from inspector.core.checkpoint.byte_source import ByteSource
from inspector.core.checkpoint.torch_zip import READ_ERRORS, TorchZip, directory_mismatch
from inspector.core.checkpoint.verify import (
    CRC_MISMATCH,
    HEADER_MISMATCH,
    MISSING,
    OUT_OF_BOUNDS,
    UNREADABLE,
    DamagedRecord,
    VerifyReport,
    check_users,
    names_by_storage,
    quiet_warnings,
)
from inspector.core.errors import InspectorError
from inspector.core.jobs import Job, Progress

CHUNK = 4 << 20


class MetaStorageZip(TorchZip):
    """:class:`TorchZip` that never refuses a storage: a stored record as long as its persistent id declares is
    the loader's memory-mapped view (nothing read; quantized tensors keep pointing at it), anything else
    (short, missing, compressed, a broken local header) a meta-device placeholder of the declared size.
    ``declared`` holds key -> bytes, ``keys`` a storage's ``_cdata`` -> (key, 0): the tensors point back to it."""

    def __init__(self, source: ByteSource, ctx):
        super().__init__(source, ctx)
        self.big_endian = False  # values are not looked at, so none are swapped
        self.declared: dict[str, int] = {}
        self.keys: dict[int, tuple[str, int]] = {}
        self._alive: list[Any] = []  # keeps every storage alive, so no _cdata is reused

    def storage(self, key: str, nbytes: int):
        self.declared[key] = nbytes
        storage = self._mapped(key, nbytes)
        if storage is None:
            import torch

            storage = torch.UntypedStorage(nbytes, device="meta")
        self.keys[storage._cdata] = (key, 0)
        self._alive.append(storage)
        return storage

    def _mapped(self, key: str, nbytes: int):
        info = self.records.get(f"data/{key}")
        if info is None or info.compress_type != zipfile.ZIP_STORED or info.file_size < nbytes:
            return None
        try:
            return self.source.storage(self._data_offset(info), nbytes)
        except ValueError:  # past the end of the file, or no local header
            return None


class RecoveredZip(MetaStorageZip):
    """The whole records of a zip whose central directory is gone, found by :mod:`verify_scan` (stored records
    only are read: a compressed one needs the directory's ``zipfile``)."""

    def __init__(self, source: ByteSource, ctx, infos: list[zipfile.ZipInfo]):  # noqa: D107 (no TorchZip init)
        self.source, self.ctx, self.zip = source, ctx, None
        self.infos = infos
        pickles = [i.filename for i in infos if i.filename == "data.pkl" or i.filename.endswith("/data.pkl")]
        top = min(pickles, key=lambda n: (n.count("/"), n))
        self.prefix = top[: -len("data.pkl")]
        self.records = {
            i.filename[len(self.prefix) :]: i
            for i in infos
            if i.filename.startswith(self.prefix) and i.compress_type == zipfile.ZIP_STORED
        }
        self.big_endian = False
        self.declared, self.keys, self._alive = {}, {}, []


def iter_verify_zip(source: str | bytes, ctx, report: VerifyReport, torchscript: bool = False) -> Job[None]:
    """Fill ``report`` for a torch zip (see module docstring); yields progress in bytes read."""
    try:
        archive = MetaStorageZip(ByteSource(source), ctx)
    except InspectorError:  # no readable directory: its whole records, if data.pkl is one of them
        archive = _recover(source, ctx)
        if archive is None:
            raise
        torchscript = torchscript or archive.is_torchscript()
        yield from _check_recovered(archive, report)
    else:
        yield from _check_crcs(archive, ctx, report)
        report.trailing_bytes = bytes_after_the_archive(archive.source.data)
    users = _read_structure(archive, ctx, report, torchscript)
    if users is None:
        return
    for damaged in report.damaged:
        key = _storage_key_of(archive, damaged.record)
        if key is not None:
            damaged.tensors = [name for name, _ in users.get(key, [])]
    for key, nbytes in archive.declared.items():
        name = archive.prefix + f"data/{key}"
        info = archive.records.get(f"data/{key}")
        holders = users.get(key, [])
        if info is None and any(d.record == name for d in report.damaged):
            continue  # the record the file ends inside
        if info is None:
            gone = (
                "the file ends before this record" if isinstance(archive, RecoveredZip) else "no such record"
            )
            report.damaged.append(DamagedRecord(name, MISSING, [n for n, _ in holders], gone))
            continue
        if info.file_size > nbytes and not any(d.record == name for d in report.damaged):
            report.damaged.append(DamagedRecord(name, OUT_OF_BOUNDS, [n for n, _ in holders],
                                                f"the record holds {info.file_size:,} bytes, its storage declares {nbytes:,}"))  # fmt: skip
            continue
        available = min(info.file_size, nbytes)
        needed = max((need for _, need in holders), default=0)
        check_users(report, name, holders, available,
                    f"the record holds {info.file_size:,} bytes, the tensors need {max(needed, nbytes):,}")  # fmt: skip


def _check_crcs(archive: MetaStorageZip, ctx, report: VerifyReport) -> Job[None]:
    infos = [i for i in archive.zip.infolist() if not i.filename.endswith("/")]  # is_dir() fails on ""
    total = sum(i.file_size for i in infos) or 1
    done = 0
    budget = ctx.decompressed_budget()
    for info in infos:
        report.records_checked += 1
        yield Progress(done, total, f"checking {info.filename}")
        mismatch = directory_mismatch(info, archive.source.data)
        if mismatch:  # torch refuses the file, or the directory at least is damaged
            report.damaged.append(DamagedRecord(info.filename, HEADER_MISMATCH, [], mismatch))
            done += info.file_size
            continue
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > budget:
            report.damaged.append(
                DamagedRecord(info.filename, UNREADABLE, [], "it expands beyond the budget")
            )
            done += info.file_size
            continue
        try:
            with archive.zip.open(info) as stream:
                stream._expected_crc = None  # compared below, so that the report can say what was computed
                crc = 0
                while chunk := stream.read(CHUNK):
                    crc = zlib.crc32(chunk, crc)
                    done += len(chunk)
                    yield Progress(min(done, total), total, f"checking {info.filename}")
            if crc != info.CRC:
                report.damaged.append(crc_mismatch(info.filename, info.CRC, crc))
        except READ_ERRORS as exc:
            report.damaged.append(_read_failure(info, exc))
        if info.compress_type != zipfile.ZIP_STORED:
            budget -= info.file_size


def bytes_after_the_archive(data) -> int:
    """How many bytes follow the zip's end record (and its comment): zipfile and torch find the end record
    within the last 64 KiB and ignore what follows, so appended bytes read as a good file."""
    at = len(data)
    while (at := data.rfind(b"PK\x05\x06", max(0, len(data) - (1 << 16) - 22), at)) >= 0:
        record = bytes(data[at : at + 22])
        if len(record) == 22:
            cd_size, cd_offset, comment = struct.unpack("<IIH", record[12:22])
            zip64 = cd_offset == 0xFFFFFFFF or bytes(data[at - 20 : at - 16]) == b"PK\x06\x07"
            if zip64 or cd_offset + cd_size <= at:
                return max(0, len(data) - (at + 22 + comment))
    return 0


def _recover(source: str | bytes, ctx) -> RecoveredZip | None:
    from inspector.core.checkpoint.verify_scan import scan_local_records

    data = ByteSource(source)
    infos, cut = scan_local_records(data.data, ctx.limits.max_entries)
    if not any(i.filename == "data.pkl" or i.filename.endswith("/data.pkl") for i in infos):
        return None
    archive = RecoveredZip(data, ctx, infos)
    archive.cut = cut
    return archive


def _check_recovered(archive: RecoveredZip, report: VerifyReport) -> Job[None]:
    """The damage a truncated zip shows: no directory, the record cut short; each whole record's CRC-32."""
    from inspector.core.checkpoint.verify_scan import crc_of

    size = len(archive.source)
    whole = f"the {len(archive.infos)} records before where it ends are whole"
    report.damaged.append(DamagedRecord("central directory", MISSING, [],
                                        f"the zip's directory cannot be read: the file ({size:,} bytes) is cut short or its end is damaged; {whole}"))  # fmt: skip
    if archive.cut:
        report.damaged.append(
            DamagedRecord(archive.cut, OUT_OF_BOUNDS, [], "the file ends inside this record")
        )
    total = sum(i.compress_size for i in archive.infos) or 1
    done = 0
    for info in archive.infos:
        report.records_checked += 1
        yield Progress(done, total, f"checking {info.filename}")
        if info.compress_type == zipfile.ZIP_STORED:
            try:
                crc = crc_of(archive.source.data, info, archive._data_offset(info))
            except ValueError as exc:  # its descriptor's sizes disagree
                report.damaged.append(DamagedRecord(info.filename, UNREADABLE, [], str(exc)))
                continue
            if crc != info.CRC:
                report.damaged.append(crc_mismatch(info.filename, info.CRC, crc))
        done += info.compress_size


def crc_mismatch(record: str, stored: int, computed: int) -> DamagedRecord:
    return DamagedRecord(record, CRC_MISMATCH, [], f"stored CRC-32 {stored:08x}, computed {computed:08x}",
                         (stored, computed))  # fmt: skip


def _read_failure(info: zipfile.ZipInfo, exc: BaseException) -> DamagedRecord:
    text = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    if "CRC" in text:
        return DamagedRecord(info.filename, CRC_MISMATCH, [], f"stored CRC-32 {info.CRC:08x}")
    if isinstance(exc, EOFError):
        return DamagedRecord(info.filename, OUT_OF_BOUNDS, [], "the record runs past the end of the file")
    return DamagedRecord(info.filename, UNREADABLE, [], text)


def _read_structure(archive: MetaStorageZip, ctx, report: VerifyReport, torchscript: bool):
    """``{storage key: [(tensor name, bytes needed)]}``; None (and a damaged data.pkl) when it cannot be read."""
    try:
        with quiet_warnings():
            obj = archive.load()
            if torchscript:
                from inspector.core.checkpoint.torchscript import read_declarations, reshape_as_modules

                reshape_as_modules(obj, read_declarations(archive))
            users, count = names_by_storage(obj, ctx, archive.keys, report.labels)
    except InspectorError as exc:
        pickle_name = archive.prefix + "data.pkl"
        why = exc.message.removeprefix(f"{ctx.path}: ")
        report.damaged.append(
            DamagedRecord(pickle_name, UNREADABLE, [], f"its tensors cannot be listed: {why}")
        )
        return None
    report.tensors_checked = count
    return users


def _storage_key_of(archive: MetaStorageZip, record: str) -> str | None:
    inner = record[len(archive.prefix) :] if record.startswith(archive.prefix) else ""
    return inner[len("data/") :] if inner.startswith("data/") else None
