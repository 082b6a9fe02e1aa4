"""Files for the fault tests: a state dict with many entries (the loads that cancel and close must cut short)."""

from __future__ import annotations

import pathlib

import torch

BIG_ENTRIES = 2000
BIG_ELEMENTS = 16_384  # 64 KiB a tensor: 128 MiB in all, written in well under a second


def write_many_entries(folder, entries: int = BIG_ENTRIES, elements: int = BIG_ELEMENTS) -> pathlib.Path:
    """A state dict of ``entries`` float32 tensors (``layer{i}.weight``, values ``i``) of ``elements`` each."""
    path = pathlib.Path(folder) / "many.pth"
    torch.save({f"layer{i}.weight": torch.full((elements,), float(i)) for i in range(entries)}, path)
    return path
