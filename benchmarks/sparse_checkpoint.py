"""Write a big ``torch.save`` state dict fast and honestly: torch writes every byte and every CRC-32, zero runs
become holes in a sparse file.

A 5 GB state dict of zeros written by ``torch.save`` needs 5 GB of memory and disk and a minute of writing. Here:

* each tensor has its own storage over one fresh anonymous ``mmap``: zeros by definition, and pages never written
  are the kernel's one zero page, so 5 GB of tensors cost no RAM (``torch.empty`` would not do: it may reuse
  memory freed earlier, which is not zero);
* ``torch.save`` writes the archive to :class:`SparseZeroWriter`, which turns every all-zero block it is handed
  into a ``seek`` (a hole) and writes the rest (local headers, ``data.pkl``, the central directory) as is.

The result is a regular ``torch.save`` zip of the stated size, ``zipfile.testzip()``-clean (torch computed the
CRC of every record over the zeros it read) and ``torch.load``-able, that takes a few MB of disk. Listing reads
only its pickle and headers, so it times like a dense file; reading tensors reads zeros from holes.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

MIN_HOLE = 1 << 16  # blocks smaller than this are written as they are


class SparseZeroWriter:
    """A write-only file object for ``torch.save``: all-zero blocks of ``MIN_HOLE`` bytes or more are skipped."""

    def __init__(self, stream):
        self.stream = stream
        self.size = 0
        self.hole_bytes = 0

    def write(self, data) -> int:
        import numpy as np

        view = memoryview(data).cast("B")
        n = len(view)
        if n >= MIN_HOLE and not np.frombuffer(view, dtype=np.uint8).any():
            self.stream.seek(n, os.SEEK_CUR)
            self.hole_bytes += n
        else:
            self.stream.write(view)
        self.size += n
        return n

    def flush(self) -> None:
        self.stream.flush()


def write_sparse_state_dict(path, entries: int, bytes_each: int, name: str = "layers.{i}.weight") -> Path:
    """``entries`` float32 tensors of ``bytes_each`` bytes (zeros) as one state dict at ``path``."""
    import torch

    numel = max(1, bytes_each // 4)
    zeros = mmap.mmap(-1, entries * numel * 4)  # anonymous, private: all zero, no RAM until written
    state = {name.format(i=i): torch.frombuffer(zeros, dtype=torch.float32, count=numel, offset=i * numel * 4)
             for i in range(entries)}  # fmt: skip
    path = Path(path)
    with open(path, "wb") as stream:
        writer = SparseZeroWriter(stream)
        torch.save(state, writer)
        stream.truncate(writer.size)  # a trailing hole still counts towards the size
    return path
