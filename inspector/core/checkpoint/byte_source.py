"""The bytes of a file (memory-mapped, so a 5 GB checkpoint costs nothing until a tensor is read) or of a
decompressed payload, with storages cut from them as views instead of copies."""

from __future__ import annotations

import mmap
import os
import warnings


class ByteSource:
    """``data`` is indexable bytes (``mmap`` for a path, ``bytes`` otherwise); :meth:`storage` gives an
    ``UntypedStorage`` over ``[offset, offset + nbytes)`` sharing that memory."""

    def __init__(self, source: str | bytes):
        self.path = source if isinstance(source, str) else None
        if self.path is None:
            self.data = source
        else:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                self.data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self._overall = None

    def __len__(self) -> int:
        return len(self.data)

    def storage(self, offset: int, nbytes: int):
        import torch

        if offset < 0 or offset + nbytes > len(self.data):
            raise ValueError(
                f"data at {offset}+{nbytes} lies past the end of the file ({len(self.data)} bytes)"
            )
        if self._overall is None:
            if self.path is not None and _encodes_as_utf8(self.path):  # private copy-on-write mapping
                self._overall = torch.UntypedStorage.from_file(self.path, shared=False, nbytes=len(self.data))
            else:
                with warnings.catch_warnings():  # bytes are read-only; we never write through these views
                    warnings.simplefilter("ignore")
                    self._overall = torch.frombuffer(self.data, dtype=torch.uint8).untyped_storage()
        return self._overall[offset : offset + nbytes]


def _encodes_as_utf8(path: str) -> bool:
    """torch's ``from_file`` takes the path as UTF-8: a file name that is not (bytes the OS allows, decoded
    with surrogates) is read through the mapping already open instead."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storage_from_bytes(data: bytes):
    """An ``UntypedStorage`` holding a copy of ``data`` (records that had to be decompressed)."""
    import torch

    if not data:
        return torch.UntypedStorage(0)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).untyped_storage()
