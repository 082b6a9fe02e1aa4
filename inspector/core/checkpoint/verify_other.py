"""Verify the formats that carry no checksums: pre-1.6 legacy files, pre-0.4 tars, plain pickles, safetensors.

Nothing in these files says what the tensor bytes should be, so flipped bytes inside tensor data cannot be
found (the report's ``unchecked`` says so); what can be checked is that every storage or tensor the file
declares is there, whole, inside the file. A legacy file is walked the way the loader walks it
(``torch_legacy``), but without stopping at the first short storage, so each one is reported by tensor name.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from inspector.core.checkpoint.byte_source import ByteSource
from inspector.core.checkpoint.verify import (
    MISSING,
    OUT_OF_BOUNDS,
    TRAILING,
    UNREADABLE,
    DamagedRecord,
    VerifyReport,
    check_users,
    names_by_storage,
)
from inspector.core.errors import InspectorError

NO_CRC = "tensor data: {form} carry no checksums, so flipped bytes inside tensor data cannot be detected"
MAX_HEADER = 100_000_000


# -- legacy (pre-1.6) and plain pickles ------------------------------------------------------------------------
def verify_legacy_or_pickle(source: str | bytes, kind: str, ctx, report: VerifyReport) -> None:
    data = ByteSource(source)
    try:
        if kind == "tar":
            report.format = "tar"
            _verify_loaded(_read_tar(data, ctx), ctx, report, "tar")
            return
        _verify_legacy(data, ctx, report)
    except InspectorError as exc:
        why = exc.message.removeprefix(f"{ctx.path}: ")
        report.damaged.append(DamagedRecord("pickle", UNREADABLE, [], f"its tensors cannot be listed: {why}"))


def _read_tar(data: ByteSource, ctx) -> Any:
    from inspector.core.checkpoint.torch_legacy import read_legacy_tar

    return read_legacy_tar(data, ctx)


def _verify_loaded(obj: Any, ctx, report: VerifyReport, form: str) -> None:
    """A file read whole by the loader (its own checks passed): count its tensors, say what was not checked."""
    _, report.tensors_checked = names_by_storage(obj, ctx, {})
    report.records_checked += 1
    report.unchecked.append(NO_CRC.format(form=f"{form} files"))


def _verify_legacy(source: ByteSource, ctx, report: VerifyReport) -> None:
    from inspector.core.checkpoint import torch_legacy as legacy
    from inspector.core.checkpoint.pickle_scan import scan_pickle
    from inspector.core.checkpoint.safe_unpickle import unpickle

    data = source.data
    first, pos = unpickle(data, ctx, 0)
    if first != legacy.MAGIC_NUMBER or pos >= len(data):
        report.format = "pickle"
        _verify_loaded(first, ctx, report, "plain pickle")
        return
    report.format = "legacy"
    protocol, pos = unpickle(data, ctx, pos)
    if protocol != legacy.PROTOCOL_VERSION:
        ctx.corrupt(f"unknown legacy protocol version {protocol!r}")
    _, main_start = unpickle(data, ctx, pos)
    main_end = scan_pickle(data, ctx.path, ctx.limits, main_start).end
    keys, data_start = unpickle(data, ctx, main_end)
    keys = legacy.storage_keys(keys, ctx)
    declared: dict[str, Any] = {}
    storage_keys: dict[int, tuple[str, int]] = {}
    alive: list[Any] = []  # every placeholder stays alive, so no _cdata is reused

    def on_storage(key, storage, offset):
        alive.append(storage)
        storage_keys[storage._cdata] = (key, offset)

    obj = legacy._unpickle_legacy_main(data, ctx, main_start, declared, None, on_storage)
    users, report.tensors_checked = names_by_storage(obj, ctx, storage_keys, report.labels)
    report.records_checked += 1  # the pickle
    _walk_legacy_storages(data, keys, declared, users, data_start, report)
    report.unchecked.append(NO_CRC.format(form="legacy (pre-1.6) torch files"))


def _walk_legacy_storages(data, keys, declared, users, pos: int, report: VerifyReport) -> None:
    """Each storage: an 8-byte element count, then its bytes; short or absent ones reported by tensor."""
    from inspector.core.checkpoint.torch_legacy import _element_size

    for key in declared:
        if key not in keys:
            report.damaged.append(DamagedRecord(f"storage {key}", MISSING, _names(users, key), "no data"))
    for index, key in enumerate(keys):
        if key not in declared:
            report.damaged.append(DamagedRecord(f"storage {key}", UNREADABLE, [], "no tensor declares it"))
            _cut_short(keys[index + 1 :], declared, users, report)
            return
        report.records_checked += 1
        dtype, nbytes = declared[key]
        head = bytes(data[pos : pos + 8])
        if len(head) < 8:
            _cut_short(keys[index:], declared, users, report)
            return
        (count,) = struct.unpack("<q", head)
        written = max(count, 0) * _element_size(dtype)
        available = max(0, min(written, len(data) - pos - 8))
        if written > nbytes:  # the loader refuses it, and every storage after it is misplaced
            report.damaged.append(DamagedRecord(f"storage {key}", OUT_OF_BOUNDS, _names(users, key),
                                                f"it holds {written:,} bytes, its tensors declare {nbytes:,}"))  # fmt: skip
            _cut_short(keys[index + 1 :], declared, users, report)
            return
        why = f"{available:,} of the {nbytes:,} bytes its tensors need are in the file"
        check_users(report, f"storage {key}", users.get(key, []), available, why)
        if pos + 8 + written > len(data):
            _cut_short(keys[index + 1 :], declared, users, report)
            return
        pos += 8 + written
    report.trailing_bytes = max(0, len(data) - pos)  # torch.load reads the storages it needs and stops


def _cut_short(keys, declared, users, report: VerifyReport) -> None:
    for key in keys:
        if key in declared:
            report.damaged.append(
                DamagedRecord(f"storage {key}", OUT_OF_BOUNDS, _names(users, key), "the file ends before it")
            )


def _names(users: dict, key: str) -> list[str]:
    return [name for name, _ in users.get(key, [])]


# -- safetensors ------------------------------------------------------------------------------------------------
def verify_safetensors(source: str | bytes, ctx, report: VerifyReport) -> None:
    """Every tensor's byte range: as long as its dtype and shape say, inside the file."""
    from inspector.core.checkpoint.safetensors_reader import DTYPES

    data = ByteSource(source).data
    (length,) = struct.unpack("<Q", bytes(data[:8]))
    if length > MAX_HEADER or 8 + length > len(data):
        ctx.corrupt(f"the safetensors header declares {length:,} bytes, more than the file holds")
    try:
        header = json.loads(bytes(data[8 : 8 + length]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        ctx.corrupt(exc)
    if not isinstance(header, dict):
        ctx.corrupt("the safetensors header is not a JSON object")
    body = len(data) - 8 - length
    report.records_checked = 1
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        report.tensors_checked += 1
        report.records_checked += 1
        problem = _safetensors_problem(spec, DTYPES, body)
        if problem:
            record = f"data{spec.get('data_offsets')}" if isinstance(spec, dict) else "header"
            report.damaged.append(DamagedRecord(record, problem[0], [str(name)], problem[1]))
    covered = max((_end_of(spec) for name, spec in header.items() if name != "__metadata__"), default=0)
    if report.ok and covered != body:  # safetensors' own rule: the tensors cover the data section exactly
        report.damaged.append(DamagedRecord("data", TRAILING, [],
                                            f"{body - covered:,} bytes after the last tensor's data (the data section holds {body:,} bytes, the tensors cover {covered:,}; "
                                            "safetensors refuses the file)"))  # fmt: skip
    report.unchecked.append(NO_CRC.format(form="safetensors files"))


def _end_of(spec) -> int:
    try:
        return int(spec["data_offsets"][1])
    except (KeyError, TypeError, ValueError, IndexError):
        return 0


def _safetensors_problem(spec, dtypes: dict, body: int) -> tuple[str, str] | None:
    try:
        begin, end = spec["data_offsets"]
        shape = [int(s) for s in spec["shape"]]
        itemsize = dtypes[spec["dtype"]][1]
        begin, end = int(begin), int(end)
    except (KeyError, TypeError, ValueError):
        return UNREADABLE, "its header entry is malformed"
    needed = itemsize
    for s in shape:
        needed *= s
    if begin < 0 or end < begin:
        return UNREADABLE, f"byte range {begin}..{end} is reversed"
    if end > body:
        return OUT_OF_BOUNDS, f"its bytes end at {end:,}, the data section holds {body:,}"
    if end - begin != needed:
        return OUT_OF_BOUNDS, f"it holds {end - begin:,} bytes, its dtype and shape need {needed:,}"
    return None
